package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claims across replicas. The record of what was sent when (RedisRecent)
// also holds the calls in flight: just before a call is sent, each of its
// paths is claimed in one script, unless another replica's call sent
// after the path was asked for (in flight or accepted) already covers
// it. Such a path is not sent again: it waits for that call to land and
// is settled with its tasks (submitter.awaitCover). The in-flight join of
// one process (flights, batched.go) does the same within a replica; the
// claims close the window between replicas, and between a call that was
// sent and a redelivery of its job after a crash.
//
// A path's record (key keyRecent, a string):
//
//	<sent unix ms>                    accepted call (older versions)
//	<sent unix ms> a <task,task,...>  accepted call and its task IDs
//	<sent unix ms> f <owner>          call in flight, sent by owner
//
// A claim expires after claimTTL, so a replica that dies mid-call leaves
// no path covered by a call that never landed; an accepted record after
// the Recent window.

// claimTTL bounds a claim whose call never lands (its replica died); the
// call's own retries end well before (the client's retry budget).
const claimTTL = 2 * time.Minute

// maxRecordedTasks bounds the task IDs kept in one path's record.
const maxRecordedTasks = 10

// Cover is the call that covers a path: when it was sent, whether it is
// still in flight, and (accepted) its task IDs.
type Cover struct {
	Sent     time.Time
	InFlight bool
	Tasks    []string
	// Owner is the replica whose call is in flight.
	Owner string
}

// claimer is a Recent shared by replicas that records calls in flight.
type claimer interface {
	// Claim records paths as sent at sent by owner, except those that a
	// call of another owner sent after their asked time (with
	// coverMargin) covers: those come back with that call's Cover, the
	// others with a zero Cover.
	Claim(ctx context.Context, action string, paths []string, asked []time.Time, sent time.Time, owner string) ([]Cover, error)
	// Unclaim removes owner's claims of paths sent at sent (the call
	// failed), leaving records written since.
	Unclaim(ctx context.Context, action string, paths []string, sent time.Time, owner string) error
	// Covering returns the record of each path (a zero Cover: none).
	Covering(ctx context.Context, action string, paths []string) ([]Cover, error)
	// RememberTasks records that the API accepted paths in a call sent at
	// sent with task IDs tasks, unless a later call's record is there.
	RememberTasks(ctx context.Context, action string, paths []string, sent time.Time, tasks []string) error
}

// parseRecord reads a path's record.
func parseRecord(v string) (c Cover, owner string, ok bool) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return Cover{}, "", false
	}
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Cover{}, "", false
	}
	c.Sent = time.UnixMilli(ms)
	if len(f) >= 2 && f[1] == "f" {
		c.InFlight = true
		if len(f) >= 3 {
			c.Owner = f[2]
		}
		return c, c.Owner, true
	}
	if len(f) >= 3 && f[1] == "a" {
		c.Tasks = strings.Split(f[2], ",")
	}
	return c, "", true
}

// claimScript claims the paths of one call.
//
// KEYS[i]: keyRecent of path i (all under one account's hash tag).
// ARGV[1]: the call's send time (unix ms); ARGV[2]: the claim's TTL (ms);
// ARGV[3]: the owner (no spaces); ARGV[4]: coverMargin (ms);
// ARGV[4+i]: when path i was asked for (unix ms; 0: unknown, never covered).
// Returns, per path, "" when claimed, else the record that covers it.
var claimScript = redis.NewScript(`
local sent, ttl, owner, margin = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local out = {}
for i, key in ipairs(KEYS) do
  local asked = tonumber(ARGV[4 + i])
  local v = redis.call('GET', key)
  local covered = false
  if v and asked > 0 then
    local ms = tonumber(string.match(v, '^(%d+)'))
    local state, who = string.match(v, '^%d+ (%a) (%S+)')
    if ms and ms > asked + margin and not (state == 'f' and who == owner) then
      covered = true
    end
  end
  if covered then
    out[i] = v
  else
    redis.call('SET', key, sent .. ' f ' .. owner, 'PX', ttl)
    out[i] = ''
  end
end
return out
`)

// unclaimScript removes a failed call's claims.
//
// KEYS[i]: keyRecent of path i; ARGV[1]: the claim's exact record.
var unclaimScript = redis.NewScript(`
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
`)

// rememberScript records an accepted call, unless a later call's record
// (claimed or accepted) is there.
//
// KEYS[i]: keyRecent of path i; ARGV[1]: send time (unix ms); ARGV[2]: the
// record; ARGV[3]: its TTL (ms).
var rememberScript = redis.NewScript(`
local sent = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  local ms = v and tonumber(string.match(v, '^(%d+)'))
  if not ms or ms <= sent then
    redis.call('SET', key, ARGV[2], 'PX', tonumber(ARGV[3]))
  end
end
return 1
`)

func (r *RedisRecent) keys(action string, paths []string) []string {
	keys := make([]string, len(paths))
	for i, p := range paths {
		keys[i] = keyRecent(r.prefix, r.account, action, p)
	}
	return keys
}

// Claim implements claimer. When Redis cannot be reached nothing is
// claimed and nothing is covered: the call goes as it would without
// replicas (a copy may then be paid twice, never dropped).
func (r *RedisRecent) Claim(ctx context.Context, action string, paths []string, asked []time.Time, sent time.Time, owner string) ([]Cover, error) {
	out := make([]Cover, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	args := []any{sent.UnixMilli(), claimTTL.Milliseconds(), owner, coverMargin.Milliseconds()}
	for _, a := range asked {
		ms := int64(0)
		if !a.IsZero() {
			ms = a.UnixMilli()
		}
		args = append(args, ms)
	}
	res, err := claimScript.Run(ctx, r.rdb, r.keys(action, paths), args...).StringSlice()
	if err != nil {
		return out, fmt.Errorf("claim %d paths in Redis (sending them without a claim): %w", len(paths), err)
	}
	for i, v := range res {
		if i < len(out) && v != "" {
			out[i], _, _ = parseRecord(v)
		}
	}
	return out, nil
}

// Unclaim implements claimer.
func (r *RedisRecent) Unclaim(ctx context.Context, action string, paths []string, sent time.Time, owner string) error {
	if len(paths) == 0 {
		return nil
	}
	rec := strconv.FormatInt(sent.UnixMilli(), 10) + " f " + owner
	if err := unclaimScript.Run(ctx, r.rdb, r.keys(action, paths), rec).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("release the claims of %d paths in Redis (they expire in %s): %w", len(paths), claimTTL, err)
	}
	return nil
}

// RememberTasks implements claimer.
func (r *RedisRecent) RememberTasks(ctx context.Context, action string, paths []string, sent time.Time, tasks []string) error {
	if len(paths) == 0 {
		return nil
	}
	rec := strconv.FormatInt(sent.UnixMilli(), 10)
	if len(tasks) > 0 {
		rec += " a " + strings.Join(tasks[:min(len(tasks), maxRecordedTasks)], ",")
	}
	if err := rememberScript.Run(ctx, r.rdb, r.keys(action, paths), sent.UnixMilli(), rec, r.window.Milliseconds()).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("remember %d recent paths in Redis (they may be sent again): %w", len(paths), err)
	}
	return nil
}

// Covering implements claimer.
func (r *RedisRecent) Covering(ctx context.Context, action string, paths []string) ([]Cover, error) {
	out := make([]Cover, len(paths))
	if len(paths) == 0 {
		return out, nil
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(paths))
	for i, k := range r.keys(action, paths) {
		cmds[i] = pipe.Get(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return out, fmt.Errorf("read the records of %d paths in Redis: %w", len(paths), err)
	}
	for i, c := range cmds {
		if v, err := c.Result(); err == nil {
			out[i], _, _ = parseRecord(v)
		}
	}
	return out, nil
}
