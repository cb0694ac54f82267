package webhooks

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	testGitHubSecret = "gh-secret-0123456789"
	testGitLabToken  = "gl-token-0123456789"
	testBearer       = "bearer-token-0123456789"
	testHMACSecret   = "hmac-secret-0123456789"
)

func testConfig() Config {
	return Config{
		BodyLimit:         64 << 10,
		GitHubBodyLimit:   64 << 10,
		GitLabBodyLimit:   64 << 10,
		GitHubSecret:      testGitHubSecret,
		GitLabToken:       testGitLabToken,
		GenericToken:      testBearer,
		GenericHMACSecret: testHMACSecret,
		Rules: []Rule{
			{Name: "static", Repository: "acme/**", Branch: "main", Files: "public/**", StripPrefix: "public/", URLTemplate: "https://static.example.com/{path}"},
			{Name: "deploy-prod", Repository: "acme/**", Environment: "production", DeployOn: []string{"deployment"},
				Refresh: []string{"https://www.example.com/index.html"}, RefreshDirs: []string{"https://static.example.com/build/"}},
			{Name: "pipeline-main", Source: "gitlab", Branch: "main", DeployOn: []string{"pipeline"},
				Refresh: []string{"https://www.example.com/", "www.example.com/news/"}, Prefetch: []string{"https://www.example.com/index.html"}},
		},
	}
}

// fixture is a server behind a real HTTP listener. Built by newFixture it
// stores into memory (a fakePublisher, in-memory replay and OSS stores);
// built by newNATSFixture into an embedded JetStream, for the one
// integration test of each route and the tests where NATS is the point.
type fixture struct {
	pub  *fakePublisher // nil with NATS
	nats *jobstest.NATS // nil without NATS
	nc   *nats.Conn
	js   jetstream.JetStream
	http *httptest.Server
	srv  *Server
	reg  *prometheus.Registry
}

func newFixture(tb testing.TB, cfg Config) *fixture {
	tb.Helper()
	return newFixtureWith(tb, cfg, nil)
}

// newFixtureWith lets the test change the server's Deps (logger, metrics,
// clock) before the server is built.
func newFixtureWith(tb testing.TB, cfg Config, change func(*Deps)) *fixture {
	tb.Helper()
	pub := newFakePublisher()
	d := Deps{Publisher: pub, Ready: []ReadyCheck{{Name: "nats", Check: func(context.Context) error { return nil }}},
		Replay: &memReplay{}, OSSSeen: &memOSSSeen{}}
	f := &fixture{pub: pub}
	f.start(tb, cfg, d, change)
	return f
}

func newNATSFixture(tb testing.TB, cfg Config) *fixture {
	tb.Helper()
	return newNATSFixtureWith(tb, cfg, nil)
}

// newNATSFixtureWith is newFixtureWith on an embedded JetStream.
func newNATSFixtureWith(tb testing.TB, cfg Config, change func(*Deps)) *fixture {
	tb.Helper()
	n := jobstest.RunNATS(tb)
	nc, err := queue.Connect(n.URL, "webhooks-test", slog.New(slog.DiscardHandler), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	subjects, _ := jobs.NewSubjects("")
	if _, err := queue.EnsureStream(tb.Context(), js, queue.StreamConfig{Subjects: subjects}); err != nil {
		tb.Fatal(err)
	}
	if _, err := queue.EnsureStatusStream(tb.Context(), js, queue.StatusStreamConfig{Subjects: subjects}); err != nil {
		tb.Fatal(err)
	}
	// A short publish budget: a request while NATS is down is answered
	// 503 after a second of retries, not after the default budget.
	pub, err := queue.NewPublisher(nc, queue.PublisherConfig{Subjects: subjects, Timeout: 2 * time.Second, Budget: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	replay, err := OpenReplayGuard(tb.Context(), js, "", 1, cfg.MaxSkew)
	if err != nil {
		tb.Fatal(err)
	}
	seen, err := OpenOSSSeen(tb.Context(), js, 1, 0)
	if err != nil {
		tb.Fatal(err)
	}
	d := Deps{Publisher: pub, Ready: []ReadyCheck{NATSReady(nc)}, Replay: replay, OSSSeen: seen}
	f := &fixture{nats: n, nc: nc, js: js}
	f.start(tb, cfg, d, change)
	return f
}

// start completes d (validator, metrics, logger), lets change alter it,
// and serves the server over HTTP.
func (f *fixture) start(tb testing.TB, cfg Config, d Deps, change func(*Deps)) {
	tb.Helper()
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "www.example.com"}})
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		tb.Fatal(err)
	}
	d.Validator, d.Metrics, d.Logger = v, m, slog.New(slog.DiscardHandler)
	if change != nil {
		change(&d)
	}
	s, err := New(cfg, d)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Config = s.HTTPServer()
	hs.Start()
	tb.Cleanup(hs.Close)
	f.http, f.srv, f.reg = hs, s, reg
}

// stored returns every job in the urgent stream (high priority), then
// every job in the work stream, each in order.
func (f *fixture) stored(tb testing.TB) []jobs.Job {
	tb.Helper()
	if f.pub != nil {
		return f.pub.stored()
	}
	return append(f.storedIn(tb, queue.UrgentStreamName(queue.DefaultStreamName)), f.storedIn(tb, queue.DefaultStreamName)...)
}

// storedIn returns every job in stream, in order.
func (f *fixture) storedIn(tb testing.TB, stream string) []jobs.Job {
	tb.Helper()
	st, err := f.js.Stream(tb.Context(), stream)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(tb.Context())
	if err != nil {
		tb.Fatal(err)
	}
	var out []jobs.Job
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(tb.Context(), seq)
		if err != nil {
			tb.Fatalf("get message %d: %v", seq, err)
		}
		j, err := jobs.Decode(m.Data)
		if err != nil {
			tb.Fatalf("stored message %d is not a job: %v", seq, err)
		}
		out = append(out, *j)
	}
	return out
}

type answer struct {
	status int
	body   map[string]any
	raw    string
}

func (f *fixture) post(tb testing.TB, path string, hdr map[string]string, body []byte) answer {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, f.http.URL+path, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.http.Client().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

func golden(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func githubHeaders(event, delivery string, body []byte, secret string) map[string]string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return map[string]string{
		"X-GitHub-Event":      event,
		"X-GitHub-Delivery":   delivery,
		"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
		"User-Agent":          "GitHub-Hookshot/abc123",
	}
}

func gitlabHeaders(event, uuid, token string) map[string]string {
	return map[string]string{"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": uuid, "X-Gitlab-Token": token}
}
