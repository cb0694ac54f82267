package cdnemu

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/signer"
)

// The benchmarks call the handler directly; client-side signing is kept off
// the clock.
func benchmarkRefresh(b *testing.B, perCall int) {
	e, err := New(Options{NoRateLimit: true, URLQuota: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	sign := func(method string, p url.Values) string {
		signed := signer.Sign(signer.Request{Method: method, Params: p, Version: "2018-05-10", Scheme: signer.V1,
			AccessKeyID: DefaultAccessKeyID, AccessKeySecret: DefaultAccessKeySecret, Time: time.Now(), Nonce: signer.NewNonce()})
		return signed.Query + string(signed.Body)
	}
	paths := urls("example.com", perCall)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		body := sign(http.MethodPost, url.Values{"Action": {"RefreshObjectCaches"}, "ObjectPath": {paths}})
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		b.StartTimer()
		e.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	b.ReportMetric(float64(b.N*perCall)/b.Elapsed().Seconds(), "urls/s")
}

func BenchmarkRefresh1000URLs(b *testing.B) { benchmarkRefresh(b, 1000) }

func BenchmarkRefresh10URLs(b *testing.B) { benchmarkRefresh(b, 10) }

func BenchmarkDescribeTaskByID(b *testing.B) {
	e, err := New(Options{NoRateLimit: true, URLQuota: 1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	sign := func(method string, p url.Values) string {
		signed := signer.Sign(signer.Request{Method: method, Params: p, Version: "2018-05-10", Scheme: signer.V1,
			AccessKeyID: DefaultAccessKeyID, AccessKeySecret: DefaultAccessKeySecret, Time: time.Now(), Nonce: signer.NewNonce()})
		return signed.Query + string(signed.Body)
	}
	serve := func(p url.Values) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/?"+sign(http.MethodGet, p), nil)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		return w
	}
	w := serve(url.Values{"Action": {"RefreshObjectCaches"}, "ObjectPath": {urls("example.com", 10)}})
	if w.Code != 200 {
		b.Fatal(w.Body)
	}
	ids := strings.Join(strings.Split(strings.Split(w.Body.String(), `"`)[3], ","), ",")
	b.ReportAllocs()
	for b.Loop() {
		if w := serve(url.Values{"Action": {"DescribeRefreshTaskById"}, "TaskId": {ids}}); w.Code != 200 {
			b.Fatal(w.Body)
		}
	}
}

// Concurrent calls from many clients keep counts exact (run with -race).
func TestConcurrentCalls(t *testing.T) {
	s, _, clock := newTestServer(t, Options{NoRateLimit: true, URLQuota: 100000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			c := newTestClient(t, s.URL, clock)
			c.mode = mode(g % 3)
			for range 20 {
				c.call("RefreshObjectCaches", "ObjectPath", urls("example.com", 5)).wantOK(t)
				c.call("DescribeRefreshTasks", "PageSize", "5").wantOK(t)
			}
		})
	}
	for range 20 {
		s.SetFaults(Faults{})
		s.QuotaRemaining()
		clock.Advance(time.Millisecond)
	}
	wg.Wait()
	if s.Accepted("RefreshObjectCaches") != 160 || len(s.Paths("RefreshObjectCaches")) != 800 || s.QuotaUsed().URL != 800 || s.TaskCount() != 800 {
		t.Fatalf("accepted %d, paths %d, used %d", s.Accepted("RefreshObjectCaches"), len(s.Paths("RefreshObjectCaches")), s.QuotaUsed().URL)
	}
}

// Latency is real time and comes before the answer: with an hour of it, a
// caller whose deadline is short gets none; without it the call is answered.
func TestLatency(t *testing.T) {
	s, c, _ := newTestServer(t, Options{Faults: Faults{Latency: time.Hour}})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/?Action=DescribeRefreshQuota", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Fatalf("answered within the latency: %v", err)
	}
	s.SetFaults(Faults{})
	if s.CurrentFaults().Latency != 0 {
		t.Fatal("latency kept")
	}
	c.call("DescribeRefreshQuota").wantOK(t)
}
