"""A level-2 call back scheduled by a hotliner, through the whole hotline.

Nina (level 1, email) talks with a caller and schedules a call back by the
network queue a few seconds ahead; when it is due, Sam (network) is offered
it with Nina's notes, accepts, and the hotline dials the caller, who talks
with him. The call log has both calls, linked.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import wait_for

from calllog.models import Call, CallEvent, CallSegment
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: nina
    name: "Nina Messagerie"
    endpoint: "client:nina"
    skills: {email: 3}
    shifts: ["daily 00:00-00:00"]
  - id: sam
    name: "Sam Réseau"
    endpoint: "client:sam"
    skills: {network: 5}
    shifts: ["daily 00:00-00:00"]
"""

ROUTING = """routing:
  ring_seconds: 10
  wrapup_seconds: 30
  max_missed_offers: 3
callback:
  key: "1"
  max_attempts: 2
  retry_seconds: 1
  ring_seconds: 10
"""

CALLER = "+33620000077"
NOTES = "VPN coupé chez lui depuis la mise à jour ; à rappeler par le réseau"
AHEAD_MS = 12_000  # real time (10 s at the earliest)


def test_a_scheduled_level2_callback_rings_the_caller_when_due(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.1)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    token = hotline.token  # type: ignore[attr-defined]
    console = AgentConsoleClient(url, token=token)
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=40.0,
            outcome="callback",
            console=console,
        )
    )
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="sam",
            endpoint="client:sam",
            answer_after_seconds=1.0,
            talk_seconds=30.0,
            outcome="resolved",
            console=console,
        )
    )
    # The caller's own phone, which our call back rings.
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="caller-phone",
            endpoint=CALLER,
            answer_after_seconds=1.0,
            talk_seconds=10_000.0,
        )
    )
    first = carrier.place_call(
        CallerScript(from_number=CALLER, inputs=[Digits("4")], patience_seconds=3000)
    )
    scheduled: dict[str, object] = {}

    def schedule() -> bool:
        due = int(time.time() * 1000) + AHEAD_MS
        answer = requests.post(
            f"{url}/api/calls/{first.sid}/callback",
            json={"queue": "network", "at": due, "notes": NOTES},
            headers={"Authorization": f"Bearer {token}"},
            timeout=5,
        )
        # 404 until the call comes in, 409 until a hotliner has it; then once.
        assert answer.status_code in (201, 404, 409), answer.text
        if answer.status_code == 201:
            scheduled.update(answer.json())
        return answer.status_code == 201

    wait_for(schedule, 20.0, "Nina on the call, then the call back scheduled")
    callback_sid = str(scheduled["callback_sid"])
    due = int(str(scheduled["due"]))
    assert callback_sid.startswith("CB")

    # When due, Sam is offered it, accepts, and the caller's phone rings.
    def dialled() -> list[object]:
        return [
            c
            for c in carrier.calls.values()
            if c.to == CALLER and c.direction == "outbound-api"
        ]

    wait_for(dialled, AHEAD_MS / 1000 + 20.0, "our call back to the caller")
    assert time.time() * 1000 >= due
    assert carrier.wait_idle(timeout=60.0), [
        (c.sid, c.to, c.status) for c in carrier.calls.values()
    ]
    assert carrier.errors == []

    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]

    def both_logged() -> bool:
        with Session(engine) as session:
            rows = {
                r.call_sid: r
                for r in session.scalars(
                    select(Call).where(Call.call_sid.in_([first.sid, callback_sid]))
                )
            }
        return len(rows) == 2 and all(
            r.status == "completed" and r.outcome for r in rows.values()
        )

    wait_for(both_logged, 30.0, "both calls logged with their outcomes")
    with Session(engine) as session:
        original = session.get(Call, first.sid)
        back = session.get(Call, callback_sid)
        assert original is not None
        assert back is not None
        assert (original.agent_id, original.outcome) == ("nina", "callback")
        assert (back.agent_id, back.outcome, back.queue) == (
            "sam",
            "resolved",
            "network",
        )
        assert back.previous_call_sid == first.sid
        assert back.callback_number == CALLER
        assert back.from_number == CALLER
        events = session.scalars(
            select(CallEvent)
            .where(CallEvent.call_sid == callback_sid)
            .order_by(CallEvent.id)
        ).all()
    kinds = [e.type for e in events]
    assert kinds[0] == "callback_scheduled"
    assert events[0].agent_id == "nina"
    assert events[0].data["notes"] == NOTES
    enqueued = next(e for e in events if e.type == "enqueued")
    assert enqueued.at.timestamp() * 1000 >= due - 5  # not before it was due
    assert "talking" in kinds
    with Session(engine) as session:
        parts = session.scalars(
            select(CallSegment).where(
                CallSegment.call_sid.in_([first.sid, callback_sid])
            )
        ).all()
    assert sorted((s.call_sid == callback_sid, s.agent_id) for s in parts) == [
        (False, "nina"),
        (True, "sam"),
    ]
