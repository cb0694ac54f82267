package worker

import (
	"fmt"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

func fileKey() GroupKey { return GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectFile} }

func TestGrouperFlushesAtSizeLimits(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		key  GroupKey
		max  int
	}{
		{"file", fileKey(), 1000},
		{"directory", GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectDirectory}, 100},
		{"regex", GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectRegex}, 1},
		{"push", GroupKey{Action: ActionPush}, 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGrouper(Limits{})
			now := time.Now()
			var full []*batch
			for i := range 2500 {
				f, _ := g.add(c.key, fmt.Sprintf("https://example.com/%d/", i), &takenJob{}, now)
				full = append(full, f...)
			}
			full = append(full, g.all()...)
			total := 0
			for _, b := range full {
				if b.Len() > c.max {
					t.Fatalf("batch of %d paths, limit %d", b.Len(), c.max)
				}
				total += b.Len()
			}
			want := (2500 + c.max - 1) / c.max
			if len(full) != want || total != 2500 {
				t.Fatalf("%d batches with %d paths, want %d batches with 2500", len(full), total, want)
			}
		})
	}
}

func TestGrouperDedupesWithinBatch(t *testing.T) {
	t.Parallel()
	g := newGrouper(Limits{})
	a, b := &takenJob{}, &takenJob{}
	now := time.Now()
	g.add(fileKey(), "https://example.com/x.css", a, now)
	_, dup := g.add(fileKey(), "https://example.com/x.css", b, now)
	if !dup {
		t.Fatal("second add of the same path was not a duplicate")
	}
	bs := g.all()
	if len(bs) != 1 || bs[0].Len() != 1 || len(bs[0].entries[0].jobs) != 2 {
		t.Fatalf("want one path shared by two jobs, got %d batches", len(bs))
	}
}

func TestGrouperKeepsTenDomainsPerRefresh(t *testing.T) {
	t.Parallel()
	g := newGrouper(Limits{})
	now := time.Now()
	var full []*batch
	for i := range 25 {
		f, _ := g.add(fileKey(), fmt.Sprintf("https://d%d.example.com/a.js", i), &takenJob{}, now)
		full = append(full, f...)
	}
	full = append(full, g.all()...)
	total := 0
	for _, b := range full {
		if b.Domains() > 10 {
			t.Fatalf("batch with %d domains", b.Domains())
		}
		total += b.Len()
	}
	if total != 25 || len(full) != 3 {
		t.Fatalf("%d paths in %d batches, want 25 in 3", total, len(full))
	}
	// Push has no domain cap.
	g = newGrouper(Limits{})
	for i := range 25 {
		g.add(GroupKey{Action: ActionPush}, fmt.Sprintf("https://d%d.example.com/a.js", i), &takenJob{}, now)
	}
	if bs := g.all(); len(bs) != 1 || bs[0].Domains() != 25 {
		t.Fatalf("push batches: %d", len(bs))
	}
}

func TestGrouperSeparatesGroups(t *testing.T) {
	t.Parallel()
	g := newGrouper(Limits{})
	now := time.Now()
	yes, no := ForceOn, ForceOff
	keys := []GroupKey{
		fileKey(),
		{Action: ActionRefresh, ObjectType: apiclient.ObjectDirectory, Force: yes},
		{Action: ActionRefresh, ObjectType: apiclient.ObjectDirectory, Force: no},
		{Action: ActionPush, Area: "domestic"},
		{Action: ActionPush, Area: "overseas"},
		{Action: ActionPush, Area: "overseas", L2Preload: true},
	}
	for _, k := range keys {
		g.add(k, "https://example.com/a/", &takenJob{}, now)
	}
	if n := len(g.all()); n != len(keys) {
		t.Fatalf("%d batches, want %d", n, len(keys))
	}
}

func TestGrouperDueAfterLinger(t *testing.T) {
	t.Parallel()
	g := newGrouper(Limits{})
	t0 := time.Unix(1000, 0)
	g.add(fileKey(), "https://example.com/a", &takenJob{}, t0)
	if n := len(g.due(t0.Add(-time.Millisecond))); n != 0 {
		t.Fatalf("%d batches due before their linger", n)
	}
	if n := len(g.due(t0)); n != 1 {
		t.Fatalf("%d batches due after linger, want 1", n)
	}
}

func TestBatchTakeAndSplit(t *testing.T) {
	t.Parallel()
	b := newBatch(fileKey(), time.Now())
	for i := range 7 {
		b.add(&entry{path: fmt.Sprint(i), domain: "d"})
	}
	head := b.take(3)
	if head.Len() != 3 || b.Len() != 4 || head.Paths()[0] != "0" || b.Paths()[0] != "3" {
		t.Fatalf("take: head %v rest %v", head.Paths(), b.Paths())
	}
	l, r := b.split()
	if l.Len()+r.Len() != 4 || l.Len() != 2 {
		t.Fatalf("split: %v %v", l.Paths(), r.Paths())
	}
}

func TestTrackedResolve(t *testing.T) {
	t.Parallel()
	tr := &takenJob{outstanding: 3}
	now := time.Now()
	if tr.resolve("a", outcome{kind: accepted, sub: "s1", tasks: []string{"1"}}) {
		t.Fatal("done after 1 of 3")
	}
	tr.resolve("b", outcome{kind: deferred, until: now.Add(time.Minute), reason: "quota"})
	if !tr.resolve("c", outcome{kind: deferred, until: now.Add(time.Hour), reason: "later"}) {
		t.Fatal("not done after 3 of 3")
	}
	if len(tr.accepted) != 1 || !tr.deferUntil.Equal(now.Add(time.Hour)) || tr.deferReason != "later" {
		t.Fatalf("state: %+v", tr)
	}
	if !tr.settle() || tr.settle() {
		t.Fatal("settle must succeed exactly once")
	}
}

func TestPlanMatchesTheBatcher(t *testing.T) {
	t.Parallel()
	var paths []string
	for d := range 12 {
		for i := range 150 {
			paths = append(paths, fmt.Sprintf("https://d%d.example.com/%d.js", d, i))
		}
	}
	paths = append(paths, paths[:10]...) // duplicates
	calls := Plan(fileKey(), paths, Limits{})
	total := 0
	for _, c := range calls {
		if len(c) > 1000 || len(domainsOf(c)) > 10 {
			t.Fatalf("call with %d paths on %d domains", len(c), len(domainsOf(c)))
		}
		total += len(c)
	}
	if total != 1800 || len(calls) != 2 {
		t.Fatalf("%d paths in %d calls, want 1,800 in 2", total, len(calls))
	}
}

func TestTaskOutcome(t *testing.T) {
	t.Parallel()
	row := func(st, desc string) apiclient.Task {
		return apiclient.Task{TaskID: "1", ObjectPath: "p" + st, Status: st, Description: desc}
	}
	cases := []struct {
		rows []apiclient.Task
		want string
		n    int
	}{
		{[]apiclient.Task{row("Complete", ""), row("Complete", "")}, "Complete", 0},
		{[]apiclient.Task{row("Complete", ""), row("Refreshing", "")}, "Refreshing", 0},
		{[]apiclient.Task{row("Failed", "OriginTimeout"), row("Pending", "")}, "Refreshing", 0},
		{[]apiclient.Task{row("Failed", "OriginTimeout"), row("Complete", "")}, "Failed", 1},
	}
	for i, c := range cases {
		st, f := TaskOutcome(c.rows)
		if st != c.want || len(f) != c.n {
			t.Errorf("case %d: %s with %d failures, want %s with %d", i, st, len(f), c.want, c.n)
		}
	}
	if _, f := TaskOutcome([]apiclient.Task{row("Failed", "")}); f[0].Reason != "task failed" {
		t.Errorf("reason without a Description: %q", f[0].Reason)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := (Config{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	c := Config{Linger: -time.Second, Limits: Limits{URLsPerRefresh: 5000}}.WithDefaults()
	errs := c.Validate()
	if len(errs) != 2 || errs[0].Field != "linger" || errs[1].Field != "limits.urls_per_refresh" {
		t.Fatalf("errs = %+v, want linger and limits.urls_per_refresh", errs)
	}
}

// A call never carries more than its target's per-call cap, whatever the
// limits say.
func TestSizeStaysWithinTheTargetsCaps(t *testing.T) {
	t.Parallel()
	l := Limits{URLsPerRefresh: 5000, DirsPerRefresh: 500, URLsPerPush: 500, RegexPerRefresh: 1, DomainsPerRefresh: 10}
	for _, target := range []apiclient.Product{"", apiclient.ProductDCDN} {
		tg, _ := apiclient.TargetOf(string(target))
		for k, want := range map[GroupKey]int{
			{Action: ActionRefresh, ObjectType: apiclient.ObjectFile, Target: target}:      tg.Caps.URLsPerRefresh,
			{Action: ActionRefresh, ObjectType: apiclient.ObjectDirectory, Target: target}: tg.Caps.DirsPerRefresh,
			{Action: ActionPush, Target: target}:                                           tg.Caps.URLsPerPush,
		} {
			if got := l.size(k); got != want {
				t.Errorf("%s: size %d, want the cap %d", k, got, want)
			}
		}
	}
}
