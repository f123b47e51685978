"""Each hotliner's part of a call, from the event stream (pure).

A call is talked by one hotliner, or by several when it is transferred: a
segment opens when the caller and a hotliner start talking (`talking`) and
closes when the call ends or that hotliner passes it on (`transferred`);
`hold` events add the time the caller waited on hold. Handle time then splits
by who, and transfers are visible as segments ended `transferred`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from calllog.models import CallSegment
from calllog.projection import StreamEvent
from core.clock import from_ms
from queues.lifecycle import EventType


class Move(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    HOLD = "hold"
    UNHOLD = "unhold"


@dataclass(frozen=True, slots=True)
class SegmentMove:
    move: Move
    agent_id: str
    at: datetime
    reason: str = ""


def segment_move(event: StreamEvent) -> SegmentMove | None:
    """What an event does to the call's segments (None: nothing)."""
    at = from_ms(event.at_ms)
    d = event.data
    if event.type == EventType.TALKING:
        # Someone outside the hotline (an external transfer) talks too.
        outside = f"external:{d['external']}" if d.get("external") else ""
        return SegmentMove(Move.OPEN, event.agent_id or outside, at)
    if event.type == EventType.TRANSFERRED:
        return SegmentMove(Move.CLOSE, event.agent_id, at, "transferred")
    if event.type == EventType.CALL_ENDED:
        return SegmentMove(Move.CLOSE, event.agent_id, at, d.get("state") or "ended")
    if event.type == EventType.HOLD:
        kind = Move.HOLD if d.get("on") == "1" else Move.UNHOLD
        return SegmentMove(kind, event.agent_id, at)
    return None


def apply_move(
    open_segment: CallSegment | None, call_sid: str, move: SegmentMove
) -> tuple[CallSegment | None, CallSegment | None]:
    """(the segment closed or changed, a new one to add) for one move.

    A segment still open when the next opens (its end was lost) is closed
    there, said so (`end_reason` 'superseded').
    """
    if move.move is Move.OPEN:
        closed = (
            _close(open_segment, move.at, "superseded")
            if open_segment is not None
            else None
        )
        return closed, CallSegment(
            call_sid=call_sid,
            agent_id=move.agent_id,
            started_at=move.at,
            hold_seconds=0.0,
        )
    if open_segment is None:
        return None, None
    if move.move is Move.CLOSE:
        return _close(open_segment, move.at, move.reason), None
    if move.move is Move.HOLD:
        if open_segment.on_hold_since is None:
            open_segment.on_hold_since = move.at
        return open_segment, None
    _unhold(open_segment, move.at)
    return open_segment, None


def _close(segment: CallSegment, at: datetime, reason: str) -> CallSegment:
    _unhold(segment, at)
    segment.ended_at = at
    segment.end_reason = reason
    segment.talk_seconds = max(
        0.0, (at - _aware(segment.started_at, at)).total_seconds()
    )
    return segment


def _unhold(segment: CallSegment, at: datetime) -> None:
    if segment.on_hold_since is not None:
        since = _aware(segment.on_hold_since, at)
        segment.hold_seconds = (segment.hold_seconds or 0.0) + max(
            0.0, (at - since).total_seconds()
        )
        segment.on_hold_since = None


def _aware(value: datetime, like: datetime) -> datetime:
    """SQLite gives back naive datetimes (UTC): compare them as `like`'s zone."""
    return value if value.tzinfo is not None else value.replace(tzinfo=like.tzinfo)
