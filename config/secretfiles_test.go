package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/secretfile/secretfiletest"
)

// Secret files that hung config check, ate 1.7 GB or were taken as a
// token (issue 32) are refused by name, without their content.
func TestSecretFilesBounded(t *testing.T) {
	t.Parallel()
	fifo, sparse := secretfiletest.Hostile(t)
	loose := filepath.Join(t.TempDir(), "loose")
	if err := os.WriteFile(loose, []byte("tok-canary-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(loose, 0o644); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		"/dev/zero": "is a character device, not a regular file",
		fifo:        "is a named pipe (FIFO), not a regular file",
		sparse:      "is larger than 64 KiB",
		loose:       "group or others may read it (mode 0644)",
	} {
		got := loadErr(t, "domains: [example.com]\n", map[string]string{"CDNPURGE_WEBHOOKS_GENERIC_TOKEN_FILE": file})
		wantIn(t, got, "webhooks.generic_token_file: secret file "+file, want)
		if strings.Contains(got, "canary") {
			t.Errorf("error shows the content: %s", got)
		}
	}
	// The escape for Kubernetes and Docker secret mounts.
	c, err := Load(writeFile(t, "c.yaml", "domains: [example.com]\nsecret_files:\n  allow_loose_permissions: true\n"),
		env(map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s", "CDNPURGE_WEBHOOKS_GENERIC_TOKEN_FILE": loose}))
	if err != nil || string(c.Webhooks.GenericToken) != "tok-canary-0123456789" {
		t.Fatalf("allow_loose_permissions: %v", err)
	}
	// The credentials file and the config file itself are bounded too.
	got := loadErr(t, "domains: [example.com]\ncdn:\n  credentials_file: /dev/zero\n", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ""})
	wantIn(t, got, "cdn.credentials_file: credentials file /dev/zero is a character device")
	if _, err := Load("/dev/zero", env(creds)); err == nil || !strings.Contains(err.Error(), "config file /dev/zero is a character device") {
		t.Fatalf("config file /dev/zero: %v", err)
	}
}
