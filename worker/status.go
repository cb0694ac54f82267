package worker

import (
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/cdnpurge/cdnpurge/redact"
)

// natsStatus publishes status events on each job's status subject
// (core NATS: a status event is a notice, the job itself is in the stream).
type natsStatus struct {
	conn     *nats.Conn
	subjects jobs.Subjects
	now      func() time.Time
	log      *slog.Logger
}

// scrubEvent passes the event's free text through redact.Text: status
// subjects are readable by producers, and a reason may quote an error.
func scrubEvent(ev jobs.StatusEvent) jobs.StatusEvent {
	ev.Reason = redact.Text(ev.Reason)
	if len(ev.Problems) > 0 {
		ps := make([]jobs.Problem, len(ev.Problems))
		for i, pr := range ev.Problems {
			pr.Reason = redact.Text(pr.Reason)
			ps[i] = pr
		}
		ev.Problems = ps
	}
	return ev
}

// PublishStatus publishes ev on the status subject of ev.JobID, stamped
// with the time when it has none. A job ID that cannot be a subject token
// gets no events (its publisher was told at intake).
func (p *natsStatus) PublishStatus(ev jobs.StatusEvent) {
	if ev.Time.IsZero() {
		ev.Time = p.now()
	}
	if !jobs.ValidToken(ev.JobID) || p.conn == nil {
		return
	}
	b, err := json.Marshal(scrubEvent(ev))
	if err != nil {
		return
	}
	subject := p.subjects.Status(ev.JobID)
	if err := p.conn.Publish(subject, b); err != nil {
		p.log.Debug("publish status event", slog.String("subject", subject), slog.String("error", err.Error()))
	}
}
