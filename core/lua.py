"""Lua helpers every script of the hotline shares.

Scripts run atomically in Redis; these are pasted at the head of each one.
`emit` appends an event to the stream in the same step as the change it
records (so the call log misses nothing) and, when the event concerns a
hotliner, to that hotliner's own short stream too (`Keys.agent_events`: what
their console's live feed replays after a reconnect, kept apart from the main
stream that the call log writer trims as it drains); `field` reads a hash field, '' when
absent (Lua has no None to compare).
"""

from __future__ import annotations

#: Entries kept in each hotliner's console stream (a day's work is ~500).
AGENT_EVENTS_KEPT = 1000

LUA_HELPERS = (
    f"local AGENT_EVENTS_KEPT = '{AGENT_EVENTS_KEPT}'\n"
    + """
local function emit(stream, kind, call, agent, now, extra)
  local args = {stream, '*', 'type', kind, 'call', call, 'agent', agent, 'at', now}
  if extra then
    for i = 1, #extra do args[#args + 1] = extra[i] end
  end
  local id = redis.call('XADD', unpack(args))
  if agent ~= '' then
    args[1] = stream .. ':agent:' .. agent
    table.insert(args, 2, 'MAXLEN')
    table.insert(args, 3, '~')
    table.insert(args, 4, AGENT_EVENTS_KEPT)
    redis.call('XADD', unpack(args))
  end
  return id
end

local function field(hash, name)
  local v = redis.call('HGET', hash, name)
  if not v then return '' end
  return v
end
"""
)
