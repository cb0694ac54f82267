package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/quota"
)

// DomainPacer keeps the URLs refreshed per domain under the API's limit
// per minute (1,000 by default, "RefreshObjectCaches" in the CDN API
// reference). The page does not say which minute, so the pacer counts a
// sliding window of 60 seconds (plus a margin): no 60 s span, and so no
// calendar minute either, ever holds more than the limit, and the API
// refuses nothing under either reading. With Redis the window is shared
// by every replica of the account and timed by Redis's clock; without, it
// is this process's. It satisfies apiclient.DomainPacer.
type DomainPacer struct {
	window  windowStore
	local   *memoryWindow // fallback while Redis is unreachable
	limit   int
	span    time.Duration
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	fb      *fallback
	mu      sync.Mutex
	pending map[string][]pendingTake // per domain, oldest first
}

// pendingTake is URLs this process took for a call whose answer has not
// come yet.
type pendingTake struct {
	id    string
	n     int
	local bool // counted in the fallback window
}

// DomainPacerOptions configure a DomainPacer.
type DomainPacerOptions struct {
	// Prefix and Account namespace the Redis keys as for the quota store.
	Prefix  string
	Account string
	// Limit is the URLs per domain per window; default
	// apiclient.CDN().Caps.URLsPerDomainPerMinute.
	Limit int
	// Margin is added to the 60 s window, for the API counting a call at
	// a slightly different moment than the pacer does; default 1s.
	Margin time.Duration
	// PendingMax is how long a take whose call has not been answered
	// keeps counting from the moment it leaves the window's start: until
	// Landed or Give, the API may count it at any moment, so it frees
	// nothing. Past PendingMax (a replica died mid-call) it counts from
	// its take. Default 5 minutes, above the client's retry budget.
	PendingMax time.Duration
	// Now and Sleep are the clock; tests pass a fake pair so that nothing
	// really waits. Defaults: time.Now and a timer. With Redis and no Now,
	// the window is timed by Redis's clock, so replicas with skewed clocks
	// agree.
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// DomainWindow is the span the per-domain limit is counted over, before
// the margin.
const DomainWindow = time.Minute

func (o DomainPacerOptions) withDefaults() DomainPacerOptions {
	if o.Prefix == "" {
		o.Prefix = quota.DefaultPrefix
	}
	if o.Account == "" {
		o.Account = "default"
	}
	if o.Limit <= 0 {
		o.Limit = apiclient.CDN().Caps.URLsPerDomainPerMinute
	}
	if o.Margin <= 0 {
		o.Margin = time.Second
	}
	if o.PendingMax <= 0 {
		o.PendingMax = 5 * time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// NewMemoryDomainPacer paces one process.
func NewMemoryDomainPacer(o DomainPacerOptions) *DomainPacer {
	o = o.withDefaults()
	now := o.Now
	if now == nil {
		now = time.Now
	}
	local := &memoryWindow{span: DomainWindow + o.Margin, pendingMax: o.PendingMax, entries: map[string][]windowEntry{}}
	return &DomainPacer{window: local, local: local, limit: o.Limit, span: DomainWindow + o.Margin, now: now,
		sleep: o.Sleep, pending: map[string][]pendingTake{},
		fb: newFallback(now, o.Logger, "shared per-domain URL pacing unavailable; pacing this replica alone")}
}

// NewRedisDomainPacer paces every replica sharing rdb. While Redis cannot
// be reached it counts in this process alone (and says so once a minute);
// a refusal from the API then still backs the domain off.
func NewRedisDomainPacer(rdb redis.UniversalClient, o DomainPacerOptions) *DomainPacer {
	redisClock := o.Now == nil
	p := NewMemoryDomainPacer(o)
	o = o.withDefaults()
	p.window = &redisWindow{rdb: rdb, prefix: o.Prefix, account: o.Account, span: p.span, pendingMax: o.PendingMax, redisClock: redisClock}
	return p
}

// Take waits until n URLs of domain fit in the window and counts them. A
// batch never waits for part of the window's room: it goes whole.
func (p *DomainPacer) Take(ctx context.Context, domain string, n int) error {
	if n > p.limit {
		return fmt.Errorf("%d URLs of %s in one call exceed the %d a minute the API allows; lower worker.limits.urls_per_refresh", n, domain, p.limit)
	}
	id := strconv.FormatUint(rand.Uint64(), 36)
	for {
		now := p.now()
		var wait time.Duration
		local, err := p.fb.run(ctx,
			func() (err error) { wait, err = p.window.take(ctx, domain, id, n, p.limit, now); return err },
			func() (err error) { wait, err = p.local.take(ctx, domain, id, n, p.limit, now); return err })
		if err != nil {
			return err
		}
		if wait <= 0 {
			p.mu.Lock()
			p.pending[domain] = append(p.pending[domain], pendingTake{id: id, n: n, local: local})
			p.mu.Unlock()
			return nil
		}
		if err := p.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// popPending takes the newest (last) or oldest pending take of n URLs of
// domain.
func (p *DomainPacer) popPending(domain string, n int, newest bool) (pendingTake, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	list := p.pending[domain]
	for k := range list {
		i := k
		if newest {
			i = len(list) - 1 - k
		}
		if list[i].n == n {
			t := list[i]
			list = append(list[:i:i], list[i+1:]...)
			if len(list) == 0 {
				delete(p.pending, domain)
			} else {
				p.pending[domain] = list
			}
			return t, true
		}
	}
	return pendingTake{}, false
}

func (p *DomainPacer) store(t pendingTake) windowStore {
	if t.local {
		return p.local
	}
	return p.window
}

// Give returns n URLs of domain taken for a call that did not land.
func (p *DomainPacer) Give(ctx context.Context, domain string, n int) error {
	t, ok := p.popPending(domain, n, true)
	if !ok {
		return nil
	}
	if err := p.store(t).give(ctx, domain, t.id); err != nil {
		return fmt.Errorf("give back %d URLs of %s: %w", n, domain, err)
	}
	return nil
}

// Landed moves the count of n URLs of domain to now, when the call that
// took them was answered (or gave no answer): the API counted them at
// some moment between the take and now, and a call retried after a
// backoff lands well after its take, so the window runs from the answer.
func (p *DomainPacer) Landed(ctx context.Context, domain string, n int) error {
	t, ok := p.popPending(domain, n, false)
	if !ok {
		return nil
	}
	if err := p.store(t).restamp(ctx, domain, t.id, p.now()); err != nil {
		return fmt.Errorf("count %d URLs of %s as landed: %w", n, domain, err)
	}
	return nil
}

// Block counts domain as full until the oldest URL of its window leaves
// it (a full window if none is known: another client spent the room),
// after the API refused it for the per-minute limit. It returns when the
// domain has room again.
func (p *DomainPacer) Block(ctx context.Context, domain string) (time.Time, error) {
	now := p.now()
	// The local window learns of the block too, for the takes it counts
	// while Redis is away.
	local, _ := p.local.block(ctx, domain, p.limit, now)
	w := local
	_, err := p.fb.run(ctx,
		func() (err error) { w, err = p.window.block(ctx, domain, p.limit, now); return err },
		func() error { w = local; return nil })
	if err != nil {
		return now.Add(local), fmt.Errorf("block %s: %w", domain, err)
	}
	return now.Add(w), nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// windowStore holds each domain's takes of the last window.
type windowStore interface {
	// take counts n URLs under id when they fit (wait 0), else returns
	// how long until they would.
	take(ctx context.Context, domain, id string, n, limit int, now time.Time) (time.Duration, error)
	give(ctx context.Context, domain, id string) error
	restamp(ctx context.Context, domain, id string, now time.Time) error
	// block fills the window until its oldest take leaves; returns the
	// wait until then.
	block(ctx context.Context, domain string, limit int, now time.Time) (time.Duration, error)
}

type windowEntry struct {
	id      string
	at      time.Time
	n       int
	pending bool // taken, its call not answered yet
}

// leaves is when the entry stops counting: a pending one not before a
// whole window from now, since the API may count it at any moment.
func (e windowEntry) leaves(now time.Time, span time.Duration) time.Time {
	if e.pending {
		return now.Add(span)
	}
	return e.at.Add(span)
}

type memoryWindow struct {
	mu         sync.Mutex
	span       time.Duration
	pendingMax time.Duration
	entries    map[string][]windowEntry // per domain
}

// live drops what left the window and returns the rest, by the time
// they leave, and their sum.
func (w *memoryWindow) live(domain string, now time.Time) ([]windowEntry, int) {
	es := w.entries[domain][:0:0]
	sum := 0
	for _, e := range w.entries[domain] {
		gone := !e.at.Add(w.span).After(now)
		if e.pending {
			gone = !e.at.Add(w.pendingMax).After(now)
		}
		if !gone {
			es = append(es, e)
			sum += e.n
		}
	}
	if len(es) == 0 {
		delete(w.entries, domain)
	} else {
		w.entries[domain] = es
	}
	out := append([]windowEntry(nil), es...)
	slices.SortStableFunc(out, func(a, b windowEntry) int { return a.leaves(now, w.span).Compare(b.leaves(now, w.span)) })
	return out, sum
}

func (w *memoryWindow) take(_ context.Context, domain, id string, n, limit int, now time.Time) (time.Duration, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	es, sum := w.live(domain, now)
	if sum+n <= limit {
		w.entries[domain] = append(w.entries[domain], windowEntry{id: id, at: now, n: n, pending: true})
		return 0, nil
	}
	need, freed := sum+n-limit, 0
	for _, e := range es {
		freed += e.n
		if freed >= need {
			return max(e.leaves(now, w.span).Sub(now), time.Millisecond), nil
		}
	}
	return w.span, nil
}

func (w *memoryWindow) find(domain, id string) int {
	for i, e := range w.entries[domain] {
		if e.id == id {
			return i
		}
	}
	return -1
}

func (w *memoryWindow) give(_ context.Context, domain, id string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i := w.find(domain, id); i >= 0 {
		es := w.entries[domain]
		w.entries[domain] = append(es[:i:i], es[i+1:]...)
	}
	return nil
}

func (w *memoryWindow) restamp(_ context.Context, domain, id string, now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i := w.find(domain, id); i >= 0 {
		e := &w.entries[domain][i]
		e.pending = false
		if now.After(e.at) {
			e.at = now
		}
	}
	return nil
}

func (w *memoryWindow) block(_ context.Context, domain string, limit int, now time.Time) (time.Duration, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	es, sum := w.live(domain, now)
	at := now
	if len(es) > 0 && !es[0].pending {
		at = es[0].at
	}
	if fill := limit - sum; fill > 0 {
		w.entries[domain] = append(w.entries[domain], windowEntry{id: "block", at: at, n: fill})
	}
	return at.Add(w.span).Sub(now), nil
}

type redisWindow struct {
	rdb             redis.UniversalClient
	prefix, account string
	span            time.Duration
	pendingMax      time.Duration
	redisClock      bool
}

func (w *redisWindow) keys(domain string) []string {
	return []string{keyDomainWindow(w.prefix, w.account, domain)}
}

// nowArg is the script's clock: 0 has the script read Redis's TIME.
func (w *redisWindow) nowArg(now time.Time) int64 {
	if w.redisClock {
		return 0
	}
	return now.UnixMilli()
}

func (w *redisWindow) take(ctx context.Context, domain, id string, n, limit int, now time.Time) (time.Duration, error) {
	ms, err := domainTakeScript.Run(ctx, w.rdb, w.keys(domain), w.nowArg(now), w.span.Milliseconds(), w.pendingMax.Milliseconds(), n, limit, id).Int64()
	return time.Duration(ms) * time.Millisecond, err
}

func (w *redisWindow) give(ctx context.Context, domain, id string) error {
	return domainGiveScript.Run(ctx, w.rdb, w.keys(domain), id).Err()
}

func (w *redisWindow) restamp(ctx context.Context, domain, id string, now time.Time) error {
	return domainLandedScript.Run(ctx, w.rdb, w.keys(domain), w.nowArg(now), w.span.Milliseconds(), w.pendingMax.Milliseconds(), id).Err()
}

func (w *redisWindow) block(ctx context.Context, domain string, limit int, now time.Time) (time.Duration, error) {
	ms, err := domainBlockScript.Run(ctx, w.rdb, w.keys(domain), w.nowArg(now), w.span.Milliseconds(), w.pendingMax.Milliseconds(), limit).Int64()
	return time.Duration(ms) * time.Millisecond, err
}
