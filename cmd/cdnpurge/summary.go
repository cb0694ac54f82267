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
}

// summary is what purge and push report at the end.
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
	Unit      string    `json:"unit"`
	Waited    bool      `json:"waited"`
	Completed int       `json:"completed"`
	Failed    int       `json:"failed"`
	Pending   int       `json:"pending"`
	Failures  []failure `json:"failures,omitempty"`
	// Waiting paths found no quota; they can go after WaitingUntil.
	Waiting      int       `json:"waiting_for_quota"`
	WaitingUntil time.Time `json:"waiting_until,omitzero"`
	TimedOut     bool      `json:"timed_out,omitempty"`
	Elapsed      string    `json:"elapsed"`
	start        time.Time
}

func (s *summary) fail(what, reason string) {
	s.Failed++
	s.Failures = append(s.Failures, failure{What: what, Reason: reason})
}

func (s *summary) wait(n int, until time.Time) {
	s.Waiting += n
	if until.After(s.WaitingUntil) {
		s.WaitingUntil = until
	}
}

func (s *summary) write(w io.Writer, jsonOut bool) error {
	s.Elapsed = time.Since(s.start).Round(time.Millisecond).String()
	if jsonOut {
		return writeJSON(w, s)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %d paths, %d submitted", s.Action, s.Mode, s.Paths, s.Submitted)
	if s.Calls > 0 {
		fmt.Fprintf(&b, " in %d calls", s.Calls)
	}
	if len(s.Jobs) > 0 {
		fmt.Fprintf(&b, " as %d jobs", len(s.Jobs))
	}
	if len(s.TaskIDs) > 0 {
		fmt.Fprintf(&b, ", %d tasks", len(s.TaskIDs))
	}
	if s.Waited {
		fmt.Fprintf(&b, "; %s: %d complete, %d failed, %d pending", s.Unit, s.Completed, s.Failed, s.Pending)
	} else if s.Failed > 0 {
		fmt.Fprintf(&b, "; %d failed", s.Failed)
	}
	fmt.Fprintf(&b, " (%s)\n", s.Elapsed)
	if s.Waiting > 0 {
		fmt.Fprintf(&b, "%d paths wait for quota until %s (%s Asia/Shanghai)\n", s.Waiting,
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
	if s.Failed > 0 {
		errs = append(errs, fmt.Errorf("%d %s failed", s.Failed, s.Unit))
	}
	if s.Waiting > 0 {
		errs = append(errs, fmt.Errorf("%d paths wait for quota until %s", s.Waiting, s.WaitingUntil.Format(time.RFC3339)))
	}
	if s.TimedOut || s.Pending > 0 {
		errs = append(errs, fmt.Errorf("%d %s not finished when waiting ended", s.Pending, s.Unit))
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
	rate := float64(done) / max(now.Sub(p.start).Seconds(), 0.001)
	line := fmt.Sprintf("%s: %s %d/%d %s (%.1f/s)", p.name, stage, done, total, unit, rate)
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
