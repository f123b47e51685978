"""Drains the Redis event stream into the SQL call log, exactly once.

One writer at a time (a Redis lock with a token); the stream position is
stored in `stream_offsets` and committed in the same transaction as the rows
it produced, so a crash anywhere replays from the last commit and nothing is
applied twice or lost. Applied entries are trimmed from the stream afterwards.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from typing import cast

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calllog.models import Call, CallEvent, StreamOffset
from calllog.projection import StreamEvent, UnknownEvent, apply_event
from core.clock import from_ms
from core.keys import Keys
from core.text import as_text

log = logging.getLogger(__name__)

OFFSET_NAME = "events"
#: Events of a type the projection refused, by type, since the process started.
UNPROJECTED: Counter[str] = Counter()
#: The writer's lock lapses this long after its last renewal (one per batch),
#: so a writer killed mid-batch stops the call log for seconds, not minutes.
LOCK_MS = 10_000

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def drain_events(
    client: redis.Redis,
    engine: Engine,
    keys: Keys,
    batch: int = 500,
    max_batches: int = 200,
) -> int:
    """Apply pending events to the call log; returns how many were applied."""
    token = uuid.uuid4().hex
    if not client.set(keys.calllog_lock, token, nx=True, px=LOCK_MS):
        return 0
    applied = 0
    try:
        with Session(engine) as session:
            offset = session.get(StreamOffset, OFFSET_NAME)
            if offset is None:
                offset = StreamOffset(name=OFFSET_NAME, last_id="0-0")
                session.add(offset)
            for _ in range(max_batches):
                entries = cast(
                    list[tuple[bytes, dict[bytes, bytes]]],
                    client.xrange(keys.events, min=f"({offset.last_id}", count=batch),
                )
                if not entries:
                    break
                rows: dict[str, Call | None] = {}
                for raw_id, raw_fields in entries:
                    event = StreamEvent.from_fields(
                        as_text(raw_id),
                        {as_text(k): as_text(v) for k, v in raw_fields.items()},
                    )
                    _apply(session, rows, event)
                offset.last_id = as_text(entries[-1][0])
                session.commit()
                applied += len(entries)
                client.xtrim(keys.events, minid=offset.last_id, approximate=False)
                client.pexpire(keys.calllog_lock, LOCK_MS)
    finally:
        client.eval(_RELEASE, 1, keys.calllog_lock, token)
    if applied:
        log.debug("call log: applied %d events", applied)
    return applied


def _apply(session: Session, rows: dict[str, Call | None], event: StreamEvent) -> None:
    session.add(
        CallEvent(
            stream_id=event.stream_id,
            type=event.type,
            call_sid=event.call_sid or None,
            agent_id=event.agent_id or None,
            at=from_ms(event.at_ms),
            data=event.data,
        )
    )
    if not event.call_sid:
        return
    if event.call_sid not in rows:
        rows[event.call_sid] = session.get(Call, event.call_sid)
    row = rows[event.call_sid]
    try:
        updated = apply_event(row, event)
    except UnknownEvent as exc:
        # Kept as a raw event above, counted, and said: never silently dropped.
        UNPROJECTED[exc.event_type] += 1
        log.warning("%s (stream id %s)", exc, event.stream_id)
        return
    if updated is not None and row is None:
        session.add(updated)
    rows[event.call_sid] = updated
