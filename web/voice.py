"""Twilio voice webhooks: the caller's and the hotliner's side of every call.

Each view validates the signature, changes live state through one atomic
store operation, enqueues the follow-up job if any, and answers TwiML within
milliseconds. Nothing here calls Twilio's REST API (jobs do). An error never
becomes a 5xx: Twilio would play its own error message and drop the caller.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from calllog.queries import preferred_agent
from ivr.config import MenuNode
from ivr.prompts import phrase, position_announcement
from ivr.tree import MAX_ATTEMPTS, InputKind, interpret
from queues import jobs, routing, waiting
from queues.routing import announced_minutes
from web import services, twiml
from web.twilio_auth import validate_twilio_request

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__, url_prefix="/voice")

#: CallStatus values that mean the call is over.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def _xml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _url(path: str, **params: object) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return services().runtime.public_url(f"{path}?{query}" if query else path)


def _lang(value: str | None) -> str:
    languages = services().runtime.routing.hotline.languages
    return value if value in languages else languages[0]


@bp.errorhandler(Exception)
def _never_fail(exc: Exception) -> Response:
    """Any failure becomes an apology the caller hears, never a 5xx."""
    from werkzeug.exceptions import HTTPException

    if isinstance(exc, HTTPException):
        return exc  # type: ignore[return-value]
    log.exception(
        "voice webhook failed path=%s call_sid=%s",
        request.path,
        request.form.get("CallSid", "-"),
    )
    return _xml(twiml.apology(_lang(request.args.get("lang"))))


@bp.post("/incoming")
@validate_twilio_request
def incoming() -> Response:
    """A caller dialled the hotline: greet them and ask the first question."""
    svc = services()
    lang = svc.ivr.languages[0]
    sid = request.form.get("CallSid", "")
    rt = svc.runtime
    caller = request.form.get("From", "")
    if rt.store.start_call(sid, caller, request.form.get("To", ""), lang):
        agent = preferred_agent(
            rt.engine, caller, rt.routing.hotline.preferred_agent_hours
        )
        if agent is not None:
            rt.store.note_call(sid, "preferred_agent", preferred=agent)
    start = svc.ivr.nodes[svc.ivr.start]
    return _xml(_node(start.id, lang, attempt=1, preamble=svc.ivr.welcome[lang]))


def _node(
    node_id: str, lang: str, attempt: int, preamble: str = "", use_help: bool = False
) -> VoiceResponse:
    """TwiML for arriving at a node of the tree."""
    svc = services()
    node = svc.ivr.nodes[node_id]
    if isinstance(node, MenuNode):
        return twiml.menu(
            node,
            lang,
            _url("/voice/menu", node=node.id, attempt=attempt, lang=lang),
            preamble=preamble,
            use_help=use_help,
        )
    return _enqueue(node.queue, node.priority, lang, node.announce[lang], node.id)


def _enqueue(
    queue_id: str, priority: int, lang: str, announce: str, choice: str
) -> VoiceResponse:
    svc = services()
    rt = svc.runtime
    sid = request.form.get("CallSid", "")
    queue_id = routing.queue_for_language(rt.routing, queue_id, lang)
    rt.store.note_call(sid, "ivr_choice", ivr_choice=choice, lang=lang)
    if not waiting.is_staffed(rt.store, rt.routing, queue_id):
        queue = rt.routing.queue(queue_id)
        name = queue.names[lang] if queue else queue_id
        return twiml.choose_callback_or_message(
            phrase(lang, "nobody_on_duty", queue=name),
            phrase(lang, "callback_or_message"),
            lang,
            _url(
                "/voice/choose",
                queue=queue_id,
                priority=priority,
                lang=lang,
                why="unstaffed",
            ),
        )
    result = rt.store.enqueue(sid, queue_id, priority)
    if result == 1:
        rt.jobs.enqueue(jobs.dispatch, queue_id)
    elif result < 0:
        log.warning("enqueue refused (%d) call_sid=%s queue=%s", result, sid, queue_id)
    return twiml.join_queue(
        queue_id,
        announce,
        lang,
        wait_url=_url("/voice/wait", queue=queue_id, lang=lang),
        action_url=_url("/voice/queue-result", lang=lang),
    )


@bp.post("/menu")
@validate_twilio_request
def menu() -> Response:
    """The caller pressed a key, said something, or stayed silent at a menu."""
    svc = services()
    lang = _lang(request.args.get("lang"))
    node = svc.ivr.node(request.args.get("node", ""))
    try:
        attempt = max(1, int(request.args.get("attempt", "1")))
    except ValueError:
        attempt = 1
    if not isinstance(node, MenuNode):
        node = svc.ivr.nodes[svc.ivr.start]
        assert isinstance(node, MenuNode)
    heard = interpret(
        node, request.form.get("Digits"), request.form.get("SpeechResult"), lang
    )
    if heard.kind is InputKind.CHOSEN and heard.option is not None:
        option = heard.option
        if option.switch_language:
            new_lang = option.switch_language
            svc.runtime.store.note_call(
                request.form.get("CallSid", ""), "language", lang=new_lang
            )
            return _xml(_node(node.id, new_lang, attempt=1))
        assert option.goto is not None
        return _xml(_node(option.goto, lang, attempt=1))
    if heard.kind is InputKind.REPEAT:
        return _xml(_node(node.id, lang, attempt=attempt))
    if heard.kind is InputKind.BACK:
        return _xml(_node(svc.ivr.start, lang, attempt=1))
    if attempt >= MAX_ATTEMPTS:
        general = svc.runtime.routing.hotline.general_queue
        return _xml(
            _enqueue(
                general, 0, lang, phrase(lang, "to_general"), f"{node.id}:fallback"
            )
        )
    reason = phrase(lang, "no_input" if heard.kind is InputKind.NO_INPUT else "invalid")
    return _xml(
        _node(node.id, lang, attempt=attempt + 1, preamble=reason, use_help=True)
    )


#: Length of the shipped hold music, to loop it close to the announce interval.
HOLD_MUSIC_SECONDS = 9.6


@bp.post("/wait")
@validate_twilio_request
def wait() -> Response:
    """Twilio's waitUrl: position and estimate, then hold music (then again)."""
    rt = services().runtime
    hotline = rt.routing.hotline
    lang = _lang(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    sid = request.form.get("CallSid", "")
    wait_for = waiting.estimate(rt.store, rt.routing, queue_id, sid)
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
    return _xml(
        twiml.hold(
            text,
            lang,
            music,
            key_url=_url("/voice/wait-key", queue=queue_id, lang=lang),
            music_loops=loops,
        )
    )


@bp.post("/wait-key")
@validate_twilio_request
def wait_key() -> Response:
    """A waiting caller pressed a key: the callback key keeps their place."""
    rt = services().runtime
    lang = _lang(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    sid = request.form.get("CallSid", "")
    wait_url = _url("/voice/wait", queue=queue_id, lang=lang)
    if request.form.get("Digits", "")[:1] != rt.routing.hotline.callback_key:
        return _xml(twiml.keep_waiting(phrase(lang, "invalid"), lang, wait_url))
    number = request.form.get("From", "")
    if not number or not rt.store.request_callback(sid, number):
        return _xml(twiml.keep_waiting("", lang, wait_url))
    spoken_number = " ".join(number[-10:]) if number else ""
    return _xml(
        twiml.goodbye(phrase(lang, "callback_confirmed", number=spoken_number), lang)
    )


@bp.post("/queue-result")
@validate_twilio_request
def queue_result() -> Response:
    """Enqueue action: the caller left Twilio's queue (QueueResult says how)."""
    if request.form.get("QueueResult") == "hangup":
        _caller_gone(request.form.get("CallSid", ""), "hangup")
    return _xml(twiml.empty())


@bp.post("/status")
@validate_twilio_request
def status() -> Response:
    """Status callback of a caller's call; a final status ends it (once)."""
    call_status = request.form.get("CallStatus", "")
    if call_status in FINAL_STATUSES:
        _caller_gone(request.form.get("CallSid", ""), call_status)
    return _xml(twiml.empty())


def _caller_gone(call_sid: str, reason: str) -> None:
    rt = services().runtime
    ended = rt.store.hang_up(call_sid, reason)
    if ended is None:
        return
    if ended.agent_leg_to_cancel:
        rt.jobs.enqueue(jobs.cancel_leg, ended.agent_leg_to_cancel)
    if ended.final_state == "abandoned" and ended.agent_id:
        rt.jobs.enqueue(jobs.dispatch)
    rt.jobs.enqueue(jobs.drain_call_log)


@bp.post("/agent/answer")
@validate_twilio_request
def agent_answer() -> Response:
    """The hotliner picked up: if the caller is still there, join them."""
    svc = services()
    rt = svc.runtime
    offer_id = request.args.get("offer", "")
    accepted = rt.store.accept(offer_id)
    lang = svc.ivr.languages[0]
    if accepted is None:
        return _xml(twiml.offer_gone(lang, phrase(lang, "offer_gone")))
    call = rt.store.call(accepted.call_sid)
    queue = rt.routing.queue(call.get("queue", ""))
    queue_name = queue.names[lang] if queue else call.get("queue", "")
    if call.get("callback") == "1":
        whisper = phrase(lang, "callback_whisper", queue=queue_name)
    else:
        whisper = phrase(lang, "whisper", queue=queue_name, choice="")
    rt.jobs.enqueue(jobs.bridge_caller, accepted.call_sid)
    return _xml(
        twiml.whisper_and_join(
            whisper.strip(), conference_name(accepted.call_sid), lang
        )
    )


@bp.post("/agent/status")
@validate_twilio_request
def agent_status() -> Response:
    """Status callback of a hotliner's leg: no answer hands the caller on."""
    rt = services().runtime
    call_status = request.form.get("CallStatus", "")
    offer_id = request.args.get("offer", "")
    agent_id = request.args.get("agent", "")
    if call_status not in FINAL_STATUSES:
        return _xml(twiml.empty())
    max_missed = rt.routing.hotline.max_missed_offers
    rejected = rt.store.reject(offer_id, call_status, max_missed)
    if rejected is not None:
        rt.jobs.enqueue(jobs.dispatch, rejected.queue_id)
        return _xml(twiml.empty())
    if rt.store.agent_leg_ended(agent_id, request.form.get("CallSid", "")):
        agent = rt.store.agent(agent_id)
        call = rt.store.call(agent.get("call_sid", ""))
        if call.get("state") == "connected":
            # The hotliner left before the caller reached the conference.
            rt.jobs.enqueue(jobs.hang_up_caller, call.get("sid", ""))
    return _xml(twiml.empty())


@bp.post("/caller/connect")
@validate_twilio_request
def caller_connect() -> Response:
    """The caller, redirected out of the queue, joins their hotliner."""
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    rt.store.bridge(sid)
    return _xml(
        twiml.connect_to_hotliner(conference_name(sid), _url("/voice/caller/after"))
    )


@bp.post("/caller/after")
@validate_twilio_request
def caller_after() -> Response:
    """The conference ended (the hotliner hung up): say goodbye."""
    svc = services()
    call = svc.runtime.store.call(
        request.args.get("call") or request.form.get("CallSid", "")
    )
    lang = _lang(call.get("lang"))
    return _xml(twiml.goodbye(phrase(lang, "goodbye"), lang))


@bp.post("/callback/answer")
@validate_twilio_request
def callback_answer() -> Response:
    """The caller picked up our call back: join the hotliner waiting for them."""
    rt = services().runtime
    sid = request.args.get("call", "")
    lang = _lang(rt.store.call(sid).get("lang"))
    if not rt.store.bridge(sid):
        return _xml(twiml.goodbye(phrase(lang, "callback_gone"), lang))
    return _xml(
        twiml.connect_to_hotliner(
            conference_name(sid),
            _url("/voice/caller/after", call=sid),
            intro=phrase(lang, "callback_intro"),
            lang=lang,
        )
    )


@bp.post("/callback/status")
@validate_twilio_request
def callback_status() -> Response:
    """Status of our call back: not answered means retry later or give up."""
    rt = services().runtime
    sid = request.args.get("call", "")
    call_status = request.form.get("CallStatus", "")
    if call_status not in FINAL_STATUSES:
        return _xml(twiml.empty())
    state = rt.store.call(sid).get("state")
    if state == "talking":
        ended = rt.store.hang_up(sid, call_status, leg="callback")
        if ended is not None:
            rt.jobs.enqueue(jobs.drain_call_log)
        return _xml(twiml.empty())
    hotline = rt.routing.hotline
    failure = rt.store.callback_failed(sid, hotline.callback_attempts, call_status)
    if failure is None:
        return _xml(twiml.empty())
    if failure.agent_leg:
        rt.jobs.enqueue(jobs.cancel_leg, failure.agent_leg)
    if failure.final:
        rt.jobs.enqueue(jobs.send_callback_sms, sid)
        rt.jobs.enqueue(jobs.drain_call_log)
    else:
        rt.jobs.enqueue_in(
            timedelta(seconds=hotline.callback_retry_seconds),
            jobs.requeue_callback,
            sid,
        )
    rt.jobs.enqueue(jobs.dispatch)
    return _xml(twiml.empty())


@bp.post("/too-long")
@validate_twilio_request
def too_long() -> Response:
    """The sweeper took a caller out of Twilio's queue: they waited too long."""
    lang = _lang(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    return _xml(
        twiml.choose_callback_or_message(
            phrase(lang, "too_long"),
            phrase(lang, "callback_or_message"),
            lang,
            _url("/voice/choose", queue=queue_id, lang=lang, why="too_long"),
        )
    )


@bp.post("/choose")
@validate_twilio_request
def choose() -> Response:
    """Callback (1) or message (2) when nobody is on duty or the wait is too long."""
    rt = services().runtime
    lang = _lang(request.args.get("lang"))
    queue_id = request.args.get("queue", "")
    why = request.args.get("why", "unstaffed")
    sid = request.form.get("CallSid", "")
    key = request.form.get("Digits", "")[:1]
    if key == "1":
        if why == "unstaffed":
            try:
                priority = min(9, max(0, int(request.args.get("priority", "0"))))
            except ValueError:
                priority = 0
            rt.store.enqueue(sid, queue_id, priority)
        number = request.form.get("From", "")
        if number and rt.store.request_callback(sid, number):
            rt.jobs.enqueue(jobs.dispatch)
            spoken_number = " ".join(number[-10:])
            return _xml(
                twiml.goodbye(
                    phrase(lang, "callback_confirmed", number=spoken_number), lang
                )
            )
    if key == "2" or why == "unstaffed":
        return _xml(
            twiml.record_message(
                phrase(lang, "leave_message"),
                lang,
                _url("/voice/message-left", lang=lang),
            )
        )
    # Too long, but no choice made: back to waiting at the same place.
    return _xml(
        twiml.join_queue(
            queue_id,
            "",
            lang,
            wait_url=_url("/voice/wait", queue=queue_id, lang=lang),
            action_url=_url("/voice/queue-result", lang=lang),
        )
    )


@bp.post("/message-left")
@validate_twilio_request
def message_left() -> Response:
    """Record's action: the message is the call's outcome."""
    rt = services().runtime
    lang = _lang(request.args.get("lang"))
    try:
        seconds = int(request.form.get("RecordingDuration", "0"))
    except ValueError:
        seconds = 0
    if rt.store.leave_voicemail(
        request.form.get("CallSid", ""), request.form.get("RecordingUrl", ""), seconds
    ):
        rt.jobs.enqueue(jobs.drain_call_log)
    return _xml(twiml.goodbye(phrase(lang, "message_saved"), lang))


def conference_name(call_sid: str) -> str:
    """One conference per caller, so transfer and listen-in can join it later."""
    return f"hotline-{call_sid}"
