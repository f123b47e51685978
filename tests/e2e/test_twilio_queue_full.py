"""Twilio's queue full: the callers it refuses keep their place and are served.

Twilio holds at most `MaxSize` callers in a queue (1,000 by default, 5,000 at
most); `<Enqueue>` past it ends at once with `QueueResult=queue-full`. Here
the carrier's queue holds two: six callers choose the same queue while its
one hotliner is busy; the four Twilio refuses are held by the hotline's own
loop, in their place, and every caller reaches the hotliner in turn.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import wait_for

from calllog.models import Call
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: alice
    name: "Alice Martin"
    endpoint: "client:alice"
    skills: {hardware: 3}
    shifts: ["daily 00:00-00:00"]
"""
ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 10
  wrapup_seconds: 0
  max_missed_offers: 5
  announce_every_seconds: 30
"""
TIME_SCALE = 0.1
CALLERS = 6


def test_callers_twilios_full_queue_refuses_are_held_and_served_in_turn(
    running_hotline: Callable[..., Any],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, TIME_SCALE)
    carrier = hotline.carrier
    with carrier.board.lock:
        carrier.board.queue("hardware", 2)  # Twilio's Queue resource, MaxSize=2
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="alice",
            endpoint="client:alice",
            answer_after_seconds=1.0,
            talk_seconds=20.0,
            outcome="resolved",
            console=AgentConsoleClient(hotline.url, token=hotline.token),
        )
    )
    placed = []
    for n in range(CALLERS):
        script = CallerScript(
            from_number=f"+3363000{n:04d}",
            inputs=[Digits("6")],  # the first menu's hardware key
            patience_seconds=36_000.0,
        )
        placed.append(carrier.place_call(script).sid)
        time.sleep(0.1)
    assert carrier.wait_idle(timeout=180.0), "calls still running"
    assert carrier.errors == []
    refused = [
        sid
        for sid in placed
        if any(
            e.kind == "leave" and e.detail == "queue-full"
            for e in carrier.calls[sid].transcript
        )
    ]
    assert len(refused) >= 2, "Twilio's queue never filled: nothing was proved"
    for sid in placed:
        assert any(e.kind == "connected" for e in carrier.calls[sid].transcript), sid
    engine = create_engine(hotline.database_url)

    def all_served() -> bool:
        with Session(engine) as session:
            rows = session.scalars(select(Call)).all()
            return (
                sum(r.status == "completed" and r.outcome == "resolved" for r in rows)
                == CALLERS
            )

    wait_for(all_served, 30.0, "every caller served by alice, in the call log")
    with Session(engine) as session:
        rows = {r.call_sid: r for r in session.scalars(select(Call)).all()}
    engine.dispose()
    for sid in placed:
        assert (rows[sid].queue, rows[sid].agent_id) == ("hardware", "alice"), sid
