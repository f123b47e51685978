"""Offers at the carrier's calls per second, over the real webhooks and the
worker's timer loop (`RecordingTelephony` in place of Twilio's REST API).

Each offer rings a hotliner with an outbound call, and Twilio places an
account's calls at its CPS (1 by default), queueing the rest: an offer
made faster would ring late, or lapse in Twilio's queue and count as the
hotliner's miss.
"""

from __future__ import annotations

import time

from flask import Flask
from integration.conftest import AppFactory
from support import RecordingTelephony, call_form, round_the_clock, sign

from agents.lifecycle import AgentState
from queues import handoff
from queues.routing import memberships
from queues.runtime import Runtime

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
HOTLINERS = ("ana", "ben", "cyd")


def post(app: Flask, path: str, form: dict[str, str]) -> None:
    """POST as Twilio does, signed; what runs after the answer runs too."""
    response = app.test_client().post(
        path, data=form, headers={"X-Twilio-Signature": sign(path, form)}
    )
    response.get_data()
    response.close()


def set_state(rt: Runtime, agent_id: str, state: AgentState) -> None:
    hotliner = rt.routing.hotliners[agent_id]  # type: ignore[index]
    done, _ = rt.store.agents.set_state(
        agent_id, state, memberships(hotliner, rt.routing)
    )
    assert done


def freed_at_once(
    make_app: AppFactory, calls_per_second: float, sids: tuple[str, ...]
) -> Runtime:
    """`sids` call and queue while the hotliners are on a break, then the
    hotliners are all free at once (nobody offered anything yet)."""
    app = make_app(
        round_the_clock(*((a, a.title()) for a in HOTLINERS)),
        settings={"calls_per_second": calls_per_second},
    )
    rt: Runtime = app.extensions["hotline"].runtime
    for agent_id in HOTLINERS:
        set_state(rt, agent_id, AgentState.AVAILABLE)
        set_state(rt, agent_id, AgentState.BREAK)
    for sid in sids:
        post(app, "/voice/incoming", call_form(sid))
        post(app, EMAIL, call_form(sid, Digits="4"))
    assert rt.store.waiting("email") == list(sids)
    for agent_id in HOTLINERS:
        set_state(rt, agent_id, AgentState.AVAILABLE)
    return rt


def test_offers_wait_for_the_calls_per_second_then_the_workers_timer_goes_on(
    make_app: AppFactory, telephony: RecordingTelephony
) -> None:
    """Three callers queued, then three hotliners free at once, an account
    placing one call a second: one leg is rung at once, the others when the
    worker's `dispatch` timer comes round, a second apart; nobody is counted
    as missing an offer."""
    rt = freed_at_once(make_app, 1.0, ("CApace1", "CApace2", "CApace3"))
    handoff.offer_waiting_callers(rt)  # as the request that freed them does
    assert len(telephony.placed) == 1
    assert rt.store.waiting("email") == ["CApace2", "CApace3"]
    assert rt.redis.zscore(rt.keys.timers, "dispatch") is not None

    placed_at = [time.monotonic()]
    deadline = time.monotonic() + 5
    while len(telephony.placed) < 3 and time.monotonic() < deadline:
        before = len(telephony.placed)
        handoff.fire_due_timers(rt)  # the worker's timer loop
        if len(telephony.placed) > before:
            placed_at.append(time.monotonic())
        time.sleep(0.02)
    assert len(telephony.placed) == 3
    assert rt.store.waiting("email") == []
    gaps = [b - a for a, b in zip(placed_at, placed_at[1:], strict=False)]
    assert all(gap >= 0.8 for gap in gaps), gaps
    agents = [rt.store.agents.get(a) for a in HOTLINERS]
    assert {a["state"] for a in agents} == {"reserved"}
    assert {a.get("missed", "0") for a in agents} == {"0"}


def test_at_zero_calls_per_second_offers_are_not_paced(
    make_app: AppFactory, telephony: RecordingTelephony
) -> None:
    """0 (the simulator's default): the three legs ring at once, and no
    `dispatch` timer is left behind."""
    rt = freed_at_once(make_app, 0.0, ("CAfree1", "CAfree2", "CAfree3"))
    handoff.offer_waiting_callers(rt)
    assert len(telephony.placed) == 3
    assert rt.redis.zscore(rt.keys.timers, "dispatch") is None
