"""Shift schedules: is a hotliner on duty at a given instant?

Shifts are weekly patterns in the hotline's timezone ("mon-fri 08:00-16:00",
"sat,sun 20:00-08:00"); a shift ending before it starts runs past midnight and
belongs to the day it starts on, which is how rosters are written. A shift
that ends when it starts lasts 24 hours ("daily 00:00-00:00": round the clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class Shift:
    """One weekly shift: days it starts on, local start and end times."""

    days: frozenset[int]  # 0 = Monday
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def covers(self, local: datetime) -> bool:
        """Whether this shift covers the local wall-clock instant."""
        t = local.time()
        if not self.crosses_midnight:
            return local.weekday() in self.days and self.start <= t < self.end
        if local.weekday() in self.days and t >= self.start:
            return True
        yesterday = (local - timedelta(days=1)).weekday()
        return yesterday in self.days and t < self.end


def parse_days(text: str) -> frozenset[int]:
    """'mon-fri', 'sat,sun', 'daily' -> weekday numbers; ValueError if unknown."""
    text = text.strip().lower()
    if text in {"daily", "all", "*"}:
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip() for p in part.split("-", 1))
            a, b = _day(first), _day(last)
            span = range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)]
            days.update(span)
        else:
            days.add(_day(part))
    return frozenset(days)


def format_days(days: frozenset[int]) -> str:
    """Weekdays as a roster writes them: 'daily', 'mon-fri', 'sat,sun'."""
    if len(days) == 7:
        return "daily"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        f"{DAYS[r[0]]}-{DAYS[r[-1]]}" if len(r) > 2 else ",".join(DAYS[d] for d in r)
        for r in runs
    )


def _day(name: str) -> int:
    if name not in DAYS:
        raise ValueError(f"unknown day {name!r} (use {', '.join(DAYS)})")
    return DAYS.index(name)


def parse_shift(text: str) -> Shift:
    """'mon-fri 08:00-16:00' -> Shift; ValueError with a readable reason."""
    try:
        days_part, hours_part = text.strip().rsplit(" ", 1)
        start_text, end_text = hours_part.split("-")
        start = time.fromisoformat(start_text)
        end = time.fromisoformat(end_text)
    except ValueError as exc:
        raise ValueError(
            f"shift {text!r} must look like 'mon-fri 08:00-16:00'"
        ) from exc
    return Shift(days=parse_days(days_part), start=start, end=end)


def is_on_shift(shifts: tuple[Shift, ...], at: datetime, tz: ZoneInfo) -> bool:
    """Whether any of the shifts covers the instant `at` (aware datetime)."""
    local = at.astimezone(tz)
    return any(shift.covers(local) for shift in shifts)
