package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/redact"
	"github.com/cdnpurge/cdnpurge/worker"
)

// pauseJSON is one pause as quota, jobs list and pause print it.
type pauseJSON struct {
	By        string    `json:"by"`
	Reason    string    `json:"reason"`
	Since     time.Time `json:"since,omitzero"`
	Until     time.Time `json:"until,omitzero"`
	Automatic bool      `json:"automatic"`
}

func pauseView(ps []worker.PauseState) []pauseJSON {
	out := make([]pauseJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, pauseJSON{By: p.By, Reason: p.Reason, Since: p.Since, Until: p.Until, Automatic: p.Automatic})
	}
	return out
}

// operatorName is who runs the command, for pauses, cancels and retries:
// "operator:<user>@<host>".
func operatorName() string {
	name := "operator"
	if u, err := user.Current(); err == nil {
		name += ":" + u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return name
}

// controlEnv is what pause and resume use: the control bucket, and the
// status subject their action is recorded on.
type controlEnv struct {
	ctl  *worker.Control
	nc   *nats.Conn
	subj jobs.Subjects
}

// record publishes the status event of an operator's action; the serve
// that archives it writes its log line. A failure is reported on stderr:
// the action itself took effect.
func (e *controlEnv) record(ev jobs.StatusEvent, stderr io.Writer) {
	if err := worker.PublishAction(e.nc, e.subj, ev); err != nil {
		fmt.Fprintf(stderr, "cdnpurge: %s done, but its status event was not published: %v\n", ev.Action, err)
	}
}

// openControl connects to NATS and opens the control bucket.
func (a *app) openControl(ctx context.Context, stderr io.Writer) (*controlEnv, func(), error) {
	a.natsOnly, a.noPaths = true, true
	s, err := a.setup(stderr)
	if err != nil {
		return nil, nil, err
	}
	nc, js, subj, err := s.connectNATS("cdnpurge-cli")
	if err != nil {
		return nil, nil, err
	}
	c, err := s.bindControl(ctx, js)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("%w (NATS at %s: is cdnpurge serve running? set nats.url)", err, redact.URL(s.cfg.NATSURL()))
	}
	return &controlEnv{ctl: c, nc: nc, subj: subj}, nc.Close, nil
}

func (a *app) pause(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("pause", "",
		`Pause all submissions of every replica: jobs keep arriving and are queued, but
no batch is sent to the CDN API (and no quota spent) until cdnpurge resume or
the end of --for. The pause is shown by jobs list, quota and /readyz (which
stays ready).`,
		"  cdnpurge pause --reason 'origin incident 1234'\n  cdnpurge pause --for 30m --reason 'deploy freeze'", stderr)
	dur := fs.Duration("for", 0, "end the pause after this long (default: until cdnpurge resume)")
	reason := fs.String("reason", "", "why, shown with the pause")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *dur < 0 {
		return usagef("pause takes no arguments, and --for must be >= 0")
	}
	c, closeNC, err := a.openControl(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeNC()
	now := time.Now()
	p := worker.PauseState{Reason: strings.TrimSpace(*reason), By: operatorName(), Since: now}
	if *dur > 0 {
		p.Until = now.Add(*dur)
	}
	if p.Reason == "" {
		p.Reason = "no reason given"
	}
	if err := c.ctl.Pause(ctx, p); err != nil {
		return err
	}
	c.record(worker.ActionEvent(worker.ActionPause, "", p.Reason, p.By, p.Until), stderr)
	if a.g.output == "json" {
		return writeJSON(stdout, pauseView([]worker.PauseState{p})[0])
	}
	until := "until cdnpurge resume"
	if !p.Until.IsZero() {
		until = "until " + p.Until.Format(time.RFC3339)
	}
	_, err = fmt.Fprintf(stdout, "submissions paused %s (%s)\n", until, p.Reason)
	return err
}

func (a *app) resume(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("resume", "",
		`Lift the operator's pause (cdnpurge pause). Automatic pauses (a financial lock,
refused credentials) end when their cause is gone and are listed.`, "  cdnpurge resume --reason 'incident 1234 over'", stderr)
	reason := fs.String("reason", "", "why, recorded with the resume (status event, serve log)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("resume takes no arguments")
	}
	c, closeNC, err := a.openControl(ctx, stderr)
	if err != nil {
		return err
	}
	defer closeNC()
	if err := c.ctl.Resume(ctx); err != nil {
		return err
	}
	c.record(worker.ActionEvent(worker.ActionResume, "", strings.TrimSpace(*reason), operatorName(), time.Time{}), stderr)
	rest, err := c.ctl.Pauses(ctx, time.Now())
	if err != nil {
		return err
	}
	if a.g.output == "json" {
		return writeJSON(stdout, struct {
			Resumed bool        `json:"resumed"`
			Pauses  []pauseJSON `json:"pauses"`
		}{true, pauseView(rest)})
	}
	fmt.Fprintln(stdout, "operator pause lifted")
	for _, p := range rest {
		fmt.Fprintf(stdout, "still paused automatically: %s\n", worker.DescribePauses([]worker.PauseState{p}))
	}
	return nil
}

// bindControl opens the control bucket serve made, or makes it when no
// serve ever ran (which needs the right to create it).
func (s *setup) bindControl(ctx context.Context, js jetstream.JetStream) (*worker.Control, error) {
	return bindOrOpen(func() (*worker.Control, error) { return worker.BindControl(ctx, js, "") },
		func() (*worker.Control, error) { return worker.OpenControl(ctx, js, "", s.cfg.NATS.Replicas) })
}

// readPauses reads the pauses for quota and jobs list. An unreachable NATS
// (or a user not allowed to read them) leaves them unknown, with the
// reason, rather than failing the command.
func (s *setup) readPauses(ctx context.Context) ([]worker.PauseState, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	nc, js, _, err := s.connectNATS("cdnpurge-cli")
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	c, err := s.bindControl(ctx, js)
	if err != nil {
		return nil, refusalOr(ctx, err)
	}
	ps, err := c.Pauses(ctx, time.Now())
	return ps, refusalOr(ctx, err)
}

// writePauses adds the pause lines under a table; unknown is why they
// could not be read, or nil.
func writePauses(w io.Writer, ps []worker.PauseState, unknown error) error {
	var err error
	var pe *queue.PermissionError
	switch {
	case errors.As(unknown, &pe):
		_, err = fmt.Fprintf(w, "submissions: pause state unknown (%v)\n", pe)
	case unknown != nil:
		_, err = fmt.Fprintln(w, "submissions: pause state unknown (NATS not reachable)")
	case len(ps) == 0:
		_, err = fmt.Fprintln(w, "submissions: running (not paused)")
	default:
		for _, p := range ps {
			_, err = fmt.Fprintf(w, "submissions: PAUSED %s\n", worker.DescribePauses([]worker.PauseState{p}))
		}
	}
	return err
}
