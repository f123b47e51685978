"""The agent console's JSON API: state changes, current call, call outcome.

Every route needs an account (a session or an API token, `web.auth`): a
hotliner acts only as themself, supervisors for everyone, and the incident
message is theirs alone. Bodies that are not a JSON object, or hold values of
the wrong type, get 400 with the reason. Ids are checked against the
configuration and every change goes through one atomic store operation.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from accounts.roles import Role, may_act_for, steers
from agents import skills as agent_skills
from agents.lifecycle import AgentState
from calllog import call_list
from calllog import reports as calllog_reports
from core.clock import utcnow
from core.mail import MailError
from core.telephony import TelephonyError
from core.validate import is_e164
from ivr.incident import Incident
from queues import handoff, jobs, recap, routing, warm_transfer, webhooks
from queues import overrides as queue_overrides
from queues.consult_store import ConsultRefused
from queues.grouped_store import OTHER_GROUP, OTHER_GROUP_TEXT
from queues.outage import Unreachable
from queues.recap import Recap
from queues.store import TransferRefused
from web import services
from web.auth import api_account, api_login_required, require_steering
from web.effects import after_response
from web.history import BadFilter, call_filter, period

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_NOTES = 4000
MAX_REMOTE = 128


MAX_STEPS = 30
MAX_STEP = 300


def _steps(body: dict[str, Any]) -> tuple[str, ...]:
    """The steps a hotliner did (the checklist they ticked), passed on with a
    transfer; `BadBody` unless a short list of short texts."""
    steps = body.get("steps", [])
    if (
        not isinstance(steps, list)
        or len(steps) > MAX_STEPS
        or not all(isinstance(x, str) and 0 < len(x) <= MAX_STEP for x in steps)
    ):
        raise BadBody(
            f"steps must list at most {MAX_STEPS} texts of at most {MAX_STEP} "
            "characters"
        )
    return tuple(x.replace("\n", " ") for x in steps)


def _error(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify({"error": message, **extra}), status


class BadBody(Exception):
    """The request body is not the JSON object the route expects."""


def json_body() -> dict[str, Any]:
    """The body as a JSON object; `BadBody` (400 with the reason) otherwise."""
    if not request.is_json:
        raise BadBody("send a JSON object (Content-Type: application/json)")
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except (ValueError, RecursionError) as exc:
        raise BadBody(f"malformed JSON: {type(exc).__name__}") from None
    if not isinstance(body, dict):
        raise BadBody("expected a JSON object")
    if _holds_nul(body):
        raise BadBody(NUL_REFUSED)
    return body


#: PostgreSQL's text cannot hold a NUL character: a text with one reached SQL
#: as a DataError, a 503 after the change was made in Redis (a queue closed by
#: hand, its audit entry lost); notes and steps go to the call log too.
NUL_REFUSED = "texts must not contain NUL characters (\\u0000)"


def _holds_nul(value: object) -> bool:
    """Whether a NUL is in any text of a parsed JSON value (keys too); a
    loop, not recursion: the value may be as deep as the parser allowed."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            todo += item.keys()
            todo += item.values()
        elif isinstance(item, list):
            todo += item
    return False


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
            "skills": agent_skills.effective(hotliner, live).skills,
            "configured_skills": hotliner.skills,
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
    body = json_body()
    wanted = body.get("state")
    allowed = ("available", "break", "offline")
    if wanted not in allowed:
        return _error(400, f"state must be one of {', '.join(allowed)}")
    reasons = rt.routing.hotline.break_reasons
    # A break without a reason (a script's) takes the list's first one.
    reason = body.get("reason") or (next(iter(reasons)) if wanted == "break" else "")
    if wanted == "break" and (not isinstance(reason, str) or reason not in reasons):
        return _error(400, f"a break's reason is one of {', '.join(reasons)}")
    if wanted != "break" and reason:
        return _error(400, "only a break has a reason")
    if wanted == "available" and not rt.routing.roster.on_shift(agent_id, utcnow()):
        return _error(
            409,
            f"{hotliner.name} is not on shift now; a supervisor "
            "changes the rota (/supervisor/rota, or hotliners.yaml)",
            state="off_shift",
        )
    if wanted == "available":
        until_ms, rule = rt.routing.shift_fields(agent_id, utcnow())
        rt.store.agents.set_shift_ends({agent_id: until_ms}, {agent_id: rule})
    live = rt.store.agents.get(agent_id)
    before = live.get("state", "offline")
    ok, current = rt.store.agents.set_state(
        agent_id,
        AgentState(wanted),
        routing.memberships(agent_skills.effective(hotliner, live), rt.routing),
        rt.routing.hotline.strategy,
        reason,
    )
    if not ok:
        return _error(409, f"cannot go {wanted} while {current}", state=current)
    actor = api_account()
    if actor is not None and actor.id != agent_id:  # a supervisor's control
        audit_control(
            "agent_state", agent_id, {"state": before}, {"state": current}, reason
        )
    if wanted == "available":
        after_response(rt, handoff.Next(dispatch=True))
    return jsonify({"id": agent_id, "state": current})


@bp.post("/calls/<call_sid>/outcome")
@api_login_required
def outcome(call_sid: str) -> ResponseReturnValue:
    rt = services().runtime
    body = json_body()
    agent_id = body.get("agent_id")
    result = body.get("outcome")
    notes = body.get("notes", "") or ""
    if not isinstance(agent_id, str) or rt.routing.hotliner(agent_id) is None:
        return _error(400, "agent_id must name a configured hotliner")
    if not _may_act_for(agent_id):
        return _error(403, "a hotliner records only their own calls' outcomes")
    outcomes = rt.routing.hotline.dispositions
    if not isinstance(result, str) or result not in outcomes:
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


def _own_live_call(call_sid: str) -> tuple[str, str]:
    """(the hotliner talking on this call, their leg); `Refused` otherwise."""
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
    return agent_id, leg


def _switch() -> bool:
    on = json_body().get("on")
    if not isinstance(on, bool):
        raise BadBody("on must be true or false")
    return on


@bp.post("/calls/<call_sid>/hold")
@api_login_required
def hold(call_sid: str) -> ResponseReturnValue:
    """Put the caller on hold (they hear music) or back; timed in the call log."""
    agent_id, _ = _own_live_call(call_sid)
    on = _switch()
    answer = _participant(call_sid, call_sid, hold=on)
    if isinstance(answer, Response) and answer.status_code == 200:
        services().runtime.store.note_hold(call_sid, agent_id, on)
    return answer


@bp.post("/calls/<call_sid>/mute")
@api_login_required
def mute(call_sid: str) -> ResponseReturnValue:
    """Mute the hotliner's own line (the caller stops hearing them)."""
    _, leg = _own_live_call(call_sid)
    return _participant(call_sid, leg, muted=_switch())


@bp.post("/calls/<call_sid>/hangup")
@api_login_required
def hang_up(call_sid: str) -> ResponseReturnValue:
    """End the conversation from the console (the hotliner's leg hangs up)."""
    _, leg = _own_live_call(call_sid)
    rt = services().runtime
    try:
        rt.telephony.end(leg)
    except TelephonyError as exc:
        return _error(502, f"the carrier refused: {exc}")
    return jsonify({"call_sid": call_sid, "hung_up": True})


@bp.post("/calls/<call_sid>/transfer")
@api_login_required
def transfer(call_sid: str) -> ResponseReturnValue:
    """Pass the caller on, with the notes and the steps done (`"steps":
    ["...", ...]`, the checklist ticked):

    - cold, `{"queue": "<id>", "notes": "..."}`: the caller goes to another
      queue, keeping their first entry time with a raised priority; the
      hotliner's part is over (wrap-up);
    - warm, `{"queue": "<id>", "mode": "warm"}` or `{"agent": "<id>"}` (a
      named specialist, on shift): the caller is put on hold while a
      specialist is rung with the whole context; `.../transfer/complete`
      leaves them the caller, `.../transfer/cancel` keeps them;
    - external, `{"on_call": "<id>"}` (the on-call directory of
      `hotliners.yaml`) or, for supervisors, `{"number": "+33..."}`: the same,
      with someone outside the hotline called into the conference.
    """
    rt = services().runtime
    body = json_body()
    queue_id, specialist = body.get("queue"), body.get("agent")
    on_call, number = body.get("on_call"), body.get("number")
    outside = on_call is not None or number is not None
    mode = body.get("mode", "warm" if specialist is not None or outside else "cold")
    notes = body.get("notes", "") or ""
    if not isinstance(mode, str) or mode not in {"cold", "warm"}:
        return _error(400, "mode must be cold or warm")
    steps = _steps(body)
    named = [x for x in (queue_id, specialist, on_call, number) if x is not None]
    if len(named) != 1:
        return _error(
            400, "name one of: a queue, a specialist (agent), on_call, or a number"
        )
    if outside:
        return _external_transfer(call_sid, on_call, number, mode, notes, steps)
    if queue_id is not None and (
        not isinstance(queue_id, str) or rt.routing.queue(queue_id) is None
    ):
        names = ", ".join(sorted(rt.routing.queues))
        return _error(400, f"queue must name a configured queue ({names})")
    if specialist is not None and (
        not isinstance(specialist, str) or rt.routing.hotliner(specialist) is None
    ):
        return _error(400, "agent must name a configured hotliner")
    if specialist is not None and mode == "cold":
        return _error(400, "a transfer to a named specialist is warm")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        return _error(400, f"notes must be text of at most {MAX_NOTES} characters")
    agent_id, call = _transferring_hotliner(call_sid)
    if mode == "warm":
        return _warm_transfer(call_sid, agent_id, queue_id, specialist, notes, steps)
    assert isinstance(queue_id, str)  # cold: checked above
    if queue_id == call.get("queue"):
        return _error(400, "the call is already in that queue")
    try:
        result, todo = handoff.transfer_to_queue(
            rt, call_sid, agent_id, queue_id, notes, steps
        )
    except handoff.TransferInvalid as exc:
        return _error(409, str(exc))
    if isinstance(result, TransferRefused):
        if result.why == OTHER_GROUP:
            return _error(409, f"the call cannot be transferred: {OTHER_GROUP_TEXT}")
        return _error(409, f"the call cannot be transferred now ({result.why})")
    after_response(rt, todo)
    return jsonify(
        {
            "call_sid": call_sid,
            "mode": "cold",
            "queue": queue_id,
            "priority": result.priority,
            "agent_state": result.agent_state,
        }
    )


def _transferring_hotliner(call_sid: str) -> tuple[str, dict[str, str]]:
    """(the hotliner on the call, the call) for a transfer the account may
    make or end; `Refused` otherwise."""
    call = services().runtime.store.call(call_sid)
    agent_id = call.get("agent", "")
    if not call:
        raise Refused(404, "no such call in progress")
    if agent_id and not _may_act_for(agent_id):
        raise Refused(403, "a hotliner transfers only their own calls")
    if not agent_id:
        raise Refused(409, f"the call is not with a hotliner ({call.get('state')})")
    return agent_id, call


def _external_transfer(
    call_sid: str,
    on_call: object,
    number: object,
    mode: object,
    notes: object,
    steps: tuple[str, ...],
) -> ResponseReturnValue:
    rt = services().runtime
    if mode != "warm":
        return _error(400, "a transfer outside the hotline is warm")
    if on_call is not None and (
        not isinstance(on_call, str) or on_call not in rt.routing.on_call
    ):
        names = ", ".join(sorted(rt.routing.on_call)) or "none configured"
        return _error(400, f"on_call must name an on-call entry ({names})")
    if number is not None and not (isinstance(number, str) and is_e164(number)):
        return _error(400, "number must be an E.164 number like +33612345678")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        return _error(400, f"notes must be text of at most {MAX_NOTES} characters")
    account = api_account()
    if number is not None and (account is None or not steers(account.role)):
        return _error(403, "a hotliner calls outside through the on-call list only")
    agent_id, _ = _transferring_hotliner(call_sid)
    try:
        result = warm_transfer.start_external(
            rt,
            call_sid,
            agent_id,
            on_call=on_call if isinstance(on_call, str) else None,
            number=number if isinstance(number, str) else None,
            notes=notes,
            steps=steps,
        )
    except handoff.TransferInvalid as exc:
        return _error(409, str(exc))
    except TelephonyError as exc:
        return _error(502, f"the carrier refused: {exc}")
    if isinstance(result, ConsultRefused):
        return _error(409, warm_transfer.explain(result.why), why=result.why)
    entry = rt.routing.on_call.get(on_call) if isinstance(on_call, str) else None
    return (
        jsonify(
            {
                "call_sid": call_sid,
                "mode": "warm",
                "queue": None,
                "specialist": entry.id if entry else number,
                "specialist_name": entry.name if entry else number,
                "state": "ringing",
            }
        ),
        202,
    )


def _warm_transfer(
    call_sid: str,
    agent_id: str,
    queue_id: str | None,
    specialist: str | None,
    notes: str,
    steps: tuple[str, ...],
) -> ResponseReturnValue:
    rt = services().runtime
    target = warm_transfer.Target(queue=queue_id, specialist=specialist)
    try:
        result = warm_transfer.start(rt, call_sid, agent_id, target, notes, steps)
    except handoff.TransferInvalid as exc:
        return _error(409, str(exc))
    except TelephonyError as exc:
        return _error(502, f"the carrier refused: {exc}")
    if isinstance(result, ConsultRefused):
        return _error(409, warm_transfer.explain(result.why), why=result.why)
    hotliner = rt.routing.hotliner(result.specialist)
    return (
        jsonify(
            {
                "call_sid": call_sid,
                "mode": "warm",
                "queue": queue_id,
                "specialist": result.specialist,
                "specialist_name": hotliner.name if hotliner else result.specialist,
                "state": "ringing",
            }
        ),
        202,
    )


@bp.post("/calls/<call_sid>/transfer/<step>")
@api_login_required
def finish_transfer(call_sid: str, step: str) -> ResponseReturnValue:
    """End a warm transfer: `complete` (the specialist takes the caller, the
    hotliner wraps up) or `cancel` (the hotliner keeps the caller)."""
    if step not in {"complete", "cancel"}:
        return _error(404, "a warm transfer is completed or cancelled")
    rt = services().runtime
    agent_id, _ = _transferring_hotliner(call_sid)
    finish = warm_transfer.complete if step == "complete" else warm_transfer.cancel
    result, todo = finish(rt, call_sid, agent_id)
    if isinstance(result, ConsultRefused):
        return _error(409, warm_transfer.explain(result.why), why=result.why)
    after_response(rt, todo)
    return jsonify(
        {
            "call_sid": call_sid,
            "step": step,
            "agent_state": result.hotliner_state if step == "complete" else "busy",
        }
    )


def _handler_of(call: dict[str, str]) -> str:
    """The hotliner the account acts as on a call it handled (themself, or,
    for a supervisor, the hotliner on it); `Refused` if none may.

    Who handled it: the hotliner on it, and whoever passed it on to them.
    """
    if not call:
        raise Refused(404, "no such call")
    people = [p for p in (call.get("agent"), call.get("transferred_by")) if p]
    if not people:
        raise Refused(409, "no hotliner has handled this call")
    if not any(_may_act_for(person) for person in people):
        raise Refused(403, "a hotliner acts on their own calls only")
    account = api_account()
    return account.id if account is not None and account.id in people else people[0]


@bp.post("/calls/<call_sid>/callback")
@api_login_required
def schedule_callback(call_sid: str) -> ResponseReturnValue:
    """A specialist calls the caller back at a set time (level 2):
    `{"queue": "<id>", "at": <epoch ms>, "notes": "..."}`. The call back is a
    call of its own, offered to that queue's hotliners when due with this
    call's context and the notes, then dialled once one accepts."""
    rt = services().runtime
    body = json_body()
    queue_id, at, notes = body.get("queue"), body.get("at"), body.get("notes", "") or ""
    if not isinstance(queue_id, str) or rt.routing.queue(queue_id) is None:
        names = ", ".join(sorted(rt.routing.queues))
        return _error(400, f"queue must name a configured queue ({names})")
    if not isinstance(at, int) or isinstance(at, bool):
        return _error(400, "at must be the time, in epoch milliseconds")
    if not isinstance(notes, str) or len(notes) > MAX_NOTES:
        return _error(400, f"notes must be text of at most {MAX_NOTES} characters")
    who = _handler_of(rt.store.call(call_sid))
    try:
        new_sid = handoff.schedule_callback(rt, call_sid, who, queue_id, at, notes)
    except handoff.TransferInvalid as exc:
        return _error(400, str(exc))
    return jsonify({"callback_sid": new_sid, "queue": queue_id, "due": at}), 201


def _recap_request(call_sid: str) -> tuple[str, str, Recap]:
    """(the account's hotliner who sends it, the call's number, the recap) from
    the body's summary and next steps; `Refused` or `BadBody` otherwise."""
    svc = services()
    rt = svc.runtime
    config = svc.current()
    if config.recap is None:
        raise Refused(503, "no recap templates (config/recap/) in this configuration")
    body = json_body()
    summary, next_steps = body.get("summary"), body.get("next_steps", "") or ""
    for name, value in (("summary", summary), ("next_steps", next_steps)):
        if not isinstance(value, str) or len(value) > recap.MAX_TEXT:
            raise BadBody(f"{name} must be text of at most {recap.MAX_TEXT} characters")
    assert isinstance(summary, str)
    if not summary.strip():
        raise BadBody("summary must say what was done")
    call = rt.store.call(call_sid)
    sender = _handler_of(call)
    hotliner = rt.routing.hotliner(sender)
    lang, facts = recap.recap_facts(
        call,
        hotliner_name=hotliner.name if hotliner else "",
        summary=summary,
        next_steps=next_steps,
        hotline=rt.routing.hotline,
        hotline_number=rt.settings.hotline_number,
    )
    return sender, call.get("from", ""), config.recap.render(lang, facts)


@bp.post("/calls/<call_sid>/recap/preview")
@api_login_required
def preview_recap(call_sid: str) -> ResponseReturnValue:
    """The recap as the caller would get it: `{"summary", "next_steps"}`."""
    _, number, text = _recap_request(call_sid)
    return jsonify(
        {
            "sms": text.sms,
            "sms_to": number if recap.textable(number) else None,
            "email_subject": text.email_subject,
            "email_text": text.email_text,
            "email_html": text.email_html,
            "email_ready": services().mailer is not None,
        }
    )


@bp.post("/calls/<call_sid>/recap")
@api_login_required
def send_recap(call_sid: str) -> ResponseReturnValue:
    """Send the recap: `{"summary", "next_steps", "sms": true, "email": "a@b.fr"}`
    (at least one of SMS and email). Each channel sent is noted on the call."""
    svc = services()
    rt = svc.runtime
    body = json_body()
    sms, email = body.get("sms", False), body.get("email", "") or ""
    if not isinstance(sms, bool):
        raise BadBody("sms must be true or false")
    if not isinstance(email, str) or (email and not recap.valid_email(email)):
        raise BadBody("email must be one email address")
    if not sms and not email:
        raise BadBody("send by sms, by email, or both")
    sender, number, text = _recap_request(call_sid)
    if sms and not recap.textable(number):
        raise Refused(409, "the caller's number cannot receive a text")
    if email and svc.mailer is None:
        raise Refused(409, "email is not set up on this hotline (SMTP_URL)")
    sent: dict[str, str] = {}
    failed: dict[str, str] = {}
    if sms:
        try:
            rt.telephony.send_sms(
                to=number, from_=rt.settings.hotline_number, body=text.sms
            )
            sent["sms"] = number
        except TelephonyError as exc:
            failed["sms"] = str(exc)
    if email and svc.mailer is not None:
        try:
            svc.mailer.send(email, text.email_subject, text.email_text, text.email_html)
            sent["email"] = email
        except MailError as exc:
            failed["email"] = str(exc)
    if sent:
        rt.store.note_recap(
            call_sid, sender, sms_to=sent.get("sms", ""), email_to=sent.get("email", "")
        )
    if failed:
        return _error(
            502, "the recap could not be sent everywhere", sent=sent, failed=failed
        )
    return jsonify({"call_sid": call_sid, "sent": sent})


def _participant(
    call_sid: str, leg: str, *, hold: bool | None = None, muted: bool | None = None
) -> ResponseReturnValue:
    rt = services().runtime
    try:
        rt.telephony.update_participant(
            webhooks.conference_name(call_sid), leg, hold=hold, muted=muted
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
    messages = json_body().get("messages")
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
    before = _incident_json(services().incidents.current())["incident"]
    incident = services().incidents.publish(
        {lang: messages[lang].strip() for lang in languages}
    )
    after = _incident_json(incident)
    audit_control("incident_published", "incident", before, after["incident"])
    return jsonify(after), 201


@bp.delete("/incident")
@require_steering
def resolve_incident() -> ResponseReturnValue:
    """The incident is over: callers who confirmed it get an SMS."""
    rt = services().runtime
    incident, numbers = services().incidents.resolve()
    if incident is None:
        return _error(404, "no incident is announced")
    audit_control(
        "incident_resolved",
        "incident",
        _incident_json(incident)["incident"],
        {"texted": len(numbers)},
    )
    for number in numbers:
        rt.jobs.enqueue(jobs.send_sms, number, "incident_sms")
    return jsonify({"resolved": incident.id, "texted": len(numbers)})


@bp.get("/reports")
@require_steering
def reports() -> ResponseReturnValue:
    """The standard figures of a period: `?from=YYYY-MM-DD&to=YYYY-MM-DD&by=`
    one of `calllog.reports.GROUPINGS` (local days of the hotline's timezone;
    definitions in docs/METRICS.md); by agent, each hotliner's time in state
    and occupancy too. The call log is read: SQL down -> 503."""
    svc = services()
    first, last = _period()
    if date.fromisoformat(last) - date.fromisoformat(first) >= MAX_REPORT_SPAN:
        return _error(
            400,
            f"a report covers at most {MAX_REPORT_SPAN.days} days "
            "(`hotline report` in a shell has no limit)",
        )
    by = request.args.get("by", "queue")
    try:
        rows = calllog_reports.report(
            svc.engine, first, last, by, calllog_reports.thresholds(svc.runtime.routing)
        )
        agents = (
            calllog_reports.agent_time(
                svc.engine, first, last, svc.runtime.routing.hotline.timezone
            )
            if by == "agent"
            else []
        )
    except calllog_reports.ReportError as exc:
        return _error(400, str(exc))
    except SQLAlchemyError:
        return _error(503, "the call log cannot be read now")
    body: dict[str, Any] = {
        "from": first,
        "to": last,
        "by": by,
        "short_abandon_seconds": calllog_reports.SHORT_ABANDON_SECONDS,
        "rows": [r.as_json() for r in rows],
        "total": calllog_reports.totals_of(rows).as_json(),
    }
    if by == "agent":  # time in state and occupancy, from their intervals
        body["agents"] = [a.as_json() for a in agents]
    return jsonify(body)


#: The longest period of a report. Its past days are summed once into rollups,
#: about 10 ms a day the first time: a report since 1900 kept a web worker for
#: minutes (since year 1, hours), filling the rollup table with empty days.
MAX_REPORT_SPAN = timedelta(days=366)


def _period() -> tuple[str, str]:
    """`?from=&to=` local days of a report or call list; `BadBody` else."""
    try:
        return period(request.args)
    except BadFilter as exc:
        raise BadBody(str(exc)) from None


def _call_filter() -> call_list.CallFilter:
    """The call list's query string (`web.history.call_filter`); `BadBody`
    for a day that is not one, or a NUL character anywhere."""
    if any("\x00" in value for value in request.args.values()):
        raise BadBody(NUL_REFUSED)
    try:
        return call_filter(request.args)
    except BadFilter as exc:
        raise BadBody(str(exc)) from None


@bp.get("/calls")
@require_steering
def calls() -> ResponseReturnValue:
    """The call list: `?from=&to=` (local days) and any of `queue`, `agent`,
    `outcome`, `status`, `number`, `fault`, `words` (in the notes); newest
    first, `limit` (50, at most 1000), `before=<CallSid>` for the next page."""
    svc = services()
    flt = _call_filter()
    try:
        limit = int(request.args.get("limit", "50"))
    except ValueError:
        return _error(400, "limit must be a number")
    if not 1 <= limit <= call_list.MAX_LIMIT:
        return _error(400, f"limit must be 1 to {call_list.MAX_LIMIT}")
    try:
        rows = call_list.search(
            svc.engine,
            flt,
            limit=limit,
            before=request.args.get("before") or None,
            tz=svc.runtime.routing.hotline.timezone,
        )
    except SQLAlchemyError:
        return _error(503, "the call log cannot be read now")
    header = call_list.CSV_COLUMNS
    return jsonify(
        {"calls": [dict(zip(header, call_list.values(c), strict=True)) for c in rows]}
    )


@bp.get("/calls.csv")
@require_steering
def calls_csv() -> ResponseReturnValue:
    """The call list of a period as CSV (same filters as `/api/calls`), every
    page of it up to `EXPORT_MAX` calls; callers' numbers masked unless the
    account is an admin."""
    svc = services()
    flt = _call_filter()
    account = api_account()
    masked = account is None or account.role is not Role.ADMIN
    tz = svc.runtime.routing.hotline.timezone
    found: list[Any] = []
    try:
        before: str | None = None
        while len(found) < EXPORT_MAX:
            page = call_list.search(
                svc.engine, flt, limit=call_list.MAX_LIMIT, before=before, tz=tz
            )
            found += page
            if len(page) < call_list.MAX_LIMIT:
                break
            before = page[-1].call_sid
    except SQLAlchemyError:
        return _error(503, "the call log cannot be read now")
    name = f"calls-{flt.first_day}-{flt.last_day}.csv"
    return Response(
        call_list.to_csv(found[:EXPORT_MAX], masked=masked),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Truncated": "true" if len(found) > EXPORT_MAX else "false",
        },
    )


#: The largest id SQL stores (a bigger `before` was an OverflowError, a 500).
SQL_MAX_INT = 2**63 - 1

#: The most calls one CSV export holds.
EXPORT_MAX = 100_000


# -- steering: queues opened or closed by hand, the audit log ----------------------


def audit_control(
    action: str, target: str, before: Any, after: Any, reason: str | None = None
) -> None:
    """Keep a supervisor's control in the audit log (`accounts.audit`)."""
    actor = api_account()
    assert actor is not None  # the routes that steer are guarded
    services().runtime.store.note_control(action, target)
    services().audit.record(
        actor_id=actor.id,
        actor_role=actor.role.value,
        action=action,
        target=target,
        before=before,
        after=after,
        reason=reason,
    )


@bp.get("/queues")
@require_steering
def queue_states() -> ResponseReturnValue:
    """Each queue: open now or not, and whether by hand or by its hours."""
    rt = services().runtime
    by_hand = queue_overrides.overrides(rt.redis, rt.keys)
    now = utcnow()
    return jsonify(
        {
            "queues": [
                {
                    "id": queue_id,
                    "open": queue_overrides.is_open_now(
                        rt.routing, queue_id, now, by_hand.get(queue_id)
                    ),
                    "override": by_hand.get(queue_id),
                    "scheduled_open": rt.routing.is_open(queue_id, now),
                }
                for queue_id in rt.routing.queues
            ]
        }
    )


@bp.post("/queues/<queue_id>/override")
@require_steering
def override_queue(queue_id: str) -> ResponseReturnValue:
    """Open or close a queue now whatever its hours (`{"state": "open" |
    "closed", "reason": ...}`), or give it back to them (`"schedule"`)."""
    rt = services().runtime
    if rt.routing.queue(queue_id) is None:
        return _error(404, f"unknown queue {queue_id!r}")
    body = json_body()
    wanted = body.get("state")
    reason = body.get("reason", "")
    if wanted not in ("open", "closed", "schedule"):
        return _error(400, "state must be one of open, closed, schedule")
    if not isinstance(reason, str) or len(reason) > 500:
        return _error(400, "reason must be a text of at most 500 characters")
    if wanted != "schedule" and not reason.strip():
        return _error(400, "say why the queue is opened or closed by hand")
    override = None if wanted == "schedule" else queue_overrides.Override(wanted)
    before = queue_overrides.set_override(rt.redis, rt.keys, queue_id, override)
    audit_control(
        "queue_override",
        queue_id,
        {"override": before},
        {"override": override},
        reason.strip(),
    )
    return jsonify({"id": queue_id, "override": override})


@bp.get("/audit")
@require_steering
def audit_log() -> ResponseReturnValue:
    """The audit log, newest first: `?limit=` (50, at most 200), `?before=`
    an id to page back, `?action=` one kind of control."""
    try:
        limit = int(request.args.get("limit", "50"))
        before = request.args.get("before")
        before_id = int(before) if before else None
    except ValueError:
        return _error(400, "limit and before must be whole numbers")
    if before_id is not None and not 0 < before_id <= SQL_MAX_INT:
        return _error(400, "before must be an entry id")
    if "\x00" in request.args.get("action", ""):
        return _error(400, NUL_REFUSED)
    entries = services().audit.entries(
        limit=limit, before_id=before_id, action=request.args.get("action") or None
    )
    return jsonify({"entries": [e.as_json() for e in entries]})
