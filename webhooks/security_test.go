package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// countingBody is a request body that counts the bytes read from it.
type countingBody struct {
	r    io.Reader
	read atomic.Int64
	// reading, when set, is closed by the first Read.
	reading chan struct{}
	once    sync.Once
}

func (b *countingBody) Read(p []byte) (int, error) {
	if b.reading != nil {
		b.once.Do(func() { close(b.reading) })
	}
	n, err := b.r.Read(p)
	b.read.Add(int64(n))
	return n, err
}

func (b *countingBody) Close() error { return nil }

// serveDirect runs one request through the server's handler without a
// network, so that the test sees how much of the body was read.
func serveDirect(s *Server, path string, hdr map[string]string, body *countingBody, length int64) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, path, nil)
	req.Body, req.ContentLength = body, length
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func TestHeaderCredentialsAreCheckedBeforeTheBodyIsRead(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	payload := bytes.Repeat([]byte(" "), 32<<10)
	cases := []struct {
		name string
		path string
		hdr  map[string]string
	}{
		{"generic without credentials", "/hooks/generic", nil},
		{"generic with a wrong bearer", "/hooks/generic", map[string]string{"Authorization": "Bearer not-the-token-000000"}},
		{"generic with a stale HMAC timestamp", "/hooks/generic", map[string]string{HeaderTimestamp: strconv.FormatInt(time.Now().Add(-time.Hour).Unix(), 10), HeaderSignature: "sha256=" + strings.Repeat("0", 64)}},
		{"generic with a malformed HMAC signature", "/hooks/generic", map[string]string{HeaderTimestamp: strconv.FormatInt(time.Now().Unix(), 10), HeaderSignature: "sha256=zz"}},
		{"gitlab without a token", "/hooks/gitlab", nil},
		{"gitlab with a wrong token", "/hooks/gitlab", map[string]string{"X-Gitlab-Token": "not-the-token-000000"}},
		{"github without a signature", "/hooks/github", map[string]string{"X-GitHub-Event": "push"}},
		{"github with a malformed signature", "/hooks/github", map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha1=0123"}},
	}
	for _, c := range cases {
		body := &countingBody{r: bytes.NewReader(payload)}
		rec := serveDirect(f.srv, c.path, c.hdr, body, int64(len(payload)))
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("%s: status %d %s, want 401", c.name, rec.Code, rec.Body)
		}
		if n := body.read.Load(); n != 0 {
			t.Errorf("%s: %d bytes of the body were read before the credentials were refused", c.name, n)
		}
	}
	// With the right header credential the body is read.
	good := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]}}`)
	body := &countingBody{r: bytes.NewReader(good)}
	if rec := serveDirect(f.srv, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, body, int64(len(good))); rec.Code != http.StatusAccepted || body.read.Load() != int64(len(good)) {
		t.Fatalf("bearer request: status %d, %d bytes read", rec.Code, body.read.Load())
	}
}

// blockingBody is a body whose bytes arrive only when the test sends them.
type blockingBody struct {
	pr *io.PipeReader
	pw *io.PipeWriter
}

func newBlockingBody() *blockingBody {
	pr, pw := io.Pipe()
	return &blockingBody{pr: pr, pw: pw}
}

func TestBufferBudgetRefusesNewBodiesWith503(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BufferBudget = 100 << 10 // room for one 64 KiB body, not two
	cfg.RetryAfter = 3 * time.Second
	f := newFixture(t, cfg)
	good := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/held.css"]}}`)
	padded := append(bytes.Repeat([]byte(" "), 60<<10), good...)
	bearer := map[string]string{"Authorization": "Bearer " + testBearer}

	// A slow sender holds 60 KiB of the budget while its body trickles in.
	slow := newBlockingBody()
	held := make(chan *httptest.ResponseRecorder, 1)
	slowBody := &countingBody{r: slow.pr, reading: make(chan struct{})}
	go func() {
		held <- serveDirect(f.srv, "/hooks/generic", bearer, slowBody, int64(len(padded)))
	}()
	// The handler reserves a body's bytes before it reads the body.
	select {
	case <-slowBody.reading:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request's body was never read")
	}
	if got := f.srv.budget.inUse(); got != int64(len(padded)) {
		t.Fatalf("the slow request did not reserve its body (in use %d)", got)
	}

	// A new body that does not fit is answered at once, unread.
	second := &countingBody{r: bytes.NewReader(padded)}
	rec := serveDirect(f.srv, "/hooks/generic", bearer, second, int64(len(padded)))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "3" || !strings.Contains(rec.Body.String(), `"code":"busy"`) {
		t.Fatalf("over the budget: status %d Retry-After %q %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if second.read.Load() != 0 {
		t.Fatalf("%d bytes read of a request over the budget", second.read.Load())
	}
	// A small one still fits.
	if rec := serveDirect(f.srv, "/hooks/generic", bearer, &countingBody{r: bytes.NewReader(good)}, int64(len(good))); rec.Code != http.StatusAccepted {
		t.Fatalf("small body beside the held one: %d %s", rec.Code, rec.Body)
	}

	// The slow body completes; its bytes go back to the budget.
	if _, err := slow.pw.Write(padded); err != nil {
		t.Fatal(err)
	}
	slow.pw.Close()
	if r := <-held; r.Code != http.StatusAccepted {
		t.Fatalf("slow request: %d %s", r.Code, r.Body)
	}
	if n := f.srv.budget.inUse(); n != 0 {
		t.Fatalf("%d bytes still reserved after every request ended", n)
	}
	if rec := serveDirect(f.srv, "/hooks/generic", bearer, &countingBody{r: bytes.NewReader(padded)}, int64(len(padded))); rec.Code != http.StatusAccepted {
		t.Fatalf("after the budget was given back: %d %s", rec.Code, rec.Body)
	}
}

func TestBodyLimitsMustFitTheBudget(t *testing.T) {
	t.Parallel()
	cfg := Config{GitHubBodyLimit: 30 << 20, BufferBudget: 16 << 20}.WithDefaults()
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "github_body_limit") || !strings.Contains(err.Error(), "gitlab_body_limit") {
		t.Fatalf("Validate = %v, want github_body_limit and gitlab_body_limit over buffer_budget", err)
	}
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

// GitHub payloads reach 25 MB: a push over the generic body_limit is read
// with github_body_limit.
func TestLargeGitHubPushFitsItsOwnLimit(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.BodyLimit, cfg.GitHubBodyLimit, cfg.GitLabBodyLimit = 0, 0, 0 // the defaults: 1 MiB generic, 25 MiB senders
	f := newFixture(t, cfg)
	push := golden(t, "github_push.json")
	big := append([]byte(`{"padding":"`+strings.Repeat("x", 3<<20)+`",`), bytes.TrimPrefix(bytes.TrimSpace(push), []byte("{"))...)
	a := f.post(t, "/hooks/github", githubHeaders("push", "big-push-1", big, testGitHubSecret), big)
	if a.status != http.StatusAccepted {
		t.Fatalf("3 MiB GitHub push: %d %s", a.status, clip(a.raw, 300))
	}
	generic := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]},"source":"` + strings.Repeat("x", 2<<20) + `"}`)
	if a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, generic); a.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB generic body: %d, want 413 (body_limit 1 MiB)", a.status)
	}
}

func signedHeaders(ts time.Time, key string, body []byte) map[string]string {
	h := map[string]string{HeaderTimestamp: strconv.FormatInt(ts.Unix(), 10), HeaderSignature: SignGeneric(testHMACSecret, ts, key, body)}
	if key != "" {
		h[HeaderIdempotencyKey] = key
	}
	return h
}

func TestSignedGenericRequestIsAcceptedOnceAcrossReplicas(t *testing.T) {
	t.Parallel()
	f := newNATSFixture(t, testConfig())
	// A second replica on the same NATS: its own server, the same bucket.
	replay, err := OpenReplayGuard(t.Context(), f.js, "", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, _ := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "www.example.com"}})
	subjects, _ := jobs.NewSubjects("")
	pub, _ := queue.NewPublisher(f.nc, queue.PublisherConfig{Subjects: subjects, Timeout: 2 * time.Second})
	other, err := New(testConfig(), Deps{Validator: v, Publisher: pub, Replay: replay})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/once.css"]}}`)
	hdr := signedHeaders(time.Now(), "", body)
	if a := f.post(t, "/hooks/generic", hdr, body); a.status != http.StatusAccepted {
		t.Fatalf("first: %d %s", a.status, a.raw)
	}
	for i := range 3 {
		rec := serveDirect(other, "/hooks/generic", hdr, &countingBody{r: bytes.NewReader(body)}, int64(len(body)))
		if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), `"code":"replayed"`) {
			t.Fatalf("replay %d on the other replica: %d %s", i, rec.Code, rec.Body)
		}
	}
	if a := f.post(t, "/hooks/generic", hdr, body); a.status != http.StatusConflict {
		t.Fatalf("replay on the same replica: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 1 {
		t.Fatalf("stored %d jobs from one signed request, want 1", n)
	}
	// Signed afresh (a new timestamp) it is a new request.
	if a := f.post(t, "/hooks/generic", signedHeaders(time.Now().Add(time.Second), "", body), body); a.status != http.StatusAccepted {
		t.Fatalf("signed afresh: %d %s", a.status, a.raw)
	}
}

func TestIdempotencyKeyIsSigned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/keyed.css"]}}`)
	now := time.Now()
	hdr := signedHeaders(now, "ci-run-1", body)
	if a := f.post(t, "/hooks/generic", hdr, body); a.status != http.StatusAccepted {
		t.Fatalf("signed with its key: %d %s", a.status, a.raw)
	}
	// A replayer that swaps in a fresh key breaks the signature.
	swapped := signedHeaders(now, "ci-run-1", body)
	swapped[HeaderIdempotencyKey] = "fresh-key-2"
	if a := f.post(t, "/hooks/generic", swapped, body); a.status != http.StatusUnauthorized || a.body["code"] != "bad_signature" {
		t.Fatalf("key swapped: %d %s", a.status, a.raw)
	}
	// A key added to a request signed without one breaks it too.
	unkeyed := signedHeaders(now.Add(time.Second), "", body)
	unkeyed[HeaderIdempotencyKey] = "added-key-3"
	if a := f.post(t, "/hooks/generic", unkeyed, body); a.status != http.StatusUnauthorized {
		t.Fatalf("key added: %d %s", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 1 {
		t.Fatalf("stored %d jobs, want 1", n)
	}
}

// failingPublisher fails while down is set, then publishes through next.
type failingPublisher struct {
	next Publisher
	down atomic.Bool
}

func (p *failingPublisher) PublishSet(ctx context.Context, key string, js []*jobs.Job) ([]queue.Ack, error) {
	if p.down.Load() {
		return nil, errors.New("stream full")
	}
	return p.next.PublishSet(ctx, key, js)
}

func (p *failingPublisher) Report(ctx context.Context, ev jobs.StatusEvent) error {
	return p.next.Report(ctx, ev)
}

// A signed request the queue could not take (503) may be sent again as it
// is: its signature is not kept as accepted.
func TestSignedRequestRefusedWith503CanBeSentAgain(t *testing.T) {
	t.Parallel()
	var fp *failingPublisher
	f := newFixtureWith(t, testConfig(), func(d *Deps) {
		fp = &failingPublisher{next: d.Publisher}
		fp.down.Store(true)
		d.Publisher = fp
	})
	body := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/retry.css"]}}`)
	hdr := signedHeaders(time.Now(), "retry-1", body)
	if a := f.post(t, "/hooks/generic", hdr, body); a.status != http.StatusServiceUnavailable {
		t.Fatalf("queue down: %d %s", a.status, a.raw)
	}
	fp.down.Store(false)
	if a := f.post(t, "/hooks/generic", hdr, body); a.status != http.StatusAccepted {
		t.Fatalf("the same request once the queue is back: %d %s", a.status, a.raw)
	}
	if a := f.post(t, "/hooks/generic", hdr, body); a.status != http.StatusConflict {
		t.Fatalf("then a replay: %d %s", a.status, a.raw)
	}
}

func TestRefusalsEchoAtMostABoundedPart(t *testing.T) {
	t.Parallel()
	logs := &jobstest.LogBuffer{}
	f := newFixtureWith(t, testConfig(), func(d *Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	})
	huge := strings.Repeat("x", 60<<10)
	bearer := map[string]string{"Authorization": "Bearer " + testBearer}
	cases := []struct {
		name string
		hdr  map[string]string
		body []byte
		want int
	}{
		{"content type", map[string]string{"Authorization": "Bearer " + testBearer, "Content-Type": "application/" + huge}, []byte(`{}`), 415},
		{"unknown field", bearer, []byte(`{"kind":"refresh","` + huge + `":1}`), 400},
		{"long path", bearer, []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/` + strings.Repeat("p", 50<<10) + `"]}}`), 422},
		{"many bad paths", bearer, []byte(`{"kind":"refresh","refresh":{"paths":["` + strings.TrimSuffix(strings.Repeat(`https://evil.example.net/`+strings.Repeat("q", 40)+`","`, 700), `","`) + `"]}}`), 422},
	}
	for _, c := range cases {
		cfgBody := c.body
		a := f.post(t, "/hooks/generic", c.hdr, cfgBody)
		if a.status != c.want {
			t.Errorf("%s: status %d, want %d: %s", c.name, a.status, c.want, clip(a.raw, 300))
		}
		if c.name != "many bad paths" && len(a.raw) > 1024 {
			t.Errorf("%s: answer of %d bytes: %s", c.name, len(a.raw), clip(a.raw, 300))
		}
		if got := logs.Take(); len(got) >= 1024 {
			t.Errorf("%s: %d bytes of log for one refused request: %s", c.name, len(got), clip(got, 300))
		}
	}
	// The list of problems is bounded too.
	a := f.post(t, "/hooks/generic", bearer, cases[3].body)
	if ps, _ := a.body["problems"].([]any); len(ps) == 0 || len(ps) > maxProblems+1 {
		t.Errorf("%d problems listed: %s", len(ps), clip(a.raw, 300))
	}
}

func TestClip(t *testing.T) {
	t.Parallel()
	if got := clip("short", 10); got != "short" {
		t.Errorf("clip(short) = %q", got)
	}
	got := clip(strings.Repeat("é", 100), 50)
	if len(got) > 50 || !strings.HasSuffix(got, "...(200 bytes)") || !strings.HasPrefix(got, "é") {
		t.Errorf("clip = %q (%d bytes)", got, len(got))
	}
	for i := range len(got) - len("...(200 bytes)") {
		if got[i] != 0xc3 && got[i] != 0xa9 {
			t.Fatalf("clip cut a rune: %q", got)
		}
	}
}

func TestMetricLabelsComeFromFixedSets(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureWith(t, testConfig(), func(d *Deps) { d.Metrics = m })
	for i := range 50 {
		f.post(t, "/hooks/generic", map[string]string{"Content-Type": fmt.Sprintf("text/x-%d", i), "Authorization": "Bearer " + testBearer}, []byte(`{}`))
		f.post(t, "/hooks/gitlab", map[string]string{"X-Gitlab-Token": fmt.Sprintf("tok-%d", i)}, []byte(`{}`))
		f.post(t, fmt.Sprintf("/hooks/unknown-%d", i), nil, []byte(`{}`))
	}
	m.observe("not-a-hook", 418, time.Millisecond) // what a future caller might pass
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]bool{"other": true}
	for _, c := range statusCodes {
		codes[strconv.Itoa(c)] = true
	}
	series := 0
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			series++
			for _, lp := range mt.GetLabel() {
				if !allowed(lp, codes) {
					t.Errorf("%s: label %s=%q is outside its fixed set", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	if series > 2*len(hookNames)*len(codes)+1+2*3 {
		t.Errorf("%d series after hostile requests", series)
	}
}

func allowed(lp *dto.LabelPair, codes map[string]bool) bool {
	switch lp.GetName() {
	case "hook":
		return lp.GetValue() == "other" || label(lp.GetValue(), hookNames) == lp.GetValue()
	case "code":
		return codes[lp.GetValue()]
	case "action": // the truncated-push counter's fixed set
		return slices.Contains([]string{truncRefresh, truncRefuse, truncListed}, lp.GetValue())
	}
	return false
}

func TestReadyzNamesTheFailingCheckNotItsAddress(t *testing.T) {
	t.Parallel()
	logs := &jobstest.LogBuffer{}
	f := newFixtureWith(t, testConfig(), func(d *Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		d.Ready = append(d.Ready, ReadyCheck{Name: "redis", Check: func(context.Context) error {
			return errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
		}})
	})
	r := f.get(t, "/readyz")
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.raw, `"redis":"failing"`) || !strings.Contains(r.raw, `"nats":"ok"`) {
		t.Fatalf("readyz: %d %s", r.status, r.raw)
	}
	if strings.Contains(r.raw, "127.0.0.1") || strings.Contains(r.raw, "dial") {
		t.Fatalf("readyz tells strangers internal detail: %s", r.raw)
	}
	if l := logs.Take(); !strings.Contains(l, `"level":"WARN"`) || !strings.Contains(l, "127.0.0.1:6379") {
		t.Fatalf("the detail is not logged at WARN: %s", l)
	}
}

func TestWebhookListenerServesNoMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	if r := f.get(t, "/metrics"); r.status != http.StatusNotFound {
		t.Fatalf("/metrics on the webhook listener: %d", r.status)
	}
}
