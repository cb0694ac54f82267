package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/jobs"
)

const (
	actionTagCDN  = "RefreshObjectCacheByCacheTag"
	actionTagDCDN = "RefreshDcdnObjectCacheByCacheTag"
)

func tagJob(domain string, tags ...string) *jobs.Job {
	return &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Type: jobs.RefreshTypeTag, Domain: domain, Tags: tags}}
}

func tagNames(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = fmt.Sprintf("%s-%03d", prefix, from+i)
	}
	return out
}

// Tags of several jobs coalesce per domain and product: repeats are sent
// once, each call names one domain and at most TagsPerRefresh tags, and
// the tasks are followed until the jobs complete.
func TestWorkerBatchesTagsPerDomain(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{dcdn: []string{dcdnHost}, allow: []string{"img.example.com"},
		emu: cdnemu.Options{Domains: []string{"example.com", "img.example.com"}, DirQuota: 1000, DCDNDirQuota: 1000}})
	events := h.watchStatus()
	ids := []string{
		h.publish(tagJob("example.com", tagNames("a", 0, 30)...)),
		h.publish(tagJob("example.com", tagNames("a", 20, 30)...)), // 10 repeats
		h.publish(tagJob("img.example.com", tagNames("i", 0, 5)...)),
		h.publish(tagJob(dcdnHost, tagNames("d", 0, 3)...)),
	}
	cfg := fastConfig()
	cfg.Limits.TagsPerRefresh = 20
	// Both example.com jobs must be in one batch for their 10 repeats to
	// go out once: fastConfig's 30 ms linger sometimes formed the first
	// batch before the second job was pulled, on a loaded machine.
	cfg.Linger = 500 * time.Millisecond
	h.runWorker(cfg, "w1")
	for _, id := range ids {
		h.waitFor("tag job "+id+" complete", 20*time.Second, func() bool {
			ev, ok := events.Last(id)
			return ok && ev.State == jobs.StateComplete
		})
	}
	got := h.emu.Paths(actionTagCDN)
	want := append(jobs.TagPaths("example.com", tagNames("a", 0, 50)), jobs.TagPaths("img.example.com", tagNames("i", 0, 5))...)
	if !sameSet(got, want) || len(got) != len(want) {
		t.Errorf("CDN tag refresh got %d tags, want the %d distinct ones once each: %v", len(got), len(want), got)
	}
	if got := h.emu.Paths(actionTagDCDN); !sameSet(got, jobs.TagPaths(dcdnHost, tagNames("d", 0, 3))) {
		t.Errorf("DCDN tag refresh got %v", got)
	}
	// 50 tags of example.com at 20 a call is 3 calls, img.example.com 1.
	if n := h.emu.Accepted(actionTagCDN); n != 4 {
		t.Errorf("%d CDN tag calls, want 4 (one domain a call, 20 tags at most)", n)
	}
	if q := h.emu.QuotaUsed(); q.Dir != 55 || q.URL != 0 {
		t.Errorf("CDN quota used %+v, want 55 dir (one a tag)", q)
	}
	if q := h.emu.DCDNQuotaUsed(); q.Dir != 3 {
		t.Errorf("DCDN quota used %+v, want 3 dir", q)
	}
	if n := h.emu.Accepted(apiclient.CDN().Actions.TaskByID); n == 0 {
		t.Error("the tag tasks were never followed")
	}
}

// The tag quota is never overspent: with 7 directory units left, 7 of 12
// tags go, the rest wait for quota and the API never answers
// QuotaExceeded; when the quota is back the rest land.
func TestWorkerTagQuotaNeverOverspent(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOpts{allow: []string{"img.example.com"}, emu: cdnemu.Options{Domains: []string{"example.com", "img.example.com"}, DirQuota: 7}})
	events := h.watchStatus()
	a := h.publish(tagJob("example.com", tagNames("a", 0, 6)...))
	b := h.publish(tagJob("img.example.com", tagNames("b", 0, 6)...))
	h.runWorker(fastConfig(), "w1")
	h.waitFor("7 tags sent", 20*time.Second, func() bool { return len(h.emu.Paths(actionTagCDN)) == 7 })
	h.waitFor("a tag job deferred for quota", 20*time.Second, func() bool {
		return events.Has(a, jobs.StateDeferred) || events.Has(b, jobs.StateDeferred)
	})
	if n := h.emu.Refused(actionTagCDN, "QuotaExceeded.Refresh"); n != 0 {
		t.Fatalf("the API refused %d tag calls for quota: the mirror overspent", n)
	}
	if q := h.emu.QuotaUsed(); q.Dir != 7 {
		t.Fatalf("dir quota used %d, want 7", q.Dir)
	}
	h.emu.SetQuota(cdnemu.Quota{URL: 10000, Dir: 100, Regex: 20, Preload: 1000})
	if err := h.mirror.SyncNow(h.ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{a, b} {
		h.waitFor("tag job "+id+" complete", 20*time.Second, func() bool {
			ev, ok := events.Last(id)
			return ok && ev.State == jobs.StateComplete
		})
	}
	got := h.emu.Paths(actionTagCDN)
	want := append(jobs.TagPaths("example.com", tagNames("a", 0, 6)), jobs.TagPaths("img.example.com", tagNames("b", 0, 6))...)
	if !sameSet(got, want) || len(got) != 12 {
		t.Errorf("tags sent %v, want each of the 12 once", got)
	}
	if n := h.emu.Refused(actionTagCDN, "QuotaExceeded.Refresh"); n != 0 {
		t.Errorf("the API refused %d tag calls for quota", n)
	}
}

// A retry of a tag job's failed tags is a tag job again, with its Force.
func TestRetryJobOfTags(t *testing.T) {
	t.Parallel()
	force := true
	v := JobView{ID: "old", Kind: jobs.KindRefresh,
		Job:      tagJob("example.com", "a", "b"),
		Problems: []jobs.Problem{{Path: jobs.TagPath("example.com", "b"), Reason: "failed"}}}
	v.Job.Refresh.Force = &force
	j, err := RetryJob(v, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !j.Refresh.IsTag() || j.Refresh.Domain != "example.com" || len(j.Refresh.Tags) != 1 || j.Refresh.Tags[0] != "b" ||
		len(j.Refresh.Paths) != 0 || j.Refresh.Force == nil || !*j.Refresh.Force {
		t.Fatalf("retry job %+v", j.Refresh)
	}
	val, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := val.Validate(j); err != nil {
		t.Fatalf("the retry does not validate: %v", err)
	}
	// Without the old spec (the job left the queue) it is a tag job too.
	v.Job = nil
	if j, err := RetryJob(v, "", time.Now()); err != nil || !j.Refresh.IsTag() || val.Validate(j) != nil {
		t.Fatalf("retry without the old spec: %+v, %v", j, err)
	}
}

// The tag group's limits: one domain a call, at most the target's cap.
func TestTagLimits(t *testing.T) {
	t.Parallel()
	k := tagKey(tagJob("example.com", "a"))
	if k.ObjectType != apiclient.ObjectCacheTag || k.Force != ForceUnset || quotaKind(k) != tagQuotaKind {
		t.Fatalf("key %+v, quota %s", k, quotaKind(k))
	}
	for _, tc := range []struct{ set, want int }{{0, 100}, {20, 20}, {500, 100}} {
		l := Limits{TagsPerRefresh: tc.set}
		if got := l.size(k); got != tc.want {
			t.Errorf("tags_per_refresh %d: size %d, want %d", tc.set, got, tc.want)
		}
		if got := l.WithDefaults().domains(k); got != 1 {
			t.Errorf("domains per tag call %d, want 1", got)
		}
	}
}
