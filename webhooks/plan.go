package webhooks

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// request is what a hook made of one HTTP request once it was
// authenticated and parsed: the jobs it asks for and how to take them.
type request struct {
	// source names the sender in the jobs ("github:acme/site@main").
	source string
	// key is the request's idempotency key (a delivery ID), "" for none.
	key  string
	jobs []*jobs.Job
	// partial queues the valid paths and lists the others (senders that
	// cannot fix their payload); otherwise one bad path refuses all.
	partial bool
	// fileOf names the repository file each mapped URL came from.
	fileOf map[string]string
	// refused are files refused before mapping (partial only).
	refused []jobs.Problem
	// truncated is set for a truncated push.
	truncated *jobs.Truncation
}

// plan is what a request stores: valid jobs with their IDs, source and
// time of receipt, and the paths refused on the way.
type plan struct {
	source, key string
	jobs        []*jobs.Job
	// refused lists the paths of a partial request that are not queued.
	refused   []jobs.Problem
	truncated *jobs.Truncation
}

// partial reports whether the sender gets less than it asked for, which a
// status event then tells whoever follows the jobs.
func (p plan) partial() bool { return len(p.refused) > 0 || p.truncated != nil }

// planRequest validates the jobs of req and returns what to store, or the
// refusal (422) when nothing may be stored. It does no I/O and leaves req
// as it was.
//
// Without req.partial a request with any invalid path is refused whole;
// with it, invalid paths are dropped and listed in plan.refused (with the
// file each came from), and only a request left with no path is refused.
// With a key, the i-th job without an ID of its own gets one derived from
// "key:i", so a redelivery names the same jobs.
func planRequest(v *jobs.Validator, now time.Time, req request) (plan, *hookError) {
	p := plan{source: req.source, key: req.key, refused: slices.Clone(req.refused), truncated: req.truncated}
	js := make([]*jobs.Job, 0, len(req.jobs))
	for _, j := range req.jobs {
		js = append(js, cloneJob(j))
	}
	if req.partial {
		kept := js[:0:0]
		for i, j := range js {
			for _, pr := range dropInvalidPaths(v, j) {
				if len(js) > 1 {
					pr.Field = fmt.Sprintf("jobs[%d].%s", i, pr.Field)
				}
				pr.File = req.fileOf[pr.Path]
				p.refused = append(p.refused, pr)
			}
			if len(j.Paths()) > 0 {
				kept = append(kept, j)
			}
		}
		js = kept
		if len(js) == 0 {
			e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "every path was refused (%d); nothing was queued", len(p.refused))
			e.body.Problems = p.refused
			return plan{}, e
		}
	}
	var problems []jobs.Problem
	for i, j := range js {
		if req.key != "" && j.ID == "" {
			j.ID = jobs.IDFromKey(req.key + ":" + strconv.Itoa(i))
		}
		j.Prepare(req.source, now)
		err := v.Validate(j)
		if err == nil {
			continue
		}
		var ve *jobs.ValidationError
		if !errors.As(err, &ve) {
			return plan{}, refuse(http.StatusUnprocessableEntity, "invalid_job", "%v", err)
		}
		for _, pr := range ve.Problems {
			if len(js) > 1 {
				pr.Field = fmt.Sprintf("jobs[%d].%s", i, pr.Field)
			}
			problems = append(problems, pr)
		}
	}
	if len(problems) > 0 {
		e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "%d problem(s); nothing was queued, fix them and send again", len(problems))
		e.body.Problems = problems
		return plan{}, e
	}
	p.jobs = js
	return p, nil
}

// cloneJob copies j and the section whose paths a plan may drop, so that
// planning leaves the request as it was.
func cloneJob(j *jobs.Job) *jobs.Job {
	c := *j
	if j.Refresh != nil {
		r := *j.Refresh
		r.Paths = slices.Clone(r.Paths)
		c.Refresh = &r
	}
	if j.Push != nil {
		ps := *j.Push
		ps.Paths = slices.Clone(ps.Paths)
		c.Push = &ps
	}
	return &c
}

// dropInvalidPaths drops the paths of j that would not validate and
// returns them as problems ("refresh.paths[3]").
func dropInvalidPaths(v *jobs.Validator, j *jobs.Job) []jobs.Problem {
	ot := apiclient.ObjectFile
	var paths *[]string
	switch {
	case j.Refresh != nil:
		t, err := apiclient.ParseObjectType(j.Refresh.ObjectType)
		if err != nil {
			return nil // Validate names it
		}
		ot, paths = t, &j.Refresh.Paths
	case j.Push != nil:
		paths = &j.Push.Paths
	default:
		return nil
	}
	var out []jobs.Problem
	good := (*paths)[:0:0]
	for k, p := range *paths {
		if _, err := v.Normalize(p, ot); err != nil {
			out = append(out, jobs.Problem{Field: fmt.Sprintf("%s.paths[%d]", j.Kind, k), Path: p, Reason: err.Error()})
			continue
		}
		good = append(good, p)
	}
	*paths = good
	return out
}

// accept plans req and publishes the plan: the two steps of every hook
// but OSS, which plans per event (mapOSS) and claims events before it
// stores (storeOSS).
func (s *Server) accept(r *http.Request, req request) result {
	p, herr := planRequest(s.deps.Validator, s.deps.Now(), req)
	if herr != nil {
		return herr
	}
	return s.publishPlan(r, p)
}
