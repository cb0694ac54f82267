package config

import (
	"reflect"
	"testing"

	"github.com/cdnpurge/cdnpurge/secretfile"
)

// Secret is a string type that happens to be named like one: a secret is
// known by its type, not its name.
type Secret string

func TestSecretsAreKnownByTheirType(t *testing.T) {
	t.Parallel()
	if !isSecretType(reflect.TypeFor[secretfile.Secret]()) {
		t.Error("secretfile.Secret is not taken for a secret")
	}
	if isSecretType(reflect.TypeFor[Secret]()) {
		t.Error("a string type named Secret is taken for a secret by its name")
	}
	// Every secret of the config is found: the webhooks' and the admin
	// listener's included.
	found := map[string]bool{}
	for _, s := range secretFieldsOf() {
		found[s.path] = true
	}
	for _, want := range []string{"webhooks.github_secret", "webhooks.oss_token", "admin.token"} {
		if !found[want] {
			t.Errorf("secret %s not found among %v", want, found)
		}
	}
}
