package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/config"
)

// The RRSA example: the namespace asks the pod identity webhook to inject,
// the service account names the role, the Deployment runs under it, no
// AccessKey is in the Secret, and the config selects oidc_role_arn and
// builds a provider from the variables the webhook injects.
func TestKubernetesRRSA(t *testing.T) {
	ds := docs(t, "kubernetes/rrsa.yaml")
	for _, kind := range []string{"Namespace", "ServiceAccount", "ConfigMap", "Secret", "Deployment"} {
		if byKind(ds, kind) == nil {
			t.Fatalf("no %s", kind)
		}
	}
	ns := byKind(ds, "Namespace")
	if get(ns, "metadata", "labels", "pod-identity.alibabacloud.com/injection") != "on" {
		t.Error("the namespace does not turn the pod identity webhook on")
	}
	sa := byKind(ds, "ServiceAccount")
	if role, _ := get(sa, "metadata", "annotations", "pod-identity.alibabacloud.com/role-name").(string); role == "" {
		t.Error("the service account names no RAM role")
	}
	dep := byKind(ds, "Deployment")
	if get(dep, "spec", "template", "spec", "serviceAccountName") != get(sa, "metadata", "name") {
		t.Error("the Deployment does not run under the annotated service account")
	}
	for _, d := range ds {
		if n := get(d, "metadata", "namespace"); d["kind"] != "Namespace" && n != get(ns, "metadata", "name") {
			t.Errorf("%s is in namespace %v, not the labelled one", d["kind"], n)
		}
	}
	args, _ := get(dep, "spec", "template", "spec", "containers", 0, "args").([]any)
	if len(args) == 0 || args[0] != "serve" || !slices.Contains(args, "/etc/cdnpurge/config.yaml") {
		t.Errorf("container args %v", args)
	}
	secret, _ := get(byKind(ds, "Secret"), "stringData").(map[string]any)
	env := map[string]string{}
	for k, v := range secret {
		if strings.HasPrefix(k, "ALIBABA_CLOUD_") {
			t.Errorf("the Secret holds %s; RRSA needs no AccessKey", k)
		}
		env[k] = strings.ReplaceAll(v.(string), "REPLACE-ME", "placeholder-value-0123456789")
	}
	cfgText, _ := get(byKind(ds, "ConfigMap"), "data", "config.yaml").(string)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path, func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the ConfigMap's config fails config check: %v", err)
	}
	if c.CDN.Credentials.Type != credentials.ModeOIDCRoleARN {
		t.Fatalf("credentials type %q, want oidc_role_arn", c.CDN.Credentials.Type)
	}
	// What the webhook injects is enough for credentials-go.
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("eyJ.token.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1234567890123456:role/cdnpurge-cdn")
	t.Setenv("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c1")
	t.Setenv("ALIBABA_CLOUD_OIDC_TOKEN_FILE", token)
	if _, err := credentials.NewChainProvider(c.CDN.Credentials.Config, c.ChainOptions()); err != nil {
		t.Fatalf("provider from the injected variables: %v", err)
	}
}
