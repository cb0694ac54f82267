package webhooks

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAcceptedWebhooks posts signed GitHub push payloads over
// loopback; every request waits for the JetStream ack (file storage) before
// its 202. It reports accepted webhooks per second and latency percentiles.
func BenchmarkAcceptedWebhooks(b *testing.B) {
	f := newNATSFixture(b, testConfig())
	benchGitHubPushes(b, f.http.URL)
}

// BenchmarkUnauthenticatedFlood sends 1,000 concurrent 1 MiB bodies
// without valid credentials (no credentials, a wrong bearer or GitLab
// token, a wrong GitHub or HMAC signature) while one correctly signed
// generic hook is sent; it reports the peak heap and resident set of the
// process (server and client together) and how long the signed hook took
// (a sender that honours Retry-After once). The figures are printed, not
// asserted; the e2e "hostile sources" scenario measures the serve process
// alone.
func BenchmarkUnauthenticatedFlood(b *testing.B) {
	cfg := testConfig()
	cfg.BodyLimit, cfg.GitHubBodyLimit, cfg.GitLabBodyLimit = 2<<20, 0, 0
	f := newNATSFixture(b, cfg)
	const senders = 1000
	payload := bytes.Repeat([]byte("x"), 1<<20)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	signedClient := &http.Client{Transport: &http.Transport{}}
	good := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/during-flood.css"]}}`)
	hostile := func(i int) *http.Request {
		path, hdr := "/hooks/generic", map[string]string{}
		switch i % 5 {
		case 1:
			hdr["Authorization"] = "Bearer not-the-token-0123456789"
		case 2:
			path, hdr["X-Gitlab-Token"] = "/hooks/gitlab", "not-the-token-0123456789"
		case 3:
			path, hdr["X-GitHub-Event"], hdr["X-Hub-Signature-256"] = "/hooks/github", "push", "sha256="+strings.Repeat("0", 64)
		case 4:
			hdr[HeaderTimestamp], hdr[HeaderSignature] = strconv.FormatInt(time.Now().Unix(), 10), "sha256="+strings.Repeat("0", 64)
		}
		req, _ := http.NewRequest(http.MethodPost, f.http.URL+path, bytes.NewReader(payload))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		return req
	}
	for n := range b.N {
		var (
			peakHeap atomic.Uint64
			stop     = make(chan struct{})
			sampled  = make(chan struct{})
		)
		go func() {
			defer close(sampled)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peakHeap.Load() {
					peakHeap.Store(ms.HeapInuse)
				}
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()
		var (
			wg     sync.WaitGroup
			mu     sync.Mutex
			codes  = map[int]int{}
			start  = make(chan struct{})
			halfIn sync.WaitGroup
		)
		halfIn.Add(senders / 2)
		for i := range senders {
			wg.Go(func() {
				<-start
				if i < senders/2 {
					halfIn.Done()
				}
				code := 0
				if resp, err := client.Do(hostile(i)); err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					code = resp.StatusCode
				}
				mu.Lock()
				codes[code]++
				mu.Unlock()
			})
		}
		t0 := time.Now()
		close(start)
		halfIn.Wait()
		// The signed hook, in the middle of the flood.
		signedAt := time.Now()
		attempts, status, phases := 0, 0, ""
		for attempts < 2 {
			attempts++
			ts := time.Now().Add(time.Duration(n*2+attempts) * time.Second) // a fresh signature per attempt
			req, _ := http.NewRequest(http.MethodPost, f.http.URL+"/hooks/generic", bytes.NewReader(good))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range signedHeaders(ts, fmt.Sprintf("flood-%d-%d", n, attempts), good) {
				req.Header.Set(k, v)
			}
			var gotConn, wrote time.Time
			req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
				GotConn:      func(httptrace.GotConnInfo) { gotConn = time.Now() },
				WroteRequest: func(httptrace.WroteRequestInfo) { wrote = time.Now() },
			}))
			sent := time.Now()
			resp, err := signedClient.Do(req)
			if err != nil {
				b.Fatalf("signed hook: %v", err)
			}
			phases = fmt.Sprintf("connected %s, written %s, answered %s", gotConn.Sub(sent).Round(time.Millisecond), wrote.Sub(sent).Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			if status != http.StatusServiceUnavailable {
				break
			}
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			time.Sleep(time.Duration(secs) * time.Second)
		}
		signedTook := time.Since(signedAt)
		wg.Wait()
		floodTook := time.Since(t0)
		close(stop)
		<-sampled
		b.ReportMetric(float64(peakHeap.Load())/(1<<20), "peak-heap-MiB")
		b.ReportMetric(float64(signedTook.Milliseconds()), "signed-ms")
		b.Logf("%d unauthenticated 1 MiB bodies in %s, answers %v (0: connection closed before the answer); peak heap in use %.0f MiB, process peak RSS %.0f MiB (client included); signed hook: %d after %d attempt(s) in %s (last: %s)",
			senders, floodTook.Round(time.Millisecond), codes, float64(peakHeap.Load())/(1<<20), float64(peakRSS())/(1<<20), status, attempts, signedTook.Round(time.Millisecond), phases)
	}
}

// peakRSS returns this process's peak resident set (VmHWM), 0 where
// /proc is missing.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
