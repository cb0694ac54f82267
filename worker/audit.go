package worker

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
)

// StateOperator is the state of a status event that records an operator's
// action (pause, resume, retry) and changes no job's state.
const StateOperator jobs.State = "operator"

// AuditToken is the status subject token of operator actions that concern
// no single job (pause, resume): <prefix>.status.operator.
const AuditToken = "operator"

// Operator actions, as status events and log lines name them.
const (
	ActionPause  = "pause"
	ActionResume = "resume"
	ActionCancel = "cancel"
	ActionRetry  = "retry"
)

// ActionEvent is the status event of an operator's action on job (""
// for a pause or resume).
func ActionEvent(action, job, reason, by string, until time.Time) jobs.StatusEvent {
	st := StateOperator
	if action == ActionCancel {
		st = StateCancelled
	}
	return jobs.StatusEvent{JobID: job, State: st, Time: time.Now(), Action: action, By: by, Reason: reason, Until: until}
}

// ActionEventArgs name the parts of an action's event.
type ActionEventArgs struct {
	Action, Job, Reason, By string
	Until                   time.Time
}

// Publisher is what PublishAction publishes with (*nats.Conn).
type Publisher interface {
	Publish(subject string, data []byte) error
	Flush() error
}

// PublishAction publishes the status event of an operator's action.
func PublishAction(nc Publisher, s jobs.Subjects, ev jobs.StatusEvent) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := nc.Publish(AuditSubject(s, ev), b); err != nil {
		return err
	}
	return nc.Flush()
}

// AuditSubject is the subject the event of an action is published on.
func AuditSubject(s jobs.Subjects, ev jobs.StatusEvent) string {
	if ev.JobID == "" {
		return s.Status(AuditToken)
	}
	return s.Status(ev.JobID)
}

// logAction writes the serve log line of an operator's action.
func logAction(log *slog.Logger, ev jobs.StatusEvent) {
	attrs := []any{slog.String("action", ev.Action), slog.String("by", ev.By), slog.String("reason", ev.Reason)}
	if ev.JobID != "" {
		attrs = append(attrs, slog.String("job", ev.JobID))
	} else {
		attrs = append(attrs, slog.String("pause", "all submissions"))
	}
	if !ev.Until.IsZero() {
		attrs = append(attrs, slog.Time("until", ev.Until))
	}
	log.Info("operator action", attrs...)
}
