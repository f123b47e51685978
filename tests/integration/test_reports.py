"""The report's figures against numbers worked out by hand from the rows.

Ten calls of one local day (and one of another, outside the period) are
written as the call log holds them; every expected figure below is computed
by hand in the comments, from the rows, never by the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from calllog.db import create_db_engine, upgrade
from calllog.models import Call
from calllog.reports import ReportError, report, totals_of

THRESHOLDS = {"printer": 20, "network": 30}
T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
T31 = datetime(2031, 1, 6, 8, 0, tzinfo=UTC)  # a day of its own in the shared log


def call(sid: str, **values: Any) -> Call:
    base: dict[str, Any] = {
        "call_sid": sid,
        "status": "completed",
        "offers": 1,
        "started_at": T0,
        "local_day": "2026-12-01",
        "local_halfhour": 16,  # 08:00-08:30 Paris
    }
    return Call(**(base | values))


def rows() -> list[Call]:
    """Fresh rows for each test (an instance belongs to one session)."""
    return [
        # answered in 10 s (<= 20: in the service level), resolved; handle 300 + 60
        call(
            "CAr1",
            queue="printer",
            ivr_choice="printer",
            queued_at=T0,
            answered_at=T0,
            wait_seconds=10,
            handle_talk_seconds=300,
            hold_seconds=20,
            wrapup_seconds=60,
            outcome="resolved",
            agent_id="nina",
            kb_fault="printer-offline",
            selfhelp_tried="printer-offline:3",  # three steps, none fixed it
        ),
        # answered in 25 s (> 20: out of it), escalated and transferred once
        call(
            "CAr2",
            queue="printer",
            ivr_choice="printer",
            queued_at=T0,
            answered_at=T0,
            wait_seconds=25,
            handle_talk_seconds=200,
            wrapup_seconds=40,
            outcome="escalated",
            transfers=1,
            agent_id="omar",
            local_halfhour=17,
            declined_offers=1,
            missed_offers=2,
        ),
        # a short abandon (3 s) and a real one (40 s)
        call(
            "CAr3",
            queue="printer",
            queued_at=T0,
            wait_seconds=3,
            status="abandoned",
            outcome="abandoned",
        ),
        call(
            "CAr4",
            queue="printer",
            queued_at=T0,
            wait_seconds=40,
            status="abandoned",
            outcome="abandoned",
        ),
        # network: answered in 30 s (<= 30), remote take-over, a call back reached
        call(
            "CAr5",
            queue="network",
            ivr_choice="network",
            queued_at=T0,
            answered_at=T0,
            wait_seconds=30,
            handle_talk_seconds=600,
            wrapup_seconds=0,
            outcome="remote_takeover",
            callback_number="+33600000005",
            agent_id="nina",
        ),
        # a call back never reached (100 s in the queue)
        call(
            "CAr6",
            queue="network",
            queued_at=T0,
            wait_seconds=100,
            status="abandoned",
            outcome="callback_failed",
            callback_number="+33600000006",
        ),
        call(
            "CAr7",
            status="self_served",
            outcome="self_service_resolved",
            offers=0,
            kb_fault="printer-offline",
            selfhelp_tried="printer-offline:2",  # the second step fixed it
        ),
        call(  # hung up while hearing the first step of another fault
            "CAr8",
            status="abandoned",
            outcome="abandoned_in_ivr",
            offers=0,
            kb_fault="wifi-down",
            selfhelp_tried="wifi-down:0",
        ),
        call(  # the incident message was the answer: self-served, no self-help
            "CAr11", status="self_served", outcome="incident_confirmed", offers=0
        ),
        # a message left after 200 s in the printer queue: offered, not answered
        call(
            "CAr9",
            queue="printer",
            queued_at=T0,
            wait_seconds=200,
            status="voicemail",
            outcome="voicemail",
        ),
        # another day, outside the period
        call(
            "CAr10",
            queue="printer",
            queued_at=T0,
            answered_at=T0,
            wait_seconds=1,
            local_day="2026-12-03",
            previous_call_sid="CAr5",  # "same problem as last time": a repeat
        ),
    ]


@pytest.fixture
def engine(fresh_database_url: str) -> Any:
    upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    with Session(engine) as session:
        session.add_all(rows())
        session.commit()
    yield engine
    engine.dispose()


def test_the_whole_day_figure_by_figure(engine: Any) -> None:
    (row,) = report(engine, "2026-12-01", "2026-12-02", "all", THRESHOLDS)
    t = row.totals
    assert (t.calls, t.self_served, t.abandoned_in_ivr, t.voicemail) == (10, 2, 1, 1)
    assert t.offered == 7  # r1 r2 r3 r4 r5 r6 r9
    assert (t.answered, t.answered_in_sl) == (3, 2)  # r1 r2 r5; r1 r5 in time
    assert (t.abandoned, t.short_abandoned) == (3, 1)  # r3 r4 r6; r3 short
    assert row.service_level == pytest.approx(2 / 6, abs=1e-4)  # 2 / (7 - 1)
    assert row.abandon_rate == pytest.approx(2 / 6, abs=1e-4)  # (3 - 1) / (7 - 1)
    assert row.asa_seconds == pytest.approx((10 + 25 + 30) / 3, abs=0.05)
    assert row.avg_abandon_seconds == 70.0  # (40 + 100) / 2, the short one out
    assert t.longest_wait == 200  # r9
    assert t.handled == 3
    assert row.aht_seconds == 400.0  # (300 + 200 + 600 + 60 + 40 + 0) / 3
    assert t.hold == 20
    assert row.resolution_rate == pytest.approx(2 / 3, abs=1e-4)  # r1 r5
    assert row.escalation_rate == pytest.approx(1 / 3, abs=1e-4)  # r2
    assert row.transfer_rate == pytest.approx(1 / 3, abs=1e-4)  # r2 of 3 answered
    assert (t.callbacks, t.callbacks_reached) == (2, 1)  # r5 r6; r5
    assert row.callback_success_rate == 0.5
    assert row.self_service_rate == pytest.approx(2 / 10, abs=1e-4)  # r7 r11
    # self-help reached by r1 r7 r8, fixed r7's problem only
    assert (t.selfhelp, t.deflected) == (3, 1)
    assert row.deflection_rate == pytest.approx(1 / 3, abs=1e-4)
    assert (t.declined_offers, t.missed_offers) == (1, 2)
    # first contacts: r1 r2 r5 (none names an earlier call); resolved with no
    # repeat: r1 only (r2 escalated, r5 repeated two days later by r10)
    assert (t.first_contacts, t.resolved_first) == (3, 1)
    assert row.fcr_rate == pytest.approx(1 / 3, abs=1e-4)


def test_by_queue_each_against_its_own_threshold(engine: Any) -> None:
    rows = {
        r.key: r
        for r in report(engine, "2026-12-01", "2026-12-01", "queue", THRESHOLDS)
    }
    assert set(rows) == {"printer", "network", "—"}  # "—": never reached a queue
    printer, network = rows["printer"], rows["network"]
    # printer: offered r1 r2 r3 r4 r9, in time r1 only, r3 short: 1 / (5 - 1)
    assert (printer.totals.offered, printer.service_level) == (5, 0.25)
    # network: offered r5 r6, in time r5 (30 <= 30): 1 / 2
    assert (network.totals.offered, network.service_level) == (2, 0.5)
    assert totals_of(list(rows.values())).totals.calls == 10


def test_deflection_per_known_fault(engine: Any) -> None:
    faults = {
        r.key: r
        for r in report(engine, "2026-12-01", "2026-12-01", "fault", THRESHOLDS)
    }
    printer, wifi = faults["printer-offline"], faults["wifi-down"]
    # printer-offline: r1 (steps failed, then a hotliner) and r7 (fixed): 1 / 2
    assert (printer.totals.selfhelp, printer.totals.deflected) == (2, 1)
    assert printer.deflection_rate == 0.5
    # wifi-down: r8 hung up during its steps: reached them, not deflected
    assert (wifi.totals.selfhelp, wifi.deflection_rate) == (1, 0.0)
    assert faults["—"].deflection_rate is None  # no fault, no self-help


def test_by_half_hour_day_and_week(engine: Any) -> None:
    slots = report(engine, "2026-12-01", "2026-12-03", "halfhour", THRESHOLDS)
    assert [(r.key, r.totals.calls) for r in slots] == [("08:00", 10), ("08:30", 1)]
    days = report(engine, "2026-12-01", "2026-12-03", "day", THRESHOLDS)
    assert [(r.key, r.totals.calls) for r in days] == [
        ("2026-12-01", 10),
        ("2026-12-03", 1),
    ]
    (week,) = report(engine, "2026-12-01", "2026-12-03", "week", THRESHOLDS)
    assert (week.key, week.totals.calls, week.totals.longest_wait) == (
        "2026-W49",
        11,
        200,
    )
    agents = {
        r.key: r.totals.handled
        for r in report(engine, "2026-12-01", "2026-12-01", "agent", THRESHOLDS)
    }
    assert (agents["nina"], agents["omar"]) == (2, 1)


def test_an_unknown_grouping_is_refused(engine: Any) -> None:
    with pytest.raises(ReportError, match="by must be one of"):
        report(engine, "2026-12-01", "2026-12-01", "colour")


def test_the_report_api_is_for_supervisors(make_app: Any) -> None:
    from support import ROUND_THE_CLOCK, bearer_client, console_session, provision

    app = make_app(ROUND_THE_CLOCK, accounts=("nina",))
    hotline = app.extensions["hotline"]
    with Session(hotline.engine) as session:  # a day of its own in the shared log
        session.add_all(
            [
                call(
                    "CArapi1",
                    started_at=T31,
                    from_number="+33612345601",
                    queue="printer",
                    queued_at=T0,
                    answered_at=T0,
                    wait_seconds=12,
                    local_day="2031-01-06",
                ),
                call(
                    "CArapi2",
                    started_at=T31 + timedelta(minutes=5),
                    from_number="+33612345602",
                    queue="printer",
                    queued_at=T0,
                    wait_seconds=50,
                    status="abandoned",
                    local_day="2031-01-06",
                ),
            ]
        )
        session.commit()
    supervisor = bearer_client(app, provision(hotline.accounts, "sam", "supervisor"))
    answer = supervisor.get("/api/reports?from=2031-01-06&to=2031-01-06&by=queue")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    (printer,) = body["rows"]
    # 1 answered in 12 s (printer: the default 20 s threshold) of the 2
    assert (printer["key"], printer["offered"], printer["answered"]) == (
        "printer",
        2,
        1,
    )
    assert printer["service_level"] == 0.5
    assert body["total"]["calls"] == 2
    assert body["short_abandon_seconds"] == 5
    by_agent = supervisor.get("/api/reports?from=2031-01-06&to=2031-01-06&by=agent")
    assert by_agent.get_json()["agents"] == []  # nobody logged in that day
    for query in (
        "from=2031-1-6&to=2031-01-06",
        "from=2031-01-07&to=2031-01-06",
        "from=2031-01-06&to=2031-01-06&by=colour",
    ):
        refused = supervisor.get(f"/api/reports?{query}")
        assert refused.status_code == 400, query
        assert "error" in refused.get_json()
    nina, _ = console_session(app, "nina")
    assert nina.get("/api/reports?from=2031-01-06&to=2031-01-06").status_code == 403

    # The call list, newest first, filtered, paged; its CSV masks numbers
    # unless the reader is an admin.
    listed = supervisor.get("/api/calls?from=2031-01-06&to=2031-01-06").get_json()
    assert [c["call_sid"] for c in listed["calls"]] == ["CArapi2", "CArapi1"]
    assert listed["calls"][0]["number"] == "+33612345602"
    page = supervisor.get("/api/calls?from=2031-01-06&to=2031-01-06&limit=1")
    assert [c["call_sid"] for c in page.get_json()["calls"]] == ["CArapi2"]
    after = supervisor.get(
        "/api/calls?from=2031-01-06&to=2031-01-06&limit=1&before=CArapi2"
    )
    assert [c["call_sid"] for c in after.get_json()["calls"]] == ["CArapi1"]
    gone = supervisor.get("/api/calls?from=2031-01-06&to=2031-01-06&status=abandoned")
    assert [c["call_sid"] for c in gone.get_json()["calls"]] == ["CArapi2"]
    for query in ("from=x&to=2031-01-06", "from=2031-01-06&to=2031-01-06&limit=0"):
        assert supervisor.get(f"/api/calls?{query}").status_code == 400, query
    csv_text = supervisor.get("/api/calls.csv?from=2031-01-06&to=2031-01-06")
    assert csv_text.mimetype == "text/csv"
    lines = csv_text.get_data(as_text=True).splitlines()
    assert lines[0].startswith("call_sid,started_at,local_day,number,queue")
    assert len(lines) == 3
    assert "+336******02" in lines[1]
    assert "+33612345602" not in csv_text.get_data(as_text=True)
    admin = bearer_client(app, provision(hotline.accounts, "ada", "admin"))
    unmasked = admin.get("/api/calls.csv?from=2031-01-06&to=2031-01-06")
    assert "+33612345602" in unmasked.get_data(as_text=True)
    assert nina.get("/api/calls?from=2031-01-06&to=2031-01-06").status_code == 403


def test_time_in_state_and_occupancy_from_the_stream(
    redis_client: Any, fresh_database_url: str
) -> None:
    from agents.lifecycle import AgentState
    from calllog.reports import agent_time
    from calllog.writer import drain_events
    from core.keys import Keys
    from queues.routing import QueueRule
    from queues.store import RoutingStore

    base = int(datetime(2026, 12, 1, 8, 0, tzinfo=UTC).timestamp() * 1000)
    now = [base]
    keys = Keys(prefix="report-intervals")
    store = RoutingStore(redis_client, keys, clock=lambda: now[0])
    printer = [("printer", 3)]

    def at(seconds: int) -> None:
        now[0] = base + seconds * 1000

    store.agents.set_state("ivan", AgentState.AVAILABLE, printer)  # 0 s
    at(60)
    store.start_call("CAocc1", "+33611111111", "+33180000000", "fr-FR")
    store.enqueue("CAocc1", "printer", 0)
    offer = store.match([QueueRule("printer", 1, 0, 1)], 15_000)  # rings at 60
    assert offer is not None
    at(70)
    store.accept(offer.offer_id, "CAleg-occ")  # busy at 70
    store.bridge("CAocc1")
    at(370)
    store.hang_up("CAocc1", "completed", wrapup_ms=120_000)  # wrap-up at 370
    at(430)
    store.record_outcome("CAocc1", "ivan", "resolved", "")  # available at 430
    at(500)
    store.agents.set_state("ivan", AgentState.BREAK, printer, reason="lunch")
    at(1400)
    store.agents.set_state("ivan", AgentState.AVAILABLE, printer)
    at(1500)
    store.agents.set_state("ivan", AgentState.OFFLINE, printer)
    upgrade(fresh_database_url)
    engine = create_db_engine(fresh_database_url)
    try:
        drain_events(redis_client, engine, keys)
        (ivan,) = agent_time(engine, "2026-12-01", "2026-12-01")
    finally:
        engine.dispose()
    # by hand: available 0-60, 430-500, 1400-1500; ringing 60-70; talking
    # 70-370; wrap-up 370-430; lunch 500-1400 (offline from 1500: still open)
    assert ivan.seconds == {
        "available": 230.0,
        "reserved": 10.0,
        "busy": 300.0,
        "wrapup": 60.0,
        "break": 900.0,
    }
    assert ivan.breaks == {"lunch": 900.0}
    assert ivan.occupancy == 0.6  # (300 + 60) / (300 + 60 + 230 + 10)


@pytest.mark.parametrize(
    "by", ["queue", "agent", "problem", "fault", "halfhour", "day", "week", "all"]
)
def test_closed_days_read_from_rollups_give_the_same_figures(
    engine: Any, by: str
) -> None:
    from sqlalchemy import func, select

    from calllog.models import ReportRollup

    later = "2026-12-20"  # 1 and 3 December are past (closed) days by then
    live = report(engine, "2026-12-01", "2026-12-07", by, THRESHOLDS, rollups=False)
    rolled = report(engine, "2026-12-01", "2026-12-07", by, THRESHOLDS, today=later)
    assert [r.as_json() for r in rolled] == [r.as_json() for r in live]
    with Session(engine) as session:
        made = session.scalar(select(func.count()).select_from(ReportRollup))
    assert made  # rolled up once...
    again = report(engine, "2026-12-01", "2026-12-07", by, THRESHOLDS, today=later)
    assert [r.as_json() for r in again] == [r.as_json() for r in live]
    with Session(engine) as session:  # ...and read, not made again
        assert session.scalar(select(func.count()).select_from(ReportRollup)) == made
    # other thresholds: other rollups (r2's 25 s wait is in time at 30 s)
    looser = {"printer": 30, "network": 30}
    (row,) = report(engine, "2026-12-01", "2026-12-01", "all", looser, today=later)
    assert row.totals.answered_in_sl == 3


def test_a_recent_day_is_rolled_up_again_once_its_rollup_is_old(engine: Any) -> None:
    from sqlalchemy import update

    from calllog.models import ReportRollup

    today = "2026-12-04"  # 1 and 3 December: past, not closed (within 8 days)
    (before,) = report(engine, "2026-12-03", "2026-12-03", "all", today=today)
    assert before.totals.calls == 1
    with Session(engine) as session:  # a late call of that day lands...
        session.add(call("CAlate", local_day="2026-12-03"))
        session.commit()
    (cached,) = report(engine, "2026-12-03", "2026-12-03", "all", today=today)
    assert cached.totals.calls == 1  # ...the rollup stands a quarter of an hour
    with Session(engine) as session:
        session.execute(
            update(ReportRollup).values(made_at=datetime(2026, 12, 1, tzinfo=UTC))
        )
        session.commit()
    (redone,) = report(engine, "2026-12-03", "2026-12-03", "all", today=today)
    assert redone.totals.calls == 2
    # a closed day's rollup stands for good
    (closed,) = report(engine, "2026-12-03", "2026-12-03", "all", today="2026-12-30")
    assert closed.totals.calls == 2


def test_the_rollup_job_makes_only_days_that_had_calls(engine: Any) -> None:
    from sqlalchemy import select

    from calllog.models import ReportRollup
    from calllog.reports import roll_up_days

    assert roll_up_days(engine, THRESHOLDS, today="2026-12-20") > 0
    with Session(engine) as session:
        days = set(session.scalars(select(ReportRollup.local_day).distinct()))
    assert days == {"2026-12-01", "2026-12-03"}
    figures = report(
        engine, "2026-12-01", "2026-12-03", "queue", THRESHOLDS, today="2026-12-20"
    )
    live = report(
        engine, "2026-12-01", "2026-12-03", "queue", THRESHOLDS, rollups=False
    )
    assert [f.as_json() for f in figures] == [f.as_json() for f in live]


def test_a_caller_still_waiting_counts_once_answered_or_gone(engine: Any) -> None:
    day = {"local_day": "2031-02-03", "started_at": T31, "queued_at": T31}
    with Session(engine) as session:
        session.add_all(
            [
                call("CAw1", queue="printer", answered_at=T31, wait_seconds=4, **day),
                call("CAw2", queue="printer", status="queued", offers=0, **day),
            ]
        )
        session.commit()
    (row,) = report(engine, "2031-02-03", "2031-02-03", "all", THRESHOLDS)
    # offered 2, one of them in the queue now: 1 answered in time of 2 - 1
    assert (row.totals.offered, row.totals.waiting) == (2, 1)
    assert (row.service_level, row.abandon_rate) == (1.0, 0.0)
