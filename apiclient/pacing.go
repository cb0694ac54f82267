package apiclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// DomainPacer keeps refreshed URLs under the per-domain per-minute limit,
// shared by every replica of the account (ratelimit.NewRedisDomainPacer) or
// local to one process (ratelimit.NewMemoryDomainPacer). The limit is paced
// per sliding 60 s window, which also keeps every calendar minute under
// it: the API's pages say "per minute" without saying which.
type DomainPacer interface {
	// Take waits until n URLs of domain fit in the window and counts
	// them.
	Take(ctx context.Context, domain string, n int) error
	// Give returns n URLs that were taken for a call that did not land.
	Give(ctx context.Context, domain string, n int) error
	// Landed counts n taken URLs from now on: their call was answered (or
	// gave no answer), so the API counted them no later than now.
	Landed(ctx context.Context, domain string, n int) error
	// Block counts domain as full until the oldest URL of its window
	// leaves it, after the API refused it for the per-minute limit, and
	// returns that time.
	Block(ctx context.Context, domain string) (time.Time, error)
}

// NoPacing returns a DomainPacer that never waits: in Options.DomainPacers
// it turns one product's pacing off while the others' stay on.
func NoPacing() DomainPacer { return noPacing{} }

type noPacing struct{}

func (noPacing) Take(context.Context, string, int) error   { return nil }
func (noPacing) Give(context.Context, string, int) error   { return nil }
func (noPacing) Landed(context.Context, string, int) error { return nil }
func (noPacing) Block(context.Context, string) (time.Time, error) {
	return time.Time{}, nil
}

// DomainWindowError is a per-minute refusal (QuotaPerMinuteExceeded) with
// the time its domains have room again: when the oldest URL of their last
// 60 s leaves the window, as the DomainPacer knows it.
type DomainWindowError struct {
	Err     error
	Domains []string
	Until   time.Time
}

func (e *DomainWindowError) Error() string { return e.Err.Error() }
func (e *DomainWindowError) Unwrap() error { return e.Err }

// IsPerMinuteQuota reports the API's refusal for the per-minute limit: a
// quota error that frees within the minute, not a spent daily quota.
func IsPerMinuteQuota(err error) bool {
	return strings.HasPrefix(Code(err), "QuotaPerMinuteExceeded")
}

// PathDomain returns the domain a path belongs to: its host, lower case,
// without scheme, user info, port or a trailing dot, IPv6 literals with
// their brackets ("https://Example.com.:8080/a", "example.com/a" give
// "example.com"; "http://[::1]:80/" gives "[::1]"). It is the unit the API
// paces per minute and caps at ten per refresh call, and the unit the
// worker batches by; "" when the path has no host.
func PathDomain(p string) string {
	if i := strings.Index(p, "://"); i >= 0 {
		p = p[i+3:]
	}
	if i := strings.IndexAny(p, "/?#"); i >= 0 {
		p = p[:i]
	}
	if i := strings.LastIndexByte(p, '@'); i >= 0 {
		p = p[i+1:]
	}
	if i := strings.LastIndexByte(p, ':'); i >= 0 && !strings.Contains(p[i:], "]") {
		p = p[:i]
	}
	return strings.ToLower(strings.TrimSuffix(p, "."))
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
// back when the call did not land, counted from the answer when it did,
// and the domains blocked until their window frees when the API refused
// them for the per-minute limit (the error then says until when, as a
// *DomainWindowError).
func paceRefresh(ctx context.Context, pacer DomainPacer, action string, paths []string) (func(error) error, error) {
	names, counts := domainCounts(paths)
	taken := names[:0:0]
	each := func(f func(ctx context.Context, d string, n int) error) {
		for _, d := range taken {
			_ = f(context.WithoutCancel(ctx), d, counts[d])
		}
	}
	for _, d := range names {
		if err := pacer.Take(ctx, d, counts[d]); err != nil {
			each(pacer.Give)
			return nil, fmt.Errorf("%s: pacing %d URLs of %s: %w", action, counts[d], d, err)
		}
		taken = append(taken, d)
	}
	return func(err error) error {
		var refused *Error
		switch {
		case err == nil:
			each(pacer.Landed)
		case IsPerMinuteQuota(err):
			// The refused URLs did not count; the window is full by what
			// the API counted, which the pacer may not know all of.
			each(pacer.Give)
			w := &DomainWindowError{Err: err, Domains: names}
			for _, d := range names {
				if until, _ := pacer.Block(context.WithoutCancel(ctx), d); until.After(w.Until) {
					w.Until = until
				}
			}
			if !w.Until.IsZero() {
				return w
			}
		case errors.As(err, &refused):
			// The API answered no: the URLs did not count.
			each(pacer.Give)
		default:
			// No answer: the call may have landed, so the URLs stay counted.
			each(pacer.Landed)
		}
		return err
	}, nil
}
