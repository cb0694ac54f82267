package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestDisabledHookAnswersJSON404NamingItsSetting(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.GitHubSecret, cfg.GitLabToken = "", ""
	f := newFixture(t, cfg)
	for path, setting := range map[string]string{"/hooks/github": "webhooks.github_secret", "/hooks/gitlab": "webhooks.gitlab_token"} {
		a := f.post(t, path, nil, []byte(`{}`))
		if a.status != http.StatusNotFound || a.body["code"] != "hook_disabled" || !strings.Contains(a.raw, setting) {
			t.Errorf("%s: %d %s; want a JSON 404 naming %s", path, a.status, a.raw, setting)
		}
	}
	if a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer wrong"}, []byte(`{}`)); a.status == http.StatusNotFound {
		t.Errorf("the enabled generic hook answered 404: %s", a.raw)
	}
	if got := f.stored(t); len(got) != 0 {
		t.Errorf("%d jobs stored by disabled hooks", len(got))
	}
}

func TestHooksListsWhatIsOn(t *testing.T) {
	t.Parallel()
	on := map[string]bool{}
	for _, h := range Hooks(Config{GenericHMACSecret: "x"}) {
		on[h.Name] = h.Enabled
	}
	if on["github"] || on["gitlab"] || !on["generic"] {
		t.Errorf("Hooks = %v; want only generic on", on)
	}
}

func TestReadyzNoticeStaysReady(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	f := newFixture(t, cfg)
	f.srv.deps.Ready = append(f.srv.deps.Ready, ReadyCheck{Name: "submissions", Check: func(context.Context) error {
		return Notice("paused")
	}})
	a := f.get(t, "/readyz")
	var body struct{ Checks map[string]string }
	_ = json.Unmarshal([]byte(a.raw), &body)
	checks := body.Checks
	if a.status != http.StatusOK || checks["submissions"] != "paused" {
		t.Errorf("/readyz = %d %s; want 200 with the notice", a.status, a.raw)
	}
}
