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
from core.telephony import TelephonyError
from ivr.incident import Incident
from queues import handoff, jobs, routing
from queues.outage import Unreachable
from web import services
from web.auth import api_account, api_login_required, require_steering
from web.effects import after_response
from web.voice.common import conference_name

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_NOTES = 4000
MAX_REMOTE = 128


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
    body = _json_body()
    wanted = body.get("state")
    allowed = ("available", "break", "offline")
    if wanted not in allowed:
        return _error(400, f"state must be one of {', '.join(allowed)}")
    reasons = rt.routing.hotline.break_reasons
    # A break without a reason (a script's) takes the list's first one.
    reason = body.get("reason") or (next(iter(reasons)) if wanted == "break" else "")
    if wanted == "break" and reason not in reasons:
        return _error(400, f"a break's reason is one of {', '.join(reasons)}")
    if wanted != "break" and reason:
        return _error(400, "only a break has a reason")
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
        reason,
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
    outcomes = rt.routing.hotline.dispositions
    if result not in outcomes:
        return _error(400, f"outcome must be one of {', '.join(outcomes)}")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        return _error(400, f"notes must be text of at most {MAX_NOTES} characters")
    details = _outcome_details(body)
    live = services().live
    try:
        recorded, todo = live.call(
            lambda: handoff.outcome_posted(
                rt, call_sid, agent_id, result, notes, details=details
            )
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


def _outcome_details(body: dict[str, Any]) -> dict[str, str]:
    """The known fault that fixed the call, the remote session, the agent
    steps done; `BadBody` if one is malformed."""
    details: dict[str, str] = {}
    fixed_by = body.get("fixed_by") or ""
    if not isinstance(fixed_by, str) or (
        fixed_by and services().current().kb.get(fixed_by) is None
    ):
        raise BadBody("fixed_by must name a known fault of the knowledge base")
    if fixed_by:
        details["fixed_by"] = fixed_by
    remote = body.get("remote") or ""
    if not isinstance(remote, str) or len(remote) > MAX_REMOTE:
        raise BadBody(f"remote must be text of at most {MAX_REMOTE} characters")
    if remote:
        details["remote"] = remote
    steps = body.get("steps") or []
    if (
        not isinstance(steps, list)
        or len(steps) > 50
        or not all(isinstance(n, int) and 0 <= n < 50 for n in steps)
    ):
        raise BadBody("steps must list the numbers of the agent steps done")
    if steps:
        details["steps"] = ",".join(str(n) for n in sorted(set(steps)))
    return details


@bp.post("/offers/<offer_id>/decline")
@api_login_required
def decline(offer_id: str) -> ResponseReturnValue:
    """The hotliner declines an offer: the next hotliner gets the caller."""
    rt = services().runtime
    agent_id = rt.store.offer(offer_id).get("agent", "")
    if not agent_id:
        return _error(404, "no such offer (answered, declined or expired)")
    if not _may_act_for(agent_id):
        return _error(403, "a hotliner declines only their own offers")
    todo = handoff.hotliner_declined(rt, offer_id, agent_id)
    if todo is None:
        return _error(409, "the offer is over")
    after_response(rt, todo)
    return jsonify({"offer": offer_id, "declined": True})


@bp.post("/agents/<agent_id>/wrapup/extend")
@api_login_required
def extend_wrapup(agent_id: str) -> ResponseReturnValue:
    """More wrap-up time for the current call, once."""
    if not _may_act_for(agent_id):
        return _error(403, "a hotliner extends only their own wrap-up")
    rt = services().runtime
    live = rt.store.agents.get(agent_id)
    extra = rt.routing.hotline.wrapup_extend_seconds * 1000
    until = rt.store.agents.extend_wrapup(agent_id, live.get("call_sid", ""), extra)
    if until is None:
        return _error(409, "not in wrap-up, or already extended for this call")
    return jsonify({"id": agent_id, "wrapup_until": until})


class Refused(Exception):
    """The request is understood but not allowed now (status and reason)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> ResponseReturnValue:
    return _error(exc.status, str(exc))


def _own_live_call(call_sid: str) -> str:
    """The leg of the hotliner talking on this call (`Refused` otherwise)."""
    rt = services().runtime
    call = rt.store.call(call_sid)
    agent_id = call.get("agent", "")
    if not call or not agent_id:
        raise Refused(404, "no such call in progress")
    if not _may_act_for(agent_id):
        raise Refused(403, "a hotliner controls only their own calls")
    leg = rt.store.agents.get(agent_id).get("leg", "")
    if call.get("state") != "talking" or not leg:
        raise Refused(409, "the call is not in progress")
    return leg


def _switch() -> bool:
    on = _json_body().get("on")
    if not isinstance(on, bool):
        raise BadBody("on must be true or false")
    return on


@bp.post("/calls/<call_sid>/hold")
@api_login_required
def hold(call_sid: str) -> ResponseReturnValue:
    """Put the caller on hold (they hear music) or back."""
    _own_live_call(call_sid)
    return _participant(call_sid, call_sid, hold=_switch())


@bp.post("/calls/<call_sid>/mute")
@api_login_required
def mute(call_sid: str) -> ResponseReturnValue:
    """Mute the hotliner's own line (the caller stops hearing them)."""
    leg = _own_live_call(call_sid)
    return _participant(call_sid, leg, muted=_switch())


@bp.post("/calls/<call_sid>/hangup")
@api_login_required
def hang_up(call_sid: str) -> ResponseReturnValue:
    """End the conversation from the console (the hotliner's leg hangs up)."""
    leg = _own_live_call(call_sid)
    rt = services().runtime
    try:
        rt.telephony.end(leg)
    except TelephonyError as exc:
        return _error(502, f"the carrier refused: {exc}")
    return jsonify({"call_sid": call_sid, "hung_up": True})


def _participant(
    call_sid: str, leg: str, *, hold: bool | None = None, muted: bool | None = None
) -> ResponseReturnValue:
    rt = services().runtime
    try:
        rt.telephony.update_participant(
            conference_name(call_sid), leg, hold=hold, muted=muted
        )
    except TelephonyError as exc:
        return _error(502, f"the carrier refused: {exc}")
    return jsonify({"call_sid": call_sid, "hold": hold, "muted": muted})


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
