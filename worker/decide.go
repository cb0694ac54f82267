package worker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/jobs"
)

// Verdict is what an API error means for the request that got it: a purge
// batch, an operation, or a call of `cdnpurge purge --direct`. Decide is
// the one place that maps errors to verdicts; the submitter, the operation
// runner and the CLI act on the verdict.
type Verdict int

// The verdicts.
const (
	// RetryLater: the API did not take the request (unreachable, busy,
	// throttled past the retry policy): send it again after a delay.
	RetryLater Verdict = iota
	// Unrecognised: an error nothing here knows. A purge batch is tried
	// again later (nothing says its paths are bad); an operation is
	// refused, because a change is never retried blind.
	Unrecognised
	// NextMinute: the per-domain URLs-per-minute limit; the domain may
	// refresh again when the oldest URL of its last 60 s leaves the
	// window (the name is kept for the metric label).
	NextMinute
	// QuotaSpent: the API says the daily quota is spent although the
	// mirror granted it: re-sync the mirror and hand back with a delay.
	QuotaSpent
	// DomainStopped: a domain is offline or being changed; its paths wait
	// with a per-domain backoff, the other domains of the call go on.
	DomainStopped
	// DomainUnknown: a domain is not on the account
	// (InvalidDomain.NotFound): its paths are rejected, the other domains
	// of the call go on.
	DomainUnknown
	// Refused: the request itself is bad (a path, a parameter, too big):
	// it can never succeed as sent. A batch is split to find the refused
	// paths.
	Refused
	// PauseAccount: the account or the credentials need attention; every
	// submission pauses.
	PauseAccount
)

var verdictNames = [...]string{"retry_later", "unrecognised", "next_minute", "quota_spent",
	"domain_stopped", "domain_unknown", "refused", "pause_account"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Decide maps an API error to its verdict, from its apiclient class and
// code (the error codes of the RefreshObjectCaches, PushObjectCache and
// DCDN API reference pages, as apiclient classifies them).
func Decide(err error) Verdict {
	switch apiclient.Classify(err) {
	case apiclient.ClassQuota:
		if apiclient.IsPerMinuteQuota(err) {
			return NextMinute
		}
		return QuotaSpent
	case apiclient.ClassDomainDown, apiclient.ClassBusy:
		return DomainStopped
	case apiclient.ClassBadInput, apiclient.ClassTooBig:
		if apiclient.DomainNotFound(err) {
			return DomainUnknown
		}
		return Refused
	case apiclient.ClassAccount, apiclient.ClassCredentials:
		return PauseAccount
	case apiclient.ClassUnknown:
		return Unrecognised
	}
	return RetryLater
}

// splitHow is how a refused batch is cut to find what the API refused.
type splitHow int

const (
	noSplit       splitHow = iota
	splitByDomain          // one stopped or unknown domain refuses the whole call
	splitHalves            // one bad path refuses the whole call
)

// failedCall is a purge batch's call that the API refused or that failed,
// with what deciding its fate needs to know about the batch.
type failedCall struct {
	err     error
	product apiclient.Product
	paths   int
	domains int
	// domain and path are the batch's first entry's.
	domain, path string
	now          time.Time
	// stopping is set when the worker is shutting down.
	stopping bool
	cfg      Config
	// domainDelay returns the next wait of a stopped domain (a backoff
	// per domain: asking takes a step).
	domainDelay func(domain string) time.Duration
}

// callFate is what a failed call means for its batch.
type callFate struct {
	verdict Verdict
	// split, when set, sends the batch again in parts; outcome is unused.
	split splitHow
	// outcome is what the batch's paths become (rejected or deferred).
	outcome outcome
	// pauseUntil, when set, pauses every submission until then.
	pauseUntil time.Time
	// resync re-reads the target's quota from the API.
	resync bool
	// note is logged at level with attrs.
	note  string
	level slog.Level
	attrs []any
}

// decideCall is the one mapping from a failed call (its verdict, Decide,
// and the batch) to what happens to the batch's paths.
func decideCall(c failedCall) callFate {
	v := Decide(c.err)
	code := apiclient.Code(c.err)
	f := callFate{verdict: v}
	deferTo := func(until time.Time, reason string) {
		f.outcome = outcome{kind: deferred, until: until, reason: reason}
	}
	// recheckAt defers to a time that is not the end of the reason (an API
	// down, a stopped domain: nobody knows when they end), only when the
	// paths are looked at again; the reason names it as such.
	recheckAt := func(at time.Time, reason string) {
		f.outcome = outcome{kind: deferred, recheck: at, reason: reason}
	}
	switch v {
	case NextMinute:
		// The per-domain per-minute URL limit, not the daily quota: the
		// mirror is right, and the domain may refresh again when the
		// oldest URL of its last 60 s leaves the window, which the domain
		// pacer knows (apiclient.DomainWindowError); without it, a whole
		// window from now. Other domains' batches go on.
		until := c.now.Add(time.Minute + time.Second)
		if w := (*apiclient.DomainWindowError)(nil); errors.As(c.err, &w) && w.Until.After(c.now) {
			until = w.Until
		}
		f.note, f.level, f.attrs = "the domain reached the API's URLs-per-minute limit; its paths wait for its 60 s window", slog.LevelInfo, []any{slog.Time("until", until)}
		deferTo(until, fmt.Sprintf("the API's limit of URLs per minute per domain was reached (%s); waiting until the domain's 60 s window has room", code))
	case QuotaSpent:
		// Handed back with a delay, not sent straight to the gate again:
		// a full prefetch queue is not in the mirror, and an immediate
		// retry would loop against the API.
		f.note, f.level = "the API says the quota is spent although the mirror granted it; re-syncing the mirror", slog.LevelWarn
		f.resync = true
		deferTo(c.now.Add(c.cfg.RetryDelay), c.err.Error())
	case DomainStopped:
		if c.domains > 1 {
			// One stopped domain refuses the whole call: send each domain
			// on its own, so the others land now.
			f.note, f.level, f.split = "a domain of the batch is stopped or being changed; sending each domain on its own", slog.LevelInfo, splitByDomain
			break
		}
		delay := c.domainDelay(c.domain)
		f.note, f.level, f.attrs = "domain not serving refreshes now; its paths wait", slog.LevelWarn, []any{slog.String("domain", c.domain), slog.Duration("delay", delay)}
		recheckAt(c.now.Add(delay), fmt.Sprintf("domain %s is stopped or being changed (%s); rechecked in %s", c.domain, code, delay))
	case DomainUnknown:
		if c.domains > 1 {
			f.split = splitByDomain
			break
		}
		f.note, f.level, f.attrs = "a domain is not on this account; rejecting its paths", slog.LevelWarn, []any{slog.String("domain", c.domain)}
		f.outcome = outcome{kind: rejected, reason: fmt.Sprintf(
			"domain %s is not on this %s account (InvalidDomain.NotFound): add it to the account, set its product in domains, or remove it from domains: %s",
			c.domain, productName(c.product), c.err)}
	case Refused:
		if c.paths > 1 {
			// One bad path refuses the whole call: split to find it, so
			// the good paths of the batch still go.
			f.note, f.level, f.split = "the API refused a batch; splitting it to find the refused paths", slog.LevelInfo, splitHalves
			break
		}
		f.note, f.level, f.attrs = "the API refused a path", slog.LevelWarn, []any{slog.String("path", c.path)}
		f.outcome = outcome{kind: rejected, reason: c.err.Error()}
	case PauseAccount:
		f.pauseUntil = c.now.Add(c.cfg.PauseFor)
		f.note, f.level, f.attrs = "pausing submissions: the account or credentials need attention", slog.LevelError, []any{slog.Time("until", f.pauseUntil)}
		deferTo(f.pauseUntil, c.err.Error())
	default: // RetryLater, Unrecognised
		if c.stopping {
			deferTo(c.now.Add(time.Second), "worker stopping")
			break
		}
		f.note, f.level, f.attrs = "the API did not take the batch; its jobs will be redelivered", slog.LevelWarn, []any{slog.Duration("delay", c.cfg.RetryDelay)}
		recheckAt(c.now.Add(c.cfg.RetryDelay), fmt.Sprintf("%s; rechecked in %s", c.err, c.cfg.RetryDelay))
	}
	return f
}

// operationFate is the one mapping from an operation job's run (err, nil
// when it ran) to what becomes of its message: acknowledged when it ran,
// terminated when it can never run as configured (a change is never
// retried blind), handed back otherwise. It returns the metric outcome
// too, and when to pause submissions until (zero: no pause).
func operationFate(j *jobs.Job, err error, cfg Config, now time.Time) (f fate, result string, pauseUntil time.Time) {
	attrs := []any{slog.String("job", j.ID), slog.String("action", j.Operation.Action), slog.String("schedule", j.Operation.Schedule)}
	if err == nil {
		return fate{do: ackMsg, event: jobs.StatusEvent{JobID: j.ID, State: jobs.StateComplete},
			note: "operation done", level: slog.LevelInfo, attrs: attrs}, "ok", time.Time{}
	}
	attrs = append(attrs, slog.String("error", err.Error()))
	switch Decide(err) {
	case Refused, DomainUnknown, Unrecognised:
		return fate{do: termMsg, event: jobs.StatusEvent{JobID: j.ID, State: jobs.StateRejected, Reason: err.Error()},
			note: "operation refused; it will not be retried", level: slog.LevelError, attrs: attrs}, "rejected", time.Time{}
	case PauseAccount:
		until := now.Add(cfg.PauseFor)
		return fate{do: retryMsg, delay: cfg.PauseFor, event: jobs.StatusEvent{JobID: j.ID, State: jobs.StateDeferred, Reason: err.Error(), Until: until},
			note: "operation deferred: the account or credentials need attention", level: slog.LevelError, attrs: attrs}, "deferred", until
	}
	return fate{do: retryMsg, delay: cfg.RetryDelay, event: jobs.StatusEvent{JobID: j.ID, State: jobs.StateDeferred, Reason: err.Error(), Until: now.Add(cfg.RetryDelay)},
		note: "operation failed; retrying later", level: slog.LevelWarn, attrs: attrs}, "retry", time.Time{}
}
