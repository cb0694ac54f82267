package webhooks

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// errorBody is the JSON every refusal carries.
type errorBody struct {
	Error    string         `json:"error"`
	Code     string         `json:"code"`
	Problems []jobs.Problem `json:"problems,omitempty"`
	// Jobs names the earlier jobs of an idempotency conflict.
	Jobs []string `json:"jobs,omitempty"`
	// Truncated describes a truncated push that was refused.
	Truncated *jobs.Truncation `json:"truncated,omitempty"`
}

// hookError is a refusal with its HTTP status.
type hookError struct {
	status int
	body   errorBody
}

func (e *hookError) Error() string { return e.body.Error }

// refuse builds a refusal. Its message is clipped to maxEcho bytes: it may
// quote what the request sent (a header, a JSON decoding error naming a
// field), and a stranger must not be able to make answers or logs large.
func refuse(status int, code, format string, args ...any) *hookError {
	return &hookError{status: status, body: errorBody{Error: clip(fmt.Sprintf(format, args...), maxEcho), Code: code}}
}

// Bounds of what a request can make the server repeat.
const (
	// maxEcho bounds a refusal's message.
	maxEcho = 512
	// maxEchoValue bounds one value from a request quoted in a message or
	// a problem (a header, a path).
	maxEchoValue = 128
	// maxProblems bounds the problems listed in one answer.
	maxProblems = 100
)

// clip returns s cut to at most n bytes (on a UTF-8 boundary), saying how
// long it was when it was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	suffix := fmt.Sprintf("...(%d bytes)", len(s))
	cut := max(0, n-len(suffix))
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// clipProblems bounds the problems of a refusal and each path they quote.
func clipProblems(ps []jobs.Problem) []jobs.Problem {
	if len(ps) == 0 {
		return ps
	}
	out := make([]jobs.Problem, 0, min(len(ps), maxProblems))
	for i, p := range ps {
		if i == maxProblems {
			out = append(out, jobs.Problem{Field: "problems", Reason: fmt.Sprintf("%d more not listed", len(ps)-maxProblems)})
			break
		}
		p.Field, p.Path, p.Reason = clip(p.Field, maxEchoValue), clip(p.Path, maxEchoValue), clip(p.Reason, maxEcho)
		out = append(out, p)
	}
	return out
}

// acceptedJob describes one stored job in a 202 answer.
type acceptedJob struct {
	ID        string    `json:"id"`
	Kind      jobs.Kind `json:"kind"`
	Paths     int       `json:"paths"`
	Duplicate bool      `json:"duplicate,omitempty"`
}

// acceptedBody is the 202 answer.
type acceptedBody struct {
	Status string        `json:"status"`
	Jobs   []acceptedJob `json:"jobs"`
	Paths  int           `json:"paths"`
	// Refused lists the paths (and files) of a GitHub or GitLab event that
	// were not queued, each with its reason; the rest were.
	Refused []jobs.Problem `json:"refused,omitempty"`
	// Truncated says the push payload did not list everything that
	// changed, and what each matching rule did about it.
	Truncated *jobs.Truncation `json:"truncated,omitempty"`
}

// hookFunc handles one hook request and returns the status and JSON body.
type hookFunc func(w http.ResponseWriter, r *http.Request) (int, any)

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// instrument writes a hook's answer, logs it and records metrics.
func (s *Server) instrument(hook string, h hookFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.deps.Now()
		status, body := h(w, r)
		if he, ok := body.(*hookError); ok {
			he.body.Problems = clipProblems(he.body.Problems)
			body = he.body
			// Every attribute is bounded: the reason by refuse, the rest
			// by the server (code, status) or the connection (remote).
			s.log.Info("webhook refused", slog.String("hook", hook), slog.Int("status", status), slog.String("code", he.body.Code),
				slog.String("reason", he.body.Error), slog.Int("problems", len(he.body.Problems)), slog.Any("refused_paths", refusedPaths(he.body.Problems)),
				slog.String("remote", clip(r.RemoteAddr, maxEchoValue)))
		}
		if ab, ok := body.(acceptedBody); ok && len(ab.Refused) > 0 {
			s.log.Info("webhook accepted in part", slog.String("hook", hook), slog.Int("status", status), slog.Int("refused", len(ab.Refused)),
				slog.Any("refused_paths", refusedPaths(clipProblems(ab.Refused))), slog.String("remote", clip(r.RemoteAddr, maxEchoValue)))
		}
		writeJSON(w, status, body)
		s.deps.Metrics.observe(hook, status, s.deps.Now().Sub(start))
	})
}

// maxLoggedPaths bounds the refused paths one log line names.
const maxLoggedPaths = 10

// refusedPaths names the refused paths (or files) of a refusal for its
// log line: at most maxLoggedPaths, each already clipped by clipProblems.
func refusedPaths(ps []jobs.Problem) []string {
	var out []string
	for _, p := range ps {
		name := cmp.Or(p.Path, p.File)
		if name == "" {
			continue
		}
		if len(out) == maxLoggedPaths {
			out = append(out, fmt.Sprintf("... %d more", len(ps)-maxLoggedPaths))
			break
		}
		out = append(out, name)
	}
	return out
}

// fail turns a *hookError into a hookFunc result.
func fail(e *hookError) (int, any) { return e.status, e }

// requireJSON refuses bodies that are not JSON (415).
func requireJSON(r *http.Request, alsoForm bool) (form bool, err *hookError) {
	mt, _, perr := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case perr == nil && mt == "application/json":
		return false, nil
	case perr == nil && alsoForm && mt == "application/x-www-form-urlencoded":
		return true, nil
	}
	return false, refuse(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: send application/json", clip(r.Header.Get("Content-Type"), maxEchoValue))
}

// readBody reads the body of a request whose header credentials (if its
// hook has any) were checked, at most limit bytes. A declared length over
// the limit is refused before reading anything; an undeclared one stops at
// the limit. Before reading, the body's bytes (the declared length, else
// the limit) are reserved from the server-wide buffer budget; when they
// do not fit the request is answered 503 with Retry-After and not read.
// release gives the bytes back; call it when the body is no longer used
// (it is nil with an error).
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, release func(), herr *hookError) {
	if r.ContentLength > limit {
		return nil, nil, refuse(http.StatusRequestEntityTooLarge, "body_too_large", "body of %d bytes is over the limit of %d bytes; split the request", r.ContentLength, limit)
	}
	want := limit
	if r.ContentLength >= 0 {
		want = r.ContentLength
	}
	release, ok := s.budget.reserve(want)
	if !ok {
		secs := int64((s.cfg.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		return nil, nil, refuse(http.StatusServiceUnavailable, "busy", "the server is reading as many request bodies as it buffers at once; nothing was read, retry in %d s", secs)
	}
	var err error
	if r.ContentLength >= 0 {
		// The exact size: no buffer growth beyond what was reserved.
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	}
	if err != nil {
		release()
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, nil, refuse(http.StatusRequestEntityTooLarge, "body_too_large", "body is over the limit of %d bytes; split the request", limit)
		}
		return nil, nil, refuse(http.StatusBadRequest, "unreadable_body", "read body: %v", err)
	}
	return body, release, nil
}

// acceptOpts changes how accept treats a request.
type acceptOpts struct {
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

// accept validates every job, then publishes them all under one
// idempotency key and answers 202 only when each was acknowledged by
// JetStream. Without opts.partial a job set with any invalid path is
// refused whole (422) before anything is published; with it, invalid paths
// are dropped and listed under "refused", and a status event (state
// partial) says so. With a dedupe key (a delivery ID) the i-th job gets
// Nats-Msg-Id key:i and an ID derived from it; the key is bound to the
// jobs' content, so a redelivery stores nothing new and reports the same
// job IDs, and other content under the same key is refused (409).
func (s *Server) accept(r *http.Request, source, dedupeKey string, js []*jobs.Job, o acceptOpts) (int, any) {
	now := s.deps.Now()
	refused := slices.Clone(o.refused)
	if o.partial {
		kept := js[:0:0]
		for i, j := range js {
			for _, p := range s.splitPaths(j) {
				if len(js) > 1 {
					p.Field = fmt.Sprintf("jobs[%d].%s", i, p.Field)
				}
				p.File = o.fileOf[p.Path]
				refused = append(refused, p)
			}
			if len(j.Paths()) > 0 {
				kept = append(kept, j)
			}
		}
		js = kept
		if len(js) == 0 {
			e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "every path was refused (%d); nothing was queued", len(refused))
			e.body.Problems = refused
			return fail(e)
		}
	}
	var problems []jobs.Problem
	for i, j := range js {
		if dedupeKey != "" && j.ID == "" {
			j.ID = jobs.IDFromKey(dedupeKey + ":" + strconv.Itoa(i))
		}
		j.Prepare(source, now)
		if err := s.deps.Validator.Validate(j); err != nil {
			var ve *jobs.ValidationError
			if !errors.As(err, &ve) {
				return fail(refuse(http.StatusUnprocessableEntity, "invalid_job", "%v", err))
			}
			for _, p := range ve.Problems {
				if len(js) > 1 {
					p.Field = fmt.Sprintf("jobs[%d].%s", i, p.Field)
				}
				problems = append(problems, p)
			}
		}
	}
	if len(problems) > 0 {
		e := refuse(http.StatusUnprocessableEntity, "invalid_paths", "%d problem(s); nothing was queued, fix them and send again", len(problems))
		e.body.Problems = problems
		return fail(e)
	}
	// No key from the sender: nothing to bind or deduplicate, so no claim
	// (one JetStream write per job; each job's fresh ID is its Nats-Msg-Id).
	// A publish that started completes even if the sender hangs up, so
	// the log says what was stored; the publisher bounds its time.
	acks, err := s.deps.Publisher.PublishSet(context.WithoutCancel(r.Context()), dedupeKey, js)
	if err != nil {
		var ce *queue.IdempotencyConflictError
		switch {
		case errors.As(err, &ce):
			s.log.Warn("idempotency conflict", slog.String("key", dedupeKey), slog.String("source", source), slog.String("earlier_jobs", strings.Join(ce.JobIDs, ",")))
			e := refuse(http.StatusConflict, "idempotency_conflict", "key %q was used inside the duplicate window for other content (job %s); nothing was queued, send new content under a new key", dedupeKey, strings.Join(ce.JobIDs, ", "))
			e.body.Jobs = ce.JobIDs
			return fail(e)
		case errors.Is(err, queue.ErrStoreUnwritable):
			s.log.Error("publish job", slog.String("source", source), slog.String("error", err.Error()))
			return fail(refuse(http.StatusServiceUnavailable, "store_unwritable", "the job store cannot write now (its disk is full or failing); nothing acknowledged, retry later"))
		case errors.Is(err, queue.ErrTooLarge):
			s.log.Error("publish job", slog.String("job", js[len(acks)].ID), slog.String("source", source), slog.String("error", err.Error()))
			return fail(refuse(http.StatusRequestEntityTooLarge, "job_too_large", "job %s is too large for the queue; send fewer paths per request", js[len(acks)].ID))
		}
		s.log.Error("publish job", slog.String("source", source), slog.Int("stored", len(acks)), slog.Int("jobs", len(js)), slog.String("error", err.Error()))
		return fail(refuse(http.StatusServiceUnavailable, "queue_unavailable", "the job queue cannot take the request now, nothing acknowledged; retry later"))
	}
	out := acceptedBody{Status: "accepted", Jobs: make([]acceptedJob, 0, len(js)), Refused: refused, Truncated: o.truncated}
	for i, j := range js {
		ack := acks[i]
		n := len(j.Paths())
		out.Jobs = append(out.Jobs, acceptedJob{ID: ack.JobID, Kind: j.Kind, Paths: n, Duplicate: ack.Duplicate})
		out.Paths += n
		s.log.Info("job accepted", slog.String("job", ack.JobID), slog.String("kind", string(j.Kind)), slog.String("source", source), slog.Int("paths", n), slog.Bool("duplicate", ack.Duplicate))
		if (len(refused) > 0 || o.truncated != nil) && !ack.Duplicate {
			s.report(r, jobs.StatusEvent{JobID: ack.JobID, State: jobs.StatePartial, Reason: partialReason(source, len(refused), o.truncated), Problems: refused, Truncated: o.truncated})
		}
	}
	return http.StatusAccepted, out
}

// splitPaths drops the paths of j that would not validate and returns
// them as problems ("refresh.paths[3]").
func (s *Server) splitPaths(j *jobs.Job) []jobs.Problem {
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
		if _, err := s.deps.Validator.Normalize(p, ot); err != nil {
			out = append(out, jobs.Problem{Field: fmt.Sprintf("%s.paths[%d]", j.Kind, k), Path: p, Reason: err.Error()})
			continue
		}
		good = append(good, p)
	}
	*paths = good
	return out
}

func partialReason(source string, refused int, t *jobs.Truncation) string {
	var parts []string
	if refused > 0 {
		parts = append(parts, fmt.Sprintf("%d path(s) of the request refused", refused))
	}
	if t != nil {
		parts = append(parts, "truncated push: "+t.Reason)
	}
	return source + ": " + strings.Join(parts, "; ")
}

// report publishes a status event; a failure is logged, the answer stands.
func (s *Server) report(r *http.Request, ev jobs.StatusEvent) {
	ev.Time = s.deps.Now().UTC()
	if err := s.deps.Publisher.Report(context.WithoutCancel(r.Context()), ev); err != nil {
		s.log.Error("report status event", slog.String("job", ev.JobID), slog.String("state", string(ev.State)), slog.String("error", err.Error()))
	}
}

// ignored answers an event that needs no job.
func ignored(reason string) (int, any) {
	return http.StatusOK, map[string]string{"status": "ignored", "reason": reason}
}
