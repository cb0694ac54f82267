package webhooks

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
)

// Control bytes in a hook's free text are refused at the door with 422
// naming the field, and the answer repeats them escaped (issue 32).
func TestControlBytesInSourceRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	generic := []byte(`{"kind":"refresh","source":"\u001b[2J\u001b[1;31mFAKE\nrow","refresh":{"paths":["https://static.example.com/a.css"]}}`)
	a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, generic)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, `"field":"source"`) {
		t.Fatalf("generic hook with ESC in source: %d %s", a.status, a.raw)
	}
	if strings.Contains(a.raw, "\x1b") || strings.Contains(a.raw, `\u001b`) {
		t.Fatalf("the answer repeats the ESC raw: %s", a.raw)
	}
	push := bytes.Replace(golden(t, "gitlab_push.json"), []byte(`"acme/web/site"`), []byte(`"acme/x\u001b[2J\u001b[1;31mEVIL\ufffdHIDDEN"`), 1)
	a = f.post(t, "/hooks/gitlab", gitlabHeaders("Push Hook", "p-hostile", testGitLabToken), push)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, `"field":"source"`) {
		t.Fatalf("gitlab push with ESC in the project path: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("stored %d jobs", n)
	}
}

// The bearer scheme is compared case-insensitively (RFC 7235).
func TestBearerSchemeCaseInsensitive(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := []byte(`{"kind":"push","push":{"paths":["https://static.example.com/app.js"]}}`)
	for _, scheme := range []string{"bearer", "BEARER", "Bearer"} {
		if a := f.post(t, "/hooks/generic", map[string]string{"Authorization": scheme + " " + testBearer}, body); a.status != http.StatusAccepted {
			t.Errorf("%s: %d %s", scheme, a.status, a.raw)
		}
	}
	if a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Basic " + testBearer}, body); a.status != http.StatusUnauthorized {
		t.Errorf("Basic scheme: %d %s", a.status, a.raw)
	}
}

// /readyz shows a notice only as a bare state: a reason, a user or a host
// in it shows as "notice".
func TestReadyzShowsBareStatesOnly(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, testConfig(), func(d *Deps) {
		d.Ready = append(d.Ready,
			ReadyCheck{Name: "submissions", Check: func(context.Context) error { return Notice("paused") }},
			ReadyCheck{Name: "other", Check: func(context.Context) error {
				return Notice("paused by operator:root until 2026-12-07: origin incident INC-4711 at 10.0.3.7")
			}})
	})
	r := f.get(t, "/readyz")
	if r.status != http.StatusOK || !strings.Contains(r.raw, `"submissions":"paused"`) || !strings.Contains(r.raw, `"other":"notice"`) {
		t.Fatalf("readyz: %d %s", r.status, r.raw)
	}
	for _, s := range []string{"root", "INC-4711", "10.0.3.7"} {
		if strings.Contains(r.raw, s) {
			t.Fatalf("readyz shows %q: %s", s, r.raw)
		}
	}
}
