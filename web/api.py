"""The agent console's JSON API: state changes, current call, call outcome.

Every route needs an account (a session or an API token, `web.auth`): a
hotliner acts only as themself, supervisors for everyone, and the incident
message is theirs alone. Bodies that are not a JSON object, or hold values of
the wrong type, get 400 with the reason. Ids are checked against the
configuration and every change goes through one atomic store operation.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from accounts.roles import may_act_for
from agents.lifecycle import AgentState
from agents.shifts import is_on_shift
from core.clock import utcnow
from ivr.incident import Incident
from queues import handoff, jobs, routing
from queues.outage import Unreachable
from web import services
from web.auth import api_account, api_login_required, require_steering
from web.effects import after_response

bp = Blueprint("api", __name__, url_prefix="/api")

OUTCOMES = ("resolved", "remote_takeover", "escalated", "callback")
MAX_NOTES = 4000


def _error(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify({"error": message, **extra}), status


class BadBody(Exception):
    """The request body is not the JSON object the route expects."""


def _json_body() -> dict[str, Any]:
    """The body as a JSON object; `BadBody` (400 with the reason) otherwise."""
    if not request.is_json:
        raise BadBody("send a JSON object (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError) as exc:
        raise BadBody(f"malformed JSON: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise BadBody("expected a JSON object")
    return body


@bp.errorhandler(BadBody)
def _bad_body(exc: BadBody) -> ResponseReturnValue:
    return _error(400, str(exc))


def _may_act_for(agent_id: str) -> bool:
    account = api_account()
    return account is not None and may_act_for(account.role, account.id, agent_id)


@bp.get("/agents/<agent_id>")
@api_login_required
def agent(agent_id: str) -> ResponseReturnValue:
    if not _may_act_for(agent_id):
        return _error(403, "a hotliner sees only their own state")
    rt = services().runtime
    hotliner = rt.routing.hotliner(agent_id)
    if hotliner is None:
        return _error(404, f"unknown hotliner {agent_id!r}")
    live = rt.store.agents.get(agent_id)
    return jsonify(
        {
            "id": hotliner.id,
            "name": hotliner.name,
            "state": live.get("state", "offline"),
            "state_since": int(live["state_since"])
            if live.get("state_since")
            else None,
            "call_sid": live.get("call_sid") or None,
            "skills": hotliner.skills,
        }
    )


@bp.post("/agents/<agent_id>/state")
@api_login_required
def set_state(agent_id: str) -> ResponseReturnValue:
    if not _may_act_for(agent_id):
        return _error(403, "a hotliner changes only their own state")
    rt = services().runtime
    hotliner = rt.routing.hotliner(agent_id)
    if hotliner is None:
        return _error(404, f"unknown hotliner {agent_id!r}")
    wanted = _json_body().get("state")
    allowed = ("available", "break", "offline")
    if wanted not in allowed:
        return _error(400, f"state must be one of {', '.join(allowed)}")
    tz = rt.routing.hotline.timezone
    if wanted == "available" and not is_on_shift(hotliner.shifts, utcnow(), tz):
        return _error(
            409,
            f"{hotliner.name} is not on shift now; a supervisor "
            "changes the roster in hotliners.yaml",
            state="off_shift",
        )
    ok, current = rt.store.agents.set_state(
        agent_id,
        AgentState(wanted),
        routing.memberships(hotliner, rt.routing),
        rt.routing.hotline.strategy,
    )
    if not ok:
        return _error(409, f"cannot go {wanted} while {current}", state=current)
    if wanted == "available":
        after_response(rt, handoff.Next(dispatch=True))
    return jsonify({"id": agent_id, "state": current})


@bp.post("/calls/<call_sid>/outcome")
@api_login_required
def outcome(call_sid: str) -> ResponseReturnValue:
    rt = services().runtime
    body = _json_body()
    agent_id = body.get("agent_id")
    result = body.get("outcome")
    notes = body.get("notes", "") or ""
    if not isinstance(agent_id, str) or rt.routing.hotliner(agent_id) is None:
        return _error(400, "agent_id must name a configured hotliner")
    if not _may_act_for(agent_id):
        return _error(403, "a hotliner records only their own calls' outcomes")
    if result not in OUTCOMES:
        return _error(400, f"outcome must be one of {', '.join(OUTCOMES)}")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        return _error(400, f"notes must be text of at most {MAX_NOTES} characters")
    live = services().live
    try:
        recorded, todo = live.call(
            lambda: handoff.outcome_posted(rt, call_sid, agent_id, result, notes)
        )
    except Unreachable:
        # Nothing the hotliner typed is lost: recorded once Redis is back.
        live.journal("outcome", call_sid, agent_id, result, notes)
        body = {"call_sid": call_sid, "outcome": result, "journaled": True}
        return jsonify(body), 202
    if not recorded:
        return _error(409, "this hotliner is not handling that call")
    after_response(rt, todo)
    return jsonify({"call_sid": call_sid, "outcome": result})


def _incident_json(incident: Incident | None) -> dict[str, Any]:
    if incident is None:
        return {"incident": None}
    return {
        "incident": {
            "id": incident.id,
            "messages": incident.messages,
            "since": incident.since_ms,
            "confirmations": incident.confirmations,
        }
    }


@bp.get("/incident")
@require_steering
def current_incident() -> ResponseReturnValue:
    return jsonify(_incident_json(services().incidents.current()))


@bp.post("/incident")
@require_steering
def publish_incident() -> ResponseReturnValue:
    """A supervisor announces a major incident every caller hears first."""
    rt = services().runtime
    messages = _json_body().get("messages")
    languages = rt.routing.hotline.languages
    if (
        not isinstance(messages, dict)
        or set(messages) != set(languages)
        or not all(isinstance(t, str) and t.strip() for t in messages.values())
    ):
        return _error(
            400,
            "messages must map each of " + ", ".join(languages) + " to a text",
        )
    if any(len(text) > 500 for text in messages.values()):
        return _error(400, "each message must be at most 500 characters")
    incident = services().incidents.publish(
        {lang: messages[lang].strip() for lang in languages}
    )
    return jsonify(_incident_json(incident)), 201


@bp.delete("/incident")
@require_steering
def resolve_incident() -> ResponseReturnValue:
    """The incident is over: callers who confirmed it get an SMS."""
    rt = services().runtime
    incident, numbers = services().incidents.resolve()
    if incident is None:
        return _error(404, "no incident is announced")
    for number in numbers:
        rt.jobs.enqueue(jobs.send_sms, number, "incident_sms")
    return jsonify({"resolved": incident.id, "texted": len(numbers)})
