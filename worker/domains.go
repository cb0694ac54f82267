package worker

import (
	"sync"
	"time"
)

// domainBackoff spaces the retries of a domain that is stopped or being
// changed: each hand-back in a row waits twice as long as the one before,
// up to a cap, and an accepted call of the domain starts it over.
type domainBackoff struct {
	mu    sync.Mutex
	fails map[string]int
}

func newDomainBackoff() *domainBackoff { return &domainBackoff{fails: map[string]int{}} }

// next counts one more refusal of domain and returns how long to wait.
func (d *domainBackoff) next(domain string, base, ceiling time.Duration) time.Duration {
	d.mu.Lock()
	n := d.fails[domain]
	d.fails[domain] = n + 1
	d.mu.Unlock()
	delay := base
	for range min(n, 16) {
		delay *= 2
		if delay >= ceiling {
			return ceiling
		}
	}
	return min(delay, ceiling)
}

// ok forgets the refusals of the domains of b.
func (d *domainBackoff) ok(b *batch) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.fails) == 0 {
		return
	}
	for dom := range b.domains {
		delete(d.fails, dom)
	}
}

// byDomain splits b into one batch per domain, in the order domains first
// appear, so that a domain the API refuses holds up no other.
func (b *batch) byDomain() []*batch {
	var out []*batch
	idx := map[string]*batch{}
	for _, e := range b.entries {
		p, ok := idx[e.domain]
		if !ok {
			p = newBatch(b.Key, b.opened)
			idx[e.domain] = p
			out = append(out, p)
		}
		p.add(e)
	}
	return out
}
