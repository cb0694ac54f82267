package worker

import (
	"github.com/cdnpurge/cdnpurge/apiclient"
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
	// refresh again when the next minute starts.
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
