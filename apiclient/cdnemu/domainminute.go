package cdnemu

import (
	"strconv"
	"time"
)

// domainMinutes counts one product's refreshed URLs per domain in the
// current calendar minute of the emulator clock, for the API's limit of
// URLs per domain per minute (Options.DomainURLsPerMinute,
// Options.DCDNDomainURLsPerMinute). Guarded by Emulator.mu.
type domainMinutes struct {
	limit  int
	minute int64
	used   map[string]int
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
	counts := map[string]int{}
	for _, p := range paths {
		name := pathHost(p)
		if dom := acct.byHost(name); dom != nil {
			name = dom.name
		}
		counts[name]++
	}
	for name, n := range counts {
		if d.used[name]+n > d.limit {
			return fail("QuotaPerMinuteExceeded.Refresh", "The domain "+name+" may refresh "+strconv.Itoa(d.limit)+
				" URLs a minute; "+strconv.Itoa(d.used[name])+" were refreshed this minute and the request adds "+strconv.Itoa(n)+".")
		}
	}
	for name, n := range counts {
		d.used[name] += n
	}
	return nil
}
