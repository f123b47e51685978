"""Each hotliner's part of a call, from the event stream (pure)."""

from __future__ import annotations

from calllog.models import CallSegment
from calllog.projection import StreamEvent
from calllog.segments import Move, apply_move, segment_move

T0 = 1_800_000_000_000
SID = "CAseg"


def event(kind: str, agent: str, at_s: float, **data: str) -> StreamEvent:
    return StreamEvent(
        stream_id=f"{T0 + int(at_s * 1000)}-0",
        type=kind,
        call_sid=SID,
        agent_id=agent,
        at_ms=T0 + int(at_s * 1000),
        data=dict(data),
    )


def replay(*events: StreamEvent) -> list[CallSegment]:
    """Segments after the events, as the writer keeps them."""
    segments: list[CallSegment] = []
    for e in events:
        move = segment_move(e)
        if move is None:
            continue
        current = next((s for s in reversed(segments) if s.ended_at is None), None)
        _, added = apply_move(current, SID, move)
        if added is not None:
            segments.append(added)
    return segments


def test_a_transferred_call_has_one_segment_per_hotliner_with_its_hold() -> None:
    nina, omar = replay(
        event("enqueued", "", 0, queue="email"),
        event("talking", "nina", 10),
        event("hold", "nina", 40, on="1"),
        event("hold", "nina", 70, on="0"),
        event("transferred", "nina", 100, queue="printer"),
        event("talking", "omar", 130),
        event("hold", "omar", 150, on="1"),
        event("call_ended", "omar", 200, state="completed"),  # hung up on hold
    )
    assert (nina.agent_id, nina.talk_seconds, nina.hold_seconds) == ("nina", 90, 30)
    assert nina.end_reason == "transferred"
    assert (omar.agent_id, omar.talk_seconds, omar.hold_seconds) == ("omar", 70, 50)
    assert omar.end_reason == "completed"
    assert omar.on_hold_since is None


def test_events_without_an_open_segment_change_nothing() -> None:
    assert (
        replay(
            event("hold", "nina", 1, on="1"),
            event("call_ended", "", 5, state="abandoned"),
            event("transferred", "nina", 6),
        )
        == []
    )
    assert segment_move(event("offered", "nina", 1)) is None
    move = segment_move(event("hold", "nina", 1, on="0"))
    assert move is not None
    assert move.move is Move.UNHOLD


def test_a_segment_whose_end_was_lost_is_closed_when_the_next_opens() -> None:
    first, second = replay(event("talking", "nina", 0), event("talking", "omar", 30))
    assert (first.end_reason, first.talk_seconds) == ("superseded", 30)
    assert second.ended_at is None
    # Holding twice counts from the first; taking back twice counts once.
    (only,) = replay(
        event("talking", "nina", 0),
        event("hold", "nina", 10, on="1"),
        event("hold", "nina", 20, on="1"),
        event("hold", "nina", 30, on="0"),
        event("hold", "nina", 40, on="0"),
        event("call_ended", "nina", 50, state="completed"),
    )
    assert only.hold_seconds == 20
