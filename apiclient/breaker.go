package apiclient

import (
	"fmt"
	"sync"
	"time"
)

// BreakerPolicy stops calls for a while once the API has failed many times
// in a row with server errors or no answer at all: during an outage every
// caller would otherwise keep retrying on its own.
type BreakerPolicy struct {
	// Threshold is how many such failures in a row open the breaker;
	// default 10, negative turns the breaker off.
	Threshold int `yaml:"threshold" json:"threshold"`
	// Cooldown is how long it stays open the first time; default 5s. It
	// doubles each time a probe after the cooldown fails, up to
	// MaxCooldown (default 30s), and resets on a success.
	Cooldown    time.Duration `yaml:"cooldown" json:"cooldown"`
	MaxCooldown time.Duration `yaml:"max_cooldown" json:"max_cooldown"`
}

// WithDefaults fills zero fields with their defaults.
func (p BreakerPolicy) WithDefaults() BreakerPolicy {
	if p.Threshold == 0 {
		p.Threshold = 10
	}
	if p.Cooldown == 0 {
		p.Cooldown = 5 * time.Second
	}
	if p.MaxCooldown == 0 {
		p.MaxCooldown = 30 * time.Second
	}
	return p
}

// circuitOpenError is returned without calling the API while the breaker
// is open. Its class is retryable: try again after Until.
type circuitOpenError struct {
	// API is the product whose breaker is open: "CDN", "DCDN" or "STS".
	API    string
	Action string
	Until  time.Time
	// Failures is the run of failures that opened it.
	Failures int
}

// Error says why the call was not sent and when calls resume.
func (e *circuitOpenError) Error() string {
	api := e.API
	if api == "" {
		api = "CDN"
	}
	return fmt.Sprintf("%s: not sent: the %s API failed %d times in a row; calls resume after %s",
		e.Action, api, e.Failures, e.Until.UTC().Format(time.RFC3339))
}

// breaker counts server failures in a row across the calls of one API.
type breaker struct {
	p         BreakerPolicy
	mu        sync.Mutex
	failures  int
	openUntil time.Time
	cooldown  time.Duration
}

func newBreaker(p BreakerPolicy) *breaker {
	p = p.WithDefaults()
	if p.Cooldown < 0 || p.MaxCooldown < p.Cooldown {
		p.Threshold = -1
	}
	return &breaker{p: p, cooldown: p.Cooldown}
}

// check returns a circuitOpenError while the breaker is open.
func (b *breaker) check(api, action string, now time.Time) error {
	if b.p.Threshold < 0 {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Before(b.openUntil) {
		return &circuitOpenError{API: api, Action: action, Until: b.openUntil, Failures: b.failures}
	}
	return nil
}

// record notes the outcome of one attempt; it reports whether this attempt
// opened the breaker.
func (b *breaker) record(serverFailure bool, now time.Time) (opened bool, until time.Time) {
	if b.p.Threshold < 0 {
		return false, time.Time{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !serverFailure {
		b.failures = 0
		b.cooldown = b.p.Cooldown
		return false, time.Time{}
	}
	b.failures++
	if b.failures < b.p.Threshold || now.Before(b.openUntil) {
		return false, time.Time{}
	}
	b.openUntil = now.Add(b.cooldown)
	until = b.openUntil
	b.cooldown = min(2*b.cooldown, b.p.MaxCooldown)
	return true, until
}
