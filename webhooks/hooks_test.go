package webhooks

import (
	"bytes"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/secretfile"
)

func TestGitHubPushStoresMappedURLs(t *testing.T) {
	t.Parallel()
	f := newNATSFixture(t, testConfig())
	body := golden(t, "github_push.json")
	hdr := githubHeaders("push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", body, testGitHubSecret)
	a := f.post(t, "/hooks/github", hdr, body)
	if a.status != http.StatusAccepted {
		t.Fatalf("status %d: %s", a.status, a.raw)
	}
	got := f.stored(t)
	if len(got) != 1 || got[0].Kind != jobs.KindRefresh {
		t.Fatalf("stored %+v, want one refresh job", got)
	}
	want := []string{
		"https://static.example.com/img/new%20logo.svg",
		"https://static.example.com/css/site.css",
		"https://static.example.com/js/app.js",
		"https://static.example.com/img/old-logo.png",
	}
	if !slices.Equal(got[0].Refresh.Paths, want) {
		t.Fatalf("paths = %q, want %q", got[0].Refresh.Paths, want)
	}
	if got[0].Source != "github:acme/site@main" || got[0].ReceivedAt.IsZero() {
		t.Fatalf("source %q received %v", got[0].Source, got[0].ReceivedAt)
	}
	if !strings.Contains(a.raw, got[0].ID) || a.body["paths"] != float64(4) {
		t.Fatalf("answer %s does not name job %s with 4 paths", a.raw, got[0].ID)
	}

	// GitHub's "redeliver" sends the same delivery ID: stored once, same job.
	again := f.post(t, "/hooks/github", hdr, body)
	if again.status != http.StatusAccepted || !strings.Contains(again.raw, got[0].ID) || !strings.Contains(again.raw, `"duplicate":true`) {
		t.Fatalf("redelivery answered %d %s", again.status, again.raw)
	}
	if n := len(f.stored(t)); n != 1 {
		t.Fatalf("redelivery stored again: %d jobs", n)
	}
}

func TestGitHubWrongSignatureStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := golden(t, "github_push.json")
	for name, hdr := range map[string]map[string]string{
		"wrong secret": githubHeaders("push", "d1", body, "not-the-secret-at-all"),
		"missing":      {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d2"},
		"garbage":      {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=zz"},
		"sha1 only":    {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha1=0123"},
	} {
		a := f.post(t, "/hooks/github", hdr, body)
		if a.status != http.StatusUnauthorized || a.body["error"] == nil {
			t.Errorf("%s: status %d %s, want 401 with an error", name, a.status, a.raw)
		}
		if strings.Contains(a.raw, "sha256=") {
			t.Errorf("%s: answer echoes the signature: %s", name, a.raw)
		}
	}
	// Tampered body with a signature of the original.
	hdr := githubHeaders("push", "d3", body, testGitHubSecret)
	tampered := bytes.Replace(body, []byte("public/js/app.js"), []byte("public/js/evil.js"), 1)
	if a := f.post(t, "/hooks/github", hdr, tampered); a.status != http.StatusUnauthorized {
		t.Errorf("tampered body: status %d", a.status)
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("stored %d jobs from unauthenticated requests", n)
	}
}

func TestGitHubPingDeploymentAndOtherEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	ping := golden(t, "github_ping.json")
	if a := f.post(t, "/hooks/github", githubHeaders("ping", "p1", ping, testGitHubSecret), ping); a.status != http.StatusOK || a.body["status"] != "pong" {
		t.Fatalf("ping: %d %s", a.status, a.raw)
	}
	issue := []byte(`{"action":"opened","issue":{"number":1}}`)
	if a := f.post(t, "/hooks/github", githubHeaders("issues", "i1", issue, testGitHubSecret), issue); a.status != http.StatusOK || a.body["status"] != "ignored" {
		t.Fatalf("issues event: %d %s", a.status, a.raw)
	}
	dep := golden(t, "github_deployment_status.json")
	a := f.post(t, "/hooks/github", githubHeaders("deployment_status", "ds1", dep, testGitHubSecret), dep)
	if a.status != http.StatusAccepted {
		t.Fatalf("deployment_status: %d %s", a.status, a.raw)
	}
	got := f.stored(t)
	if len(got) != 2 || got[0].Refresh.Paths[0] != "https://www.example.com/index.html" ||
		got[1].Refresh.ObjectType != "Directory" || got[1].Refresh.Paths[0] != "https://static.example.com/build/" {
		t.Fatalf("stored %+v", got)
	}
	// A failed deployment purges nothing.
	failed := bytes.Replace(dep, []byte(`"state": "success"`), []byte(`"state": "failure"`), 1)
	if a := f.post(t, "/hooks/github", githubHeaders("deployment_status", "ds2", failed, testGitHubSecret), failed); a.status != http.StatusOK {
		t.Fatalf("failed deployment: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 2 {
		t.Fatalf("failed deployment stored jobs: %d", n)
	}
}

func TestGitLabPipelineSuccessTriggersDeployPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := golden(t, "gitlab_pipeline.json")
	if a := f.post(t, "/hooks/gitlab", gitlabHeaders("Pipeline Hook", "u1", "wrong-token-000000"), body); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", a.status)
	}
	a := f.post(t, "/hooks/gitlab", gitlabHeaders("Pipeline Hook", "2b5c7e3a-0d6f-4d8e-9f10-1a2b3c4d5e6f", testGitLabToken), body)
	if a.status != http.StatusAccepted {
		t.Fatalf("pipeline: %d %s", a.status, a.raw)
	}
	got := f.stored(t)
	if len(got) != 2 || !slices.Equal(got[0].Refresh.Paths, []string{"https://www.example.com/", "https://www.example.com/news/"}) ||
		got[1].Kind != jobs.KindPush || got[1].Push.Paths[0] != "https://www.example.com/index.html" {
		t.Fatalf("stored %+v", got)
	}
	running := bytes.Replace(body, []byte(`"status": "success"`), []byte(`"status": "running"`), 1)
	if a := f.post(t, "/hooks/gitlab", gitlabHeaders("Pipeline Hook", "u3", testGitLabToken), running); a.status != http.StatusOK {
		t.Fatalf("running pipeline: %d %s", a.status, a.raw)
	}
}

func TestGitLabPushAndDeployment(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	push := golden(t, "gitlab_push.json")
	if a := f.post(t, "/hooks/gitlab", gitlabHeaders("Push Hook", "p1", testGitLabToken), push); a.status != http.StatusAccepted {
		t.Fatalf("push: %d %s", a.status, a.raw)
	}
	dep := golden(t, "gitlab_deployment.json")
	if a := f.post(t, "/hooks/gitlab", gitlabHeaders("Deployment Hook", "d1", testGitLabToken), dep); a.status != http.StatusAccepted {
		t.Fatalf("deployment: %d %s", a.status, a.raw)
	}
	got := f.stored(t)
	want := []string{"https://static.example.com/img/banner.webp", "https://static.example.com/css/site.css", "https://static.example.com/js/legacy.js"}
	if len(got) != 3 || !slices.Equal(got[0].Refresh.Paths, want) || got[1].Refresh.Paths[0] != "https://www.example.com/index.html" {
		t.Fatalf("stored %+v", got)
	}
}

func TestGenericOffAllowlistIs422(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/ok.css","https://evil.example.net/x.js","www.example.com/a"]}}`)
	a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, body)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, "https://evil.example.net/x.js") || !strings.Contains(a.raw, "refresh.paths[1]") {
		t.Fatalf("status %d %s", a.status, a.raw)
	}
	if strings.Contains(a.raw, "ok.css") {
		t.Errorf("answer names good paths too: %s", a.raw)
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("stored %d jobs", n)
	}
}

func TestGenericAuthAndErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := []byte(`{"kind":"push","push":{"paths":["https://static.example.com/app.js"]}}`)
	now := time.Now()
	signed := func(ts time.Time, secret secretfile.Secret) map[string]string {
		return map[string]string{HeaderTimestamp: strconv.FormatInt(ts.Unix(), 10), HeaderSignature: SignGeneric(secret, ts, "", body)}
	}
	// ahead signs with a timestamp d ahead of when the request is sent, not
	// of the test's start, so that a slow machine does not move it back
	// inside the window.
	ahead := func(d time.Duration) func() map[string]string {
		return func() map[string]string { return signed(time.Now().Add(d), testHMACSecret) }
	}
	tests := []struct {
		name  string
		hdr   map[string]string
		hdrAt func() map[string]string // when set, made just before sending
		body  []byte
		want  int
	}{
		{"bearer", map[string]string{"Authorization": "Bearer " + testBearer}, nil, body, 202},
		{"hmac", signed(now, testHMACSecret), nil, body, 202},
		{"hmac replayed", signed(now, testHMACSecret), nil, body, 409},
		{"hmac old", signed(now.Add(-6*time.Minute), testHMACSecret), nil, body, 401},
		{"hmac future", signed(now.Add(6*time.Minute), testHMACSecret), nil, body, 401},
		{"hmac 32s ahead", nil, ahead(32 * time.Second), body, 401},
		{"hmac 20s ahead", nil, ahead(20 * time.Second), body, 202},
		{"hmac wrong secret", signed(now, "another-secret-0000"), nil, body, 401},
		{"wrong bearer", map[string]string{"Authorization": "Bearer nope"}, nil, body, 401},
		{"none", nil, nil, body, 401},
		{"bad json", map[string]string{"Authorization": "Bearer " + testBearer}, nil, []byte(`{"kind":`), 400},
		{"unknown field", map[string]string{"Authorization": "Bearer " + testBearer}, nil, []byte(`{"kind":"push","push":{"paths":["x"],"areaa":"x"}}`), 400},
		{"operation refused", map[string]string{"Authorization": "Bearer " + testBearer}, nil, []byte(`{"kind":"operation","operation":{"action":"OpenCdnService"}}`), 400},
		{"wrong content type", map[string]string{"Authorization": "Bearer " + testBearer, "Content-Type": "text/plain"}, nil, body, 415},
	}
	for _, tt := range tests {
		hdr := tt.hdr
		if tt.hdrAt != nil {
			hdr = tt.hdrAt()
		}
		a := f.post(t, "/hooks/generic", hdr, tt.body)
		if a.status != tt.want {
			t.Errorf("%s: status %d %s, want %d", tt.name, a.status, a.raw, tt.want)
		}
		if a.status >= 400 && (a.body["error"] == nil || a.body["code"] == nil) {
			t.Errorf("%s: error answer without error/code: %s", tt.name, a.raw)
		}
	}
	if n := len(f.stored(t)); n != 3 {
		t.Fatalf("stored %d jobs, want 3", n)
	}
}

func TestOversizedBodyIs413(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	big := []byte(`{"kind":"refresh","refresh":{"paths":["` + strings.Repeat("a", 70<<10) + `"]}}`)
	if a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, big); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("declared length: status %d %s", a.status, a.raw)
	}
	// Without Content-Length (chunked) the limit stops the read.
	req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/hooks/github", struct{ *bytes.Reader }{bytes.NewReader(big)})
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	req.ContentLength = -1
	resp, err := f.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked: status %d", resp.StatusCode)
	}
}

func TestNATSDownIs503ThenRecovers(t *testing.T) {
	t.Parallel()
	f := newNATSFixture(t, testConfig())
	body := golden(t, "gitlab_pipeline.json")
	hdr := gitlabHeaders("Pipeline Hook", "outage-1", testGitLabToken)
	f.nats.Stop()
	a := f.post(t, "/hooks/gitlab", hdr, body)
	if a.status != http.StatusServiceUnavailable || a.body["code"] != "queue_unavailable" {
		t.Fatalf("with NATS down: %d %s", a.status, a.raw)
	}
	if r := f.get(t, "/readyz"); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with NATS down: %d", r.status)
	}
	if r := f.get(t, "/healthz"); r.status != http.StatusOK {
		t.Fatalf("healthz: %d", r.status)
	}
	up := f.nc.StatusChanged(nats.CONNECTED)
	defer f.nc.RemoveStatusListener(up)
	f.nats.Restart()
	select {
	case <-up:
	case <-time.After(15 * time.Second):
		t.Fatalf("the server's connection did not come back (status %v)", f.nc.Status())
	}
	if a = f.post(t, "/hooks/gitlab", hdr, body); a.status != http.StatusAccepted {
		t.Fatalf("after restart: %d %s", a.status, a.raw)
	}
	if r := f.get(t, "/readyz"); r.status != http.StatusOK {
		t.Fatalf("readyz after restart: %d %s", r.status, r.raw)
	}
	if n := len(f.stored(t)); n != 2 {
		t.Fatalf("stored %d jobs, want 2", n)
	}
}

func TestDuplicateMsgIDStoredOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := []byte(`{"id":"deploy-4711","kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]}}`)
	hdr := map[string]string{"Authorization": "Bearer " + testBearer}
	first, second := f.post(t, "/hooks/generic", hdr, body), f.post(t, "/hooks/generic", hdr, body)
	if first.status != 202 || second.status != 202 || !strings.Contains(second.raw, `"duplicate":true`) {
		t.Fatalf("answers %d %s / %d %s", first.status, first.raw, second.status, second.raw)
	}
	// Idempotency-Key works for jobs without an ID.
	noID := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/b.css"]}}`)
	hdr["Idempotency-Key"] = "ci-run-99"
	f.post(t, "/hooks/generic", hdr, noID)
	f.post(t, "/hooks/generic", hdr, noID)
	if n := len(f.stored(t)); n != 2 {
		t.Fatalf("stored %d jobs, want 2", n)
	}
}

func (f *fixture) get(tb testing.TB, path string) answer {
	tb.Helper()
	resp, err := f.http.Client().Get(f.http.URL + path)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return answer{status: resp.StatusCode, raw: b.String()}
}
