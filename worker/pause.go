package worker

import (
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/redact"
)

// pause holds the time until which submissions are stopped, and tells
// changed (the paused metric) when it starts and when it is over.
type pause struct {
	// now is the worker's clock (Deps.Now); time.Now when nil.
	now     func() time.Time
	mu      sync.Mutex
	until   time.Time
	reason  string
	on      bool
	changed func(on bool)
}

// set pauses until then; reason is kept scrubbed (redact.Text), as jobs
// list, quota and the control bucket show it.
func (p *pause) set(until time.Time, reason string) {
	reason = redact.Text(reason)
	p.mu.Lock()
	defer p.mu.Unlock()
	if until.After(p.until) {
		p.until, p.reason = until, reason
	}
	p.note(p.clock())
}

func (p *pause) clock() time.Time {
	if p.now == nil {
		return time.Now()
	}
	return p.now()
}

func (p *pause) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.until, p.reason = time.Time{}, ""
	p.note(p.clock())
}

func (p *pause) get() (time.Time, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.note(p.clock())
	return p.until, p.reason
}

// note reports a change of state; callers hold p.mu.
func (p *pause) note(now time.Time) {
	on := now.Before(p.until)
	if on != p.on {
		p.on = on
		if p.changed != nil {
			p.changed(on)
		}
	}
}
