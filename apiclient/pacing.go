package apiclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// URLsPerDomainPerMinute is the API's limit on refreshed URLs per domain
// per minute ("RefreshObjectCaches" in the CDN API reference).
const URLsPerDomainPerMinute = 1000

// DCDNURLsPerDomainPerMinute is DCDN's limit on refreshed URLs per domain
// per minute. The pages disagree: "Dynamic Content Delivery
// Network:RefreshDcdnObjectCaches" and the October 2024 "Edge Security
// Acceleration:RefreshDcdnObjectCaches" say 1,000, the September 2025
// "Edge Security Acceleration:RefreshDcdnObjectCaches" says 10,000. The
// lower one cannot be refused; Options.DCDNDomainPacer takes a pacer with
// a higher limit for an account known to have it (docs/dcdn.md).
const DCDNURLsPerDomainPerMinute = 1000

// DomainPacer keeps refreshed URLs under the per-domain per-minute limit,
// shared by every replica of the account (quota.NewRedisDomainPacer) or
// local to one process (quota.NewMemoryDomainPacer).
type DomainPacer interface {
	// Take waits until n URLs of domain fit in the current minute and
	// counts them.
	Take(ctx context.Context, domain string, n int) error
	// Give returns n URLs that were taken for a call that did not land.
	Give(ctx context.Context, domain string, n int) error
	// Block counts domain as full for the rest of the minute, after the
	// API refused it for the per-minute limit.
	Block(ctx context.Context, domain string) error
}

// NoPacing is a DomainPacer that never waits: as Options.DCDNDomainPacer
// it turns DCDN's pacing off while CDN's DomainPacer stays on.
var NoPacing DomainPacer = noPacing{}

type noPacing struct{}

func (noPacing) Take(context.Context, string, int) error { return nil }
func (noPacing) Give(context.Context, string, int) error { return nil }
func (noPacing) Block(context.Context, string) error     { return nil }

// IsPerMinuteQuota reports the API's refusal for the per-minute limit: a
// quota error that frees within the minute, not a spent daily quota.
func IsPerMinuteQuota(err error) bool {
	return strings.HasPrefix(Code(err), "QuotaPerMinuteExceeded")
}

// PathDomain returns the lower-cased host a refresh path starts with
// ("https://Example.com:8080/a" and "example.com/a" give "example.com").
func PathDomain(p string) string {
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
	}
	if i := strings.IndexAny(p, "/?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, ':'); i >= 0 && !strings.Contains(p[i:], "]") {
		p = p[:i]
	}
	return strings.ToLower(p)
}

// domainCounts counts paths per domain, sorted by domain so that every
// caller takes domains in one order.
func domainCounts(paths []string) ([]string, map[string]int) {
	counts := map[string]int{}
	for _, p := range paths {
		counts[PathDomain(p)]++
	}
	names := make([]string, 0, len(counts))
	for d := range counts {
		names = append(names, d)
	}
	sort.Strings(names)
	return names, counts
}

// paceRefresh takes each domain's URLs from the pacer before a File
// refresh; it returns a function that settles them after the call: given
// back when the call did not land, the domains blocked for the minute when
// the API refused them for the per-minute limit.
func paceRefresh(ctx context.Context, pacer DomainPacer, action string, paths []string) (func(error), error) {
	names, counts := domainCounts(paths)
	taken := names[:0:0]
	giveBack := func() {
		for _, d := range taken {
			_ = pacer.Give(context.WithoutCancel(ctx), d, counts[d])
		}
	}
	for _, d := range names {
		if err := pacer.Take(ctx, d, counts[d]); err != nil {
			giveBack()
			return nil, fmt.Errorf("%s: pacing %d URLs of %s: %w", action, counts[d], d, err)
		}
		taken = append(taken, d)
	}
	return func(err error) {
		var refused *Error
		switch {
		case err == nil:
		case IsPerMinuteQuota(err):
			for _, d := range names {
				_ = pacer.Block(context.WithoutCancel(ctx), d)
			}
		case errors.As(err, &refused):
			// The API answered no: the URLs did not count.
			giveBack()
		default:
			// No answer: the call may have landed, so the URLs stay counted.
		}
	}, nil
}
