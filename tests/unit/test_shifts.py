"""Shift schedules: day ranges, night shifts, the hotline's timezone."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from agents.shifts import is_on_shift, parse_days, parse_shift

PARIS = ZoneInfo("Europe/Paris")


def test_day_ranges_wrap_around_the_week() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("fri-mon") == frozenset({4, 5, 6, 0})
    assert parse_days("sat,sun") == frozenset({5, 6})
    assert parse_days("daily") == frozenset(range(7))


@pytest.mark.parametrize("text", ["mon-fri", "mon-fri 8h-16h", "xyz 08:00-16:00"])
def test_malformed_shift_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(ValueError, match="shift|day"):
        parse_shift(text)


def test_day_shift_covers_its_hours_in_paris_time() -> None:
    shift = parse_shift("mon-fri 08:00-16:00")
    assert shift.start == time(8) and shift.end == time(16)  # noqa: PT018
    # Tuesday 2026-11-24 07:30 UTC is 08:30 in Paris (UTC+1 in winter)
    assert is_on_shift((shift,), datetime(2026, 11, 24, 7, 30, tzinfo=UTC), PARIS)
    assert not is_on_shift((shift,), datetime(2026, 11, 24, 6, 30, tzinfo=UTC), PARIS)
    assert not is_on_shift((shift,), datetime(2026, 11, 28, 9, 0, tzinfo=UTC), PARIS)


def test_shift_ending_when_it_starts_lasts_24_hours() -> None:
    shift = parse_shift("daily 00:00-00:00")
    assert is_on_shift((shift,), datetime(2026, 11, 24, 0, 0, tzinfo=PARIS), PARIS)
    assert is_on_shift((shift,), datetime(2026, 11, 24, 23, 59, tzinfo=PARIS), PARIS)
    monday = parse_shift("mon 08:00-08:00")
    assert is_on_shift((monday,), datetime(2026, 11, 24, 7, 59, tzinfo=PARIS), PARIS)
    assert not is_on_shift((monday,), datetime(2026, 11, 24, 8, 0, tzinfo=PARIS), PARIS)


def test_night_shift_belongs_to_the_day_it_starts() -> None:
    shift = parse_shift("fri 23:00-07:00")
    friday_night = datetime(2026, 11, 27, 23, 30, tzinfo=PARIS)
    saturday_morning = datetime(2026, 11, 28, 6, 59, tzinfo=PARIS)
    saturday_night = datetime(2026, 11, 28, 23, 30, tzinfo=PARIS)
    thursday_early = datetime(2026, 11, 26, 2, 0, tzinfo=PARIS)
    assert is_on_shift((shift,), friday_night, PARIS)
    assert is_on_shift((shift,), saturday_morning, PARIS)
    assert not is_on_shift((shift,), saturday_night, PARIS)
    assert not is_on_shift((shift,), thursday_early, PARIS)


def test_example_roster_covers_every_hour_of_the_week() -> None:
    from pathlib import Path

    from queues.config import load_routing_config

    config = load_routing_config(Path(__file__).resolve().parents[2] / "config")
    monday = datetime(2026, 11, 23, 0, 0, tzinfo=PARIS)
    uncovered = []
    for hour in range(7 * 24):
        at = monday.replace(day=23 + hour // 24, hour=hour % 24, minute=30)
        if not any(is_on_shift(h.shifts, at, PARIS) for h in config.hotliners.values()):
            uncovered.append(at.isoformat())
    assert uncovered == []
