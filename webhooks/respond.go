package webhooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// errorBody is the JSON every refusal carries.
type errorBody struct {
	Error    string         `json:"error"`
	Code     string         `json:"code"`
	Problems []jobs.Problem `json:"problems,omitempty"`
}

// hookError is a refusal with its HTTP status.
type hookError struct {
	status int
	body   errorBody
}

func (e *hookError) Error() string { return e.body.Error }

func refuse(status int, code, format string, args ...any) *hookError {
	return &hookError{status: status, body: errorBody{Error: fmt.Sprintf(format, args...), Code: code}}
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
			body = he.body
			s.log.Info("webhook refused", slog.String("hook", hook), slog.Int("status", status), slog.String("code", he.body.Code), slog.String("reason", he.body.Error), slog.String("remote", r.RemoteAddr))
		}
		writeJSON(w, status, body)
		s.deps.Metrics.observe(hook, status, s.deps.Now().Sub(start))
	})
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
	return false, refuse(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type %q: send application/json", r.Header.Get("Content-Type"))
}

// readBody reads at most limit bytes. A declared length over the limit is
// refused before reading anything; an undeclared one stops at the limit.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, *hookError) {
	if r.ContentLength > limit {
		return nil, refuse(http.StatusRequestEntityTooLarge, "body_too_large", "body of %d bytes is over the limit of %d bytes; split the request", r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, refuse(http.StatusRequestEntityTooLarge, "body_too_large", "body is over the limit of %d bytes; split the request", limit)
		}
		return nil, refuse(http.StatusBadRequest, "unreadable_body", "read body: %v", err)
	}
	return body, nil
}

// accept validates every job, then publishes them all and answers 202
// only when each was acknowledged by JetStream. A job set with any invalid
// path is refused whole (422) before anything is published. With a
// dedupe key (a delivery ID) the i-th job gets Nats-Msg-Id key:i and an ID
// derived from it, so a redelivery stores nothing new and reports the same
// job IDs.
func (s *Server) accept(r *http.Request, source, dedupeKey string, js []*jobs.Job) (int, any) {
	now := s.deps.Now()
	var problems []jobs.Problem
	keys := make([]string, len(js))
	for i, j := range js {
		if dedupeKey != "" {
			keys[i] = dedupeKey + ":" + strconv.Itoa(i)
			if j.ID == "" {
				j.ID = jobs.IDFromKey(keys[i])
			}
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
	out := acceptedBody{Status: "accepted", Jobs: make([]acceptedJob, 0, len(js))}
	for i, j := range js {
		// A publish that started completes even if the sender hangs up, so
		// the log says what was stored; the publisher bounds its time.
		ack, err := s.deps.Publisher.Publish(context.WithoutCancel(r.Context()), j, keys[i])
		if err != nil {
			s.log.Error("publish job", slog.String("job", j.ID), slog.String("source", source), slog.String("error", err.Error()))
			if errors.Is(err, jobs.ErrTooLarge) {
				return fail(refuse(http.StatusRequestEntityTooLarge, "job_too_large", "job %s is too large for the queue; send fewer paths per request", j.ID))
			}
			return fail(refuse(http.StatusServiceUnavailable, "queue_unavailable", "the job queue cannot take the request now, nothing acknowledged; retry later"))
		}
		n := len(j.Paths())
		out.Jobs = append(out.Jobs, acceptedJob{ID: j.ID, Kind: j.Kind, Paths: n, Duplicate: ack.Duplicate})
		out.Paths += n
		s.log.Info("job accepted", slog.String("job", j.ID), slog.String("kind", string(j.Kind)), slog.String("source", source), slog.Int("paths", n), slog.Bool("duplicate", ack.Duplicate))
	}
	return http.StatusAccepted, out
}

// ignored answers an event that needs no job.
func ignored(reason string) (int, any) {
	return http.StatusOK, map[string]string{"status": "ignored", "reason": reason}
}
