package webhooks

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

func testValidator(tb testing.TB) *jobs.Validator {
	tb.Helper()
	v, err := jobs.NewValidator(jobs.ValidatorConfig{Domains: []string{"static.example.com", "www.example.com"}})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

func refreshOf(paths ...string) *jobs.Job {
	return &jobs.Job{Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: paths}}
}

func pushOf(paths ...string) *jobs.Job {
	return &jobs.Job{Kind: jobs.KindPush, Push: &jobs.PushSpec{Paths: paths}}
}

// planRequest is the whole decision of what a request stores: these cases
// run without a server, a publisher or a network.
func TestPlanRequest(t *testing.T) {
	t.Parallel()
	v := testValidator(t)
	now := time.Date(2026, 12, 7, 9, 30, 0, 0, time.UTC)
	const (
		good  = "https://static.example.com/a.css"
		good2 = "https://www.example.com/b.js"
		evil  = "https://evil.example.net/x.js"
	)
	tests := []struct {
		name string
		req  request
		// want: the paths of each planned job, the refused paths with
		// their fields and files; or the refusal's status, code and the
		// fields its problems name.
		wantPaths    [][]string
		wantRefused  []jobs.Problem
		wantStatus   int
		wantCode     string
		wantProblems []string
		// wantIDs, when set, are the planned jobs' IDs.
		wantIDs []string
	}{
		{name: "a valid job is planned as it is",
			req:       request{source: "generic", jobs: []*jobs.Job{refreshOf(good)}},
			wantPaths: [][]string{{good}}},
		{name: "one bad path refuses a strict request whole",
			req:        request{source: "generic", jobs: []*jobs.Job{refreshOf(good, evil)}},
			wantStatus: http.StatusUnprocessableEntity, wantCode: "invalid_paths", wantProblems: []string{"refresh.paths[1]"}},
		{name: "a partial request drops bad paths and names their files",
			req: request{source: "github:acme/site@main", partial: true, jobs: []*jobs.Job{refreshOf(good, evil)},
				fileOf: map[string]string{evil: "public/x.js"}},
			wantPaths:   [][]string{{good}},
			wantRefused: []jobs.Problem{{Field: "refresh.paths[1]", Path: evil, File: "public/x.js"}}},
		{name: "files refused before mapping come first",
			req: request{source: "github:acme/site@main", partial: true, jobs: []*jobs.Job{refreshOf(good, evil)},
				refused: []jobs.Problem{{Field: "commits[0]", File: "public/\xff"}}},
			wantPaths:   [][]string{{good}},
			wantRefused: []jobs.Problem{{Field: "commits[0]", File: "public/\xff"}, {Field: "refresh.paths[1]", Path: evil}}},
		{name: "a job left with no path is dropped, and fields name the job",
			req:         request{source: "gitlab:acme/site@main:pipeline", partial: true, jobs: []*jobs.Job{refreshOf(evil), pushOf(good2)}},
			wantPaths:   [][]string{{good2}},
			wantRefused: []jobs.Problem{{Field: "jobs[0].refresh.paths[0]", Path: evil}}},
		{name: "a partial request with no path left is refused",
			req:        request{source: "github:acme/site@main", partial: true, jobs: []*jobs.Job{refreshOf(evil)}},
			wantStatus: http.StatusUnprocessableEntity, wantCode: "invalid_paths", wantProblems: []string{"refresh.paths[0]"}},
		{name: "problems of several jobs name the job",
			req:        request{source: "generic", jobs: []*jobs.Job{refreshOf(good), pushOf(evil)}},
			wantStatus: http.StatusUnprocessableEntity, wantCode: "invalid_paths", wantProblems: []string{"jobs[1].push.paths[0]"}},
		{name: "a key gives each job an ID of key:i",
			req:       request{source: "github:acme/site@main", key: "github:d1", jobs: []*jobs.Job{refreshOf(good), pushOf(good2)}},
			wantPaths: [][]string{{good}, {good2}},
			wantIDs:   []string{jobs.IDFromKey("github:d1:0"), jobs.IDFromKey("github:d1:1")}},
		{name: "the sender's own ID stays",
			req:       request{source: "generic", key: "deploy-7", jobs: []*jobs.Job{{ID: "deploy-7", Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{good}}}}},
			wantPaths: [][]string{{good}},
			wantIDs:   []string{"deploy-7"}},
		{name: "the scheduler's IDs are refused",
			req:        request{source: "generic", jobs: []*jobs.Job{{ID: "sched-night-1795618800", Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{good}}}}},
			wantStatus: http.StatusUnprocessableEntity, wantCode: "invalid_paths", wantProblems: []string{"id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := fmt.Sprintf("%+v", tt.req.jobs)
			for _, j := range tt.req.jobs {
				before += fmt.Sprintf("%+v%+v", j.Refresh, j.Push)
			}
			p, herr := planRequest(v, now, tt.req)
			after := fmt.Sprintf("%+v", tt.req.jobs)
			for _, j := range tt.req.jobs {
				after += fmt.Sprintf("%+v%+v", j.Refresh, j.Push)
			}
			if before != after {
				t.Errorf("planning changed the request:\n%s\n%s", before, after)
			}
			if tt.wantStatus != 0 {
				if herr == nil {
					t.Fatalf("planned %d jobs, want a %d refusal", len(p.jobs), tt.wantStatus)
				}
				var fields []string
				for _, pr := range herr.body.Problems {
					fields = append(fields, pr.Field)
				}
				if herr.status() != tt.wantStatus || herr.body.Code != tt.wantCode || !slices.Equal(fields, tt.wantProblems) {
					t.Fatalf("refusal %d %s %q, want %d %s %q", herr.status(), herr.body.Code, fields, tt.wantStatus, tt.wantCode, tt.wantProblems)
				}
				return
			}
			if herr != nil {
				t.Fatalf("refused: %d %s %+v", herr.status(), herr.body.Error, herr.body.Problems)
			}
			var paths [][]string
			for _, j := range p.jobs {
				paths = append(paths, j.Paths())
				if j.Source != tt.req.source || !j.ReceivedAt.Equal(now) || j.ID == "" || j.Version == 0 {
					t.Errorf("job not prepared: %+v", j)
				}
			}
			if !reflect.DeepEqual(paths, tt.wantPaths) {
				t.Errorf("paths %q, want %q", paths, tt.wantPaths)
			}
			if len(p.refused) != len(tt.wantRefused) {
				t.Fatalf("refused %+v, want %+v", p.refused, tt.wantRefused)
			}
			for i, w := range tt.wantRefused {
				g := p.refused[i]
				if g.Field != w.Field || g.Path != w.Path || g.File != w.File {
					t.Errorf("refused[%d] = %+v, want %+v", i, g, w)
				}
			}
			if p.partial() != (len(tt.wantRefused) > 0) {
				t.Errorf("partial() = %v with %d refused", p.partial(), len(p.refused))
			}
			if tt.wantIDs != nil {
				var ids []string
				for _, j := range p.jobs {
					ids = append(ids, j.ID)
				}
				if !slices.Equal(ids, tt.wantIDs) {
					t.Errorf("IDs %q, want %q", ids, tt.wantIDs)
				}
			}
			if p.key != tt.req.key || p.source != tt.req.source {
				t.Errorf("plan key %q source %q", p.key, p.source)
			}
		})
	}
}

// scriptedPublisher answers PublishSet with fixed acks and error.
type scriptedPublisher struct {
	acks []queue.Ack
	err  error
}

func (p scriptedPublisher) PublishSet(context.Context, string, []*jobs.Job) ([]queue.Ack, error) {
	return p.acks, p.err
}

func (scriptedPublisher) Report(context.Context, jobs.StatusEvent) error { return nil }

// publishJobs pairs acks with jobs by the Publisher's contract, and
// treats an answer that breaks it as not stored instead of indexing past
// the jobs.
func TestPublishJobsKeepsThePublisherToItsContract(t *testing.T) {
	t.Parallel()
	js := []*jobs.Job{{ID: "j0"}, {ID: "j1"}, {ID: "j2"}}
	tooLarge := fmt.Errorf("publish job j1: %w", queue.ErrTooLarge)
	tests := []struct {
		name       string
		pub        scriptedPublisher
		wantStored []string
		wantFailed string
		wantErr    bool
	}{
		{"all stored", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}, {JobID: "j1"}, {JobID: "j2"}}}, []string{"j0", "j1", "j2"}, "", false},
		{"fails on the second", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}}, err: tooLarge}, []string{"j0"}, "j1", true},
		{"fails after all were stored (the flush)", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}, {JobID: "j1"}, {JobID: "j2"}}, err: queue.ErrUnavailable}, []string{"j0", "j1", "j2"}, "", true},
		{"fewer acks without an error", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}}}, nil, "", true},
		{"more acks than jobs", scriptedPublisher{acks: make([]queue.Ack, 4), err: tooLarge}, nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := publishJobs(t.Context(), tt.pub, "k", js)
			var stored []string
			for _, sj := range res.stored {
				if sj.ack.JobID != sj.job.ID {
					t.Errorf("ack %s paired with job %s", sj.ack.JobID, sj.job.ID)
				}
				stored = append(stored, sj.job.ID)
			}
			failed := ""
			if res.failed != nil {
				failed = res.failed.ID
			}
			if !slices.Equal(stored, tt.wantStored) || failed != tt.wantFailed || (res.err != nil) != tt.wantErr {
				t.Fatalf("stored %q failed %q err %v, want %q %q err=%v", stored, failed, res.err, tt.wantStored, tt.wantFailed, tt.wantErr)
			}
		})
	}
}

// What the sender hears when the publish fails, by the publisher's error.
func TestPublishRefusals(t *testing.T) {
	t.Parallel()
	s := &Server{log: slog.New(slog.DiscardHandler), deps: Deps{Now: time.Now}}
	p := plan{source: "generic", key: "generic:k", jobs: []*jobs.Job{{ID: "j0", Kind: jobs.KindRefresh, Refresh: &jobs.RefreshSpec{Paths: []string{"https://static.example.com/a"}}}, {ID: "j1"}}}
	tests := []struct {
		name       string
		pub        scriptedPublisher
		wantStatus int
		wantCode   string
		wantText   string
	}{
		{"conflict", scriptedPublisher{err: &queue.IdempotencyConflictError{Key: "generic:k", JobIDs: []string{"earlier-1"}}}, http.StatusConflict, "idempotency_conflict", "earlier-1"},
		{"store unwritable", scriptedPublisher{err: fmt.Errorf("sync: %w", queue.ErrStoreUnwritable)}, http.StatusServiceUnavailable, "store_unwritable", "retry later"},
		{"too large names the job", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}}, err: fmt.Errorf("publish: %w", queue.ErrTooLarge)}, http.StatusRequestEntityTooLarge, "job_too_large", "job j1 "},
		{"too large past the last job", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}, {JobID: "j1"}}, err: fmt.Errorf("publish: %w", queue.ErrTooLarge)}, http.StatusServiceUnavailable, "queue_unavailable", "retry later"},
		{"unavailable", scriptedPublisher{err: queue.ErrUnavailable}, http.StatusServiceUnavailable, "queue_unavailable", "retry later"},
		{"contract broken", scriptedPublisher{acks: []queue.Ack{{JobID: "j0"}}}, http.StatusServiceUnavailable, "queue_unavailable", "retry later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := *s
			s.deps.Publisher = tt.pub
			res := s.publishPlan(httptest.NewRequest(http.MethodPost, "/hooks/generic", nil), p)
			e, ok := res.(*hookError)
			if !ok {
				t.Fatalf("answer %T %+v, want a refusal", res, res)
			}
			if e.status() != tt.wantStatus || e.body.Code != tt.wantCode || !strings.Contains(e.body.Error, tt.wantText) {
				t.Fatalf("refusal %d %s %q, want %d %s with %q", e.status(), e.body.Code, e.body.Error, tt.wantStatus, tt.wantCode, tt.wantText)
			}
		})
	}
}
