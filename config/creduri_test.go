package config

import (
	"strings"
	"testing"
)

// config check refuses a credentials URI that is plain http to a host off
// this machine, in the file and in credentials-go's variable, naming where
// it came from.
func TestCheckRefusesPlainHTTPCredentialsURI(t *testing.T) {
	t.Parallel()
	got := loadErr(t, "domains: [example.com]\ncdn:\n  credentials:\n    type: credentials_uri\n    uri: http://creds.attacker.example/latest\n", nil)
	wantIn(t, got, "cdn.credentials.uri: plain http to creds.attacker.example")
	got = loadErr(t, "domains: [example.com]\n", map[string]string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "",
		"ALIBABA_CLOUD_CREDENTIALS_URI": "http://creds.attacker.example/latest?token=t0k3n"})
	wantIn(t, got, "ALIBABA_CLOUD_CREDENTIALS_URI: plain http")
	if strings.Contains(got, "t0k3n") {
		t.Fatalf("error shows the URL's token: %s", got)
	}
	if _, err := Load(writeFile(t, "c.yaml", "domains: [example.com]\ncdn:\n  credentials:\n    type: credentials_uri\n    uri: http://127.0.0.1:8000/creds\n"), env(creds)); err != nil {
		t.Fatalf("loopback URI refused: %v", err)
	}
}
