"""The agent console's JSON API: state changes, current call, call outcome.

No login yet (a later issue adds authentication); ids are checked against the
configuration and every change goes through one atomic store operation.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from agents.lifecycle import AgentState
from agents.shifts import is_on_shift
from core.clock import utcnow
from ivr.incident import Incident
from queues import handoff, jobs, routing
from queues.outage import Unreachable
from web import services
from web.effects import after_response

bp = Blueprint("api", __name__, url_prefix="/api")

OUTCOMES = ("resolved", "remote_takeover", "escalated", "callback")
MAX_NOTES = 4000


def _error(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify({"error": message, **extra}), status


def _json_body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.get("/agents/<agent_id>")
def agent(agent_id: str) -> ResponseReturnValue:
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
def set_state(agent_id: str) -> ResponseReturnValue:
    rt = services().runtime
    hotliner = rt.routing.hotliner(agent_id)
    if hotliner is None:
        return _error(404, f"unknown hotliner {agent_id!r}")
    body = _json_body()
    wanted = body.get("state") if body else None
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
def outcome(call_sid: str) -> ResponseReturnValue:
    rt = services().runtime
    body = _json_body()
    if body is None:
        return _error(400, "expected a JSON object")
    agent_id = body.get("agent_id")
    result = body.get("outcome")
    notes = body.get("notes", "") or ""
    if not isinstance(agent_id, str) or rt.routing.hotliner(agent_id) is None:
        return _error(400, "agent_id must name a configured hotliner")
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
def current_incident() -> ResponseReturnValue:
    return jsonify(_incident_json(services().incidents.current()))


@bp.post("/incident")
def publish_incident() -> ResponseReturnValue:
    """A supervisor announces a major incident every caller hears first."""
    rt = services().runtime
    body = _json_body()
    messages = body.get("messages") if body else None
    languages = rt.routing.hotline.languages
    if not isinstance(messages, dict) or not all(
        isinstance(messages.get(lang), str) and messages[lang].strip()
        for lang in languages
    ):
        return _error(
            400, "messages must give a text for each of: " + ", ".join(languages)
        )
    if any(len(text) > 500 for text in messages.values()):
        return _error(400, "each message must be at most 500 characters")
    incident = services().incidents.publish(
        {lang: messages[lang].strip() for lang in languages}
    )
    return jsonify(_incident_json(incident)), 201


@bp.delete("/incident")
def resolve_incident() -> ResponseReturnValue:
    """The incident is over: callers who confirmed it get an SMS."""
    rt = services().runtime
    incident, numbers = services().incidents.resolve()
    if incident is None:
        return _error(404, "no incident is announced")
    for number in numbers:
        rt.jobs.enqueue(jobs.send_sms, number, "incident_sms")
    return jsonify({"resolved": incident.id, "texted": len(numbers)})
