package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// Ticks decides whether a schedule tick may run and builds its job from
// the replica's configuration, never from the message;
// *scheduler.Authority implements it. claimed is the operation section of
// a message on the legacy operations subjects, nil for a tick of the tick
// stream. An error means the message is refused; its text is the reason.
type Ticks interface {
	Resolve(ctx context.Context, schedule string, tick time.Time, claimed *jobs.OperationSpec) (*jobs.Job, error)
}

func (w *Worker) schedStream() string {
	if w.d.SchedStream != "" {
		return w.d.SchedStream
	}
	return jobs.SchedStreamName(w.d.Stream)
}

// pullBoth pulls the work stream and the tick stream until ctx ends or one
// of the pulls fails, which stops the other.
func (w *Worker) pullBoth(ctx context.Context, work, ticks jetstream.Consumer) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []jetstream.Consumer{work, ticks} {
		wg.Go(func() {
			errs[i] = w.pull(ctx, c)
			stop()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return errors.Join(errs...)
}

// admit screens a message and returns its job. A message of the tick
// stream, or an operation job on the legacy operations subjects, runs only
// as a tick of a schedule of this replica's configuration: its job is
// built from the configuration by Ticks, and anything else is terminated
// and reported on the invalid subject without reaching the API.
func (w *Worker) admit(ctx context.Context, msg jetstream.Msg) (*jobs.Job, error) {
	if _, ok := w.d.Subjects.SchedName(msg.Subject()); ok {
		t, err := w.screen.CheckTick(ctx, msg)
		if err != nil {
			w.m.operation("", "refused")
			return nil, err
		}
		return w.resolveTick(ctx, msg, "", t.Schedule, t.Tick, nil)
	}
	j, err := w.screen.Check(ctx, msg)
	if err != nil || j.Kind != jobs.KindOperation {
		if err != nil && j == nil && w.d.Subjects.KindOf(msg.Subject()) == jobs.KindOperation {
			w.m.operation("", "refused")
		}
		return j, err
	}
	op := j.Operation
	if op.Schedule == "" {
		w.m.operation(op.Action, "refused")
		return nil, w.screen.Refuse(ctx, msg, j.ID, fmt.Sprintf("operation %q names no schedule: operations run only as ticks of a configured schedule; operators change the account with the cdnpurge CLI",
			truncate(op.Action, 64)))
	}
	return w.resolveTick(ctx, msg, j.ID, op.Schedule, op.Tick, op)
}

func (w *Worker) resolveTick(ctx context.Context, msg jetstream.Msg, jobID, schedule string, tick time.Time, claimed *jobs.OperationSpec) (*jobs.Job, error) {
	action := ""
	if claimed != nil {
		action = claimed.Action
	}
	if w.d.Ticks == nil {
		w.m.operation(action, "refused")
		return nil, w.screen.Refuse(ctx, msg, jobID, fmt.Sprintf("schedule %q: this replica has no schedules configured", truncate(schedule, 64)))
	}
	j, err := w.d.Ticks.Resolve(ctx, schedule, tick, claimed)
	if err != nil {
		w.m.operation(action, "refused")
		return nil, w.screen.Refuse(ctx, msg, jobID, err.Error())
	}
	return j, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// runOperation executes an operation job in its own goroutine and settles
// its message by the outcome.
func (w *Worker) runOperation(ctx context.Context, msg Message, j *jobs.Job) {
	log := w.log.With(slog.String("job", j.ID), slog.String("action", j.Operation.Action),
		slog.String("schedule", j.Operation.Schedule))
	if w.d.Operator == nil {
		log.Warn("operation job waits: this replica runs no operator")
		_ = msg.NakWithDelay(w.cfg.RetryDelay)
		return
	}
	// Tracked like a purge job so that the heartbeat keeps extending its
	// ack deadline while a slow change runs; otherwise it could be
	// redelivered and run twice.
	t := &tracked{msg: msg, job: j, received: time.Now()}
	w.fl.add(t)
	w.ops.Go(func() {
		defer w.fl.remove(t)
		// The operation's own calls retry within the client's policy; it
		// outlives a shutdown signal so that a started change finishes.
		opCtx := context.WithoutCancel(ctx)
		err := w.d.Operator.Run(opCtx, j)
		now := time.Now()
		if err == nil {
			_ = msg.Ack()
			w.m.operation(j.Operation.Action, "ok")
			w.publishStatus(j, jobs.StatusEvent{State: jobs.StateComplete})
			log.Info("operation done")
			return
		}
		cls := apiclient.Classify(err)
		switch cls {
		case apiclient.ClassBadInput, apiclient.ClassTooBig, apiclient.ClassUnknown:
			// Term without a reason (2.9 servers misread one); the reason
			// is in the rejected event.
			_ = msg.Term()
			w.m.operation(j.Operation.Action, "rejected")
			w.publishStatus(j, jobs.StatusEvent{State: jobs.StateRejected, Reason: err.Error()})
			log.Error("operation refused; it will not be retried", slog.String("error", err.Error()))
		case apiclient.ClassAccount, apiclient.ClassCredentials:
			until := now.Add(w.cfg.PauseFor)
			w.pz.set(until, err.Error())
			_ = msg.NakWithDelay(w.cfg.PauseFor)
			w.m.operation(j.Operation.Action, "deferred")
			w.publishStatus(j, jobs.StatusEvent{State: jobs.StateDeferred, Reason: err.Error(), Until: until})
			log.Error("operation deferred: the account or credentials need attention", slog.String("error", err.Error()))
		default:
			_ = msg.NakWithDelay(w.cfg.RetryDelay)
			w.m.operation(j.Operation.Action, "retry")
			w.publishStatus(j, jobs.StatusEvent{State: jobs.StateDeferred, Reason: err.Error(), Until: now.Add(w.cfg.RetryDelay)})
			log.Warn("operation failed; retrying later", slog.String("error", err.Error()))
		}
	})
}
