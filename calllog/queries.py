"""Read-side questions the live system asks the call log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from calllog.models import Call
from core.clock import utcnow


def preferred_agent(engine: Engine, from_number: str, within_hours: int) -> str | None:
    """The hotliner who last handled this caller within the window, if any.

    A returning caller is offered to the same hotliner when available: they
    know the case, and the caller does not start over.
    """
    if not from_number or within_hours <= 0:
        return None
    since = utcnow() - timedelta(hours=within_hours)
    with Session(engine) as session:
        return session.scalar(
            select(Call.agent_id)
            .where(
                Call.from_number == from_number,
                Call.status == "completed",
                Call.agent_id.is_not(None),
                Call.started_at >= since,
            )
            .order_by(Call.started_at.desc())
            .limit(1)
        )


@dataclass(frozen=True, slots=True)
class EarlierCall:
    call_sid: str
    queue: str
    started_at: datetime


def last_call(engine: Engine, from_number: str, within_days: int,
              excluding: str) -> EarlierCall | None:
    """The caller's most recent call that reached a queue, within the window."""
    if not from_number or within_days <= 0:
        return None
    since = utcnow() - timedelta(days=within_days)
    with Session(engine) as session:
        row = session.execute(
            select(Call.call_sid, Call.queue, Call.started_at)
            .where(Call.from_number == from_number, Call.queue.is_not(None),
                   Call.started_at >= since, Call.call_sid != excluding)
            .order_by(Call.started_at.desc())
            .limit(1)).first()
    if row is None or row.queue is None or row.started_at is None:
        return None
    started = row.started_at
    if started.tzinfo is None:  # SQLite hands back naive UTC
        started = started.replace(tzinfo=UTC)
    return EarlierCall(row.call_sid, row.queue, started)
