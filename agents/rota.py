"""The rota: who is on shift when, weekly patterns and their dated exceptions.

A hotliner's week (`shifts` in `hotliners.yaml`) is what usually happens;
real rotas also have leave and sick days, extra shifts, swaps between two
hotliners, and public holidays on which the weekly shifts do not run unless
the hotliner works them. This module turns all of that into concrete
instants: the intervals (UTC) during which each hotliner is on duty.

Why concrete intervals rather than asking each weekly shift "do you cover
this instant?": the router needs *until when* someone is on shift (it
stores that in Redis and the match compares it atomically), a shift that
runs across midnight or a DST change has a wall-clock length that only a
calendar date pins down, and back-to-back shifts must read as one stretch.

Times are wall-clock times in the hotliner's timezone (the hotline's unless
they work remotely): "mon-fri 08:00-16:00" is 08:00 local on each of those
dates, whatever the UTC offset is that day. A wall-clock time that does not
exist (02:30 on the night clocks go forward) is read with the offset before
the change, as `zoneinfo` does (so it starts at 03:30 local).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from agents.shifts import Shift

#: How far ahead `until` looks for the end of a stretch on duty (a round-the-
#: clock hotliner's stretch "ends" there; the sweep moves it on).
HORIZON = timedelta(days=8)

Interval = tuple[datetime, datetime]  # [start, end) in UTC

#: A question about a period ending within this many days of its start's
#: day is answered from the cached stretches of that day (`until` looks 8
#: days ahead).
CACHED_AHEAD = timedelta(days=9)
#: Cached (hotliner, day) entries kept at most (then the cache starts again).
CACHE_SIZE = 50_000
#: Teams whose answer to "who is on duty now" is kept (`Roster.on_duty`).
ON_DUTY_KEPT = 256
#: How far ahead `on_duty` looks for the next start or end of a stretch.
ON_DUTY_AHEAD = timedelta(days=1)

_DATE = r"(\d{4}-\d{2}-\d{2})"
_LEAVE = re.compile(rf"^(leave|sick)\s+{_DATE}(?:\.\.{_DATE})?$")
_EXTRA = re.compile(rf"^extra\s+{_DATE}\s+(\d{{2}}:\d{{2}})-(\d{{2}}:\d{{2}})$")
_SWAP = re.compile(rf"^swap\s+{_DATE}\s+with\s+([A-Za-z0-9_.-]+)$")

EXCEPTION_HELP = (
    "exceptions look like 'leave 2026-12-24..2026-12-31', 'sick 2026-12-03', "
    "'extra 2026-12-05 09:00-13:00' or 'swap 2026-12-07 with bruno'"
)


@dataclass(frozen=True, slots=True)
class Changes:
    """One hotliner's dated exceptions to their weekly shifts."""

    off: frozenset[date] = frozenset()  # leave or sickness: no shift starts then
    extra: tuple[tuple[date, time, time], ...] = ()  # extra shifts (local)
    swaps: Mapping[date, str] = field(default_factory=dict)  # date -> the other


def parse_changes(lines: Iterable[str]) -> Changes:
    """'leave 2026-12-24..2026-12-31' and the like -> Changes; ValueError
    naming the entry at fault."""
    off: set[date] = set()
    extra: list[tuple[date, time, time]] = []
    swaps: dict[date, str] = {}
    for line in lines:
        text = " ".join(line.split())
        try:
            if found := _LEAVE.match(text):
                first = date.fromisoformat(found[2])
                last = date.fromisoformat(found[3] or found[2])
                if last < first:
                    raise ValueError("ends before it starts")
                if (last - first).days > 366:
                    raise ValueError("longer than a year")
                off.update(
                    first + timedelta(days=n) for n in range((last - first).days + 1)
                )
            elif found := _EXTRA.match(text):
                extra.append(
                    (
                        date.fromisoformat(found[1]),
                        time.fromisoformat(found[2]),
                        time.fromisoformat(found[3]),
                    )
                )
            elif found := _SWAP.match(text):
                day = date.fromisoformat(found[1])
                if day in swaps:
                    raise ValueError("a second swap the same day")
                swaps[day] = found[2]
            else:
                raise ValueError(EXCEPTION_HELP)
        except ValueError as exc:
            raise ValueError(f"exception {line!r}: {exc}") from exc
    return Changes(frozenset(off), tuple(extra), swaps)


@dataclass(frozen=True, slots=True)
class Duty:
    """What the rota needs to know of one hotliner."""

    weekly: tuple[Shift, ...]
    tz: ZoneInfo
    changes: Changes = Changes()
    on_holidays: bool = False  # their weekly shifts also run on public holidays


class Roster:
    """Everyone's duty, the public holidays, and the intervals they make."""

    def __init__(
        self, duties: Mapping[str, Duty], holidays: HolidayCalendar | None = None
    ) -> None:
        self.duties = dict(duties)
        self.holidays = holidays or HolidayCalendar()
        # A swap is written on one side; both work the other's shifts.
        self._swaps: dict[tuple[str, date], str] = {}
        for agent_id, duty in self.duties.items():
            for day, other in duty.changes.swaps.items():
                self._swaps[(agent_id, day)] = other
                self._swaps.setdefault((other, day), agent_id)
        # (agent, local day) -> merged stretches of the days around it: a
        # roster never changes (a reload makes a new one), and every enqueue
        # asks it about each hotliner of the queue.
        self._cache: dict[tuple[str, date], list[Interval]] = {}
        # team -> (from, until, those on duty then): see `on_duty`.
        self._on_duty: dict[
            tuple[str, ...], tuple[datetime, datetime, tuple[str, ...]]
        ] = {}

    def partner(self, agent_id: str, day: date) -> str | None:
        """Who `agent_id` swapped with on `day` (written on either side)."""
        return self._swaps.get((agent_id, day))

    def _occurrences(self, agent_id: str, day: date) -> Iterator[Interval]:
        """The shifts `agent_id` works that start on their local date `day`."""
        duty = self.duties[agent_id]
        if day not in duty.changes.off:
            other = self.partner(agent_id, day)
            source = self.duties.get(other, duty) if other else duty
            if duty.on_holidays or day not in self.holidays:
                for shift in source.weekly:
                    if day.weekday() in shift.days:
                        yield _concrete(day, shift.start, shift.end, source.tz)
        for when, start, end in duty.changes.extra:
            if when == day:
                yield _concrete(day, start, end, duty.tz)

    def intervals(
        self, agent_id: str, start: datetime, end: datetime
    ) -> list[Interval]:
        """The stretches (UTC, merged, cut to [start, end)) `agent_id` is on
        duty within [start, end); an unknown hotliner has none."""
        if agent_id not in self.duties:
            return []
        tz = self.duties[agent_id].tz
        anchor = start.astimezone(tz).date()
        last = end.astimezone(tz).date()
        if last <= anchor + CACHED_AHEAD:
            merged = self._cache.get((agent_id, anchor))
            if merged is None:
                merged = self._merged(agent_id, anchor, anchor + CACHED_AHEAD)
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                self._cache[(agent_id, anchor)] = merged
        else:
            merged = self._merged(agent_id, anchor, last)
        lo, hi = start.astimezone(UTC), end.astimezone(UTC)
        return [(max(a, lo), min(b, hi)) for a, b in merged if a < hi and b > lo]

    def _merged(self, agent_id: str, first: date, last: date) -> list[Interval]:
        """The stretches of shifts starting from two days before `first` (a
        night or 24-hour shift of the day before may still run) to `last`."""
        spans: list[Interval] = []
        day = first - timedelta(days=2)
        while day <= last:
            spans.extend(self._occurrences(agent_id, day))
            day += timedelta(days=1)
        return merge(spans)

    def on_shift(self, agent_id: str, at: datetime) -> bool:
        return bool(self.intervals(agent_id, at, at + timedelta(microseconds=1)))

    def on_duty(self, team: tuple[str, ...], at: datetime) -> tuple[str, ...]:
        """Those of `team` on shift at `at`, in their order.

        Every caller entering a queue asks it of the queue's whole team; the
        answer holds until the first of their stretches starts or ends, and
        is kept till then (asking each hotliner cost ~10 us, 10 ms a caller
        with a thousand)."""
        when = at.astimezone(UTC)
        kept = self._on_duty.get(team)
        if kept is not None and kept[0] <= when < kept[1]:
            return kept[2]
        until = when + ON_DUTY_AHEAD
        on: list[str] = []
        for agent_id in team:
            spans = self.intervals(agent_id, when, when + ON_DUTY_AHEAD)
            if not spans:
                continue
            if spans[0][0] <= when:  # on now, until that stretch ends
                on.append(agent_id)
                until = min(until, spans[0][1])
            else:  # off now, until that one starts
                until = min(until, spans[0][0])
        if len(self._on_duty) >= ON_DUTY_KEPT:
            self._on_duty.clear()
        self._on_duty[team] = (when, until, tuple(on))
        return tuple(on)

    def until(self, agent_id: str, at: datetime) -> datetime | None:
        """When the stretch on duty `agent_id` is in at `at` ends (UTC); None
        if off shift. Looks `HORIZON` ahead at most (a round-the-clock
        hotliner's stretch ends there)."""
        spans = self.intervals(agent_id, at, at + HORIZON)
        if not spans or spans[0][0] > at.astimezone(UTC):
            return None
        return spans[0][1]

    def last_end(self, agent_id: str, at: datetime) -> datetime | None:
        """When `agent_id`'s latest stretch on duty ended, at or before `at`
        (within the last 8 days); None if on shift or none."""
        spans = self.intervals(agent_id, at - HORIZON, at + timedelta(microseconds=1))
        ended = [b for _, b in spans if b <= at.astimezone(UTC)]
        if not ended or (spans and spans[-1][1] > at.astimezone(UTC)):
            return None
        return ended[-1]


@dataclass(frozen=True, slots=True)
class HolidayCalendar:
    """Public holidays: those of countries (the `holidays` package computes
    them, Easter-based ones included) and dates written in the config."""

    countries: tuple[str, ...] = ()
    dates: frozenset[date] = frozenset()

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.dates or any(
            day in _country_holidays(country, day.year) for country in self.countries
        )

    def __bool__(self) -> bool:
        return bool(self.countries or self.dates)


_CACHE: dict[tuple[str, int], frozenset[date]] = {}


def _country_holidays(country: str, year: int) -> frozenset[date]:
    found = _CACHE.get((country, year))
    if found is None:
        import holidays  # noqa: PLC0415 - a large module, only for rotas using it

        found = frozenset(holidays.country_holidays(country, years=year))
        _CACHE[(country, year)] = found
    return found


def known_country(code: str) -> bool:
    import holidays  # noqa: PLC0415

    return code in holidays.list_supported_countries()


def _concrete(day: date, start: time, end: time, tz: ZoneInfo) -> Interval:
    """A shift starting on local `day` as UTC instants; an end at or before
    the start is on the next day (a night shift, or 24 hours)."""
    begins = datetime.combine(day, start, tzinfo=tz)
    end_day = day if end > start else day + timedelta(days=1)
    ends = datetime.combine(end_day, end, tzinfo=tz)
    return begins.astimezone(UTC), ends.astimezone(UTC)


def merge(spans: Iterable[Interval]) -> list[Interval]:
    """Overlapping or back-to-back intervals as one."""
    out: list[Interval] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out
