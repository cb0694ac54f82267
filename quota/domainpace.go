package quota

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// DomainPacer keeps the URLs refreshed per domain under the API's limit
// per minute (1,000 by default, "RefreshObjectCaches" in the CDN API
// reference), counted in calendar minutes. With Redis the count is shared
// by every replica of the account; without, it is this process's. It
// satisfies apiclient.DomainPacer.
type DomainPacer struct {
	counter minuteCounter
	local   *memoryCounter // fallback while Redis is unreachable
	limit   int
	now     func() time.Time
	sleep   func(ctx context.Context, d time.Duration) error
	log     *slog.Logger

	mu     sync.Mutex
	minute map[string]int64 // the minute each domain last took URLs in
	warned time.Time
}

// DomainPacerOptions configure a DomainPacer.
type DomainPacerOptions struct {
	// Prefix and Account namespace the Redis keys as for the quota store.
	Prefix  string
	Account string
	// Limit is the URLs per domain per minute; default
	// apiclient.URLsPerDomainPerMinute.
	Limit int
	// Now and Sleep are the clock; tests pass a fake pair so that nothing
	// really waits. Defaults: time.Now and a timer.
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

func (o DomainPacerOptions) withDefaults() DomainPacerOptions {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Account == "" {
		o.Account = "default"
	}
	if o.Limit <= 0 {
		o.Limit = apiclient.URLsPerDomainPerMinute
	}
	if o.Now == nil {
		o.Now = time.Now
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
	local := newMemoryCounter()
	return &DomainPacer{counter: local, local: local, limit: o.Limit, now: o.Now, sleep: o.Sleep, log: o.Logger, minute: map[string]int64{}}
}

// NewRedisDomainPacer paces every replica sharing rdb. While Redis cannot
// be reached it counts in this process alone (and says so once a minute);
// a refusal from the API then still backs the domain off.
func NewRedisDomainPacer(rdb redis.UniversalClient, o DomainPacerOptions) *DomainPacer {
	o = o.withDefaults()
	p := NewMemoryDomainPacer(o)
	p.counter = &redisCounter{rdb: rdb, prefix: o.Prefix, account: o.Account}
	return p
}

// Take waits until n URLs of domain fit in the current minute and counts
// them. A batch never waits for part of a minute's room: it goes whole.
func (p *DomainPacer) Take(ctx context.Context, domain string, n int) error {
	if n > p.limit {
		return fmt.Errorf("%d URLs of %s in one call exceed the %d a minute the API allows; lower worker.limits.urls_per_refresh", n, domain, p.limit)
	}
	for {
		now := p.now()
		m := minuteOf(now)
		ok, err := p.counter.take(ctx, domain, m, n, p.limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			p.warnFallback(err)
			ok, _ = p.local.take(ctx, domain, m, n, p.limit)
		}
		if ok {
			p.mu.Lock()
			p.minute[domain] = m
			p.mu.Unlock()
			return nil
		}
		if err := p.sleep(ctx, time.Unix((m+1)*60, 0).Sub(now)); err != nil {
			return err
		}
	}
}

// Give returns n URLs of domain taken in the current minute; URLs taken in
// a minute that is over need no return.
func (p *DomainPacer) Give(ctx context.Context, domain string, n int) error {
	m := minuteOf(p.now())
	p.mu.Lock()
	last, ok := p.minute[domain]
	p.mu.Unlock()
	if !ok || last != m {
		return nil
	}
	if err := p.counter.give(ctx, domain, m, n); err != nil {
		return p.local.give(ctx, domain, m, n)
	}
	return nil
}

// Block counts domain as full until the minute ends.
func (p *DomainPacer) Block(ctx context.Context, domain string) error {
	m := minuteOf(p.now())
	_ = p.local.fill(ctx, domain, m, p.limit)
	if err := p.counter.fill(ctx, domain, m, p.limit); err != nil {
		p.warnFallback(err)
	}
	return nil
}

func (p *DomainPacer) warnFallback(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.warned) < time.Minute {
		return
	}
	p.warned = time.Now()
	p.log.Warn("shared per-domain URL pacing unavailable; pacing this replica alone", slog.String("error", err.Error()))
}

func minuteOf(t time.Time) int64 { return t.Unix() / 60 }

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

// minuteCounter counts URLs per domain and minute.
type minuteCounter interface {
	take(ctx context.Context, domain string, minute int64, n, limit int) (bool, error)
	give(ctx context.Context, domain string, minute int64, n int) error
	fill(ctx context.Context, domain string, minute int64, limit int) error
}

type memoryCounter struct {
	mu     sync.Mutex
	minute int64
	used   map[string]int
}

func newMemoryCounter() *memoryCounter { return &memoryCounter{used: map[string]int{}} }

func (c *memoryCounter) at(minute int64) {
	if minute != c.minute {
		c.minute, c.used = minute, map[string]int{}
	}
}

func (c *memoryCounter) take(_ context.Context, domain string, minute int64, n, limit int) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at(minute)
	if c.used[domain]+n > limit {
		return false, nil
	}
	c.used[domain] += n
	return true, nil
}

func (c *memoryCounter) give(_ context.Context, domain string, minute int64, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if minute == c.minute {
		c.used[domain] = max(0, c.used[domain]-n)
	}
	return nil
}

func (c *memoryCounter) fill(_ context.Context, domain string, minute int64, limit int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at(minute)
	c.used[domain] = limit
	return nil
}

// keyDomainMinute counts one domain's URLs in one minute.
func keyDomainMinute(prefix, account, domain string, minute int64) string {
	return prefix + "{" + account + "}:urlmin:" + strconv.FormatInt(minute, 10) + ":" + domain
}

// domainMinuteTTL keeps a minute's counter a little past its minute.
const domainMinuteTTL = 2 * time.Minute

type redisCounter struct {
	rdb             redis.UniversalClient
	prefix, account string
}

func (c *redisCounter) key(domain string, minute int64) []string {
	return []string{keyDomainMinute(c.prefix, c.account, domain, minute)}
}

func (c *redisCounter) take(ctx context.Context, domain string, minute int64, n, limit int) (bool, error) {
	ok, err := domainTakeScript.Run(ctx, c.rdb, c.key(domain, minute), n, limit, domainMinuteTTL.Milliseconds()).Int()
	return ok == 1, err
}

func (c *redisCounter) give(ctx context.Context, domain string, minute int64, n int) error {
	return domainGiveScript.Run(ctx, c.rdb, c.key(domain, minute), n).Err()
}

func (c *redisCounter) fill(ctx context.Context, domain string, minute int64, limit int) error {
	return c.rdb.Set(ctx, c.key(domain, minute)[0], limit, domainMinuteTTL).Err()
}

// domainTakeScript counts n URLs of a domain in a minute if they fit.
//
// KEYS[1]: the domain's counter for the minute (keyDomainMinute)
// ARGV[1]: n, the URLs of the call
// ARGV[2]: the limit per minute
// ARGV[3]: the counter's TTL in milliseconds
// Returns 1 when counted, 0 when the minute has no room for n.
var domainTakeScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = tonumber(ARGV[1])
if used + n > tonumber(ARGV[2]) then
  return 0
end
redis.call('INCRBY', KEYS[1], n)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`)

// domainGiveScript returns n URLs to a minute's counter, never below zero.
//
// KEYS[1]: the domain's counter for the minute (keyDomainMinute)
// ARGV[1]: n
// Returns the count left.
var domainGiveScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used == 0 then
  return 0
end
local left = math.max(0, used - tonumber(ARGV[1]))
redis.call('SET', KEYS[1], left, 'KEEPTTL')
return left
`)
