package quota

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Share caps what the jobs of one source may spend of a day's quota of one
// kind (quota.shares in the config): the nightly bulk sync at most 50% of
// the URLs, so that one sender cannot spend everyone's day. A share is a
// cap, not a reservation: it holds back only its own source's work, never
// another source's.
type Share struct {
	// Source is a job's source as the worker sees it ("generic:bulk-sync",
	// "schedule:nightly", "nats:cdn.jobs.sync"), or a prefix of it ending
	// in "*" ("github:acme/*").
	Source string `yaml:"source" json:"source"`
	// Kind is the quota kind the share is of; default url.
	Kind Kind `yaml:"kind" json:"kind"`
	// Share is the part of the day's quota, "50%".
	Share string `yaml:"share" json:"share"`
}

// Matches reports whether a job of source falls under s.
func (s Share) Matches(source string) bool {
	if p, ok := strings.CutSuffix(s.Source, "*"); ok {
		return strings.HasPrefix(source, p)
	}
	return source == s.Source
}

// Fraction parses Share: "50%" is 0.5.
func (s Share) Fraction() (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s.Share), "%")
	if !ok {
		return 0, fmt.Errorf("%q: write the share as a percentage, such as \"50%%\"", s.Share)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || v <= 0 || v > 100 {
		return 0, fmt.Errorf("%q: want a percentage above 0%% and at most 100%%", s.Share)
	}
	return v / 100, nil
}

// key names the share in counters and on the CLI: "generic:bulk-sync url".
func (s Share) key() string { return s.Source + " " + string(s.Kind) }

// ShareProblem is one invalid field of one share; Field is relative to the
// share ("share", "kind", "source").
type ShareProblem struct {
	Index int
	Field string
	Msg   string
}

// ValidateShares checks shares and fills in the default kind; it returns
// every problem, each naming the share's index and field.
func ValidateShares(shares []Share) []ShareProblem {
	var out []ShareProblem
	seen := map[string]int{}
	for i := range shares {
		s := &shares[i]
		if s.Kind == "" {
			s.Kind = KindURL
		}
		if strings.TrimSpace(s.Source) == "" {
			out = append(out, ShareProblem{i, "source", "is empty; name a job source, such as generic:bulk-sync, or a prefix ending in *"})
		}
		if !s.Kind.Valid() {
			_, err := ParseKind(string(s.Kind))
			out = append(out, ShareProblem{i, "kind", err.Error()})
		}
		if _, err := s.Fraction(); err != nil {
			out = append(out, ShareProblem{i, "share", err.Error()})
		}
		if j, ok := seen[s.key()]; ok {
			out = append(out, ShareProblem{i, "source", fmt.Sprintf("%q for %s is already shares[%d]; one share per source and kind", s.Source, s.Kind, j)})
		} else {
			seen[s.key()] = i
		}
	}
	return out
}

// ShareCounter counts the units each share spent per quota day, shared by
// the replicas (Redis) or in one process (memory).
type ShareCounter interface {
	// Take adds up to n to key's count of day, never past limit, and
	// returns what it added.
	Take(ctx context.Context, day, key string, n, limit int64) (int64, error)
	// Give takes n back from key's count of day (a call that spent
	// nothing, or less than it took).
	Give(ctx context.Context, day, key string, n int64) error
	// Used is key's count of day.
	Used(ctx context.Context, day, key string) (int64, error)
}

// MemoryShareCounter is a ShareCounter for one process.
type MemoryShareCounter struct {
	mu   sync.Mutex
	used map[[2]string]int64
}

// NewMemoryShareCounter returns an empty counter.
func NewMemoryShareCounter() *MemoryShareCounter {
	return &MemoryShareCounter{used: map[[2]string]int64{}}
}

func (c *MemoryShareCounter) Take(_ context.Context, day, key string, n, limit int64) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.used {
		if k[0] < day {
			delete(c.used, k) // days past: nothing asks for them again
		}
	}
	k := [2]string{day, key}
	got := max(0, min(n, limit-c.used[k]))
	c.used[k] += got
	return got, nil
}

func (c *MemoryShareCounter) Give(_ context.Context, day, key string, n int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := [2]string{day, key}
	c.used[k] = max(0, c.used[k]-n)
	return nil
}

func (c *MemoryShareCounter) Used(_ context.Context, day, key string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used[[2]string{day, key}], nil
}

// RedisShareCounter is a ShareCounter the replicas share. Each share's
// count of a day is one key, kept two days.
type RedisShareCounter struct {
	rdb     redis.UniversalClient
	prefix  string
	account string
}

// NewRedisShareCounter counts under prefix (DefaultPrefix when empty) and
// account, as the quota store does.
func NewRedisShareCounter(rdb redis.UniversalClient, prefix, account string) *RedisShareCounter {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if account == "" {
		account = "default"
	}
	return &RedisShareCounter{rdb: rdb, prefix: prefix, account: account}
}

// shareKey is the key of one share's count of one day; the account in
// braces keeps a Redis Cluster's keys of one account on one slot.
func (c *RedisShareCounter) shareKey(day, key string) string {
	return c.prefix + "{" + c.account + "}:share:" + day + ":" + key
}

// takeShareScript adds up to ARGV[1] to the count KEYS[1] without passing
// ARGV[2], keeps the key ARGV[3] seconds, and returns what it added.
var takeShareScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local got = math.max(0, math.min(n, limit - used))
if got > 0 then
  redis.call('INCRBY', KEYS[1], got)
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
return got
`)

// giveShareScript takes ARGV[1] back from the count KEYS[1], not below 0,
// and returns the count.
var giveShareScript = redis.NewScript(`
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local left = math.max(0, used - tonumber(ARGV[1]))
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('SET', KEYS[1], left, 'KEEPTTL')
end
return left
`)

const shareKeyTTL = 48 * time.Hour

func (c *RedisShareCounter) Take(ctx context.Context, day, key string, n, limit int64) (int64, error) {
	got, err := takeShareScript.Run(ctx, c.rdb, []string{c.shareKey(day, key)}, n, limit, int64(shareKeyTTL/time.Second)).Int64()
	if err != nil {
		return 0, fmt.Errorf("%w: take quota share: %w", ErrUnavailable, err)
	}
	return got, nil
}

func (c *RedisShareCounter) Give(ctx context.Context, day, key string, n int64) error {
	if err := giveShareScript.Run(ctx, c.rdb, []string{c.shareKey(day, key)}, n).Err(); err != nil {
		return fmt.Errorf("%w: give back quota share: %w", ErrUnavailable, err)
	}
	return nil
}

func (c *RedisShareCounter) Used(ctx context.Context, day, key string) (int64, error) {
	v, err := c.rdb.Get(ctx, c.shareKey(day, key)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("%w: read quota share: %w", ErrUnavailable, err)
	}
	return v, nil
}

// snapshotter is the quota mirror's day total, which a share is a part of.
type snapshotter interface {
	Snapshot(ctx context.Context) (Snapshot, error)
	Store() Store
}

// Shares applies the configured shares to one target's quota.
type Shares struct {
	shares  []Share
	fracs   []float64
	counter ShareCounter
	mirror  snapshotter
	now     func() time.Time
}

// NewShares applies shares (validated, see ValidateShares) to the quota of
// mirror, counting in counter; now is the clock (time.Now when nil).
func NewShares(shares []Share, counter ShareCounter, mirror *Mirror, now func() time.Time) (*Shares, error) {
	if now == nil {
		now = time.Now
	}
	s := &Shares{shares: shares, counter: counter, mirror: mirror, now: now}
	for i, sh := range shares {
		f, err := sh.Fraction()
		if err != nil {
			return nil, fmt.Errorf("quota.shares[%d].share: %w", i, err)
		}
		s.fracs = append(s.fracs, f)
	}
	return s, nil
}

// Of returns the name of the share a job of source spends kind from, or
// "" when none caps it. The first matching share counts.
func (s *Shares) Of(source string, kind Kind) string {
	if s == nil {
		return ""
	}
	for _, sh := range s.shares {
		if sh.Kind == kind && sh.Matches(source) {
			return sh.key()
		}
	}
	return ""
}

// ShareTake is what a batch took from its share.
type ShareTake struct {
	Share string
	// Source is the share's configured source.
	Source  string
	Day     string
	Granted int64
	// Limit is the share's units of the day, Percent its configured text.
	Limit   int64
	Percent string
}

// Take takes up to n units of the share named share (from Of) for today.
func (s *Shares) Take(ctx context.Context, share string, n int64) (ShareTake, error) {
	i := s.index(share)
	if i < 0 {
		return ShareTake{}, fmt.Errorf("no quota share %q", share)
	}
	snap, err := s.mirror.Snapshot(ctx)
	if err != nil {
		return ShareTake{}, err
	}
	if !snap.Synced {
		// No total yet: a share of it would be 0 and hold the source
		// for the day.
		return ShareTake{}, ErrNotSynced
	}
	day := s.mirror.Store().Calendar().Day(s.now())
	limit := int64(math.Floor(s.fracs[i] * float64(snap.Get(s.shares[i].Kind).Total)))
	got, err := s.counter.Take(ctx, day, share, n, limit)
	if err != nil {
		return ShareTake{}, err
	}
	return ShareTake{Share: share, Source: s.shares[i].Source, Day: day, Granted: got, Limit: limit, Percent: s.shares[i].Share}, nil
}

// Give returns n units of t to its share (a call that did not spend them).
func (s *Shares) Give(ctx context.Context, t ShareTake, n int64) error {
	if n <= 0 || t.Share == "" {
		return nil
	}
	return s.counter.Give(ctx, t.Day, t.Share, n)
}

func (s *Shares) index(share string) int {
	for i, sh := range s.shares {
		if sh.key() == share {
			return i
		}
	}
	return -1
}

// ShareUsage is one share's state today, for the CLI and metrics.
type ShareUsage struct {
	Source  string
	Kind    Kind
	Percent string
	Limit   int64
	Used    int64
}

// Usage reports every share's spending today.
func (s *Shares) Usage(ctx context.Context) ([]ShareUsage, error) {
	if s == nil {
		return nil, nil
	}
	snap, err := s.mirror.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	day := s.mirror.Store().Calendar().Day(s.now())
	out := make([]ShareUsage, 0, len(s.shares))
	for i, sh := range s.shares {
		used, err := s.counter.Used(ctx, day, sh.key())
		if err != nil {
			return nil, err
		}
		out = append(out, ShareUsage{Source: sh.Source, Kind: sh.Kind, Percent: sh.Share,
			Limit: int64(math.Floor(s.fracs[i] * float64(snap.Get(sh.Kind).Total))), Used: used})
	}
	return out, nil
}

// ShareCollector exports each share's spending today: the source label
// takes the configured sources only.
type ShareCollector struct {
	shares *Shares
	used   *prometheus.Desc
	limit  *prometheus.Desc
}

// NewShareCollector returns a collector of s; register it with a registry.
func NewShareCollector(s *Shares) *ShareCollector {
	labels := []string{"source", "kind"}
	return &ShareCollector{shares: s,
		used:  prometheus.NewDesc("cdnpurge_quota_share_used", "Quota units a source with a share (quota.shares) spent today, by source and kind.", labels, nil),
		limit: prometheus.NewDesc("cdnpurge_quota_share_limit", "Quota units a source with a share may spend today, by source and kind.", labels, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *ShareCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.used
	ch <- c.limit
}

// Collect implements prometheus.Collector.
func (c *ShareCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	usage, err := c.shares.Usage(ctx)
	if err != nil {
		return
	}
	for _, u := range usage {
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(u.Used), u.Source, string(u.Kind))
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(u.Limit), u.Source, string(u.Kind))
	}
}
