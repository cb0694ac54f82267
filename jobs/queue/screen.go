package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/cdnpurge/cdnpurge/jobs"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrInvalidMessage marks a message Screen refused and already terminated:
// the consumer must not ack, nak or retry it.
var ErrInvalidMessage = errors.New("invalid job message terminated")

// Counter is what Screen counts invalid messages with; a
// prometheus.Counter satisfies it.
type Counter interface{ Inc() }

// ScreenConfig configures a Screen.
type ScreenConfig struct {
	Validator *jobs.Validator
	Subjects  jobs.Subjects
	// JetStream publishes invalid reports so they land in the status stream.
	JetStream jetstream.JetStream
	// Invalid counts terminated messages; nil counts nothing.
	Invalid Counter
	Logger  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Refused, when set, is handed each message Screen refuses with the
	// invalid event that reports it, and does the rest: terminate the
	// message and report the event (ReportInvalid). The worker's
	// completer is the one place that acts on messages. When nil, Screen
	// terminates and reports the message itself.
	Refused func(ctx context.Context, msg jetstream.Msg, ev jobs.StatusEvent)
}

// Screen puts every message the worker fetches from the work stream
// through the same decoding and validation the webhooks use, because
// anything (a plain `nats pub`) may publish there. A bad message is
// terminated, never redelivered, and reported on Subjects.Invalid() (and on
// Subjects.Status(id) when it carried a usable ID) with the reason.
type Screen struct {
	cfg ScreenConfig
}

// NewScreen returns a Screen.
func NewScreen(cfg ScreenConfig) (*Screen, error) {
	if cfg.Validator == nil || cfg.JetStream == nil {
		return nil, errors.New("screen needs a Validator and a JetStream context to report invalid messages")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Screen{cfg: cfg}, nil
}

// Check decodes and validates msg and returns its job with paths
// normalised. Missing fields are filled: the kind from the subject, the ID
// from Nats-Msg-Id (or the stream sequence), the source ("nats:<subject>")
// and the time received (the stream's timestamp). When the message is
// invalid Check terminates it, reports it and returns an error wrapping
// ErrInvalidMessage.
func (s *Screen) Check(ctx context.Context, msg jetstream.Msg) (*jobs.Job, error) {
	subject := msg.Subject()
	meta, _ := msg.Metadata()
	want := s.cfg.Subjects.KindOf(subject)
	j, err := jobs.DecodeKind(msg.Data(), want)
	if err != nil {
		// A path that is not UTF-8 is named with its index; the message is
		// terminated as it came, never rewritten.
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			return nil, s.refuse(ctx, msg, meta, ve.JobID, err.Error(), ve.Problems)
		}
		return nil, s.refuse(ctx, msg, meta, "", err.Error(), nil)
	}
	if want != "" && j.Kind != want {
		return nil, s.refuse(ctx, msg, meta, j.ID, fmt.Sprintf("kind %q published on %s, which takes %q jobs; publish it on the subject of its kind", j.Kind, subject, want), nil)
	}
	if j.ID == "" {
		j.ID = messageID(msg, meta)
	}
	var received time.Time
	if meta != nil {
		received = meta.Timestamp
	}
	if received.IsZero() {
		received = s.cfg.Now()
	}
	j.Prepare("nats:"+subject, received)
	if err := s.cfg.Validator.Validate(j); err != nil {
		var ve *jobs.ValidationError
		if errors.As(err, &ve) {
			return nil, s.refuse(ctx, msg, meta, j.ID, err.Error(), ve.Problems)
		}
		return nil, s.refuse(ctx, msg, meta, j.ID, err.Error(), nil)
	}
	if j.Kind == jobs.KindOperation {
		if op := s.cfg.Subjects.Op(j.OpName()); want == jobs.KindOperation && op != subject {
			return nil, s.refuse(ctx, msg, meta, j.ID, fmt.Sprintf("operation %q published on %s; publish it on %s", j.OpName(), subject, op), nil)
		}
	}
	return j, nil
}

// CheckTick decodes a message of the tick stream. A malformed one is
// terminated and reported, and the error wraps ErrInvalidMessage. Whether
// the tick is one of a configured schedule is the caller's to decide.
func (s *Screen) CheckTick(ctx context.Context, msg jetstream.Msg) (jobs.Tick, error) {
	t, err := jobs.DecodeTick(msg.Data())
	if err != nil {
		meta, _ := msg.Metadata()
		return jobs.Tick{}, s.refuse(ctx, msg, meta, "", err.Error(), nil)
	}
	if name, ok := s.cfg.Subjects.SchedName(msg.Subject()); !ok || name != t.Schedule {
		meta, _ := msg.Metadata()
		return jobs.Tick{}, s.refuse(ctx, msg, meta, "", fmt.Sprintf("tick of schedule %q published on %s; ticks go on %s", t.Schedule, msg.Subject(), s.cfg.Subjects.Sched(t.Schedule)), nil)
	}
	return t, nil
}

// Refuse terminates msg and reports it with reason on Subjects.Invalid()
// (and on Subjects.Status(jobID) when jobID is usable), as Check does for
// a message that fails validation. The error wraps ErrInvalidMessage.
func (s *Screen) Refuse(ctx context.Context, msg jetstream.Msg, jobID, reason string) error {
	meta, _ := msg.Metadata()
	return s.refuse(ctx, msg, meta, jobID, reason, nil)
}

// ReportInvalid publishes ev, the report of a refused message, on
// Subjects.Invalid() and, when ev.JobID is usable, on the job's status
// subject, through JetStream so that it lands in the status stream.
func (s *Screen) ReportInvalid(ctx context.Context, ev jobs.StatusEvent) {
	data, err := json.Marshal(ev)
	if err != nil {
		return
	}
	subjects := []string{s.cfg.Subjects.Invalid()}
	if ev.JobID != "" && jobs.ValidToken(ev.JobID) && ev.JobID != jobs.InvalidToken {
		subjects = append(subjects, s.cfg.Subjects.Status(ev.JobID))
	}
	for _, subj := range subjects {
		if _, err := s.cfg.JetStream.Publish(ctx, subj, data); err != nil {
			s.cfg.Logger.Error("report invalid job message", slog.String("subject", subj), slog.String("error", err.Error()))
		}
	}
}

// messageID derives a job ID for a message published without one.
func messageID(msg jetstream.Msg, meta *jetstream.MsgMetadata) string {
	if h := msg.Headers(); h != nil {
		if id := h.Get(jetstream.MsgIDHeader); id != "" {
			if jobs.ValidToken(id) && id != jobs.InvalidToken {
				return id
			}
			return jobs.IDFromKey(id)
		}
	}
	if meta != nil {
		return jobs.IDFromKey(meta.Stream + ":" + strconv.FormatUint(meta.Sequence.Stream, 10))
	}
	return jobs.NewID()
}

// maxReason bounds the reason of an invalid report, in bytes.
const maxReason = 1 << 10

// refuse reports and terminates msg. Termination happens even when the
// report fails: a message that can never succeed must not loop.
func (s *Screen) refuse(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, jobID, reason string, problems []jobs.Problem) error {
	// The reason may quote the message (an unknown field's name, a path);
	// a hostile one must not blow up the log or the report.
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "... (truncated)"
	}
	ev := jobs.StatusEvent{JobID: jobID, State: jobs.StateInvalid, Time: s.cfg.Now().UTC(), Reason: reason, Problems: problems, Subject: msg.Subject()}
	if meta != nil {
		ev.Stream, ev.Sequence = meta.Stream, meta.Sequence.Stream
	}
	if s.cfg.Refused != nil {
		s.cfg.Refused(ctx, msg, ev)
		return fmt.Errorf("%w: %s", ErrInvalidMessage, reason)
	}
	attrs := []any{slog.String("subject", msg.Subject()), slog.Uint64("seq", ev.Sequence), slog.String("reason", reason)}
	if jobID != "" {
		attrs = append(attrs, slog.String("job", jobID))
	}
	s.cfg.Logger.Warn("invalid job message terminated", attrs...)
	s.ReportInvalid(ctx, ev)
	if s.cfg.Invalid != nil {
		s.cfg.Invalid.Inc()
	}
	// Term, not TermWithReason: nats-server 2.9 takes "+TERM <reason>" for
	// something else and redelivers the message. The reason is in the
	// report above.
	if err := msg.Term(); err != nil {
		return fmt.Errorf("%w: %s (terminating it failed: %w)", ErrInvalidMessage, reason, err)
	}
	return fmt.Errorf("%w: %s", ErrInvalidMessage, reason)
}
