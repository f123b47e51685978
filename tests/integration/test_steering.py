"""Supervisors steer: a queue opened or closed by hand, with a reason, and
every control they use kept in the audit log."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine
from support import SignedPost, bearer_client, call_form, provision

from accounts.audit import Audited

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue


def _queues(api: FlaskClient) -> dict[str, dict[str, object]]:
    body = api.get("/api/queues").get_json()
    return {q["id"]: q for q in body["queues"]}


def test_a_queue_closed_by_hand_takes_no_new_caller_until_given_back(
    app: Flask, api: FlaskClient, signed_post: SignedPost
) -> None:
    store = app.extensions["hotline"].runtime.store
    assert _queues(api)["email"]["open"] is True
    closed = api.post(
        "/api/queues/email/override",
        json={"state": "closed", "reason": "Exchange en maintenance"},
    )
    assert closed.status_code == 200, closed.get_json()
    assert _queues(api)["email"] == {
        "id": "email",
        "open": False,
        "override": "closed",
        "scheduled_open": True,
    }
    signed_post("/voice/incoming", call_form("CAst1"))
    signed_post(EMAIL, call_form("CAst1", Digits="4"))
    assert store.call("CAst1").get("state") == "ivr"  # told, not queued
    assert "CAst1" not in store.waiting("email")
    # Given back to its hours: the next caller waits in it.
    back = api.post("/api/queues/email/override", json={"state": "schedule"})
    assert back.get_json() == {"id": "email", "override": None}
    signed_post("/voice/incoming", call_form("CAst2"))
    signed_post(EMAIL, call_form("CAst2", Digits="4"))
    assert "CAst2" in store.waiting("email")
    assert _queues(api)["email"]["override"] is None


def test_a_queue_override_needs_a_known_queue_a_state_and_a_reason(
    api: FlaskClient,
) -> None:
    refused = {
        "/api/queues/nope/override": ({"state": "closed", "reason": "x"}, 404),
        "/api/queues/email/override": ({"state": "shut", "reason": "x"}, 400),
    }
    for path, (body, status) in refused.items():
        response = api.post(path, json=body)
        assert response.status_code == status, (path, response.get_json())
    no_reason = api.post("/api/queues/email/override", json={"state": "open"})
    assert no_reason.status_code == 400
    assert "why" in no_reason.get_json()["error"]
    assert api.post("/api/queues/email/override", data="{").status_code == 400


def test_every_control_is_in_the_audit_log_with_before_and_after(
    app: Flask, api: FlaskClient
) -> None:
    audit = app.extensions["hotline"].audit
    start = audit.entries(limit=1)
    since = start[0].id if start else 0
    messages = {"fr-FR": "Panne de messagerie", "en-US": "Email outage"}
    assert api.post("/api/incident", json={"messages": messages}).status_code == 201
    api.post(
        "/api/queues/printer/override",
        json={"state": "open", "reason": "soirée d'inventaire"},
    )
    api.post("/api/queues/printer/override", json={"state": "schedule"})
    assert (
        api.post("/api/agents/nina/state", json={"state": "offline"}).status_code == 200
    )
    assert api.delete("/api/incident").status_code == 200
    entries = [
        e
        for e in api.get("/api/audit?limit=200").get_json()["entries"]
        if e["id"] > since
    ]
    assert [(e["action"], e["target"]) for e in entries] == [
        ("incident_resolved", "incident"),
        ("agent_state", "nina"),
        ("queue_override", "printer"),
        ("queue_override", "printer"),
        ("incident_published", "incident"),
    ]
    resolved, state, back, opened, published = entries
    assert published["after"]["messages"] == messages
    assert published["before"] is None
    assert resolved["before"]["id"] == published["after"]["id"]
    assert (opened["before"], opened["after"], opened["reason"]) == (
        {"override": None},
        {"override": "open"},
        "soirée d'inventaire",
    )
    assert (back["before"], back["after"]) == ({"override": "open"}, {"override": None})
    assert state["after"] == {"state": "offline"}
    assert {e["actor"] for e in entries} == {"sup-tests"}
    assert all(e["role"] == "supervisor" for e in entries)
    # Paged back from the second newest; one kind only.
    older = api.get(f"/api/audit?before={state['id']}&limit=2").get_json()["entries"]
    assert [e["id"] for e in older] == [back["id"], opened["id"]]
    only = api.get("/api/audit?action=agent_state&limit=200").get_json()["entries"]
    assert {e["action"] for e in only} == {"agent_state"}
    assert api.get("/api/audit?limit=many").status_code == 400


def test_a_hotliner_changing_their_own_state_is_not_a_control(app: Flask) -> None:
    audit = app.extensions["hotline"].audit
    token = provision(app.extensions["hotline"].accounts, "nina", "hotliner")
    nina = bearer_client(app, token)
    before = audit.entries(limit=1)
    assert (
        nina.post("/api/agents/nina/state", json={"state": "offline"}).status_code
        == 200
    )
    assert audit.entries(limit=1) == before


def test_a_control_used_while_the_audit_log_is_unreachable_is_kept_then_written(
    app: Flask, api: FlaskClient
) -> None:
    """The control has changed live state by the time it is audited: with
    SQL unreachable then, the entry waits in Redis, and the worker writes it
    with the time it was used (`AuditLog.write_kept`), once."""
    services = app.extensions["hotline"]
    audit, rt = services.audit, services.runtime
    reachable = audit.engine
    audit.engine = create_engine("sqlite:////no-such-folder/audit.sqlite3")
    try:
        closed = api.post(
            "/api/queues/printer/override",
            json={"state": "closed", "reason": "panne du serveur d'impression"},
        )
    finally:
        audit.engine.dispose()
        audit.engine = reachable
    assert closed.status_code == 200
    assert _queues(api)["printer"]["override"] == "closed"
    assert rt.redis.llen(rt.keys.audit_kept) == 1

    def written() -> list[Audited]:
        return [
            e
            for e in audit.entries(limit=200)
            if e.reason == "panne du serveur d'impression"
        ]

    assert written() == []
    rt.redis.set(rt.keys.audit_lock, "another worker")
    assert audit.write_kept() == 0  # another process is writing them
    rt.redis.delete(rt.keys.audit_lock)
    assert audit.write_kept() == 1
    assert audit.write_kept() == 0
    [entry] = written()
    assert (entry.actor_id, entry.action, entry.target) == (
        "sup-tests",
        "queue_override",
        "printer",
    )
    assert (entry.before, entry.after) == ({"override": None}, {"override": "closed"})
    assert rt.redis.llen(rt.keys.audit_kept) == 0
    assert not rt.redis.exists(rt.keys.audit_lock)
