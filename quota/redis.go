package quota

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cdnpurge/cdnpurge/apiclient"
)

// RedisStore is the quota mirror shared by every replica of an account
// through Redis. Each reservation, commit, refund and sync is one Lua script
// (scripts.go), so replicas never see each other's half-done updates.
type RedisStore struct {
	rdb  redis.UniversalClient
	opts Options
	cal  Calendar
	keys keyspace
}

// NewRedisStore returns a store on rdb; the caller owns and closes rdb.
// Stores of different targets (Options.Target) on one rdb, prefix and
// account are independent mirrors.
func NewRedisStore(rdb redis.UniversalClient, opts Options) *RedisStore {
	opts = opts.withDefaults()
	return &RedisStore{rdb: rdb, opts: opts, cal: Calendar{Location: opts.Location},
		keys: keyspace{prefix: opts.Prefix, account: opts.Account, target: opts.Target}}
}

// Calendar tells the store's quota days.
func (s *RedisStore) Calendar() Calendar { return s.cal }

// Target is the product whose quota the store mirrors.
func (s *RedisStore) Target() apiclient.Product { return s.opts.Target }

// keyspace names the Redis keys of one account's mirror of one target
// (layout in scripts.go). CDN's keys have no target segment, as before
// DCDN was a target; another target's carry its name after the account:
//
//	cdn:  <prefix>{A}:D:state       <prefix>{A}:synclock
//	dcdn: <prefix>{A}:dcdn:D:state  <prefix>{A}:dcdn:synclock
//
// A quota day D is always a date, so no target's keys can be another's.
type keyspace struct {
	prefix, account string
	target          apiclient.Product
}

func (k keyspace) base() string {
	b := k.prefix + "{" + k.account + "}:"
	if k.target != "" && k.target != apiclient.ProductCDN {
		b += string(k.target) + ":"
	}
	return b
}

func (k keyspace) state(day string) string   { return k.base() + day + ":state" }
func (k keyspace) res(day string) string     { return k.base() + day + ":res" }
func (k keyspace) resInfo(day string) string { return k.base() + day + ":resinfo" }
func (k keyspace) syncLock() string          { return k.base() + "synclock" }

// dayKeys are the state, res and resinfo keys of day.
func (s *RedisStore) dayKeys(day string) []string {
	return []string{s.keys.state(day), s.keys.res(day), s.keys.resInfo(day)}
}

// unavailable wraps a Redis failure so that callers can tell it with
// errors.Is(err, ErrUnavailable).
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("quota %s: %w", op, err)
	}
	return fmt.Errorf("quota %s: %w (nothing granted; retry when Redis is back): %w", op, ErrUnavailable, err)
}

// Reserve takes up to n units of kind.
func (s *RedisStore) Reserve(ctx context.Context, kind Kind, n int64) (Reservation, error) {
	if err := checkReserve(kind, n); err != nil {
		return Reservation{}, err
	}
	now := s.opts.Now()
	r := Reservation{Kind: kind, Requested: n, Day: s.cal.Day(now), Expires: now.Add(s.opts.ReservationTTL)}
	id := newReservationID()
	out, err := reserveScript.Run(ctx, s.rdb, s.dayKeys(r.Day),
		string(kind), n, ms(now), ms(r.Expires), id, ms(keyExpiry(s.cal, now))).Int64Slice()
	if err != nil {
		return r, unavailable(fmt.Sprintf("reserve %d %s", n, kind), err)
	}
	if len(out) != 3 {
		return r, fmt.Errorf("quota reserve: script returned %v", out)
	}
	if out[0] == 1 {
		return r, ErrNotSynced
	}
	if out[1] > 0 {
		r.ID, r.Granted = id, out[1]
	}
	return r, nil
}

// settle runs a commit, refund or extend script and maps its status.
func (s *RedisStore) settle(ctx context.Context, op string, r Reservation, script *redis.Script, args ...any) (int64, error) {
	st, err := script.Run(ctx, s.rdb, s.dayKeys(r.Day), args...).Int64()
	if err != nil {
		return 0, unavailable(fmt.Sprintf("%s reservation %s", op, r.ID), err)
	}
	if st == 2 {
		return st, fmt.Errorf("%s reservation %s: %w", op, r.ID, ErrUnknownReservation)
	}
	return st, nil
}

// Commit spends used units of r and returns the rest.
func (s *RedisStore) Commit(ctx context.Context, r Reservation, used int64) error {
	if err := checkCommit(r, used); err != nil || r.Granted == 0 {
		return err
	}
	_, err := s.settle(ctx, "commit", r, commitScript, r.ID, used, ms(s.opts.Now()))
	return err
}

// Refund returns all of r.
func (s *RedisStore) Refund(ctx context.Context, r Reservation) error {
	if r.Granted == 0 {
		return nil
	}
	_, err := s.settle(ctx, "refund", r, refundScript, r.ID, ms(s.opts.Now()))
	return err
}

// Extend moves r's deadline to d from now.
func (s *RedisStore) Extend(ctx context.Context, r Reservation, d time.Duration) error {
	if r.Granted == 0 {
		return nil
	}
	now := s.opts.Now()
	_, err := s.settle(ctx, "extend", r, extendScript, r.ID, ms(now), ms(now.Add(d)))
	return err
}

// Snapshot returns the current day's values.
func (s *RedisStore) Snapshot(ctx context.Context) (Snapshot, error) {
	now := s.opts.Now()
	snap := Snapshot{Account: s.opts.Account, Target: s.opts.Target, Day: s.cal.Day(now)}
	vals, err := snapshotScript.Run(ctx, s.rdb, s.dayKeys(snap.Day), ms(now)).StringSlice()
	if err != nil {
		return snap, unavailable("snapshot", err)
	}
	fields := map[string]string{}
	for i := 0; i+1 < len(vals); i += 2 {
		fields[vals[i]] = vals[i+1]
	}
	if v, ok := fields["synced"]; ok {
		snap.Synced = true
		msec, _ := strconv.ParseInt(v, 10, 64)
		snap.LastSync = time.UnixMilli(msec)
	}
	snap.SyncError = fields["syncerr"]
	n := func(k Kind, f string) int64 {
		v, _ := strconv.ParseInt(fields[string(k)+":"+f], 10, 64)
		return v
	}
	for _, k := range allKinds {
		snap.Kinds = append(snap.Kinds, KindSnapshot{Kind: k, Total: n(k, "total"), Remaining: n(k, "remain"),
			Reserved: n(k, "reserved"), Committed: n(k, "committed"), Expired: n(k, "expired")})
	}
	return snap, nil
}

// Mark reads today's and yesterday's commit counters. The counters only
// grow, so reading them before the API is read is all Set needs.
func (s *RedisStore) Mark(ctx context.Context) (SyncMark, error) {
	now := s.opts.Now()
	days := []string{s.cal.Day(now), s.cal.PrevDay(now)}
	fields := make([]string, len(allKinds))
	for i, k := range allKinds {
		fields[i] = string(k) + ":committed"
	}
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(days))
	for i, d := range days {
		cmds[i] = pipe.HMGet(ctx, s.keys.state(d), fields...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return SyncMark{}, unavailable("mark", err)
	}
	m := SyncMark{Committed: map[string]map[Kind]int64{}}
	for i, d := range days {
		m.Committed[d] = map[Kind]int64{}
		for j, v := range cmds[i].Val() {
			if str, ok := v.(string); ok {
				m.Committed[d][allKinds[j]], _ = strconv.ParseInt(str, 10, 64)
			}
		}
	}
	return m, nil
}

// Set makes today's mirror q less what is outstanding (see setScript).
func (s *RedisStore) Set(ctx context.Context, q apiclient.RefreshQuota, mark SyncMark) error {
	now := s.opts.Now()
	today, yday := s.cal.Day(now), s.cal.PrevDay(now)
	keys := append(s.dayKeys(today), s.dayKeys(yday)...)
	valid := "0"
	if mark.valid() {
		valid = "1"
	}
	args := []any{ms(now), ms(keyExpiry(s.cal, now)), valid}
	vals := kindValues(q)
	for _, k := range allKinds {
		args = append(args, string(k), vals[k][0], vals[k][1], mark.get(today, k), mark.get(yday, k))
	}
	if err := setScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return unavailable("set from DescribeRefreshQuota", err)
	}
	return nil
}

// RecordSyncError notes a failed sync on today's mirror.
func (s *RedisStore) RecordSyncError(ctx context.Context, syncErr error) error {
	if syncErr == nil {
		return nil
	}
	now := s.opts.Now()
	key := s.keys.state(s.cal.Day(now))
	pipe := s.rdb.TxPipeline()
	pipe.HSet(ctx, key, "syncerr", strings.TrimSpace(syncErr.Error()))
	pipe.PExpireAt(ctx, key, keyExpiry(s.cal, now))
	if _, err := pipe.Exec(ctx); err != nil {
		return unavailable("record sync error", err)
	}
	return nil
}

// TryLock takes the account's sync lock with SET NX PX.
func (s *RedisStore) TryLock(ctx context.Context, ttl time.Duration) (func(context.Context) error, bool, error) {
	key := s.keys.syncLock()
	token := newReservationID()
	ok, err := s.rdb.SetNX(ctx, key, token, ttl).Result()
	if err != nil {
		return nil, false, unavailable("take sync lock", err)
	}
	if !ok {
		return nil, false, nil
	}
	return func(ctx context.Context) error {
		n, err := unlockScript.Run(ctx, s.rdb, []string{key}, token).Int64()
		if err != nil {
			return unavailable("release sync lock", err)
		}
		if n == 0 {
			return errors.New("quota sync lock expired before release; raise the lock TTL")
		}
		return nil
	}, true, nil
}
