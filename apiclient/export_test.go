package apiclient

import "time"

// Backoffs returns the first n waits of one call's backoff under p (with
// its defaults), so a test checks the retry pacing without a clock.
func Backoffs(p RetryPolicy, n int) []time.Duration {
	b := p.WithDefaults().backoff()
	var out []time.Duration
	for range n {
		d, stop := b.Next()
		if stop {
			break
		}
		out = append(out, d)
	}
	return out
}

// Names the package keeps to itself, for its external tests.
type CircuitOpenError = circuitOpenError

const ObjectIgnoreParams = objectIgnoreParams

var (
	DefaultRateLimits = defaultRateLimits
	ActionRate        = actionRate
)
