"""Lua scripts of the warm transfer (see `queues.warm_transfer`).

While a hotliner briefs a specialist, the caller's call hash keeps its
hotliner and its state (`talking`) and carries the transfer in the fields
`consult*` (`CONSULT_FIELDS` in `queues.scripts`). The specialist is reserved
by an offer of kind `consult`, which expires, is declined or goes unanswered
like any offer (`REJECT` knows it and puts the caller back with their
hotliner). Conventions as in `queues.scripts`.
"""

from __future__ import annotations

from queues.scripts import PRELUDE as ROUTING_PRELUDE

PRELUDE = (
    ROUTING_PRELUDE
    + """
-- Why the hotliner of `akey` may not start a transfer of the call `ckey`
-- (nil: they may): it must be theirs, in conversation, with none under way.
local function refusal(ckey, akey, sid, agent)
  local state = redis.call('HGET', ckey, 'state')
  if not state then return 'unknown_call' end
  if field(ckey, 'agent') ~= agent or field(akey, 'call_sid') ~= sid
     or field(akey, 'state') ~= 'busy' then
    return 'not_yours'
  end
  if state ~= 'talking' then return 'not_talking:' .. state end
  if field(ckey, 'consult') ~= '' then return 'already_transferring' end
  return nil
end
"""
)

# KEYS[1] call hash, KEYS[2] the hotliner's hash, KEYS[3] offers zset,
# KEYS[4] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] hotliner, ARGV[4] now, ARGV[5] offer id,
# ARGV[6] offer expiry, ARGV[7] 'queue' or 'agent', ARGV[8] the queue or the
# specialist asked for, ARGV[9] the skill level a queue's specialist needs,
# ARGV[10] the hotliner's notes, ARGV[11] the queue the offer is made for,
# ARGV[12] the steps they did (one per line)
# -> {'ok', specialist, the hotliner's leg} or {'refused', why}: 'unknown_call',
# 'not_yours', 'not_talking:<state>', 'already_transferring', 'yourself',
# 'specialist_<state>' (a named one who is not available), 'nobody_available'
#
# The specialist of a queue is its longest idle available hotliner with the
# level (never the one asking); they are reserved at once, so nobody is
# offered two calls. The caller is marked on hold (`hold` events time it).
START = (
    PRELUDE
    + """
local base, sid, agent, now, offer = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local why = refusal(KEYS[1], KEYS[2], sid, agent)
if why then return {'refused', why} end
local specialist = nil
if ARGV[7] == 'agent' then
  specialist = ARGV[8]
  if specialist == agent then return {'refused', 'yourself'} end
  local s = field(base .. 'agent:' .. specialist, 'state')
  if s == '' then s = 'offline' end
  if s ~= 'available' then return {'refused', 'specialist_' .. s} end
else
  local best_score = nil
  for lvl = 5, tonumber(ARGV[9]), -1 do
    local top = redis.call('ZRANGE', base .. 'available:' .. ARGV[8] .. ':' .. lvl,
                           0, 15, 'WITHSCORES')
    for i = 1, #top, 2 do
      local who = top[i]
      if who ~= agent and field(base .. 'agent:' .. who, 'state') == 'available' then
        local score = tonumber(top[i + 1])
        if best_score == nil or score < best_score then
          specialist, best_score = who, score
        end
        break
      end
    end
  end
  if not specialist then return {'refused', 'nobody_available'} end
end
local skey = base .. 'agent:' .. specialist
make_unavailable(base, specialist, skey)
redis.call('HSET', skey, 'state', 'reserved', 'state_since', now, 'call_sid', sid,
           'offer', offer)
redis.call('HSET', base .. 'offer:' .. offer, 'call', sid, 'agent', specialist,
           'queue', ARGV[11], 'expires', ARGV[6], 'leg', '', 'created', now,
           'kind', 'consult', 'from', agent)
redis.call('ZADD', KEYS[3], ARGV[6], offer)
local to_queue = ''
if ARGV[7] == 'queue' then to_queue = ARGV[8] end
redis.call('HSET', KEYS[1], 'consult', offer, 'consult_agent', specialist,
           'consult_state', 'ringing', 'consult_from', agent,
           'consult_notes', ARGV[10], 'consult_queue', to_queue,
           'consult_steps', ARGV[12])
if field(KEYS[1], 'hold') ~= '1' then
  redis.call('HSET', KEYS[1], 'hold', '1')
  emit(KEYS[4], 'hold', sid, agent, now, {'on', '1'})
end
emit(KEYS[4], 'consult_offered', sid, specialist, now,
     {'from', agent, 'queue', to_queue, 'offer', offer, 'notes', ARGV[10],
      'steps', ARGV[12]})
return {'ok', specialist, field(KEYS[2], 'leg')}
"""
)

# KEYS[1] offer hash, KEYS[2] offers zset, KEYS[3] events
# ARGV[1] base, ARGV[2] offer id, ARGV[3] now, ARGV[4] the specialist's leg
# (from their answer webhook)
# -> {call sid, specialist, hotliner} the specialist joins the hotliner and
# the caller (on hold), or false: the transfer is off (cancelled, the caller
# left, the offer lapsed)
ACCEPT = (
    PRELUDE
    + """
local base, offer, now, leg = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if field(KEYS[1], 'kind') ~= 'consult' then return false end
local sid, specialist = field(KEYS[1], 'call'), field(KEYS[1], 'agent')
local ckey, skey = base .. 'call:' .. sid, base .. 'agent:' .. specialist
if field(ckey, 'consult') ~= offer or field(ckey, 'state') ~= 'talking' then
  return false
end
if field(skey, 'state') ~= 'reserved' or field(skey, 'offer') ~= offer then
  return false
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], offer)
redis.call('HSET', ckey, 'consult_state', 'joined', 'consult_leg', leg)
redis.call('HSET', skey, 'state', 'busy', 'state_since', now, 'offer', '',
           'missed', 0, 'leg', leg)
redis.call('HINCRBY', skey, 'calls', 1)
local from = field(ckey, 'consult_from')
emit(KEYS[3], 'consult_joined', sid, specialist, now, {'from', from})
tell(KEYS[3], from, 'consult_joined', sid, now, {'specialist', specialist})
return {sid, specialist, from}
"""
)

# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] hotliner, ARGV[4] now, ARGV[5] wrap-up
# ms, ARGV[6] 'complete' (the specialist takes the caller) or 'cancel' (the
# hotliner keeps them)
# -> {'ok', the hotliner's leg (complete) or the specialist's (cancel), the
# specialist's leg, the hotliner's state} or {'refused', why}: 'unknown_call',
# 'not_yours', 'not_transferring', 'not_joined' (complete before the
# specialist answered)
FINISH = (
    PRELUDE
    + """
local base, sid, agent, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if not redis.call('HGET', KEYS[1], 'state') then return {'refused', 'unknown_call'} end
if field(KEYS[1], 'agent') ~= agent then return {'refused', 'not_yours'} end
if field(KEYS[1], 'consult') == '' then return {'refused', 'not_transferring'} end
local mine = field(KEYS[1], 'leg')
if ARGV[6] == 'cancel' then
  local theirs = end_consult(base, KEYS[1], sid, now, KEYS[2], 'cancelled')
  return {'ok', theirs, theirs, 'busy'}
end
if field(KEYS[1], 'consult_state') ~= 'joined' then return {'refused', 'not_joined'} end
local theirs = field(KEYS[1], 'consult_leg')
return {'ok', mine, theirs, hand_over(base, KEYS[1], sid, now, KEYS[2], ARGV[5])}
"""
)

# KEYS[1] call hash, KEYS[2] the hotliner's hash, KEYS[3] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] hotliner, ARGV[4] now, ARGV[5] transfer
# id, ARGV[6] who outside (an on-call id, or the number itself), ARGV[7] the
# number called, ARGV[8] the hotliner's notes, ARGV[9] the steps they did
# -> {'ok', the hotliner's leg} or {'refused', why} (as `START`)
#
# External transfer: someone outside the hotline (an on-call engineer's
# mobile, a provider) is called into the conference; the hotliner briefs
# them with the caller on hold, then leaves (the same `FINISH`, or hanging
# up). No hotliner is reserved: the outside leg's status callbacks say when
# it answers or ends (`EXTERNAL_STATUS`).
EXTERNAL_START = (
    PRELUDE
    + """
local base, sid, agent, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local why = refusal(KEYS[1], KEYS[2], sid, agent)
if why then return {'refused', why} end
redis.call('HSET', KEYS[1], 'consult', ARGV[5], 'consult_agent', '',
           'consult_external', ARGV[6], 'consult_state', 'ringing',
           'consult_from', agent, 'consult_notes', ARGV[8], 'consult_queue', '',
           'consult_steps', ARGV[9])
if field(KEYS[1], 'hold') ~= '1' then
  redis.call('HSET', KEYS[1], 'hold', '1')
  emit(KEYS[3], 'hold', sid, agent, now, {'on', '1'})
end
emit(KEYS[3], 'consult_offered', sid, '', now,
     {'from', agent, 'external', ARGV[6], 'number', ARGV[7], 'notes', ARGV[8],
      'steps', ARGV[9]})
return {'ok', field(KEYS[2], 'leg')}
"""
)

# KEYS[1] call hash, KEYS[2] events
# ARGV[1] base, ARGV[2] sid, ARGV[3] transfer id, ARGV[4] the outside leg's
# CallSid, ARGV[5] now, ARGV[6] what happened: 'placed' (the REST answer),
# 'answered', or a final CallStatus
# -> 1 noted, 0 the transfer is not this one any more (placed: end the leg)
#
# The outside leg's REST answer may come after its answered callback: both
# record the leg. Its end before the hand-over ends the transfer (the caller
# is back with their hotliner); after it, their conference simply ends.
EXTERNAL_STATUS = (
    PRELUDE
    + """
local base, sid, ident, leg, now, what = ARGV[1], ARGV[2], ARGV[3], ARGV[4],
                                        ARGV[5], ARGV[6]
if field(KEYS[1], 'consult') ~= ident then return 0 end
if what == 'placed' then
  redis.call('HSET', KEYS[1], 'consult_leg', leg)
  return 1
end
if what == 'answered' then
  if field(KEYS[1], 'consult_state') == 'joined' then return 1 end
  redis.call('HSET', KEYS[1], 'consult_state', 'joined', 'consult_leg', leg)
  local from = field(KEYS[1], 'consult_from')
  emit(KEYS[2], 'consult_joined', sid, '', now,
       {'from', from, 'external', field(KEYS[1], 'consult_external')})
  tell(KEYS[2], from, 'consult_joined', sid, now,
       {'specialist', field(KEYS[1], 'consult_external')})
  return 1
end
local reason = what
if what == 'completed' then reason = 'specialist_left' end
end_consult(base, KEYS[1], sid, now, KEYS[2], reason)
return 1
"""
)
