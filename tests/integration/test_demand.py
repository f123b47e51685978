"""Demand per queue and half hour of the week against figures worked out by
hand from a scripted call log, across both DST changes of Europe/Paris.

Spring 2026: Sunday 29 March, 02:00 CET -> 03:00 CEST (01:00 UTC): that
Sunday has no 02:00-02:30 (slot 4) nor 02:30-03:00 (slot 5).
Autumn 2026: Sunday 25 October, 03:00 CEST -> 02:00 CET (01:00 UTC): that
Sunday has slots 4 and 5 twice. Paris is UTC+1 in winter, UTC+2 in summer.
Every expected figure below is computed by hand in the comments.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from calllog.buckets import half_hour, local_day
from calllog.db import create_db_engine, upgrade
from calllog.demand import (
    SlotDemand,
    by_slot,
    slot_occurrences,
    weekly_demand,
    window,
)
from calllog.models import Call
from queues.config import QueueConfig, QueueId
from queues.staffing import coverage

MONDAY, SUNDAY = 0, 6
PARIS = ZoneInfo("Europe/Paris")


def utc(month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def call(sid: str, at: datetime, day: str, slot: int, **values: Any) -> Call:
    """A call as the log holds it: arrived `at` (UTC), in local `day` and
    half hour `slot` (written by hand, checked against `calllog.buckets`)."""
    base: dict[str, Any] = {
        "call_sid": sid,
        "status": "completed",
        "offers": 1,
        "started_at": at,
        "queued_at": at,
        "local_day": day,
        "local_halfhour": slot,
    }
    return Call(**(base | values))


def answered(sid: str, at: datetime, day: str, slot: int, **values: Any) -> Call:
    return call(sid, at, day, slot, answered_at=at, **values)


def rows() -> list[Call]:
    return [
        # --- spring window: 2 weeks before Monday 6 April = 23 March .. 5 April
        # printer, Monday 08:00-08:30 (slot 16), two Mondays:
        # 23 March 08:10 CET = 07:10 UTC: handled, 240 talk (30 of it hold) + 60
        answered(
            "SP1",
            utc(3, 23, 7, 10),
            "2026-03-23",
            16,
            queue="printer",
            handle_talk_seconds=240,
            hold_seconds=30,
            wrapup_seconds=60,
        ),
        # 30 March 08:20 CEST = 06:20 UTC: handled, 400 talk + 20 wrap-up
        answered(
            "SP2",
            utc(3, 30, 6, 20),
            "2026-03-30",
            16,
            queue="printer",
            handle_talk_seconds=400,
            wrapup_seconds=20,
        ),
        # 30 March 08:25 CEST: hung up in the queue: offered, not handled
        call(
            "SP3",
            utc(3, 30, 6, 25),
            "2026-03-30",
            16,
            queue="printer",
            status="abandoned",
            wait_seconds=40,
        ),
        # 30 March 08:28 CEST: answered, still talking: offered, not handled
        answered(
            "SP4",
            utc(3, 30, 6, 28),
            "2026-03-30",
            16,
            queue="printer",
            status="talking",
        ),
        # printer, Sunday 5 April 02:10 CEST = 00:10 UTC (slot 4): 100 + 20
        answered(
            "SP5",
            utc(4, 5, 0, 10),
            "2026-04-05",
            4,
            queue="printer",
            handle_talk_seconds=100,
            wrapup_seconds=20,
        ),
        # printer, Sunday 29 March 03:05 CEST = 01:05 UTC (slot 6), an older
        # row with talk_seconds only and no wrap-up: 200
        answered(
            "SP6",
            utc(3, 29, 1, 5),
            "2026-03-29",
            6,
            queue="printer",
            talk_seconds=200,
        ),
        # printer, Sunday 29 March 01:50 CET = 00:50 UTC (slot 3): 90 + 30
        answered(
            "SP7",
            utc(3, 29, 0, 50),
            "2026-03-29",
            3,
            queue="printer",
            handle_talk_seconds=90,
            wrapup_seconds=30,
        ),
        # network, Monday 23 March 08:15 CET = 07:15 UTC (slot 16): 500 + 100
        answered(
            "SP8",
            utc(3, 23, 7, 15),
            "2026-03-23",
            16,
            queue="network",
            handle_talk_seconds=500,
            wrapup_seconds=100,
        ),
        # network, Monday 30 March 08:05 CEST = 06:05 UTC: a message left
        call(
            "SP9",
            utc(3, 30, 6, 5),
            "2026-03-30",
            16,
            queue="network",
            status="voicemail",
        ),
        # --- outside the spring window, or never in a queue
        # Sunday 22 March 09:00 CET = 08:00 UTC: the day before the window
        answered(
            "SPx1",
            utc(3, 22, 8, 0),
            "2026-03-22",
            18,
            queue="printer",
            handle_talk_seconds=999,
        ),
        # Monday 6 April 08:10 CEST = 06:10 UTC: the day `before` itself
        answered(
            "SPx2",
            utc(4, 6, 6, 10),
            "2026-04-06",
            16,
            queue="printer",
            handle_talk_seconds=999,
        ),
        # Monday 23 March 08:12 CET: fixed by the voice menu, no queue
        Call(
            call_sid="SPx3",
            status="self_served",
            started_at=utc(3, 23, 7, 12),
            local_day="2026-03-23",
            local_halfhour=16,
        ),
        # --- autumn window: 2 weeks before Monday 2 November = 19 Oct .. 1 Nov
        # printer, Sunday 25 October 02:10 CEST = 00:10 UTC (slot 4): 80 + 20
        answered(
            "AU1",
            utc(10, 25, 0, 10),
            "2026-10-25",
            4,
            queue="printer",
            handle_talk_seconds=80,
            wrapup_seconds=20,
        ),
        # the same wall clock an hour later, 02:10 CET = 01:10 UTC: 200 + 0
        answered(
            "AU2",
            utc(10, 25, 1, 10),
            "2026-10-25",
            4,
            queue="printer",
            handle_talk_seconds=200,
            wrapup_seconds=0,
        ),
        # Sunday 1 November 02:20 CET = 01:20 UTC (slot 4): 250 + 50
        answered(
            "AU3",
            utc(11, 1, 1, 20),
            "2026-11-01",
            4,
            queue="printer",
            handle_talk_seconds=250,
            wrapup_seconds=50,
        ),
        # Sunday 25 October 02:40 CET = 01:40 UTC (slot 5): hung up
        call(
            "AU4",
            utc(10, 25, 1, 40),
            "2026-10-25",
            5,
            queue="printer",
            status="abandoned",
            wait_seconds=30,
        ),
    ]


@pytest.fixture
def engine(fresh_database_url: str) -> Iterator[Engine]:
    upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    script = rows()
    for row in script:  # the hand-written local slots are the log's
        assert row.started_at is not None
        assert (row.local_day, row.local_halfhour) == (
            local_day(row.started_at),
            half_hour(row.started_at),
        ), row.call_sid
    with Session(engine) as session:
        session.add_all(script)
        session.commit()
    yield engine
    engine.dispose()


def demand_of(engine: Engine, before: date, weeks: int) -> dict[Any, SlotDemand]:
    return by_slot(weekly_demand(engine, before, weeks))


def test_two_weeks_across_the_spring_change(engine: Engine) -> None:
    demand = demand_of(engine, date(2026, 4, 6), 2)

    monday = demand[("printer", MONDAY, 16)]
    # SP1 SP2 SP3 SP4 over the Mondays 23 and 30 March: 4 / 2 = 2.0 a half hour
    assert (monday.offered, monday.occurrences) == (4, 2)
    assert monday.calls_per_half_hour == 2.0
    # handled: SP1 (240 + 60) and SP2 (400 + 20): (300 + 420) / 2 = 360 s
    assert monday.handled == 2
    assert monday.aht_seconds == 360.0

    # Sunday 02:00-02:30 happened once (5 April; 29 March skipped it): 1 / 1
    two_am = demand[("printer", SUNDAY, 4)]
    assert (two_am.offered, two_am.occurrences) == (1, 1)
    assert two_am.calls_per_half_hour == 1.0
    assert two_am.aht_seconds == 120.0  # SP5: 100 + 20
    assert demand[("printer", SUNDAY, 5)].occurrences == 1  # 02:30, once too

    # Sunday 03:00-03:30 happened on both Sundays: SP6 alone, 1 / 2
    three_am = demand[("printer", SUNDAY, 6)]
    assert (three_am.offered, three_am.occurrences) == (1, 2)
    assert three_am.calls_per_half_hour == 0.5
    assert three_am.aht_seconds == 200.0  # talk_seconds 200, no wrap-up

    # Sunday 01:30-02:00, just before the jump: SP7, 1 / 2, 90 + 30
    before_jump = demand[("printer", SUNDAY, 3)]
    assert (before_jump.calls_per_half_hour, before_jump.aht_seconds) == (0.5, 120.0)

    # network, Monday 08:00: SP8 handled (500 + 100), SP9 a voicemail: 2 / 2
    network = demand[("network", MONDAY, 16)]
    assert (network.offered, network.handled) == (2, 1)
    assert (network.calls_per_half_hour, network.aht_seconds) == (1.0, 600.0)


def test_calls_outside_the_window_or_any_queue_do_not_count(engine: Engine) -> None:
    demand = demand_of(engine, date(2026, 4, 6), 2)

    # SPx1 (22 March, Sunday 09:00): the day before the window
    assert demand[("printer", SUNDAY, 18)].offered == 0
    # SPx2 (6 April) is the day `before`, SPx3 never queued: still SP1 .. SP4
    assert demand[("printer", MONDAY, 16)].offered == 4
    assert {queue for queue, _, _ in demand} == {"printer", "network"}


def test_two_weeks_across_the_autumn_change(engine: Engine) -> None:
    demand = demand_of(engine, date(2026, 11, 2), 2)

    # Sunday 02:00-02:30 happened three times: twice on 25 October (CEST then
    # CET), once on 1 November; calls AU1 AU2 AU3: 3 / 3 = 1.0 a half hour
    two_am = demand[("printer", SUNDAY, 4)]
    assert (two_am.offered, two_am.occurrences) == (3, 3)
    assert two_am.calls_per_half_hour == 1.0
    assert two_am.aht_seconds == 200.0  # (80 + 20 + 200 + 0 + 250 + 50) / 3

    # Sunday 02:30-03:00, three times too: AU4 hung up, nothing handled
    half_past = demand[("printer", SUNDAY, 5)]
    assert (half_past.offered, half_past.occurrences) == (1, 3)
    assert half_past.calls_per_half_hour == pytest.approx(1 / 3)
    assert half_past.aht_seconds is None

    # Sunday 03:00-03:30 happened once a Sunday: 2
    assert demand[("printer", SUNDAY, 6)].occurrences == 2
    # the spring calls are outside this window
    assert demand[("printer", MONDAY, 16)].offered == 0


def test_one_week_ending_on_the_autumn_sunday(engine: Engine) -> None:
    demand = demand_of(engine, date(2026, 10, 26), 1)

    # 19 .. 25 October: slot 4 of Sunday happened twice (AU1, AU2): 2 / 2
    two_am = demand[("printer", SUNDAY, 4)]
    assert (two_am.offered, two_am.occurrences) == (2, 2)
    assert (two_am.calls_per_half_hour, two_am.aht_seconds) == (1.0, 150.0)


def test_every_half_hour_of_the_week_is_listed_for_the_queues_asked(
    engine: Engine,
) -> None:
    listed = weekly_demand(
        engine, date(2026, 4, 6), 2, queues=["printer", "network", "email"]
    )

    assert len(listed) == 3 * 7 * 48  # 336 slots a queue, calls or not
    assert [r.queue for r in listed[::336]] == ["email", "network", "printer"]
    assert listed[0] == SlotDemand("email", 0, 0, 0, 2, 0, 0.0)
    assert listed[0].calls_per_half_hour == 0.0
    assert listed[0].aht_seconds is None
    assert listed == sorted(listed, key=lambda r: (r.queue, r.weekday, r.half_hour))


def test_the_demand_feeds_the_staffing_coverage(engine: Engine) -> None:
    printer = QueueConfig(
        id=QueueId("printer"),
        skill="printer",
        names={"en-US": "printer"},
        service_level_seconds=20,
        service_level_target=0.8,
    )
    demand = demand_of(engine, date(2026, 4, 6), 2)

    # Sunday 5 April, an ordinary day: 48 half hours. 02:00 has 1 call a half
    # hour of 120 s (SP5): A = 120 / 1800 = 1/15; one hotliner gives
    # SL = 1 - (1/15) e^(-(14/15) 20 / 120) = 1 - 0.0667 x 0.8559 = 0.943
    rows = coverage(
        demand, [printer], {}, {}, date(2026, 4, 5), date(2026, 4, 5), tz=PARIS
    )

    assert len(rows) == 48
    two_am = rows[4]
    assert two_am.start.isoformat() == "2026-04-05T02:00:00+02:00"
    assert (two_am.calls, two_am.needed, two_am.on_shift) == (1.0, 1, 0.0)
    # 03:00: SP6, half a call a half hour of 200 s: A = 0.5 x 200 / 1800 = 1/18,
    # SL = 1 - (1/18) e^(-(17/18) 20 / 200) = 1 - 0.0556 x 0.9099 = 0.949: one;
    # 08:00: no call, nobody
    assert (rows[6].needed, rows[16].needed) == (1, 0)


def test_a_dst_day_has_46_or_50_half_hours() -> None:
    spring = slot_occurrences(date(2026, 3, 29), date(2026, 3, 29))
    autumn = slot_occurrences(date(2026, 10, 25), date(2026, 10, 25))
    ordinary = slot_occurrences(date(2026, 3, 22), date(2026, 3, 22))

    assert sum(spring.values()) == 46  # 23 hours
    assert (spring[(SUNDAY, 4)], spring[(SUNDAY, 5)]) == (0, 0)
    assert sum(autumn.values()) == 50  # 25 hours
    assert (autumn[(SUNDAY, 4)], autumn[(SUNDAY, 5)]) == (2, 2)
    assert sum(ordinary.values()) == 48
    assert set(ordinary.values()) == {1}


def test_the_window_is_whole_weeks_before_the_day() -> None:
    assert window(date(2026, 4, 6), 2) == (date(2026, 3, 23), date(2026, 4, 5))
    with pytest.raises(ValueError, match="weeks"):
        window(date(2026, 4, 6), 0)
