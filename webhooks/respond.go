package webhooks

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cdnpurge/cdnpurge/jobs"
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
	httpStatus int
	body       errorBody
}

func (e *hookError) Error() string { return e.body.Error }

// refuse builds a refusal. Its message is clipped to maxEcho bytes: it may
// quote what the request sent (a header, a JSON decoding error naming a
// field), and a stranger must not be able to make answers or logs large.
func refuse(status int, code, format string, args ...any) *hookError {
	return &hookError{httpStatus: status, body: errorBody{Error: clip(fmt.Sprintf(format, args...), maxEcho), Code: code}}
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

// result is a hook's answer: its status, the JSON body it encodes to, and
// what the server log says of it. Each answer is its own type: a refusal
// (*hookError), an acceptance (acceptedBody, ossAnswer), an event that
// needs no job (ignoredAnswer, ossIgnored) and GitHub's ping (pong).
type result interface {
	status() int
	// logAnswer writes the answer's log line, if it has one.
	logAnswer(l *slog.Logger, hook, remote string)
}

// hookFunc handles one hook request.
type hookFunc func(w http.ResponseWriter, r *http.Request) result

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
		res := h(w, r)
		status := res.status()
		res.logAnswer(s.log, hook, clip(r.RemoteAddr, maxEchoValue))
		writeJSON(w, status, res)
		s.deps.Metrics.observe(hook, status, s.deps.Now().Sub(start))
	})
}

func (e *hookError) status() int { return e.httpStatus }

// answer is the body a refusal sends: its problems bounded.
func (e *hookError) answer() errorBody {
	b := e.body
	b.Problems = clipProblems(b.Problems)
	return b
}

// MarshalJSON encodes the refusal's body.
func (e *hookError) MarshalJSON() ([]byte, error) { return json.Marshal(e.answer()) }

func (e *hookError) logAnswer(l *slog.Logger, hook, remote string) {
	b := e.answer()
	// Every attribute is bounded: the reason by refuse, the rest by the
	// server (code, status) or the connection (remote).
	l.Info("webhook refused", slog.String("hook", hook), slog.Int("status", e.httpStatus), slog.String("code", b.Code),
		slog.String("reason", b.Error), slog.Int("problems", len(b.Problems)), slog.Any("refused_paths", refusedPaths(b.Problems)),
		slog.String("remote", remote))
}

func (acceptedBody) status() int { return http.StatusAccepted }

func (a acceptedBody) logAnswer(l *slog.Logger, hook, remote string) {
	if len(a.Refused) > 0 {
		l.Info("webhook accepted in part", slog.String("hook", hook), slog.Int("status", http.StatusAccepted), slog.Int("refused", len(a.Refused)),
			slog.Any("refused_paths", refusedPaths(clipProblems(a.Refused))), slog.String("remote", remote))
	}
}

// ignoredAnswer answers an event that needs no job (200).
type ignoredAnswer struct {
	Reason    string           `json:"reason"`
	Status    string           `json:"status"`
	Truncated *jobs.Truncation `json:"truncated,omitempty"`
}

// ignored answers an event that needs no job.
func ignored(reason string) ignoredAnswer { return ignoredAnswer{Reason: reason, Status: "ignored"} }

func (ignoredAnswer) status() int                            { return http.StatusOK }
func (ignoredAnswer) logAnswer(*slog.Logger, string, string) {}

// pong answers GitHub's ping (200).
type pong struct {
	Status string `json:"status"`
}

func (pong) status() int                            { return http.StatusOK }
func (pong) logAnswer(*slog.Logger, string, string) {}

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
