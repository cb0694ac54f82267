package webhooks

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/embedded"
	"github.com/cdnpurge/cdnpurge/jobs/jobstest"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// BenchmarkIngestBySyncInterval measures accepted GitHub pushes per second
// with each nats.embedded.sync_interval choice (docs/durability.md), side
// by side in one run: the default (empty: every job flushed before its
// 202, many per flush by group commit, embedded.GroupSync), "always"
// (nats-server flushes every write) and the lazy settings (a flush every
// second, every 2 minutes: a host crash loses what came since). The store
// is a temporary directory on the test machine's disk; the figures depend
// on its fsync latency, so compare them on the disk you deploy to:
//
//	go test -run '^$' -bench IngestBySyncInterval -benchtime 4s ./webhooks/
func BenchmarkIngestBySyncInterval(b *testing.B) {
	for _, tc := range []struct {
		name    string
		setting string
	}{{"default-group", ""}, {"always", embedded.SyncAlways}, {"lazy-1s", "1s"}, {"lazy-2m", "2m"}} {
		b.Run(tc.name, func(b *testing.B) {
			interval, always, err := embedded.ParseSyncInterval(tc.setting)
			if err != nil {
				b.Fatal(err)
			}
			url := syncBenchServer(b, embedded.Options{SyncInterval: interval, SyncAlways: always}, embedded.GroupCommit(tc.setting))
			benchGitHubPushes(b, url)
		})
	}
}

// syncBenchServer starts the webhook server on a NATS with opts, whose
// publisher flushes by group commit when group is set.
func syncBenchServer(b *testing.B, opts embedded.Options, group bool) string {
	b.Helper()
	n := jobstest.RunNATSWith(b, opts)
	nc, js := n.Connect()
	subjects, _ := jobs.NewSubjects("")
	if _, err := queue.EnsureStream(b.Context(), js, queue.StreamConfig{Subjects: subjects}); err != nil {
		b.Fatal(err)
	}
	pc := queue.PublisherConfig{Subjects: subjects, Timeout: 5 * time.Second}
	if group {
		pc.Durable = embedded.NewGroupSync(n.StoreDir, queue.DefaultStreamName, "KV_"+queue.DefaultIdempotencyBucket)
	}
	pub, err := queue.NewPublisher(nc, pc)
	if err != nil {
		b.Fatal(err)
	}
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "www.example.com"}})
	if err != nil {
		b.Fatal(err)
	}
	cfg := testConfig()
	cfg.GenericHMACSecret = "" // GitHub hooks only: no replay guard needed
	s, err := New(cfg, Deps{Validator: v, Publisher: pub, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.Config = s.HTTPServer()
	hs.Start()
	b.Cleanup(hs.Close)
	return hs.URL
}

// benchGitHubPushes posts signed pushes from 16 goroutines per CPU (about
// the 64 connections of the wrk figures in docs/durability.md) and
// reports webhooks/s and latency percentiles.
func benchGitHubPushes(b *testing.B, base string) {
	body := golden(b, "github_push.json")
	start := time.Now()
	benchHooks(b, func(seq int) *http.Request {
		delivery := fmt.Sprintf("sync-%d-%d", start.UnixNano(), seq)
		req, _ := http.NewRequest(http.MethodPost, base+"/hooks/github", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range githubHeaders("push", delivery, body, testGitHubSecret) {
			req.Header.Set(k, v)
		}
		return req
	})
}

// benchHooks sends the requests newReq builds (seq counts from 1) from 4
// goroutines per CPU, each expecting 202, and reports hooks/s and latency
// percentiles.
func benchHooks(b *testing.B, newReq func(seq int) *http.Request) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var (
		mu    sync.Mutex
		lat   []time.Duration
		seq   int
		fails int
	)
	b.SetParallelism(16)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			seq++
			n := seq
			mu.Unlock()
			req := newReq(n)
			t0 := time.Now()
			resp, err := client.Do(req)
			d := time.Since(t0)
			ok := err == nil && resp.StatusCode == http.StatusAccepted
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			if ok {
				lat = append(lat, d)
			} else {
				fails++
			}
			mu.Unlock()
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if fails > 0 {
		b.Fatalf("%d requests not accepted", fails)
	}
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	rate := float64(len(lat)) / elapsed.Seconds()
	b.ReportMetric(rate, "webhooks/s")
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.Logf("%d accepted in %s: %.0f webhooks/s; latency p50 %s p99 %s", len(lat), elapsed.Round(time.Millisecond), rate, pct(0.50), pct(0.99))
}
