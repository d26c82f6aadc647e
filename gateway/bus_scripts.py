"""The shared bus's Lua scripts (`gateway.redis_bus` says what they are for). Each runs atomically, so
instances publishing at once never interleave inside one."""

from __future__ import annotations

# KEYS: stream, epoch, staging, staging start, and the event's dedup key (absent for events that are
# never repeats). ARGV: entry, approximate length to trim to, an epoch to use if there is none, dedup
# seconds, the staging score and tag.
# Returns {epoch, entry id}; 'staged' while events handed over after an outage wait; nil for a repeat.
PUBLISH = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
if KEYS[5] and not redis.call('SET', KEYS[5], '1', 'NX', 'EX', ARGV[4]) then
  return false
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6] .. ' ' .. ARGV[1])
  return 'staged'
end
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local before = newest and newest[1] or '0-0'
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', ARGV[1], 'p', epoch, 'b', before)
return {epoch, id}
"""

# An event from an outbox. KEYS: epoch, staging, staging start, dedup key. ARGV: entry, an epoch to
# use if there is none, dedup seconds, score, tag. The staging start is Redis's own clock (ms), so
# the grace is measured alike whichever instance moves. Returns 1, or 0 for a repeat.
STAGE = """
if not redis.call('GET', KEYS[1]) then
  redis.call('SET', KEYS[1], ARGV[2])
end
if not redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[3]) then
  return 0
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[3], string.format('%d', now[1] * 1000 + math.floor(now[2] / 1000)))
end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5] .. ' ' .. ARGV[1])
return 1
"""

# KEYS: stream, epoch, staging, staging start. ARGV: grace ms, approximate length to trim to, an epoch
# to use if there is none, how many to move at most. Returns {moved, ms still to wait, left staged}.
MOVE = """
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[4])
  return {0, 0, 0}
end
local now = redis.call('TIME')
now = now[1] * 1000 + math.floor(now[2] / 1000)
local since = tonumber(redis.call('GET', KEYS[4]) or now)
if not redis.call('GET', KEYS[4]) then
  redis.call('SET', KEYS[4], string.format('%d', now))
end
local wait = since + tonumber(ARGV[1]) - now
if wait > 0 then
  return {0, wait, redis.call('ZCARD', KEYS[3])}
end
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  redis.call('SET', KEYS[2], ARGV[3])
  epoch = ARGV[3]
end
local members = redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[4]) - 1)
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local before = newest and newest[1] or '0-0'
for _, member in ipairs(members) do
  local entry = string.match(member, '^%S+ %S+ (.*)$')
  before = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'e', entry, 'p', epoch, 'b', before)
end
redis.call('ZREMRANGEBYRANK', KEYS[3], 0, #members - 1)
local left = redis.call('ZCARD', KEYS[3])
if left == 0 then
  redis.call('DEL', KEYS[4])
end
return {#members, 0, left}
"""
