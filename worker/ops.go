package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

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
