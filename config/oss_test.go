package config

import (
	"maps"
	"strings"
	"testing"
)

const ossRulesYAML = `domains: [static.example.com]
webhooks:
  oss_rules:
    - name: assets
      bucket: my-bucket
      prefix: public/
      strip_prefix: public/
      url_template: "https://static.example.com/{key}"
`

func TestOSSTokenFromEnvOrFile(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", ossRulesYAML)
	m := maps.Clone(creds)
	m["CDNPURGE_WEBHOOKS_OSS_TOKEN"] = "oss-token-from-env-0123"
	c, err := Load(p, env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhooks.OSSToken != "oss-token-from-env-0123" || len(c.Webhooks.OSSRules) != 1 || c.Webhooks.OSSRules[0].URLTemplate != "https://static.example.com/{key}" {
		t.Fatalf("loaded token set %v, rules %+v", c.Webhooks.OSSToken != "", c.Webhooks.OSSRules)
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(y), "oss-token-from-env") {
		t.Fatal("the config dump shows the OSS token")
	}

	file := writeFile(t, "oss", "oss-token-from-file-4567\n")
	p = writeFile(t, "c.yaml", ossRulesYAML+"  oss_token_file: "+file+"\n")
	c, err = Load(p, env(creds))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhooks.OSSToken != "oss-token-from-file-4567" {
		t.Fatal("oss_token_file not read")
	}
	// Never from the YAML, and at least 16 characters, like the others.
	got := loadErr(t, ossRulesYAML+"  oss_token: oss-token-in-the-yaml-000\n", nil)
	wantIn(t, got, "webhooks.oss_token: secrets never belong in the config file: set CDNPURGE_WEBHOOKS_OSS_TOKEN")
	got = loadErr(t, ossRulesYAML, map[string]string{"CDNPURGE_WEBHOOKS_OSS_TOKEN": "short"})
	wantIn(t, got, "webhooks.oss_token: shorter than 16 characters")
}

func TestOSSRulesCheckedLikeTheOthers(t *testing.T) {
	t.Parallel()
	body := `domains: [static.example.com]
webhooks:
  oss_rules:
    - name: a
      bucket: my-bucket
      prefx: public/
      url_template: "https://static.example.com/{key}"
    - name: b
      bucket: my-bucket
      url_template: "https://evil.example.net/{key}"
    - name: c
      bucket: my-bucket
      on: [updated]
      url_template: "https://static.example.com/{path}"
`
	got := loadErr(t, body, nil)
	wantIn(t, got,
		"webhooks.oss_rules[0].prefx: unknown field; did you mean webhooks.oss_rules[0].prefix? (line 6)",
		"webhooks.oss_rules[1].url_template:",
		"evil.example.net",
		"webhooks.oss_rules[2].on[0]: \"updated\": want created or removed",
		"webhooks.oss_rules[2].url_template:",
	)
}
