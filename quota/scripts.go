package quota

import "github.com/redis/go-redis/v9"

// Every Lua script of the quota mirror lives here, each with its KEYS,
// ARGV and what it returns, next to RedisStore which runs them (the rate
// limits' scripts are in quota/ratelimit/scripts.go). Key layout
// (docs/quota.md), for account A and quota day D of the CDN mirror:
//
//	state   <prefix>{A}:D:state    hash: <kind>:total, <kind>:remain,
//	                               <kind>:reserved, <kind>:committed,
//	                               <kind>:expired, synced (ms), syncerr
//	res     <prefix>{A}:D:res      zset: reservation id -> deadline (ms)
//	resinfo <prefix>{A}:D:resinfo  hash: id -> "<kind> <granted>", or
//	                               "x <kind> <granted>" once expired
//	lock    <prefix>{A}:synclock   string: token of the syncing replica
//
// The DCDN mirror has the same keys with "dcdn:" after the account
// (<prefix>{A}:dcdn:D:state, <prefix>{A}:dcdn:synclock; keyspace in
// redis.go). The {A} hash tag keeps one account's keys in one Redis
// Cluster slot.

// luaReclaim is prepended to the scripts that touch reservations. It
// returns up to 256 reservations whose deadline passed: their units go back
// to remain and they stay in resinfo as tombstones, so that a late Commit
// can still take back what its call spent.
const luaReclaim = `
local function reclaim(state, res, info, now)
  local ids = redis.call('ZRANGEBYSCORE', res, '-inf', now, 'LIMIT', 0, 256)
  for _, id in ipairs(ids) do
    local v = redis.call('HGET', info, id)
    if v and string.sub(v, 1, 2) ~= 'x ' then
      local kind, g = string.match(v, '^(%w+) (%d+)$')
      g = tonumber(g)
      redis.call('HINCRBY', state, kind .. ':reserved', -g)
      redis.call('HINCRBY', state, kind .. ':remain', g)
      redis.call('HINCRBY', state, kind .. ':expired', g)
      redis.call('HSET', info, id, 'x ' .. v)
    end
    redis.call('ZREM', res, id)
  end
end
local function num(key, field)
  return tonumber(redis.call('HGET', key, field) or '0')
end
`

// reserveScript takes up to n units of a kind.
//
//	KEYS[1] state, KEYS[2] res, KEYS[3] resinfo (of the current day)
//	ARGV[1] kind, ARGV[2] n, ARGV[3] now (ms), ARGV[4] deadline (ms),
//	ARGV[5] reservation id, ARGV[6] key expiry (unix ms)
//
// Returns {status, granted, remain}: status 0 = ok (granted may be 0),
// 1 = the day was never synced (nothing granted).
var reserveScript = redis.NewScript(luaReclaim + `
if redis.call('HEXISTS', KEYS[1], 'synced') == 0 then return {1, 0, 0} end
reclaim(KEYS[1], KEYS[2], KEYS[3], ARGV[3])
local kind = ARGV[1]
local remain = num(KEYS[1], kind .. ':remain')
local g = tonumber(ARGV[2])
if remain < g then g = remain end
if g < 0 then g = 0 end
if g > 0 then
  redis.call('HINCRBY', KEYS[1], kind .. ':remain', -g)
  redis.call('HINCRBY', KEYS[1], kind .. ':reserved', g)
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
  redis.call('HSET', KEYS[3], ARGV[5], kind .. ' ' .. g)
  redis.call('PEXPIREAT', KEYS[2], ARGV[6])
  redis.call('PEXPIREAT', KEYS[3], ARGV[6])
end
return {0, g, remain - g}
`)

// commitScript spends used units of a reservation and returns the rest.
//
//	KEYS[1] state, KEYS[2] res, KEYS[3] resinfo (of the reservation's day)
//	ARGV[1] reservation id, ARGV[2] used, ARGV[3] now (ms)
//
// Returns 0 = committed, 1 = late: the reservation had expired and its
// units were back in remain, so used is taken from remain again,
// 2 = unknown (already settled).
var commitScript = redis.NewScript(luaReclaim + `
reclaim(KEYS[1], KEYS[2], KEYS[3], ARGV[3])
local v = redis.call('HGET', KEYS[3], ARGV[1])
if not v then return 2 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local used = tonumber(ARGV[2])
if string.sub(v, 1, 2) == 'x ' then
  local kind = string.match(v, '^x (%w+) ')
  local remain = num(KEYS[1], kind .. ':remain')
  local take = used
  if take > remain then take = remain end
  if take > 0 then redis.call('HINCRBY', KEYS[1], kind .. ':remain', -take) end
  redis.call('HINCRBY', KEYS[1], kind .. ':committed', used)
  return 1
end
local kind, g = string.match(v, '^(%w+) (%d+)$')
g = tonumber(g)
redis.call('HINCRBY', KEYS[1], kind .. ':reserved', -g)
redis.call('HINCRBY', KEYS[1], kind .. ':remain', g - used)
redis.call('HINCRBY', KEYS[1], kind .. ':committed', used)
return 0
`)

// refundScript returns all of a reservation.
//
//	KEYS[1] state, KEYS[2] res, KEYS[3] resinfo (of the reservation's day)
//	ARGV[1] reservation id, ARGV[2] now (ms)
//
// Returns 0 = refunded, 1 = it had expired (units already returned),
// 2 = unknown (already settled).
var refundScript = redis.NewScript(luaReclaim + `
reclaim(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
local v = redis.call('HGET', KEYS[3], ARGV[1])
if not v then return 2 end
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if string.sub(v, 1, 2) == 'x ' then return 1 end
local kind, g = string.match(v, '^(%w+) (%d+)$')
g = tonumber(g)
redis.call('HINCRBY', KEYS[1], kind .. ':reserved', -g)
redis.call('HINCRBY', KEYS[1], kind .. ':remain', g)
return 0
`)

// extendScript moves a live reservation's deadline.
//
//	KEYS[1] state, KEYS[2] res, KEYS[3] resinfo (of the reservation's day)
//	ARGV[1] reservation id, ARGV[2] now (ms), ARGV[3] new deadline (ms)
//
// Returns 0 = extended, 2 = unknown, settled or already expired.
var extendScript = redis.NewScript(luaReclaim + `
reclaim(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
local v = redis.call('HGET', KEYS[3], ARGV[1])
if (not v) or string.sub(v, 1, 2) == 'x ' then return 2 end
redis.call('ZADD', KEYS[2], 'XX', ARGV[3], ARGV[1])
return 0
`)

// snapshotScript reclaims expired reservations and reads the day's state.
//
//	KEYS[1] state, KEYS[2] res, KEYS[3] resinfo (of the current day)
//	ARGV[1] now (ms)
//
// Returns HGETALL of state: field, value, field, value, ...
var snapshotScript = redis.NewScript(luaReclaim + `
reclaim(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
return redis.call('HGETALL', KEYS[1])
`)

// setScript sets the current day from a DescribeRefreshQuota answer:
// remain = api remain - reserved (today and yesterday, whose calls may land
// after the read) - units committed since the mark (their calls may have
// landed after the read), never below 0.
//
//	KEYS[1..3] state, res, resinfo of the current day
//	KEYS[4..6] state, res, resinfo of the day before
//	ARGV[1] now (ms), ARGV[2] key expiry (unix ms), ARGV[3] "1" if the
//	marks are valid; then per kind 5 values: kind, total, api remain,
//	committed mark of the current day, committed mark of the day before
//
// Returns the new remain of each kind, in ARGV order.
var setScript = redis.NewScript(luaReclaim + `
reclaim(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
reclaim(KEYS[4], KEYS[5], KEYS[6], ARGV[1])
local out = {}
for i = 4, #ARGV, 5 do
  local kind = ARGV[i]
  local pending = num(KEYS[1], kind .. ':reserved') + num(KEYS[4], kind .. ':reserved')
  if ARGV[3] == '1' then
    local ct = num(KEYS[1], kind .. ':committed') - tonumber(ARGV[i + 3])
    local cy = num(KEYS[4], kind .. ':committed') - tonumber(ARGV[i + 4])
    if ct > 0 then pending = pending + ct end
    if cy > 0 then pending = pending + cy end
  end
  local remain = tonumber(ARGV[i + 2]) - pending
  if remain < 0 then remain = 0 end
  redis.call('HSET', KEYS[1], kind .. ':total', ARGV[i + 1], kind .. ':remain', remain)
  table.insert(out, remain)
end
redis.call('HSET', KEYS[1], 'synced', ARGV[1])
redis.call('HDEL', KEYS[1], 'syncerr')
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return out
`)

// unlockScript deletes the sync lock only if it still holds our token.
//
//	KEYS[1] lock
//	ARGV[1] token
//
// Returns 1 = released, 0 = it was not ours any more.
var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)
