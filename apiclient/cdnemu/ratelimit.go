package cdnemu

import (
	"math"
	"time"
)

// rateLimits enforces calls per second per action over a sliding one-second
// window on the emulator clock, and measures the busiest second each action
// saw from its callers.
type rateLimits struct {
	off      bool
	limit    map[string]int
	admitted map[string]*timeRing
	arrivals map[string]*arrivalWindow
}

func newRateLimits(overrides map[string]float64, off bool) rateLimits {
	rl := rateLimits{off: off, limit: map[string]int{}, admitted: map[string]*timeRing{}, arrivals: map[string]*arrivalWindow{}}
	set := func(action string, perSecond float64) {
		if perSecond <= 0 {
			delete(rl.limit, action)
			return
		}
		rl.limit[action] = int(math.Ceil(perSecond))
	}
	for a, n := range publishedRates {
		set(a, n)
	}
	for a, n := range overrides {
		set(a, n)
	}
	return rl
}

// admit reports whether one more call of action fits in the second ending
// at now, and counts it when it does.
func (rl *rateLimits) admit(action string, now time.Time) bool {
	n, limited := rl.limit[action]
	if rl.off || !limited {
		return true
	}
	r := rl.admitted[action]
	if r == nil {
		r = &timeRing{times: make([]int64, n)}
		rl.admitted[action] = r
	}
	t := now.UnixNano()
	// The ring holds the last n admitted calls; the oldest of them must
	// have left the window for a new one to fit.
	if r.full && t-r.times[r.next] < int64(time.Second) {
		return false
	}
	r.times[r.next] = t
	r.next++
	if r.next == len(r.times) {
		r.next, r.full = 0, true
	}
	return true
}

// observe counts an arriving call of action, refused or not, and keeps the
// largest number seen in any one-second window.
func (rl *rateLimits) observe(action string, now time.Time) {
	w := rl.arrivals[action]
	if w == nil {
		w = &arrivalWindow{}
		rl.arrivals[action] = w
	}
	t := now.UnixNano()
	for w.head < len(w.times) && t-w.times[w.head] >= int64(time.Second) {
		w.head++
	}
	if w.head > 1024 && w.head*2 > len(w.times) {
		w.times = append(w.times[:0], w.times[w.head:]...)
		w.head = 0
	}
	w.times = append(w.times, t)
	if n := len(w.times) - w.head; n > w.max {
		w.max = n
	}
}

func (rl *rateLimits) maxPerSecond(action string) int {
	if w := rl.arrivals[action]; w != nil {
		return w.max
	}
	return 0
}

// timeRing is a ring of the last len(times) admission times.
type timeRing struct {
	times []int64
	next  int
	full  bool
}

// arrivalWindow is a queue of the arrival times within the last second.
type arrivalWindow struct {
	times []int64
	head  int
	max   int
}
