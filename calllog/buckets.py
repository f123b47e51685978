"""Local days and half hours of the hotline's timezone, for reports.

Figures are read by local day and half hour (a supervisor in Paris means
08:00-08:30 Paris time, summer or winter). Each call row keeps the local day
and half hour of its arrival, computed once when it is written, so a report
groups by plain columns on SQLite and PostgreSQL alike (neither needs the
timezone database at query time), and a DST change is right by construction:
the half hour is that of the local wall clock (the autumn night's 02:00-03:00
happens twice and counts in the same two slots; the spring night has none).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: The hotline's timezone unless configured (`hotline.yaml` `timezone`).
DEFAULT_TZ = ZoneInfo("Europe/Paris")


def local_day(at: datetime, tz: ZoneInfo = DEFAULT_TZ) -> str:
    """'YYYY-MM-DD' of `at` (aware) in `tz`."""
    return at.astimezone(tz).date().isoformat()


def half_hour(at: datetime, tz: ZoneInfo = DEFAULT_TZ) -> int:
    """0 (00:00-00:30) to 47 (23:30-24:00), local wall clock."""
    local = at.astimezone(tz)
    return local.hour * 2 + local.minute // 30


def half_hour_label(slot: int) -> str:
    """'08:30' for slot 17."""
    return f"{slot // 2:02d}:{30 * (slot % 2):02d}"


def iso_week(day: str) -> str:
    """'2026-W49' of a local day."""
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def day_bounds(
    first_day: str, last_day: str, tz: ZoneInfo = DEFAULT_TZ
) -> tuple[datetime, datetime]:
    """[start, end) in UTC of local days `first_day` to `last_day` included
    (a DST day is 23 or 25 hours long: midnights are taken in `tz`)."""
    start = datetime.combine(date.fromisoformat(first_day), time(), tz)
    end = datetime.combine(date.fromisoformat(last_day) + timedelta(days=1), time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)
