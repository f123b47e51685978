"""Ten times a queue's cap of callers at once, through the real webhooks.

Issue 15's "10x overload": the queue's cap (`max_waiting`, Twilio's 5,000 at
most) holds, every caller beyond it is told at once and offered the overflow
(a call back or a message), each answer within a second, Redis's memory grows
by a small fixed amount per refused caller, and the callers who do wait are
served as usual once a hotliner is free.
"""

from __future__ import annotations

import os
import time
from typing import Any, cast

import pytest
from flask import Flask
from integration.conftest import AppFactory
from support import (
    PUBLIC,
    RecordingTelephony,
    SignedPost,
    call_form,
    console_session,
    round_the_clock,
    spoken,
    twiml,
    verbs,
)

from agents.lifecycle import AgentState
from queues.routing import memberships
from queues.runtime import Runtime

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
CAP = 20
CALLERS = 10 * CAP
#: Redis memory a refused caller may leave, at most (bytes); see the test.
REFUSED_CALLER_BYTES = 2048


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """Nina logged in but on a break (the queue is staffed, nobody is
    offered a call), and the email queue capped at `CAP` callers."""
    flask_app = make_app(round_the_clock(("nina", "Nina")), accounts=("nina",))
    services = flask_app.extensions["hotline"]
    path = services.config_dir / "queues.yaml"
    text = path.read_text(encoding="utf-8")
    anchor = "  - id: email\n    skill: email\n"
    assert anchor in text
    path.write_text(text.replace(anchor, f"{anchor}    max_waiting: {CAP}\n"), "utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    services.configs.check()
    rt = runtime(flask_app)
    assert rt.routing.queue("email").max_waiting == CAP  # type: ignore[union-attr]
    nina = memberships(rt.routing.hotliners["nina"], rt.routing)  # type: ignore[index]
    for state in (AgentState.AVAILABLE, AgentState.BREAK):
        done, _ = rt.store.agents.set_state("nina", state, nina)
        assert done
    return flask_app


def runtime(app: Flask) -> Runtime:
    return app.extensions["hotline"].runtime  # type: ignore[no-any-return]


def used_memory(rt: Runtime) -> int:
    return int(cast(dict[str, Any], rt.redis.info("memory"))["used_memory"])


def test_ten_times_the_cap_of_callers_the_cap_holds_and_the_rest_overflow_at_once(
    app: Flask, signed_post: SignedPost, telephony: RecordingTelephony
) -> None:
    """200 callers choose a queue that holds 20.

    Exactly the first 20 wait (Redis's queue says so); each of the other 180
    is told at once that the lines are busy and offered a call back or a
    message, and every webhook of every caller answers within a second (a
    functional bound, Twilio's patience, not a benchmark).

    Memory stays bounded: a refused caller leaves what a call legitimately
    leaves in Redis until it ends, and nothing else: their call hash (sid,
    state, numbers, language, the key pressed and the menu choice: nine
    short fields), their entry in the active calls, and three events in
    the stream for the call log (`call_started`, `ivr_note`, `ivr_choice`):
    about 650 bytes in all, measured on Valkey 7.2 (`used_memory` also moves
    with the server's own buffers, by a few kilobytes either way). Above 2 KB
    per refused caller something else would be kept per caller (queued after
    all, an event written twice): memory would then grow with the overload,
    not with the calls. The calls' own share goes as usual: their hashes when
    they end, their events once the call log writer has them.

    Then the hotliner comes back from her break: the first caller to have
    queued is offered to her, as if the overload had never happened.
    """
    rt = runtime(app)
    slowest = 0.0
    answers = []
    memory_at_cap = 0
    for n in range(CALLERS):
        if n == CAP:
            memory_at_cap = used_memory(rt)
        sid = f"CAover{n:03d}"
        started = time.perf_counter()
        signed_post("/voice/incoming", call_form(sid))
        slowest = max(slowest, time.perf_counter() - started)
        started = time.perf_counter()
        answer = signed_post(EMAIL, call_form(sid, Digits="4"))
        slowest = max(slowest, time.perf_counter() - started)
        assert answer.status_code == 200
        answers.append(twiml(answer.data))
    refused_growth = used_memory(rt) - memory_at_cap

    assert slowest < 1.0, f"the slowest webhook took {slowest:.3f} s"
    waiting = [f"CAover{n:03d}" for n in range(CAP)]
    assert rt.store.queue_length("email") == CAP
    assert rt.store.waiting("email", limit=CALLERS) == waiting
    for n, root in enumerate(answers[:CAP]):
        assert verbs(root)[-1] == "Enqueue", n
    for n, root in enumerate(answers[CAP:], start=CAP):
        assert root.find("Enqueue") is None, n
        gather = root.find("Gather")
        assert gather is not None
        assert "why=full" in gather.get("action", "")
        said = spoken(root)
        assert "Toutes nos lignes messagerie sont occupées" in said
        assert "tapez 1" in said
        assert "tapez 2" in said
        assert rt.store.call(f"CAover{n:03d}")["state"] == "ivr"

    per_refused = refused_growth / (CALLERS - CAP)
    assert per_refused < REFUSED_CALLER_BYTES, f"{per_refused:.0f} bytes per caller"

    assert telephony.placed == []  # nobody was offered while Nina is away
    nina, headers = console_session(app, "nina")
    back = nina.post(
        "/api/agents/nina/state", json={"state": "available"}, headers=headers
    )
    back.get_data()
    back.close()  # as a WSGI server does: the hand-off runs after the answer
    assert back.status_code == 200, back.get_data(as_text=True)
    assert [leg["to"] for leg in telephony.placed] == ["client:nina"]
    assert "call=CAover000" in telephony.placed[0]["url"]
    assert telephony.placed[0]["url"].startswith(PUBLIC)
    assert rt.store.call("CAover000")["state"] == "offered"
    assert rt.store.waiting("email", limit=CALLERS) == waiting[1:]
