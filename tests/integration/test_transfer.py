"""Cold transfer to another queue, over the real webhooks and the console API.

Nina talks with a caller from the email queue and passes them on to the
printer queue with her notes: the caller hears that they are transferred and
holds in the printer queue with their first entry time and a raised priority,
Nina's part is over (wrap-up, her leg hung up), Omar is offered the caller and
reads Nina's notes in the call's context. A real Redis, the call log in SQL,
`RecordingTelephony` in place of the carrier's REST API.
"""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from sqlalchemy import select
from sqlalchemy.orm import Session
from support import (
    RecordingTelephony,
    SignedPost,
    call_form,
    console_session,
    round_the_clock,
    spoken,
    twiml,
    verbs,
)
from werkzeug.test import TestResponse

from agents.lifecycle import AgentState
from calllog.models import Call, CallSegment
from calllog.writer import drain_events
from queues import handoff
from queues.call_context import call_context
from queues.routing import memberships
from queues.runtime import Runtime

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
NOTES = "<script>alert('l1')</script> imprimante réseau HP, pilote réinstallé"
SID = "CAtransfer1"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(
        round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là")),
        accounts=("nina", "omar"),
    )


def runtime(app: Flask) -> Runtime:
    return app.extensions["hotline"].runtime  # type: ignore[no-any-return]


def set_state(app: Flask, agent_id: str, state: AgentState) -> None:
    rt = runtime(app)
    hotliner = rt.routing.hotliners[agent_id]  # type: ignore[index]
    done, _ = rt.store.agents.set_state(
        agent_id, state, memberships(hotliner, rt.routing)
    )
    assert done


def post(client: FlaskClient, path: str, **kwargs: object) -> TestResponse:
    """POST and close the answer, as a WSGI server does: what the view left
    to do after its answer (moves at the carrier, offers) runs then."""
    response = client.post(path, **kwargs)  # type: ignore[arg-type]
    response.get_data()
    response.close()
    return response


def answer_and_talk(
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    leg_index: int,
    sid: str = SID,
) -> str:
    """The hotliner picks up leg `leg_index` (0-based); the caller `sid` is
    brought in. Returns the hotliner's leg sid."""
    leg = telephony.placed[leg_index]
    root = twiml(
        signed_post(
            leg["url"].removeprefix("https://hotline.test"),
            call_form(leg["sid"], Direction="outbound-api"),
        ).data
    )
    assert "Dial" in verbs(root)
    connect = telephony.redirects[-1][1].removeprefix("https://hotline.test")
    root = twiml(signed_post(connect, call_form(sid)).data)
    assert "Conference" in [el.tag for el in root.iter()]
    return str(leg["sid"])


@pytest.fixture
def talking_with_nina(
    app: Flask, signed_post: SignedPost, telephony: RecordingTelephony
) -> str:
    """A caller of the email queue talking with Nina; Omar on a break."""
    return talk_with_nina(app, signed_post, telephony, SID)


def talk_with_nina(
    app: Flask, signed_post: SignedPost, telephony: RecordingTelephony, sid: str
) -> str:
    """Caller `sid` of the email queue talking with Nina; Omar on a break.
    (Each test module its own sid: the SQL call log is shared.)"""
    set_state(app, "omar", AgentState.AVAILABLE)
    set_state(app, "omar", AgentState.BREAK)
    set_state(app, "nina", AgentState.AVAILABLE)
    signed_post("/voice/incoming", call_form(sid))
    root = twiml(signed_post(EMAIL, call_form(sid, Digits="4")).data)
    assert verbs(root)[-1] == "Enqueue"
    assert [leg["to"] for leg in telephony.placed] == ["client:nina"]
    leg = answer_and_talk(signed_post, telephony, 0, sid)
    assert runtime(app).store.call(sid)["state"] == "talking"
    return leg


def test_a_cold_transfer_keeps_the_callers_place_and_hands_the_notes_on(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    talking_with_nina: str,
) -> None:
    rt = runtime(app)
    before = rt.store.call(SID)
    nina, headers = console_session(app, "nina")
    # A moment on hold first: timed in her segment of the call.
    for on in (True, False):
        held = post(nina, f"/api/calls/{SID}/hold", json={"on": on}, headers=headers)
        assert held.status_code == 200, held.get_json()
        time.sleep(0.05)
    redirects = len(telephony.redirects)
    moved = post(
        nina,
        f"/api/calls/{SID}/transfer",
        json={"queue": "printer", "notes": NOTES, "steps": ["Pilote réinstallé"]},
        headers=headers,
    )
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json() == {
        "call_sid": SID,
        "mode": "cold",
        "queue": "printer",
        "priority": int(before["priority"]) + 1,
        "agent_state": "wrapup",
    }
    call = rt.store.call(SID)
    assert (call["state"], call["queue"], call["agent"]) == ("queued", "printer", "")
    assert call["first_queued"] == before["first_queued"]  # their place is kept
    assert rt.store.position("printer", SID) == 1
    assert rt.store.agents.get("nina")["state"] == "wrapup"
    # The caller is moved out of the conference, then Nina's leg is hung up.
    assert telephony.redirects[redirects:] == [
        (
            SID,
            f"https://hotline.test/voice/caller/transferred?call={SID}"
            "&queue=printer&lang=fr-FR",
        )
    ]
    assert telephony.ended == [talking_with_nina]
    root = twiml(
        signed_post(
            "/voice/caller/transferred?call=CAtransfer1&queue=printer&lang=fr-FR",
            call_form(SID),
        ).data
    )
    assert verbs(root)[-1] == "Enqueue"
    assert root.find("Enqueue") is not None
    assert root.find("Enqueue").text == "printer"  # type: ignore[union-attr]
    assert "transfère au service imprimantes" in spoken(root)

    # Omar is back from his break: the caller is offered to him, with the notes.
    omar, omar_headers = console_session(app, "omar")
    back = post(
        omar,
        "/api/agents/omar/state",
        json={"state": "available"},
        headers=omar_headers,
    )
    assert back.status_code == 200, back.get_json()
    assert [leg["to"] for leg in telephony.placed] == ["client:nina", "client:omar"]
    answer_and_talk(signed_post, telephony, 1)
    context = omar.get(f"/console/calls/{SID}").get_json()
    assert context["transfer"] == {
        "by": "nina",
        "by_name": "Nina Nuit-et-Jour",
        "notes": NOTES,
        "count": 1,
        "steps": ["Pilote réinstallé"],
    }
    assert context["queue"] == "printer"

    # Nina gives the outcome of her part; the call's stays Omar's to give.
    done = post(
        nina,
        f"/api/calls/{SID}/outcome",
        json={"agent_id": "nina", "outcome": "escalated", "notes": NOTES},
        headers=headers,
    )
    assert done.status_code == 200, done.get_json()
    assert rt.store.agents.get("nina")["state"] == "available"
    assert rt.store.call(SID).get("outcome", "") == ""
    signed_post("/voice/status", call_form(SID, CallStatus="completed"))
    finished = post(
        omar,
        f"/api/calls/{SID}/outcome",
        json={"agent_id": "omar", "outcome": "resolved"},
        headers=omar_headers,
    )
    assert finished.status_code == 200, finished.get_json()

    engine = app.extensions["hotline"].engine
    drain_events(rt.redis, engine, rt.keys)
    with Session(engine) as db:
        row = db.get(Call, SID)
        assert row is not None
        assert (row.queue, row.transfers, row.agent_id, row.outcome) == (
            "printer",
            1,
            "omar",
            "resolved",
        )
        assert row.status == "completed"
        segments = db.scalars(
            select(CallSegment)
            .where(CallSegment.call_sid == SID)
            .order_by(CallSegment.id)
        ).all()
        assert [(s.agent_id, s.end_reason) for s in segments] == [
            ("nina", "transferred"),
            ("omar", "completed"),
        ]
        assert segments[0].hold_seconds >= 0.05
        assert segments[0].on_hold_since is None


def test_a_transfer_that_cannot_be_is_refused_and_changes_nothing(
    app: Flask, telephony: RecordingTelephony, talking_with_nina: str
) -> None:
    rt = runtime(app)
    nina, headers = console_session(app, "nina")
    omar, omar_headers = console_session(app, "omar")
    before = rt.store.call(SID)

    def refused(client: FlaskClient, body: object, hdrs: dict[str, str]) -> int:
        answer = post(client, f"/api/calls/{SID}/transfer", json=body, headers=hdrs)
        assert "error" in answer.get_json()
        return answer.status_code

    assert refused(nina, {"queue": "nowhere"}, headers) == 400
    assert refused(nina, {"queue": "email"}, headers) == 400  # already there
    assert refused(nina, {"queue": "printer", "notes": 42}, headers) == 400
    assert refused(nina, {"queue": "printer", "notes": "x" * 4001}, headers) == 400
    assert refused(nina, {"queue": "printer", "steps": "ping"}, headers) == 400
    assert refused(nina, {"queue": "printer", "steps": [""]}, headers) == 400
    assert refused(nina, {"queue": "printer", "steps": ["x"] * 31}, headers) == 400
    assert refused(omar, {"queue": "printer"}, omar_headers) == 403  # not his
    no_csrf = nina.post(f"/api/calls/{SID}/transfer", json={"queue": "printer"})
    assert no_csrf.status_code == 400
    assert rt.store.call(SID) == before
    assert telephony.ended == []
    assert rt.store.agents.get("nina")["state"] == "busy"

    # Twice at once: the first wins, the second finds nothing to transfer.
    first = post(
        nina, f"/api/calls/{SID}/transfer", json={"queue": "printer"}, headers=headers
    )
    assert first.status_code == 200
    assert refused(nina, {"queue": "network"}, headers) == 409
    assert rt.store.call(SID)["queue"] == "printer"
    # A call that has ended cannot be transferred either.
    rt.store.hang_up(SID, "completed")
    assert refused(nina, {"queue": "network"}, headers) == 409
    unknown = nina.post(
        "/api/calls/CAnobody/transfer", json={"queue": "printer"}, headers=headers
    )
    assert unknown.status_code == 404


def test_a_caller_whose_move_out_failed_is_never_left_in_an_ending_conference(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    talking_with_nina: str,
) -> None:
    """The carrier refuses the redirect: Nina's leg is left up (the caller
    stays with her), and if the conference ends anyway the caller holds in
    the new queue instead of hearing goodbye."""
    rt = runtime(app)

    def refuse(call_sid: str, url: str) -> None:
        raise handoff.TelephonyError("carrier down")

    telephony.redirect = refuse  # type: ignore[method-assign]
    result, todo = handoff.transfer_to_queue(rt, SID, "nina", "network", "")
    handoff.carry_out(rt, todo)
    assert telephony.ended == []
    root = twiml(
        signed_post(f"/voice/caller/after?call={SID}&lang=fr-FR", call_form(SID)).data
    )
    assert verbs(root)[-1] == "Enqueue"
    assert root.find("Enqueue").text == "network"  # type: ignore[union-attr]


def test_a_level2_callback_is_scheduled_with_the_context_and_queued_when_due(
    app: Flask, talking_with_nina: str
) -> None:
    rt = runtime(app)
    nina, headers = console_session(app, "nina")
    omar, omar_headers = console_session(app, "omar")
    due = rt.store.clock() + 60_000

    def ask(
        client: FlaskClient, body: object, hdrs: dict[str, str], sid: str = SID
    ) -> TestResponse:
        return post(client, f"/api/calls/{sid}/callback", json=body, headers=hdrs)

    for bad in (
        {"queue": "nowhere", "at": due},
        {"queue": "network", "at": "demain"},
        {"queue": "network", "at": True},
        {"queue": "network", "at": rt.store.clock() - 1000},  # past
        {"queue": "network", "at": rt.store.clock() + 15 * 86_400_000},  # too far
        {"queue": "network", "at": due, "notes": ["x"]},
    ):
        answer = ask(nina, bad, headers)
        assert answer.status_code == 400, (bad, answer.get_json())
        assert "error" in answer.get_json()
    assert ask(omar, {"queue": "network", "at": due}, omar_headers).status_code == 403
    missing = ask(nina, {"queue": "network", "at": due}, headers, "CAnobody")
    assert missing.status_code == 404

    made = ask(nina, {"queue": "network", "at": due, "notes": NOTES}, headers)
    assert made.status_code == 201, made.get_json()
    sid = made.get_json()["callback_sid"]
    followed = rt.store.call(SID)
    call = rt.store.call(sid)
    assert (call["state"], call["callback"], call["previous_call"]) == (
        "scheduled",
        "1",
        SID,
    )
    assert call["callback_number"] == followed["from"]
    assert (call["transferred_by"], call["transfer_notes"]) == ("nina", NOTES)
    # The context packet: what the caller told the voice menu comes along.
    path = {k: v for k, v in followed.items() if k.startswith("path:")}
    assert path
    assert {k: v for k, v in call.items() if k.startswith("path:")} == path
    assert call["ivr_choice"] == followed["ivr_choice"]
    shown = call_context(
        call, rt.routing, app.extensions["hotline"].current().kb, "fr-FR", 0
    )
    assert shown.scheduled
    assert shown.callback
    assert shown.transfer is not None
    assert (shown.transfer.by_name, shown.transfer.notes) == (
        "Nina Nuit-et-Jour",
        NOTES,
    )
    assert rt.store.position("network", sid) is None  # not before it is due
    todo = handoff.fire_timer(rt, f"due:{sid}")
    assert todo.dispatch
    assert rt.store.call(sid)["state"] == "queued"
    assert rt.store.position("network", sid) == 1
    assert handoff.fire_timer(rt, f"due:{sid}") == handoff.NOTHING  # once only
