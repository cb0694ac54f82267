package jobs

import (
	"fmt"
	"strings"
)

// DefaultSubjectPrefix is the subject prefix used when none is configured.
const DefaultSubjectPrefix = "cdn"

// InvalidToken is the last subject token of the invalid-message report
// subject; job IDs may not take this value.
const InvalidToken = "invalid"

// Subjects builds every NATS subject cdnpurge uses from one prefix, so no
// other code joins subject strings itself.
type Subjects struct {
	prefix string
}

// NewSubjects returns the subject scheme under prefix ("" means
// DefaultSubjectPrefix). The prefix is one or more dot-separated tokens
// without wildcards or spaces.
func NewSubjects(prefix string) (Subjects, error) {
	if prefix == "" {
		prefix = DefaultSubjectPrefix
	}
	for _, tok := range strings.Split(prefix, ".") {
		if !validToken(tok) {
			return Subjects{}, fmt.Errorf("subject prefix %q: token %q must be letters, digits, '-' or '_' (no wildcards, spaces or empty tokens)", prefix, tok)
		}
	}
	return Subjects{prefix: prefix}, nil
}

// Prefix returns the configured prefix.
func (s Subjects) Prefix() string { return s.p() }

func (s Subjects) p() string {
	if s.prefix == "" {
		return DefaultSubjectPrefix
	}
	return s.prefix
}

// Refresh is the subject refresh jobs are published on: <prefix>.purge.refresh.
func (s Subjects) Refresh() string { return s.p() + ".purge.refresh" }

// Push is the subject push (prefetch) jobs are published on: <prefix>.purge.push.
func (s Subjects) Push() string { return s.p() + ".purge.push" }

// HighToken is the last token of the subjects of high-priority purge
// jobs; see Urgent.
const HighToken = "high"

// RefreshHigh is the subject high-priority refresh jobs are published on:
// <prefix>.purge.refresh.high. It belongs to the urgent stream
// (UrgentStreamName), which the worker pulls before the work stream, so a
// high-priority job goes ahead of the whole backlog (docs/wire-format.md).
func (s Subjects) RefreshHigh() string { return s.Refresh() + "." + HighToken }

// PushHigh is the subject high-priority push jobs are published on:
// <prefix>.purge.push.high.
func (s Subjects) PushHigh() string { return s.Push() + "." + HighToken }

// Urgent lists the subjects of the urgent stream.
func (s Subjects) Urgent() []string { return []string{s.RefreshHigh(), s.PushHigh()} }

// Op is the subject of operation jobs named name: <prefix>.ops.<name>.
// name must be a valid subject token (see ValidToken).
func (s Subjects) Op(name string) string { return s.p() + ".ops." + name }

// OpsAll matches every operation subject: <prefix>.ops.>.
func (s Subjects) OpsAll() string { return s.p() + ".ops.>" }

// Sched is the subject the scheduler publishes the ticks of schedule name
// on: <prefix>.sched.<name>. Only the scheduler may publish there (see
// docs/security.md); the ticks have a stream of their own so that no
// producer can take a tick's message ID in the same dedupe window.
func (s Subjects) Sched(name string) string { return s.p() + ".sched." + name }

// SchedAll matches every tick subject: <prefix>.sched.>.
func (s Subjects) SchedAll() string { return s.p() + ".sched.>" }

// SchedName returns the schedule name of a tick subject, or false when
// subject is not one.
func (s Subjects) SchedName(subject string) (string, bool) {
	name, ok := strings.CutPrefix(subject, s.p()+".sched.")
	if !ok || !validToken(name) {
		return "", false
	}
	return name, true
}

// Work lists the subjects of the work stream, usable as stream subjects or
// consumer filter subjects.
func (s Subjects) Work() []string { return []string{s.Refresh(), s.Push(), s.OpsAll()} }

// Status is the subject the worker publishes the outcome of job jobID on:
// <prefix>.status.<jobID>.
func (s Subjects) Status(jobID string) string { return s.p() + ".status." + jobID }

// StatusAll matches every status subject, including Invalid: <prefix>.status.>.
func (s Subjects) StatusAll() string { return s.p() + ".status.>" }

// Invalid is the subject messages that failed validation are reported on:
// <prefix>.status.invalid.
func (s Subjects) Invalid() string { return s.Status(InvalidToken) }

// KindOf returns the job kind a work subject implies, or "" when subject is
// not one of the work subjects.
func (s Subjects) KindOf(subject string) Kind {
	switch {
	case subject == s.Refresh(), subject == s.RefreshHigh():
		return KindRefresh
	case subject == s.Push(), subject == s.PushHigh():
		return KindPush
	case strings.HasPrefix(subject, s.p()+".ops.") && validToken(strings.TrimPrefix(subject, s.p()+".ops.")):
		return KindOperation
	}
	return ""
}

// Subject returns the work subject j belongs on. A high-priority refresh
// or push job goes to RefreshHigh or PushHigh (the urgent stream), every
// other to Refresh or Push. Operation jobs go to Op(OpName()).
func (s Subjects) Subject(j *Job) (string, error) {
	switch j.Kind {
	case KindRefresh:
		if j.Priority == PriorityHigh {
			return s.RefreshHigh(), nil
		}
		return s.Refresh(), nil
	case KindPush:
		if j.Priority == PriorityHigh {
			return s.PushHigh(), nil
		}
		return s.Push(), nil
	case KindOperation:
		name := j.OpName()
		if !validToken(name) {
			return "", fmt.Errorf("operation job %s: name %q is not a valid subject token; use letters, digits, '-' or '_'", j.ID, name)
		}
		return s.Op(name), nil
	}
	return "", fmt.Errorf("job %s: unknown kind %q; want refresh, push or operation", j.ID, j.Kind)
}

// ValidToken reports whether tok can be used as one NATS subject token by
// cdnpurge: 1-64 letters, digits, '-' or '_'.
func ValidToken(tok string) bool { return validToken(tok) }

func validToken(tok string) bool {
	if tok == "" || len(tok) > 64 {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
