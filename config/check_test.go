package config

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/webhooks"
	"github.com/cdnpurge/cdnpurge/worker"
)

// loadErr loads a config file made of body and returns the error, failing
// the test when the config loads.
func loadErr(t *testing.T, body string, getenv map[string]string, opts ...LoadOption) string {
	t.Helper()
	m := map[string]string{}
	for k, v := range creds {
		m[k] = v
	}
	for k, v := range getenv {
		m[k] = v
	}
	_, err := Load(writeFile(t, "c.yaml", body), env(m), opts...)
	if err == nil {
		t.Fatalf("config loads, want an error:\n%s", body)
	}
	return err.Error()
}

func wantIn(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("error does not contain %q:\n%s", w, got)
		}
	}
}

// Each of these configs passed config check and then broke serve.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"metrics path clashes with /healthz", "domains: [example.com]\nmetrics:\n  path: /healthz\n",
			[]string{`metrics.path: "/healthz" is the admin listener's health check`, "(line 3)"}},
		{"metrics path is not a pattern", "domains: [example.com]\nmetrics:\n  path: /a{b\n", []string{"metrics.path: ", "(line 3)"}},
		{"rate share NaN", "domains: [example.com]\ncdn:\n  rate_share: .nan\n", []string{"cdn.rate_share: .nan is not a finite number (line 3)"}},
		{"rate share NaN as a word", "domains: [example.com]\ncdn:\n  rate_share: NaN\n", []string{`cdn.rate_share: cannot use "NaN" (a string) as a number (line 3)`}},
		{"rate limit infinite", "domains: [example.com]\ncdn:\n  rate_limits: {RefreshObjectCaches: .inf}\n", []string{"cdn.rate_limits.RefreshObjectCaches: .inf is not a finite number (line 3)"}},
		{"listen is a bare port", "domains: [example.com]\nwebhooks:\n  listen: 8080\n", []string{`webhooks.listen: "8080" is a port without a host; write ":8080"`, "(line 3)"}},
		{"listen is garbage", "domains: [example.com]\nwebhooks:\n  listen: \"local host:80\"\n", []string{"webhooks.listen: "}},
		{"publish budget past GitHub's 10 s", "domains: [example.com]\nwebhooks:\n  publish_budget: 12s\n",
			[]string{"webhooks.publish_budget: 12s: must be between 0 (the default, 8s) and 9s", "(line 3)"}},
		{"negative spool bound", "domains: [example.com]\nwebhooks:\n  spool_max_bytes: -1\n",
			[]string{"webhooks.spool_max_bytes: -1 is not allowed here", "(line 3)"}},
		{"rule template host off the allowlist", `domains: [example.com]
webhooks:
  rules:
    - {name: ok, files: "a/**", url_template: "https://example.com/{path}"}
    - {name: off, files: "public/**", url_template: "https://other.org/{path}"}
`, []string{"webhooks.rules[1].url_template: ", "(line 5)"}},
		{"rule refresh URL off the allowlist", `domains: [example.com]
webhooks:
  rules:
    - name: off
      refresh: ["https://example.com/ok", "https://evil.org/x"]
`, []string{"webhooks.rules[0].refresh[1]: ", "(line 5)"}},
		{"embedded host with a port", "domains: [example.com]\nnats:\n  embedded: {host: \"127.0.0.1:4333\"}\n", []string{`nats.embedded.host: "127.0.0.1:4333": want a host name`, "(line 3)"}},
		{"task bucket JetStream refuses", "domains: [example.com]\nworker:\n  task_bucket: tasks@here\n", []string{`worker.task_bucket: "tasks@here"`, "(line 3)"}},
		{"ack wait too short", "domains: [example.com]\nworker:\n  ack_wait: 2s\n", []string{"worker.ack_wait: 2s: must be >= 3s", "(line 3)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wantIn(t, loadErr(t, tc.body, nil), tc.want...)
		})
	}
}

// The checks config runs are the constructors' own: what config refuses
// for webhooks and the API client, webhooks.New and apiclient.New refuse.
func TestConstructorsShareTheRules(t *testing.T) {
	t.Parallel()
	c, err := Load("../deploy/cdnpurge.example.yaml", env(creds))
	if err != nil {
		t.Fatal(err)
	}
	v, err := jobs.NewValidator(c.ValidatorConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := c.WebhooksConfig()
	w.Listen = "8080"
	if _, err := webhooks.New(w, webhooks.Deps{Validator: v, Publisher: nopPublisher{}}); err == nil || !strings.Contains(err.Error(), "webhooks.listen") {
		t.Errorf("webhooks.New with listen 8080 = %v", err)
	}
	w = c.WebhooksConfig()
	w.Rules = []webhooks.Rule{{Files: "x/**", URLTemplate: "https://other.org/{path}"}}
	if _, err := webhooks.New(w, webhooks.Deps{Validator: v, Publisher: nopPublisher{}}); err == nil || !strings.Contains(err.Error(), "webhooks.rules[0].url_template") {
		t.Errorf("webhooks.New with a rule off the allowlist = %v", err)
	}
	nan := *c
	nan.CDN.RateShare = zero() / zero()
	if _, err := apiclient.New(nan.APIClientOptions(nil)); err == nil {
		t.Error("apiclient.New takes a NaN rate share")
	}
	if err := nan.Validate(); err == nil || !strings.Contains(err.Error(), "cdn.rate_share: NaN") {
		t.Errorf("Validate with a NaN rate share = %v", err)
	}
	admin := AdminConfig{Listen: "127.0.0.1:9090"}
	if err := admin.Validate(":8080", "/healthz"); err == nil {
		t.Error("the admin listener takes metrics.path /healthz")
	}
	if err := admin.Validate(":8080", "/metrics{"); err == nil {
		t.Error("the admin listener takes a malformed metrics.path")
	}
	if err := admin.Validate(":8080", DefaultMetricsPath); err != nil {
		t.Errorf("admin.Validate(/metrics) = %v", err)
	}
}

func zero() float64 { return 0 }

type nopPublisher struct{}

func (nopPublisher) PublishSet(context.Context, string, []*jobs.Job) ([]queue.Ack, error) {
	return nil, nil
}

func (nopPublisher) Report(context.Context, jobs.StatusEvent) error { return nil }

// Parse errors, type errors, unknown fields and semantic problems come in
// one run, each with its path (list indexes included), its line and a hint,
// in document order.
func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	body := `domains: [example.com]
worker:
  linger: 30
  submitters: many
cdn:
  rate_share: 2
webhooks:
  rules:
    - {name: a, refresh: ["https://example.com/a"]}
    - {name: b, refresh: ["https://example.com/b"]}
    - {name: c, brnch: main, refresh: ["https://example.com/c"]}
  listen: [1]
log:
  level: loud
`
	got := loadErr(t, body, nil)
	want := []string{
		`worker.linger: cannot use 30 (a number) as a duration; write it as "30s" (line 3)`,
		`worker.submitters: cannot use "many" (a string) as a whole number; write a whole number such as 10 (line 4)`,
		"cdn.rate_share: 2: want a share in (0,1]",
		"webhooks.rules[2].brnch: unknown field; did you mean webhooks.rules[2].branch? (line 11)",
		"webhooks.listen: want a string, got a list (line 12)",
		`log.level: "loud": want debug, info, warn or error (line 14)`,
	}
	wantIn(t, got, want...)
	last := -1
	for _, w := range want {
		i := strings.Index(got, w)
		if i < last {
			t.Errorf("%q is out of document order:\n%s", w, got)
		}
		last = i
	}
	path := writeFile(t, "c.yaml", body)
	_, err := Load(path, env(creds))
	for range 10 {
		if _, again := Load(path, env(creds)); again.Error() != err.Error() {
			t.Fatalf("the order changed between runs:\n%s\n---\n%s", err, again)
		}
	}
	var fe FieldError
	var ps Problems
	if !errors.As(err, &ps) || !errors.As(err, &fe) || len(ps) != 6 {
		t.Errorf("want Problems of 6 FieldErrors, got %T %d: %v", err, len(ps), err)
	}
}

func TestUnknownFieldSuggestions(t *testing.T) {
	t.Parallel()
	got := loadErr(t, "domains: [example.com]\nqouta:\n  sync_interval: 1m\nschedules:\n  - {name: a, cron: '@daily', acton: refresh}\nnats: {embeded: {port: 4444}, zzzzzzzz: 1}\n", nil)
	wantIn(t, got,
		"qouta: unknown field; did you mean quota? (line 2)",
		"schedules[0].acton: unknown field; did you mean schedules[0].action? (line 5)",
		"nats.embeded: unknown field; did you mean nats.embedded? (line 6)",
		"nats.zzzzzzzz: unknown field; known fields here: creds_file, duplicate_window, embedded, name,")
}

// A zero that is not allowed is an error; an absent field takes the
// default; a zero that is allowed (recent_window: 0s, off) stays.
func TestExplicitZeroIsNotADefault(t *testing.T) {
	t.Parallel()
	wantIn(t, loadErr(t, "domains: [example.com]\nworker:\n  linger: 0s\n", nil),
		"worker.linger: 0s is not allowed here: it would silently become the default 1s; remove the field to take the default, or set another value (line 3)")
	wantIn(t, loadErr(t, "domains: [example.com]\nnats:\n  embedded: {port: 0}\ncdn: {rate_share: 0}\nwebhooks: {body_limit: -1}\n", nil),
		"nats.embedded.port: 0 is not allowed here", "cdn.rate_share: 0 is not allowed here", "webhooks.body_limit: -1 is not allowed here")
	wantIn(t, loadErr(t, "domains: [example.com]\n", map[string]string{"CDNPURGE_WORKER_LINGER": "0s"}),
		"worker.linger: 0s is not allowed here", "(from CDNPURGE_WORKER_LINGER)")
	c, err := Load(writeFile(t, "c.yaml", "domains: [example.com]\nworker:\n  recent_window: 0s\n  linger:\n"), env(creds))
	if err != nil {
		t.Fatal(err)
	}
	if c.Worker.Linger != (worker.Config{}).WithDefaults().Linger || c.Worker.RecentWindow != 0 {
		t.Errorf("linger %s recent_window %s", c.Worker.Linger, c.Worker.RecentWindow)
	}
}

// worker.recent_window is on unless the configuration turns it off: left
// out, it is the default window; 0s in the file or the environment is off.
func TestRecentWindowIsOnByDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		yaml string
		env  map[string]string
		want time.Duration
	}{
		{"absent", "domains: [example.com]\n", nil, worker.DefaultRecentWindow},
		{"null", "domains: [example.com]\nworker:\n  recent_window:\n", nil, worker.DefaultRecentWindow},
		{"off in the file", "domains: [example.com]\nworker:\n  recent_window: 0s\n", nil, 0},
		{"off in the environment", "domains: [example.com]\n", map[string]string{"CDNPURGE_WORKER_RECENT_WINDOW": "0s"}, 0},
		{"set", "domains: [example.com]\nworker:\n  recent_window: 10m\n", nil, 10 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := maps.Clone(creds)
			maps.Copy(e, tc.env)
			c, err := Load(writeFile(t, "c.yaml", tc.yaml), env(e))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.WorkerConfig().RecentWindow; got != tc.want {
				t.Errorf("recent_window %s, want %s", got, tc.want)
			}
		})
	}
}

func TestUnknownEnvironmentVariable(t *testing.T) {
	t.Parallel()
	environ := []string{"CDNPURGE_WORKR_LINGER=2s", "CDNPURGE_CONFIG=x", "CDNPURGE_WORKER_LINGER=2s", "PATH=/bin", "CDNPURGE_QQQQQQQQQQQQQQQQQQQQ=1"}
	got := loadErr(t, "domains: [example.com]\n", nil, WithEnviron(environ))
	wantIn(t, got,
		"CDNPURGE_WORKR_LINGER: unknown environment variable: no config field has this name; did you mean CDNPURGE_WORKER_LINGER?",
		"CDNPURGE_QQQQQQQQQQQQQQQQQQQQ: unknown environment variable")
	if strings.Contains(got, "CDNPURGE_CONFIG:") || strings.Contains(got, "CDNPURGE_WORKER_LINGER:") || strings.Contains(got, "PATH") {
		t.Errorf("known or foreign variables reported:\n%s", got)
	}
	if _, err := Load(writeFile(t, "c.yaml", "domains: [example.com]\n"), env(creds), WithEnviron([]string{"CDNPURGE_WORKER_LINGER=2s"})); err != nil {
		t.Errorf("known variable refused: %v", err)
	}
}

// worker.Config.Validate joined its errors from a map: the order changed
// between runs.
func TestWorkerValidateOrderIsStable(t *testing.T) {
	t.Parallel()
	bad := worker.Config{Linger: -1, AckWait: -1, QuotaHold: -1, QuotaPoll: -1, DeferMax: -1, RetryDelay: -1, PauseFor: -1,
		Submitters: -1, MaxInflightPaths: -1, MaxAckPending: -1, Limits: worker.Limits{URLsPerRefresh: -1, DirsPerRefresh: -1}}
	first := bad.Validate().Prefix("worker").Error()
	for range 20 {
		if got := bad.Validate().Prefix("worker").Error(); got != first {
			t.Fatalf("order changed:\n%s\n---\n%s", first, got)
		}
	}
	if i, j := strings.Index(first, "worker.linger:"), strings.Index(first, "worker.limits.dirs_per_refresh:"); i < 0 || j < i {
		t.Errorf("not in field order:\n%s", first)
	}
}

// The YAML config check prints loads again into the same config.
func TestPrintedConfigLoadsAgain(t *testing.T) {
	t.Parallel()
	ghFile := writeFile(t, "gh", "github-secret-from-file-0123\n")
	credFile := writeFile(t, "creds", "access_key_id=LTAIfile\naccess_key_secret=file-secret-value-42\n")
	every := `nats:
  url: nats://n1:4222,nats://n2:4222
  replicas: 3
  embedded: {port: -1}
redis: {url: "redis://r:6379/1", account: acct}
cdn:
  credentials_file: ` + credFile + `
  rate_share: 0.5
  rate_limits: {RefreshObjectCaches: 20, DescribeRefreshQuota: -1}
  retry: {max_attempts: 3}
  breaker: {threshold: -1}
domains: [example.com, "*.static.example.com"]
default_scheme: http
webhooks:
  listen: 127.0.0.1:8088
  github_secret_file: ` + ghFile + `
  rules:
    - {name: site, source: github, files: "public/**", strip_prefix: public/, url_template: "https://example.com/{path}", deploy_on: [deployment]}
worker:
  linger: 250ms
  recent_window: 1m
  tracker: {disabled: true}
quota: {time_zone: UTC, sync_interval: 1m}
schedules:
  - {name: nightly, cron: "@daily", action: refresh, object_type: Directory, force: true, paths: ["https://example.com/news/"]}
log: {level: debug, format: json}
metrics: {path: /internal/metrics}
`
	environ := map[string]string{"CDNPURGE_WEBHOOKS_GENERIC_TOKEN": "generic-token-from-env-5678", "CDNPURGE_WORKER_SUBMITTERS": "4"}
	for name, src := range map[string]struct {
		path   string
		getenv map[string]string
	}{
		"example":       {"../deploy/cdnpurge.example.yaml", creds},
		"every section": {writeFile(t, "every.yaml", every), environ},
		"emulator":      {"", map[string]string{"CDNPURGE_CDN_EMULATOR": "true"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first, err := Load(src.path, env(src.getenv))
			if err != nil {
				t.Fatal(err)
			}
			out, err := first.YAML()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"github-secret-from-file-0123", "file-secret-value-42", "generic-token-from-env-5678", "sup3r-s3cret-value"} {
				if strings.Contains(string(out), s) {
					t.Errorf("printed config shows a secret:\n%s", out)
				}
			}
			p := writeFile(t, "printed.yaml", string(out))
			second, err := Load(p, env(src.getenv))
			if err != nil {
				t.Fatalf("printed config does not load: %v\n%s", err, out)
			}
			first.source, second.source = "", ""
			if !reflect.DeepEqual(first, second) {
				a, _ := first.YAML()
				b, _ := second.YAML()
				t.Errorf("printed config loads differently:\n%s\n---\n%s", a, b)
			}
			again, _ := second.YAML()
			if string(again) != string(out) {
				t.Errorf("second print differs:\n%s\n---\n%s", out, again)
			}
		})
	}
}

// Secrets never reach an error: not from the YAML file, a secret file, a
// credentials file or the environment.
func TestNoSecretInAnyError(t *testing.T) {
	t.Parallel()
	const s1, s2, s3, s4, s5 = "LTAIpastedwholesecretvalue", "half-of-a-secret=other-half", "redis-password-77", "line-one-secret", "line-two-secret"
	credFile := writeFile(t, "creds", "# ok\nALIBABA_CLOUD_ACCESS_KEY_ID=x\n"+s1+"\n")
	credFile2 := writeFile(t, "creds2", s2+"\n")
	multi := writeFile(t, "multi", s4+"\n"+s5+"\n")
	cases := []struct {
		name, body string
		want       []string
	}{
		{"malformed credentials line", "domains: [example.com]\ncdn: {credentials_file: " + credFile + "}\n",
			[]string{"cdn.credentials_file: " + credFile + " line 3: want KEY=VALUE"}},
		{"unknown credentials key", "domains: [example.com]\ncdn: {credentials_file: " + credFile2 + "}\n",
			[]string{credFile2 + " line 1: unknown key"}},
		{"multi-line secret file", "domains: [example.com]\nwebhooks: {gitlab_token_file: " + multi + "}\n",
			[]string{"webhooks.gitlab_token_file: secret file " + multi + " holds more than one line; a secret file holds the secret alone on one line"}},
		{"secret in the YAML", "domains: [example.com]\nwebhooks:\n  github_secret: " + s4 + "\n  generic_hmac_secret: [" + s5 + "]\n",
			[]string{"webhooks.github_secret: secrets never belong in the config file: set CDNPURGE_WEBHOOKS_GITHUB_SECRET or point webhooks.github_secret_file at a file holding it (line 3)",
				"webhooks.generic_hmac_secret: secrets never belong in the config file: set CDNPURGE_WEBHOOKS_GENERIC_HMAC_SECRET"}},
		{"password in a URL in the YAML", "domains: [example.com]\nredis: {url: \"redis://u:" + s3 + "@r:6379/0\"}\nnats: {url: \"nats://" + s3 + "@n:4222\"}\n",
			[]string{"redis.url: holds a password or token; secrets never belong in the config file: set CDNPURGE_REDIS_URL instead (line 2)", "nats.url: holds a password"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Without environment credentials, so that the files are read.
			_, err := Load(writeFile(t, "c.yaml", tc.body), env(nil))
			if err == nil {
				t.Fatal("loads")
			}
			wantIn(t, err.Error(), tc.want...)
			for _, s := range []string{s1, s2, "half-of-a-secret", "other-half", s3, s4, s5} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error shows secret %q:\n%v", s, err)
				}
			}
		})
	}
	// A bad value in a secret's variable is not repeated either.
	_, err := Load("", env(map[string]string{"CDNPURGE_WEBHOOKS_GITHUB_SECRET": "short-" + s4, "CDNPURGE_DOMAINS": "example.com",
		"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": s1}))
	if err != nil && (strings.Contains(err.Error(), s4) || strings.Contains(err.Error(), s1)) {
		t.Errorf("error shows a secret: %v", err)
	}
}

// A secret file holds exactly one line; a trailing newline (or CRLF) is
// fine.
func TestSecretFileOneLine(t *testing.T) {
	t.Parallel()
	for content, want := range map[string]string{
		"0123456789abcdef\n":   "0123456789abcdef",
		"0123456789abcdef\r\n": "0123456789abcdef",
		"0123456789abcdef":     "0123456789abcdef",
	} {
		got, err := (&Config{}).readSecretFile(writeFile(t, "s", content))
		if err != nil || got != want {
			t.Errorf("readSecretFile(%q) = %q, %v", content, got, err)
		}
	}
	for _, content := range []string{"0123456789abcdef\n\n", "a\nb", "\n", ""} {
		if _, err := (&Config{}).readSecretFile(writeFile(t, "s", content)); err == nil {
			t.Errorf("readSecretFile(%q) accepted", content)
		}
	}
}

func TestDefaultsHaveOneSource(t *testing.T) {
	t.Parallel()
	c := Config{}.WithDefaults()
	if c.Worker.Consumer != worker.DefaultConsumer || c.Worker.Linger != (worker.Config{}).WithDefaults().Linger {
		t.Errorf("worker defaults drifted: %+v", c.Worker)
	}
}
