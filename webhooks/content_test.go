package webhooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// statusEvent returns the last status event of job id.
func (f *fixture) statusEvent(tb testing.TB, id string) jobs.StatusEvent {
	tb.Helper()
	if f.pub != nil {
		ev, ok := f.pub.lastEvent(id)
		if !ok {
			tb.Fatalf("no status event for job %s", id)
		}
		return ev
	}
	st, err := f.js.Stream(tb.Context(), queue.DefaultStatusStreamName)
	if err != nil {
		tb.Fatal(err)
	}
	subjects, _ := jobs.NewSubjects("")
	m, err := st.GetLastMsgForSubject(tb.Context(), subjects.Status(id))
	if err != nil {
		tb.Fatalf("no status event for job %s: %v", id, err)
	}
	var ev jobs.StatusEvent
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		tb.Fatal(err)
	}
	return ev
}

// counter returns the value of the counter name with the given label
// values (ordered by label name, as Gather sorts them), 0 when absent.
func (f *fixture) counter(tb testing.TB, name string, values ...string) float64 {
	tb.Helper()
	fams, err := f.reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, fam := range fams {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetValue())
			}
			if slices.Equal(got, values) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func jobIDs(a answer) []string {
	var out []string
	list, _ := a.body["jobs"].([]any)
	for _, j := range list {
		switch v := j.(type) {
		case map[string]any:
			out = append(out, fmt.Sprint(v["id"]))
		case string:
			out = append(out, v)
		}
	}
	return out
}

func TestReusedKeyWithOtherContentIsConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())

	// GitHub: a delivery ID reused for another push.
	first := golden(t, "github_push.json")
	a := f.post(t, "/hooks/github", githubHeaders("push", "d-reused", first, testGitHubSecret), first)
	if a.status != http.StatusAccepted {
		t.Fatalf("first delivery: %d %s", a.status, a.raw)
	}
	firstIDs := jobIDs(a)
	other := golden(t, "github_push_long_path.json")
	c := f.post(t, "/hooks/github", githubHeaders("push", "d-reused", other, testGitHubSecret), other)
	if c.status != http.StatusConflict || c.body["code"] != "idempotency_conflict" || !slices.Equal(jobIDs(c), firstIDs) || !strings.Contains(c.raw, firstIDs[0]) {
		t.Fatalf("other body under the same delivery: %d %s, want 409 naming %v", c.status, c.raw, firstIDs)
	}
	// The same body again is still a duplicate.
	if d := f.post(t, "/hooks/github", githubHeaders("push", "d-reused", first, testGitHubSecret), first); d.status != http.StatusAccepted || !strings.Contains(d.raw, `"duplicate":true`) || !slices.Equal(jobIDs(d), firstIDs) {
		t.Fatalf("redelivery: %d %s", d.status, d.raw)
	}

	// GitLab: a pipeline event under the UUID of a push.
	push := golden(t, "gitlab_push.json")
	if a := f.post(t, "/hooks/gitlab", gitlabHeaders("Push Hook", "uuid-reused", testGitLabToken), push); a.status != http.StatusAccepted {
		t.Fatalf("gitlab push: %d %s", a.status, a.raw)
	}
	pipe := golden(t, "gitlab_pipeline.json")
	if c := f.post(t, "/hooks/gitlab", gitlabHeaders("Pipeline Hook", "uuid-reused", testGitLabToken), pipe); c.status != http.StatusConflict || c.body["code"] != "idempotency_conflict" {
		t.Fatalf("pipeline under the push's UUID: %d %s, want 409", c.status, c.raw)
	}

	// Generic: Idempotency-Key and a caller-chosen job ID.
	bearer := map[string]string{"Authorization": "Bearer " + testBearer}
	withKey := func(k string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + testBearer, "Idempotency-Key": k}
	}
	bodyA := []byte(`{"kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]}}`)
	bodyB := []byte(`{"kind":"push","push":{"paths":["https://static.example.com/b.css"]}}`)
	if a := f.post(t, "/hooks/generic", withKey("k-1"), bodyA); a.status != http.StatusAccepted {
		t.Fatalf("generic first: %d %s", a.status, a.raw)
	}
	if c := f.post(t, "/hooks/generic", withKey("k-1"), bodyB); c.status != http.StatusConflict || strings.Contains(c.raw, `"kind":"push"`) {
		t.Fatalf("generic other body under the same key: %d %s, want 409", c.status, c.raw)
	}
	idA := []byte(`{"id":"deploy-42","kind":"refresh","refresh":{"paths":["https://static.example.com/a.css"]}}`)
	idB := []byte(`{"id":"deploy-42","kind":"refresh","refresh":{"paths":["https://static.example.com/c.css"]}}`)
	if a := f.post(t, "/hooks/generic", bearer, idA); a.status != http.StatusAccepted {
		t.Fatalf("generic id first: %d %s", a.status, a.raw)
	}
	if c := f.post(t, "/hooks/generic", bearer, idB); c.status != http.StatusConflict || !strings.Contains(c.raw, "deploy-42") {
		t.Fatalf("generic id reused: %d %s, want 409 naming deploy-42", c.status, c.raw)
	}
	if d := f.post(t, "/hooks/generic", bearer, idA); d.status != http.StatusAccepted || !strings.Contains(d.raw, `"duplicate":true`) {
		t.Fatalf("generic id repeated: %d %s", d.status, d.raw)
	}

	// Nothing of the conflicting requests was stored.
	for _, j := range f.stored(t) {
		for _, p := range j.Paths() {
			if strings.Contains(p, "/notes/") || strings.HasSuffix(p, "/b.css") || strings.HasSuffix(p, "/c.css") {
				t.Fatalf("conflicting content stored: %s", p)
			}
		}
	}
}

func TestGitHubPushQueuesValidPathsAndListsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())
	body := golden(t, "github_push_long_path.json")
	a := f.post(t, "/hooks/github", githubHeaders("push", "d-long", body, testGitHubSecret), body)
	if a.status != http.StatusAccepted || a.body["paths"] != float64(50) {
		t.Fatalf("status %d %s, want 202 with 50 paths", a.status, a.raw)
	}
	var ans acceptedBody
	if err := json.Unmarshal([]byte(a.raw), &ans); err != nil {
		t.Fatal(err)
	}
	if len(ans.Refused) != 1 || !strings.HasPrefix(ans.Refused[0].File, "public/downloads/") || !strings.Contains(ans.Refused[0].Reason, "1024") || ans.Refused[0].Field != "refresh.paths[50]" {
		t.Fatalf("refused = %+v", ans.Refused)
	}
	got := f.stored(t)
	if len(got) != 1 || len(got[0].Paths()) != 50 {
		t.Fatalf("stored %d jobs, want one of 50 paths", len(got))
	}
	ev := f.statusEvent(t, got[0].ID)
	if ev.State != jobs.StatePartial || len(ev.Problems) != 1 || ev.Problems[0].File != ans.Refused[0].File {
		t.Fatalf("status event = %+v", ev)
	}
}

func TestInvalidUTF8PathsAreRefusedNotRewritten(t *testing.T) {
	t.Parallel()
	f := newFixture(t, testConfig())

	// Generic: 422 naming the index; nothing stored.
	body := []byte("{\"kind\":\"refresh\",\"refresh\":{\"paths\":[\"https://static.example.com/ok\",\"https://static.example.com/a1/\xff\xfe\"]}}")
	a := f.post(t, "/hooks/generic", map[string]string{"Authorization": "Bearer " + testBearer}, body)
	if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.raw, `"refresh.paths[1]"`) || !strings.Contains(a.raw, `a1/\\xff\\xfe`) {
		t.Fatalf("generic: %d %s, want 422 naming refresh.paths[1]", a.status, a.raw)
	}
	if n := len(f.stored(t)); n != 0 {
		t.Fatalf("stored %d jobs", n)
	}

	// GitHub: the file is refused by name, the rest is queued.
	gh := golden(t, "github_push_invalid_utf8.json")
	a = f.post(t, "/hooks/github", githubHeaders("push", "d-utf8", gh, testGitHubSecret), gh)
	if a.status != http.StatusAccepted || !strings.Contains(a.raw, `public/a1/\\xff\\xfe`) {
		t.Fatalf("github: %d %s", a.status, a.raw)
	}
	for _, j := range f.stored(t) {
		for _, p := range j.Paths() {
			if strings.Contains(p, "%EF%BF%BD") {
				t.Fatalf("rewritten path stored: %s", p)
			}
		}
	}
}

func truncatedConfig(on *OnTruncated) Config {
	cfg := testConfig()
	cfg.Rules[0].OnTruncated = on
	return cfg
}

func TestTruncatedGitLabPushAppliesOnTruncated(t *testing.T) {
	t.Parallel()
	body := golden(t, "gitlab_push_truncated.json")
	hdr := gitlabHeaders("Push Hook", "uuid-trunc", testGitLabToken)

	t.Run("refresh_dirs are queued besides the listed files", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, truncatedConfig(&OnTruncated{RefreshDirs: []string{"https://static.example.com/js/"}}))
		a := f.post(t, "/hooks/gitlab", hdr, body)
		var ans acceptedBody
		_ = json.Unmarshal([]byte(a.raw), &ans)
		if a.status != http.StatusAccepted || ans.Truncated == nil || ans.Truncated.CommitsTotal != 57 || ans.Truncated.CommitsListed != 20 ||
			len(ans.Truncated.Rules) != 1 || ans.Truncated.Rules[0] != (jobs.TruncatedRule{Rule: "static", Action: "refresh"}) {
			t.Fatalf("answer %d %s", a.status, a.raw)
		}
		var dirs, files int
		for _, j := range f.stored(t) {
			if j.Refresh.ObjectType == "Directory" {
				dirs += len(j.Paths())
				if j.Paths()[0] != "https://static.example.com/js/" {
					t.Fatalf("directory job %v", j.Paths())
				}
			} else {
				files += len(j.Paths())
			}
			if ev := f.statusEvent(t, j.ID); ev.State != jobs.StatePartial || ev.Truncated == nil || ev.Truncated.CommitsTotal != 57 {
				t.Fatalf("status event of %s = %+v", j.ID, ev)
			}
		}
		if dirs != 1 || files != 20 {
			t.Fatalf("stored %d directories and %d files, want 1 and 20", dirs, files)
		}
		if n := f.counter(t, "cdnpurge_webhook_truncated_pushes_total", "refresh", "gitlab"); n != 1 {
			t.Fatalf("truncated pushes counted %v, want 1", n)
		}
	})
	t.Run("refuse queues nothing", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, truncatedConfig(&OnTruncated{Refuse: true}))
		a := f.post(t, "/hooks/gitlab", hdr, body)
		if a.status != http.StatusUnprocessableEntity || a.body["code"] != "truncated_push" || !strings.Contains(a.raw, `"commits_total":57`) {
			t.Fatalf("answer %d %s", a.status, a.raw)
		}
		if n := len(f.stored(t)); n != 0 {
			t.Fatalf("stored %d jobs", n)
		}
		if n := f.counter(t, "cdnpurge_webhook_truncated_pushes_total", "refuse", "gitlab"); n != 1 {
			t.Fatalf("refused truncated pushes counted %v, want 1", n)
		}
	})
	t.Run("without on_truncated the answer still says so", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, testConfig())
		a := f.post(t, "/hooks/gitlab", hdr, body)
		if a.status != http.StatusAccepted || !strings.Contains(a.raw, `"action":"listed"`) || !strings.Contains(a.raw, `"truncated"`) {
			t.Fatalf("answer %d %s", a.status, a.raw)
		}
	})
}

func TestGitHubTruncationIsDetected(t *testing.T) {
	t.Parallel()
	push := func(commits int, filesPerCommit int, size string) []byte {
		var cs []string
		for i := range commits {
			var files []string
			for k := range filesPerCommit {
				files = append(files, fmt.Sprintf("%q", fmt.Sprintf("public/f%d-%d.js", i, k)))
			}
			cs = append(cs, `{"added":[],"removed":[],"modified":[`+strings.Join(files, ",")+`]}`)
		}
		return []byte(`{"ref":"refs/heads/main",` + size + `"repository":{"full_name":"acme/site"},"commits":[` + strings.Join(cs, ",") + `]}`)
	}
	for name, tt := range map[string]struct {
		body []byte
		want bool
	}{
		"ordinary push":             {golden(t, "github_push.json"), false},
		"GHES size over the listed": {golden(t, "github_push_ghes_truncated.json"), true},
		"2048 commits listed":       {push(githubMaxCommits, 1, ""), true},
		"2047 commits listed":       {push(githubMaxCommits-1, 1, ""), false},
		"3000 files in a commit":    {push(1, githubMaxFilesPerCommit, ""), true},
		"size equal to the listed":  {push(2, 1, `"size":2,`), false},
	} {
		ev, err := parseGitHub("push", tt.body)
		if err != nil || ev.change == nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ev.change.truncated != nil; got != tt.want {
			t.Errorf("%s: truncated = %v (%+v), want %v", name, got, ev.change.truncated, tt.want)
		}
	}
}

func TestOnTruncatedValidation(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		rule Rule
		want string
	}{
		"refuse and urls": {Rule{Files: "public/**", URLTemplate: "https://static.example.com/{path}", OnTruncated: &OnTruncated{Refuse: true, RefreshDirs: []string{"https://static.example.com/"}}}, "exclude each other"},
		"empty":           {Rule{Files: "public/**", URLTemplate: "https://static.example.com/{path}", OnTruncated: &OnTruncated{}}, "empty"},
		"no files":        {Rule{Refresh: []string{"https://static.example.com/"}, OnTruncated: &OnTruncated{Refuse: true}}, "push mappings only"},
	} {
		err := Config{Rules: []Rule{tt.rule}}.Validate()
		if err == nil || !strings.Contains(err.Error(), "rules[0].on_truncated") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate = %v", name, err)
		}
	}
	ok := Rule{Files: "public/**", URLTemplate: "https://static.example.com/{path}", OnTruncated: &OnTruncated{RefreshDirs: []string{"https://static.example.com/"}}}
	if err := (Config{Rules: []Rule{ok}}).Validate(); err != nil {
		t.Fatalf("valid rule: %v", err)
	}
	// Fallback URLs must be on the allowlist like every rule URL.
	v, _ := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com"}})
	bad := ok
	bad.OnTruncated = &OnTruncated{RefreshDirs: []string{"https://elsewhere.example.org/"}}
	if _, err := New(Config{Rules: []Rule{bad}}, Deps{Validator: v, Publisher: nopPublisher{}}); err == nil || !strings.Contains(err.Error(), "webhooks.rules[0].on_truncated.refresh_dirs[0]") {
		t.Fatalf("New = %v", err)
	}
}
