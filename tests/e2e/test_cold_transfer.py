"""A cold transfer through the whole hotline, the simulator playing Twilio.

Nina (email) talks with a caller and passes them on to the printer queue;
the caller leaves her conference, hears they are transferred, holds in the
printer queue and talks with Omar; the call log has the whole story, the
caller's first entry time kept.
"""

from __future__ import annotations

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
  - id: omar
    name: "Omar Imprimantes"
    endpoint: "client:omar"
    skills: {printer: 3}
    shifts: ["daily 00:00-00:00"]
"""

ROUTING = """routing:
  ring_seconds: 10
  wrapup_seconds: 30
  max_missed_offers: 3
"""

NOTES = "Outlook OK ; l'imprimante du 2e ne sort plus rien"


def test_a_cold_transfer_keeps_the_callers_first_entry_and_logs_it(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.1)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    url = hotline.url  # type: ignore[attr-defined]
    token = hotline.token  # type: ignore[attr-defined]
    headers = {"Authorization": f"Bearer {token}"}
    console = AgentConsoleClient(url, token=token)
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="nina",
            endpoint="client:nina",
            answer_after_seconds=1.0,
            talk_seconds=100_000.0,  # until the transfer hangs her leg up
            outcome="escalated",
            console=console,
        )
    )
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="omar",
            endpoint="client:omar",
            answer_after_seconds=1.0,
            talk_seconds=20.0,
            outcome="resolved",
            console=console,
        )
    )
    caller = carrier.place_call(
        CallerScript(
            from_number="+33620000042",
            inputs=[Digits("4")],  # the email queue
            patience_seconds=3000,
        )
    )

    def transferred() -> bool:
        answer = requests.post(
            f"{url}/api/calls/{caller.sid}/transfer",
            json={"queue": "printer", "notes": NOTES},
            headers=headers,
            timeout=5,
        )
        # 404 until the call comes in, 409 until Nina and the caller talk;
        # then one transfer, once.
        assert answer.status_code in (200, 404, 409), answer.text
        return answer.status_code == 200

    def talking() -> bool:
        # Nina and the caller hear each other at the carrier (the app may say
        # "talking" a moment before the caller has joined the conference).
        with carrier.board.lock:
            call = carrier.calls.get(caller.sid)
            return call is not None and any(
                e.kind == "connected" for e in call.transcript
            )

    wait_for(talking, 30.0, "the caller talking with Nina")
    wait_for(transferred, 10.0, "the transfer")
    assert carrier.wait_idle(timeout=60.0), [
        (c.sid, c.to, c.status) for c in carrier.calls.values()
    ]
    assert carrier.errors == []
    heard = " ".join(
        e.detail for e in carrier.calls[caller.sid].transcript if e.kind == "say"
    )
    assert "transfère au service imprimantes" in heard

    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]

    def logged() -> Call | None:
        with Session(engine) as session:
            row = session.get(Call, caller.sid)
            if row is None or row.status != "completed" or row.outcome is None:
                return None
            session.expunge(row)
            return row

    row = wait_for(logged, 30.0, "the call logged with its outcome")
    assert isinstance(row, Call)
    assert (row.queue, row.agent_id, row.outcome, row.transfers) == (
        "printer",
        "omar",
        "resolved",
        1,
    )
    with Session(engine) as session:
        events = session.scalars(
            select(CallEvent)
            .where(CallEvent.call_sid == caller.sid)
            .order_by(CallEvent.id)
        ).all()
    kinds = [e.type for e in events]
    assert kinds.index("transferred") < kinds.index(
        "talking", kinds.index("transferred")
    )
    enqueued = next(e for e in events if e.type == "enqueued")
    moved = next(e for e in events if e.type == "transferred")
    assert moved.agent_id == "nina"
    assert moved.data["queued_at"] == enqueued.data["queued_at"]  # the same place
    assert moved.data["notes"] == NOTES
    assert moved.data["priority"] == str(int(enqueued.data["priority"]) + 1)
    assert row.queued_at is not None
    assert abs(row.queued_at.timestamp() * 1000 - int(enqueued.data["queued_at"])) < 2
    # Each hotliner's part: Nina's ended by the transfer, Omar's by the hang-up.
    with Session(engine) as session:
        segments = session.scalars(
            select(CallSegment)
            .where(CallSegment.call_sid == caller.sid)
            .order_by(CallSegment.id)
        ).all()
    assert [(s.agent_id, s.end_reason) for s in segments] == [
        ("nina", "transferred"),
        ("omar", "completed"),
    ]
    assert all(s.talk_seconds is not None and s.talk_seconds > 0 for s in segments)
    nina_said = [e for e in events if e.type == "outcome" and e.agent_id == "nina"]
    assert [e.data.get("segment") for e in nina_said] == ["transferred"]
    assert [e.data["outcome"] for e in nina_said] == ["escalated"]
