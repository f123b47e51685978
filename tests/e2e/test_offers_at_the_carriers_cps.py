"""Offers paced to the account's calls per second, end to end.

Twilio dials an account's REST calls at its CPS (1 a second by default) and
keeps the rest queued; each offer rings a hotliner with such a call, and the
offer's ring time runs from the moment it is made. Here the simulated account
dials 1 call a second, and eight hotliners come back from a break at once to
eight waiting callers with 5 s to answer: made all at once, the last offers
lapse while their legs are still queued at the carrier, and hotliners who
never heard a ring are counted as missing them; paced to the account's
calls per second, none does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session
from support import wait_for

from calllog.models import Call
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = pytest.mark.e2e

AGENTS = [f"h{n}" for n in range(8)]
HOTLINERS = "\nhotliners:\n" + "".join(
    f"""  - id: {a}
    name: "Hotliner {a}"
    endpoint: "client:{a}"
    skills: {{hardware: 3}}
    shifts: ["daily 00:00-00:00"]
"""
    for a in AGENTS
)
ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 5
  wrapup_seconds: 0
  max_missed_offers: 10
  announce_every_seconds: 30
"""
TIME_SCALE = 0.1


@pytest.mark.parametrize("app_cps", ["0", "1"], ids=["not-paced", "paced"])
def test_offers_lapse_in_the_carriers_queue_unless_paced_to_its_cps(
    running_hotline: Callable[..., Any], app_cps: str
) -> None:
    hotline = running_hotline(
        HOTLINERS,
        ROUTING,
        TIME_SCALE,
        env={"TWILIO_CALLS_PER_SECOND": app_cps},
        carrier_cps=1.0,
    )
    carrier = hotline.carrier
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    for agent in AGENTS:
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=agent,
                endpoint=f"client:{agent}",
                answer_after_seconds=2.0,  # 0.2 s real once dialled: in time
                talk_seconds=600.0,  # a minute real: each takes one caller
                outcome="resolved",
                console=console,
            )
        )
    for agent in AGENTS:
        console.set_state(agent, "break")
    placed = [
        carrier.place_call(
            CallerScript(
                from_number=f"+3363100{n:04d}",
                inputs=[Digits("6")],  # the first menu's hardware key
                patience_seconds=36_000.0,
            )
        ).sid
        for n in range(len(AGENTS))
    ]

    def every_caller(kind: str) -> Callable[[], bool]:
        """Whether each caller's transcript has reached `kind` yet."""

        def reached() -> bool:
            with carrier.board.lock:
                return all(
                    any(e.kind == kind for e in carrier.calls[s].transcript)
                    for s in placed
                )

        return reached

    wait_for(every_caller("enqueue"), 30.0, "every caller waiting")
    for agent in AGENTS:
        console.set_state(agent, "available")
    wait_for(every_caller("connected"), 40.0, "every caller with a hotliner")
    engine = create_engine(hotline.database_url)

    def all_answered_in_the_call_log() -> bool:
        """A lapsed offer's event comes before its caller's answer in the
        stream: once every answer is written, every miss is too."""
        with Session(engine) as session:
            answered = select(func.count()).where(Call.answered_at.is_not(None))
            return session.scalar(answered) == len(placed)

    wait_for(all_answered_in_the_call_log, 20.0, "the answers in the call log")
    with Session(engine) as session:
        missed = session.scalar(select(func.sum(Call.missed_offers))) or 0
    engine.dispose()
    for sid in placed:
        carrier.hang_up(sid)
    assert carrier.wait_idle(timeout=60.0), "calls still running"
    assert carrier.errors == []
    if app_cps == "0":
        assert missed > 0, "offers all at once never lapsed: nothing was proved"
    else:
        assert missed == 0
