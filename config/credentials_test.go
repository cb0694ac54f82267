package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

func TestCredentialModesFromYAML(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", `domains: [example.com]
cdn:
  region: ap-southeast-1
  account_id: "5551234"
  signature: v1
  sts_endpoint: https://sts.ap-southeast-1.aliyuncs.com
  credentials:
    type: oidc_role_arn
    role_arn: acs:ram::5551234:role/cdnpurge
    oidc_provider_arn: acs:ram::5551234:oidc-provider/ack-rrsa-c1
    oidc_token_file: /var/run/secrets/tokens/oidc-token
`)
	c, err := Load(p, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	cr := c.CDN.Credentials
	if cr.Type != credentials.ModeOIDCRoleARN || cr.RoleARN != "acs:ram::5551234:role/cdnpurge" || cr.OIDCTokenFile == "" {
		t.Fatalf("credentials = %+v", cr.Config)
	}
	if c.CDN.Endpoint != apiclient.InternationalEndpoint || c.QuotaAccount() != "5551234" || c.APIClientOptions(nil).Signature != "v1" {
		t.Fatalf("endpoint %s, account %s", c.CDN.Endpoint, c.QuotaAccount())
	}
	if o := c.ChainOptions(); o.STSEndpoint != "https://sts.ap-southeast-1.aliyuncs.com" {
		t.Fatalf("chain options %+v", o)
	}
}

func TestCredentialsConfigRefusals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{"secret in the file", "credentials:\n    type: sts\n    access_key_secret: hunter2", nil, []string{"cdn.credentials.access_key_secret", "never read from the config file"}},
		{"unknown field", "credentials:\n    type: ram_role_arn\n    rolearn: x", nil, []string{`unknown field "cdn.credentials.rolearn"`}},
		{"unknown type", "credentials:\n    type: magic", nil, []string{"cdn.credentials.type: \"magic\": want one of"}},
		{"field of another mode", "credentials:\n    type: cli_profile\n    role_arn: x", nil, []string{"cdn.credentials.role_arn: not used by cli_profile"}},
		{"role over http", "sts_endpoint: http://127.0.0.1:1\n  credentials:\n    type: ram_role_arn\n    role_arn: acs:ram::1:role/x", creds, []string{"cdn.sts_endpoint", "https only"}},
		{"sts without token", "credentials:\n    type: sts", creds, []string{"cdn.credentials.type: sts needs a security token"}},
		{"short session", "credentials:\n    type: ram_role_arn\n    duration_seconds: 60", creds, []string{"cdn.credentials.duration_seconds"}},
		{"bad signature", "signature: v2", creds, []string{"cdn.signature"}},
		{"bad region", "region: Hangzhou", creds, []string{"cdn.region"}},
		{"bad account", "account_id: LTAIabc", creds, []string{"cdn.account_id"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := writeFile(t, "c.yaml", "domains: [example.com]\ncdn:\n  "+c.yaml+"\n")
			_, err := Load(p, env(c.env))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// redis.account still names the account when cdn.account_id is unset.
func TestRedisAccountDeprecatedFallback(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", "domains: [example.com]\nredis:\n  account: LTAIold\n")
	c, err := Load(p, env(creds))
	if err != nil {
		t.Fatal(err)
	}
	if c.QuotaAccount() != "LTAIold" {
		t.Fatalf("QuotaAccount = %q", c.QuotaAccount())
	}
}

// STS follows cdn.endpoint when it points away from Alibaba Cloud, so an
// emulator answers GetCallerIdentity and no key reaches the real STS.
func TestDefaultSTSEndpoint(t *testing.T) {
	t.Parallel()
	for endpoint, want := range map[string]string{
		"https://cdn.aliyuncs.com":                credentials.DefaultSTSEndpoint,
		"cdn.ap-southeast-1.aliyuncs.com":         credentials.DefaultSTSEndpoint,
		"https://cdn.aliyuncs.com:443/":           credentials.DefaultSTSEndpoint,
		"http://127.0.0.1:8090":                   "http://127.0.0.1:8090",
		"https://aliyuncs.com.attacker.example/x": "https://aliyuncs.com.attacker.example/x",
	} {
		if got := defaultSTSEndpoint(endpoint); got != want {
			t.Errorf("defaultSTSEndpoint(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

func TestDomainURLsPerMinute(t *testing.T) {
	t.Parallel()
	c, err := Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com"}))
	if err != nil || c.CDN.DomainURLsPerMinute != apiclient.CDN().Caps.URLsPerDomainPerMinute {
		t.Fatalf("default: %v, %d", err, c.CDN.DomainURLsPerMinute)
	}
	c, err = Load("", env(map[string]string{"CDNPURGE_CDN_EMULATOR": "true"}))
	if err != nil || c.CDN.DomainURLsPerMinute >= 0 {
		t.Fatalf("emulator: %v, %d", err, c.CDN.DomainURLsPerMinute)
	}
	_, err = Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com", "CDNPURGE_CDN_DOMAIN_URLS_PER_MINUTE": "500"}))
	if err == nil || !strings.Contains(err.Error(), "cdn.domain_urls_per_minute: 500 is less than worker.limits.urls_per_refresh") {
		t.Fatalf("err = %v", err)
	}
}

// DCDN's per-domain minute limit has its own key: 1,000 by default, off
// with the emulator, and refused below a full DCDN refresh only when a
// domain is DCDN's.
func TestDCDNDomainURLsPerMinute(t *testing.T) {
	t.Parallel()
	c, err := Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com"}))
	if err != nil || c.CDN.DCDNDomainURLsPerMinute != apiclient.DCDN().Caps.URLsPerDomainPerMinute {
		t.Fatalf("default: %v, %d", err, c.CDN.DCDNDomainURLsPerMinute)
	}
	c, err = Load("", env(map[string]string{"CDNPURGE_CDN_EMULATOR": "true"}))
	if err != nil || c.CDN.DCDNDomainURLsPerMinute >= 0 {
		t.Fatalf("emulator: %v, %d", err, c.CDN.DCDNDomainURLsPerMinute)
	}
	if _, err := Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com", "CDNPURGE_CDN_DCDN_DOMAIN_URLS_PER_MINUTE": "500"})); err != nil {
		t.Fatalf("no DCDN domain, any limit: %v", err)
	}
	f := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(f, []byte("domains:\n  - name: d.example.com\n    product: dcdn\ncdn:\n  dcdn_domain_urls_per_minute: 500\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(f, env(nil))
	if err == nil || !strings.Contains(err.Error(), "cdn.dcdn_domain_urls_per_minute: 500 is less than a full DCDN refresh (1000 URLs)") {
		t.Fatalf("err = %v", err)
	}
}
