package worker

import (
	"context"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// fateAction is what the completer does to a message.
type fateAction int

const (
	// ackMsg: the job is done (its paths accepted or finally refused).
	ackMsg fateAction = iota
	// retryMsg: hand the job back, redelivered after fate.delay.
	retryMsg
	// termMsg: the message can never succeed; it is not redelivered.
	termMsg
)

var fateActionNames = [...]string{"ack", "retry", "term"}

func (a fateAction) String() string { return fateActionNames[a] }

// fate is what becomes of one message, decided once (operationFate for an
// operation, the settle step for a purge job, intake for a refused
// message) and carried out by the completer.
type fate struct {
	do    fateAction
	delay time.Duration // retryMsg: the redelivery delay
	// event, when its State is set, is published for the job before the
	// message is acted on.
	event jobs.StatusEvent
	// invalid reports event durably on the invalid subject too: a message
	// refused at intake (queue.Screen).
	invalid bool
	// keep stores what must survive the ack (the job's record), after the
	// event is published so that the tracker's final event comes after it.
	keep func()
	// note, when set, is logged at level with attrs.
	note  string
	level slog.Level
	attrs []any
}

// completer is the one step that acts on a message: it publishes the
// job's event, stores what must outlive the message, then acknowledges,
// hands back with a delay, or terminates. Nothing else in the worker acks,
// naks or terms a message.
type completer struct {
	status StatusPublisher // may be nil
	// report publishes an invalid message's event durably (on the invalid
	// subject and the job's status subject); nil reports nothing.
	report  func(ctx context.Context, ev jobs.StatusEvent)
	metrics *Metrics
	log     *slog.Logger
}

// apply carries out f on msg.
func (c *completer) apply(ctx context.Context, msg message, f fate) {
	if f.event.State != "" {
		switch {
		case f.invalid:
			if c.report != nil {
				c.report(ctx, f.event)
			}
			c.metrics.invalid()
		case c.status != nil:
			c.status.PublishStatus(f.event)
		}
	}
	if f.keep != nil {
		f.keep()
	}
	if f.note != "" {
		c.log.Log(ctx, f.level, f.note, f.attrs...)
	}
	var err error
	switch f.do {
	case ackMsg:
		err = msg.Ack()
	case retryMsg:
		err = msg.NakWithDelay(f.delay)
	case termMsg:
		// Term, not TermWithReason: nats-server 2.9 takes "+TERM <reason>"
		// for something else and redelivers the message. The reason is in
		// the event.
		err = msg.Term()
	}
	if err != nil {
		c.log.Warn("settle message; it may be redelivered", slog.String("job", f.event.JobID),
			slog.String("action", f.do.String()), slog.String("error", err.Error()))
	}
}

// refused ends a message intake's screen refused (queue.Screen): it is
// terminated and ev reports it on the invalid subject.
func (c *completer) refused(ctx context.Context, msg message, ev jobs.StatusEvent) {
	attrs := []any{slog.String("subject", msg.Subject()), slog.Uint64("seq", ev.Sequence), slog.String("reason", ev.Reason)}
	if ev.JobID != "" {
		attrs = append(attrs, slog.String("job", ev.JobID))
	}
	c.apply(ctx, msg, fate{do: termMsg, event: ev, invalid: true,
		note: "invalid job message terminated", level: slog.LevelWarn, attrs: attrs})
}
