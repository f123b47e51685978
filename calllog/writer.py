"""Drains the Redis event stream into the SQL call log, exactly once.

One writer at a time (a Redis lock with a token); the stream position is
stored in `stream_offsets` and committed in the same transaction as the rows
it produced, so a crash anywhere replays from the last commit and nothing is
applied twice or lost. Each event is also kept with its stream id, and one
already kept is skipped: a stream replayed from its start changes nothing.
Applied entries are trimmed from the stream afterwards.

While the writer is stopped (or SQL is down) the stream grows up to its cap
(`core.lua`: past it the scripts drop the oldest events, counted, rather
than let Redis run out of memory and stop live calls); the writer says each
drop it finds at error level, once (`report_drops`): the call log misses
those events.
"""

from __future__ import annotations

import logging
import uuid
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine, Table, insert, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from calllog.buckets import DEFAULT_TZ, local_day
from calllog.intervals import agent_moves
from calllog.models import AgentInterval, Call, CallEvent, CallSegment, StreamOffset
from calllog.projection import StreamEvent, UnknownEvent, apply_event
from calllog.segments import Move, apply_move, segment_move
from core.clock import from_ms
from core.keys import Keys
from core.lua import EVENTS_DROPPED, RELEASE_LOCK
from core.text import as_text

log = logging.getLogger(__name__)

OFFSET_NAME = "events"
#: Events go in with a plain multi-row INSERT: no ORM bookkeeping per event.
EVENTS_TABLE = cast(Table, CallEvent.__table__)
#: Events of a type the projection refused, by type, since the process started.
UNPROJECTED: Counter[str] = Counter()
#: The writer's lock lapses this long after its last renewal (one per batch),
#: so a writer killed mid-batch stops the call log for seconds, not minutes.
LOCK_MS = 10_000
#: `Keys.counters`' field: how many of the events the stream's cap dropped
#: (`EVENTS_DROPPED`) a writer has said in its log, so each is said once.
DROPS_REPORTED = "events_dropped_reported"


def drain_events(
    client: redis.Redis,
    engine: Engine,
    keys: Keys,
    batch: int = 500,
    max_batches: int = 200,
    tz: ZoneInfo = DEFAULT_TZ,
    group: str = "",
) -> int:
    """Apply pending events to the call log; returns how many were taken from
    the stream (an event the log holds already is skipped).
    `tz`: the hotline's timezone (the local day and half hour of each call).
    `group`: a routing group's stream (`queues.partition`), drained with an
    offset of its own; '' the hotline's one stream."""
    token, lock = uuid.uuid4().hex, keys.calllog_lock
    if not client.set(lock, token, nx=True, px=LOCK_MS):
        return 0
    name, mark = offset_name(group), f"{stream_mark(group)}:" if group else ""
    if group:
        keys = keys.group(group)
    applied = 0
    try:
        report_drops(client, keys)  # before SQL: said even while SQL is down
        # Not expired at each commit: the writer is the calls' one writer
        # while it holds the lock, and reading back what it just wrote (the
        # offset, the rows of calls still going) cost a query each.
        with Session(engine, expire_on_commit=False) as session:
            offset = session.get(StreamOffset, name)
            if offset is None:
                offset = StreamOffset(name=name, last_id="0-0")
                session.add(offset)
            for _ in range(max_batches):
                entries = cast(
                    list[tuple[bytes, dict[bytes, bytes]]],
                    client.xrange(keys.events, min=f"({offset.last_id}", count=batch),
                )
                if not entries:
                    break
                batch_state = _Batch()
                ids = [mark + as_text(i) for i, _ in entries]
                seen = _already_applied(session, ids)
                events = [
                    StreamEvent.from_fields(
                        stream_id,
                        {as_text(k): as_text(v) for k, v in raw_fields.items()},
                    )
                    for stream_id, (_, raw_fields) in zip(ids, entries, strict=True)
                    if stream_id not in seen  # idempotent: a replayed stream
                ]
                # One flush at the commit: rows a batch reads again are kept
                # in `batch_state`, so no query needs the pending ones flushed
                # first (autoflush before every read took half the writer's CPU).
                with session.no_autoflush:
                    _prefetch(session, batch_state, events)
                    for event in events:
                        _apply(session, batch_state, event, tz)
                if batch_state.events:
                    session.execute(insert(EVENTS_TABLE), batch_state.events)
                offset.last_id = as_text(entries[-1][0])
                session.commit()
                applied += len(entries)
                client.xtrim(keys.events, minid=offset.last_id, approximate=False)
                client.pexpire(lock, LOCK_MS)
    finally:
        client.eval(RELEASE_LOCK, 1, lock, token)
    if applied:
        log.debug("call log: applied %d events", applied)
    return applied


def offset_name(group: str) -> str:
    """Where the writer keeps how far it applied a stream."""
    return f"{OFFSET_NAME}:{group}" if group else OFFSET_NAME


def stream_mark(group: str) -> str:
    """What a routing group's events' ids start with in the call log: two
    groups' streams live on different servers, whose ids may be the same."""
    return f"{zlib.crc32(group.encode()) & 0xFFFFFF:06x}"


def drain_partition(
    client: redis.Redis,
    engine: Engine,
    keys: Keys,
    groups: Iterable[str],
    tz: ZoneInfo = DEFAULT_TZ,
) -> int:
    """Every routing group's stream in turn (`drain_events` for each).

    Their order does not matter: a call's events are in one group's stream
    but for a caller who moved, whose first group's events are those of the
    IVR (started, choices, language), which no later event changes; a caller
    who hung up while moving has its end in both, the same end."""
    return sum(drain_events(client, engine, keys, tz=tz, group=g) for g in groups)


def report_drops(client: redis.Redis, keys: Keys) -> int:
    """Say, at error level and once, the events the stream's cap dropped
    before the call log got them (`core.lua`); returns how many were new."""
    dropped_raw, reported_raw = cast(
        list[bytes | None],
        client.hmget(keys.counters, [EVENTS_DROPPED, DROPS_REPORTED]),
    )
    dropped, reported = int(dropped_raw or 0), int(reported_raw or 0)
    if dropped <= reported:
        return 0
    client.hset(keys.counters, DROPS_REPORTED, str(dropped))
    log.error(
        "call log: %d events were dropped from the full event stream before "
        "they were written (%d in all): the call log misses them. The writer "
        "was stopped or SQL unreachable for longer than the stream holds "
        "(HOTLINE_EVENT_STREAM_MAX)",
        dropped - reported,
        dropped,
    )
    return dropped - reported


def _already_applied(session: Session, stream_ids: list[str]) -> set[str]:
    """Which of these events the call log holds already (each applied event
    is kept with its stream id, in the same transaction as its effects): an
    event is never applied twice, even from a stream replayed from its start
    or an offset set back."""
    return set(
        session.scalars(
            select(CallEvent.stream_id).where(CallEvent.stream_id.in_(stream_ids))
        )
    )


@dataclass
class _Batch:
    """What a batch has read or added, by key: read from SQL once, then kept
    here with the batch's changes (nothing is flushed before the commit)."""

    rows: dict[str, Call | None] = field(default_factory=dict)
    intervals: dict[str, AgentInterval | None] = field(default_factory=dict)
    #: Each call's open segment.
    segments: dict[str, CallSegment | None] = field(default_factory=dict)
    #: The events themselves, inserted together at the end of the batch (as
    #: ORM objects, their bookkeeping was most of the flush's time).
    events: list[dict[str, Any]] = field(default_factory=list)


def _prefetch(session: Session, batch: _Batch, events: list[StreamEvent]) -> None:
    """Read what the batch's events will change in three queries, not one
    per call and hotliner: their calls' rows, the calls' open segments and
    the hotliners' open intervals (a profile of the worker at 20 calls/s had
    those reads, one at a time, at a fifth of its CPU). What SQL lacks is
    kept as None: the event that opens it adds it."""
    sids = {e.call_sid for e in events if e.call_sid} - batch.rows.keys()
    if sids:
        found = session.scalars(select(Call).where(Call.call_sid.in_(sids)))
        batch.rows.update(dict.fromkeys(sids))
        batch.rows.update((row.call_sid, row) for row in found)
    segmented = {
        e.call_sid for e in events if e.call_sid and segment_move(e) is not None
    }
    _newest_open(session, CallSegment.call_sid, segmented, batch.segments)
    agents = {m.agent_id for e in events for m in agent_moves(e)}
    _newest_open(session, AgentInterval.agent_id, agents, batch.intervals)


_Open = TypeVar("_Open", CallSegment, AgentInterval)


def _newest_open(
    session: Session,
    key: InstrumentedAttribute[str],
    wanted: set[str],
    found: dict[str, _Open | None],
) -> None:
    """Into `found`, each wanted key's newest open row (`ended_at` unset) of
    `key`'s table, or None: one query for the keys `found` lacks."""
    wanted = wanted - found.keys()
    if not wanted:
        return
    model = key.class_
    found.update(dict.fromkeys(wanted))
    rows = session.scalars(
        select(model)
        .where(key.in_(wanted), model.ended_at.is_(None))
        .order_by(model.id)
    )
    for row in rows:  # ascending ids: the newest open one of each key wins
        found[getattr(row, key.key)] = row


def _apply(
    session: Session,
    batch: _Batch,
    event: StreamEvent,
    tz: ZoneInfo = DEFAULT_TZ,
) -> None:
    batch.events.append(
        {
            "stream_id": event.stream_id,
            "type": event.type,
            "call_sid": event.call_sid or None,
            "agent_id": event.agent_id or None,
            "at": from_ms(event.at_ms),
            "data": event.data,
        }
    )
    _apply_intervals(session, batch.intervals, event, tz)
    if not event.call_sid:
        return
    rows = batch.rows
    if event.call_sid not in rows:
        rows[event.call_sid] = session.get(Call, event.call_sid)
    row = rows[event.call_sid]
    try:
        updated = apply_event(row, event, tz)
    except UnknownEvent as exc:
        # Kept as a raw event above, counted, and said: never silently dropped.
        UNPROJECTED[exc.event_type] += 1
        log.warning("%s (stream id %s)", exc, event.stream_id)
        return
    if updated is not None and row is None:
        session.add(updated)
    rows[event.call_sid] = updated
    _apply_segment(session, batch.segments, event, updated)


def _apply_segment(
    session: Session,
    segments: dict[str, CallSegment | None],
    event: StreamEvent,
    row: Call | None,
) -> None:
    """The hotliners' segments of the call (`calllog.segments`); each one
    closed adds its talk and hold to the call's handle time. A call's open
    segment is read once a batch (`segments`), then kept there."""
    move = segment_move(event)
    if move is None:
        return
    if event.call_sid not in segments:
        segments[event.call_sid] = session.scalars(
            select(CallSegment)
            .where(
                CallSegment.call_sid == event.call_sid, CallSegment.ended_at.is_(None)
            )
            .order_by(CallSegment.id.desc())
            .limit(1)
        ).first()
    open_segment = segments[event.call_sid]
    changed, added = apply_move(open_segment, event.call_sid, move)
    if added is not None:
        segments[event.call_sid] = added
    elif open_segment is not None and open_segment.ended_at is not None:
        segments[event.call_sid] = None
    closed_now = open_segment is not None and (
        move.move is Move.CLOSE or (move.move is Move.OPEN and changed is not None)
    )
    if closed_now and changed is not None and row is not None:
        row.handle_talk_seconds = round(
            (row.handle_talk_seconds or 0.0) + (changed.talk_seconds or 0.0), 3
        )
        row.hold_seconds = round(
            (row.hold_seconds or 0.0) + (changed.hold_seconds or 0.0), 3
        )
    if added is not None:
        session.add(added)


def _apply_intervals(
    session: Session,
    intervals: dict[str, AgentInterval | None],
    event: StreamEvent,
    tz: ZoneInfo,
) -> None:
    """Each hotliner's time in each state (`calllog.intervals`); their open
    interval is read once a batch (`intervals`), then kept there."""
    for move in agent_moves(event):
        at = from_ms(event.at_ms)
        if move.agent_id not in intervals:
            intervals[move.agent_id] = session.scalars(
                select(AgentInterval)
                .where(AgentInterval.agent_id == move.agent_id)
                .where(AgentInterval.ended_at.is_(None))
                .order_by(AgentInterval.id.desc())
                .limit(1)
            ).first()
        current = intervals[move.agent_id]
        if current is not None:
            if move.only_from and current.state != move.only_from:
                continue
            if current.state == move.state and (
                move.state != "break" or move.reason == current.reason
            ):
                continue  # no change (said twice, an extended wrap-up...)
            started = current.started_at
            if started.tzinfo is None:
                started = started.replace(tzinfo=at.tzinfo)
            current.ended_at = at
            current.seconds = round(max(0.0, (at - started).total_seconds()), 3)
        elif move.only_from:
            continue
        opened = AgentInterval(
            agent_id=move.agent_id,
            state=move.state,
            reason=move.reason or None,
            call_sid=event.call_sid or None,
            started_at=at,
            local_day=local_day(at, tz),
        )
        session.add(opened)
        intervals[move.agent_id] = opened


def applied_offset(engine: Engine, group: str = "") -> str:
    """The last stream id applied to the call log ("0-0": none yet), of a
    routing group's stream or ('') the hotline's one."""
    with Session(engine) as session:
        offset = session.get(StreamOffset, offset_name(group))
        return offset.last_id if offset is not None else "0-0"
