package apiclient

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
)

// Limiter paces calls of an action. Wait blocks until one call may go.
type Limiter interface {
	Wait(ctx context.Context, action string) error
}

// ActionLimiter keeps each action under its calls/s in this process.
type ActionLimiter struct {
	mu       sync.Mutex
	limits   map[string]float64
	share    float64
	limiters map[string]*rate.Limiter
}

// rateHeadroom is the part of a published calls/s limit used by default.
// A call paced exactly at the limit reaches the API a few milliseconds
// early or late, and any one-second window that catches 51 calls is
// throttled; a tenth of headroom keeps that from happening.
const rateHeadroom = 0.9

// effectiveRateLimits returns the calls/s to pace each action at:
// defaultRateLimits with a tenth of headroom, then overrides as given (a
// negative override turns the action's limit off).
func effectiveRateLimits(overrides map[string]float64) map[string]float64 {
	defaults := defaultRateLimits()
	limits := make(map[string]float64, len(defaults)+len(overrides))
	for k, v := range defaults {
		limits[k] = v * rateHeadroom
	}
	for k, v := range overrides {
		if v != 0 {
			limits[k] = v
		}
	}
	return limits
}

// NewActionLimiter returns a limiter at effectiveRateLimits(overrides),
// scaled by share (0 means 1), each action at actionRate.
func NewActionLimiter(overrides map[string]float64, share float64) *ActionLimiter {
	if share <= 0 || share > 1 {
		share = 1
	}
	return &ActionLimiter{limits: effectiveRateLimits(overrides), share: share, limiters: map[string]*rate.Limiter{}}
}

// Limit returns the calls/s this limiter allows for action; rate.Inf when off.
func (l *ActionLimiter) Limit(action string) rate.Limit {
	return l.get(action).Limit()
}

func (l *ActionLimiter) get(action string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.limiters[action]; ok {
		return lim
	}
	perSec := actionRate(l.limits, action)
	var lim *rate.Limiter
	if perSec < 0 {
		lim = rate.NewLimiter(rate.Inf, 1)
	} else {
		r := perSec * l.share
		// A burst of one keeps calls evenly spaced, so that no 1-second
		// window, however it is cut, sees more than the limit.
		lim = rate.NewLimiter(rate.Limit(r), 1)
	}
	l.limiters[action] = lim
	return lim
}

// Wait blocks until a call of action may be sent.
func (l *ActionLimiter) Wait(ctx context.Context, action string) error {
	return l.get(action).Wait(ctx)
}

// unknownActionRate is the calls/s of an action no limit is known for.
const unknownActionRate = 10

// actionRate returns the calls/s limits holds for action, and 10 for an
// action it does not name: the one place that paces an unknown action.
// A negative rate means no limit.
func actionRate(limits map[string]float64, action string) float64 {
	if perSec, ok := limits[action]; ok {
		return perSec
	}
	return unknownActionRate
}
