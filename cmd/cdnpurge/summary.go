package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/quota"
)

// failure is one thing that did not work.
type failure struct {
	What   string `json:"what"`
	Reason string `json:"reason"`
	// Job, Task and Path say which, when known.
	Job  string `json:"job,omitempty"`
	Task string `json:"task,omitempty"`
	Path string `json:"path,omitempty"`
}

// summary is what purge and push report at the end. Paths and units (tasks
// with --direct, jobs when queued) are counted separately.
type summary struct {
	Action string   `json:"action"`
	Mode   string   `json:"mode"`
	Paths  int      `json:"paths"`
	Jobs   []string `json:"jobs,omitempty"`
	Calls  int      `json:"calls,omitempty"`
	// Submitted paths were accepted by the API (direct) or queued.
	Submitted int      `json:"submitted"`
	TaskIDs   []string `json:"task_ids,omitempty"`
	// Unit is what Completed, Failed and Pending count: tasks or jobs.
	Unit      string `json:"unit"`
	Waited    bool   `json:"waited"`
	Completed int    `json:"completed"`
	Failed    int    `json:"failed"`
	Pending   int    `json:"pending"`
	// FailedPaths counts the paths of failed tasks, jobs or calls.
	FailedPaths int       `json:"failed_paths"`
	Failures    []failure `json:"failures,omitempty"`
	// Waiting paths found no quota; they can go after WaitingUntil.
	Waiting      int       `json:"waiting_for_quota"`
	WaitingUntil time.Time `json:"waiting_until,omitzero"`
	TimedOut     bool      `json:"timed_out,omitempty"`
	Elapsed      string    `json:"elapsed"`
	// Error, Code and Problems are set when the command exits 1, as in
	// every other command's JSON error report.
	Error    string    `json:"error,omitempty"`
	Code     string    `json:"code,omitempty"`
	Problems []problem `json:"problems,omitempty"`
	start    time.Time
}

// fail records a failed unit (a job or task) of n paths.
func (s *summary) fail(f failure, n int) {
	s.Failed++
	s.FailedPaths += n
	s.Failures = append(s.Failures, f)
}

// failPaths records n paths that failed outside any unit (a refused call).
func (s *summary) failPaths(f failure, n int) {
	s.FailedPaths += n
	s.Failures = append(s.Failures, f)
}

func (s *summary) wait(n int, until time.Time) {
	s.Waiting += n
	if until.After(s.WaitingUntil) {
		s.WaitingUntil = until
	}
}

// unit is Unit in the singular.
func (s *summary) unit() string { return strings.TrimSuffix(s.Unit, "s") }

// plural is "1 path" or "2 paths".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func (s *summary) write(w io.Writer, jsonOut bool) error {
	s.Elapsed = time.Since(s.start).Round(time.Millisecond).String()
	if jsonOut {
		if err := s.err(); err != nil {
			s.Error, s.Code = err.Error(), codeFailed
			if s.Failed == 0 && s.FailedPaths == 0 {
				s.Code = codeUnfinished
			}
			s.Problems = []problem{}
			for _, f := range s.Failures {
				s.Problems = append(s.Problems, problem{Job: f.Job, Task: f.Task, Path: f.Path, Message: f.What + ": " + f.Reason})
			}
		}
		return writeJSON(w, s)
	}
	var b strings.Builder
	verb := "submitted"
	if s.Mode == "queued" {
		verb = "queued"
	}
	fmt.Fprintf(&b, "%s (%s): %s, %d %s", s.Action, s.Mode, plural(s.Paths, "path"), s.Submitted, verb)
	if s.Calls > 0 {
		fmt.Fprintf(&b, " in %s", plural(s.Calls, "call"))
	}
	if len(s.Jobs) > 0 {
		fmt.Fprintf(&b, " as %s", plural(len(s.Jobs), "job"))
	}
	if len(s.TaskIDs) > 0 {
		fmt.Fprintf(&b, ", %s", plural(len(s.TaskIDs), "task"))
	}
	if s.Waited {
		fmt.Fprintf(&b, "; %s: %d complete, %d failed, %d pending", s.Unit, s.Completed, s.Failed, s.Pending)
	} else if s.Failed > 0 {
		fmt.Fprintf(&b, "; %s failed", plural(s.Failed, s.unit()))
	}
	if s.FailedPaths > 0 {
		fmt.Fprintf(&b, "; %s failed", plural(s.FailedPaths, "path"))
	}
	fmt.Fprintf(&b, " (%s)\n", s.Elapsed)
	if s.Waiting > 0 {
		fmt.Fprintf(&b, "%s wait for quota until %s (%s Asia/Shanghai)\n", plural(s.Waiting, "path"),
			s.WaitingUntil.Local().Format(time.RFC3339), s.WaitingUntil.In(quota.DefaultLocation()).Format("2006-01-02 15:04"))
	}
	for _, f := range s.Failures {
		fmt.Fprintf(&b, "failed: %s: %s\n", f.What, f.Reason)
	}
	if s.TimedOut {
		b.WriteString("gave up waiting (--timeout); the tasks may still finish: see cdnpurge tasks\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// err is non-nil when anything failed, waits for quota or did not finish.
func (s *summary) err() error {
	var errs []error
	if s.Failed > 0 || s.FailedPaths > 0 {
		errs = append(errs, fmt.Errorf("%s failed (%s)", plural(s.Failed, s.unit()), plural(s.FailedPaths, "path")))
	}
	if s.Waiting > 0 {
		errs = append(errs, fmt.Errorf("%s wait for quota until %s", plural(s.Waiting, "path"), s.WaitingUntil.Format(time.RFC3339)))
	}
	if s.TimedOut || s.Pending > 0 {
		errs = append(errs, unfinishedError{fmt.Errorf("%s not finished when waiting ended", plural(s.Pending, s.unit()))})
	}
	return errors.Join(errs...)
}

// progress shows a live line on a terminal and plain lines, at most one a
// second, otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	name  string
	start time.Time
	last  time.Time
	shown bool
}

func newProgress(w io.Writer, name string) *progress {
	return &progress{w: w, tty: isTerminal(w), name: name, start: time.Now()}
}

// set reports done of total units; final lines are always printed.
func (p *progress) set(stage string, done, total int, unit string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	final := done >= total
	if !p.tty && !final && now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	line := fmt.Sprintf("%s: %s %d/%d %s", p.name, stage, done, total, unit)
	// A rate says something only about paths, over more than a moment.
	if el := now.Sub(p.start); unit == "paths" && el >= time.Second && done > 0 {
		line += fmt.Sprintf(" (%.0f/s)", float64(done)/el.Seconds())
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.shown = true
		return
	}
	fmt.Fprintln(p.w, line)
}

// done ends the live line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.shown {
		fmt.Fprintln(p.w)
	}
}
