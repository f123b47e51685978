"""Read-side questions the live system asks the call log."""

from __future__ import annotations

from datetime import timedelta

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
