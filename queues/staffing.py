"""Hotliners needed beside hotliners on shift, per skill and half hour.

Pure: no I/O. The demand comes from the call log (`calllog.demand`, or any
mapping of (queue, weekday, half hour) to calls per half hour and handle
time), the targets from `queues.yaml`, who is on duty from the rota. For each
skill and each real half hour of a range of local days, the rows say how many
hotliners the skill's queues need to meet their service level targets
(Erlang C, or Erlang A where a patience is given: `queues.erlang`), how many
are on shift with the skill, the gap, and whether that is under or over.

Assumptions, the simple coverage view of workforce-management tools:

- Each queue is staffed on its own to its `service_level_seconds` and
  `service_level_target`; a skill served by several queues (network and
  network_l2) needs the sum. The queues differ in target and minimum level,
  so they are not pooled; pooling would need a little fewer (Erlang's
  economy of scale).
- A hotliner counts toward every skill they have at a level the skill's
  queues accept (the lowest `min_level`, or `overflow_min_level` once calls
  overflow): someone with three skills counts three times, once for each.
  That is what simple coverage views do, and it overstates coverage: a
  hotliner answers one call at a time. Overflow to another queue's
  hotliners (`overflow_queue`) is not counted.
- On shift is the share of the half hour that a hotliner's duty intervals
  cover (a shift starting 08:15 counts 0.5 in 08:00-08:30). Breaks, wrap-up
  and absence are not taken off: on shift is not available.
- A half hour's demand is that of its local weekday and half hour. The
  autumn night's 02:00-03:00 happens twice and each takes that slot's
  demand; the spring night's does not happen. A 23-hour day has 46 rows
  per skill, a 25-hour day 50.
- No forecast calls: nobody needed (a minimum presence while a queue is
  open is a rota rule, not a queueing one). No handle time measured in the
  slot: the queue's `default_handle_seconds`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from queues.config import QueueConfig
from queues.erlang import agents_for_service_level, agents_for_service_level_erlang_a

HALF_HOUR = timedelta(minutes=30)
HALF_HOUR_SECONDS = HALF_HOUR.total_seconds()
#: (queue, weekday 0-6, half hour 0-47 of the local wall clock)
DemandKey = tuple[str, int, int]
#: Aware [start, end) intervals a hotliner is on shift.
Duty = Sequence[tuple[datetime, datetime]]


class Demand(Protocol):
    """What staffing reads of a slot's demand (`calllog.demand.SlotDemand`
    has it)."""

    @property
    def calls_per_half_hour(self) -> float: ...

    @property
    def aht_seconds(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Forecast:
    """A slot's demand given by hand (a forecast, a what-if)."""

    calls_per_half_hour: float
    aht_seconds: float | None = None


class CoverageStatus(StrEnum):
    UNDERSTAFFED = "understaffed"  # fewer on shift than needed
    OVERSTAFFED = "overstaffed"  # more than needed + slack
    OK = "ok"


@dataclass(frozen=True, slots=True)
class Coverage:
    """One skill in one half hour: needed beside on shift."""

    skill: str
    start: datetime  # aware, in the hotline's timezone
    queues: tuple[str, ...]  # the queues that need this skill
    calls: float  # forecast calls in the half hour, those queues together
    needed: int  # hotliners the queues' targets need (Erlang C or A)
    on_shift: float  # hotliners on shift with the skill (shares of the half hour)
    status: CoverageStatus

    @property
    def start_utc(self) -> datetime:
        """The same instant in UTC, to compare with: by PEP 495 an aware time
        of the repeated autumn hour never equals another zone's instant."""
        return self.start.astimezone(UTC)

    @property
    def gap(self) -> float:
        """Needed - on shift: positive is missing hotliners."""
        return self.needed - self.on_shift


def half_hours(first_day: date, last_day: date, tz: ZoneInfo) -> list[datetime]:
    """The start of every real half hour from local midnight of `first_day`
    to local midnight after `last_day`, aware in `tz`: walked in UTC, so the
    autumn 02:00 comes twice (+02:00 then +01:00) and the spring one never."""
    if last_day < first_day:
        raise ValueError("last_day must not be before first_day")
    at = datetime.combine(first_day, time(), tz).astimezone(UTC)
    end = datetime.combine(last_day + timedelta(days=1), time(), tz).astimezone(UTC)
    out: list[datetime] = []
    while at < end:
        out.append(at.astimezone(tz))
        at += HALF_HOUR
    return out


def hotliners_needed(
    queue: QueueConfig, demand: Demand | None, patience: float | None = None
) -> int:
    """Hotliners one queue needs in one half hour for its service level
    target: Erlang C, or Erlang A with callers' mean `patience` (seconds)."""
    if demand is None or demand.calls_per_half_hour <= 0:
        return 0
    handle = demand.aht_seconds
    if handle is None or handle <= 0:
        handle = float(queue.default_handle_seconds)
    traffic = demand.calls_per_half_hour * handle / HALF_HOUR_SECONDS
    threshold = float(queue.service_level_seconds)
    target = queue.service_level_target
    if patience is None:
        return agents_for_service_level(traffic, handle, threshold, target)
    return agents_for_service_level_erlang_a(
        traffic, handle, patience, threshold, target
    )


def lowest_level(queues: Iterable[QueueConfig]) -> int:
    """The lowest skill level any of these queues' calls reaches: its
    `min_level`, or `overflow_min_level` if calls overflow after a wait."""
    return min(
        min(q.min_level, q.overflow_min_level)
        if q.overflow_after_seconds
        else q.min_level
        for q in queues
    )


def _merged(intervals: Duty) -> list[tuple[datetime, datetime]]:
    """Sorted, non-overlapping UTC intervals (a hotliner twice on duty at
    once is on duty once)."""
    for start, end in intervals:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("duty intervals must be aware datetimes")
        if end < start:
            raise ValueError("a duty interval ends before it starts")
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(
        (s.astimezone(UTC), e.astimezone(UTC)) for s, e in intervals
    ):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def share_on_shift(
    intervals: Sequence[tuple[datetime, datetime]], start: datetime
) -> float:
    """Share of the half hour from `start` that merged UTC `intervals` cover.

    In UTC: `start + 30 min` on a local time is wall-clock arithmetic that
    drops `fold`, which would end the second autumn 02:00 an hour early."""
    start = start.astimezone(UTC)
    end = start + HALF_HOUR
    covered = sum(
        (min(end, e) - max(start, s)).total_seconds()
        for s, e in intervals
        if s < end and e > start
    )
    return covered / HALF_HOUR_SECONDS


def _status(needed: int, on_shift: float, slack: float) -> CoverageStatus:
    if on_shift < needed:
        return CoverageStatus.UNDERSTAFFED
    if on_shift > needed + slack:
        return CoverageStatus.OVERSTAFFED
    return CoverageStatus.OK


def _check_targets(queues: Sequence[QueueConfig]) -> None:
    for q in queues:
        if not 0 < q.service_level_target < 1:
            raise ValueError(
                f"queue {q.id!r}: service_level_target {q.service_level_target} "
                "cannot be staffed with a queueing formula (must be in (0, 1))"
            )


def coverage(
    demand: Mapping[DemandKey, Demand],
    queues: Iterable[QueueConfig],
    on_duty: Mapping[str, Duty],
    skills: Mapping[str, Mapping[str, int]],
    first_day: date,
    last_day: date,
    *,
    tz: ZoneInfo,
    patience: Mapping[str, float] | None = None,
    slack: float = 1.0,
) -> list[Coverage]:
    """Needed beside on shift for each skill and each real half hour of the
    local days `first_day` to `last_day` (both included), sorted by time,
    then skill.

    `demand`: per (queue, weekday, half hour); a missing slot has no calls.
    `on_duty`: hotliner -> aware intervals on shift. `skills`: hotliner ->
    skill -> level. `patience`: queue -> callers' mean patience (seconds),
    Erlang A for those queues, Erlang C for the others. `slack`: how many
    hotliners over the need still count as right (more is overstaffed).
    """
    if slack < 0:
        raise ValueError("slack must be >= 0")
    by_skill: dict[str, list[QueueConfig]] = {}
    for q in queues:
        by_skill.setdefault(q.skill, []).append(q)
    _check_targets([q for qs in by_skill.values() for q in qs])
    duty = {agent: _merged(intervals) for agent, intervals in on_duty.items()}
    waits = patience or {}
    needs: dict[DemandKey, int] = {}  # a week repeats: each slot computed once

    def needed(q: QueueConfig, weekday: int, slot: int) -> int:
        key = (q.id, weekday, slot)
        if key not in needs:
            needs[key] = hotliners_needed(q, demand.get(key), waits.get(q.id))
        return needs[key]

    rows: list[Coverage] = []
    for start in half_hours(first_day, last_day, tz):
        weekday, slot = start.weekday(), start.hour * 2 + start.minute // 30
        for skill in sorted(by_skill):
            members = by_skill[skill]
            level = lowest_level(members)
            calls = sum(
                d.calls_per_half_hour
                for q in members
                if (d := demand.get((q.id, weekday, slot))) is not None
            )
            need = sum(needed(q, weekday, slot) for q in members)
            present = sum(
                share_on_shift(duty.get(agent, []), start)
                for agent, levels in skills.items()
                if levels.get(skill, 0) >= level
            )
            rows.append(
                Coverage(
                    skill=skill,
                    start=start,
                    queues=tuple(sorted(q.id for q in members)),
                    calls=calls,
                    needed=need,
                    on_shift=present,
                    status=_status(need, present, slack),
                )
            )
    return rows


#: Columns of the table and the CSV: heading, and whether it is a number.
COLUMNS: tuple[tuple[str, bool], ...] = (
    ("start", False),
    ("skill", False),
    ("calls", True),
    ("needed", True),
    ("on_shift", True),
    ("gap", True),
    ("status", False),
)


def _cells(row: Coverage) -> list[str]:
    return [
        row.start.isoformat(timespec="minutes"),  # the offset tells 02:00 twice
        row.skill,
        f"{row.calls:.2f}",
        str(row.needed),
        f"{row.on_shift:.2f}",
        f"{row.gap:+.2f}",
        row.status.value,
    ]


def as_table(rows: Sequence[Coverage]) -> str:
    """Fixed-width text, one line a row under a heading: numbers right,
    words left."""
    lines = [[name for name, _ in COLUMNS], *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    out = []
    for line in lines:
        cells = (
            cell.rjust(width) if numeric else cell.ljust(width)
            for cell, width, (_, numeric) in zip(line, widths, COLUMNS, strict=True)
        )
        out.append("  ".join(cells).rstrip())
    return "\n".join(out) + "\n"


def as_csv(rows: Sequence[Coverage]) -> str:
    """CSV with a heading line; times ISO 8601 with their UTC offset."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(name for name, _ in COLUMNS)
    for row in rows:
        writer.writerow(_cells(row))
    return out.getvalue()
