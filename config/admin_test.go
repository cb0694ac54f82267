package config

import (
	"strings"
	"testing"
)

func TestAdminListenerDefaultsToLoopbackAndIsChecked(t *testing.T) {
	t.Parallel()
	c, err := Load("", env(map[string]string{"CDNPURGE_CDN_EMULATOR": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Listen != "127.0.0.1:9090" {
		t.Errorf("admin.listen = %q, want 127.0.0.1:9090", c.Admin.Listen)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"CDNPURGE_ADMIN_LISTEN": "9090"}, "admin.listen: "},
		{map[string]string{"CDNPURGE_ADMIN_LISTEN": "127.0.0.1:99999"}, "admin.listen: "},
		{map[string]string{"CDNPURGE_ADMIN_LISTEN": ":8080"}, "webhooks.listen"},
		{map[string]string{"CDNPURGE_METRICS_PATH": "/healthz"}, "metrics.path: "},
		{map[string]string{"CDNPURGE_WEBHOOKS_GITHUB_BODY_LIMIT": "104857600"}, "webhooks.github_body_limit: "},
	} {
		tc.env["CDNPURGE_CDN_EMULATOR"] = "true"
		_, err := Load("", env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
