package config

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// creds is a getenv with a key pair and nothing else.
var creds = map[string]string{
	"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAIexample",
	"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "sup3r-s3cret-value",
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExampleConfigLoads(t *testing.T) {
	t.Parallel()
	c, err := Load("../deploy/cdnpurge.example.yaml", env(creds))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if c.Worker.Linger != time.Second || c.NATS.Embedded.Port != 4333 || c.CDN.Version != "2018-05-10" {
		t.Errorf("unexpected values: linger %s port %d version %s", c.Worker.Linger, c.NATS.Embedded.Port, c.CDN.Version)
	}
	if len(c.Webhooks.Rules) != 1 {
		t.Errorf("rules = %d, want 1", len(c.Webhooks.Rules))
	}
}

func TestEmulatorZeroConfig(t *testing.T) {
	t.Parallel()
	c, err := Load("", env(map[string]string{"CDNPURGE_CDN_EMULATOR": "true"}))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.CDN.Credentials.Static; st.AccessKeyID != cdnemu.DefaultAccessKeyID || st.AccessKeySecret.Value() != cdnemu.DefaultAccessKeySecret {
		t.Errorf("emulator credentials = %v", c.CDN.Credentials)
	}
	if names := c.DomainNames(); len(names) != 1 || names[0] != cdnemu.DefaultDomain {
		t.Errorf("domains = %v, want the emulator's", c.DomainNames())
	}
	if c.NATS.URL != "" || c.NATSURL() != "nats://127.0.0.1:4333" {
		t.Errorf("NATSURL = %s", c.NATSURL())
	}
}

// Without a pair, the default chain looks for credentials at run time
// (RRSA, CLI profile, ECS role, ...); a mode that needs the pair refuses
// to load without one, saying what to set.
func TestMissingCredentials(t *testing.T) {
	t.Parallel()
	c, err := Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com"}))
	if err != nil || c.CDN.Credentials.Type != "" || c.CDN.Credentials.Static.AccessKeyID != "" {
		t.Fatalf("default chain: %v", err)
	}
	_, err = Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com", "CDNPURGE_CDN_CREDENTIALS_TYPE": "access_key"}))
	if err == nil || !strings.Contains(err.Error(), "cdn.credentials.type: access_key needs a key pair") {
		t.Fatalf("err = %v, want a cdn.credentials.type error", err)
	}
	if !strings.Contains(err.Error(), "ALIBABA_CLOUD_ACCESS_KEY_ID") {
		t.Errorf("error does not say what to set: %v", err)
	}
}

func TestCredentialsFile(t *testing.T) {
	t.Parallel()
	f := writeFile(t, "creds", "# test pair\nALIBABA_CLOUD_ACCESS_KEY_ID=fileid\naccess_key_secret = \"filesecret\"\n")
	cfg := writeFile(t, "c.yaml", "domains: [example.com]\ncdn:\n  credentials_file: "+f+"\n")
	c, err := Load(cfg, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if st := c.CDN.Credentials.Static; st.AccessKeyID != "fileid" || st.AccessKeySecret.Value() != "filesecret" {
		t.Errorf("credentials = %v", c.CDN.Credentials)
	}
	bad := writeFile(t, "bad", "ALIBABA_CLOUD_ACCESS_KEY_ID=x\nsecret_key=topsecretvalue\n")
	cfg = writeFile(t, "c.yaml", "domains: [example.com]\ncdn:\n  credentials_file: "+bad+"\n")
	_, err = Load(cfg, env(nil))
	if err == nil || !strings.Contains(err.Error(), "line 2") || strings.Contains(err.Error(), "topsecretvalue") {
		t.Errorf("err = %v, want line 2 and no value", err)
	}
}

func TestCredentialsNotInYAML(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", "domains: [example.com]\ncdn:\n  credentials:\n    access_key_id: x\n")
	_, err := Load(p, env(creds))
	if err == nil || !strings.Contains(err.Error(), "line 4") || !strings.Contains(err.Error(), "never read from the config file") {
		t.Fatalf("err = %v", err)
	}
}

func TestUnknownFieldNamesPathAndLine(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", "domains: [example.com]\nworker:\n  linger: 1s\n  lingr: 2s\n")
	_, err := Load(p, env(creds))
	if err == nil {
		t.Fatal("unknown field accepted")
	}
	for _, want := range []string{"(line 4)", "worker.lingr: unknown field; did you mean worker.linger?", p} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestBadDuration(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", "domains: [example.com]\nworker:\n  linger: soon\n")
	_, err := Load(p, env(creds))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v, want line 3", err)
	}
	_, err = Load("", env(map[string]string{"CDNPURGE_DOMAINS": "example.com", "CDNPURGE_WORKER_LINGER": "fast",
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "a", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "b"}))
	if err == nil || !strings.Contains(err.Error(), "worker.linger: not a duration; use Go syntax such as 500ms, 30s, 5m or 1h (from CDNPURGE_WORKER_LINGER)") {
		t.Fatalf("err = %v", err)
	}
	if strings.Count(err.Error(), "worker.linger") != 1 {
		t.Errorf("one bad value, several problems: %v", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", "domains: [example.com]\nworker:\n  linger: 1s\nnats:\n  url: nats://file:4222\n")
	m := map[string]string{
		"CDNPURGE_WORKER_LINGER":           "250ms",
		"CDNPURGE_NATS_URL":                "nats://env:4222",
		"CDNPURGE_REDIS_URL":               "redis://localhost:6379/0",
		"CDNPURGE_NATS_EMBEDDED_PORT":      "4444",
		"CDNPURGE_CDN_RATE_SHARE":          "0.5",
		"CDNPURGE_CDN_RETRY_MAX_ATTEMPTS":  "3",
		"CDNPURGE_DOMAINS":                 "a.example.com, *.b.example.com",
		"CDNPURGE_WORKER_TRACKER_DISABLED": "true",
		"CDNPURGE_ENDPOINT":                "http://127.0.0.1:9999",
	}
	for k, v := range creds {
		m[k] = v
	}
	c, err := Load(p, env(m))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case c.Worker.Linger != 250*time.Millisecond:
		t.Errorf("linger = %s", c.Worker.Linger)
	case c.NATS.URL != "nats://env:4222":
		t.Errorf("nats.url = %s", c.NATS.URL)
	case c.Redis.URL != "redis://localhost:6379/0":
		t.Errorf("redis.url = %s", c.Redis.URL)
	case c.NATS.Embedded.Port != 4444 || c.CDN.RateShare != 0.5 || c.CDN.Retry.MaxAttempts != 3:
		t.Errorf("numbers not overridden: %+v", c.NATS.Embedded)
	case strings.Join(c.DomainNames(), "|") != "a.example.com|*.b.example.com":
		t.Errorf("domains = %q", c.DomainNames())
	case !c.Worker.Tracker.Disabled:
		t.Error("tracker.disabled not set")
	case c.CDN.Endpoint != "http://127.0.0.1:9999":
		t.Errorf("endpoint = %s", c.CDN.Endpoint)
	}
	m["CDNPURGE_CDN_ENDPOINT"] = "http://127.0.0.1:1"
	if c, err = Load(p, env(m)); err != nil || c.CDN.Endpoint != "http://127.0.0.1:1" {
		t.Errorf("CDNPURGE_CDN_ENDPOINT does not win: %v %v", c, err)
	}
}

func TestEnvVarsCoverScalars(t *testing.T) {
	t.Parallel()
	vars := strings.Join(EnvVars(), " ")
	for _, want := range []string{"CDNPURGE_WORKER_LINGER", "CDNPURGE_NATS_URL", "CDNPURGE_REDIS_URL", "CDNPURGE_NATS_EMBEDDED_STORE_DIR",
		"CDNPURGE_WEBHOOKS_GITHUB_SECRET", "CDNPURGE_WEBHOOKS_GITHUB_SECRET_FILE", "CDNPURGE_WEBHOOKS_LISTEN", "CDNPURGE_CDN_CREDENTIALS_FILE",
		"CDNPURGE_WORKER_TRACKER_DEADLINE", "CDNPURGE_LOG_FORMAT", "CDNPURGE_ENDPOINT", "CDNPURGE_DOMAINS"} {
		if !strings.Contains(vars, want+" ") && !strings.HasSuffix(vars, want) {
			t.Errorf("EnvVars misses %s", want)
		}
	}
	if strings.Contains(vars, "CREDENTIALS_ACCESS") {
		t.Error("credentials must not be settable through CDNPURGE_ variables")
	}
}

func TestValidationNamesEveryField(t *testing.T) {
	t.Parallel()
	p := writeFile(t, "c.yaml", `
domains: []
default_scheme: ftp
nats:
  embedded: {port: 70000}
  duplicate_window: 1m
  replicas: 9
cdn:
  version: "2020-01-01"
  rate_share: 2
  rate_limits: {RefreshEverything: 3}
worker:
  linger: -1s
  limits: {urls_per_refresh: 5000}
quota:
  time_zone: Mars/Olympus
log:
  format: xml
webhooks:
  github_secret: short
schedules:
  - {name: nightly, cron: "not a cron", action: ModifyCdnService}
`)
	_, err := Load(p, env(creds))
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{
		"domains: empty", "default_scheme:", "nats.embedded.port:", "nats.duplicate_window:", "nats.replicas:",
		"cdn.version:", "cdn.rate_share:", "cdn.rate_limits.RefreshEverything:", "worker.linger: -1s: must be > 0",
		"worker.limits.urls_per_refresh:", "quota.time_zone:", "log.format:", "webhooks.github_secret:", "schedules[0]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %q:\n%v", want, err)
		}
	}
	var fe FieldError
	if !errors.As(err, &fe) {
		t.Errorf("no FieldError in %T", err)
	}
	if strings.Contains(err.Error(), "short\"") {
		t.Error("error repeats a secret")
	}
}

func TestSecretsMasked(t *testing.T) {
	t.Parallel()
	secretFile := writeFile(t, "gl", "gitlab-token-from-file-0123\n")
	p := writeFile(t, "c.yaml", "domains: [example.com]\nwebhooks:\n  gitlab_token_file: "+secretFile+"\n")
	m := map[string]string{
		"CDNPURGE_REDIS_URL":              "redis://user:redispass123@localhost:6379/0",
		"CDNPURGE_WEBHOOKS_GITHUB_SECRET": "github-secret-from-env-4567",
		"CDNPURGE_NATS_URL":               "nats://natsuser:natspass987@localhost:4222",
		"ALIBABA_CLOUD_SECURITY_TOKEN":    "sts-token-value-890",
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     creds["ALIBABA_CLOUD_ACCESS_KEY_ID"],
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": creds["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
	}
	c, err := Load(p, env(m))
	if err != nil {
		t.Fatal(err)
	}
	if c.Webhooks.GitLabToken != "gitlab-token-from-file-0123" || c.Webhooks.GitHubSecret != "github-secret-from-env-4567" {
		t.Fatal("secrets not loaded")
	}
	y, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.JSON()
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(c)
	outs := map[string]string{"yaml": string(y), "json": string(j), "raw json": string(raw),
		"%v": sprintf("%v", c), "%+v": sprintf("%+v", *c), "%#v": sprintf("%#v", c.CDN.Credentials)}
	for name, out := range outs {
		for _, secret := range []string{"gitlab-token-from-file-0123", "github-secret-from-env-4567", "natspass987", "redispass123",
			"sup3r-s3cret-value", "sts-token-value-890"} {
			if name == "%v" || name == "%+v" {
				if secret == "natspass987" || secret == "redispass123" {
					continue // plain strings in the struct; dumps go through YAML/JSON
				}
			}
			if strings.Contains(out, secret) {
				t.Errorf("%s dump shows %q", name, secret)
			}
		}
	}
	if !strings.Contains(string(y), "#   webhooks.github_secret: [redacted]") || !strings.Contains(string(y), "AccessKeyId=LTAIexample") {
		t.Errorf("yaml dump:\n%s", y)
	}
	if !strings.Contains(string(j), `"linger": "1s"`) {
		t.Errorf("json durations not strings:\n%s", j)
	}
}

func TestEmulatorConstantsMatch(t *testing.T) {
	t.Parallel()
	if EmulatorAccessKeyID != cdnemu.DefaultAccessKeyID || EmulatorAccessKeySecret != cdnemu.DefaultAccessKeySecret || EmulatorDomain != cdnemu.DefaultDomain {
		t.Error("config's emulator defaults drifted from apiclient/cdnemu")
	}
}

func TestConverters(t *testing.T) {
	t.Parallel()
	c, err := Load("../deploy/cdnpurge.example.yaml", env(creds))
	if err != nil {
		t.Fatal(err)
	}
	o := c.APIClientOptions(nil)
	if o.Credentials.AccessKeySecret != "sup3r-s3cret-value" || o.Retry.MaxAttempts != 6 || o.Version != "2018-05-10" {
		t.Errorf("api options = %+v", o.Retry)
	}
	w := c.WorkerConfig()
	if w.Linger != time.Second || w.Limits.URLsPerRefresh != 1000 || w.Location == nil {
		t.Errorf("worker config = %+v", w)
	}
	if v := c.ValidatorConfig(); len(v.Domains) != 2 || v.DefaultScheme != "https" {
		t.Errorf("validator config = %+v", v)
	}
	// Never the AccessKeyId: unset until cdn.account_id or STS names it.
	if q := c.QuotaOptions(); q.Account != "" {
		t.Errorf("quota account = %q, want none before STS answers", q.Account)
	}
	s, err := c.Subjects()
	if err != nil || s.Refresh() != "cdn.purge.refresh" {
		t.Errorf("subjects: %v %v", s.Refresh(), err)
	}
}
