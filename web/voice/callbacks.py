"""Our call back to a caller who asked for one: they pick up and join the
hotliner waiting for them, or the attempt fails (`queues.handoff` retries it
or texts them after the last one).
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from core.telephony import FINAL_CALL_STATUSES
from ivr.prompts import phrase
from queues import handoff, webhooks
from queues.outage import Unreachable
from web import services, twiml
from web.effects import after_response
from web.twilio_auth import validate_twilio_request
from web.voice.common import (
    absolute_url,
    language,
    live,
    xml_response,
)

bp = Blueprint("callbacks", __name__)


@bp.post(webhooks.CALLBACK_ANSWER)
@validate_twilio_request
def callback_answer() -> Response:
    """The caller picked up our call back: join the hotliner waiting for them."""
    rt = services().runtime
    sid = request.args.get("call", "")
    live_state = live()
    try:
        lang = language(live_state.call(lambda: rt.store.call(sid)).get("lang"))
        call_state = live_state.call(lambda: rt.store.bridge(sid))
    except Unreachable:
        # Their hotliner accepted them before live state went away: join them.
        lang, call_state = language(request.args.get("lang")), "talking"
    if call_state != "talking":
        return xml_response(twiml.goodbye(phrase(lang, "callback_gone"), lang))
    return xml_response(
        twiml.connect_to_hotliner(
            webhooks.conference_name(sid),
            absolute_url(webhooks.caller_after(sid, lang)),
            intro=phrase(lang, "callback_intro"),
            lang=lang,
        )
    )


@bp.post(webhooks.CALLBACK_STATUS)
@validate_twilio_request
def callback_status() -> Response:
    """Status of our call back: the end of the call, or an unanswered attempt
    (both decided by `handoff.callback_leg_ended`)."""
    rt = services().runtime
    sid = request.args.get("call", "")
    call_status = request.form.get("CallStatus", "")
    if call_status in FINAL_CALL_STATUSES:
        todo = live().run(
            lambda: handoff.callback_leg_ended(rt, sid, call_status),
            handoff.NOTHING,
            ("callback_leg_ended", [sid, call_status]),
        )
        after_response(rt, todo)
    return xml_response(twiml.empty())
