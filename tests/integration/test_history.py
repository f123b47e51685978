"""History for supervisors: a call's timeline and the searchable call list.

A real call over the webhooks and the console API (Nina answers a caller of
the email queue, puts them on hold, they hang up, she posts the outcome with
notes), written to SQL by the call-log writer; then the supervisor finds it
in the call list by the words of the notes and by its known fault, and reads
its timeline, step by step in order with durations, as JSON and as a page.
"""

from __future__ import annotations

import time
from datetime import date

import pytest
from flask import Flask
from integration.conftest import AppFactory
from integration.test_transfer import post, runtime, talk_with_nina
from support import (
    RecordingTelephony,
    SignedPost,
    bearer_client,
    call_form,
    caller_number,
    console_session,
    log_in,
    provision,
    round_the_clock,
)

from calllog.call_list import mask_number
from calllog.writer import drain_events


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(
        round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là")),
        accounts=("nina", "omar"),
    )


SID = "CAhistory1"


@pytest.fixture
def talking_with_nina(
    app: Flask, signed_post: SignedPost, telephony: RecordingTelephony
) -> str:
    return talk_with_nina(app, signed_post, telephony, SID)


NOTES = "Pilote <b>HP</b> réinstallé, file d'impression vidée zorglub"


def finished_call(app: Flask, signed_post: SignedPost) -> None:
    """The caller held, then hung up; Nina's outcome; the log written."""
    rt = runtime(app)
    nina, headers = console_session(app, "nina")
    for on in (True, False):
        assert (
            post(
                nina, f"/api/calls/{SID}/hold", json={"on": on}, headers=headers
            ).status_code
            == 200
        )
        time.sleep(0.05)
    signed_post("/voice/status", call_form(SID, CallStatus="completed"))
    done = post(
        nina,
        f"/api/calls/{SID}/outcome",
        json={
            "agent_id": "nina",
            "outcome": "resolved",
            "notes": NOTES,
            "fixed_by": "printer-offline",
        },
        headers=headers,
    )
    assert done.status_code == 200, done.get_json()
    drain_events(rt.redis, app.extensions["hotline"].engine, rt.keys)


def test_a_calls_timeline_has_every_step_in_order_with_durations(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    talking_with_nina: str,
) -> None:
    finished_call(app, signed_post)
    token = provision(app.extensions["hotline"].accounts, "sup-history", "supervisor")
    sup = bearer_client(app, token)

    answer = sup.get(f"/api/calls/{SID}/timeline")
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    types = [s["type"] for s in body["steps"]]
    # The life of the call, in the order it happened.
    order = [
        "call_started",
        "ivr_choice",
        "enqueued",
        "offered",
        "accepted",
        "talking",
        "hold",
        "hold",
        "call_ended",
        "outcome",
    ]
    positions = [types.index(t) for t in order[:6]]
    assert positions == sorted(positions), types
    assert types.count("hold") == 2
    assert types.index("call_ended") < types.index("outcome"), types
    assert "agent_state" not in types  # Nina's day is not the call's
    offsets = [s["offset_seconds"] for s in body["steps"]]
    assert offsets == sorted(offsets)
    assert offsets[0] >= 0
    # Each step lasted until the next; the last has no end.
    for step, following in zip(body["steps"], body["steps"][1:], strict=False):
        assert (
            step["lasted_seconds"]
            == round(following["offset_seconds"] - step["offset_seconds"], 3)
            or abs(
                step["lasted_seconds"]
                - (following["offset_seconds"] - step["offset_seconds"])
            )
            < 0.002
        )
    assert body["steps"][-1]["lasted_seconds"] is None
    held = [s for s in body["steps"] if s["type"] == "hold"]
    assert held[0]["lasted_seconds"] >= 0.05  # the caller was on hold that long
    choice = next(s for s in body["steps"] if s["type"] == "ivr_choice")
    assert choice["facts"]["ivr_choice"] == "file_messagerie"  # the menu leaf
    outcome = next(s for s in body["steps"] if s["type"] == "outcome")
    assert outcome["agent_id"] == "nina"
    assert outcome["facts"]["outcome"] == "resolved"
    # The row, numbers masked for a supervisor; Nina's segment with its hold.
    assert body["call"]["number"] == mask_number(caller_number(SID))
    assert body["call"]["fixed_by"] == "printer-offline"
    assert [s["agent_id"] for s in body["segments"]] == ["nina"]
    assert body["segments"][0]["hold_seconds"] >= 0.05
    assert sup.get("/api/calls/CAnothing/timeline").status_code == 404

    # An admin reads the number itself.
    admin_token = provision(app.extensions["hotline"].accounts, "adm-history", "admin")
    admin = bearer_client(app, admin_token).get(f"/api/calls/{SID}/timeline")
    assert admin.get_json()["call"]["number"] == caller_number(SID)

    # The page: the same steps, the notes as text, no markup of theirs.
    page_client = app.test_client()
    log_in(page_client, "sup-history")
    page = page_client.get(f"/supervisor/calls/{SID}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="step step-') == len(types)
    assert "Pilote &lt;b&gt;HP&lt;/b&gt;" in html
    assert "<b>HP</b>" not in html
    assert mask_number(caller_number(SID)) in html
    assert caller_number(SID) not in html
    english = page_client.get(f"/supervisor/calls/{SID}?lang=en-US")
    assert "Offered to a hotliner" in english.get_data(as_text=True)
    assert page_client.get("/supervisor/calls/CAnothing").status_code == 404


def test_the_call_list_finds_a_call_by_notes_fault_and_number(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    talking_with_nina: str,
) -> None:
    finished_call(app, signed_post)
    token = provision(app.extensions["hotline"].accounts, "sup-list", "supervisor")
    sup = bearer_client(app, token)
    today = date.today()
    period = f"from={today.replace(day=1) if today.day > 1 else today}&to=2099-12-31"

    def found(query: str) -> list[str]:
        answer = sup.get(f"/api/calls?{period}&{query}")
        assert answer.status_code == 200, answer.get_json()
        return [c["call_sid"] for c in answer.get_json()["calls"]]

    assert found("words=ZORGLUB") == [SID]  # any case, in the notes
    assert found("words=zorglub&queue=email&agent=nina") == [SID]
    assert found("words=zorglub&queue=printer") == []
    assert SID in found("fault=printer-offline&agent=nina")
    assert found(f"number=%2B{caller_number(SID)[1:]}") == [SID]
    assert found("words=100%25") == []  # a % is a character, not a wildcard

    # The page: the filters kept, the call linked to its timeline.
    page_client = app.test_client()
    log_in(page_client, "sup-list")
    page = page_client.get(f"/supervisor/calls?{period}&words=zorglub")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"/supervisor/calls/{SID}" in html
    assert 'value="zorglub"' in html
    assert "/api/calls.csv?" in html
    assert "words=zorglub" in html
    bad = page_client.get("/supervisor/calls?from=yesterday")
    assert bad.status_code == 200
    assert "from must be a day" in bad.get_data(as_text=True)
    assert sup.get("/api/calls?from=yesterday&to=2026-01-01").status_code == 400
