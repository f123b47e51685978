"""The caller's call and the hotliner's leg: final statuses, the hotliner
answering, and the caller's move into (and out of) their conference.

Each decision is taken in Redis by `queues.handoff` before the answer; what
it leaves to do at the carrier runs right after it (`web.effects`).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from core.telephony import FINAL_CALL_STATUSES
from ivr.prompts import phrase
from queues import handoff, listen_in, warm_transfer, webhooks
from queues.outage import Unreachable
from web import services, twiml
from web.effects import after_response
from web.twilio_auth import validate_twilio_request
from web.voice.common import (
    absolute_url,
    caller_gone,
    hold_in_queue,
    language,
    live,
    queue_arg,
    xml_response,
)

bp = Blueprint("legs", __name__)


@bp.post(webhooks.STATUS)
@validate_twilio_request
def status() -> Response:
    """Status callback of a caller's call; a final status ends it (once)."""
    call_status = request.form.get("CallStatus", "")
    if call_status in FINAL_CALL_STATUSES:
        caller_gone(request.form.get("CallSid", ""), call_status)
    return xml_response(twiml.empty())


@bp.post(webhooks.AGENT_ANSWER)
@validate_twilio_request
def agent_answer() -> Response:
    """The hotliner picked up: if the caller is still there, join them."""
    svc = services()
    rt = svc.runtime
    offer_id = request.args.get("offer", "")
    lang = svc.ivr.languages[0]
    live_state = live()
    try:
        accepted = live_state.call(
            lambda: handoff.hotliner_answered(
                rt, offer_id, request.form.get("CallSid", "")
            )
        )
        call = (
            live_state.call(lambda: rt.store.call(accepted.call_sid))
            if accepted
            else {}
        )
    except Unreachable:
        # Nothing can be decided: the hotliner is told and hangs up, the caller
        # keeps waiting in Twilio's queue, and the miss is not theirs.
        live_state.journal("unanswerable", offer_id)
        return xml_response(twiml.offer_gone(lang, phrase(lang, "offer_unavailable")))
    if accepted is None:
        return xml_response(twiml.offer_gone(lang, phrase(lang, "offer_gone")))
    queue = rt.routing.queue(call.get("queue", ""))
    queue_name = queue.names[lang] if queue else call.get("queue", "")
    hotliner = rt.routing.hotliner(accepted.agent_id)
    endpoint = hotliner.endpoint if hotliner else request.form.get("To", "")
    if call.get("callback") == "1":
        # Always said: the hotliner waits while we call the caller.
        whisper = phrase(lang, "callback_whisper", queue=queue_name)
    elif rt.routing.hotline.whispers_to(endpoint):
        whisper = phrase(lang, "whisper", queue=queue_name, choice="")
    else:
        whisper = ""
    after_response(rt, handoff.Next(connect=accepted.call_sid))
    return xml_response(
        twiml.whisper_and_join(
            whisper.strip(), webhooks.conference_name(accepted.call_sid), lang
        )
    )


@bp.post(webhooks.CONSULT_ANSWER)
@validate_twilio_request
def consult_answer() -> Response:
    """A specialist rung for a warm transfer picked up: they join the hotliner
    who asked (the caller on hold), unless the transfer is off by now."""
    svc = services()
    rt = svc.runtime
    offer_id = request.args.get("offer", "")
    lang = svc.ivr.languages[0]
    live_state = live()
    try:
        joined = live_state.call(
            lambda: warm_transfer.answered(
                rt, offer_id, request.form.get("CallSid", "")
            )
        )
    except Unreachable:
        return xml_response(twiml.offer_gone(lang, phrase(lang, "offer_unavailable")))
    if joined is None:
        return xml_response(twiml.offer_gone(lang, phrase(lang, "offer_gone")))
    return xml_response(twiml.join_briefing(webhooks.conference_name(joined.call_sid)))


@bp.post(webhooks.CALLER_TRANSFER_HOLD)
@validate_twilio_request
def caller_transfer_hold() -> Response:
    """What a caller hears on hold during a warm transfer (their HoldUrl)."""
    rt = services().runtime
    lang = language(request.args.get("lang"))
    music = rt.routing.hotline.hold_music_url
    if music.startswith("/"):
        music = rt.public_url(music)
    return xml_response(twiml.transfer_hold(phrase(lang, "transfer_hold"), lang, music))


@bp.post(webhooks.EXTERNAL_STATUS)
@validate_twilio_request
def external_status() -> Response:
    """Someone outside called into a caller's conference answered, or their
    leg ended (before the hand-over: the caller is back with their hotliner)."""
    rt = services().runtime
    sid = request.args.get("call", "")
    ident = request.args.get("consult", "")
    leg = request.form.get("CallSid", "")
    call_status = request.form.get("CallStatus", "")
    todo = live().run(
        lambda: warm_transfer.external_status(rt, sid, ident, leg, call_status),
        handoff.NOTHING,
        ("external_status", [sid, ident, leg, call_status]),
    )
    after_response(rt, todo)
    return xml_response(twiml.empty())


@bp.post(webhooks.LISTENER_STATUS)
@validate_twilio_request
def listener_status() -> Response:
    """A supervisor's leg on a call (listen, whisper, barge) answered or
    ended: ended, they are off the call. Redis down: nothing to keep (the
    leg is gone; a later listen finds the call's hash as it was)."""
    rt = services().runtime
    sid = request.args.get("call", "")
    leg = request.form.get("CallSid", "")
    call_status = request.form.get("CallStatus", "")
    live().run(lambda: listen_in.leg_status(rt, sid, leg, call_status), None)
    return xml_response(twiml.empty())


@bp.post(webhooks.AGENT_STATUS)
@validate_twilio_request
def agent_status() -> Response:
    """Status callback of a hotliner's leg: no answer hands the caller on."""
    rt = services().runtime
    call_status = request.form.get("CallStatus", "")
    if call_status in FINAL_CALL_STATUSES:
        offer = request.args.get("offer", "")
        agent = request.args.get("agent", "")
        leg = request.form.get("CallSid", "")
        todo = live().run(
            lambda: handoff.hotliner_leg_ended(rt, offer, agent, leg, call_status),
            handoff.NOTHING,
            ("leg_ended", [offer, agent, leg, call_status]),
        )
        after_response(rt, todo)
    return xml_response(twiml.empty())


@bp.post(webhooks.CALLER_CONNECT)
@validate_twilio_request
def caller_connect() -> Response:
    """The caller, redirected out of the queue, joins their hotliner.

    If the hotliner left before the caller got here, the caller is back in
    their place (never alone in a conference) and holds in the queue again.
    So do they while live state is unreachable: their `bridge:` timer moves
    them to the conference again once it is back. Once the bridge is done
    (it ends that timer), the caller goes where it says even if live state
    stops answering before the call's language is read: the URL has it.
    """
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    live_state = live()
    try:
        call_state = live_state.call(lambda: rt.store.bridge(sid))
    except Unreachable:
        lang = language(request.args.get("lang"))
        queue_id = queue_arg()
        return xml_response(
            hold_in_queue(queue_id, lang, phrase(lang, "still_waiting"))
        )
    try:
        call = live_state.call(lambda: rt.store.call(sid))
    except Unreachable:
        call = {}
    lang = language(call.get("lang") or request.args.get("lang"))
    if call_state in handoff.HOLDING:
        # Their hotliner left first; they may be offered to another already.
        after_response(rt, handoff.Next(dispatch=True))
        return xml_response(
            hold_in_queue(
                call.get("queue") or queue_arg(), lang, phrase(lang, "hotliner_left")
            )
        )
    if call_state != "talking":
        return xml_response(twiml.goodbye(phrase(lang, "goodbye"), lang))
    return xml_response(
        twiml.connect_to_hotliner(
            webhooks.conference_name(sid),
            absolute_url(webhooks.caller_after(sid, lang)),
        )
    )


@bp.post(webhooks.CALLER_AFTER)
@validate_twilio_request
def caller_after() -> Response:
    """The caller's conference ended (the hotliner hung up): say goodbye.

    Unless the caller was transferred and is waiting again (their move out of
    the conference failed): then they hold in their new queue.
    """
    store = services().runtime.store
    sid = request.args.get("call") or request.form.get("CallSid", "")
    live().run(lambda: store.conference_over(sid), False, ("conference_over", [sid]))
    known: dict[str, str] = {}
    call = live().run(lambda: store.call(sid), known)
    lang = language(request.args.get("lang") or call.get("lang"))
    if call.get("transfers") and call.get("state") in handoff.HOLDING:
        return xml_response(
            hold_in_queue(call.get("queue", ""), lang, phrase(lang, "still_waiting"))
        )
    return xml_response(twiml.goodbye(phrase(lang, "goodbye"), lang))


@bp.post(webhooks.CALLER_TRANSFERRED)
@validate_twilio_request
def caller_transferred() -> Response:
    """A caller passed on by their hotliner, out of the conference: told so,
    they hold in their new queue (or hear goodbye if their call is over)."""
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    live_state = live()
    try:
        call = live_state.call(lambda: rt.store.call(sid))
    except Unreachable:
        lang = language(request.args.get("lang"))
        return xml_response(
            hold_in_queue(queue_arg(), lang, phrase(lang, "still_waiting"))
        )
    lang = language(call.get("lang"))
    if call.get("state") not in handoff.HOLDING:
        return xml_response(twiml.goodbye(phrase(lang, "goodbye"), lang))
    queue_id = call.get("queue", "")
    queue = rt.routing.queue(queue_id)
    name = queue.names.get(lang, queue_id) if queue else queue_id
    return xml_response(
        hold_in_queue(queue_id, lang, phrase(lang, "transferred", queue=name))
    )


@bp.post(webhooks.CALLER_REQUEUE)
@validate_twilio_request
def caller_requeue() -> Response:
    """A caller alone in a conference their hotliner left (timer `alone:`):
    back to their place in the queue, or goodbye if their call is over."""
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    live_state = live()
    try:
        requeued = live_state.call(lambda: rt.store.requeue_alone(sid))
        call = live_state.call(lambda: rt.store.call(sid))
    except Unreachable:
        live_state.journal("requeue_alone", sid)
        lang = language(request.args.get("lang"))
        return xml_response(
            hold_in_queue(queue_arg(), lang, phrase(lang, "hotliner_left"))
        )
    lang = language(call.get("lang"))
    if not requeued and call.get("state") not in handoff.HOLDING:
        return xml_response(twiml.goodbye(phrase(lang, "goodbye"), lang))
    after_response(rt, handoff.Next(dispatch=True))
    return xml_response(
        hold_in_queue(call.get("queue", ""), lang, phrase(lang, "hotliner_left"))
    )
