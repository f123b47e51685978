"""A waiting caller asks to be called back, keeps their place, and is called back.

Real stack and simulator; the callers' own phones are simulated endpoints that
answer (or do not answer) our call back.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import wait_for

from calllog.models import Call, CallEvent
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: alice
    name: "Alice Martin"
    endpoint: "client:alice"
    skills: {printer: 3}
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


def describe(carrier: object) -> str:
    lines = []
    for sid, call in carrier.calls.items():  # type: ignore[attr-defined]
        tail = [f"{e.kind}:{e.detail}"[:90] for e in call.transcript[-6:]]
        lines.append(f"{sid} to={call.to} status={call.status} {tail}")
    return "\n".join(lines)


def test_callback_keeps_the_place_and_a_failed_one_ends_with_an_sms(
    running_hotline: Callable[..., object],
) -> None:
    hotline = running_hotline(HOTLINERS, ROUTING, 0.1)
    carrier = hotline.carrier  # type: ignore[attr-defined]
    console = AgentConsoleClient(hotline.url, token=hotline.token)  # type: ignore[attr-defined]
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="alice",
            endpoint="client:alice",
            answer_after_seconds=1.0,
            talk_seconds=60.0,
            outcome="resolved",
            console=console,
        )
    )
    # The phones of the two callers who will ask for a callback.
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="bea-phone",
            endpoint="+33620000002",
            answer_after_seconds=2.0,
            talk_seconds=10_000.0,
        )
    )
    carrier.add_hotliner(
        HotlinerProfile(agent_id="carl-phone", endpoint="+33620000003", answers=False)
    )

    first = carrier.place_call(
        CallerScript(from_number="+33620000001", inputs=[Digits("2"), Digits("4")])
    )
    time.sleep(0.5)  # alice is now taking the first call
    bea = carrier.place_call(
        CallerScript(
            from_number="+33620000002",
            inputs=[Digits("2"), Digits("4")],
            queue_inputs=[Digits("1")],
        )
    )
    time.sleep(0.3)
    carl = carrier.place_call(
        CallerScript(
            from_number="+33620000003",
            inputs=[Digits("2"), Digits("4")],
            queue_inputs=[Digits("1")],
        )
    )
    late = carrier.place_call(
        CallerScript(from_number="+33620000004", inputs=[Digits("2"), Digits("4")])
    )

    idle = carrier.wait_idle(timeout=60.0)
    assert idle, describe(carrier)
    assert carrier.errors == []
    engine = create_engine(hotline.database_url)  # type: ignore[attr-defined]

    def logged() -> bool:
        with Session(engine) as session:
            rows = session.scalars(select(Call)).all()
            return (
                sum(
                    1
                    for r in rows
                    if r.status in {"completed", "abandoned"}
                    and (r.status == "abandoned" or r.outcome)
                )
                == 4
            )

    wait_for(logged, 30.0, "four finished calls")
    with Session(engine) as session:
        rows = {r.call_sid: r for r in session.scalars(select(Call)).all()}
        assert rows[first.sid].status == "completed"
        served = rows[bea.sid]
        assert (served.status, served.agent_id, served.outcome) == (
            "completed",
            "alice",
            "resolved",
        )
        assert served.callback_number == "+33620000002"
        assert served.talk_seconds is not None
        # Bea kept her place: answered before the caller who came after her.
        assert rows[late.sid].answered_at is not None
        assert served.answered_at is not None
        assert served.answered_at < rows[late.sid].answered_at
        failed = rows[carl.sid]
        assert (failed.status, failed.outcome) == ("abandoned", "callback_failed")
        attempts = session.scalars(
            select(CallEvent).where(
                CallEvent.call_sid == carl.sid, CallEvent.type == "callback_failed"
            )
        ).all()
        assert len(attempts) == 1  # the second and last attempt ends the call
    engine.dispose()
    # The text is background work: it may leave after the call log is written.
    wait_for(
        lambda: any(m["to"] == "+33620000003" for m in carrier.messages),
        10.0,
        "the SMS after the last callback attempt",
    )
    sms = [m for m in carrier.messages if m["to"] == "+33620000003"]
    assert len(sms) == 1
    assert "2 fois" in sms[0]["body"]
