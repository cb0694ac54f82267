package worker

import (
	"sync"
	"time"

	"github.com/cdnpurge/cdnpurge/redact"
)

// pause holds the time until which submissions are stopped, and tells
// changed (the paused metric) when it starts and when it is over.
type pause struct {
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
	p.note(time.Now())
}

func (p *pause) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.until, p.reason = time.Time{}, ""
	p.note(time.Now())
}

func (p *pause) get() (time.Time, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.note(time.Now())
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
