"""Waiting in Twilio's queue, and the ways out of it: the hold loop and its
callback key, how the caller left the queue, and callback or voicemail when
nobody is on duty or the wait is too long.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from ivr.prompts import phrase, position_announcement
from queues import handoff, webhooks
from queues.admission import TURNED_AWAY
from queues.outage import Unreachable
from queues.routing import announced_minutes
from queues.waiting import WaitEstimate, estimate
from web import services, twiml
from web.effects import after_response
from web.twilio_auth import validate_twilio_request
from web.voice.common import (
    absolute_url,
    caller_gone,
    held_arg,
    hold_in_queue,
    int_arg,
    language,
    live,
    queue_arg,
    xml_response,
)

bp = Blueprint("waiting", __name__)
log = logging.getLogger(__name__)

#: `QueueResult`s of a caller `<Enqueue>` could not hold (Twilio's values).
NOT_IN_TWILIOS_QUEUE = frozenset({"queue-full", "error", "system-error"})

#: Length of the shipped hold music, to loop it close to the announce interval.
HOLD_MUSIC_SECONDS = 9.6


@bp.post(webhooks.WAIT)
@validate_twilio_request
def wait() -> Response:
    """Twilio's waitUrl: position and estimate, then hold music (then again)."""
    rt = services().runtime
    hotline = rt.routing.hotline
    lang = language(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    held = held_arg()
    sid = request.form.get("CallSid", "")
    wait_for = live().run(
        lambda: estimate(rt.store, rt.routing, queue_id, sid),
        WaitEstimate(None, None, 0),
    )
    if wait_for.position is None:
        text = phrase(lang, "still_waiting")
    else:
        text = position_announcement(
            lang, wait_for.position, announced_minutes(wait_for.seconds)
        )
    text += " " + phrase(lang, "offer_callback", key=hotline.callback_key)
    music = hotline.hold_music_url
    if music.startswith("/"):
        music = rt.public_url(music)
    loops = round(hotline.announce_every_seconds / HOLD_MUSIC_SECONDS)
    return xml_response(
        twiml.hold(
            text,
            lang,
            music,
            key_url=absolute_url(webhooks.wait_key(queue_id, lang, held=held)),
            music_loops=loops,
            again_url=(
                absolute_url(webhooks.wait(queue_id, lang, held=True)) if held else None
            ),
        )
    )


@bp.post(webhooks.WAIT_KEY)
@validate_twilio_request
def wait_key() -> Response:
    """A waiting caller pressed a key: the callback key keeps their place."""
    rt = services().runtime
    lang = language(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    sid = request.form.get("CallSid", "")
    held = held_arg()
    wait_url = absolute_url(webhooks.wait(queue_id, lang, held=held))
    if request.form.get("Digits", "")[:1] != rt.routing.hotline.callback_key:
        return xml_response(twiml.keep_waiting(phrase(lang, "invalid"), lang, wait_url))
    number = request.form.get("From", "")
    try:
        noted = bool(number) and live().call(
            lambda: rt.store.request_callback(sid, number)
        )
    except Unreachable:
        text = phrase(lang, "callback_unavailable")
        return xml_response(twiml.keep_waiting(text, lang, wait_url))
    if not noted:
        return xml_response(twiml.keep_waiting("", lang, wait_url))
    spoken_number = " ".join(number[-10:]) if number else ""
    return xml_response(
        twiml.goodbye(phrase(lang, "callback_confirmed", number=spoken_number), lang)
    )


@bp.post(webhooks.QUEUE_RESULT)
@validate_twilio_request
def queue_result() -> Response:
    """Enqueue action: the caller left Twilio's queue (QueueResult says how).

    A caller Twilio could not put in its queue (full: 1,000 callers by
    default, error) keeps their place in ours, held by a document that asks
    for itself again: the router reaches them as it reaches any waiting
    caller, by redirecting their call. Ending the TwiML would hang them up.
    """
    result = request.form.get("QueueResult", "")
    sid = request.form.get("CallSid", "")
    if result == "hangup":
        caller_gone(sid, "hangup")
    elif result in NOT_IN_TWILIOS_QUEUE:
        queue_id = queue_arg()
        lang = language(request.args.get("lang"))
        log.warning(
            "call_sid=%s not in Twilio's queue %r (%s): held outside it",
            sid,
            queue_id,
            result,
        )
        held = absolute_url(webhooks.wait(queue_id, lang, held=True))
        return xml_response(twiml.keep_waiting("", lang, held))
    return xml_response(twiml.empty())


@bp.post(webhooks.TOO_LONG)
@validate_twilio_request
def too_long() -> Response:
    """The sweeper took a caller out of Twilio's queue: they waited too long."""
    lang = language(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    return xml_response(
        twiml.choose_callback_or_message(
            phrase(lang, "too_long"),
            phrase(lang, "callback_or_message"),
            lang,
            absolute_url(webhooks.choose(queue_id, lang, "too_long")),
        )
    )


@bp.post(webhooks.CHOOSE)
@validate_twilio_request
def choose() -> Response:
    """Callback (1) or message (2) when nobody is on duty or the wait is too long."""
    rt = services().runtime
    lang = language(request.args.get("lang"))
    queue_id = queue_arg()  # a forged or stale URL: never drop them
    why = request.args.get("why", "unstaffed")
    turned_away = why in TURNED_AWAY  # not in the queue yet
    sid = request.form.get("CallSid", "")
    key = request.form.get("Digits", "")[:1]
    number = request.form.get("From", "")
    if key == "1" and number:
        priority = min(9, max(0, int_arg("priority", 0)))

        def callback_requested() -> bool:
            if turned_away:
                rt.store.enqueue(sid, queue_id, priority)
            return rt.store.request_callback(sid, number)

        # Without live state no callback can be promised: a message instead.
        if live().run(callback_requested, False):
            after_response(rt, handoff.Next(dispatch=True))
            spoken_number = " ".join(number[-10:])
            return xml_response(
                twiml.goodbye(
                    phrase(lang, "callback_confirmed", number=spoken_number), lang
                )
            )
    if key == "2" or turned_away:
        return xml_response(
            twiml.record_message(
                phrase(lang, "leave_message"),
                lang,
                absolute_url(webhooks.message_left(lang)),
            )
        )
    # Too long, but no choice made: back to waiting at the same place.
    return xml_response(hold_in_queue(queue_id, lang, ""))


@bp.post(webhooks.MESSAGE_LEFT)
@validate_twilio_request
def message_left() -> Response:
    """Record's action: the message is the call's outcome."""
    rt = services().runtime
    lang = language(request.args.get("lang"))
    try:
        seconds = int(request.form.get("RecordingDuration", "0"))
    except ValueError:
        seconds = 0
    sid = request.form.get("CallSid", "")
    url = request.form.get("RecordingUrl", "")
    live().run(
        lambda: rt.store.leave_voicemail(sid, url, seconds),
        False,
        ("voicemail", [sid, url, seconds]),
    )
    return xml_response(twiml.goodbye(phrase(lang, "message_saved"), lang))
