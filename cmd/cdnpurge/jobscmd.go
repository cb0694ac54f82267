package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
	"github.com/cdnpurge/cdnpurge/redact"
	"github.com/cdnpurge/cdnpurge/worker"
)

// jobsEnv is what the jobs subcommands share: a NATS connection and the
// job inspector over the streams and buckets.
type jobsEnv struct {
	s    *setup
	in   *worker.Inspector
	pub  *queue.Publisher
	subj jobs.Subjects
	nc   interface{ Close() }
	conn interface {
		Publish(subject string, data []byte) error
		Flush() error
	}
}

func (a *app) openJobs(ctx context.Context, stderr io.Writer) (*jobsEnv, error) {
	a.natsOnly, a.noPaths = true, true
	s, err := a.setup(stderr)
	if err != nil {
		return nil, err
	}
	nc, js, subj, err := s.connectNATS("cdnpurge-cli")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*jobsEnv, error) {
		nc.Close()
		return nil, fmt.Errorf("%w (NATS at %s: is cdnpurge serve running? set nats.url)", err, redact.URL(s.cfg.NATSURL()))
	}
	ctl, err := s.bindControl(ctx, js)
	if err != nil {
		return fail(err)
	}
	// Bound as serve made it: a reader must not change its retention.
	arch, err := bindOrOpen(func() (*worker.Archive, error) { return worker.BindArchive(ctx, js, "") },
		func() (*worker.Archive, error) {
			return worker.OpenArchive(ctx, js, "", s.cfg.Worker.ArchiveRetention, s.cfg.NATS.Replicas)
		})
	if err != nil {
		return fail(err)
	}
	hist, _, err := worker.LookupHistory(ctx, js, "")
	if err != nil {
		// Finished jobs then show only what their events name.
		fmt.Fprintf(stderr, "cdnpurge: job history unavailable (%v); finished jobs show only what their events name\n", err)
	}
	pub, err := queue.NewPublisher(nc, a.publisherConfig(s.cfg, subj))
	if err != nil {
		return fail(err)
	}
	in := &worker.Inspector{JS: js, Stream: s.cfg.NATS.Stream, StatusStream: s.cfg.NATS.StatusStream, Subjects: subj,
		Control: ctl, Archive: arch, History: hist}
	return &jobsEnv{s: s, in: in, pub: pub, subj: subj, nc: nc, conn: nc}, nil
}

func (a *app) jobs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("jobs", "list | show ID | cancel ID... | retry ID...",
		`See and steer the jobs of every replica.

  list    jobs queued, waiting for quota, deferred, in flight (tasks followed)
          and finished, newest first, with the pauses in force
  show    one job: its paths, task IDs, status events in order, why it waits
  cancel  a job not yet sent is never sent and spends no quota; a job sent in
          part has the rest cancelled
  retry   re-queue the failed or rejected paths of a finished job as a new job
          linked to the old one (source retry:<old ID>)

Failed and rejected jobs are kept in the dead-letter archive for
worker.archive_retention (14 days) after the status stream forgets them.`,
		`  cdnpurge jobs list
  cdnpurge jobs list --state waiting,deferred --since 24h --output json
  cdnpurge jobs show 06h15cdded03pd2dfqt72h0k9c
  cdnpurge jobs cancel --reason 'wrong bucket' 06h15cdded03pd2dfqt72h0k9c
  cdnpurge jobs retry --type directory 06h15cdded03pd2dfqt72h0k9c`, stderr)
	states := fs.String("state", "", "list: only these `STATES`, comma-separated: "+strings.Join(worker.ViewStates(), ", "))
	source := fs.String("source", "", "list: only jobs whose source starts with `SOURCE` (cli, generic, github, gitlab, retry, ...)")
	since := fs.Duration("since", 72*time.Hour, "list: only jobs seen in this `DURATION`")
	limit := fs.Int("limit", 50, "list: at most this many jobs")
	reason := fs.String("reason", "", "cancel, retry: why, recorded with the action (status event, serve log)")
	page := fs.Int("page", 1, "show: this `PAGE` of the paths of a finished job with more than 500 (see \"paths N-M of T\")")
	retryType := fs.String("type", "", "retry: the refresh type of the new job when the old one's is unknown: file, directory, regex (default: directory when every path ends in /, else file)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("jobs: want list, show, cancel or retry")
	}
	sub, rest := fs.Arg(0), fs.Args()[1:]
	if err := a.parse(fs, rest); err != nil {
		return err
	}
	rest = fs.Args()
	var want []string
	if *states != "" {
		for _, st := range strings.Split(*states, ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(worker.ViewStates(), st) {
				return usagef("--state %q: want %s", st, strings.Join(worker.ViewStates(), ", "))
			}
			want = append(want, st)
		}
	}
	switch {
	case sub == "list" && len(rest) == 0:
		if *limit < 1 || *since < 0 {
			return usagef("jobs list: --limit must be >= 1 and --since >= 0")
		}
	case (sub == "show" && len(rest) == 1) || ((sub == "cancel" || sub == "retry") && len(rest) >= 1):
	case sub == "show" || sub == "cancel" || sub == "retry":
		return usagef("jobs %s: want a job ID", sub)
	default:
		hint := didYouMean(sub, []string{"list", "show", "cancel", "retry"})
		if !strings.Contains(hint, "did you mean") {
			hint = ""
		}
		return usagef("jobs: unknown subcommand %q; want list, show, cancel or retry%s", sub, hint)
	}
	if *retryType != "" {
		if _, err := apiclient.ParseObjectType(*retryType); err != nil {
			return usagef("--type %q: want file, directory or regex", *retryType)
		}
	}
	env, err := a.openJobs(ctx, stderr)
	if err != nil {
		return err
	}
	defer env.nc.Close()
	switch sub {
	case "list":
		a.noteHistoryLost(stderr)
		return a.jobsList(ctx, env, stdout, want, *source, *since, *limit)
	case "show":
		if *page < 1 {
			return usagef("jobs show: --page must be >= 1")
		}
		return a.jobsShow(ctx, env, stdout, rest[0], *page)
	case "cancel":
		return a.jobsCancel(ctx, env, stdout, rest, strings.TrimSpace(*reason))
	default:
		return a.jobsRetry(ctx, env, stdout, rest, *retryType, strings.TrimSpace(*reason))
	}
}

func (a *app) jobsList(ctx context.Context, env *jobsEnv, w io.Writer, states []string, source string, since time.Duration, limit int) error {
	from := time.Time{}
	if since > 0 {
		from = time.Now().Add(-since)
	}
	snap, err := env.in.Jobs(ctx, from)
	if err != nil {
		return err
	}
	var list []worker.JobView
	for _, v := range snap.Jobs {
		if len(states) > 0 && !slices.Contains(states, v.State) {
			continue
		}
		if source != "" && !strings.HasPrefix(v.Source, source) {
			continue
		}
		list = append(list, v)
		if len(list) == limit {
			break
		}
	}
	pauses, perr := env.in.Control.Pauses(ctx, time.Now())
	if a.g.output == "json" {
		out := struct {
			Jobs      []worker.JobView `json:"jobs"`
			Truncated bool             `json:"truncated"`
			Pauses    []pauseJSON      `json:"pauses"`
		}{Jobs: list, Truncated: snap.Truncated}
		if out.Jobs == nil {
			out.Jobs = []worker.JobView{}
		}
		if perr == nil {
			out.Pauses = pauseView(pauses)
		}
		for i := range out.Jobs {
			out.Jobs[i].Events = nil
		}
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tPRIORITY\tSOURCE\tPATHS\tSTATE\tUNTIL\tAGE")
	now := time.Now()
	for _, v := range list {
		until := "-"
		if !v.Until.IsZero() {
			until = v.Until.Local().Format("2006-01-02 15:04:05")
		}
		born := v.Received
		if born.IsZero() && len(v.Events) > 0 {
			born = v.Events[0].Time
		}
		age := "-"
		if !born.IsZero() {
			age = now.Sub(born).Round(time.Second).String()
		}
		n := "-" // the message is gone and no event named the paths
		if v.NPaths > 0 {
			n = fmt.Sprint(v.NPaths)
		}
		pri := "-" // not known: neither the message nor the job history has it
		if v.Job != nil || v.Kind != "" {
			pri = string(v.Priority)
			if pri == "" {
				pri = string(jobs.PriorityNormal)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(v.ID), dash(string(v.Kind)), dash(pri), dash(v.Source), n, dash(string(v.State)), until, age)
	}
	if len(list) == 0 {
		fmt.Fprintln(tw, "(no jobs)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if snap.Truncated {
		fmt.Fprintln(w, "(the work stream holds more jobs than were read; the oldest are listed)")
	}
	if snap.HistoryError != "" {
		fmt.Fprintf(w, "(job history not read: %s)\n", snap.HistoryError)
	}
	return writePauses(w, pauses, refusalOr(ctx, perr))
}

// dash is a cell of a table: "-" when empty, else s with its control
// bytes escaped (redact.Escape), as job fields come from producers: an ESC
// or a newline in a source must neither reach the terminal nor forge a
// row.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return redact.Escape(s)
}

func (a *app) jobsShow(ctx context.Context, env *jobsEnv, w io.Writer, id string, page int) error {
	v, ok, err := env.in.Job(ctx, id)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("job %s: not found in the work stream, the status stream, the job history or the archive (IDs are printed by purge, push and the hooks)", id)
	}
	first := 1 // the number of the first path shown
	if page > 1 {
		if env.in.History == nil || page > v.Pages {
			return fmt.Errorf("job %s: --page %d: the job history has %d page(s) of its paths", id, page, max(v.Pages, 1))
		}
		if v.Paths, err = env.in.History.PathsPage(ctx, id, page); err != nil {
			return err
		}
		first = (page-1)*worker.HistoryPageSize + 1
	}
	if a.g.output == "json" {
		return writeJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "job\t%s\n", dash(v.ID))
	fmt.Fprintf(tw, "state\t%s\n", dash(string(v.State)))
	if v.Reason != "" {
		fmt.Fprintf(tw, "why\t%s\n", dash(v.Reason))
	}
	if !v.Until.IsZero() {
		fmt.Fprintf(tw, "waits until\t%s\n", v.Until.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "kind\t%s\n", dash(string(v.Kind)))
	fmt.Fprintf(tw, "source\t%s\n", dash(v.Source))
	if v.Kind != "" {
		fmt.Fprintf(tw, "priority\t%s\n", dash(string(cmp.Or(v.Priority, jobs.PriorityNormal))))
	}
	if v.RetryOf != "" {
		fmt.Fprintf(tw, "retry of\t%s\n", dash(v.RetryOf))
	}
	if !v.Received.IsZero() {
		fmt.Fprintf(tw, "received\t%s\n", v.Received.Local().Format(time.RFC3339))
	}
	if !v.Finished.IsZero() {
		fmt.Fprintf(tw, "finished\t%s\n", v.Finished.Local().Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "tasks\t%s\n", dash(strings.Join(taskNames(v.TaskIDs, v.TaskTargets), ", ")))
	if v.Archived {
		fmt.Fprintf(tw, "archived\tyes (dead-letter archive, worker.archive_retention)\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	bad := map[string]string{}
	for _, p := range v.Problems {
		bad[p.Path] = p.Reason
	}
	if v.Pages > 1 {
		fmt.Fprintf(w, "\npaths %d-%d of %d (page %d of %d; --page N for the others):\n", first, first+len(v.Paths)-1, v.NPaths, page, v.Pages)
	} else {
		fmt.Fprintf(w, "\npaths (%d):\n", v.NPaths)
	}
	for _, p := range v.Paths {
		if r, ok := bad[p]; ok {
			fmt.Fprintf(w, "  %s  (%s)\n", dash(p), dash(r))
		} else {
			fmt.Fprintf(w, "  %s\n", dash(p))
		}
	}
	fmt.Fprintln(w, "\nevents:")
	for _, ev := range v.Events {
		line := ev.Time.Local().Format("2006-01-02 15:04:05") + "  " + dash(string(ev.State))
		if ev.Reason != "" {
			line += ": " + dash(ev.Reason)
		}
		if !ev.Until.IsZero() {
			line += " (until " + ev.Until.Local().Format(time.RFC3339) + ")"
		}
		if len(ev.TaskIDs) > 0 {
			line += " tasks " + dash(strings.Join(taskNames(ev.TaskIDs, ev.TaskTargets), ","))
		}
		if ev.Action != "" {
			line += " [" + dash(ev.Action) + " by " + dash(ev.By) + "]"
		}
		fmt.Fprintf(w, "  %s\n", line)
	}
	if len(v.Events) == 0 && v.FromHistory {
		fmt.Fprintln(w, "  (gone from the status stream; the job history keeps its state and times)")
	} else if len(v.Events) == 0 {
		fmt.Fprintln(w, "  (none yet: no worker has taken the job)")
	}
	return nil
}

// publishEvent publishes a status event of a job, as the worker does.
func (env *jobsEnv) publishEvent(ev jobs.StatusEvent) error {
	if !jobs.ValidToken(ev.JobID) {
		return nil
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := env.conn.Publish(env.subj.Status(ev.JobID), b); err != nil {
		return err
	}
	return env.conn.Flush()
}

type jobResult struct {
	ID     string `json:"id"`
	OK     bool   `json:"ok"`
	State  string `json:"state,omitempty"`
	NewJob string `json:"new_job,omitempty"`
	Paths  int    `json:"paths,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (a *app) writeResults(w io.Writer, verb string, res []jobResult) error {
	failed := 0
	for _, r := range res {
		if !r.OK {
			failed++
		}
	}
	if a.g.output == "json" {
		out := struct {
			Results []jobResult `json:"results"`
			errorBody
		}{Results: res}
		if failed > 0 {
			out.errorBody = errorBody{Error: fmt.Sprintf("%s of %d not %s", plural(failed, "job"), len(res), verb), Code: codeFailed, Problems: []problem{}}
			for _, r := range res {
				if !r.OK {
					out.Problems = append(out.Problems, problem{Job: r.ID, Message: r.Error})
				}
			}
		}
		if err := writeJSON(w, out); err != nil {
			return err
		}
		if failed > 0 {
			return reportedError{fmt.Errorf("%s", out.Error)}
		}
		return nil
	}
	for _, r := range res {
		switch {
		case !r.OK:
			fmt.Fprintf(w, "job %s: not %s: %s\n", dash(r.ID), verb, dash(r.Error))
		case r.NewJob != "":
			fmt.Fprintf(w, "job %s: %s re-queued as job %s\n", r.ID, plural(r.Paths, "path"), r.NewJob)
		default:
			fmt.Fprintf(w, "job %s: %s\n", r.ID, verb)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s of %d not %s", plural(failed, "job"), len(res), verb)
	}
	return nil
}

// eachJob looks each of ids up and gives act the ones found; an ID that
// cannot be looked up, or is not there, is a failed result of its own.
func (env *jobsEnv) eachJob(ctx context.Context, ids []string, act func(v worker.JobView, r *jobResult)) []jobResult {
	var res []jobResult
	for _, id := range ids {
		r := jobResult{ID: id}
		v, ok, err := env.in.Job(ctx, id)
		switch {
		case err != nil:
			r.Error = refusalOr(ctx, err).Error()
		case !ok:
			r.Error = "no such job (see cdnpurge jobs list)"
		default:
			act(v, &r)
		}
		res = append(res, r)
	}
	return res
}

func (a *app) jobsCancel(ctx context.Context, env *jobsEnv, w io.Writer, ids []string, reason string) error {
	res := env.eachJob(ctx, ids, func(v worker.JobView, r *jobResult) {
		if v.Final() {
			r.Error, r.State = "already "+v.State, v.State
			return
		}
		by := operatorName()
		if err := env.in.Control.CancelJob(ctx, worker.Cancel{JobID: r.ID, By: by, At: time.Now()}); err != nil {
			r.Error = refusalOr(ctx, err).Error()
			return
		}
		msg := "cancelled by " + by
		if reason != "" {
			msg += ": " + reason
		}
		if v.State == worker.ViewInFlight {
			msg += "; its tasks already sent run to their end"
		}
		_ = env.publishEvent(worker.ActionEvent(worker.ActionCancel, r.ID, msg, by, time.Time{}))
		r.OK, r.State = true, worker.ViewCancelled
	})
	return a.writeResults(w, "cancelled", res)
}

func (a *app) jobsRetry(ctx context.Context, env *jobsEnv, w io.Writer, ids []string, objectType, reason string) error {
	res := env.eachJob(ctx, ids, func(v worker.JobView, r *jobResult) {
		if v.State != worker.ViewFailed && v.State != worker.ViewRejected {
			r.Error = "it is " + v.State + "; only failed and rejected jobs are retried"
			return
		}
		j, err := worker.RetryJob(v, objectType, time.Now())
		if err != nil {
			r.Error = err.Error()
			return
		}
		ack, err := env.pub.Publish(ctx, j, "")
		if err != nil {
			r.Error = "queue the new job: " + refusalOr(ctx, err).Error()
			return
		}
		r.OK, r.NewJob, r.Paths, r.State = true, ack.JobID, len(j.Paths()), worker.ViewQueued
		msg := "re-queued as job " + ack.JobID
		if reason != "" {
			msg += ": " + reason
		}
		_ = env.publishEvent(worker.ActionEvent(worker.ActionRetry, r.ID, msg, operatorName(), time.Time{}))
	})
	return a.writeResults(w, "retried", res)
}

// taskNames lists task IDs with the product of each non-CDN one: "123",
// "800000001 (dcdn)".
func taskNames(ids []string, targets map[string]string) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id
		if p := targets[id]; p != "" {
			out[i] = id + " (" + p + ")"
		}
	}
	return out
}
