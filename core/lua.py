"""Lua helpers every script of the hotline shares.

Scripts run atomically in Redis; these are pasted at the head of each one.
`emit` appends an event to the stream in the same step as the change it
records (so the call log misses nothing); `field` reads a hash field, '' when
absent (Lua has no None to compare).
"""

from __future__ import annotations

LUA_HELPERS = """
local function emit(stream, kind, call, agent, now, extra)
  local args = {stream, '*', 'type', kind, 'call', call, 'agent', agent, 'at', now}
  if extra then
    for i = 1, #extra do args[#args + 1] = extra[i] end
  end
  return redis.call('XADD', unpack(args))
end

local function field(hash, name)
  local v = redis.call('HGET', hash, name)
  if not v then return '' end
  return v
end
"""
