"""Lua scripts of a caller's move between routing groups (`queues.partition`).

A cluster cannot change keys of two slots in one script, so a move is three
scripts, each atomic in its group, each safe to run again:

1. `MOVE_OUT` in the group the call is in: marks it `moving` to the target
   and returns its fields. Only a caller still in the IVR moves (not yet in
   a queue, nor offered, nor with a hotliner).
2. `MOVE_IN` in the target group: creates the call there with those fields
   (nothing if it is there already) among the group's active calls.
3. `MOVE_DONE` in the first group, once the call's route says the target:
   deletes the call there and says what state it had. A caller who hung up
   between 1 and 3 ended there (the status callback went to the only group
   that knew the call): the partition then ends it in the target too. A
   move run again after such a hang-up (its first run cut short) finds the
   call ended at step 1: a copy step 2 made is ended, and only then the
   first group's deleted (one copy left, ended, in one group or the other).

A move cut short is finished by the caller's next queueing in another group,
or called off (`MOVE_UNDO`, `MOVE_CANCEL`) when it is in their own group.

Conventions as in `queues.scripts`.
"""

from __future__ import annotations

from queues.scripts import PRELUDE

# KEYS[1] call hash (the group it is in)
# ARGV[1] base, ARGV[2] sid, ARGV[3] target group
# -> {'ok', field, value, ...}, {'refused', state} (not a caller in the IVR,
#    or moving elsewhere: 'moving:<group>'), {'ended', state} (moving there,
#    but they hung up since: a move run again), {'unknown'}
MOVE_OUT = (
    PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {'unknown'} end
local moving = field(KEYS[1], 'moving')
if moving == '' then
  if state ~= INITIAL then return {'refused', state} end
  redis.call('HSET', KEYS[1], 'moving', ARGV[3])
elseif moving ~= ARGV[3] then
  return {'refused', 'moving:' .. moving}
elseif TERMINAL[state] then
  return {'ended', state}
end
local out = redis.call('HGETALL', KEYS[1])
table.insert(out, 1, 'ok')
return out
"""
)

# KEYS[1] call hash (target group), KEYS[2] active calls zset (target group)
# ARGV[1] base, ARGV[2] sid, ARGV[3] group it comes from, ARGV[4..] its
# fields and values -> 1 created, 0 already there or ended meanwhile (a
# move run again after the caller hung up: nothing to create)
MOVE_IN = (
    PRELUDE
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
for i = 4, #ARGV, 2 do
  if ARGV[i] == 'state' and TERMINAL[ARGV[i + 1]] then return 0 end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('HDEL', KEYS[1], 'moving')
redis.call('HSET', KEYS[1], 'moved_from', ARGV[3])
local created = tonumber(field(KEYS[1], 'created')) or 0
redis.call('ZADD', KEYS[2], string.format('%.0f', created), ARGV[2])
return 1
"""
)

# KEYS[1] call hash (the group it left), KEYS[2] active calls zset (same)
# ARGV[1] base, ARGV[2] sid, ARGV[3] target group
# -> the state it had there ('' gone already), or false: not moving there
MOVE_DONE = (
    PRELUDE
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return '' end
if field(KEYS[1], 'moving') ~= ARGV[3] then return false end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return state
"""
)

# A move cut short (its process died) before the call's route named the
# target, when the caller then chose a queue of the group they are in: the
# move is called off. In the target group, MOVE_UNDO deletes the copy step 2
# may have made (nothing can have acted on it: no route led there); then,
# in the call's group, MOVE_CANCEL takes the mark off.

# KEYS[1] call hash (target group), KEYS[2] active calls zset (same)
# ARGV[1] base, ARGV[2] sid, ARGV[3] the group it came from -> 1 deleted, 0 none
MOVE_UNDO = (
    PRELUDE
    + """
if field(KEYS[1], 'moved_from') ~= ARGV[3] or field(KEYS[1], 'state') ~= INITIAL then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
"""
)

# KEYS[1] call hash (the group it is in)
# ARGV[1] base, ARGV[2] sid, ARGV[3] the target it was marked for -> 1, 0
MOVE_CANCEL = (
    PRELUDE
    + """
if field(KEYS[1], 'moving') ~= ARGV[3] then return 0 end
redis.call('HDEL', KEYS[1], 'moving')
return 1
"""
)
