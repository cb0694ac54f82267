package webhooks

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkAcceptedWebhooks posts signed GitHub push payloads over
// loopback; every request waits for the JetStream ack (file storage) before
// its 202. It reports accepted webhooks per second and latency percentiles.
func BenchmarkAcceptedWebhooks(b *testing.B) {
	f := newFixture(b, testConfig())
	body := golden(b, "github_push.json")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var (
		mu    sync.Mutex
		lat   []time.Duration
		seq   int
		fails int
	)
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			seq++
			delivery := fmt.Sprintf("bench-%d-%d", start.UnixNano(), seq)
			mu.Unlock()
			req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/hooks/github", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range githubHeaders("push", delivery, body, testGitHubSecret) {
				req.Header.Set(k, v)
			}
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
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	rate := float64(len(lat)) / elapsed.Seconds()
	b.ReportMetric(rate, "webhooks/s")
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.Logf("%d accepted in %s: %.0f webhooks/s; latency p50 %s p90 %s p99 %s max %s",
		len(lat), elapsed.Round(time.Millisecond), rate, pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1])
}
