"""External transfer: someone outside the hotline called into the conference.

Nina talks with a caller and passes them on to the on-call engineer of the
directory (`on_call` in `hotliners.yaml`): the caller goes on hold, the
engineer's mobile is called into the conference, Nina briefs them and
leaves; the caller and the engineer talk, and the call's outcome is Nina's
(the hotline's part ends with her). An engineer who does not answer leaves
the caller with Nina. A real Redis, the call log in SQL, `RecordingTelephony`.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import (
    RecordingTelephony,
    SignedPost,
    bearer_client,
    call_form,
    console_session,
    provision,
    round_the_clock,
)
from test_transfer import answer_and_talk, post, runtime, set_state
from test_warm_transfer import console_events

from agents.lifecycle import AgentState
from calllog.models import Call, CallSegment
from calllog.writer import drain_events

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
SID = "CAexternal1"
CONF = f"hotline-{SID}"
ENGINEER = "+33612000001"
ON_CALL = f"""
on_call:
  - id: astreinte
    name: "Astreinte réseau"
    number: "{ENGINEER}"
  - id: never
    name: "Jamais joignable"
    number: "+33612000002"
    hours: ["sun 03:00-03:01"]
"""


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(
        round_the_clock(("nina", "Nina Nuit-et-Jour")) + ON_CALL, accounts=("nina",)
    )


@pytest.fixture
def talking_with_nina(
    app: Flask, signed_post: SignedPost, telephony: RecordingTelephony
) -> str:
    set_state(app, "nina", AgentState.AVAILABLE)
    signed_post("/voice/incoming", call_form(SID))
    signed_post(EMAIL, call_form(SID, Digits="4"))
    leg = answer_and_talk(signed_post, telephony, 0, SID)
    assert runtime(app).store.call(SID)["state"] == "talking"
    return leg


def ask(client: FlaskClient, headers: dict[str, str], **body: object) -> Any:
    return post(client, f"/api/calls/{SID}/transfer", json=body, headers=headers)


def outside_leg_status(
    signed_post: SignedPost, telephony: RecordingTelephony, status: str
) -> None:
    added = telephony.added[-1]
    signed_post(
        added["status_callback"].removeprefix("https://hotline.test"),
        call_form(added["sid"], CallStatus=status, Direction="outbound-api"),
    )


def told_nina(app: Flask) -> list[dict[str, str]]:
    return console_events(app, "nina")


def test_nina_briefs_the_on_call_engineer_then_leaves_them_the_caller(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    talking_with_nina: str,
) -> None:
    rt = runtime(app)
    nina, headers = console_session(app, "nina")
    asked = ask(nina, headers, on_call="astreinte", notes="switch du 2e HS")
    assert asked.status_code == 202, asked.get_json()
    assert asked.get_json()["specialist_name"] == "Astreinte réseau"
    added = telephony.added[-1]
    assert (added["conference"], added["to"], added["label"]) == (
        CONF,
        ENGINEER,
        "external",
    )
    assert telephony.participant_updates == [(CONF, SID, True, None)]
    assert telephony.end_on_exit == [(CONF, talking_with_nina, False)]
    call = rt.store.call(SID)
    assert (call["consult_external"], call["consult_leg"]) == (
        "astreinte",
        added["sid"],
    )
    early = post(nina, f"/api/calls/{SID}/transfer/complete", headers=headers)
    assert early.get_json()["why"] == "not_joined"

    outside_leg_status(signed_post, telephony, "in-progress")
    assert rt.store.call(SID)["consult_state"] == "joined"
    joined = [e for e in told_nina(app) if e["type"] == "consult_joined"]
    assert joined
    assert joined[0]["specialist"] == "astreinte"
    done = post(nina, f"/api/calls/{SID}/transfer/complete", headers=headers)
    assert done.status_code == 200, done.get_json()
    call = rt.store.call(SID)
    assert (call["agent"], call["leg"], call["transferred_by"]) == (
        "external:astreinte",
        added["sid"],
        "nina",
    )
    assert telephony.end_on_exit[-1] == (CONF, added["sid"], True)
    assert telephony.participant_updates[-1] == (CONF, SID, False, None)
    assert telephony.ended == [talking_with_nina]
    assert rt.store.agents.get("nina")["state"] == "wrapup"

    # The call's outcome is Nina's: the hotline's part ended with her.
    given = post(
        nina,
        f"/api/calls/{SID}/outcome",
        json={"agent_id": "nina", "outcome": "escalated", "notes": "astreinte"},
        headers=headers,
    )
    assert given.status_code == 200, given.get_json()
    assert rt.store.agents.get("nina")["state"] == "available"
    outside_leg_status(signed_post, telephony, "completed")  # after: nothing
    signed_post("/voice/status", call_form(SID, CallStatus="completed"))
    engine = app.extensions["hotline"].engine
    drain_events(rt.redis, engine, rt.keys)
    with Session(engine) as db:
        row = db.get(Call, SID)
        assert row is not None
        assert (row.status, row.agent_id, row.outcome, row.transfers) == (
            "completed",
            "nina",
            "escalated",
            1,
        )
        segments = db.scalars(
            select(CallSegment)
            .where(CallSegment.call_sid == SID)
            .order_by(CallSegment.id)
        ).all()
        assert [(s.agent_id, s.end_reason) for s in segments] == [
            ("nina", "transferred"),
            ("external:astreinte", "completed"),
        ]


@pytest.mark.parametrize("status", ["no-answer", "busy", "completed"])
def test_an_engineer_who_does_not_take_it_leaves_the_caller_with_nina(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    talking_with_nina: str,
    status: str,
) -> None:
    rt = runtime(app)
    nina, headers = console_session(app, "nina")
    assert ask(nina, headers, on_call="astreinte").status_code == 202
    if status == "completed":  # answered, then hung up before the hand-over
        outside_leg_status(signed_post, telephony, "in-progress")
    outside_leg_status(signed_post, telephony, status)
    call = rt.store.call(SID)
    assert (call["agent"], call.get("consult", ""), call["hold"]) == ("nina", "", "0")
    assert telephony.participant_updates[-1] == (CONF, SID, False, None)
    assert telephony.end_on_exit[-1] == (CONF, talking_with_nina, True)
    ended = [e for e in told_nina(app) if e["type"] == "consult_ended"]
    reason = "specialist_left" if status == "completed" else status
    assert [(e["reason"], e["specialist"]) for e in ended] == [(reason, "astreinte")]


def test_an_external_transfer_that_cannot_be_is_refused_and_changes_nothing(
    app: Flask,
    telephony: RecordingTelephony,
    talking_with_nina: str,
) -> None:
    rt = runtime(app)
    nina, headers = console_session(app, "nina")
    before = rt.store.call(SID)

    def refused(client: FlaskClient, hdrs: dict[str, str], **body: object) -> int:
        answer = ask(client, hdrs, **body)
        assert "error" in answer.get_json(), answer.get_json()
        return int(answer.status_code)

    assert refused(nina, headers, on_call="nobody") == 400
    assert refused(nina, headers, on_call="astreinte", mode="cold") == 400
    assert refused(nina, headers, on_call="astreinte", queue="printer") == 400
    assert refused(nina, headers, number="06 12 00 00 01") == 400
    assert refused(nina, headers, number=ENGINEER) == 403  # the directory only
    assert refused(nina, headers, on_call="never") == 409  # outside its hours
    assert rt.store.call(SID) == before
    assert telephony.added == []
    # A supervisor may call any number in, for Nina's call.
    token = provision(app.extensions["hotline"].accounts, "sam", "supervisor")
    supervisor = bearer_client(app, token)
    answer = ask(supervisor, {}, number=ENGINEER, notes="fournisseur")
    assert answer.status_code == 202, answer.get_json()
    assert telephony.added[-1]["to"] == ENGINEER
    again = ask(nina, headers, on_call="astreinte")
    assert again.status_code == 409
    assert again.get_json()["why"] == "already_transferring"
