"""The hotliner's console: its live feed, the offer's context, decline, the
outcome form's details, breaks and wrap-up, against a real Redis and SQL.

The feed is read as a browser reads it: a streamed `text/event-stream`
response, one message per event, resumed with `Last-Event-ID`.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.orm import Session
from support import (
    PASSWORD,
    RecordingTelephony,
    console_session,
    csrf_token,
    log_in,
    provision,
    round_the_clock,
)

from agents.lifecycle import AgentState
from calllog.models import Call
from queues import handoff
from queues.call_context import path_field, path_value
from queues.lifecycle import EventType
from queues.routing import memberships

TWO_HOTLINERS = round_the_clock(
    ("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là")
)
NUMBER = "+33612345678"
XSS = "<script>alert('hotline')</script>"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(
        TWO_HOTLINERS, accounts=("nina", "omar"), config={"CONSOLE_BLOCK_MS": 300}
    )


def _session(app: Flask, agent_id: str) -> tuple[FlaskClient, str]:
    client, headers = console_session(app, agent_id)
    return client, headers["X-CSRFToken"]


class Feed:
    """A console's event stream, read message by message."""

    def __init__(self, client: FlaskClient, last_id: str | None = None) -> None:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        self.response = client.get("/console/events", headers=headers, buffered=False)
        assert self.response.status_code == 200
        assert self.response.mimetype == "text/event-stream"
        self.chunks = iter(self.response.response)
        self.buffer = ""

    def next(self, tries: int = 20) -> tuple[str, dict[str, Any]]:
        """The next message with data: (id, data); keep-alives are skipped."""
        for _ in range(tries):
            while "\n\n" not in self.buffer:
                chunk = next(self.chunks)
                self.buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
            block, self.buffer = self.buffer.split("\n\n", 1)
            event_id, data = "", None
            for line in block.splitlines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if data is not None:
                return event_id, data
        raise AssertionError("no message")

    def until(self, kind: str) -> tuple[str, dict[str, Any]]:
        for _ in range(20):
            event_id, data = self.next()
            if data["type"] == kind:
                return event_id, data
        raise AssertionError(f"no {kind} message")

    def close(self) -> None:
        self.response.close()


def _available(app: Flask, *agent_ids: str) -> None:
    rt = app.extensions["hotline"].runtime
    for agent_id in agent_ids:
        rt.store.agents.set_state(
            agent_id,
            AgentState.AVAILABLE,
            memberships(rt.routing.hotliners[agent_id], rt.routing),
        )


def _caller_from_the_ivr(app: Flask, sid: str) -> None:
    """A caller who went through the menus, matched a fault, tried self-help."""
    rt = app.extensions["hotline"].runtime
    t0 = 1_700_000_000_000
    rt.store.start_call(sid, NUMBER, "+33180000000", "fr-FR")
    rt.store.note_facts(
        sid,
        EventType.IVR_NOTE,
        {
            path_field(t0): path_value("start", "key", "2"),
            path_field(t0 + 5000): path_value("printer", "said", XSS),
            "kb_fault": "printer-offline",
            "selfhelp_tried": "printer-offline:2",
            "incident_heard": "inc-42",
        },
    )
    rt.store.note_call(sid, EventType.IVR_CHOICE, ivr_choice="printer")
    assert rt.store.enqueue(sid, "printer", 2) == 1


def _earlier_call(app: Flask) -> None:
    with Session(app.extensions["hotline"].engine) as session:
        session.merge(
            Call(
                call_sid="CAearlier",
                from_number=NUMBER,
                agent_id="omar",
                status="completed",
                outcome="resolved",
                notes=XSS,
                offers=1,
                started_at=datetime.now(tz=UTC) - timedelta(days=2),
            )
        )
        session.commit()


def test_the_console_is_the_hotliners_page(app: Flask) -> None:
    anonymous = app.test_client()
    assert anonymous.get("/console").status_code == 302
    assert anonymous.get("/console/events").status_code == 401
    nina, _ = _session(app, "nina")
    page = nina.get("/console")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Console téléassistant" in html
    assert "Déjeuner" in html
    assert "Résolu par prise en main à distance" in html
    assert "<script>" not in html.split("</head>")[1]  # no inline script
    english = nina.get("/console?lang=en-US").get_data(as_text=True)
    assert "Hotliner console" in english
    assert "Lunch" in english
    provision(app.extensions["hotline"].accounts, "sup-console", "supervisor")
    sup = app.test_client()
    log_in(sup, "sup-console")
    assert sup.get("/console").status_code == 403
    assert sup.get("/console/events").status_code == 403
    # A hotliner logging in lands on the console.
    fresh = app.test_client()
    token = csrf_token(fresh.get("/login").get_data(as_text=True))
    landed = fresh.post(
        "/login",
        data={"username": "omar", "password": PASSWORD, "csrf_token": token},
    )
    assert landed.status_code == 302
    assert landed.headers["Location"] == "/console"
    # The site's root sends visitors to the login form, and each role home.
    assert anonymous.get("/").headers["Location"] == "/login"
    assert fresh.get("/").headers["Location"] == "/console"
    assert sup.get("/").headers["Location"] == "/supervisor"


def test_an_offer_reaches_the_console_with_the_callers_whole_context(
    app: Flask, telephony: RecordingTelephony
) -> None:
    nina, _ = _session(app, "nina")
    feed = Feed(nina)
    first_id, snapshot = feed.next()
    assert snapshot["type"] == "snapshot"
    assert snapshot["state"] == "offline"
    _earlier_call(app)
    _caller_from_the_ivr(app, "CActx")
    _available(app, "nina")
    rt = app.extensions["hotline"].runtime
    assert handoff.offer_waiting_callers(rt) == 1
    _, offer = feed.until("offer")
    ctx = offer["call"]
    assert offer["call_sid"] == "CActx"
    assert offer["expires"] > 0
    assert ctx["number"] == NUMBER
    assert ctx["name"] == "Jeanne Dupont — Comptabilité, Lyon"  # callers.yaml
    assert ctx["language"] == "fr-FR"
    assert ctx["queue"] == "printer"
    assert ctx["queue_name"]
    assert ctx["priority"] == 2
    assert [(s["node"], s["how"], s["what"]) for s in ctx["path"]] == [
        ("start", "key", "2"),
        ("printer", "said", XSS),
    ]
    assert ctx["kb_fault"]["id"] == "printer-offline"
    assert ctx["kb_fault"]["agent_steps"]
    assert ctx["self_help"]["fault"] == "printer-offline"
    assert len(ctx["self_help"]["steps_tried"]) == 2
    assert ctx["incident"] == "inc-42"
    assert ctx["waited_seconds"] >= 0
    previous = ctx["previous_calls"]
    assert [(p["call_sid"], p["agent_name"], p["outcome"]) for p in previous] == [
        ("CAearlier", "Omar Toujours-Là", "resolved")
    ]
    assert telephony.placed[-1]["to"] == "client:nina"
    feed.close()
    # A reconnect from the first id replays what followed, with no snapshot.
    again = Feed(nina, last_id=first_id)
    replay = [again.next()[1] for _ in range(2)]
    assert [m["type"] for m in replay] == ["state", "offer"]
    assert replay[0]["state"] == "available"
    assert replay[1]["offer_id"] == offer["offer_id"]
    again.close()
    # A second tab (a new connection) starts from a snapshot holding the offer.
    tab = Feed(nina)
    _, snap = tab.next()
    assert snap["type"] == "snapshot"
    assert snap["state"] == "reserved"
    assert snap["offer"]["offer_id"] == offer["offer_id"]
    tab.close()


def test_a_declined_offer_goes_to_the_next_hotliner_and_is_not_a_miss(
    app: Flask, telephony: RecordingTelephony
) -> None:
    rt = app.extensions["hotline"].runtime
    nina, nina_csrf = _session(app, "nina")
    omar, _ = _session(app, "omar")
    _available(app, "nina")
    _available(app, "omar")
    _caller_from_the_ivr(app, "CAdecl")
    assert handoff.offer_waiting_callers(rt) == 1
    first = rt.store.call("CAdecl")
    offered_to = first["agent"]
    client, token = (nina, nina_csrf) if offered_to == "nina" else _session(app, "omar")
    other = "omar" if offered_to == "nina" else "nina"
    offer_id = rt.store.agents.get(offered_to)["offer"]
    leg = telephony.placed[-1]["sid"]
    # Someone else's offer: refused.
    stranger = omar if offered_to == "nina" else nina
    stranger_token = csrf_token(stranger.get("/console").get_data(as_text=True))
    refused = stranger.post(
        f"/api/offers/{offer_id}/decline", headers={"X-CSRFToken": stranger_token}
    )
    assert refused.status_code == 403
    declined = client.post(
        f"/api/offers/{offer_id}/decline", headers={"X-CSRFToken": token}
    )
    assert declined.status_code == 200, declined.get_json()
    declined.close()  # the WSGI server's close runs what follows the answer
    assert leg in telephony.ended
    after = rt.store.call("CAdecl")
    assert after["state"] == "offered"
    assert after["agent"] == other
    me = rt.store.agents.get(offered_to)
    assert me["state"] == "available"
    assert me.get("missed", "0") == "0"
    reasons = [
        f.get(b"reason")
        for _, f in rt.redis.xrange(rt.keys.events)
        if f.get(b"type") == b"offer_rejected"
    ]
    assert reasons == [b"declined"]
    again = client.post(
        f"/api/offers/{offer_id}/decline", headers={"X-CSRFToken": token}
    )
    assert again.status_code == 404


def test_a_break_has_a_reason_from_the_list(app: Flask) -> None:
    nina, token = _session(app, "nina")
    headers = {"X-CSRFToken": token}
    _available(app, "nina")
    plain = nina.post(
        "/api/agents/nina/state", json={"state": "break"}, headers=headers
    )
    assert plain.status_code == 200, plain.get_json()
    rt = app.extensions["hotline"].runtime
    assert rt.store.agents.get("nina")["reason"] == "pause"  # the list's first
    _available(app, "nina")
    odd = nina.post(
        "/api/agents/nina/state",
        json={"state": "break", "reason": "sieste"},
        headers=headers,
    )
    assert odd.status_code == 400
    ok = nina.post(
        "/api/agents/nina/state",
        json={"state": "break", "reason": "lunch"},
        headers=headers,
    )
    assert ok.status_code == 200, ok.get_json()
    assert rt.store.agents.get("nina")["reason"] == "lunch"
    feed = Feed(nina)
    _, snap = feed.next()
    assert snap["state"] == "break"
    assert snap["reason"] == "lunch"
    feed.close()


def _talking(app: Flask, sid: str, agent_id: str, telephony: RecordingTelephony) -> str:
    """Bring a caller to `agent_id` through the real hand-off: the leg sid."""
    rt = app.extensions["hotline"].runtime
    _available(app, agent_id)
    _caller_from_the_ivr(app, sid)
    assert handoff.offer_waiting_callers(rt) == 1
    leg = telephony.placed[-1]["sid"]
    offer_id = rt.store.agents.get(agent_id)["offer"]
    assert handoff.hotliner_answered(rt, offer_id, leg) is not None
    assert rt.store.bridge(sid) == "talking"
    return leg


def test_the_outcome_form_records_the_fault_that_fixed_it(
    app: Flask, telephony: RecordingTelephony
) -> None:
    rt = app.extensions["hotline"].runtime
    nina, token = _session(app, "nina")
    headers = {"X-CSRFToken": token}
    leg = _talking(app, "CAfix", "nina", telephony)
    held = nina.post("/api/calls/CAfix/hold", json={"on": True}, headers=headers)
    assert held.status_code == 200, held.get_json()
    muted = nina.post("/api/calls/CAfix/mute", json={"on": True}, headers=headers)
    assert muted.status_code == 200
    assert telephony.participant_updates == [
        ("hotline-CAfix", "CAfix", True, None),
        ("hotline-CAfix", leg, None, True),
    ]
    assert (
        nina.post("/api/calls/CAfix/hold", json={"on": "yes"}, headers=headers)
    ).status_code == 400
    hung = nina.post("/api/calls/CAfix/hangup", headers=headers)
    assert hung.status_code == 200
    assert leg in telephony.ended
    # The hotliner's leg ended: wrap-up.
    handoff.carry_out(
        rt,
        handoff.hotliner_leg_ended(
            rt, rt.store.agents.get("nina")["offer"] or "gone", "nina", leg, "completed"
        ),
    )
    assert rt.store.agents.get("nina")["state"] == "wrapup"
    extended = nina.post("/api/agents/nina/wrapup/extend", headers=headers)
    assert extended.status_code == 200
    assert extended.get_json()["wrapup_until"] > 0
    twice = nina.post("/api/agents/nina/wrapup/extend", headers=headers)
    assert twice.status_code == 409
    bad = nina.post(
        "/api/calls/CAfix/outcome",
        json={"agent_id": "nina", "outcome": "resolved", "fixed_by": "no-such"},
        headers=headers,
    )
    assert bad.status_code == 400
    assert "fixed_by" in bad.get_json()["error"]
    unknown = nina.post(
        "/api/calls/CAfix/outcome",
        json={"agent_id": "nina", "outcome": "magic"},
        headers=headers,
    )
    assert unknown.status_code == 400
    before = rt.store.kb_fixes().get("printer-offline", 0)
    done = nina.post(
        "/api/calls/CAfix/outcome",
        json={
            "agent_id": "nina",
            "outcome": "remote_takeover",
            "notes": XSS,
            "fixed_by": "printer-offline",
            "remote": "TeamViewer 123 456 789",
            "steps": [0, 2],
        },
        headers=headers,
    )
    assert done.status_code == 200, done.get_json()
    assert rt.store.kb_fixes()["printer-offline"] == before + 1
    assert rt.store.agents.get("nina")["state"] == "available"
    outcome = [
        {k.decode(): v.decode() for k, v in f.items()}
        for _, f in rt.redis.xrange(rt.keys.events)
        if f.get(b"type") == b"outcome"
    ][-1]
    assert outcome["fixed_by"] == "printer-offline"
    assert outcome["remote"] == "TeamViewer 123 456 789"
    assert outcome["steps"] == "0,2"
    # Correcting the outcome moves the count, it does not add one.
    nina.post(
        "/api/calls/CAfix/outcome",
        json={"agent_id": "nina", "outcome": "resolved", "fixed_by": "printer-offline"},
        headers=headers,
    )
    assert rt.store.kb_fixes()["printer-offline"] == before + 1


def test_only_the_hotliner_on_the_call_controls_it(
    app: Flask, telephony: RecordingTelephony
) -> None:
    _talking(app, "CAmine", "nina", telephony)
    omar, token = _session(app, "omar")
    refused = omar.post(
        "/api/calls/CAmine/hold", json={"on": True}, headers={"X-CSRFToken": token}
    )
    assert refused.status_code == 403
    gone = omar.post("/api/calls/CAnone/hangup", headers={"X-CSRFToken": token})
    assert gone.status_code == 404


def test_the_kb_search_and_my_day(app: Flask) -> None:
    nina, _ = _session(app, "nina")
    found = nina.get("/console/kb?q=imprimante hors ligne").get_json()
    assert found["faults"]
    assert found["faults"][0]["agent_steps"]
    assert nina.get("/console/kb?q=").get_json()["faults"] == []
    with Session(app.extensions["hotline"].engine) as session:
        now = datetime.now(tz=UTC)
        # Today in Paris, whatever the hour the test runs (just after the
        # local midnight, five minutes ago was yesterday).
        paris = now.astimezone(ZoneInfo("Europe/Paris"))
        midnight = paris.replace(hour=0, minute=0, second=0, microsecond=0)
        session.merge(
            Call(
                call_sid="CAday1",
                from_number=NUMBER,
                agent_id="nina",
                status="completed",
                outcome="outcome_missing",
                offers=1,
                started_at=max(now - timedelta(minutes=5), midnight),
                talk_seconds=120.0,
            )
        )
        session.commit()
    day = nina.get("/console/day").get_json()
    assert day["handled"] >= 1
    assert day["average_handle_seconds"] is not None
    assert "CAday1" in [c["call_sid"] for c in day["to_complete"]]
    omar, _ = _session(app, "omar")
    assert "CAday1" not in [
        c["call_sid"] for c in omar.get("/console/day").get_json()["to_complete"]
    ]


def test_a_queue_may_have_its_own_wrapup_time(
    app: Flask, telephony: RecordingTelephony
) -> None:
    rt = app.extensions["hotline"].runtime
    rt.redis.hset(rt.keys.wrapup_times, "printer", 123_000)
    leg = _talking(app, "CAwrap", "nina", telephony)
    handoff.carry_out(
        rt, handoff.hotliner_leg_ended(rt, "gone", "nina", leg, "completed")
    )
    agent = rt.store.agents.get("nina")
    assert agent["state"] == "wrapup"
    due = rt.redis.zscore(rt.keys.timers, "wrapup:nina")
    assert due is not None
    assert int(due) - int(agent["state_since"]) == 123_000
    # The hotline's own default, for a queue without one.
    rt.redis.delete(rt.keys.wrapup_times)
    rt.store.record_outcome("CAwrap", "nina", "resolved", "")
    leg = _talking(app, "CAwrap2", "nina", telephony)
    handoff.carry_out(
        rt, handoff.hotliner_leg_ended(rt, "gone", "nina", leg, "completed")
    )
    agent = rt.store.agents.get("nina")
    due = rt.redis.zscore(rt.keys.timers, "wrapup:nina")
    assert due is not None
    assert int(due) - int(agent["state_since"]) == (
        rt.routing.hotline.wrapup_seconds * 1000
    )


def test_the_softphone_token_names_the_hotliner_and_allows_incoming_calls(
    app: Flask,
) -> None:
    nina, _ = _session(app, "nina")
    refused = nina.get("/console/token")  # real Twilio, but no API key set
    assert refused.status_code == 503
    assert "TWILIO_API_KEY" in refused.get_json()["error"]
    rt = app.extensions["hotline"].runtime
    rt.settings = replace(
        rt.settings, twilio_api_key="SK" + "1" * 32, twilio_api_secret="s" * 32
    )
    answer = nina.get("/console/token").get_json()
    settings = rt.settings
    claims = jwt.decode(
        answer["token"], settings.twilio_api_secret, algorithms=["HS256"]
    )
    assert claims["sub"] == settings.twilio_account_sid
    assert claims["iss"] == settings.twilio_api_key
    assert claims["grants"]["identity"] == "nina"
    assert claims["grants"]["voice"]["incoming"]["allow"] is True
    assert claims["exp"] - claims["nbf"] == answer["ttl"]
    assert app.test_client().get("/console/token").status_code == 401


def test_the_feed_ends_cleanly_when_redis_is_unreachable(app: Flask) -> None:
    from web.console_feed import ConsoleFeed, follow

    svc = app.extensions["hotline"]
    feed = ConsoleFeed(svc.runtime, svc.current(), lambda _n, _x: [], "fr-FR")
    dead = redis.Redis.from_url(
        "redis://127.0.0.1:1/0", socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0)
    )
    body = list(follow(feed, dead, "nina", None, block_ms=100))
    assert body[0].startswith("retry: ")
    assert body[-1].startswith(": live state unreachable")
    assert len(body) == 2  # the browser reconnects by itself and resumes


def test_a_call_whose_wrapup_ran_out_can_still_get_its_outcome(
    app: Flask, telephony: RecordingTelephony
) -> None:
    rt = app.extensions["hotline"].runtime
    nina, token = _session(app, "nina")
    leg = _talking(app, "CAlate", "nina", telephony)
    handoff.carry_out(
        rt, handoff.hotliner_leg_ended(rt, "gone", "nina", leg, "completed")
    )
    assert rt.store.agents.end_wrapup_now("nina")  # the wrap-up timer fired
    assert rt.store.agents.get("nina")["state"] == "available"
    timed_out = [
        {k.decode(): v.decode() for k, v in f.items()}
        for _, f in rt.redis.xrange(rt.keys.events)
        if f.get(b"type") == b"agent_state" and f.get(b"call") == b"CAlate"
    ][-1]
    assert timed_out["reason"] == "wrapup_timeout"
    late = nina.post(
        "/api/calls/CAlate/outcome",
        json={"agent_id": "nina", "outcome": "escalated", "notes": "N2 prévenu"},
        headers={"X-CSRFToken": token},
    )
    assert late.status_code == 200, late.get_json()
    assert rt.store.agents.get("nina")["state"] == "available"
