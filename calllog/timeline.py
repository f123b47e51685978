"""One call's timeline: every event of its life in order, with durations.

What a supervisor opens when a caller complains ("I waited twenty minutes and
nobody answered"): the voice-menu answers (what was pressed or said), the
queue, each offer and who declined or missed it, talk, holds, transfers, the
outcome and notes, the recap and any callback. Read from the call log's
events (`call_events`), not from Redis: a call of last month has one too.
Each step says how long the call stayed there (until the next step), and
the hotliners' talk segments are listed beside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from calllog.models import Call, CallEvent, CallSegment
from queues.call_context import PATH_PREFIX

#: Event types that belong to a hotliner's day, not to the call's own steps.
NOT_THE_CALLS = frozenset({"agent_state", "control"})


@dataclass(frozen=True, slots=True)
class Step:
    """One event of the call."""

    at: datetime
    offset_seconds: float  # since the call started
    lasted_seconds: float | None  # until the next step; None for the last
    type: str
    agent_id: str | None
    facts: dict[str, str]  # the event's data, the voice-menu answers decoded

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "offset_seconds": round(self.offset_seconds, 3),
            "lasted_seconds": (
                None if self.lasted_seconds is None else round(self.lasted_seconds, 3)
            ),
            "type": self.type,
            "agent_id": self.agent_id,
            "facts": self.facts,
        }


@dataclass(frozen=True, slots=True)
class Segment:
    """A hotliner's part of the conversation."""

    agent_id: str
    started_at: datetime
    ended_at: datetime | None
    talk_seconds: float | None
    hold_seconds: float

    def as_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "talk_seconds": self.talk_seconds,
            "hold_seconds": self.hold_seconds,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    call: Call
    steps: tuple[Step, ...]
    segments: tuple[Segment, ...]

    @property
    def total_seconds(self) -> float | None:
        """Arrival to hang-up, when both are known."""
        c = self.call
        if c.started_at is None or c.ended_at is None:
            return None
        return (_aware(c.ended_at) - _aware(c.started_at)).total_seconds()


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive (they were written in UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def decode_facts(data: dict[str, Any]) -> dict[str, str]:
    """An event's data as text; a voice-menu answer field
    (`path:<ms>` = `node|key|digits`) becomes `node` = `key 1` / `said ...`."""
    facts: dict[str, str] = {}
    for name, value in data.items():
        text = "" if value is None else str(value)
        if name.startswith(PATH_PREFIX):
            node, _, rest = text.partition("|")
            how, _, what = rest.partition("|")
            facts[f"answer:{node}"] = f"{how} {what}".strip()
        else:
            facts[name] = text
    return facts


def call_timeline(engine: Engine, call_sid: str) -> Timeline | None:
    """The call's timeline; None when the call log has no such call."""
    with Session(engine) as session:
        call = session.get(Call, call_sid)
        if call is None:
            return None
        events = session.scalars(
            select(CallEvent)
            .where(CallEvent.call_sid == call_sid)
            .order_by(CallEvent.at, CallEvent.id)
        ).all()
        segments = session.scalars(
            select(CallSegment)
            .where(CallSegment.call_sid == call_sid)
            .order_by(CallSegment.started_at, CallSegment.id)
        ).all()
        session.expunge_all()
    kept = [e for e in events if e.type not in NOT_THE_CALLS]
    origin = _aware(call.started_at or (kept[0].at if kept else datetime.now(UTC)))
    steps = []
    for i, event in enumerate(kept):
        at = _aware(event.at)
        following = _aware(kept[i + 1].at) if i + 1 < len(kept) else None
        steps.append(
            Step(
                at=at,
                offset_seconds=(at - origin).total_seconds(),
                lasted_seconds=(following - at).total_seconds() if following else None,
                type=event.type,
                agent_id=event.agent_id,
                facts=decode_facts(dict(event.data or {})),
            )
        )
    return Timeline(
        call=call,
        steps=tuple(steps),
        segments=tuple(
            Segment(
                agent_id=s.agent_id,
                started_at=_aware(s.started_at),
                ended_at=_aware(s.ended_at) if s.ended_at else None,
                talk_seconds=s.talk_seconds,
                hold_seconds=s.hold_seconds,
            )
            for s in segments
        ),
    )
