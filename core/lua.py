"""Lua helpers every script of the hotline shares.

Scripts run atomically in Redis; these are pasted at the head of each one.
`emit` appends an event to the stream in the same step as the change it
records (so the call log misses nothing) and, when the event concerns a
hotliner, to that hotliner's own short stream too (`Keys.agent_events`: what
their console's live feed replays after a reconnect, kept apart from the main
stream that the call log writer trims as it drains); `field` reads a hash field, '' when
absent (Lua has no None to compare).

The main stream has a cap (`EVENTS_KEPT` by default, `Settings.event_stream_max`
in a deployment): with the call log writer down (SQL unreachable, the worker
stopped) nothing else would stop it from growing until Redis is out of
memory, and then every script fails: callers are no longer queued, offered or
bridged. Losing live calls is worse than losing the oldest lines of the call
log, so at the cap `emit` trims the oldest events (`XADD MAXLEN ~`) and counts
each one it trims, in the same atomic step, in `Keys.counters`'
`events_dropped`: /metrics shows it beside the writer's lag, the writer says
it in its log at error level, so a loss is never silent. The default keeps
days of a busy hotline's events (a call makes about ten), at about 100 bytes
an event in Redis: some 100 MB at the cap.

`~` trims whole stream nodes (`stream-node-max-entries`, 100 by default), so
the stream holds from the cap to the cap plus one node's entries, and costs
about what an untrimmed XADD does; an exact `MAXLEN =` walks the first node
on every XADD (twice the time, measured on Valkey 7.2) and frees no more
memory, since a node's space goes back only when the whole node goes. The
count stays exact either way: it is the stream's length before and after.
It counts what left the stream; an entry the writer had read or applied
already (the one it leaves as its place mark, a batch in flight) counts too
when the cap takes it: the count may say one or a batch more than the call
log misses, never less.
A cap lowered at a restart is reached over the next events (an XADD trims
100 nodes' worth at most).
"""

from __future__ import annotations

from collections.abc import Callable

import redis
from redis.commands.core import Script

#: Entries kept in each hotliner's console stream (a day's work is ~500).
AGENT_EVENTS_KEPT = 1000
#: Events the main stream holds at most before the oldest are dropped
#: (the default of `Settings.event_stream_max`).
EVENTS_KEPT = 1_000_000
#: `Keys.counters`' field: events the stream's cap dropped, in all.
EVENTS_DROPPED = "events_dropped"

_EVENTS_KEPT_LINE = "local EVENTS_KEPT = {}\n"

LUA_HELPERS = (
    f"local AGENT_EVENTS_KEPT = '{AGENT_EVENTS_KEPT}'\n"
    + _EVENTS_KEPT_LINE.format(EVENTS_KEPT)
    + f"local EVENTS_DROPPED = '{EVENTS_DROPPED}'\n"
    + """
-- `stream` is `Keys.events` (the key base + 'events'): its running totals
-- are the base + 'counters' (`Keys.counters`), in the same cluster slot.
local function emit(stream, kind, call, agent, now, extra)
  local args = {stream, '*', 'type', kind, 'call', call, 'agent', agent, 'at', now}
  if extra then
    for i = 1, #extra do args[#args + 1] = extra[i] end
  end
  local held = redis.call('XLEN', stream)
  local id
  if held < EVENTS_KEPT then
    id = redis.call('XADD', unpack(args))
  else
    -- Full (the call log writer is behind): the oldest events go, counted.
    id = redis.call('XADD', stream, 'MAXLEN', '~', EVENTS_KEPT, unpack(args, 2))
    local dropped = held + 1 - redis.call('XLEN', stream)
    if dropped > 0 then
      local counters = string.sub(stream, 1, #stream - 6) .. 'counters'
      redis.call('HINCRBY', counters, EVENTS_DROPPED, dropped)
    end
  end
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


def registrar(client: redis.Redis, kept: int) -> Callable[[str], Script]:
    """Registers scripts on `client` with the main stream capped at `kept`
    (what every store that runs scripts does with its scripts)."""

    def register(script: str) -> Script:
        return client.register_script(with_events_kept(script, kept))

    return register


def with_events_kept(script: str, kept: int) -> str:
    """`script` (one that pastes `LUA_HELPERS`) with the main stream capped at
    `kept` events instead of `EVENTS_KEPT`; a script without `emit` as is."""
    if kept < 1:
        raise ValueError(f"the event stream's cap must be positive, not {kept}")
    default = _EVENTS_KEPT_LINE.format(EVENTS_KEPT)
    return script.replace(default, _EVENTS_KEPT_LINE.format(kept), 1)


#: Deletes a lock (KEYS[1]) only if it still holds this holder's token
#: (ARGV[1]): a holder whose lock lapsed and was taken never frees the next's.
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
