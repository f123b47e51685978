"""The waiting callers' estimates share their queue's staffing figures.

Every waiting caller's hold loop asks for an estimate; reading every serving
hotliner's state for each made the web's work grow with callers times
hotliners. A queue's figures are read once per `STAFF_FIGURES.seconds` and
shared by every estimate of the process, each caller keeping their own
position.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from flask import Flask
from integration.conftest import AppFactory
from support import SignedPost, call_form, round_the_clock

from agents.lifecycle import AgentState
from queues.routing import memberships
from queues.runtime import Runtime
from queues.waiting import STAFF_FIGURES, estimate

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(round_the_clock(("nina", "Nina"), ("omar", "Omar")))


def test_estimates_share_a_queues_figures_and_follow_them_past_their_age(
    app: Flask, signed_post: SignedPost, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt: Runtime = app.extensions["hotline"].runtime
    monkeypatch.setattr(STAFF_FIGURES, "seconds", 0.5)
    # Nina logged in but on a break: the queue is staffed, nobody is offered.
    nina = memberships(rt.routing.hotliners["nina"], rt.routing)  # type: ignore[index]
    for state in (AgentState.AVAILABLE, AgentState.BREAK):
        done, _ = rt.store.agents.set_state("nina", state, nina)
        assert done
    for sid in ("CAest1", "CAest2", "CAest3"):
        signed_post("/voice/incoming", call_form(sid))
        signed_post(EMAIL, call_form(sid, Digits="4"))
    time.sleep(0.6)  # whatever the webhooks read is past its age

    reads: list[int] = []
    states = rt.store.agents.states

    def counted(agent_ids: Any) -> Any:
        ids = list(agent_ids)
        reads.append(len(ids))
        return states(ids)

    monkeypatch.setattr(rt.store.agents, "states", counted)
    first = [estimate(rt.store, rt.routing, "email", f"CAest{n}") for n in (1, 2, 3)]
    again = [estimate(rt.store, rt.routing, "email", "CAest3") for _ in range(50)]
    # One read of the queue's hotliners for 53 estimates; positions are each
    # caller's own. Nina on a break serves nobody: no estimate to give.
    assert len(reads) == 1
    assert reads[0] >= 2
    assert [e.position for e in first] == [1, 2, 3]
    assert {(e.agents_logged_in, e.seconds) for e in first + again} == {(0, None)}

    # Nina back (no webhook runs the router here): estimates made within the
    # figures' age still say nobody; past it, the queue's figures are read
    # again and each caller hears a wait that grows with their position.
    done, _ = rt.store.agents.set_state("nina", AgentState.AVAILABLE, nina)
    assert done
    assert estimate(rt.store, rt.routing, "email", "CAest1").seconds is None
    time.sleep(0.6)
    now = [estimate(rt.store, rt.routing, "email", f"CAest{n}") for n in (1, 2, 3)]
    assert [e.agents_logged_in for e in now] == [1, 1, 1]
    waits = [e.seconds or 0.0 for e in now]
    assert all(e.seconds is not None for e in now)
    assert waits == sorted(waits)
    assert waits[0] < waits[2]
    assert len(reads) == 2
    # A caller who left the queue has no position, whatever the figures.
    assert estimate(rt.store, rt.routing, "email", "CAnobody").position is None
