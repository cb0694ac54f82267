package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/jobs/queue"
)

// intake pulls the work and tick streams, screens each message, and turns
// a job into work for the batcher: its paths split by target, without the
// paths an earlier delivery already sent (progress) or the API accepted
// moments ago (recent), collapsed into directories where configured.
// Operation jobs go to the operation runner.
type intake struct {
	intakeParams
	// pathsPerMsg is the running average of paths per message (ordered.go).
	pathsPerMsg atomic.Int64
}

// intakeParams are intake's dependencies.
type intakeParams struct {
	cfg       Config
	js        jetstream.JetStream
	consumer  jetstream.ConsumerConfig
	subjects  jobs.Subjects
	screen    *queue.Screen
	ticks     Ticks // nil refuses every tick
	store     *KVStore
	recent    Recent // may be nil
	productOf func(host string) apiclient.Product
	targets   map[apiclient.Product]*target
	ledger    *ledger
	metrics   *Metrics
	log       *slog.Logger
	// out is the next stage, the batcher.
	out chan<- work
	// ops runs operation jobs; settle ends the jobs intake finishes
	// itself (nothing left to send, a job that cannot be sent).
	ops    *operations
	settle *settler
}

func newIntake(p intakeParams) *intake { return &intake{intakeParams: p} }

// work is a job's paths of one group on their way to the batcher.
type work struct {
	t     *takenJob
	key   GroupKey
	paths []string
}

// pullBoth pulls the purge streams (work, most urgent first: see
// ordered.go) and the tick stream until ctx ends or one of the pulls
// fails, which stops the other.
func (in *intake) pullBoth(ctx context.Context, work []jetstream.Consumer, ticks jetstream.Consumer) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	wg.Go(func() {
		errs[0] = in.pullOrdered(ctx, work)
		stop()
	})
	wg.Go(func() {
		errs[1] = in.pull(ctx, ticks)
		stop()
	})
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// pull takes messages until ctx ends.
func (in *intake) pull(ctx context.Context, cons jetstream.Consumer) error {
	it, err := in.newPuller(ctx, cons) // outlives a deleted consumer (repull.go)
	if err != nil {
		return fmt.Errorf("pull from consumer %s: %w", in.cfg.Consumer, err)
	}
	go func() {
		<-ctx.Done()
		it.Stop()
		// A pull waiting for in-flight paths to drain must see the end too.
		in.ledger.wake()
	}()
	for {
		in.ledger.waitBelow(in.cfg.MaxInflightPaths, ctx.Done())
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				// Only a deleted consumer or a closed connection ends the
				// iterator; say so rather than stop quietly.
				return fmt.Errorf("pull from consumer %s stopped (consumer deleted or connection closed): %w", in.cfg.Consumer, err)
			}
			in.log.Warn("pull failed; retrying", slog.String("error", err.Error()))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		in.handle(ctx, msg)
	}
}

// admit screens a message and returns its job. A message of the tick
// stream, or an operation job on the legacy operations subjects, runs only
// as a tick of a schedule of this replica's configuration: its job is
// built from the configuration by Ticks, and anything else is terminated
// and reported on the invalid subject without reaching the API.
func (in *intake) admit(ctx context.Context, msg jetstream.Msg) (*jobs.Job, error) {
	if _, ok := in.subjects.SchedName(msg.Subject()); ok {
		t, err := in.screen.CheckTick(ctx, msg)
		if err != nil {
			in.metrics.operation("", "refused")
			return nil, err
		}
		return in.resolveTick(ctx, msg, "", t.Schedule, t.Tick, nil)
	}
	j, err := in.screen.Check(ctx, msg)
	if err != nil || j.Kind != jobs.KindOperation {
		if err != nil && j == nil && in.subjects.KindOf(msg.Subject()) == jobs.KindOperation {
			in.metrics.operation("", "refused")
		}
		return j, err
	}
	op := j.Operation
	if op.Schedule == "" {
		in.metrics.operation(op.Action, "refused")
		return nil, in.screen.Refuse(ctx, msg, j.ID, fmt.Sprintf("operation %q names no schedule: operations run only as ticks of a configured schedule; operators change the account with the cdnpurge CLI",
			truncate(op.Action, 64)))
	}
	return in.resolveTick(ctx, msg, j.ID, op.Schedule, op.Tick, op)
}

func (in *intake) resolveTick(ctx context.Context, msg jetstream.Msg, jobID, schedule string, tick time.Time, claimed *jobs.OperationSpec) (*jobs.Job, error) {
	action := ""
	if claimed != nil {
		action = claimed.Action
	}
	if in.ticks == nil {
		in.metrics.operation(action, "refused")
		return nil, in.screen.Refuse(ctx, msg, jobID, fmt.Sprintf("schedule %q: this replica has no schedules configured", truncate(schedule, 64)))
	}
	j, err := in.ticks.Resolve(ctx, schedule, tick, claimed)
	if err != nil {
		in.metrics.operation(action, "refused")
		return nil, in.screen.Refuse(ctx, msg, jobID, err.Error())
	}
	return j, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// handle screens one message (a bad one is terminated and reported there)
// and hands its paths to the batcher.
func (in *intake) handle(ctx context.Context, msg jetstream.Msg) {
	j, err := in.admit(ctx, msg)
	if err != nil {
		if !errors.Is(err, queue.ErrInvalidMessage) {
			in.log.Warn("screen message", slog.String("error", err.Error()))
		}
		return
	}
	now := time.Now()
	if j.ReceivedAt.IsZero() {
		j.ReceivedAt = now
	}
	in.metrics.jobReceived(j)
	redelivered := false
	// The job was asked for when JetStream stored it (or, without that,
	// when the hook answered): any refresh of its paths sent after that
	// covers it.
	asked := j.ReceivedAt
	var stored storedMsg
	if md, err := msg.Metadata(); err == nil {
		redelivered = md.NumDelivered > 1
		if !md.Timestamp.IsZero() {
			asked = md.Timestamp
		}
		stored = storedMsg{stream: md.Stream, seq: md.Sequence.Stream}
	}
	passed := false // the job's paths went to the batcher
	if redelivered {
		// A job handed back stays counted as such until its paths are
		// counted as unsent: the batcher stops counting it then
		// (batcher.go), so that a batch yielding to it (yieldToUrgent)
		// always sees one or the other.
		defer func() {
			if !passed {
				in.ledger.redelivered(j.ID)
			}
		}()
	} else {
		in.settle.publish(j, jobs.StatusEvent{State: jobs.StateAccepted})
	}
	if j.Kind == jobs.KindOperation {
		in.ops.run(ctx, msg, j)
		return
	}
	k, ok := keyOf(j)
	if !ok {
		// Screen validated the job; a refresh or push job always has its
		// section and a known object type.
		in.settle.terminate(ctx, msg, j, "job without a refresh or push section passed validation; terminating it")
		return
	}
	// Screen's validation already dropped duplicate paths within the job.
	paths := j.Paths()
	var prior []string
	if redelivered {
		var err error
		prior, err = in.store.loadProgress(ctx, j.ID)
		if err != nil {
			in.log.Warn("could not read job progress; its accepted paths may be sent again",
				slog.String("job", j.ID), slog.String("error", err.Error()))
		}
		paths = without(paths, prior)
	}
	t := &takenJob{msg: msg, job: j, received: now, asked: asked, msgAt: stored, redelivered: redelivered, prior: prior}
	var parts []work
	var notes []string
	for _, part := range splitByTarget(in.productOf, k, paths) {
		ws, note := in.prepare(ctx, t, part.key, part.paths, prior)
		for i := range ws {
			if tg := in.targets[ws[i].key.product()]; tg != nil && tg.shares != nil {
				ws[i].key.Share = tg.shares.Of(j.Source, quotaKind(ws[i].key))
			}
		}
		parts = append(parts, ws...)
		if note != "" {
			notes = append(notes, note)
		}
	}
	if ctx.Err() != nil {
		// Stopping: a Recent check cut short said "sending them all".
		in.settle.handBackUntaken(msg, j)
		return
	}
	t.collapsed = strings.Join(notes, "; ")
	for _, w := range parts {
		t.paths += len(w.paths)
	}
	t.outstanding = t.paths
	if t.paths == 0 {
		in.settle.finish(ctx, t)
		return
	}
	in.ledger.take(t)
	passed = true
	for _, w := range parts {
		in.out <- w
	}
}

// splitByTarget splits paths by the product serving their domain (all
// CDN when productOf is nil), in order of first appearance, keeping their
// order within each part; each part's key names its target.
func splitByTarget(productOf func(host string) apiclient.Product, k GroupKey, paths []string) []work {
	k.Target = ""
	if productOf == nil || len(paths) == 0 {
		return []work{{key: k, paths: paths}}
	}
	var order []apiclient.Product
	by := map[apiclient.Product][]string{}
	for _, p := range paths {
		prod := productOf(apiclient.PathDomain(p))
		if prod == "" {
			prod = apiclient.ProductCDN
		}
		if _, ok := by[prod]; !ok {
			order = append(order, prod)
		}
		by[prod] = append(by[prod], p)
	}
	out := make([]work, 0, len(order))
	for _, prod := range order {
		pk := k
		if prod != apiclient.ProductCDN {
			pk.Target = prod
		}
		out = append(out, work{key: pk, paths: by[prod]})
	}
	return out
}

// prepare drops the paths of one target part the API accepted moments ago
// and collapses URLs into directories where configured; it returns the
// part's work and the collapse note, if any.
func (in *intake) prepare(ctx context.Context, t *takenJob, k GroupKey, paths, prior []string) ([]work, string) {
	j := t.job
	if in.recent != nil && in.cfg.RecentWindow > 0 && len(paths) > 0 {
		fresh, err := in.recent.Fresh(ctx, k.String(), paths, t.asked)
		if err != nil {
			in.log.Warn("recent paths", slog.String("job", j.ID), slog.String("error", err.Error()))
		}
		if c, ok := in.recent.(claimer); ok && len(fresh) < len(paths) {
			// Name the calls that covered the skipped paths.
			if covers, err := c.Covering(ctx, k.String(), without(paths, fresh)); err == nil {
				for _, cv := range covers {
					for _, id := range cv.Tasks {
						if len(t.coverTasks) < maxRecordedTasks && !slices.Contains(t.coverTasks, id) {
							t.coverTasks = append(t.coverTasks, id)
						}
					}
				}
			}
		}
		t.skipped += len(paths) - len(fresh)
		paths = fresh
	}
	var out []work
	var note string
	if c := in.cfg.Collapse; c.Enabled && k.Action == ActionRefresh && k.ObjectType == apiclient.ObjectFile && len(paths) >= c.MinURLs {
		var gate Gate
		if tg := in.targets[k.product()]; tg != nil {
			gate = tg.gate
		}
		if col, ok := c.collapse(paths); ok && c.shouldCollapse(ctx, gate, len(paths)-len(col.kept), len(col.dirs)) {
			dirKey := GroupKey{Action: ActionRefresh, ObjectType: apiclient.ObjectDirectory,
				Force: forceOf(&c.Force), Priority: k.Priority, Target: k.Target}
			paths, note = col.kept, col.note()
			if dirs := without(col.dirs, prior); len(dirs) > 0 {
				out = append(out, work{t: t, key: dirKey, paths: dirs})
			}
			in.log.Info("urls collapsed into directory refreshes", slog.String("job", j.ID), slog.String("note", note))
		}
	}
	if len(paths) > 0 {
		out = append([]work{{t: t, key: k, paths: paths}}, out...)
	}
	return out, note
}

func without(paths, done []string) []string {
	if len(done) == 0 {
		return paths
	}
	skip := make(map[string]struct{}, len(done))
	for _, p := range done {
		skip[p] = struct{}{}
	}
	out := paths[:0:0]
	for _, p := range paths {
		if _, ok := skip[p]; !ok {
			out = append(out, p)
		}
	}
	return out
}

// operations runs operation jobs, each in its own goroutine, and gives
// the outcome to the settle step.
type operations struct {
	operator Operator // nil: operation jobs wait
	settle   *settler
	ledger   *ledger
	wg       sync.WaitGroup
}

// run executes operation job j of msg.
func (o *operations) run(ctx context.Context, msg message, j *jobs.Job) {
	if o.operator == nil {
		o.settle.waitOperator(ctx, msg, j)
		return
	}
	// Tracked like a purge job so that the heartbeat keeps extending its
	// ack deadline while a slow change runs; otherwise it could be
	// redelivered and run twice.
	t := &takenJob{msg: msg, job: j, received: time.Now()}
	o.ledger.take(t)
	o.wg.Go(func() {
		// The operation's own calls retry within the client's policy; it
		// outlives a shutdown signal so that a started change finishes.
		ctx := context.WithoutCancel(ctx)
		err := o.operator.Run(ctx, j)
		o.settle.operationDone(ctx, t, err)
	})
}
