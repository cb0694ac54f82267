package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/cdnpurge/cdnpurge/config"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/suggest"
)

// Error codes of the JSON error report (--output json), one per way a
// command can fail; scripts branch on them.
const (
	codeUsage      = "usage"      // the command line is wrong (exit 2)
	codeConfig     = "config"     // the configuration is invalid
	codeRefused    = "refused"    // input refused before anything was sent
	codeFailed     = "failed"     // something was tried and failed
	codeUnfinished = "unfinished" // waiting ended before everything was done
)

// problem is one item of an error report: a config field, a path, a job or
// a task, and what is wrong with it.
type problem struct {
	Field   string `json:"field,omitempty"`
	Path    string `json:"path,omitempty"`
	Job     string `json:"job,omitempty"`
	Task    string `json:"task,omitempty"`
	Message string `json:"message"`
}

// MarshalJSON writes the problem with its text under "reason", the name
// hooks and status events use, and under "message" too: the older name,
// kept for scripts and deprecated (README, "Errors").
func (p problem) MarshalJSON() ([]byte, error) {
	type plain problem
	return json.Marshal(struct {
		plain
		Reason string `json:"reason"`
	}{plain(p), p.Message})
}

// errorBody is what --output json prints on stdout when a command fails.
type errorBody struct {
	Error    string    `json:"error"`
	Code     string    `json:"code"`
	Problems []problem `json:"problems"`
}

// refusedError lists the inputs refused before anything was sent.
type refusedError struct {
	msg      string
	problems []problem
}

func (e *refusedError) Error() string { return e.msg }

// unfinishedError marks a command that stopped waiting (exit 1, code
// unfinished).
type unfinishedError struct{ err error }

func (e unfinishedError) Error() string { return e.err.Error() }
func (e unfinishedError) Unwrap() error { return e.err }

// reportedError is an error whose JSON report is already on stdout (inside
// the command's own result), so main does not print a second document.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// errorReport classifies err for --output json.
func errorReport(err error) errorBody {
	b := errorBody{Error: err.Error(), Code: codeFailed, Problems: []problem{}}
	var ue usageError
	var re *refusedError
	var fe config.FieldError
	var un unfinishedError
	var pe *queue.PermissionError
	switch {
	case errors.As(err, &ue):
		b.Code = codeUsage
	case errors.As(err, &re):
		b.Code = codeRefused
		b.Problems = append(b.Problems, re.problems...)
	case errors.As(err, &pe):
		// NATS refused this user the request: nothing was done.
		b.Code = codeRefused
		b.Problems = append(b.Problems, problem{Message: pe.Error()})
	case errors.As(err, &fe):
		b.Code = codeConfig
		for _, e := range leafErrors(err) {
			if errors.As(e, &fe) {
				b.Problems = append(b.Problems, problem{Field: fe.Field, Message: fe.Msg})
			} else {
				b.Problems = append(b.Problems, problem{Message: e.Error()})
			}
		}
	case errors.As(err, &un), errors.Is(err, context.DeadlineExceeded):
		b.Code = codeUnfinished
	}
	return b
}

// leafErrors flattens wrapped and joined errors into the joined parts.
func leafErrors(err error) []error {
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		var out []error
		for _, x := range e.Unwrap() {
			out = append(out, leafErrors(x)...)
		}
		return out
	case interface{ Unwrap() error }:
		if inner := e.Unwrap(); inner != nil {
			if l := leafErrors(inner); len(l) > 1 {
				return l
			}
		}
	}
	return []error{err}
}

// didYouMean suggests the known name closest to got, or nothing.
func didYouMean(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		d := suggest.Distance(got, k)
		if strings.HasPrefix(k, got) && len(got) >= 2 {
			d = min(d, 1)
		}
		if d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	if best == "" {
		return "; see 'cdnpurge help' for the commands"
	}
	return "; did you mean " + best + "?"
}
