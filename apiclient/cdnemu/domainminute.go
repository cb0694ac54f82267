package cdnemu

import (
	"strconv"
	"time"
)

// domainWindow is the span of the per-domain limit ("up to 1,000 URLs per
// minute per domain", RefreshObjectCaches in the CDN API reference).
const domainWindow = time.Minute

// domainMinutes counts one product's refreshed URLs per domain, for the
// API's limit of URLs per domain per minute (Options.DomainURLsPerMinute,
// Options.DCDNDomainURLsPerMinute): in the current calendar minute of the
// emulator clock, or over the last 60 seconds when sliding
// (Options.DomainWindowSliding). Guarded by Emulator.mu.
type domainMinutes struct {
	limit   int
	sliding bool
	minute  int64
	used    map[string]int
	// recent holds each domain's admitted calls of the last 60 s, oldest
	// first (sliding only).
	recent map[string][]windowEntry
}

type windowEntry struct {
	at time.Time
	n  int
}

// count is what domain has used in the window that holds now.
func (d *domainMinutes) count(name string, now time.Time) int {
	if !d.sliding {
		return d.used[name]
	}
	es := d.recent[name]
	for len(es) > 0 && !es[0].at.Add(domainWindow).After(now) {
		es = es[1:]
	}
	d.recent[name] = es
	n := 0
	for _, e := range es {
		n += e.n
	}
	return n
}

// admit counts the URLs of one URL refresh, per domain of acct, when
// every domain has room; otherwise it counts nothing and refuses the call,
// as the API does with QuotaPerMinuteExceeded.Refresh.
func (d *domainMinutes) admit(acct *account, paths []string, now time.Time) *answer {
	if d.limit <= 0 {
		return nil
	}
	if m := now.Unix() / 60; m != d.minute || d.used == nil {
		d.minute, d.used = m, map[string]int{}
	}
	if d.recent == nil {
		d.recent = map[string][]windowEntry{}
	}
	counts := map[string]int{}
	for _, p := range paths {
		name := pathHost(p)
		if dom := acct.byHost(name); dom != nil {
			name = dom.name
		}
		counts[name]++
	}
	span := "this minute"
	if d.sliding {
		span = "in the last 60 s"
	}
	for name, n := range counts {
		if used := d.count(name, now); used+n > d.limit {
			return fail("QuotaPerMinuteExceeded.Refresh", "The domain "+name+" may refresh "+strconv.Itoa(d.limit)+
				" URLs a minute; "+strconv.Itoa(used)+" were refreshed "+span+" and the request adds "+strconv.Itoa(n)+".")
		}
	}
	for name, n := range counts {
		d.used[name] += n
		if d.sliding {
			d.recent[name] = append(d.recent[name], windowEntry{at: now, n: n})
		}
	}
	return nil
}
