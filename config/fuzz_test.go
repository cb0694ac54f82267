package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sprintf(format string, a ...any) string { return fmt.Sprintf(format, a...) }

// FuzzLoad feeds arbitrary bytes as a config file: Load may refuse them but
// must never panic, and a config it accepts prints as YAML that loads
// again into the same config.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("../deploy/cdnpurge.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, seed := range []string{
		"",
		"domains: [example.com]\nworker: {linger: 1s}\n",
		"cdn:\n  credentials: {access_key_id: x}\n",
		"schedules:\n  - {name: a, cron: \"@daily\", action: refresh}\n  - name: a\n",
		"worker: [1, 2]\n",
		"a: &a [*a]\n",
		"---\n---\n",
		// Configs that passed config check and broke serve.
		"domains: [example.com]\nmetrics: {path: /healthz}\n",
		"domains: [example.com]\nmetrics: {path: \"/a{\"}\n",
		"domains: [example.com]\ncdn: {rate_share: .nan}\n",
		"domains: [example.com]\ncdn: {rate_share: NaN, rate_limits: {RefreshObjectCaches: .inf}}\n",
		"domains: [example.com]\nwebhooks: {listen: 8080}\n",
		"domains: [example.com]\nwebhooks:\n  rules:\n    - {files: \"p/**\", url_template: \"https://other.org/{path}\"}\n    - {refresh: [\"https://evil.org/\"]}\n",
		// Type errors, typos, zeros, duplicates, aliases, nulls.
		"domains: [example.com]\nworker: {linger: 30, submitters: many, ack_wait: [1]}\n",
		"domains: [example.com]\nwebhooks:\n  rules:\n    - {}\n    - {}\n    - {brnch: main}\n",
		"domains: [example.com]\nworker: {linger: 0s}\nnats: {embedded: {port: 0}}\n",
		"domains: [example.com]\nworker: {linger: 1s, linger: 2s}\n",
		"domains: [example.com]\nd: &d {linger: 2s}\nworker: *d\n",
		"domains: [example.com]\nworker:\n  linger:\nquota: ~\n",
		"domains: [example.com]\ncdn: {rate_limits: {1: 2, [x]: y}}\n",
		"domains: [example.com]\nschedules: [{name: a, cron: '@daily', action: refresh, force: yes, params: {a: [1]}}]\n",
		// Allowlist entries of both forms, products, their mistakes.
		"domains: [example.com, {name: static.example.com, product: dcdn}, {name: \"*.app.example.com\", product: cdn}]\n",
		"domains:\n  - {name: a.example.com, product: dccdn}\n  - {name: b.example.com, prodcut: dcdn}\n  - {product: dcdn}\n  - [x]\n",
		"domains: [a.example.com, {name: A.example.com, product: dcdn}, {name: a.example.com, product: \"\"}]\n",
		"domains: [{name: static.example.com, product: dcdn, name: x.example.com}, {name: {a: 1}}, ~, {}]\n",
		"d: &d {name: a.example.com, product: dcdn}\ndomains: [*d, *d]\n",
		// Secrets that never belong in the file.
		"domains: [example.com]\nwebhooks: {github_secret: 0123456789abcdefgh, gitlab_token: [x]}\n",
		"domains: [example.com]\nredis: {url: \"redis://u:pw@h:6379/0\"}\nnats: {url: \"nats://tok@h:4222\"}\n",
		"domains: [example.com]\ncdn: {credentials_file: /nonexistent}\nwebhooks: {github_secret_file: /nonexistent}\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	getenv := env(creds)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, getenv)
		if err != nil {
			if strings.Contains(err.Error(), creds["ALIBABA_CLOUD_ACCESS_KEY_SECRET"]) {
				t.Errorf("error shows the AccessKey secret: %v", err)
			}
			return
		}
		out, err := c.YAML()
		if err != nil {
			t.Fatalf("valid config does not print: %v", err)
		}
		p2 := filepath.Join(dir, "printed.yaml")
		if err := os.WriteFile(p2, out, 0o600); err != nil {
			t.Fatal(err)
		}
		again, err := Load(p2, getenv)
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, out)
		}
		c.source, again.source = "", ""
		if !reflect.DeepEqual(c, again) {
			t.Errorf("printed config loads differently:\n%s", out)
		}
	})
}

// FuzzCredentialsFile feeds arbitrary credentials files: an error names the
// file and a line number, never any part of the file's content.
func FuzzCredentialsFile(f *testing.F) {
	for _, seed := range []string{
		"ALIBABA_CLOUD_ACCESS_KEY_ID=id\nALIBABA_CLOUD_ACCESS_KEY_SECRET=secret\n",
		"# comment\naccess_key_id = \"id\"\naccess_key_secret='s'\nsecurity_token=t\n",
		"LTAIpastedsecretwithoutkey\n",
		"secretpart=otherpart\n",
		"access_key_id=a\naccess_key_id=b\n",
		"\r\n\r\n=\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := "/run/creds"
		_, err := parseCredentialsFile(p, data)
		if err == nil {
			return
		}
		msg := strings.ReplaceAll(err.Error(), p, "")
		for _, line := range strings.Split(string(data), "\n") {
			for _, part := range strings.FieldsFunc(line, func(r rune) bool { return r == '=' || r == ' ' || r == '\t' || r == '\r' }) {
				if len(part) >= 6 && strings.Contains(msg, part) && !strings.Contains(credentialWords, part) {
					t.Errorf("error %q shows %q from the file", msg, part)
				}
			}
		}
	})
}

// credentialWords are the words an error may contain by itself.
const credentialWords = "ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET ALIBABA_CLOUD_SECURITY_TOKEN line want KEY=VALUE unknown key (not shown, it may hold a secret) the same key as line keep one"
