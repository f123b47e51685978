"""Lua scripts: every change to callers, queues, offers and hotliners.

Each script runs atomically in Redis, checks the states it expects (a
compare-and-set against the lifecycle tables in `queues.lifecycle` and
`agents.lifecycle`), applies the move, and appends the event to the stream in
the same step. That is what makes double offers and lost callers impossible
whatever the interleaving of webhooks, workers and web processes.

Conventions: `ARGV[1]` is always the key base (`Keys.base`, which carries the
hash tag), so scripts derive a caller's or hotliner's key from its id; every
derived key shares the tag, hence the cluster slot, of the declared keys.
Times are epoch milliseconds. Scores are written with `%.0f`: Lua's
`tostring` would round a 14-digit score.
"""

from __future__ import annotations

from agents.scripts import PRELUDE as AGENT_PRELUDE
from core.lua import LUA_HELPERS
from queues.lifecycle import lua_tables

#: How long a call's live state is kept once it ended (s). The call log has
#: the call from its end on (the `call_ended` event); what may still touch the
#: live state comes well within a day: the carrier's late or repeated
#: callbacks, the hotliner's outcome after wrap-up and its correction, the
#: sweeper. (The lost-call reconciliation only looks at calls the call log
#: still has as live.) Kept for ever, ended calls made Redis grow without
#: end, about 530 bytes a call (a 10-minute soak at 20 calls/s).
ENDED_CALL_SECONDS = 86_400

PRELUDE = (
    lua_tables()
    + AGENT_PRELUDE
    + f"local ENDED_CALL_SECONDS = {ENDED_CALL_SECONDS}\n"
    + """
-- A call that ended: its hash goes after `ENDED_CALL_SECONDS` (every
-- `call_ended` event comes with it).
local function ended(ckey)
  redis.call('EXPIRE', ckey, ENDED_CALL_SECONDS)
end

-- Exponential moving average of a duration (ms) in a queue's stats hash; the
-- estimated wait announced to callers is built on it.
local function observe(base, qid, name, value)
  if qid == '' or value < 0 then return end
  local skey = base .. 'stats:' .. qid
  local old = tonumber(redis.call('HGET', skey, name))
  local new = value
  if old then new = old * 0.8 + value * 0.2 end
  redis.call('HSET', skey, name, string.format('%.0f', new))
end

-- The summary of a caller number's last calls (queues.history), or nil for
-- a caller whose number is not one (anonymous, forged).
local function history_key(base, ckey)
  local from = field(ckey, 'from')
  if #from > 21 or not string.match(from, '^%+?%d%d%d+$') then return nil end
  return base .. 'caller:' .. from
end

local function remember(hkey, ...)
  redis.call('HSET', hkey, ...)
  redis.call('EXPIRE', hkey, 2592000)  -- 30 days after the last change
end

-- A caller whose hotliner left before they met goes back to their place
-- (same score: priority, then first entry time).
local function requeue(base, ckey, sid, now, stream, reason)
  local to = MOVES.hotliner_left[field(ckey, 'state')]
  if not to then return false end
  local queue = field(ckey, 'queue')
  redis.call('HSET', ckey, 'state', to, 'agent', '', 'leg', '', 'offer', '',
             'after', '')
  redis.call('ZADD', base .. 'queue:' .. queue, field(ckey, 'score'), sid)
  emit(stream, 'requeued', sid, '', now, {'queue', queue, 'reason', reason})
  return true
end

-- A note for one hotliner's console only (their own stream), not for the
-- call log: the other side of a warm transfer learns what happened.
local function tell(stream, agent, kind, call, now, extra)
  if agent == '' then return end
  local args = {stream .. ':agent:' .. agent, 'MAXLEN', '~', AGENT_EVENTS_KEPT, '*',
                'type', kind, 'call', call, 'agent', agent, 'at', now}
  for i = 1, #extra do args[#args + 1] = extra[i] end
  redis.call('XADD', unpack(args))
end

-- A warm transfer in progress (queues.warm_transfer): the caller on hold
-- while their hotliner briefs a specialist, kept in these call fields.
local CONSULT_FIELDS = {'consult', 'consult_agent', 'consult_state', 'consult_leg',
                        'consult_from', 'consult_notes', 'consult_queue',
                        'consult_external', 'consult_steps'}

local function unhold(ckey, sid, agent, now, stream)
  if field(ckey, 'hold') == '1' then
    redis.call('HSET', ckey, 'hold', '0')
    emit(stream, 'hold', sid, agent, now, {'on', '0'})
  end
end

-- The warm transfer will not happen (declined, not answered, cancelled, the
-- specialist or the caller left): the specialist is let go (no wrap-up: they
-- only heard the briefing) and the caller stays with their hotliner. Returns
-- the specialist's leg, to end ('' none).
local function end_consult(base, ckey, sid, now, stream, reason)
  local offer = field(ckey, 'consult')
  if offer == '' then return '' end
  local specialist = field(ckey, 'consult_agent')  -- '' for an outside number
  local okey = base .. 'offer:' .. offer
  local leg = field(ckey, 'consult_leg')
  if leg == '' then leg = field(okey, 'leg') end
  redis.call('DEL', okey)
  redis.call('ZREM', base .. 'offers', offer)
  local from = field(ckey, 'consult_from')
  local who = specialist
  if who == '' then who = field(ckey, 'consult_external') end
  redis.call('HDEL', ckey, unpack(CONSULT_FIELDS))
  unhold(ckey, sid, from, now, stream)
  local said = {'specialist', who, 'reason', reason}
  if specialist == '' then said[#said + 1] = 'external'; said[#said + 1] = '1' end
  emit(stream, 'consult_ended', sid, from, now, said)
  if specialist == '' then return leg end
  local skey = base .. 'agent:' .. specialist
  local sstate = field(skey, 'state')
  if field(skey, 'call_sid') == sid and (sstate == 'reserved' or sstate == 'busy') then
    make_available(base, specialist, skey, now)
    emit(stream, 'agent_state', sid, specialist, now,
         {'state', 'available', 'from', sstate, 'reason', 'consult_' .. reason})
    if sstate == 'reserved' then
      tell(stream, specialist, 'offer_rejected', sid, now,
           {'offer', offer, 'reason', reason})
    end
  end
  return leg
end

-- The hotliner who briefed the specialist leaves: the specialist has the
-- caller now (and the notes), in the queue they were asked from. Returns the
-- state the hotliner leaving enters.
local function hand_over(base, ckey, sid, now, stream, wrapup_ms)
  local from, to = field(ckey, 'agent'), field(ckey, 'consult_agent')
  -- Someone outside the hotline: no hotliner holds the call any more.
  local external = field(ckey, 'consult_external')
  if to == '' then to = 'external:' .. external end
  local fkey = base .. 'agent:' .. from
  local queue = field(ckey, 'queue')
  local talk = tonumber(field(ckey, 'talk_started'))
  if talk then observe(base, queue, 'talk_ms', tonumber(now) - talk) end
  local astate = field(fkey, 'state')
  if astate == 'busy' and field(fkey, 'call_sid') == sid then
    astate = after_call(base, from, fkey, now, wrapup_ms, stream, sid, 'transferred')
  end
  local to_queue = field(ckey, 'consult_queue')
  if to_queue == '' then to_queue = queue end
  local notes = field(ckey, 'consult_notes')
  local steps = field(ckey, 'consult_steps')
  local transfers = (tonumber(field(ckey, 'transfers')) or 0) + 1
  redis.call('HSET', ckey, 'agent', to, 'leg', field(ckey, 'consult_leg'),
             'queue', to_queue, 'talk_started', now, 'transferred_by', from,
             'transfer_notes', notes, 'transfer_steps', steps,
             'transfers', tostring(transfers), 'hold', '0')
  redis.call('HDEL', ckey, unpack(CONSULT_FIELDS))
  redis.call('ZREM', base .. 'timers', 'alone:' .. sid)
  emit(stream, 'transferred', sid, from, now,
       {'kind', external == '' and 'warm' or 'external', 'from_queue', queue,
        'queue', to_queue, 'to', to, 'notes', notes, 'steps', steps})
  if external == '' then
    emit(stream, 'talking', sid, to, now, {})
  else
    emit(stream, 'talking', sid, '', now, {'external', external})
  end
  return astate
end
"""
)

# KEYS[1] call hash, KEYS[2] active calls zset, KEYS[3] events
# ARGV[1] base, ARGV[2] call sid, ARGV[3] now, ARGV[4] from, ARGV[5] to,
# ARGV[6] language
# -> 1 created, 0 already known (Twilio retried the webhook)
START_CALL = (
    PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'sid', ARGV[2], 'state', INITIAL, 'created', ARGV[3],
           'from', ARGV[4], 'to', ARGV[5], 'lang', ARGV[6], 'offers', 0)
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[2])
emit(KEYS[3], 'call_started', ARGV[2], '', ARGV[3],
     {'from', ARGV[4], 'to', ARGV[5], 'lang', ARGV[6]})
return 1
"""
)

# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] event type,
# ARGV[5..] field/value pairs stored on the call and carried by the event
# -> 1 noted, 0 unknown or ended call. Facts already known are not noted
# again: a retried webhook logs one event, not two.
NOTE_CALL = (
    PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or TERMINAL[state] then return 0 end
local changed = false
for i = 5, #ARGV, 2 do
  if field(KEYS[1], ARGV[i]) ~= ARGV[i + 1] then changed = true end
end
if not changed then return 1 end
local extra = {}
for i = 5, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  extra[#extra + 1] = ARGV[i]
  extra[#extra + 1] = ARGV[i + 1]
end
emit(KEYS[2], ARGV[4], ARGV[2], field(KEYS[1], 'agent'), ARGV[3], extra)
return 1
"""
)

# KEYS[1] call hash, KEYS[2] queue zset, KEYS[3] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] queue id, ARGV[4] priority 0..9, ARGV[5] now
# -> 1 queued, 0 already in that queue, -1 call not in the IVR, -2 unknown call
ENQUEUE = (
    PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -2 end
if state == 'queued' and field(KEYS[1], 'queue') == ARGV[3] then return 0 end
local to = MOVES.enqueue[state]
if not to then return -1 end
local cap = tonumber(ARGV[6] or '0')
if cap > 0 and redis.call('ZCARD', KEYS[2]) >= cap then return -3 end
local first = field(KEYS[1], 'first_queued')
if first == '' then first = ARGV[5] end
local score = string.format('%.0f', (9 - tonumber(ARGV[4])) * 1e13 + tonumber(first))
redis.call('HSET', KEYS[1], 'state', to, 'queue', ARGV[3],
           'priority', ARGV[4], 'first_queued', first, 'score', score)
redis.call('ZADD', KEYS[2], score, ARGV[2])
local hkey = history_key(ARGV[1], KEYS[1])
if hkey then
  remember(hkey, 'last_call', ARGV[2], 'last_queue', ARGV[3],
           'last_started', field(KEYS[1], 'created'))
end
emit(KEYS[3], 'enqueued', ARGV[2], '', ARGV[5],
     {'queue', ARGV[3], 'priority', ARGV[4], 'queued_at', first})
return 1
"""
)

# KEYS[1] offers zset, KEYS[2] events, KEYS[3..] the queues to serve (zsets)
# ARGV[1] base, ARGV[2] now, ARGV[3] offer expiry, ARGV[4] offer id,
# ARGV[5] strategy (longest-idle | fewest-calls | skill-level),
# ARGV[6] offers a second at most (the carrier's calls per second; 0: any),
# then 5 values per queue, in KEYS order: queue id, minimum skill level,
# overflow after (ms waited, 0 = never), skill level accepted after overflow,
# backup queue whose hotliners may also take the call after overflow ('' none)
# -> {call sid, agent id, queue id} when an offer was made, the ms to wait
# when one could be made but the pace forbids it now, false otherwise
#
# The waiting caller with the smallest score among the queue heads (highest
# priority, then longest wait) is matched first; a head nobody can take now
# does not stop a later head of another queue from being served. A returning
# caller's preferred hotliner is taken when available with the skill.
#
# The pace is a token bucket (`pace` hash: tokens, at) holding a second's
# worth of offers: each offer rings a hotliner with an outbound call, and
# Twilio places an account's calls at its CPS, queueing the rest while their
# ring time runs out. When it is empty nothing changes but the `dispatch`
# timer, set (or brought forward) to when the next token comes: the worker
# then offers again.
MATCH = (
    PRELUDE
    + """
local base, now, strategy = ARGV[1], tonumber(ARGV[2]), ARGV[5]

local function available(qid, lvl, agent)
  local akey = base .. 'available:' .. qid .. ':' .. lvl
  return redis.call('ZSCORE', akey, agent)
end

-- The rota's word, in the hotliner's hash: on shift until `shift_until`
-- (ms; absent: no end known). Someone past it is never offered a call, even
-- between two sweeps of the worker (a wrap-up ending after the shift).
local function on_shift(akey)
  local until_ms = tonumber(field(akey, 'shift_until'))
  return until_ms == nil or until_ms > now
end

-- A specialist on call is offered only the callers their rule lets
-- through: at their lowest priority or above, or any while an incident is
-- announced (if their rule says so). Ordinary hotliners have no rule.
local incident_now = nil
local function accepts(akey, priority)
  local floor = tonumber(field(akey, 'min_priority'))
  if floor == nil or priority >= floor then return true end
  if field(akey, 'incident_any') ~= '1' then return false end
  if incident_now == nil then
    incident_now = redis.call('EXISTS', base .. 'incident') == 1
  end
  return incident_now
end

local function pick_agent(qid, level, preferred, priority)
  local pkey = base .. 'agent:' .. preferred
  if preferred ~= '' and field(pkey, 'state') == 'available' and on_shift(pkey)
     and accepts(pkey, priority) then
    for lvl = level, 5 do
      if available(qid, lvl, preferred) then return preferred end
    end
  end
  local best, best_score = nil, nil
  for lvl = 5, level, -1 do
    local akey = base .. 'available:' .. qid .. ':' .. lvl
    -- Longest idle first: stale entries (no longer available) go, hotliners
    -- past their shift stay for the sweep to log out and are passed over, as
    -- are specialists on call this caller is not for.
    local line = redis.call('ZRANGE', akey, 0, 15, 'WITHSCORES')
    for i = 1, #line, 2 do
      local agent = line[i]
      local hkey = base .. 'agent:' .. agent
      if field(hkey, 'state') ~= 'available' then
        redis.call('ZREM', akey, agent)
      elseif on_shift(hkey) and accepts(hkey, priority) then
        local score = tonumber(line[i + 1])
        if best_score == nil or score < best_score then
          best, best_score = agent, score
        end
        break
      end
    end
    if best and strategy == 'skill-level' then return best end
  end
  return best
end

-- 0 and a token taken, or the ms until the next token (none taken).
local function paced()
  local rate = tonumber(ARGV[6])
  if rate <= 0 then return 0 end
  local pkey = base .. 'pace'
  local burst = math.max(1, rate)
  local tokens = tonumber(field(pkey, 'tokens')) or burst
  local since = tonumber(field(pkey, 'at')) or now
  tokens = math.min(burst, tokens + math.max(0, now - since) * rate / 1000)
  if tokens < 1 then
    local wait = math.max(1, math.ceil((1 - tokens) * 1000 / rate))
    redis.call('ZADD', base .. 'timers', 'LT', now + wait, 'dispatch')
    return wait
  end
  redis.call('HSET', pkey, 'tokens', tostring(tokens - 1), 'at', ARGV[2])
  return 0
end

local heads = {}
for i = 3, #KEYS do
  for _ = 1, 32 do
    local h = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    if #h == 0 then break end
    if MOVES.offer[field(base .. 'call:' .. h[1], 'state')] then
      heads[#heads + 1] = {h[1], tonumber(h[2]), i}
      break
    end
    redis.call('ZREM', KEYS[i], h[1])
  end
end
table.sort(heads, function(a, b) return a[2] < b[2] end)

for _, head in ipairs(heads) do
  local sid, qkey = head[1], KEYS[head[3]]
  local o = 6 + (head[3] - 3) * 5
  local qid = ARGV[o + 1]
  local level = tonumber(ARGV[o + 2])
  local after = tonumber(ARGV[o + 3])
  local backup = ARGV[o + 5]
  local ckey = base .. 'call:' .. sid
  local first = tonumber(field(ckey, 'first_queued')) or now
  local overflowed = after > 0 and now - first >= after
  if overflowed then level = tonumber(ARGV[o + 4]) end
  local preferred = field(ckey, 'preferred')
  local priority = tonumber(field(ckey, 'priority')) or 0
  local agent = pick_agent(qid, level, preferred, priority)
  if not agent and overflowed and backup ~= '' then
    agent = pick_agent(backup, 1, preferred, priority)
  end
  if agent then
    local wait = paced()
    if wait > 0 then return wait end
    local akey = base .. 'agent:' .. agent
    local offer = ARGV[4]
    redis.call('ZREM', qkey, sid)
    make_unavailable(base, agent, akey)
    redis.call('HSET', ckey, 'state', MOVES.offer[field(ckey, 'state')],
               'offer', offer, 'agent', agent)
    redis.call('HINCRBY', ckey, 'offers', 1)
    redis.call('HSET', akey, 'state', 'reserved', 'state_since', ARGV[2],
               'call_sid', sid, 'offer', offer)
    redis.call('HSET', base .. 'offer:' .. offer, 'call', sid, 'agent', agent,
               'queue', qid, 'expires', ARGV[3], 'leg', '', 'created', ARGV[2])
    redis.call('ZADD', KEYS[1], ARGV[3], offer)
    emit(KEYS[2], 'offered', sid, agent, ARGV[2],
         {'queue', qid, 'offer', offer, 'level', tostring(level)})
    redis.call('HINCRBY', base .. 'counters', 'offers', 1)  -- for /metrics
    return {sid, agent, qid}
  end
end
return false
"""
)

# KEYS[1] offer hash, KEYS[2] the offered hotliner's hash
# ARGV[1] base, ARGV[2] offer id, ARGV[3] agent leg CallSid
# -> 1 recorded, 2 the hotliner already answered on this very leg (ACCEPT
# ran first: nothing to do), 0 offer gone otherwise (the caller left, or it
# was rejected): the leg must be ended
#
# The leg is placed by a REST request whose answer can come back after the
# hotliner's phone has answered, so "no offer any more" alone does not mean
# "caller gone": ACCEPT records the answering leg, and that is checked here.
SET_OFFER_LEG = (
    PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'leg', ARGV[3])
  if field(KEYS[2], 'offer') == ARGV[2] then
    redis.call('HSET', KEYS[2], 'leg', ARGV[3])
  end
  return 1
end
if field(KEYS[2], 'leg') == ARGV[3] then return 2 end
return 0
"""
)

# KEYS[1] offer hash, KEYS[2] offers zset, KEYS[3] events
# ARGV[1] base, ARGV[2] offer id, ARGV[3] now, ARGV[4] the answering leg's
# CallSid (from the answer webhook itself, never a copy that may be stale),
# ARGV[5] ms after which an unbridged caller is bridged again (timer)
# -> {call sid, agent id, queued_at} accepted, false if the offer is no longer valid
ACCEPT = (
    PRELUDE
    + """
local base, offer, now, leg = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local sid = redis.call('HGET', KEYS[1], 'call')
local agent = redis.call('HGET', KEYS[1], 'agent')
local ckey = base .. 'call:' .. sid
local akey = base .. 'agent:' .. agent
local to = MOVES.accept[field(ckey, 'state')]
if not to or field(ckey, 'offer') ~= offer then return false end
if field(akey, 'state') ~= 'reserved' or field(akey, 'offer') ~= offer then
  return false
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], offer)
redis.call('HSET', ckey, 'state', to, 'answered', now, 'offer', '', 'leg', leg)
redis.call('HSET', akey, 'state', 'busy', 'state_since', now, 'offer', '', 'missed', 0,
           'leg', leg)
redis.call('HINCRBY', akey, 'calls', 1)
-- Backstop: if the caller is not in the conference by then, bridge again.
redis.call('ZADD', base .. 'timers',
           string.format('%.0f', tonumber(now) + tonumber(ARGV[5])), 'bridge:' .. sid)
local queued = field(ckey, 'first_queued')
emit(KEYS[3], 'accepted', sid, agent, now,
     {'queue', field(ckey, 'queue'), 'queued_at', queued})
return {sid, agent, queued}
"""
)

# KEYS[1] offer hash, KEYS[2] offers zset, KEYS[3] events
# ARGV[1] base, ARGV[2] offer id, ARGV[3] now, ARGV[4] reason,
# ARGV[5] missed offers before the hotliner is set away, ARGV[6] '1' if this
# counts as a miss ('0': our side failed, e.g. live state was unreachable)
# -> {call sid, agent id, agent state, queue id, '1' if it ended a warm
# transfer (the caller is to be taken off hold)} or false if already handled
REJECT = (
    PRELUDE
    + """
local base, offer, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local sid = redis.call('HGET', KEYS[1], 'call')
local agent = redis.call('HGET', KEYS[1], 'agent')
local queue = redis.call('HGET', KEYS[1], 'queue')
local consult = field(KEYS[1], 'kind') == 'consult'
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], offer)
local ckey = base .. 'call:' .. sid
local back = MOVES.offer_rejected[field(ckey, 'state')]
local warm = ''
if consult then
  -- A specialist asked for a warm transfer did not take it: the caller is
  -- back with the hotliner who asked (told on their console).
  if field(ckey, 'consult') == offer then
    local from = field(ckey, 'consult_from')
    redis.call('HDEL', ckey, unpack(CONSULT_FIELDS))
    unhold(ckey, sid, from, now, KEYS[3])
    emit(KEYS[3], 'consult_ended', sid, from, now,
         {'specialist', agent, 'reason', ARGV[4]})
    warm = '1'
  end
elseif back and field(ckey, 'offer') == offer then
  redis.call('HSET', ckey, 'state', back, 'offer', '', 'agent', '')
  redis.call('ZADD', base .. 'queue:' .. queue, field(ckey, 'score'), sid)
end
local akey = base .. 'agent:' .. agent
local astate = field(akey, 'state')
if astate == 'reserved' and field(akey, 'offer') == offer then
  local missed = tonumber(field(akey, 'missed')) or 0
  if ARGV[6] ~= '0' then missed = redis.call('HINCRBY', akey, 'missed', 1) end
  redis.call('HSET', akey, 'call_sid', '', 'leg', '')
  if missed >= tonumber(ARGV[5]) then
    redis.call('HSET', akey, 'state', 'away', 'state_since', now, 'offer', '')
    astate = 'away'
    emit(KEYS[3], 'agent_state', '', agent, now, {'state', 'away', 'reason', 'missed'})
  else
    make_available(base, agent, akey, now)
    astate = 'available'
  end
end
if consult then
  tell(KEYS[3], agent, 'offer_rejected', sid, now, {'offer', offer, 'reason', ARGV[4]})
else
  emit(KEYS[3], 'offer_rejected', sid, agent, now,
       {'queue', queue, 'offer', offer, 'reason', ARGV[4]})
end
return {sid, agent, astate, queue, warm}
"""
)

# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now
# -> the call's state afterwards: 'talking' (joins the hotliner's conference;
# also for a retried webhook), 'queued' (the hotliner left before the caller
# got there: back to their place, never alone in a conference), or the state
# that forbids a bridge ('' for an unknown call)
BRIDGE = (
    PRELUDE
    + """
local state = field(KEYS[1], 'state')
local to = MOVES.bridge[state]
if not to then return state end
local agent = field(KEYS[1], 'agent')
local akey = ARGV[1] .. 'agent:' .. agent
if field(akey, 'state') ~= 'busy' or field(akey, 'call_sid') ~= ARGV[2] then
  requeue(ARGV[1], KEYS[1], ARGV[2], ARGV[3], KEYS[2], 'hotliner_left')
  return field(KEYS[1], 'state')
end
redis.call('HSET', KEYS[1], 'state', to, 'talk_started', ARGV[3])
redis.call('ZREM', ARGV[1] .. 'timers', 'bridge:' .. ARGV[2])
emit(KEYS[2], 'talking', ARGV[2], agent, ARGV[3], {})
return to
"""
)

# KEYS[1] call hash, KEYS[2] active calls zset, KEYS[3] offers zset, KEYS[4] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] reason (Twilio CallStatus...),
# ARGV[5] which leg ended: 'caller' (the inbound call) or 'callback' (our call
# back to them); a caller waiting for a callback hanging up is no abandon,
# ARGV[6] wrap-up ms (0: the hotliner is available again at once)
# -> {final state, agent id, hotliner leg to end ('' none), '1' if the
# hotliner is free for the next caller now} or false if unknown/already ended
HANGUP = (
    PRELUDE
    + """
local base, sid, now = ARGV[1], ARGV[2], ARGV[3]
local state = redis.call('HGET', KEYS[1], 'state')
if not state or TERMINAL[state] then return false end
if field(KEYS[1], 'callback') == '1' and ARGV[5] ~= 'callback'
   and (state == 'queued' or state == 'offered' or state == 'callback_wait') then
  -- The caller hung up to be called back: they keep their place.
  if field(KEYS[1], 'caller_left') ~= '1' then
    redis.call('HSET', KEYS[1], 'caller_left', '1')
    emit(KEYS[4], 'caller_left', sid, '', now, {'reason', ARGV[4]})
  end
  return false
end
local final = MOVES.hangup[state]
if not final then return false end
-- A warm transfer under way is off: its specialist's leg is ended.
local leg = end_consult(base, KEYS[1], sid, now, KEYS[4], 'caller_left')
local agent, freed = field(KEYS[1], 'agent'), '0'
local akey = base .. 'agent:' .. agent
local holds = field(akey, 'call_sid') == sid
local offer = field(KEYS[1], 'offer')
-- The call's end first, then what it does to the hotliner (event order).
redis.call('HSET', KEYS[1], 'state', final, 'ended', now, 'offer', '')
redis.call('ZREM', KEYS[2], sid)
redis.call('ZREM', base .. 'timers', 'bridge:' .. sid, 'alone:' .. sid)
local logged_agent = agent
if final == 'abandoned' and state ~= 'offered' then logged_agent = '' end
ended(KEYS[1])
emit(KEYS[4], 'call_ended', sid, logged_agent, now,
     {'state', final, 'stage', state, 'reason', ARGV[4],
      'queued_at', field(KEYS[1], 'first_queued'),
      'talk_started', field(KEYS[1], 'talk_started')})
if state == 'queued' then
  redis.call('ZREM', base .. 'queue:' .. field(KEYS[1], 'queue'), sid)
elseif state == 'offered' then
  local okey = base .. 'offer:' .. offer
  leg = field(okey, 'leg')
  redis.call('DEL', okey)
  redis.call('ZREM', KEYS[3], offer)
  if field(akey, 'state') == 'reserved' and field(akey, 'offer') == offer then
    make_available(base, agent, akey, now)
    freed = '1'
  end
elseif state == 'connected' then
  -- The hotliner answered but the caller left before reaching them: nothing
  -- was said, so no wrap-up; their leg (alone in the conference) is ended.
  leg = field(KEYS[1], 'leg')
  if field(akey, 'state') == 'busy' and holds then
    make_available(base, agent, akey, now)
    emit(KEYS[4], 'agent_state', sid, agent, now,
         {'state', 'available', 'from', 'busy', 'reason', 'caller_left'})
    freed = '1'
  end
elseif state == 'talking' then
  local hkey = history_key(base, KEYS[1])
  if hkey and agent ~= '' then remember(hkey, 'agent', agent, 'agent_at', now) end
  local talk = tonumber(field(KEYS[1], 'talk_started'))
  if talk then
    observe(base, field(KEYS[1], 'queue'), 'talk_ms', tonumber(now) - talk)
  end
  if field(akey, 'state') == 'busy' and holds then
    if after_call(base, agent, akey, now, ARGV[6], KEYS[4], sid,
                  'call_ended') == 'available' then
      freed = '1'
    end
  end
end
if final == 'abandoned' and state ~= 'offered' then agent = '' end
return {final, agent, leg, freed}
"""
)

# KEYS[1] agent hash, KEYS[2] events
# ARGV[1] base, ARGV[2] agent id, ARGV[3] now, ARGV[4] agent leg CallSid,
# ARGV[5] wrap-up ms, ARGV[6] ms to wait for a bridged caller's conference to
# end before taking them for alone in it
# -> {what became of the caller, call sid, hotliner state, a specialist's
# ringing leg to end ('' none)} or false when the hotliner was not on a call
# on that leg. What became of the caller: 'requeued' (not in the conference
# yet: back to their place), 'talking' (their conference ends with the
# hotliner's exit; an 'alone:' timer checks it did), 'handed_over' (to the
# specialist of a warm transfer), 'consult_over' (the specialist of a warm
# transfer left: the caller is back with their hotliner), or '' (the call is
# already over)
AGENT_LEG_ENDED = (
    PRELUDE
    + """
local base, agent, now = ARGV[1], ARGV[2], ARGV[3]
if field(KEYS[1], 'state') ~= 'busy' or field(KEYS[1], 'leg') ~= ARGV[4] then
  return false
end
local sid = field(KEYS[1], 'call_sid')
local ckey = base .. 'call:' .. sid
local cstate = field(ckey, 'state')
if field(ckey, 'consult') ~= '' then
  if field(ckey, 'consult_agent') == agent then
    -- The specialist hung up before taking the caller: back to the hotliner.
    end_consult(base, ckey, sid, now, KEYS[2], 'specialist_left')
    return {'consult_over', sid, 'available', ''}
  end
  if field(ckey, 'agent') == agent then
    if field(ckey, 'consult_state') == 'joined' then
      -- The hotliner leaves the specialist with the caller: that is the
      -- warm transfer's last step.
      return {'handed_over', sid, hand_over(base, ckey, sid, now, KEYS[2], ARGV[5]), ''}
    end
    -- Gone while the specialist's phone still rang: the transfer is off,
    -- and the caller, alone, goes back to their place (below).
    local ringing = end_consult(base, ckey, sid, now, KEYS[2], 'hotliner_left')
    local astate = after_call(base, agent, KEYS[1], now, ARGV[5], KEYS[2], sid,
                              'leg_ended')
    local alone_at = string.format('%.0f', tonumber(now) + tonumber(ARGV[6]))
    redis.call('ZADD', base .. 'timers', alone_at, 'alone:' .. sid)
    return {'talking', sid, astate, ringing}
  end
end
if cstate == 'connected' and field(ckey, 'agent') == agent then
  -- Left before the caller reached the conference: nothing was said.
  requeue(base, ckey, sid, now, KEYS[2], 'hotliner_left')
  redis.call('ZREM', base .. 'timers', 'bridge:' .. sid)
  make_available(base, agent, KEYS[1], now)
  emit(KEYS[2], 'agent_state', sid, agent, now,
       {'state', 'available', 'from', 'busy', 'reason', 'left_before_bridge'})
  return {'requeued', sid, 'available', ''}
end
local astate = after_call(base, agent, KEYS[1], now, ARGV[5], KEYS[2], sid,
                          'leg_ended')
if cstate == 'talking' and field(ckey, 'agent') == agent then
  redis.call('ZADD', base .. 'timers',
             string.format('%.0f', tonumber(now) + tonumber(ARGV[6])), 'alone:' .. sid)
  return {'talking', sid, astate, ''}
end
return {'', sid, astate, ''}
"""
)

# KEYS[1] call hash, KEYS[2] agent hash, KEYS[3] events, KEYS[4] the target
# queue (zset)
# ARGV[1] base, ARGV[2] sid, ARGV[3] agent id, ARGV[4] now, ARGV[5] target
# queue id, ARGV[6] priority added (they have waited once already), ARGV[7]
# wrap-up ms, ARGV[8] the hotliner's notes for the next one, ARGV[9] the
# steps they did (one per line)
# -> {'ok', the hotliner's leg, their state now, the caller's new priority}
# or {'refused', why}: 'unknown_call', 'not_yours', 'not_talking:<state>',
# 'already_transferring' (a warm transfer is under way)
#
# Cold transfer: the hotliner who talks with the caller passes them on to
# another queue. The caller keeps their first entry time (their place among
# those of the same priority) with a raised priority; the hotliner's
# conversation is over (wrap-up of the queue they served). The notes travel
# with the call to whoever takes it next.
TRANSFER = (
    PRELUDE
    + """
local base, sid, agent, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'refused', 'unknown_call'} end
if field(KEYS[1], 'agent') ~= agent or field(KEYS[2], 'call_sid') ~= sid
   or field(KEYS[2], 'state') ~= 'busy' then
  return {'refused', 'not_yours'}
end
local to = MOVES.transfer[state]
if not to then return {'refused', 'not_talking:' .. state} end
-- A warm transfer under way ends first (completed or cancelled).
if field(KEYS[1], 'consult') ~= '' then return {'refused', 'already_transferring'} end
local leg = field(KEYS[2], 'leg')
local from_queue = field(KEYS[1], 'queue')
local talk = tonumber(field(KEYS[1], 'talk_started'))
if talk then observe(base, from_queue, 'talk_ms', tonumber(now) - talk) end
-- The hotliner first: their wrap-up is that of the queue they served.
local astate = after_call(base, agent, KEYS[2], now, ARGV[7], KEYS[3], sid,
                          'transferred')
local priority = math.min(9, (tonumber(field(KEYS[1], 'priority')) or 0)
                             + tonumber(ARGV[6]))
local first = field(KEYS[1], 'first_queued')
if first == '' then first = now end
local score = string.format('%.0f', (9 - priority) * 1e13 + tonumber(first))
local transfers = (tonumber(field(KEYS[1], 'transfers')) or 0) + 1
redis.call('HSET', KEYS[1], 'state', to, 'queue', ARGV[5],
           'priority', tostring(priority), 'score', score, 'first_queued', first,
           'agent', '', 'leg', '', 'offer', '', 'after', '', 'talk_started', '',
           'transferred_by', agent, 'transfer_notes', ARGV[8],
           'transfer_steps', ARGV[9],
           'transfers', tostring(transfers))
redis.call('ZREM', base .. 'timers', 'bridge:' .. sid, 'alone:' .. sid)
redis.call('ZADD', KEYS[4], score, sid)
emit(KEYS[3], 'transferred', sid, agent, now,
     {'kind', 'cold', 'from_queue', from_queue, 'queue', ARGV[5],
      'priority', tostring(priority), 'queued_at', first, 'notes', ARGV[8],
      'steps', ARGV[9]})
return {'ok', leg, astate, tostring(priority)}
"""
)


# KEYS[1] call hash, KEYS[2] its queue's zset, KEYS[3] the new queue's zset,
# KEYS[4] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] new queue id, ARGV[4] new priority 0..9,
# ARGV[5] now, ARGV[6] who moved them
# -> {'ok', from queue, old priority} | {'refused', why}
#
# A supervisor moves a waiting caller to another queue and/or changes their
# priority: their first entry time (their place among equals) is kept. A
# caller being offered right now is left alone (the offer decides first).
MOVE_WAITING = (
    PRELUDE
    + """
local sid = ARGV[2]
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'refused', 'unknown_call'} end
if state == 'offered' then return {'refused', 'being_offered'} end
if state ~= 'queued' then return {'refused', 'not_waiting'} end
if not redis.call('ZSCORE', KEYS[2], sid) then return {'refused', 'not_waiting'} end
local from_queue = field(KEYS[1], 'queue')
local before = field(KEYS[1], 'priority')
local first = field(KEYS[1], 'first_queued')
if first == '' then first = ARGV[5] end
local score = string.format('%.0f', (9 - tonumber(ARGV[4])) * 1e13 + tonumber(first))
redis.call('ZREM', KEYS[2], sid)
redis.call('HSET', KEYS[1], 'queue', ARGV[3], 'priority', ARGV[4], 'score', score)
redis.call('ZADD', KEYS[3], score, sid)
emit(KEYS[4], 'enqueued', sid, '', ARGV[5],
     {'queue', ARGV[3], 'priority', ARGV[4], 'queued_at', first,
      'from_queue', from_queue, 'moved_by', ARGV[6]})
return {'ok', from_queue, before}
"""
)


# KEYS[1] the new call's hash, KEYS[2] active calls zset, KEYS[3] events,
# KEYS[4] the hash of the call it follows
# ARGV[1] base, ARGV[2] new sid, ARGV[3] now, ARGV[4] due (ms), ARGV[5]
# queue, ARGV[6] priority, ARGV[7] number to call, ARGV[8] language,
# ARGV[9] hotliner who scheduled it, ARGV[10] their notes, ARGV[11] the sid of
# the call it follows, ARGV[12] the hotline's number
# -> 1 scheduled, 0 already known
#
# A call back by a specialist at a set time: a call of its own (no inbound
# leg: the caller waits for our call back), in state `scheduled` until its
# `due:` timer puts it in its queue. It carries the context of the call it
# follows (what the caller told the voice menu, the fault, the self-help
# tried) and the notes of who scheduled it, for the specialist's pop-up.
SCHEDULE_CALLBACK = (
    PRELUDE
    + """
local base, sid, now = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'sid', sid, 'state', 'scheduled', 'created', now,
           'from', ARGV[7], 'to', ARGV[12], 'lang', ARGV[8], 'offers', 0,
           'callback', '1', 'callback_number', ARGV[7], 'caller_left', '1',
           'previous_call', ARGV[11], 'transferred_by', ARGV[9],
           'transfer_notes', ARGV[10], 'scheduled_queue', ARGV[5],
           'scheduled_priority', ARGV[6], 'due', ARGV[4])
local followed = redis.call('HGETALL', KEYS[4])
for i = 1, #followed, 2 do
  local name = followed[i]
  if string.sub(name, 1, 5) == 'path:' or name == 'ivr_choice'
     or name == 'kb_fault' or name == 'selfhelp_tried' then
    redis.call('HSET', KEYS[1], name, followed[i + 1])
  end
end
redis.call('ZADD', KEYS[2], now, sid)
redis.call('ZADD', base .. 'timers', ARGV[4], 'due:' .. sid)
emit(KEYS[3], 'callback_scheduled', sid, ARGV[9], now,
     {'from', ARGV[7], 'to', ARGV[12], 'lang', ARGV[8], 'queue', ARGV[5],
      'priority', ARGV[6], 'due', ARGV[4], 'previous_call', ARGV[11],
      'notes', ARGV[10]})
return 1
"""
)


# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] hotliner, ARGV[5] '1' on
# hold, '0' back
# -> 1 noted, 0 not this hotliner's call in progress (or no change)
NOTE_HOLD = (
    PRELUDE
    + """
if field(KEYS[1], 'state') ~= 'talking' or field(KEYS[1], 'agent') ~= ARGV[4] then
  return 0
end
local was = field(KEYS[1], 'hold')
if was == '' then was = '0' end
if was == ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], 'hold', ARGV[5])
emit(KEYS[2], 'hold', ARGV[2], ARGV[4], ARGV[3], {'on', ARGV[5]})
return 1
"""
)


# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] who sent it, ARGV[5]
# channels ('sms', 'email' or 'sms,email'), ARGV[6] number texted, ARGV[7]
# address mailed
# -> 1 noted, 0 unknown call. Any state: a recap is sent after the call too.
NOTE_RECAP = (
    PRELUDE
    + """
if not redis.call('HGET', KEYS[1], 'state') then return 0 end
redis.call('HSET', KEYS[1], 'recap', ARGV[5])
emit(KEYS[2], 'recap_sent', ARGV[2], ARGV[4], ARGV[3],
     {'channels', ARGV[5], 'sms_to', ARGV[6], 'email_to', ARGV[7]})
return 1
"""
)


# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now
# -> 1 the caller, alone in a conference their hotliner has left, is back in
# their place; 0 nothing to do (their conference ended normally: 'after' is
# set, or they are not talking, or their hotliner is still with them)
REQUEUE_ALONE = (
    PRELUDE
    + """
if field(KEYS[1], 'state') ~= 'talking' or field(KEYS[1], 'after') == '1' then
  return 0
end
local akey = ARGV[1] .. 'agent:' .. field(KEYS[1], 'agent')
if field(akey, 'state') == 'busy' and field(akey, 'call_sid') == ARGV[2] then
  return 0
end
if requeue(ARGV[1], KEYS[1], ARGV[2], ARGV[3], KEYS[2], 'alone_in_conference') then
  return 1
end
return 0
"""
)

# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now
# -> 1 noted: the caller's conference is over (they met their hotliner, who
# left, or they hung up), 0 not talking
CONFERENCE_OVER = (
    PRELUDE
    + """
if field(KEYS[1], 'state') ~= 'talking' then return 0 end
redis.call('HSET', KEYS[1], 'after', '1')
redis.call('ZREM', ARGV[1] .. 'timers', 'alone:' .. ARGV[2])
return 1
"""
)


# KEYS[1] call hash, KEYS[2] agent hash, KEYS[3] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] agent id, ARGV[4] now, ARGV[5] outcome,
# ARGV[6] notes, ARGV[7] '1' to make the hotliner available again, ARGV[8..]
# detail pairs for the event ('fixed_by' <fault> is also counted in kb:fixes)
# -> 2 recorded and the hotliner is free for the next caller, 1 recorded,
# 0 this hotliner did not handle this call
RECORD_OUTCOME = (
    PRELUDE
    + """
local base, sid, agent, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local extra = {'outcome', ARGV[5], 'notes', ARGV[6]}
local owner = field(KEYS[1], 'agent')
-- Passed outside the hotline: the call's outcome is its last hotliner's.
if string.sub(owner, 1, 9) == 'external:'
   and field(KEYS[1], 'transferred_by') == agent then
  owner = agent
end
if owner ~= agent then
  -- The hotliner who passed the call on gives the outcome of their part
  -- (in the stream and the call log's events), never the call's.
  if field(KEYS[1], 'transferred_by') ~= agent then return 0 end
  extra[#extra + 1] = 'segment'
  extra[#extra + 1] = 'transferred'
  for i = 8, #ARGV, 2 do
    extra[#extra + 1] = ARGV[i]
    extra[#extra + 1] = ARGV[i + 1]
  end
  emit(KEYS[3], 'outcome', sid, agent, now, extra)
  if ARGV[7] == '1' and field(KEYS[2], 'state') == 'wrapup'
     and field(KEYS[2], 'call_sid') == sid then
    make_available(base, agent, KEYS[2], now)
    emit(KEYS[3], 'agent_state', sid, agent, now, {'state', 'available',
         'from', 'wrapup'})
    return 2
  end
  return 1
end
local state = field(KEYS[1], 'state')
if state ~= 'connected' and state ~= 'talking' and state ~= 'completed' then
  return 0
end
redis.call('HSET', KEYS[1], 'outcome', ARGV[5])
for i = 8, #ARGV, 2 do
  extra[#extra + 1] = ARGV[i]
  extra[#extra + 1] = ARGV[i + 1]
  if ARGV[i] == 'fixed_by' then
    -- Which known fault fixes calls, counted once per call (a corrected
    -- outcome moves the count).
    local before = field(KEYS[1], 'fixed_by')
    if before ~= ARGV[i + 1] then
      if before ~= '' then redis.call('HINCRBY', base .. 'kb:fixes', before, -1) end
      if ARGV[i + 1] ~= '' then
        redis.call('HINCRBY', base .. 'kb:fixes', ARGV[i + 1], 1)
      end
      redis.call('HSET', KEYS[1], 'fixed_by', ARGV[i + 1])
    end
  end
end
emit(KEYS[3], 'outcome', sid, agent, now, extra)
if ARGV[7] == '1' and field(KEYS[2], 'state') == 'wrapup'
   and field(KEYS[2], 'call_sid') == sid then
  observe(base, field(KEYS[1], 'queue'), 'wrapup_ms',
          tonumber(now) - tonumber(field(KEYS[2], 'state_since')))
  make_available(base, agent, KEYS[2], now)
  emit(KEYS[3], 'agent_state', sid, agent, now, {'state', 'available',
       'from', 'wrapup'})
  return 2
end
return 1
"""
)


# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] number to call back
# -> 1 the caller keeps their place and will be called back, 0 not waiting
REQUEST_CALLBACK = (
    PRELUDE
    + """
if field(KEYS[1], 'state') ~= 'queued' then return 0 end
if field(KEYS[1], 'callback') == '1' then return 1 end  -- a retried webhook
redis.call('HSET', KEYS[1], 'callback', '1', 'callback_number', ARGV[4])
emit(KEYS[2], 'callback_requested', ARGV[2], '', ARGV[3], {'number', ARGV[4]})
return 1
"""
)

# KEYS[1] call hash, KEYS[2] active calls zset, KEYS[3] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] attempts allowed, ARGV[5] reason
# -> {'retry' | 'failed', agent id, agent leg} or false if not being called back
CALLBACK_FAILED = (
    PRELUDE
    + """
local base, sid, now = ARGV[1], ARGV[2], ARGV[3]
local state = field(KEYS[1], 'state')
local retry, given_up = MOVES.callback_failed[state], MOVES.callback_given_up[state]
if not retry or not given_up or field(KEYS[1], 'callback') ~= '1' then
  return false
end
local agent = field(KEYS[1], 'agent')
local akey = base .. 'agent:' .. agent
local leg = field(KEYS[1], 'leg')
if field(akey, 'state') == 'busy' and field(akey, 'call_sid') == sid then
  redis.call('HSET', akey, 'call_sid', '', 'leg', '')
  make_available(base, agent, akey, now)
end
local attempts = redis.call('HINCRBY', KEYS[1], 'callback_attempts', 1)
if attempts >= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'state', given_up, 'ended', now, 'agent', '')
  redis.call('ZREM', KEYS[2], sid)
  ended(KEYS[1])
  emit(KEYS[3], 'call_ended', sid, '', now,
       {'state', given_up, 'stage', 'callback', 'reason', 'callback_failed',
        'attempts', tostring(attempts), 'queued_at', field(KEYS[1], 'first_queued'),
        'talk_started', ''})
  return {'failed', agent, leg}
end
redis.call('HSET', KEYS[1], 'state', retry, 'agent', '', 'leg', '')
emit(KEYS[3], 'callback_failed', sid, agent, now,
     {'attempt', tostring(attempts), 'reason', ARGV[5]})
return {'retry', agent, leg}
"""
)

# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now
# -> 1 back in the queue at the same place, 0 not waiting for a retry
REQUEUE_CALLBACK = (
    PRELUDE
    + """
local to = MOVES.retry_callback[field(KEYS[1], 'state')]
if not to then return 0 end
local queue = field(KEYS[1], 'queue')
redis.call('HSET', KEYS[1], 'state', to)
redis.call('ZADD', ARGV[1] .. 'queue:' .. queue, field(KEYS[1], 'score'), ARGV[2])
emit(KEYS[2], 'requeued', ARGV[2], '', ARGV[3], {'queue', queue})
return 1
"""
)

# KEYS[1] call hash, KEYS[2] active calls zset, KEYS[3] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] recording URL,
# ARGV[5] recording seconds
# -> 1 the call ends with a message left, 0 not in the IVR or a queue (or
# just abandoned from there)
LEAVE_VOICEMAIL = (
    PRELUDE
    + """
local state = field(KEYS[1], 'state')
-- From 'abandoned' too: the hang-up's status callback can overtake the
-- Record action (see queues.lifecycle.TRANSITIONS).
local to = MOVES.leave_message[state]
if not to then return 0 end
redis.call('ZREM', ARGV[1] .. 'queue:' .. field(KEYS[1], 'queue'), ARGV[2])
redis.call('HSET', KEYS[1], 'state', to, 'ended', ARGV[3], 'recording', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[2])
ended(KEYS[1])
emit(KEYS[3], 'call_ended', ARGV[2], '', ARGV[3],
     {'state', to, 'stage', state, 'reason', 'voicemail',
      'recording_url', ARGV[4], 'recording_seconds', ARGV[5],
      'queued_at', field(KEYS[1], 'first_queued'), 'talk_started', ''})
return 1
"""
)


# KEYS[1] call hash, KEYS[2] active calls zset, KEYS[3] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] now, ARGV[4] outcome
# (self_service_resolved | incident_confirmed), ARGV[5] detail
# -> 1 the call ends resolved by the IVR, 0 not in the IVR any more
SELF_SERVE = (
    PRELUDE
    + """
local state = field(KEYS[1], 'state')
local to = MOVES.self_serve[state]
if not to then return 0 end
redis.call('HSET', KEYS[1], 'state', to, 'ended', ARGV[3], 'outcome', ARGV[4])
redis.call('ZREM', KEYS[2], ARGV[2])
ended(KEYS[1])
emit(KEYS[3], 'call_ended', ARGV[2], '', ARGV[3],
     {'state', to, 'stage', state, 'reason', ARGV[4],
      'outcome', ARGV[4], 'detail', ARGV[5], 'queued_at', '', 'talk_started', ''})
return 1
"""
)

# Timers are claimed with a lease, not removed: a claim Redis carries out
# after the client gave up on it (Redis frozen, then back) or a worker killed
# before it acted leaves the timer due again when the lease ends, instead of
# losing it (a caller never bridged, a wrap-up never ended). Every timer's
# action checks the state it acts on, so one fired twice does nothing more.
# KEYS: timers. ARGV: member, now, lease ms. Returns the lease's score or 0.
CLAIM_TIMER = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
local lease = string.format('%.0f', tonumber(ARGV[2]) + tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], lease, ARGV[1])
return lease
"""

# Done with a claimed timer: removed unless it was set again meanwhile (its
# score is no longer the lease). KEYS: timers. ARGV: member, lease.
RELEASE_TIMER = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and string.format('%.0f', tonumber(score)) == ARGV[2] then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""

# A call the call log has as live but live state has lost altogether (Redis
# crashed before its last changes reached the disk, after the writer had read
# them): the carrier says it is over, so it is closed with a `call_ended`
# event, the one way the call log learns an ending. Only if live state still
# has no trace of it; a tombstone hash keeps a second run from doing it twice.
# KEYS: call, events. ARGV: base, sid, now, final state, reason.
CLOSE_LOST_CALL = (
    PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'sid', ARGV[2], 'state', ARGV[4], 'ended', ARGV[3],
           'lost', '1')
ended(KEYS[1])
emit(KEYS[2], 'call_ended', ARGV[2], '', ARGV[3],
     {'state', ARGV[4], 'stage', 'lost', 'reason', ARGV[5]})
return 1
"""
)

# A supervisor's control, for the live screens that follow the stream (the
# audit log is SQL's): through `emit`, so the stream's cap holds for it too.
# KEYS: events. ARGV: base, now, event type ('control'), action, target.
NOTE_CONTROL = (
    LUA_HELPERS
    + """
return emit(KEYS[1], ARGV[3], '', '', ARGV[2], {'action', ARGV[4], 'target', ARGV[5]})
"""
)
