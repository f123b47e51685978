"""A supervisor moves a waiting caller to another queue, or raises their priority.

Over the real webhooks and API: two callers wait in the email queue while
every hotliner is on a break. Raising the second caller's priority puts them
first (nothing to do at the carrier); moving the first to the printer queue
keeps their first entry time and redirects them into it (they hear they are
transferred, then hold in the printer queue). Omar (printer) goes available
and is offered the moved caller; Nina (email) the raised one. Every move is
audited; what cannot be is refused with a reason and changes nothing.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from integration.test_transfer import post, runtime, set_state
from support import (
    RecordingTelephony,
    SignedPost,
    call_form,
    console_session,
    twiml,
    verbs,
)

from agents.lifecycle import AgentState
from queues import handoff

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
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
FIRST, SECOND = "CAmove1", "CAmove2"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(HOTLINERS, accounts=("nina", "omar"))


def wait_in_email(signed_post: SignedPost, sid: str) -> None:
    signed_post("/voice/incoming", call_form(sid))
    root = twiml(signed_post(EMAIL, call_form(sid, Digits="4")).data)
    assert verbs(root)[-1] == "Enqueue"


def move(api: FlaskClient, sid: str, **body: object) -> tuple[int, dict]:
    answer = post(api, f"/api/calls/{sid}/queue", json=body)
    return answer.status_code, answer.get_json()


def test_a_waiting_caller_is_moved_or_raised_keeping_their_place(
    app: Flask,
    api: FlaskClient,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
) -> None:
    rt = runtime(app)
    for agent in ("nina", "omar"):
        set_state(app, agent, AgentState.AVAILABLE)
        set_state(app, agent, AgentState.BREAK)
    wait_in_email(signed_post, FIRST)
    wait_in_email(signed_post, SECOND)
    assert rt.store.waiting("email") == [FIRST, SECOND]
    first_entry = rt.store.call(FIRST)["first_queued"]

    # Refused, and nothing changes.
    before = (rt.store.call(FIRST), rt.store.call(SECOND))
    assert move(api, FIRST)[0] == 400  # nothing asked
    assert move(api, FIRST, queue="nowhere")[1]["why"] == "bad_queue"
    assert move(api, FIRST, priority=10)[0] == 400
    assert move(api, FIRST, priority="9")[0] == 400
    assert move(api, FIRST, priority=True)[0] == 400
    assert move(api, "CAnobody", priority=5)[0] == 404
    assert (rt.store.call(FIRST), rt.store.call(SECOND)) == before
    assert telephony.redirects == []
    nina, headers = console_session(app, "nina")
    as_hotliner = nina.post(
        f"/api/calls/{FIRST}/queue", json={"priority": 9}, headers=headers
    )
    assert as_hotliner.status_code == 403

    # The second caller raised: first in line, nothing at the carrier.
    status, body = move(api, SECOND, priority=5)
    assert status == 200, body
    assert body == {
        "call_sid": SECOND,
        "from_queue": "email",
        "queue": "email",
        "priority": 5,
        "before_priority": 0,
    }
    assert rt.store.waiting("email") == [SECOND, FIRST]
    assert telephony.redirects == []

    # The first moved to the printer queue: their entry time kept, redirected.
    status, body = move(api, FIRST, queue="printer")
    assert status == 200, body
    assert rt.store.waiting("email") == [SECOND]
    assert rt.store.waiting("printer") == [FIRST]
    call = rt.store.call(FIRST)
    assert (call["queue"], call["first_queued"]) == ("printer", first_entry)
    redirected = [url for sid, url in telephony.redirects if sid == FIRST]
    assert len(redirected) == 1
    assert "/voice/caller/transferred" in redirected[0]
    root = twiml(
        signed_post(
            redirected[0].removeprefix("https://hotline.test"), call_form(FIRST)
        ).data
    )
    assert verbs(root)[-1] == "Enqueue"
    assert root.find("Enqueue").text == "printer"  # type: ignore[union-attr]
    assert rt.store.waiting("printer") == [FIRST]  # once, at the same place

    # The hotliners back: each is offered the caller of their queue.
    set_state(app, "omar", AgentState.AVAILABLE)
    set_state(app, "nina", AgentState.AVAILABLE)
    handoff.carry_out(rt, handoff.Next(dispatch=True))
    offered = {leg["to"]: leg["url"] for leg in telephony.placed}
    assert FIRST in offered["client:omar"]
    assert SECOND in offered["client:nina"]
    # Being offered, they are not moved.
    status, body = move(api, FIRST, queue="email")
    assert status == 409
    assert body["why"] == "being_offered"

    audit = api.get("/api/audit?action=caller_moved").get_json()["entries"]
    assert [(e["target"], e["before"], e["after"]) for e in audit[:2]] == [
        (FIRST, {"queue": "email", "priority": 0}, {"queue": "printer", "priority": 0}),
        (SECOND, {"queue": "email", "priority": 0}, {"queue": "email", "priority": 5}),
    ]
