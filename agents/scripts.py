"""Lua scripts of the hotliners' live state, and the helpers routing shares.

A hotliner's state lives in one Redis hash (`Keys.agent`) and, while
available, in one sorted set per queue and skill level (`Keys.available`),
scored so that the smallest is offered first (longest idle, or fewest calls).
`PRELUDE` (the helpers) is also pasted into the routing scripts of
`queues.scripts`: an offer, an answer or a call's end moves a caller and a
hotliner in one atomic step, so the helpers that move a hotliner are one
text, here.

Conventions as in `queues.scripts`: `ARGV[1]` is the key base, times are epoch
milliseconds, scores are written with `%.0f`.
"""

from __future__ import annotations

from core.lua import LUA_HELPERS

PRELUDE = (
    LUA_HELPERS
    + """
-- An agent's queue memberships, stored as 'queue:level,queue:level'.
local function memberships(akey)
  local t = {}
  for q, l in string.gmatch(field(akey, 'queues'), '([^,:]+):(%d)') do
    t[#t + 1] = {q, l}
  end
  return t
end

-- Score in the available sets: smallest is offered first.
local function idle_score(akey, idle)
  if field(akey, 'strategy') == 'fewest-calls' then
    local calls = tonumber(field(akey, 'calls')) or 0
    return string.format('%.0f', calls * 1e13 + tonumber(idle))
  end
  return string.format('%.0f', tonumber(idle))
end

-- A hotliner ready for the next call: no offer, no leg, no call held; any
-- pending wrap-up timer is void.
local function make_available(base, agent, akey, now)
  redis.call('HSET', akey, 'state', 'available', 'state_since', now,
             'idle_since', now, 'offer', '', 'leg', '', 'call_sid', '')
  redis.call('ZREM', base .. 'timers', 'wrapup:' .. agent)
  local score = idle_score(akey, now)
  for _, m in ipairs(memberships(akey)) do
    redis.call('ZADD', base .. 'available:' .. m[1] .. ':' .. m[2], score, agent)
  end
end

local function make_unavailable(base, agent, akey)
  for _, m in ipairs(memberships(akey)) do
    redis.call('ZREM', base .. 'available:' .. m[1] .. ':' .. m[2], agent)
  end
end

-- A hotliner whose conversation is over: wrap-up until `now + wrapup_ms`
-- (a timer the worker fires on time), or available at once when wrap-up is
-- 0. Returns the state entered.
local function after_call(base, agent, akey, now, wrapup_ms, stream, call, reason)
  -- A queue may set its own wrap-up time (published by `publish_wrapup_times`).
  local queue = field(base .. 'call:' .. call, 'queue')
  if queue ~= '' then
    local own = redis.call('HGET', base .. 'wrapup', queue)
    if own then wrapup_ms = own end
  end
  if tonumber(wrapup_ms) <= 0 then
    make_available(base, agent, akey, now)
    emit(stream, 'agent_state', call, agent, now,
         {'state', 'available', 'from', 'busy', 'reason', reason})
    return 'available'
  end
  redis.call('HSET', akey, 'state', 'wrapup', 'state_since', now)
  redis.call('ZADD', base .. 'timers',
             string.format('%.0f', tonumber(now) + tonumber(wrapup_ms)),
             'wrapup:' .. agent)
  emit(stream, 'agent_state', call, agent, now,
       {'state', 'wrapup', 'from', 'busy', 'reason', reason})
  return 'wrapup'
end
"""
)

# KEYS[1] agent hash, KEYS[2] agents set, KEYS[3] events
# ARGV[1] base, ARGV[2] agent id, ARGV[3] now, ARGV[4] requested state,
# ARGV[5] queue memberships 'queue:level,...', ARGV[6] comma-separated states
# allowed to move to the requested one (from agents.lifecycle.MANUAL_MOVES),
# ARGV[7] routing strategy (decides the score in the available sets),
# ARGV[8] why (a break's reason, shown to supervisors; '' for none)
# -> {1, state} moved, {0, current state} refused
SET_AGENT_STATE = (
    PRELUDE
    + """
local base, agent, now, wanted = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local current = field(KEYS[1], 'state')
if current == '' then current = 'offline' end
-- Leaving wrap-up by hand names the call wrapped up (the call log marks it
-- outcome_missing if no outcome came).
local wrapped = ''
if current == 'wrapup' then wrapped = field(KEYS[1], 'call_sid') end
local allowed = false
for s in string.gmatch(ARGV[6], '[^,]+') do
  if s == current then allowed = true end
end
if not allowed then return {0, current} end
redis.call('SADD', KEYS[2], agent)
make_unavailable(base, agent, KEYS[1])
redis.call('HSET', KEYS[1], 'id', agent, 'queues', ARGV[5], 'strategy', ARGV[7])
if current == 'offline' then redis.call('HSET', KEYS[1], 'calls', 0) end
if wanted == 'available' then
  if current ~= 'available' then
    make_available(base, agent, KEYS[1], now)
  else
    make_available(base, agent, KEYS[1], field(KEYS[1], 'idle_since'))
  end
  redis.call('HSET', KEYS[1], 'missed', 0)
else
  redis.call('HSET', KEYS[1], 'state', wanted, 'state_since', now, 'offer', '')
end
local reason = ARGV[8] or ''
local was = field(KEYS[1], 'reason')
redis.call('HSET', KEYS[1], 'reason', reason)
if current ~= wanted or was ~= reason then
  emit(KEYS[3], 'agent_state', wrapped, agent, now,
       {'state', wanted, 'from', current, 'reason', reason})
end
return {1, wanted}
"""
)

# KEYS[1] agent hash
# ARGV[1] base, ARGV[2] agent id, ARGV[3] the memberships the new skills give,
# ARGV[4] the skills set ('' = back to the roster's), ARGV[5] '1': only if the
# hotliner has the roster's skills now (a reloaded roster: a supervisor's
# skills for today stay)
# -> the skills before ('' = the roster's)
#
# An available hotliner moves between the queues' sets at once, keeping their
# idle time (their place in line for the next call).
SET_SKILLS = (
    PRELUDE
    + """
local base, agent = ARGV[1], ARGV[2]
local before = field(KEYS[1], 'skills')
if ARGV[5] == '1' and before ~= '' then return before end
local available = field(KEYS[1], 'state') == 'available'
if available then make_unavailable(base, agent, KEYS[1]) end
redis.call('HSET', KEYS[1], 'id', agent, 'queues', ARGV[3], 'skills', ARGV[4])
if available then
  local score = idle_score(KEYS[1], field(KEYS[1], 'idle_since'))
  for _, m in ipairs(memberships(KEYS[1])) do
    redis.call('ZADD', base .. 'available:' .. m[1] .. ':' .. m[2], score, agent)
  end
end
return before
"""
)

# KEYS[1] agent hash, KEYS[2] events
# ARGV[1] base, ARGV[2] agent id, ARGV[3] now, ARGV[4] wrap-up deadline
# (state_since at or before it means the wrap-up time is over)
# -> 1 available again, 0 not in an expired wrap-up
END_WRAPUP = (
    PRELUDE
    + """
if field(KEYS[1], 'state') ~= 'wrapup' then return 0 end
if tonumber(field(KEYS[1], 'state_since')) > tonumber(ARGV[4]) then return 0 end
if field(KEYS[1], 'extended') == field(KEYS[1], 'call_sid')
   and tonumber(field(KEYS[1], 'extended_until')) > tonumber(ARGV[3]) then
  return 0
end
local call = field(KEYS[1], 'call_sid')
make_available(ARGV[1], ARGV[2], KEYS[1], ARGV[3])
emit(KEYS[2], 'agent_state', call, ARGV[2], ARGV[3],
     {'state', 'available', 'from', 'wrapup', 'reason', 'wrapup_timeout'})
return 1
"""
)

# KEYS[1] agent hash, KEYS[2] events
# ARGV[1] base, ARGV[2] agent id, ARGV[3] now, ARGV[4] the call the hotliner is
# stuck on, ARGV[5] why (for the event), ARGV[6] wrap-up ms
# -> the state the hotliner was freed into, or false if not stuck on that call
RELEASE_AGENT = (
    PRELUDE
    + """
local state = field(KEYS[1], 'state')
if field(KEYS[1], 'call_sid') ~= ARGV[4] then return false end
local to
if state == 'busy' then
  return after_call(ARGV[1], ARGV[2], KEYS[1], ARGV[3], ARGV[6], KEYS[2], ARGV[4],
                    ARGV[5])
elseif state == 'reserved' then
  redis.call('HSET', KEYS[1], 'call_sid', '', 'leg', '')
  make_available(ARGV[1], ARGV[2], KEYS[1], ARGV[3])
  to = 'available'
else
  return false
end
emit(KEYS[2], 'agent_state', ARGV[4], ARGV[2], ARGV[3],
     {'state', to, 'from', state, 'reason', ARGV[5]})
return to
"""
)


# KEYS[1] agent hash, KEYS[2] events
# ARGV[1] base, ARGV[2] agent id, ARGV[3] now, ARGV[4] the call wrapped up,
# ARGV[5] extra ms
# -> the new end of wrap-up (ms), or false: not in wrap-up of that call, or
# already extended once for it
EXTEND_WRAPUP = (
    PRELUDE
    + """
if field(KEYS[1], 'state') ~= 'wrapup' or field(KEYS[1], 'call_sid') ~= ARGV[4] then
  return false
end
if field(KEYS[1], 'extended') == ARGV[4] then return false end
local timer = redis.call('ZSCORE', ARGV[1] .. 'timers', 'wrapup:' .. ARGV[2])
local due = tonumber(ARGV[3])
if timer and tonumber(timer) > due then due = tonumber(timer) end
due = string.format('%.0f', due + tonumber(ARGV[5]))
redis.call('HSET', KEYS[1], 'extended', ARGV[4], 'extended_until', due)
redis.call('ZADD', ARGV[1] .. 'timers', due, 'wrapup:' .. ARGV[2])
emit(KEYS[2], 'agent_state', ARGV[4], ARGV[2], ARGV[3],
     {'state', 'wrapup', 'from', 'wrapup', 'reason', 'extended', 'until', due})
return due
"""
)
