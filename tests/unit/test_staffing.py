"""Coverage: hotliners needed beside hotliners on shift, checked by hand.

Paris changes clocks on Sunday 29 March 2026 (02:00 CET -> 03:00 CEST, at
01:00 UTC) and Sunday 25 October 2026 (03:00 CEST -> 02:00 CET, at 01:00
UTC). Needs are small enough to work out with M/M/1 and M/M/2 (below) or
come from the published worked example (`test_erlang_tables.py`).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from queues.config import QueueConfig, QueueId
from queues.erlang import agents_for_service_level_erlang_a
from queues.staffing import (
    Coverage,
    CoverageStatus,
    Forecast,
    as_csv,
    as_table,
    coverage,
    half_hours,
    hotliners_needed,
    lowest_level,
    share_on_shift,
)

PARIS = ZoneInfo("Europe/Paris")
SUNDAY = 6
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)


def queue(qid: str, skill: str, **values: Any) -> QueueConfig:
    return QueueConfig(
        id=QueueId(qid),
        skill=skill,
        names={"en-US": qid},
        service_level_seconds=values.pop("service_level_seconds", 20),
        service_level_target=values.pop("service_level_target", 0.8),
        **values,
    )


PRINTER = queue("printer", "printer", default_handle_seconds=300)
SOFTWARE = queue("software", "software")
# Two queues of one skill, as network and network_l2 in queues.yaml.
NETWORK = queue(
    "network",
    "network",
    min_level=2,
    overflow_after_seconds=90,
    overflow_min_level=1,
)
NETWORK_L2 = queue("network_l2", "network", min_level=4)
QUEUES = (PRINTER, SOFTWARE, NETWORK, NETWORK_L2)

# M/M/1 and M/M/2 by hand, 80 % within 20 s:
# 3 calls a half hour of 300 s: A = 3 x 300 / 1800 = 0.5 Erlang.
#   N = 1: C = rho = 0.5, SL = 1 - 0.5 e^(-(1 - 0.5) 20 / 300)
#          = 1 - 0.5 x 0.96722 = 0.516 < 0.8
#   N = 2: rho = 0.25, C = 2 rho^2 / (1 + rho) = 0.125 / 1.25 = 0.1,
#          SL = 1 - 0.1 e^(-(2 - 0.5) 20 / 300) = 1 - 0.1 x 0.90484 = 0.910
#   -> 2 hotliners.
# 1 call a half hour, no handle time measured: the queue's 300 s, A = 1/6.
#   N = 1: C = 1/6, SL = 1 - (1/6) e^(-(5/6) 20 / 300) = 1 - 0.16667 x 0.94596
#          = 0.842 >= 0.8 -> 1 hotliner.
# 100 calls a half hour of 180 s: 10 Erlangs -> 14 (the published example).
DEMAND = {
    ("printer", SUNDAY, 4): Forecast(3.0, 300.0),  # 02:00-02:30: 2 needed
    ("printer", SUNDAY, 16): Forecast(1.0, None),  # 08:00-08:30: 1 needed
    ("software", SUNDAY, 18): Forecast(100.0, 180.0),  # 09:00-09:30: 14 needed
    ("network", SUNDAY, 20): Forecast(3.0, 300.0),  # 10:00: 2 needed
    ("network_l2", SUNDAY, 20): Forecast(3.0, 300.0),  # 10:00: 2 more
}
SKILLS = {
    "ana": {"printer": 1, "software": 3},  # counts for both skills
    "ben": {"printer": 2},
    "dan": {"network": 1},  # network overflows to level 1 after 90 s
    "eve": {"email": 5},  # no skill of these queues
}


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# 25 October: ana from local midnight (CEST, 22:00 UTC the day before) to
# 04:00 CET (03:00 UTC), five real hours; ben 02:15 CET (01:15 UTC) to 08:15
# CET (07:15 UTC); dan 10:00 to 10:30 CET (09:00-09:30 UTC); eve all day.
AUTUMN_DUTY = {
    "ana": [(utc(10, 24, 22), utc(10, 25, 3))],
    "ben": [(utc(10, 25, 1, 15), utc(10, 25, 7, 15))],
    "dan": [(utc(10, 25, 9), utc(10, 25, 9, 30))],
    "eve": [(utc(10, 24, 23), utc(10, 25, 23))],
}


def autumn_rows() -> list[Coverage]:
    return coverage(DEMAND, QUEUES, AUTUMN_DUTY, SKILLS, AUTUMN, AUTUMN, tz=PARIS)


def row_at(rows: list[Coverage], skill: str, start_utc: datetime) -> Coverage:
    (row,) = (r for r in rows if r.skill == skill and r.start_utc == start_utc)
    return row


def test_a_23_hour_day_has_46_half_hours_and_a_25_hour_day_50() -> None:
    spring, autumn = (
        half_hours(SPRING, SPRING, PARIS),
        half_hours(AUTUMN, AUTUMN, PARIS),
    )

    assert len(spring) == 46
    assert [s.strftime("%H:%M") for s in spring[3:5]] == ["01:30", "03:00"]
    assert len(autumn) == 50
    # 02:00 twice: summer time, then winter time
    assert [s.isoformat() for s in autumn[4:7]] == [
        "2026-10-25T02:00:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:00:00+01:00",
    ]
    assert len(half_hours(date(2026, 10, 24), AUTUMN, PARIS)) == 48 + 50


def test_each_skill_has_a_row_for_each_real_half_hour() -> None:
    spring = coverage(DEMAND, QUEUES, {}, SKILLS, SPRING, SPRING, tz=PARIS)
    autumn = autumn_rows()

    # three skills: network, printer, software
    assert len(spring) == 46 * 3
    assert len(autumn) == 50 * 3
    assert [r.skill for r in autumn[:3]] == ["network", "printer", "software"]
    assert autumn[0].queues == ("network", "network_l2")
    # the spring night has no 02:00: its 2 printer hotliners are never asked
    assert all(r.start.hour != 2 for r in spring)
    assert max(r.needed for r in spring if r.skill == "printer") == 1


def test_the_repeated_autumn_hour_takes_its_slot_demand_twice() -> None:
    rows = autumn_rows()

    # 02:00 CEST (00:00 UTC): 2 needed; ana on shift, ben not yet: gap 1
    summer = row_at(rows, "printer", utc(10, 25, 0))
    assert (summer.calls, summer.needed, summer.on_shift) == (3.0, 2, 1.0)
    assert summer.gap == 1.0
    assert summer.status is CoverageStatus.UNDERSTAFFED
    # 02:00 CET (01:00 UTC): 2 needed; ana, and ben from 01:15: 1 + 0.5
    winter = row_at(rows, "printer", utc(10, 25, 1))
    assert (winter.needed, winter.on_shift, winter.gap) == (2, 1.5, 0.5)
    assert winter.status is CoverageStatus.UNDERSTAFFED
    # 02:30 CET (01:30 UTC): no calls, ana and ben: 2 > 0 + slack 1
    after = row_at(rows, "printer", utc(10, 25, 1, 30))
    assert (after.needed, after.on_shift) == (0, 2.0)
    assert after.status is CoverageStatus.OVERSTAFFED


def test_shares_of_a_half_hour_and_the_default_handle_time() -> None:
    rows = autumn_rows()

    # 08:00 CET (07:00 UTC): 1 call, 300 s by default: 1 needed; ben until
    # 07:15 UTC: 15 of 30 minutes, 0.5 on shift, gap 0.5
    morning = row_at(rows, "printer", utc(10, 25, 7))
    assert (morning.needed, morning.on_shift, morning.gap) == (1, 0.5, 0.5)
    assert morning.status is CoverageStatus.UNDERSTAFFED
    # 08:30 CET: no calls, nobody: no gap
    late = row_at(rows, "printer", utc(10, 25, 7, 30))
    assert (late.needed, late.on_shift, late.gap) == (0, 0.0, 0.0)
    assert late.status is CoverageStatus.OK


def test_a_hotliner_with_several_skills_counts_for_each() -> None:
    rows = autumn_rows()

    # 00:00 CEST (22:00 UTC on the 24th): ana is both printer and software
    assert row_at(rows, "printer", utc(10, 24, 22)).on_shift == 1.0
    assert row_at(rows, "software", utc(10, 24, 22)).on_shift == 1.0
    # eve has no skill of these queues: counted nowhere
    assert row_at(rows, "software", utc(10, 25, 8)).on_shift == 0.0


def test_the_published_example_needs_fourteen_and_nobody_is_there() -> None:
    # 09:00 CET (08:00 UTC): 100 calls of 180 s, 80/20: 14 ([CRAN], [PyPI])
    row = row_at(autumn_rows(), "software", utc(10, 25, 8))

    assert (row.calls, row.needed, row.on_shift, row.gap) == (100.0, 14, 0.0, 14.0)
    assert row.status is CoverageStatus.UNDERSTAFFED


def test_the_queues_of_one_skill_add_up() -> None:
    # 10:00 CET (09:00 UTC): network 2 + network_l2 2; dan (level 1, the
    # level network overflows to) on shift the whole half hour
    row = row_at(autumn_rows(), "network", utc(10, 25, 9))

    assert (row.calls, row.needed, row.on_shift, row.gap) == (6.0, 4, 1.0, 3.0)
    assert lowest_level([NETWORK, NETWORK_L2]) == 1
    assert lowest_level([NETWORK_L2]) == 4


def test_patience_switches_a_queue_to_erlang_a() -> None:
    demand = Forecast(3.0, 300.0)

    with_patience = hotliners_needed(PRINTER, demand, patience=60.0)

    # A = 0.5 Erlang, 300 s calls, callers patient 60 s on average
    assert with_patience == agents_for_service_level_erlang_a(
        0.5, 300.0, 60.0, 20.0, 0.8
    )
    assert hotliners_needed(PRINTER, demand) == 2  # Erlang C, by hand above
    assert hotliners_needed(PRINTER, None) == 0
    assert hotliners_needed(PRINTER, Forecast(0.0, 300.0)) == 0


def test_overlapping_duty_counts_once() -> None:
    duty = [(utc(3, 1, 8), utc(3, 1, 9)), (utc(3, 1, 8, 15), utc(3, 1, 8, 45))]
    rows = coverage(
        {},
        [PRINTER],
        {"ben": duty},
        SKILLS,
        date(2026, 3, 1),
        date(2026, 3, 1),
        tz=PARIS,
    )

    # 09:00 CET = 08:00 UTC: ben once, not 1.5
    assert row_at(rows, "printer", utc(3, 1, 8)).on_shift == 1.0
    assert share_on_shift([(utc(3, 1, 8, 20), utc(3, 1, 9))], utc(3, 1, 8)) == (
        pytest.approx(1 / 3)
    )


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"on_duty": {"ben": [(datetime(2026, 3, 1, 8), utc(3, 1, 9))]}}, "aware"),
        ({"on_duty": {"ben": [(utc(3, 1, 9), utc(3, 1, 8))]}}, "ends before"),
        (
            {"queues": [queue("printer", "printer", service_level_target=1.0)]},
            "printer",
        ),
        ({"slack": -1.0}, "slack"),
        ({"last_day": date(2026, 2, 28)}, "last_day"),
    ],
)
def test_coverage_refuses_what_it_cannot_staff(
    arguments: dict[str, Any], reason: str
) -> None:
    given: dict[str, Any] = {
        "demand": {},
        "queues": [PRINTER],
        "on_duty": {},
        "skills": SKILLS,
        "first_day": date(2026, 3, 1),
        "last_day": date(2026, 3, 1),
        "tz": PARIS,
    }
    with pytest.raises(ValueError, match=reason):
        coverage(**(given | arguments))


def two_rows() -> list[Coverage]:
    rows = autumn_rows()
    return [
        row_at(rows, "printer", utc(10, 25, 1)),
        row_at(rows, "software", utc(10, 25, 8)),
    ]


def test_the_table_is_fixed_width_text() -> None:
    # words left-aligned, numbers right-aligned, two spaces between columns
    assert as_table(two_rows()).splitlines() == [
        "start                   skill      calls  needed  on_shift     gap  status",
        "2026-10-25T02:00+01:00  printer     3.00       2      1.50   +0.50"
        "  understaffed",
        "2026-10-25T09:00+01:00  software  100.00      14      0.00  +14.00"
        "  understaffed",
    ]


def test_the_csv_has_a_heading_and_one_line_a_row() -> None:
    lines = list(csv.reader(io.StringIO(as_csv(two_rows()))))

    assert lines == [
        ["start", "skill", "calls", "needed", "on_shift", "gap", "status"],
        ["2026-10-25T02:00+01:00", "printer", "3.00", "2", "1.50", "+0.50"]
        + ["understaffed"],
        ["2026-10-25T09:00+01:00", "software", "100.00", "14", "0.00", "+14.00"]
        + ["understaffed"],
    ]
