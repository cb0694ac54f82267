package console

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/worker"
)

// bundle is a console on an embedded NATS, served over real HTTP.
type bundle struct {
	srv    *httptest.Server
	ctl    *worker.Control
	pub    *queue.Publisher
	events *jobstest.Statuses
	nc     *nats.Conn
	js     jetstream.JetStream
}

func setup(t *testing.T, token string) *bundle {
	t.Helper()
	n := jobstest.RunNATS(t)
	nc, js := n.Connect()
	ctx := t.Context()
	subj, _ := jobs.NewSubjects("")
	if _, err := queue.EnsureStream(ctx, js, queue.StreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	if _, err := queue.EnsureStatusStream(ctx, js, queue.StatusStreamConfig{Subjects: subj}); err != nil {
		t.Fatal(err)
	}
	ctl, err := worker.OpenControl(ctx, js, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := queue.NewPublisher(nc, queue.PublisherConfig{Subjects: subj})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Deps{Conn: nc, JS: js, Stream: queue.DefaultStreamName, StatusStream: queue.DefaultStatusStreamName,
		Subjects: subj, Control: ctl, Publisher: pub, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Prefix, c.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &bundle{srv: srv, ctl: ctl, pub: pub, events: jobstest.WatchStatus(t, nc, subj), nc: nc, js: js}
}

// client is a browser: it keeps cookies and does not follow redirects.
func (b *bundle) client(t *testing.T) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	r, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(body)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	r, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	return r, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *bundle) login(t *testing.T, c *http.Client, token string) string {
	t.Helper()
	r, body := post(t, c, b.srv.URL+Prefix+"login", url.Values{"token": {token}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d %s", r.StatusCode, body)
	}
	_, page := get(t, c, b.srv.URL+Prefix)
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the overview after login:\n%s", page)
	}
	return m[1]
}

func (b *bundle) paused(t *testing.T) bool {
	t.Helper()
	_, on, err := b.ctl.OperatorPause(t.Context(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// Without admin.token the console shows everything, says it is read-only
// and refuses every action with a message that says why.
func TestReadOnlyWithoutToken(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client(t)
	code, page := get(t, c, b.srv.URL+Prefix)
	if code != http.StatusOK || !strings.Contains(page, "read-only: no admin.token configured") {
		t.Fatalf("overview: %d\n%s", code, page)
	}
	for _, path := range []string{"pause", "resume", "jobs/x1/cancel", "jobs/x1/retry"} {
		r, body := post(t, c, b.srv.URL+Prefix+path, url.Values{"reason": {"r"}, "csrf": {"anything"}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(body, "read-only") {
			t.Errorf("POST %s: %d, want 403 saying read-only:\n%s", path, r.StatusCode, body)
		}
	}
	r, body := post(t, c, b.srv.URL+Prefix+"login", url.Values{"token": {""}})
	if r.StatusCode != http.StatusForbidden || r.Header.Get("Set-Cookie") != "" || !strings.Contains(body, "read-only") {
		t.Errorf("login without a token configured: %d %q", r.StatusCode, r.Header.Get("Set-Cookie"))
	}
	if b.paused(t) {
		t.Error("a read-only console paused submissions")
	}
}

// Actions need a session from a login with the token, and the session's
// CSRF token on every form; the cookie is HttpOnly and SameSite=Strict.
func TestActionsNeedLoginAndCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, "s3cret-token")
	c := b.client(t)

	r, _ := post(t, c, b.srv.URL+Prefix+"pause", url.Values{"reason": {"x"}})
	if r.StatusCode != http.StatusUnauthorized {
		t.Errorf("pause without a session: %d, want 401", r.StatusCode)
	}
	r, body := post(t, c, b.srv.URL+Prefix+"login", url.Values{"token": {"s3cret-tokeN"}})
	if r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 || !strings.Contains(body, "wrong token") {
		t.Errorf("wrong token: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	r, _ = post(t, c, b.srv.URL+Prefix+"login", url.Values{"token": {"s3cret-token"}})
	if r.StatusCode != http.StatusSeeOther || len(r.Cookies()) != 1 {
		t.Fatalf("login: %d %v", r.StatusCode, r.Cookies())
	}
	ck := r.Cookies()[0]
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != Prefix {
		t.Errorf("session cookie = %+v, want HttpOnly, SameSite=Strict, Path=%s", ck, Prefix)
	}
	csrf := b.login(t, c, "s3cret-token")

	for _, bad := range []string{"", "forged", csrf + "x"} {
		r, body := post(t, c, b.srv.URL+Prefix+"pause", url.Values{"reason": {"x"}, "csrf": {bad}})
		if r.StatusCode != http.StatusForbidden || !strings.Contains(body, "CSRF") {
			t.Errorf("pause with CSRF %q: %d, want 403", bad, r.StatusCode)
		}
	}
	if b.paused(t) {
		t.Fatal("paused by a request without the CSRF token")
	}
	// Another client (no cookie) with a valid CSRF token is refused too.
	if r, _ := post(t, b.client(t), b.srv.URL+Prefix+"pause", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("CSRF token without the session: %d, want 401", r.StatusCode)
	}

	r, _ = post(t, c, b.srv.URL+Prefix+"pause", url.Values{"reason": {"incident 12"}, "csrf": {csrf}})
	if r.StatusCode != http.StatusSeeOther || !b.paused(t) {
		t.Fatalf("pause with session and CSRF: %d, paused %v", r.StatusCode, b.paused(t))
	}
	r, _ = post(t, c, b.srv.URL+Prefix+"resume", url.Values{"reason": {"over"}, "csrf": {csrf}})
	if r.StatusCode != http.StatusSeeOther || b.paused(t) {
		t.Fatalf("resume: %d, paused %v", r.StatusCode, b.paused(t))
	}
	// Both actions are status events naming the console session.
	jobstest.Await(t, "the action events", time.Minute, func() bool { return len(b.events.All("")) >= 2 }, b.events.Changed)
	for i, want := range []string{worker.ActionPause, worker.ActionResume} {
		ev := b.events.All("")[i]
		if ev.Action != want || !strings.HasPrefix(ev.By, "console:session-") || !strings.Contains(ev.By, "@127.0.0.1") {
			t.Errorf("event %d = %+v, want %s by the console session", i, ev, want)
		}
	}
	// After logout the session is gone.
	post(t, c, b.srv.URL+Prefix+"logout", url.Values{"csrf": {csrf}})
	if r, _ := post(t, c, b.srv.URL+Prefix+"pause", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("pause after logout: %d, want 401", r.StatusCode)
	}
}

// A job is found by its ID, by a path or by a URL prefix, and its page
// lists its paths; what it holds is escaped.
func TestSearchAndJobPage(t *testing.T) {
	t.Parallel()
	b := setup(t, "")
	c := b.client(t)
	j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/app.js?<b>=1"}}}
	j.Prepare("cli", time.Now())
	if _, err := b.pub.Publish(context.Background(), j, ""); err != nil {
		t.Fatal(err)
	}
	other := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://img.example.com/a.png"}}}
	other.Prepare("cli", time.Now())
	if _, err := b.pub.Publish(context.Background(), other, ""); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{j.ID, "https://static.example.com/", "https://static.example.com/app.js"} {
		code, page := get(t, c, b.srv.URL+Prefix+"jobs?q="+url.QueryEscape(q))
		if code != http.StatusOK || !strings.Contains(page, j.ID) || strings.Contains(page, other.ID) {
			t.Errorf("search %q: %d, want %s only", q, code, j.ID)
		}
	}
	code, page := get(t, c, b.srv.URL+Prefix+"jobs/"+j.ID)
	if code != http.StatusOK || !strings.Contains(page, "https://static.example.com/app.js?&lt;b&gt;=1") || strings.Contains(page, "<b>=1") {
		t.Errorf("job page: %d, want its path escaped:\n%s", code, page)
	}
	if code, _ := get(t, c, b.srv.URL+Prefix+"jobs/nosuchjob"); code != http.StatusNotFound {
		t.Errorf("unknown job: %d, want 404", code)
	}
}

// Cancel from the console marks a queued job cancelled, as the CLI does,
// with the console session as who; retry refuses a job that did not fail.
func TestCancelAndRetryFromTheConsole(t *testing.T) {
	t.Parallel()
	b := setup(t, "tok")
	c := b.client(t)
	csrf := b.login(t, c, "tok")
	j := &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/x.js"}}}
	j.Prepare("cli", time.Now())
	if _, err := b.pub.Publish(context.Background(), j, ""); err != nil {
		t.Fatal(err)
	}
	r, body := post(t, c, b.srv.URL+Prefix+"jobs/"+j.ID+"/retry", url.Values{"csrf": {csrf}})
	if r.StatusCode != http.StatusConflict || !strings.Contains(body, "only failed and rejected") {
		t.Errorf("retry of a queued job: %d", r.StatusCode)
	}
	r, _ = post(t, c, b.srv.URL+Prefix+"jobs/"+j.ID+"/cancel", url.Values{"csrf": {csrf}, "reason": {"wrong file"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", r.StatusCode)
	}
	cn, ok, err := b.ctl.Cancelled(t.Context(), j.ID)
	if err != nil || !ok || !strings.HasPrefix(cn.By, "console:session-") {
		t.Fatalf("cancel recorded = %+v %v %v", cn, ok, err)
	}
	jobstest.Await(t, "the cancel event", time.Minute, func() bool { return b.events.Has(j.ID, worker.StateCancelled) }, b.events.Changed)
	if ev, _ := b.events.Last(j.ID); ev.Action != worker.ActionCancel || !strings.Contains(ev.Reason, "wrong file") {
		t.Errorf("cancel event = %+v", ev)
	}
	_, page := get(t, c, b.srv.URL+Prefix+"jobs/"+j.ID)
	if !strings.Contains(page, `id="job-state" class="state cancelled"`) {
		t.Errorf("job page after the cancel does not show it cancelled")
	}
}
