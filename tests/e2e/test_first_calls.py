"""Thirty callers, two problem types, three hotliners: every call in the log.

Real HTTP (gunicorn), real Redis, a real RQ worker, real SQL, and the carrier
simulator speaking Twilio's protocol (signed webhooks, TwiML, REST).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import PASSWORD, bearer, csrf_token, wait_for

from calllog.models import Call, CallEvent
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile, Speech

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: dora
    name: "Dora Absente"
    endpoint: "client:dora"
    skills: {printer: 2, network: 2}
    shifts: ["daily 00:00-00:00"]
  - id: alice
    name: "Alice Martin"
    endpoint: "client:alice"
    skills: {printer: 4, network: 2}
    shifts: ["daily 00:00-00:00"]
  - id: bruno
    name: "Bruno Petit"
    endpoint: "client:bruno"
    skills: {printer: 2, network: 4}
    shifts: ["daily 00:00-00:00"]
  - id: chloe
    name: "Chloé Roux"
    endpoint: "client:chloe"
    skills: {printer: 3, network: 3}
    shifts: ["daily 00:00-00:00"]
"""

ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 5
  wrapup_seconds: 30
  max_missed_offers: 2
  announce_every_seconds: 30
"""

TIME_SCALE = 0.1  # every simulated second lasts 100 ms
OUTCOMES = {"alice": "resolved", "bruno": "remote_takeover", "chloe": "escalated"}


def test_thirty_callers_reach_three_hotliners_and_every_call_is_logged(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, TIME_SCALE)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    token = hotline.token  # type: ignore[attr-defined]
    console = AgentConsoleClient(url, token=token)
    # Dora logs in first (longest idle, so first offered) but never answers.
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="dora", endpoint="client:dora", answers=False, console=console
        )
    )
    time.sleep(0.05)
    for agent_id, outcome in OUTCOMES.items():
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=agent_id,
                endpoint=f"client:{agent_id}",
                answer_after_seconds=2.0,
                talk_seconds=15.0,
                outcome=outcome,
                console=console,
            )
        )
    handles = {}
    impatient: set[str] = set()
    for n in range(30):
        printer = n % 2 == 0
        # Printer and network callers pick "other" in the sub-menu; some network
        # callers say their problem (the network menu follows), pick "no internet",
        # go through its three self-help steps, say it is not fixed, and are
        # queued all the same.
        choices = (
            [Digits("2"), Digits("4")]
            if printer
            else (
                [
                    Speech("je n'ai plus internet"),
                    Digits("1"),
                    Digits("2"),
                    Digits("2"),
                    Digits("2"),
                ]
                if n % 4 == 1
                else [Digits("3"), Digits("4")]
            )
        )
        patient = n not in {12, 14, 16, 18}
        script = CallerScript(
            from_number=f"+3361000{n:04d}",
            inputs=choices,
            patience_seconds=600.0 if patient else 3.0,
        )
        handle = carrier.place_call(script)
        handles[handle.sid] = ("printer" if printer else "network", patient)
        if not patient:
            impatient.add(handle.sid)
        time.sleep(0.05)

    assert carrier.wait_idle(timeout=240.0), "calls still running"
    assert carrier.errors == []

    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]

    def all_logged() -> bool:
        with Session(engine) as session:
            rows = session.scalars(select(Call)).all()
            done = [
                r
                for r in rows
                if r.status == "abandoned"
                or (r.status == "completed" and r.outcome is not None)
            ]
            return len(done) == 30

    wait_for(all_logged, 30.0, "30 finished calls in the call log")
    with Session(engine) as session:
        rows = {r.call_sid: r for r in session.scalars(select(Call)).all()}
        assert set(rows) == set(handles)
        for sid, (queue, patient) in handles.items():
            row = rows[sid]
            assert row.queue == queue, sid
            assert row.ivr_choice == (
                "file_imprimante" if queue == "printer" else "file_reseau"
            )
            assert row.started_at is not None
            assert row.queued_at is not None
            assert row.ended_at is not None
            assert row.wait_seconds is not None
            if patient:
                assert row.status == "completed", (sid, row.status)
                assert row.agent_id in OUTCOMES
                assert row.outcome == OUTCOMES[row.agent_id]
                assert row.talk_seconds is not None
                assert row.talk_seconds > 0.5
            else:
                assert row.status == "abandoned", (sid, row.status)
                assert row.outcome == "abandoned"
                assert row.agent_id is None
                assert row.wait_seconds >= 0.25
        served_by = {r.agent_id for r in rows.values() if r.status == "completed"}
        assert served_by == set(OUTCOMES)
        missed = session.scalars(
            select(CallEvent).where(
                CallEvent.type == "offer_rejected", CallEvent.agent_id == "dora"
            )
        ).all()
        assert missed, "dora was never offered a call"
        assert all(e.data["reason"] == "no-answer" for e in missed)
    engine.dispose()

    dora = requests.get(
        f"{url}/api/agents/dora", headers=bearer(token), timeout=5
    ).json()
    assert dora["state"] == "away"
    for agent_id in OUTCOMES:
        state = requests.get(
            f"{url}/api/agents/{agent_id}", headers=bearer(token), timeout=5
        ).json()["state"]
        assert state == "available"
    browser = requests.Session()
    form = browser.get(f"{url}/login", timeout=5).text
    browser.post(
        f"{url}/login",
        data={
            "username": "e2e-supervisor",
            "password": PASSWORD,
            "csrf_token": csrf_token(form),
        },
        timeout=5,
    )
    page = browser.get(f"{url}/status", timeout=5)  # the old page: the wallboard
    assert page.status_code == 200
    assert page.url == f"{url}/supervisor"
    board = browser.get(f"{url}/supervisor/board", timeout=5).json()
    dora = next(h for h in board["hotliners"] if h["name"] == "Dora Absente")
    assert dora["state"] == "away"
