package apiclient_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
	"github.com/cdnpurge/cdnpurge/apiclient/signer"
)

func newPair(t *testing.T, o cdnemu.Options, mut ...func(*apiclient.Options)) (*apiclient.Client, *cdnemu.Server) {
	t.Helper()
	if len(o.Domains) == 0 {
		o.Domains = []string{"example.com"}
	}
	emu, err := cdnemu.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	opts := apiclient.Options{
		Endpoint:    emu.URL,
		Endpoints:   map[apiclient.Product]string{apiclient.ProductDCDN: emu.URL},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret},
		Retry:       apiclient.RetryPolicy{MaxAttempts: 5, Base: time.Millisecond, Max: 10 * time.Millisecond},
	}
	for _, m := range mut {
		m(&opts)
	}
	c, err := apiclient.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, emu
}

func TestEveryActionAgainstTheEmulator(t *testing.T) {
	c, emu := newPair(t, cdnemu.Options{DcdnIpaEnabled: true, ServiceNotOpened: true})
	ctx := context.Background()

	if _, err := c.OpenService(ctx, apiclient.CDN(), apiclient.PayByTraffic); err != nil {
		t.Fatalf("OpenCdnService: %v", err)
	}
	if _, err := c.OpenService(ctx, apiclient.CDN(), apiclient.PayByTraffic); !apiclient.AlreadyOpened(err) {
		t.Fatalf("second OpenCdnService: %v, want CdnService.HasOpened", err)
	}
	ref, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: []string{"https://example.com/a.css", "https://example.com/b c.js"}})
	if err != nil || len(ref.TaskIDs) != 1 || ref.RequestID == "" {
		t.Fatalf("RefreshObjectCaches: %+v %v", ref, err)
	}
	force := true
	dir, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: []string{"https://example.com/static/"},
		ObjectType: apiclient.ObjectDirectory, Force: &force})
	if err != nil || len(dir.TaskIDs) != 1 {
		t.Fatalf("directory refresh: %+v %v", dir, err)
	}
	if got := emu.Requests(); got[len(got)-1].Params.Get("Force") != "true" {
		t.Fatal("Force was not sent for a directory refresh")
	}
	push, err := c.Push(ctx, apiclient.CDN(), apiclient.PushRequest{Paths: []string{"https://example.com/a.css"}, Area: "domestic",
		L2Preload: true, WithHeader: `{"Origin":"x"}`, QueryHashkey: true})
	if err != nil || len(push.TaskIDs) != 1 {
		t.Fatalf("PushObjectCache: %+v %v", push, err)
	}
	last := emu.Requests()[len(emu.Requests())-1].Params
	for k, want := range map[string]string{"Area": "domestic", "L2Preload": "true", "WithHeader": `{"Origin":"x"}`, "QueryHashkey": "true"} {
		if last.Get(k) != want {
			t.Errorf("push parameter %s = %q, want %q", k, last.Get(k), want)
		}
	}
	q, err := c.DescribeQuota(ctx, apiclient.CDN())
	if err != nil || q.URLQuota != cdnemu.DefaultURLQuota || q.URLRemain != cdnemu.DefaultURLQuota-2 ||
		q.DirRemain != cdnemu.DefaultDirQuota-1 || q.PreloadRemain != cdnemu.DefaultPreloadQuota-1 {
		t.Fatalf("DescribeRefreshQuota: %+v %v", q, err)
	}
	byID, err := c.DescribeTasksByID(ctx, apiclient.CDN(), append(ref.TaskIDs, dir.TaskIDs...))
	if err != nil || byID.TotalCount != 3 {
		t.Fatalf("DescribeRefreshTaskById: %+v %v", byID, err)
	}
	page, err := c.DescribeTasks(ctx, apiclient.CDN(), apiclient.DescribeTasksRequest{DomainName: "example.com", ObjectType: "file", PageSize: 50})
	if err != nil || page.TotalCount != 2 || len(page.Tasks.CDNTask) != 2 {
		t.Fatalf("DescribeRefreshTasks: %+v %v", page, err)
	}
	if _, err := c.DescribeTasks(ctx, apiclient.CDN(), apiclient.DescribeTasksRequest{Status: "Complete"}); err == nil {
		t.Fatal("a status filter without an object type was sent")
	}
	if _, err := c.ModifyService(ctx, apiclient.CDN(), apiclient.PayByBandwidth); err != nil {
		t.Fatalf("ModifyCdnService: %v", err)
	}
	st, err := c.DescribeService(ctx, apiclient.CDN())
	if err != nil || st.InternetChargeType != apiclient.PayByTraffic || st.ChangingChargeType != apiclient.PayByBandwidth || st.ChangingAffectTime == "" {
		t.Fatalf("DescribeCdnService: %+v %v", st, err)
	}
	ipa, err := c.DescribeService(ctx, apiclient.DCDN())
	if err != nil || ipa.RequestID == "" {
		t.Fatalf("DescribeDcdnIpaService: %+v %v", ipa, err)
	}
	if v := emu.Requests()[len(emu.Requests())-1].Params.Get("Version"); v != apiclient.DCDN().Version {
		t.Fatalf("DCDN call sent Version %s", v)
	}
	if err := c.Call(ctx, "SetRefererConfig", map[string][]string{"DomainName": {"example.com"}, "ReferType": {"block"}}, nil); err != nil {
		t.Fatalf("generic Call: %v", err)
	}
	if _, err := c.ModifyService(ctx, apiclient.CDN(), "PayByMistake"); err == nil {
		t.Fatal("a bad charge type was sent")
	}
}

// 500 and 503 answers are retried, each attempt with a new nonce and
// signature, until one succeeds.
func TestRetriesWithFreshNonces(t *testing.T) {
	var attempts atomic.Int32
	c, emu := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.OnAttempt = func(apiclient.Attempt) { attempts.Add(1) }
	})
	emu.ForceError(apiclient.CDN().Actions.Refresh, 1, "InternalError")
	emu.ForceError(apiclient.CDN().Actions.Refresh, 1, "ServiceUnAvailable")
	emu.ForceError(apiclient.CDN().Actions.Refresh, 1, "InternalError")
	res, err := c.Refresh(context.Background(), apiclient.CDN(), apiclient.RefreshRequest{Paths: []string{"example.com/x.js"}})
	if err != nil || len(res.TaskIDs) != 1 {
		t.Fatalf("refresh after three faults: %v", err)
	}
	if attempts.Load() != 4 {
		t.Fatalf("%d attempts, want 4", attempts.Load())
	}
	reqs := emu.Requests()
	seen := map[string]bool{}
	sigs := map[string]bool{}
	for _, r := range reqs {
		n := r.Params.Get("SignatureNonce")
		if seen[n] {
			t.Fatalf("nonce %s sent twice", n)
		}
		seen[n] = true
		sigs[r.Params.Get("Signature")] = true
	}
	if len(seen) != 4 || len(sigs) != 4 {
		t.Fatalf("%d nonces and %d signatures over 4 attempts", len(seen), len(sigs))
	}
}

func TestNoRetryOnBadInput(t *testing.T) {
	var attempts atomic.Int32
	c, _ := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.OnAttempt = func(apiclient.Attempt) { attempts.Add(1) }
	})
	_, err := c.Refresh(context.Background(), apiclient.CDN(), apiclient.RefreshRequest{Paths: []string{"other.test/x.js"}})
	var ae *apiclient.Error
	if !errors.As(err, &ae) || ae.Code != "InvalidDomain.NotFound" || ae.HTTPStatus != 404 || ae.RequestID == "" {
		t.Fatalf("err = %v", err)
	}
	if apiclient.Classify(err) != apiclient.ClassBadInput || attempts.Load() != 1 {
		t.Fatalf("class %s after %d attempts, want bad_input after 1", apiclient.Classify(err), attempts.Load())
	}
}

func TestThrottlingBacksOffAndQuotaIsQuota(t *testing.T) {
	policy := apiclient.RetryPolicy{MaxAttempts: 5, Base: 20 * time.Millisecond, Max: 100 * time.Millisecond}
	var attempts atomic.Int32
	c, emu := newPair(t, cdnemu.Options{URLQuota: 1}, func(o *apiclient.Options) {
		o.Retry = policy
		o.OnAttempt = func(a apiclient.Attempt) {
			if a.Action == apiclient.CDN().Actions.Quota {
				attempts.Add(1)
			}
		}
	})
	emu.ForceError(apiclient.CDN().Actions.Quota, 2, "Throttling.User")
	if _, err := c.DescribeQuota(context.Background(), apiclient.CDN()); err != nil {
		t.Fatalf("after throttling: %v", err)
	}
	if n, refused := attempts.Load(), emu.Refused(apiclient.CDN().Actions.Quota, "Throttling.User"); n != 3 || refused != 2 {
		t.Fatalf("%d attempts, %d throttled; want 3 and 2", n, refused)
	}
	// The retries back off: about 20 and 40 ms (±20%), then 80, capped at 100.
	waits := apiclient.Backoffs(policy, 4)
	for i, want := range []time.Duration{20, 40, 80, 100} {
		want *= time.Millisecond
		if i >= len(waits) || waits[i] < want*8/10 || waits[i] > want*12/10 {
			t.Fatalf("backoffs %v, want about 20ms, 40ms, 80ms, 100ms", waits)
		}
	}
	_, err := c.Refresh(context.Background(), apiclient.CDN(), apiclient.RefreshRequest{Paths: []string{"example.com/a", "example.com/b"}})
	if apiclient.Classify(err) != apiclient.ClassQuota || apiclient.Code(err) != "QuotaExceeded.Refresh" {
		t.Fatalf("over quota: %v (class %s)", err, apiclient.Classify(err))
	}
	if n := emu.Refused(apiclient.CDN().Actions.Refresh, "QuotaExceeded.Refresh"); n != 1 {
		t.Fatalf("quota error retried: %d refusals", n)
	}
}

// Retries stop: an API that always fails is asked MaxAttempts times.
func TestRetriesAreBounded(t *testing.T) {
	var attempts atomic.Int32
	c, emu := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.OnAttempt = func(apiclient.Attempt) { attempts.Add(1) }
	})
	emu.SetOutage(time.Now().Add(time.Hour))
	_, err := c.DescribeService(context.Background(), apiclient.CDN())
	if apiclient.Classify(err) != apiclient.ClassRetryable || attempts.Load() != 5 {
		t.Fatalf("after an outage: %v, %d attempts (want retryable after 5)", err, attempts.Load())
	}
}

func TestWrongSecretIsCredentialsAndNeverShown(t *testing.T) {
	c, _ := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.Credentials.AccessKeySecret = "wrong-secret-value"
	})
	_, err := c.DescribeService(context.Background(), apiclient.CDN())
	if apiclient.Classify(err) != apiclient.ClassCredentials {
		t.Fatalf("err %v, want a credentials error", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatal("the secret is in the error")
	}
}

func TestNetworkErrorIsRetryableAndHidesTheQuery(t *testing.T) {
	c, err := apiclient.New(apiclient.Options{Endpoint: "http://127.0.0.1:1",
		Credentials: credentials.Credentials{AccessKeyID: "id", AccessKeySecret: "s3cr3t"},
		Retry:       apiclient.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeQuota(context.Background(), apiclient.CDN())
	if apiclient.Classify(err) != apiclient.ClassRetryable {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "Signature=") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("error shows the signed query: %v", err)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	emu, err := cdnemu.NewServer(cdnemu.Options{NoRateLimit: true, NoRecordPaths: true, RecordRequests: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer emu.Close()
	c, err := apiclient.New(apiclient.Options{Endpoint: emu.URL, RateLimits: map[string]float64{apiclient.CDN().Actions.Quota: -1},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.DescribeQuota(ctx, apiclient.CDN()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
}

func TestMetricsCountAttemptsAndRetries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := apiclient.NewMetrics(reg)
	c, emu := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) { o.OnAttempt = m.Observe })
	emu.ForceError(apiclient.CDN().Actions.Service, 2, "ServiceUnAvailable")
	if _, err := c.DescribeService(context.Background(), apiclient.CDN()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			if ctr := s.GetCounter(); ctr != nil {
				key := mf.GetName()
				for _, l := range s.GetLabel() {
					key += "/" + l.GetName() + "=" + l.GetValue()
				}
				counts[key] = ctr.GetValue()
			}
		}
	}
	ok := counts["cdnpurge_api_requests_total/action=DescribeCdnService/code=/outcome=ok/status=200"]
	failed := counts["cdnpurge_api_requests_total/action=DescribeCdnService/code=ServiceUnAvailable/outcome=retryable/status=503"]
	retries := counts["cdnpurge_api_retries_total/action=DescribeCdnService"]
	if ok != 1 || failed != 2 || retries != 2 {
		t.Fatalf("ok %v, 503 %v, retries %v; all: %v", ok, failed, retries, counts)
	}
}

// During an outage the breaker holds calls back after Threshold failures in
// a row, so callers stop hammering the API; after the cooldown a probe goes
// through and calls resume.
func TestBreakerHoldsCallsDuringAnOutage(t *testing.T) {
	var attempts atomic.Int32
	c, emu := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.OnAttempt = func(apiclient.Attempt) { attempts.Add(1) }
		o.Breaker = apiclient.BreakerPolicy{Threshold: 4, Cooldown: 200 * time.Millisecond}
		o.Retry = apiclient.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Max: 2 * time.Millisecond}
	})
	emu.SetOutage(time.Now().Add(time.Hour))
	ctx := context.Background()
	var open *apiclient.CircuitOpenError
	for range 20 {
		_, err := c.DescribeService(ctx, apiclient.CDN())
		if apiclient.Classify(err) != apiclient.ClassRetryable {
			t.Fatalf("during the outage: %v (class %s), want retryable", err, apiclient.Classify(err))
		}
		errors.As(err, &open)
	}
	if open == nil {
		t.Fatal("the breaker never opened")
	}
	if n := attempts.Load(); n > 4 {
		t.Fatalf("%d requests reached the API in 20 calls during an outage; the breaker should stop them after 4", n)
	}
	emu.SetOutage(time.Time{})
	// The breaker uses the real clock: wait for the instant it named.
	<-time.After(time.Until(open.Until))
	if _, err := c.DescribeService(ctx, apiclient.CDN()); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
}

// Parameters whose names start one another ("Tag", "Tag.1") are signed in
// name order, as the signature pages say; the emulator, which checks with
// code of its own, accepts them over v1 and V3.
func TestSignsParametersInNameOrder(t *testing.T) {
	t.Parallel()
	for _, scheme := range []string{signer.V1, signer.V3} {
		c, _ := newPair(t, cdnemu.Options{}, func(o *apiclient.Options) { o.Signature = scheme })
		err := c.Call(context.Background(), "SetOptimizeConfig", url.Values{"DomainName": {"example.com"}, "Enable": {"on"},
			"Tag": {"a"}, "Tag.1": {"b"}, "Tag-x": {"c"}}, nil)
		if err != nil {
			t.Errorf("%s: %v", scheme, err)
		}
	}
}
