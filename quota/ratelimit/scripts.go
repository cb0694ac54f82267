package ratelimit

import "github.com/redis/go-redis/v9"

// Every Lua script of the rate limits lives here, each with its KEYS,
// ARGV and what it returns, beside the builders of the keys they touch.
// Key layout (docs/internals.md), for account A, under the quota store's
// prefix:
//
//	pace    <prefix>{A}:pace:<action>   string: the action's next free
//	                                    call slot (unix µs)
//	urlwin  <prefix>{A}:urlwin:<domain> zset: the domain's takes of the
//	                                    last window -> when they count
//	                                    from (unix ms)
//
// The {A} hash tag keeps an account's keys in the Redis Cluster slot of
// its quota mirror. Each script touches one key.

// keyPace holds the next free call slot of an action.
func keyPace(prefix, account, action string) string {
	return prefix + "{" + account + "}:pace:" + action
}

// keyDomainWindow holds one domain's takes of the last window.
func keyDomainWindow(prefix, account, domain string) string {
	return prefix + "{" + account + "}:urlwin:" + domain
}

// domainWindowLua begins the window scripts (take, landed, block): it
// reads now, drops what left the window or was pending too long, and
// leaves the rest in live, as {leaves, n, member, at, pending} sorted by
// the time they leave, with their sum in sum. A pending take leaves no
// sooner than a whole window from now: the API may count it at any
// moment. Members are "<p|l|b><id>:<n>" (p: taken, its call not answered;
// l: landed; b: a block), scored by the time they count from (unix ms).
//
//	KEYS[1] the domain's window (sorted set, keyDomainWindow)
//	ARGV[1] now, unix ms (0: Redis's TIME)
//	ARGV[2] the window, ms (60 s and the margin)
//	ARGV[3] how long a take may stay pending, ms
//
// It returns nothing: the script it begins goes on from ARGV[4].
const domainWindowLua = `
local now = tonumber(ARGV[1])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local span = tonumber(ARGV[2])
local pendingMax = tonumber(ARGV[3])
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local live = {}
local sum = 0
for i = 1, #all, 2 do
  local m, at = all[i], tonumber(all[i + 1])
  local pending = string.sub(m, 1, 1) == 'p'
  local gone = at + span <= now
  if pending then gone = at + pendingMax <= now end
  if gone then
    redis.call('ZREM', KEYS[1], m)
  else
    local n = tonumber(string.match(m, ':(%d+)$'))
    local leaves = at + span
    if pending then leaves = now + span end
    table.insert(live, {leaves, n, m, at, pending})
    sum = sum + n
  end
end
table.sort(live, function(a, b) return a[1] < b[1] end)
`

// domainTakeScript counts n URLs of a domain in its sliding window if
// they fit, as pending until Landed.
//
//	KEYS[1] the domain's window (sorted set, keyDomainWindow)
//	ARGV[1] now, unix ms (0: Redis's clock)
//	ARGV[2] the window, ms (60 s and the margin)
//	ARGV[3] how long a take may stay pending, ms
//	ARGV[4] n, the URLs of the call
//	ARGV[5] the limit per window
//	ARGV[6] the take's id
//
// Returns 0 when counted, else the ms until the takes that make room for
// n leave the window.
var domainTakeScript = redis.NewScript(domainWindowLua + `
local n = tonumber(ARGV[4])
local limit = tonumber(ARGV[5])
if sum + n <= limit then
  redis.call('ZADD', KEYS[1], now, 'p' .. ARGV[6] .. ':' .. n)
  redis.call('PEXPIRE', KEYS[1], math.max(span, pendingMax) * 2)
  return 0
end
local need = sum + n - limit
local freed = 0
for _, e in ipairs(live) do
  freed = freed + e[2]
  if freed >= need then
    return math.max(1, e[1] - now)
  end
end
return span
`)

// domainGiveScript removes a take whose call did not land.
//
//	KEYS[1] the domain's window (keyDomainWindow)
//	ARGV[1] the take's id
//
// Returns the number of takes removed (0 or 1).
var domainGiveScript = redis.NewScript(`
local all = redis.call('ZRANGE', KEYS[1], 0, -1)
local want = ARGV[1] .. ':'
for _, m in ipairs(all) do
  if string.sub(m, 2, #want + 1) == want then
    return redis.call('ZREM', KEYS[1], m)
  end
end
return 0
`)

// domainLandedScript marks a take landed and counts it from now, when its
// call was answered.
//
//	KEYS[1] the domain's window (keyDomainWindow)
//	ARGV[1] now, unix ms (0: Redis's clock)
//	ARGV[2] the window, ms
//	ARGV[3] how long a take may stay pending, ms
//	ARGV[4] the take's id
//
// Returns 1 when marked, 0 when the take is gone.
var domainLandedScript = redis.NewScript(domainWindowLua + `
local want = ARGV[4] .. ':'
for _, e in ipairs(live) do
  local m = e[3]
  if string.sub(m, 2, #want + 1) == want then
    redis.call('ZREM', KEYS[1], m)
    redis.call('ZADD', KEYS[1], math.max(now, e[4]), 'l' .. string.sub(m, 2))
    redis.call('PEXPIRE', KEYS[1], math.max(span, pendingMax) * 2)
    return 1
  end
end
return 0
`)

// domainBlockScript fills a domain's window until its oldest take leaves
// (a whole window from now if it holds none, or only pending ones), after
// the API refused the domain for its per-minute limit.
//
//	KEYS[1] the domain's window (keyDomainWindow)
//	ARGV[1] now, unix ms (0: Redis's clock)
//	ARGV[2] the window, ms
//	ARGV[3] how long a take may stay pending, ms
//	ARGV[4] the limit per window
//
// Returns the ms until the domain has room again.
var domainBlockScript = redis.NewScript(domainWindowLua + `
local at = now
if #live > 0 and not live[1][5] then at = live[1][4] end
local fill = tonumber(ARGV[4]) - sum
if fill > 0 then
  redis.call('ZADD', KEYS[1], at, 'b' .. now .. ':' .. fill)
  redis.call('PEXPIRE', KEYS[1], math.max(span, pendingMax) * 2)
end
return at + span - now
`)

// paceScript spaces the calls of one action evenly across every replica
// (GCRA with a burst of one): it books the next free slot and says how long
// the caller waits for it. The clock is Redis's own, so replicas with
// skewed clocks still agree.
//
//	KEYS[1] pace key of the action (string: the next free slot, unix µs)
//	ARGV[1] interval between calls, µs
//
// Returns {wait, slot}: the wait in µs (0 when the slot is now) and the
// slot booked (unix µs on Redis's clock).
var paceScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local slot = tonumber(redis.call('GET', KEYS[1]) or '0')
if slot < now then slot = now end
local nxt = slot + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX', math.floor((nxt - now) / 1000) + 1000)
return {slot - now, slot}
`)
