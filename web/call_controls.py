"""Supervisors' controls on one call: listen, whisper, barge in; move a
waiting caller or change their priority.

Routes of the `/api` blueprint (`queues.listen_in` and `queues.waiting_moves`
do the work): each control is audited. The supervisor's phone is their
browser's `client:<account id>` unless they name another (`to`: a number).
"""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue

from core.telephony import TelephonyError
from queues import listen_in, waiting_moves
from web import services
from web.api import BadBody, audit_control, bp, json_body
from web.auth import api_account, require_steering
from web.effects import after_response


@bp.post("/calls/<call_sid>/listen")
@require_steering
def listen(call_sid: str) -> ResponseReturnValue:
    """`{"mode": "listen" | "whisper" | "barge", "to": "client:<id>"}`: join
    the call that way, or move to that mode. 409 with `why` when the call is
    not in conversation or another supervisor is on it; 502 if the carrier
    refused."""
    account = api_account()
    assert account is not None  # guarded
    body = json_body()
    mode = body.get("mode", "listen")
    to = body.get("to") or f"client:{account.id}"
    if not isinstance(mode, str) or not isinstance(to, str):
        raise BadBody("mode and to must be texts")
    try:
        done = listen_in.listen(services().runtime, call_sid, account.id, mode, to)
    except listen_in.ListenRefused as exc:
        status = 400 if exc.why.startswith("bad_") else 409
        return jsonify({"error": str(exc), "why": exc.why}), status
    except TelephonyError as exc:
        return jsonify({"error": str(exc)}), 502
    audit_control(
        f"call_{mode}", call_sid, {"mode": done.before or None}, done.as_json()
    )
    return jsonify(done.as_json())


@bp.post("/calls/<call_sid>/listen/end")
@require_steering
def stop_listening(call_sid: str) -> ResponseReturnValue:
    """Leave the call (409 if this supervisor is not on it)."""
    account = api_account()
    assert account is not None
    try:
        done = listen_in.stop(services().runtime, call_sid, account.id)
    except listen_in.ListenRefused as exc:
        return jsonify({"error": str(exc), "why": exc.why}), 409
    except TelephonyError as exc:
        return jsonify({"error": str(exc)}), 502
    audit_control("call_listen_end", call_sid, {"mode": done.before}, {"mode": None})
    return jsonify(done.as_json())


@bp.post("/calls/<call_sid>/queue")
@require_steering
def move_waiting(call_sid: str) -> ResponseReturnValue:
    """`{"queue": "<id>", "priority": 0..9}` (either or both): move a waiting
    caller to another queue and/or change their priority; they keep their
    first entry time. 409 with `why` when they are not waiting or a hotliner
    is being offered them right now."""
    account = api_account()
    assert account is not None
    body = json_body()
    queue_id = body.get("queue")
    priority = body.get("priority")
    if queue_id is not None and not isinstance(queue_id, str):
        raise BadBody("queue must be a queue id")
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int)
    ):
        raise BadBody("priority must be a whole number 0 to 9")
    rt = services().runtime
    try:
        moved, todo = waiting_moves.move_waiting(
            rt, call_sid, account.id, queue_id=queue_id, priority=priority
        )
    except waiting_moves.MoveRefused as exc:
        status = 400 if exc.why in ("bad_queue", "bad_priority", "nothing") else 409
        if exc.why == "unknown_call":
            status = 404
        return jsonify({"error": str(exc), "why": exc.why}), status
    audit_control(
        "caller_moved",
        call_sid,
        {"queue": moved.from_queue, "priority": moved.before_priority},
        {"queue": moved.queue, "priority": moved.priority},
    )
    after_response(rt, todo)
    return jsonify(moved.as_json())
