"""Demand per queue and half hour of the week, from the call log (staffing).

What `queues.staffing` needs for each queue and each half hour of the week
(weekday 0 = Monday to 6, half hour 0 = 00:00-00:30 to 47, on the hotline's
local wall clock): how many calls reach the queue in that half hour on
average, and how long they take to handle. Read over the last W weeks before
a day, from the columns and with the definitions of `calllog.reports`
(`docs/METRICS.md`):

- offered: calls that reached a queue (`queued_at` set), each in the local day
  and half hour of its arrival (`local_day`, `local_halfhour`, fixed when the
  call was logged, `calllog.buckets`), in the queue the call row names;
- handle time: talk (hold included) + wrap-up of the handled calls (answered
  and completed), every hotliner's part of the call, in its arrival slot.

The average is per half hour that really happened: W weeks hold each weekday's
half hour W times, except across a DST change. The spring Sunday has no 02:00
and 02:30 half hours, the autumn Sunday has each twice (both count in the same
local slot): those slots divide by W - 1 or W + 1, which gives calls per 30
real minutes, the rate an Erlang formula wants.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, and_, case, func, select
from sqlalchemy.orm import Session

from calllog.buckets import DEFAULT_TZ, day_bounds, half_hour
from calllog.models import Call

#: A slot of the week: (weekday 0-6, half hour 0-47), local wall clock.
Slot = tuple[int, int]
HALF_HOURS = 48
WEEKDAYS = 7


@dataclass(frozen=True, slots=True)
class SlotDemand:
    """One queue's calls in one half hour of the week, over a window."""

    queue: str
    weekday: int  # 0 Monday .. 6 Sunday, local
    half_hour: int  # 0 (00:00-00:30) .. 47, local wall clock
    offered: int  # calls that reached the queue in this slot, window total
    occurrences: int  # times the slot happened in the window (W; DST: W +- 1)
    handled: int  # of which answered and over: their handle time is known
    handle_seconds: float  # their talk (hold included) + wrap-up, summed

    @property
    def calls_per_half_hour(self) -> float:
        """Offered calls per occurrence of the slot (0.0 if it never
        happened: a spring Sunday's 02:00 in a one-week window)."""
        return self.offered / self.occurrences if self.occurrences else 0.0

    @property
    def aht_seconds(self) -> float | None:
        """Average handle time of the slot's handled calls; None if none was
        handled (staffing then falls back on the queue's configured one)."""
        return self.handle_seconds / self.handled if self.handled else None


def window(before: date, weeks: int) -> tuple[date, date]:
    """First and last local day of the `weeks` whole weeks before `before`."""
    if weeks < 1:
        raise ValueError("weeks must be >= 1")
    return before - timedelta(weeks=weeks), before - timedelta(days=1)


def slot_occurrences(
    first_day: date, last_day: date, tz: ZoneInfo = DEFAULT_TZ
) -> Counter[Slot]:
    """How many times each local (weekday, half hour) happened from
    `first_day` to `last_day` (both included): walks the real half hours
    from local midnight to local midnight (a DST day has 46 or 50), naming
    each by its local wall clock. Assumes the zone's offsets are whole half
    hours, as Europe/Paris's are."""
    start, end = day_bounds(first_day.isoformat(), last_day.isoformat(), tz)
    counts: Counter[Slot] = Counter()
    at = start
    while at < end:
        counts[(at.astimezone(tz).weekday(), half_hour(at, tz))] += 1
        at += timedelta(minutes=30)
    return counts


def _sum(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _slot_totals(
    engine: Engine, first_day: date, last_day: date
) -> list[tuple[str, str, int, int, int, float]]:
    """(queue, local day, half hour, offered, handled, handle seconds) of each
    slot of each day that had offered calls, summed by SQL on plain columns
    (SQLite and PostgreSQL alike, as `calllog.reports`)."""
    c = Call
    handled = and_(c.answered_at.is_not(None), c.status == "completed")
    handle = func.coalesce(c.handle_talk_seconds, c.talk_seconds, 0) + func.coalesce(
        c.wrapup_seconds, 0
    )
    query = (
        select(
            c.queue,
            c.local_day,
            c.local_halfhour,
            func.count(),
            _sum(handled),
            _sum(handled, handle),
        )
        .where(c.queued_at.is_not(None), c.queue.is_not(None))
        .where(c.local_halfhour.is_not(None))
        .where(c.local_day >= first_day.isoformat())
        .where(c.local_day <= last_day.isoformat())
        .group_by(c.queue, c.local_day, c.local_halfhour)
    )
    with Session(engine) as session:
        return [
            (str(q), str(d), int(h), int(n), int(k), float(s))
            for q, d, h, n, k, s in session.execute(query).all()
        ]


def weekly_demand(
    engine: Engine,
    before: date,
    weeks: int,
    *,
    queues: Iterable[str] | None = None,
    tz: ZoneInfo = DEFAULT_TZ,
) -> list[SlotDemand]:
    """Each queue's demand in each of the 336 half hours of the week, over
    the `weeks` whole weeks before the local day `before` (not included),
    sorted by queue, weekday and half hour.

    `queues`: the queues to report, each with all 336 slots even if no call
    came; None: every queue that had offered calls in the window. `tz` must
    be the one the call log was written with (`hotline.yaml` `timezone`).
    """
    first_day, last_day = window(before, weeks)
    occurrences = slot_occurrences(first_day, last_day, tz)
    offered: Counter[tuple[str, int, int]] = Counter()
    handled: Counter[tuple[str, int, int]] = Counter()
    seconds: dict[tuple[str, int, int], float] = {}
    for queue, day, slot, n, k, s in _slot_totals(engine, first_day, last_day):
        key = (queue, date.fromisoformat(day).weekday(), slot)
        offered[key] += n
        handled[key] += k
        seconds[key] = seconds.get(key, 0.0) + s
    seen = {queue for queue, _, _ in offered}
    names = sorted(seen if queues is None else set(queues))
    return [
        SlotDemand(
            queue=queue,
            weekday=weekday,
            half_hour=slot,
            offered=offered[(queue, weekday, slot)],
            occurrences=occurrences[(weekday, slot)],
            handled=handled[(queue, weekday, slot)],
            handle_seconds=seconds.get((queue, weekday, slot), 0.0),
        )
        for queue in names
        for weekday in range(WEEKDAYS)
        for slot in range(HALF_HOURS)
    ]


def by_slot(rows: Sequence[SlotDemand]) -> dict[tuple[str, int, int], SlotDemand]:
    """The rows keyed by (queue, weekday, half hour), as `queues.staffing`
    takes them."""
    return {(r.queue, r.weekday, r.half_hour): r for r in rows}
