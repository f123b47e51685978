"""Coverage of a coming period: the call log's demand against the rota.

The join the supervisors' coverage views need (`hotline shifts coverage`):
the demand measured per queue and half hour of the week over the last weeks
(`calllog.demand`), each queue's target (`queues.yaml`), and who the rota has
on duty each half hour with which skills (`agents.rota`, exceptions and
holidays included), handed to the pure staffing model (`queues.staffing`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import Engine

from calllog.demand import by_slot, weekly_demand
from queues.config import RoutingConfig
from queues.staffing import Coverage, coverage

#: Weeks of history the demand is measured on, by default.
HISTORY_WEEKS = 4


def coverage_report(
    engine: Engine,
    routing: RoutingConfig,
    first_day: date,
    days: int,
    *,
    weeks: int = HISTORY_WEEKS,
    patience: float | None = None,
) -> list[Coverage]:
    """Needed beside on shift, per skill and half hour of the local days
    `first_day` .. `first_day + days - 1`, from the `weeks` weeks before
    `first_day`; Erlang A with callers' mean `patience` (s) if given, else C."""
    if days < 1 or weeks < 1:
        raise ValueError("days and weeks are at least 1")
    tz = routing.hotline.timezone
    last_day = first_day + timedelta(days=days - 1)
    demand = by_slot(
        weekly_demand(engine, first_day, weeks, queues=list(routing.queues), tz=tz)
    )
    start = datetime.combine(first_day, time(0), tzinfo=tz)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=tz)
    roster = routing.roster
    on_duty = {str(a): roster.intervals(a, start, end) for a in routing.hotliners}
    skills = {str(a): dict(h.skills) for a, h in routing.hotliners.items()}
    waits = {str(q): patience for q in routing.queues} if patience else None
    return coverage(
        demand,
        routing.queues.values(),
        on_duty,
        skills,
        first_day,
        last_day,
        tz=tz,
        patience=waits,
    )
