package webhooks

import (
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// A rule's priority reaches its jobs; when several rules match, the most
// urgent wins; a bad value is refused with the rule's field path.
func TestRulePriorityReachesJobs(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		{Name: "bulk", Files: "docs/**", URLTemplate: "https://static.example.com/{path}", Priority: jobs.PriorityLow},
		{Name: "hotfix", Files: "app/**", URLTemplate: "https://static.example.com/{path}", Priority: jobs.PriorityHigh,
			Refresh: []string{"https://static.example.com/index.html"}},
	}
	only := func(js []*jobs.Job) jobs.Priority {
		t.Helper()
		if len(js) == 0 {
			t.Fatal("no jobs")
		}
		for _, j := range js[1:] {
			if j.Priority != js[0].Priority {
				t.Fatalf("jobs of one event with priorities %q and %q", js[0].Priority, j.Priority)
			}
		}
		return js[0].Priority
	}
	if p := only(mapChanges(rules, changeEvent{changed: []string{"docs/a.md"}}).jobs); p != jobs.PriorityLow {
		t.Fatalf("docs only: %q, want low", p)
	}
	if p := only(mapChanges(rules, changeEvent{changed: []string{"docs/a.md", "app/x.js"}}).jobs); p != jobs.PriorityHigh {
		t.Fatalf("docs and app: %q, want high", p)
	}
	if p := only(mapDeploy(rules, deployEvent{trigger: "deployment"})); p != jobs.PriorityHigh {
		t.Fatalf("deploy: %q, want high", p)
	}
	err := Config{Rules: []Rule{{Name: "x", Priority: "urgent"}}}.Validate()
	if err == nil || !strings.Contains(err.Error(), "rules[0].priority") {
		t.Fatalf("Validate = %v, want a webhooks.rules[0].priority error", err)
	}
}
