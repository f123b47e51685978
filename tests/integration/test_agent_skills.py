"""A supervisor changes what a hotliner takes today, over `hotliners.yaml`.

Over the real webhooks and API: a caller waits in the email queue while its
only hotliner is on a break; Omar (printers only) is available and is not
offered them. A supervisor gives him the email skill: he is offered the
caller at once. His skills survive his going on a break and back, show in
his record, are audited, and are put back to the roster's on request. What
cannot be done is refused with a reason and changes nothing.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from integration.test_transfer import runtime, set_state
from integration.test_waiting_moves import HOTLINERS
from support import RecordingTelephony, SignedPost, call_form, console_session, twiml
from werkzeug.test import TestResponse

from agents.lifecycle import AgentState

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: email
SID = "CAskills1"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(HOTLINERS, accounts=("omar", "nina"))


def send(client: FlaskClient, method: str, body: object = None) -> TestResponse:
    """PUT or DELETE Omar's skills and close the answer, as a WSGI server
    does (the offer it makes runs then)."""
    response = client.open("/api/agents/omar/skills", method=method, json=body)
    response.get_data()
    response.close()
    return response


def offered_to(telephony: RecordingTelephony, endpoint: str) -> list[str]:
    return [leg["url"] for leg in telephony.placed if leg["to"] == endpoint]


def test_a_supervisor_gives_omar_the_email_skill_and_he_takes_its_caller(
    app: Flask,
    api: FlaskClient,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
) -> None:
    rt = runtime(app)
    set_state(app, "nina", AgentState.AVAILABLE)
    set_state(app, "nina", AgentState.BREAK)
    set_state(app, "omar", AgentState.AVAILABLE)
    signed_post("/voice/incoming", call_form(SID))
    root = twiml(signed_post(EMAIL, call_form(SID, Digits="4")).data)
    assert root.find("Enqueue").text == "email"  # type: ignore[union-attr]
    assert rt.store.waiting("email") == [SID]
    assert offered_to(telephony, "client:omar") == []

    # Refused, and nothing changes.
    before = rt.store.agents.get("omar")
    for bad in (
        None,
        {},
        {"skills": {}},
        {"skills": ["printer"]},
        {"skills": {"knitting": 2}},
        {"skills": {"printer": 0}},
        {"skills": {"printer": 6}},
        {"skills": {"printer": "3"}},
        {"skills": {"printer": True}},
    ):
        answer = send(api, "PUT", bad)
        assert answer.status_code == 400, bad
        assert answer.get_json()["error"], bad
    unknown = api.put("/api/agents/nobody/skills", json={"skills": {"printer": 1}})
    assert unknown.status_code == 404
    omar, headers = console_session(app, "omar")
    as_hotliner = omar.put(
        "/api/agents/omar/skills", json={"skills": {"email": 3}}, headers=headers
    )
    assert as_hotliner.status_code == 403
    anonymous = app.test_client().put(
        "/api/agents/omar/skills", json={"skills": {"email": 3}}
    )
    assert anonymous.status_code == 401
    assert rt.store.agents.get("omar") == before
    assert offered_to(telephony, "client:omar") == []

    # Given the email skill: offered the waiting caller at once.
    answer = send(api, "PUT", {"skills": {"email": 3, "printer": 3}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {
        "id": "omar",
        "skills": {"email": 3, "printer": 3},
        "configured_skills": {"printer": 3},
        "as_configured": False,
        "queues": ["email", "printer"],
    }
    offers = offered_to(telephony, "client:omar")
    assert len(offers) == 1
    assert SID in offers[0]
    assert rt.store.agents.get("omar")["state"] == "reserved"

    # His skills outlive a change of state (the offer ends, a break, back).
    assert (
        api.post(f"/api/offers/{rt.store.call(SID)['offer']}/decline").status_code
        == 200
    )
    set_state(app, "omar", AgentState.AVAILABLE)
    api.post("/api/agents/omar/state", json={"state": "break"})
    api.post("/api/agents/omar/state", json={"state": "available"}).get_data()
    assert rt.store.agents.get("omar")["queues"] == "printer:3,email:3"
    record = api.get("/api/agents/omar").get_json()
    assert record["skills"] == {"email": 3, "printer": 3}
    assert record["configured_skills"] == {"printer": 3}

    # Put back: printers only again, and out of the email queue's line.
    answer = send(api, "DELETE")
    assert answer.status_code == 200
    assert answer.get_json()["skills"] == {"printer": 3}
    assert answer.get_json()["as_configured"] is True
    assert rt.store.agents.get("omar")["queues"] == "printer:3"
    email_line = rt.redis.zrange(rt.keys.available("email", 3), 0, -1)
    assert b"omar" not in email_line

    audit = api.get("/api/audit?action=agent_skills").get_json()["entries"]
    assert [(e["target"], e["before"], e["after"]) for e in audit[:2]] == [
        (
            "omar",
            {"skills": {"email": 3, "printer": 3}},
            {"skills": {"printer": 3}, "as_configured": True},
        ),
        (
            "omar",
            {"skills": {"printer": 3}},
            {"skills": {"email": 3, "printer": 3}, "as_configured": False},
        ),
    ]
