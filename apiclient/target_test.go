package apiclient_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// purger is the shape the worker's API interface has (worker.API), plus
// the quota and task list methods: the Client fits it for every target.
type purger interface {
	Refresh(ctx context.Context, t apiclient.Target, r apiclient.RefreshRequest) (apiclient.RefreshResult, error)
	Push(ctx context.Context, t apiclient.Target, r apiclient.PushRequest) (apiclient.PushResult, error)
	DescribeTasksByID(ctx context.Context, t apiclient.Target, ids []string) (apiclient.TasksByID, error)
	DescribeQuota(ctx context.Context, t apiclient.Target) (apiclient.RefreshQuota, error)
	DescribeTasks(ctx context.Context, t apiclient.Target, r apiclient.DescribeTasksRequest) (apiclient.TaskPage, error)
}

var _ purger = (*apiclient.Client)(nil)

// mixedPair is a client and an emulator with the CDN domain example.com
// and the DCDN domain d.example.com on one clock.
func mixedPair(t *testing.T, o cdnemu.Options, mut ...func(*apiclient.Options)) (*apiclient.Client, *cdnemu.Server, *cdnemu.Clock) {
	t.Helper()
	clock := cdnemu.NewClock(time.Date(2026, 12, 1, 10, 0, 5, 0, time.UTC))
	o.Now = clock.Now
	o.Domains = []string{"example.com"}
	o.DCDNDomains = []string{"d.example.com"}
	c, emu := newPair(t, o, append([]func(*apiclient.Options){func(co *apiclient.Options) { co.Now = clock.Now }}, mut...)...)
	return c, emu, clock
}

// Each target refreshes, prefetches, spends its own quota and follows its
// own tasks until they complete, through the same method names.
func TestOneMethodPerOperationOnBothTargets(t *testing.T) {
	t.Parallel()
	c, emu, clock := mixedPair(t, cdnemu.Options{TaskPending: time.Second, TaskDuration: time.Minute})
	ctx := context.Background()
	for _, tc := range []struct {
		target    apiclient.Target
		domain    string
		refresh   string
		push      string
		tasksList string
	}{
		{apiclient.CDN(), "example.com", apiclient.CDN().Actions.Refresh, apiclient.CDN().Actions.Push, apiclient.CDN().Actions.Tasks},
		{apiclient.DCDN(), "d.example.com", apiclient.DCDN().Actions.Refresh, apiclient.DCDN().Actions.Push, apiclient.DCDN().Actions.Tasks},
	} {
		before, err := c.DescribeQuota(ctx, tc.target)
		if err != nil {
			t.Fatalf("%s quota: %v", tc.target.Product, err)
		}
		ref, err := c.Refresh(ctx, tc.target, apiclient.RefreshRequest{Paths: []string{
			"https://" + tc.domain + "/a.css", "https://" + tc.domain + "/b.css", "https://" + tc.domain + "/c.css"}})
		if err != nil || len(ref.TaskIDs) != 1 {
			t.Fatalf("%s refresh: %+v %v", tc.target.Product, ref, err)
		}
		push, err := c.Push(ctx, tc.target, apiclient.PushRequest{Paths: []string{"https://" + tc.domain + "/a.css"}, QueryHashkey: true})
		if err != nil || len(push.TaskIDs) != 1 {
			t.Fatalf("%s push: %+v %v", tc.target.Product, push, err)
		}
		last := emu.Requests()[len(emu.Requests())-1]
		if last.Action != tc.push || last.Params.Get("QueryHashkey") != "true" {
			t.Errorf("%s push went as %s %v", tc.target.Product, last.Action, last.Params)
		}
		after, err := c.DescribeQuota(ctx, tc.target)
		if err != nil || after.URLRemain != before.URLRemain-3 || after.PreloadRemain != before.PreloadRemain-1 {
			t.Errorf("%s quota %+v -> %+v (%v), want 3 URLs and 1 prefetch fewer", tc.target.Product, before, after, err)
		}
		if got := emu.Paths(tc.refresh); len(got) != 3 {
			t.Errorf("%s: %d paths reached %s", tc.target.Product, len(got), tc.refresh)
		}

		ids := append(append([]string(nil), ref.TaskIDs...), push.TaskIDs...)
		byID, err := c.DescribeTasksByID(ctx, tc.target, ids)
		if err != nil || len(byID.Tasks) != 4 || byID.Tasks[0].Done() {
			t.Fatalf("%s tasks at once: %+v %v", tc.target.Product, byID, err)
		}
		page, err := c.DescribeTasks(ctx, tc.target, apiclient.DescribeTasksRequest{DomainName: tc.domain, ObjectType: "file"})
		if err != nil || page.TotalCount != 3 || len(page.Tasks.CDNTask) != 3 {
			t.Fatalf("%s task list: %+v %v", tc.target.Product, page, err)
		}
		if got := emu.Calls(tc.tasksList); got != 1 {
			t.Errorf("%s: %d calls of %s", tc.target.Product, got, tc.tasksList)
		}
	}
	// The two products spent apart: 3 URLs and 1 prefetch each.
	if cdn, dcdn := emu.QuotaUsed(), emu.DCDNQuotaUsed(); cdn.URL != 3 || dcdn.URL != 3 || cdn.Preload != 1 || dcdn.Preload != 1 {
		t.Errorf("used: CDN %+v, DCDN %+v", cdn, dcdn)
	}
	clock.Advance(2 * time.Minute)
	for _, target := range []apiclient.Target{apiclient.CDN(), apiclient.DCDN()} {
		page, err := c.DescribeTasks(ctx, target, apiclient.DescribeTasksRequest{})
		if err != nil || len(page.Tasks.CDNTask) != 4 {
			t.Fatalf("%s tasks later: %+v %v", target.Product, page, err)
		}
		for _, task := range page.Tasks.CDNTask {
			if task.Status != apiclient.TaskComplete {
				t.Errorf("%s task %s is %s after 2 minutes", target.Product, task.TaskID, task.Status)
			}
		}
	}
	if _, err := c.DescribeTasks(ctx, apiclient.DCDN(), apiclient.DescribeTasksRequest{PageSize: 51}); err == nil {
		t.Error("a DCDN page of 51 was asked for")
	}
}

// A domain on the other product is not found, as the real services say,
// and that is the rejecting DomainNotFound.
func TestWrongProductDomain(t *testing.T) {
	t.Parallel()
	c, emu, _ := mixedPair(t, cdnemu.Options{})
	ctx := context.Background()
	for _, tc := range []struct {
		target apiclient.Target
		path   string
	}{
		{apiclient.CDN(), "https://d.example.com/a.js"},
		{apiclient.DCDN(), "https://example.com/a.js"},
	} {
		_, err := c.Refresh(ctx, tc.target, apiclient.RefreshRequest{Paths: []string{tc.path}})
		if !apiclient.DomainNotFound(err) || apiclient.Classify(err) != apiclient.ClassBadInput {
			t.Errorf("%s refresh of %s: %v, want InvalidDomain.NotFound", tc.target.Product, tc.path, err)
		}
		_, err = c.Push(ctx, tc.target, apiclient.PushRequest{Paths: []string{tc.path}})
		if !apiclient.DomainNotFound(err) {
			t.Errorf("%s push of %s: %v, want InvalidDomain.NotFound", tc.target.Product, tc.path, err)
		}
	}
	if n := emu.Refused(apiclient.DCDN().Actions.Refresh, "InvalidDomain.NotFound"); n != 1 {
		t.Errorf("InvalidDomain.NotFound retried: %d refusals", n)
	}
}

// A DCDN outage fails DCDN calls and opens DCDN's breaker, while CDN calls
// go on answering.
func TestDCDNOutageWhileCDNAnswers(t *testing.T) {
	t.Parallel()
	c, emu, clock := mixedPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.Retry.MaxAttempts = 3
		o.Breaker = apiclient.BreakerPolicy{Threshold: 3, Cooldown: time.Hour, MaxCooldown: time.Hour}
	})
	ctx := context.Background()
	emu.SetProductOutage(apiclient.ProductDCDN, clock.Now().Add(time.Hour))
	dcdn, cdn := apiclient.DCDN(), apiclient.CDN()

	_, err := c.Refresh(ctx, dcdn, apiclient.RefreshRequest{Paths: []string{"d.example.com/a"}})
	if apiclient.Code(err) != "ServiceUnAvailable" || apiclient.Classify(err) != apiclient.ClassRetryable {
		t.Fatalf("DCDN during its outage: %v", err)
	}
	calls := emu.Calls(apiclient.DCDN().Actions.Quota)
	_, err = c.DescribeQuota(ctx, dcdn)
	var open *apiclient.CircuitOpenError
	if !errors.As(err, &open) || open.API != "DCDN" || !strings.Contains(err.Error(), "DCDN API") {
		t.Fatalf("DCDN after 3 failures: %v, want its breaker open", err)
	}
	if emu.Calls(apiclient.DCDN().Actions.Quota) != calls {
		t.Error("a call was sent through an open breaker")
	}
	for i := range 3 {
		if _, err := c.Refresh(ctx, cdn, apiclient.RefreshRequest{Paths: []string{fmt.Sprintf("example.com/%d", i)}}); err != nil {
			t.Fatalf("CDN during the DCDN outage: %v", err)
		}
	}
	if q, err := c.DescribeQuota(ctx, cdn); err != nil || q.URLRemain != cdnemu.DefaultURLQuota-3 {
		t.Fatalf("CDN quota during the DCDN outage: %+v %v", q, err)
	}
}

// DCDN's daily quota runs out while CDN still has quota: DCDN's refusal is
// a quota error, CDN's calls land.
func TestDCDNQuotaRunsOutWhileCDNHasQuota(t *testing.T) {
	t.Parallel()
	c, emu, _ := mixedPair(t, cdnemu.Options{DCDNURLQuota: 3})
	ctx := context.Background()
	dcdn, cdn := apiclient.DCDN(), apiclient.CDN()
	if _, err := c.Refresh(ctx, dcdn, apiclient.RefreshRequest{Paths: paths("d.example.com", 0, 3)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Refresh(ctx, dcdn, apiclient.RefreshRequest{Paths: paths("d.example.com", 3, 1)})
	if apiclient.Classify(err) != apiclient.ClassQuota || apiclient.IsPerMinuteQuota(err) || apiclient.Code(err) != "QuotaExceeded.Refresh" {
		t.Fatalf("DCDN past its quota: %v", err)
	}
	if q, err := c.DescribeQuota(ctx, dcdn); err != nil || q.URLQuota != 3 || q.URLRemain != 0 {
		t.Fatalf("DCDN quota: %+v %v", q, err)
	}
	if _, err := c.Refresh(ctx, cdn, apiclient.RefreshRequest{Paths: paths("example.com", 0, 10)}); err != nil {
		t.Fatalf("CDN with quota left: %v", err)
	}
	if got := emu.QuotaRemaining().URL; got != cdnemu.DefaultURLQuota-10 {
		t.Fatalf("CDN remain %d", got)
	}
}

// ExQuery on DCDN is sent as its IgnoreParams, which spends DCDN's
// IgnoreParams quota; CDN sends ExQuery as it is.
func TestDCDNExQueryIsIgnoreParams(t *testing.T) {
	t.Parallel()
	c, emu, _ := mixedPair(t, cdnemu.Options{})
	ctx := context.Background()
	req := apiclient.RefreshRequest{Paths: []string{"d.example.com/a?x=1"}, ObjectType: apiclient.ObjectExQuery}
	if _, err := c.Refresh(ctx, apiclient.DCDN(), req); err != nil {
		t.Fatal(err)
	}
	last := emu.Requests()[len(emu.Requests())-1]
	if last.Params.Get("ObjectType") != string(apiclient.ObjectIgnoreParams) {
		t.Errorf("DCDN ObjectType %q", last.Params.Get("ObjectType"))
	}
	q, err := c.DescribeQuota(ctx, apiclient.DCDN())
	if err != nil || q.IgnoreParamsRemain != q.IgnoreParamsQuota-1 || q.URLRemain != q.URLQuota || q.PreloadEdgeQuota != 0 {
		t.Errorf("DCDN quota after IgnoreParams: %+v %v", q, err)
	}
	req.Paths = []string{"example.com/a?x=1"}
	if _, err := c.Refresh(ctx, apiclient.CDN(), req); err != nil {
		t.Fatal(err)
	}
	if last := emu.Requests()[len(emu.Requests())-1]; last.Params.Get("ObjectType") != string(apiclient.ObjectExQuery) {
		t.Errorf("CDN ObjectType %q", last.Params.Get("ObjectType"))
	}
}

// recordingPacer counts what each domain took and blocked, admitting all.
type recordingPacer struct {
	mu      sync.Mutex
	taken   map[string]int
	blocked []string
}

func (p *recordingPacer) Take(_ context.Context, d string, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.taken == nil {
		p.taken = map[string]int{}
	}
	p.taken[d] += n
	return nil
}

func (p *recordingPacer) Give(_ context.Context, d string, n int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.taken[d] -= n
	return nil
}

func (p *recordingPacer) Landed(context.Context, string, int) error { return nil }

// blockedUntil is what recordingPacer.Block answers.
var blockedUntil = time.Date(2026, 12, 1, 10, 1, 5, 0, time.UTC)

func (p *recordingPacer) Block(_ context.Context, d string) (time.Time, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = append(p.blocked, d)
	return blockedUntil, nil
}

func (p *recordingPacer) counts() (map[string]int, []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	taken := map[string]int{}
	for d, n := range p.taken {
		taken[d] = n
	}
	return taken, append([]string(nil), p.blocked...)
}

// On CDN the TargetClient paces like the Client (DomainPacer); DCDN's URL
// refreshes go through DomainPacer too unless DomainPacers names DCDN, and
// DCDN's per-minute refusal blocks the domain in the DCDN pacer.
func TestDomainPacingPerTarget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	shared := &recordingPacer{}
	c, _, _ := mixedPair(t, cdnemu.Options{}, func(o *apiclient.Options) { o.DomainPacer = shared })
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 0, 2)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, apiclient.DCDN(), apiclient.RefreshRequest{Paths: paths("d.example.com", 0, 3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, apiclient.DCDN(), apiclient.RefreshRequest{Paths: []string{"d.example.com/dir/"},
		ObjectType: apiclient.ObjectDirectory}); err != nil {
		t.Fatal(err)
	}
	if taken, _ := shared.counts(); taken["example.com"] != 2 || taken["d.example.com"] != 3 {
		t.Errorf("shared pacer took %v, want 2 of example.com and 3 of d.example.com (not the directory)", taken)
	}
	// The domain is refused by the other product: its URLs are given back.
	if _, err := c.Refresh(ctx, apiclient.DCDN(), apiclient.RefreshRequest{Paths: paths("example.com", 10, 4)}); !apiclient.DomainNotFound(err) {
		t.Fatalf("DCDN refresh of a CDN domain: %v", err)
	}
	if taken, _ := shared.counts(); taken["example.com"] != 2 {
		t.Errorf("refused URLs stay counted: %v", taken)
	}

	cdnPacer, dcdnPacer := &recordingPacer{}, &recordingPacer{}
	c, emu, _ := mixedPair(t, cdnemu.Options{DCDNDomainURLsPerMinute: 5}, func(o *apiclient.Options) {
		o.DomainPacer, o.DomainPacers = cdnPacer, map[apiclient.Product]apiclient.DomainPacer{apiclient.ProductDCDN: dcdnPacer}
	})
	dcdn := apiclient.DCDN()
	if _, err := c.Refresh(ctx, dcdn, apiclient.RefreshRequest{Paths: paths("d.example.com", 0, 5)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Refresh(ctx, dcdn, apiclient.RefreshRequest{Paths: []string{"d.example.com/q?a=1"}, ObjectType: apiclient.ObjectIgnoreParams})
	if !apiclient.IsPerMinuteQuota(err) {
		t.Fatalf("DCDN past its per-minute limit: %v", err)
	}
	// The refused URL is given back (the API did not count it) and the
	// error says when the domain's window frees.
	if taken, blocked := dcdnPacer.counts(); taken["d.example.com"] != 5 || len(blocked) != 1 || blocked[0] != "d.example.com" {
		t.Errorf("DCDN pacer took %v, blocked %v", taken, blocked)
	}
	var w *apiclient.DomainWindowError
	if !errors.As(err, &w) || !w.Until.Equal(blockedUntil) || len(w.Domains) != 1 {
		t.Errorf("per-minute refusal without its window's end: %#v", err)
	}
	if taken, _ := cdnPacer.counts(); len(taken) != 0 {
		t.Errorf("CDN pacer saw DCDN URLs: %v", taken)
	}
	if n := emu.Refused(apiclient.DCDN().Actions.Refresh, "QuotaPerMinuteExceeded.Refresh"); n != 1 {
		t.Errorf("%d per-minute refusals, want 1 (not retried)", n)
	}
}

// NoPacing() in DomainPacers turns DCDN's pacing off while CDN's stays.
func TestNoPacingForDCDNOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cdnPacer := &recordingPacer{}
	c, _, _ := mixedPair(t, cdnemu.Options{}, func(o *apiclient.Options) {
		o.DomainPacer, o.DomainPacers = cdnPacer, map[apiclient.Product]apiclient.DomainPacer{apiclient.ProductDCDN: apiclient.NoPacing()}
	})
	if _, err := c.Refresh(ctx, apiclient.DCDN(), apiclient.RefreshRequest{Paths: paths("d.example.com", 0, 3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Refresh(ctx, apiclient.CDN(), apiclient.RefreshRequest{Paths: paths("example.com", 0, 2)}); err != nil {
		t.Fatal(err)
	}
	if taken, _ := cdnPacer.counts(); taken["example.com"] != 2 || taken["d.example.com"] != 0 {
		t.Errorf("CDN pacer took %v: want CDN's 2 URLs and none of DCDN's", taken)
	}
}

// The version a call sends is its Target's; cdn.version (Options.Version)
// still decides CDN's.
func TestTargetVersionIsSent(t *testing.T) {
	t.Parallel()
	c, emu, _ := mixedPair(t, cdnemu.Options{})
	ctx := context.Background()
	odd := apiclient.DCDN()
	odd.Version = "2099-01-01"
	_, err := c.DescribeQuota(ctx, odd)
	if apiclient.Code(err) != "InvalidVersion" {
		t.Fatalf("DCDN quota with version %s: %v, want InvalidVersion", odd.Version, err)
	}
	last := emu.Requests()[len(emu.Requests())-1]
	if v := last.Params.Get("Version"); v != odd.Version {
		t.Fatalf("sent Version %q, want the target's %q", v, odd.Version)
	}
	legacy, _, _ := mixedPair(t, cdnemu.Options{}, func(o *apiclient.Options) { o.Version = "2014-11-11" })
	if _, err := legacy.DescribeQuota(ctx, apiclient.CDN()); err != nil {
		t.Fatalf("CDN with cdn.version 2014-11-11: %v", err)
	}
}

// A target the client was not built with, or one without the operation,
// fails before any call.
func TestUnknownTargetAndMissingAction(t *testing.T) {
	t.Parallel()
	c, emu, _ := mixedPair(t, cdnemu.Options{})
	ctx := context.Background()
	before := len(emu.Requests())
	other := apiclient.CDN()
	other.Product = "esa"
	if _, err := c.Refresh(ctx, other, apiclient.RefreshRequest{Paths: []string{"example.com/a"}}); err == nil || !strings.Contains(err.Error(), "esa") {
		t.Errorf("refresh on an unknown product: %v", err)
	}
	if _, err := c.ModifyService(ctx, apiclient.DCDN(), apiclient.PayByTraffic); err == nil || !strings.Contains(err.Error(), "dcdn") {
		t.Errorf("DCDN billing change: %v, want no such action", err)
	}
	if _, err := c.Push(ctx, apiclient.CDN(), apiclient.PushRequest{}); err == nil {
		t.Error("an empty push was sent")
	}
	if n := len(emu.Requests()); n != before {
		t.Errorf("%d requests sent", n-before)
	}
}

// CDN() and DCDN() hand out copies: changing one changes no other.
func TestTargetsAreCopies(t *testing.T) {
	t.Parallel()
	a := apiclient.DCDN()
	a.ObjectTypes[apiclient.ObjectExQuery] = "X"
	a.RateLimits["RefreshDcdnObjectCaches"] = 1
	a.Paced[0] = "X"
	b := apiclient.DCDN()
	if b.ObjectTypes[apiclient.ObjectExQuery] != apiclient.ObjectIgnoreParams || b.RateLimits["RefreshDcdnObjectCaches"] != 30 || b.Paced[0] != apiclient.ObjectFile {
		t.Fatalf("a change to one DCDN() value reached another: %+v", b)
	}
	d := apiclient.DefaultRateLimits()
	d["RefreshObjectCaches"] = 1
	if apiclient.DefaultRateLimits()["RefreshObjectCaches"] != 50 {
		t.Fatal("defaultRateLimits() shares its map")
	}
}

func TestActionRate(t *testing.T) {
	t.Parallel()
	limits := map[string]float64{"A": 3, "Off": -1}
	for action, want := range map[string]float64{"A": 3, "Off": -1, "Unknown": 10} {
		if got := apiclient.ActionRate(limits, action); got != want {
			t.Errorf("actionRate(%s) = %v, want %v", action, got, want)
		}
	}
	if got := apiclient.NewActionLimiter(nil, 1).Limit("Unknown"); float64(got) != 10 {
		t.Errorf("limiter on an unknown action: %v calls/s, want 10", got)
	}
}
