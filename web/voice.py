"""Twilio voice webhooks: the caller's and the hotliner's side of every call.

Each view validates the signature, changes live state through one atomic
store operation, enqueues the follow-up job if any, and answers TwiML within
milliseconds. Nothing here calls Twilio's REST API (jobs do). An error never
becomes a 5xx: Twilio would play its own error message and drop the caller.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from core.clock import now_ms, utcnow
from ivr.config import MenuNode, SelfHelpNode
from ivr.incident import IncidentStore
from ivr.prompts import phrase, position_announcement
from ivr.tree import MAX_ATTEMPTS, InputKind, fold, interpret
from queues import handoff, routing, waiting
from queues.history import earlier_call, is_rememberable, preferred_agent
from queues.outage import LiveState, Unreachable
from queues.routing import announced_minutes
from web import services, twiml
from web.config import HotlineConfig
from web.effects import after_response
from web.twilio_auth import validate_twilio_request

log = logging.getLogger(__name__)

bp = Blueprint("voice", __name__, url_prefix="/voice")

#: A spoken description this long or longer is looked up in the knowledge base
#: before the menu's keywords ("imprimante" alone is a menu choice, "mon
#: imprimante est hors ligne" a known fault).
KB_MIN_WORDS = 3
#: The best fault must score this much more than the next to be taken alone.
KB_MARGIN = 1.25

#: CallStatus values that mean the call is over.
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


def _xml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


def _url(path: str, **params: object) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return services().runtime.public_url(f"{path}?{query}" if query else path)


def _menu_context() -> tuple[str, int, HotlineConfig]:
    """The caller's language and the tree version their call started with."""
    version, config = services().for_version(request.args.get("v"))
    return _lang(request.args.get("lang")), version, config


def _lang(value: str | None) -> str:
    languages = services().runtime.routing.hotline.languages
    return value if value in languages else languages[0]


def _live() -> LiveState:
    """Redis when it answers; else writes are journaled and reads defaulted."""
    return services().live


def _note(sid: str, kind: str = "ivr_note", **fields: str) -> None:
    """Keep a fact learnt about the call (journaled if Redis is down)."""
    store = services().runtime.store
    _live().run(
        lambda: store.note_facts(sid, kind, fields),
        False,
        ("note_call", [sid, kind, fields]),
    )


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
    """A caller dialled the hotline: incident first, then "same as last time?",
    then the menu."""
    svc = services()
    version, config = svc.for_version(None)
    lang = config.ivr.languages[0]
    sid = request.form.get("CallSid", "")
    rt = svc.runtime
    live = _live()
    caller = request.form.get("From", "")
    to = request.form.get("To", "")
    created = live.run(
        lambda: rt.store.start_call(sid, caller, to, lang),
        False,
        ("start_call", [sid, caller, to, lang]),
    )
    if created:
        agent = preferred_agent(
            _history(caller), now_ms(), rt.routing.hotline.preferred_agent_hours
        )
        if agent is not None:
            _note(sid, preferred=agent)
    incident = live.run(lambda: _incidents().current(), None)
    if incident is not None:
        text = incident.messages.get(lang) or next(iter(incident.messages.values()))
        return _xml(
            twiml.question(
                f"{config.ivr.welcome[lang]} {text}",
                phrase(lang, "incident_question"),
                lang,
                _url("/voice/incident", lang=lang, incident=incident.id, v=version),
            )
        )
    return _xml(_after_incident(version, lang, config.ivr.welcome[lang]))


def _after_incident(version: int, lang: str, preamble: str) -> VoiceResponse:
    """A returning caller is asked whether it is about their earlier call."""
    svc = services()
    _, config = svc.for_version(str(version))
    rt = svc.runtime
    sid = request.form.get("CallSid", "")
    earlier = earlier_call(
        _history(request.form.get("From", "")),
        now_ms(),
        rt.routing.hotline.returning_caller_days,
        excluding=sid,
    )
    queue = rt.routing.queue(earlier.queue) if earlier else None
    if earlier is not None and queue is not None:
        days = (
            utcnow().astimezone(rt.routing.hotline.timezone).date()
            - earlier.started_at.astimezone(rt.routing.hotline.timezone).date()
        ).days
        when = (
            phrase(lang, "today")
            if days <= 0
            else phrase(lang, "yesterday")
            if days == 1
            else phrase(lang, "days_ago", n=days)
        )
        return twiml.question(
            preamble,
            phrase(lang, "returning", when=when, queue=queue.names[lang]),
            lang,
            _url(
                "/voice/returning",
                lang=lang,
                previous=earlier.call_sid,
                queue=earlier.queue,
                v=version,
            ),
        )
    return _node(config.ivr.start, lang, attempt=1, preamble=preamble, version=version)


def _history(number: str) -> dict[str, str]:
    """What the call log remembers of this caller (from Redis: never SQL here)."""
    if not is_rememberable(number):
        return {}
    store = services().runtime.store
    nothing: dict[str, str] = {}
    return _live().run(lambda: store.caller_history(number), nothing)


@bp.post("/incident")
@validate_twilio_request
def incident() -> Response:
    """Is the call about the announced incident? Yes ends it, counted."""
    lang, version, _ = _menu_context()
    sid = request.form.get("CallSid", "")
    incident_id = request.args.get("incident", "")
    number = request.form.get("From", "")
    if request.form.get("Digits", "")[:1] == "1" and _live().run(
        lambda: _incidents().confirm(incident_id, number), False
    ):
        _self_serve(sid, "incident_confirmed", incident_id)
        return _xml(twiml.goodbye(phrase(lang, "incident_thanks"), lang))
    return _xml(_after_incident(version, lang, ""))


@bp.post("/returning")
@validate_twilio_request
def returning() -> Response:
    """Same problem as last time: straight to the same queue, linked."""
    lang, version, config = _menu_context()
    sid = request.form.get("CallSid", "")
    previous = request.args.get("previous", "")
    queue_id = request.args.get("queue", "")
    rt = services().runtime
    if request.form.get("Digits", "")[:1] == "1" and rt.routing.queue(queue_id):
        _note(sid, previous_call=previous)
        return _xml(_enqueue(queue_id, 1, lang, "", f"returning:{previous}"))
    return _xml(_node(config.ivr.start, lang, attempt=1, version=version))


def _incidents() -> IncidentStore:
    rt = services().runtime
    return IncidentStore(rt.redis, rt.keys.base)


def _self_serve(sid: str, outcome: str, detail: str) -> None:
    """The IVR alone settled the call (journaled if Redis is down)."""
    store = services().runtime.store
    _live().run(
        lambda: store.self_serve(sid, outcome, detail),
        False,
        ("self_serve", [sid, outcome, detail]),
    )


def _node(
    node_id: str,
    lang: str,
    attempt: int,
    preamble: str = "",
    use_help: bool = False,
    version: int | None = None,
) -> VoiceResponse:
    """TwiML for arriving at a node of the tree (of the call's tree version)."""
    svc = services()
    version, config = svc.for_version(str(version) if version else None)
    node = config.ivr.node(node_id) or config.ivr.nodes[config.ivr.start]
    if isinstance(node, MenuNode):
        return twiml.menu(
            node,
            lang,
            _url("/voice/menu", node=node.id, attempt=attempt, lang=lang, v=version),
            preamble=preamble,
            use_help=use_help,
        )
    if isinstance(node, SelfHelpNode):
        return _selfhelp_step(
            node,
            0,
            lang,
            version,
            attempt=1,
            preamble=" ".join(
                x
                for x in (preamble, node.intro[lang] or phrase(lang, "selfhelp_intro"))
                if x
            ),
        )
    return _enqueue(
        node.queue, node.priority, lang, node.announce[lang], node.id, preamble=preamble
    )


def _selfhelp_step(
    node: SelfHelpNode,
    step: int,
    lang: str,
    version: int,
    attempt: int,
    preamble: str = "",
) -> VoiceResponse:
    _, config = services().for_version(str(version))
    fault = config.kb.get(node.fault)
    steps = fault.self_help if fault else ()
    if step >= len(steps):
        _note(
            request.form.get("CallSid", ""),
            selfhelp_tried=f"{node.fault}:{len(steps)}",
        )
        return _node(
            node.unresolved,
            lang,
            attempt=1,
            preamble=phrase(lang, "selfhelp_handover"),
            version=version,
        )
    return twiml.question(
        preamble,
        f"{steps[step].text(lang)} {phrase(lang, 'selfhelp_ask')}",
        lang,
        _url(
            "/voice/selfhelp",
            node=node.id,
            step=step,
            attempt=attempt,
            lang=lang,
            v=version,
        ),
    )


@bp.post("/selfhelp")
@validate_twilio_request
def selfhelp() -> Response:
    """After one self-help step: fixed (1) ends the call, not fixed (2) goes on."""
    lang, version, config = _menu_context()
    node = config.ivr.node(request.args.get("node", ""))
    step = _int_arg("step", 0)
    attempt = _int_arg("attempt", 1)
    if not isinstance(node, SelfHelpNode):
        return _xml(_node(config.ivr.start, lang, attempt=1, version=version))
    key = request.form.get("Digits", "")[:1]
    speech = fold(request.form.get("SpeechResult", ""))
    if key == "1" or speech in {"oui", "yes", "c est regle", "ca marche"}:
        _self_serve(
            request.form.get("CallSid", ""),
            "self_service_resolved",
            f"{node.fault}:{step + 1}",
        )
        return _xml(twiml.goodbye(phrase(lang, "selfhelp_resolved"), lang))
    if key == "2" or speech in {"non", "no"}:
        return _xml(
            _selfhelp_step(
                node,
                step + 1,
                lang,
                version,
                attempt=1,
                preamble=phrase(lang, "selfhelp_next"),
            )
        )
    if attempt >= MAX_ATTEMPTS:
        return _xml(_selfhelp_step(node, 10**6, lang, version, attempt=1))
    reason = phrase(lang, "invalid" if key or speech else "no_input")
    return _xml(
        _selfhelp_step(node, step, lang, version, attempt=attempt + 1, preamble=reason)
    )


def _int_arg(name: str, default: int) -> int:
    try:
        return max(0, int(request.args.get(name, str(default))))
    except ValueError:
        return default


def _enqueue(
    queue_id: str,
    priority: int,
    lang: str,
    announce: str,
    choice: str,
    preamble: str = "",
) -> VoiceResponse:
    svc = services()
    rt = svc.runtime
    sid = request.form.get("CallSid", "")
    queue_id = routing.queue_for_language(rt.routing, queue_id, lang)
    _note(sid, "ivr_choice", ivr_choice=choice, lang=lang)
    queue = rt.routing.queue(queue_id)
    name = queue.names[lang] if queue else queue_id
    if not rt.routing.is_open(queue_id, utcnow()):
        hours = rt.routing.hotline.hours_text.get(lang) or phrase(lang, "closed")
        return twiml.choose_callback_or_message(
            f"{preamble} {hours}".strip(),
            phrase(lang, "callback_or_message"),
            lang,
            _url(
                "/voice/choose",
                queue=queue_id,
                priority=priority,
                lang=lang,
                why="closed",
            ),
        )
    live = _live()
    # Without live state, take the queue for staffed: the caller is held and
    # taken into the router in their order once Redis is back.
    if not live.run(lambda: waiting.is_staffed(rt.store, rt.routing, queue_id), True):
        return twiml.choose_callback_or_message(
            f"{preamble} {phrase(lang, 'nobody_on_duty', queue=name)}".strip(),
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
    result = live.run(
        lambda: rt.store.enqueue(sid, queue_id, priority),
        JOURNALED,
        ("enqueue", [sid, queue_id, priority]),
    )
    if result == 1:
        after_response(rt, handoff.Next(dispatch=True))
    elif result < 0:
        log.warning("enqueue refused (%d) call_sid=%s queue=%s", result, sid, queue_id)
    return _hold_in_queue(queue_id, lang, f"{preamble} {announce}".strip())


#: `_enqueue`'s result when the caller's entry was journaled (Redis down).
JOURNALED = 2


def _hold_in_queue(queue_id: str, lang: str, announce: str) -> VoiceResponse:
    """Twilio's `<Enqueue>` with our wait loop and our record of how it ended."""
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
    lang, version, config = _menu_context()
    node = config.ivr.node(request.args.get("node", ""))
    attempt = max(1, _int_arg("attempt", 1))
    if not isinstance(node, MenuNode):
        start = config.ivr.nodes[config.ivr.start]
        assert isinstance(start, MenuNode)
        node = start
    speech = request.form.get("SpeechResult")
    digits = request.form.get("Digits")
    sid = request.form.get("CallSid", "")
    if speech and not digits and len(speech.split()) >= KB_MIN_WORDS:
        # Words describing a known fault go straight to its self-help.
        goto = _kb_route(config, node, speech, sid)
        if goto is not None:
            return _xml(_node(goto, lang, attempt=1, version=version))
    heard = interpret(node, digits, speech, lang)
    if heard.kind is InputKind.INVALID and speech:
        problem = config.search.classify(speech)
        option = next((o for o in node.options if o.problem_type == problem), None)
        if problem is not None and option is not None and option.goto:
            return _xml(_node(option.goto, lang, attempt=1, version=version))
    if heard.kind is InputKind.CHOSEN and heard.option is not None:
        option = heard.option
        if option.switch_language:
            new_lang = option.switch_language
            _note(sid, "language", lang=new_lang)
            return _xml(_node(node.id, new_lang, attempt=1, version=version))
        assert option.goto is not None
        return _xml(_node(option.goto, lang, attempt=1, version=version))
    if heard.kind is InputKind.REPEAT:
        return _xml(_node(node.id, lang, attempt=attempt, version=version))
    if heard.kind is InputKind.BACK:
        return _xml(_node(config.ivr.start, lang, attempt=1, version=version))
    if attempt >= MAX_ATTEMPTS:
        general = svc.runtime.routing.hotline.general_queue
        return _xml(
            _enqueue(
                general, 0, lang, phrase(lang, "to_general"), f"{node.id}:fallback"
            )
        )
    reason = phrase(lang, "no_input" if heard.kind is InputKind.NO_INPUT else "invalid")
    return _xml(
        _node(
            node.id,
            lang,
            attempt=attempt + 1,
            preamble=reason,
            use_help=True,
            version=version,
        )
    )


def _kb_route(
    config: HotlineConfig, node: MenuNode, speech: str, sid: str
) -> str | None:
    """Ask the knowledge base what the caller's words describe.

    When the best fault has a self-help node in the tree, the caller goes
    straight to it (no need to walk the menus); otherwise the menu's own
    keywords decide. The fault found is noted for the hotliner either way.
    """
    hits = config.search.search(speech, limit=3)
    if not hits or config.search.classify(speech) is None:
        return None
    best = hits[0]
    if len(hits) > 1 and best.score < KB_MARGIN * hits[1].score:
        return None  # no clear winner: let the menu ask
    _note(sid, kb_fault=best.fault_id)
    for candidate in config.ivr.nodes.values():
        if isinstance(candidate, SelfHelpNode) and candidate.fault == best.fault_id:
            return candidate.id
    return None


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
    wait_for = _live().run(
        lambda: waiting.estimate(rt.store, rt.routing, queue_id, sid),
        waiting.WaitEstimate(None, None, 0),
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
    try:
        noted = bool(number) and _live().call(
            lambda: rt.store.request_callback(sid, number)
        )
    except Unreachable:
        text = phrase(lang, "callback_unavailable")
        return _xml(twiml.keep_waiting(text, lang, wait_url))
    if not noted:
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
    todo = _live().run(
        lambda: handoff.caller_gone(rt, call_sid, reason),
        handoff.NOTHING,
        ("caller_gone", [call_sid, reason]),
    )
    after_response(rt, todo)


@bp.post("/agent/answer")
@validate_twilio_request
def agent_answer() -> Response:
    """The hotliner picked up: if the caller is still there, join them."""
    svc = services()
    rt = svc.runtime
    offer_id = request.args.get("offer", "")
    lang = svc.ivr.languages[0]
    live = _live()
    try:
        accepted = live.call(
            lambda: handoff.hotliner_answered(
                rt, offer_id, request.form.get("CallSid", "")
            )
        )
        call = live.call(lambda: rt.store.call(accepted.call_sid)) if accepted else {}
    except Unreachable:
        # Nothing can be decided: the hotliner is told and hangs up, the caller
        # keeps waiting in Twilio's queue, and the miss is not theirs.
        live.journal("unanswerable", offer_id)
        return _xml(twiml.offer_gone(lang, phrase(lang, "offer_unavailable")))
    if accepted is None:
        return _xml(twiml.offer_gone(lang, phrase(lang, "offer_gone")))
    queue = rt.routing.queue(call.get("queue", ""))
    queue_name = queue.names[lang] if queue else call.get("queue", "")
    if call.get("callback") == "1":
        whisper = phrase(lang, "callback_whisper", queue=queue_name)
    else:
        whisper = phrase(lang, "whisper", queue=queue_name, choice="")
    after_response(rt, handoff.Next(connect=accepted.call_sid))
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
    if call_status in FINAL_STATUSES:
        offer = request.args.get("offer", "")
        agent = request.args.get("agent", "")
        leg = request.form.get("CallSid", "")
        todo = _live().run(
            lambda: handoff.hotliner_leg_ended(rt, offer, agent, leg, call_status),
            handoff.NOTHING,
            ("leg_ended", [offer, agent, leg, call_status]),
        )
        after_response(rt, todo)
    return _xml(twiml.empty())


@bp.post("/caller/connect")
@validate_twilio_request
def caller_connect() -> Response:
    """The caller, redirected out of the queue, joins their hotliner.

    If the hotliner left before the caller got here, the caller is back in
    their place (never alone in a conference) and holds in the queue again.
    So do they while live state is unreachable: their `bridge:` timer moves
    them to the conference again once it is back.
    """
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    live = _live()
    try:
        state = live.call(lambda: rt.store.bridge(sid))
        call = live.call(lambda: rt.store.call(sid))
    except Unreachable:
        lang = _lang(request.args.get("lang"))
        queue_id = _queue_arg()
        return _xml(_hold_in_queue(queue_id, lang, phrase(lang, "still_waiting")))
    lang = _lang(call.get("lang"))
    if state in handoff.HOLDING:
        # Their hotliner left first; they may be offered to another already.
        after_response(rt, handoff.Next(dispatch=True))
        return _xml(
            _hold_in_queue(call.get("queue", ""), lang, phrase(lang, "hotliner_left"))
        )
    if state != "talking":
        return _xml(twiml.goodbye(phrase(lang, "goodbye"), lang))
    return _xml(
        twiml.connect_to_hotliner(
            conference_name(sid), _url("/voice/caller/after", call=sid, lang=lang)
        )
    )


def _queue_arg() -> str:
    """The queue named in the URL, or the general queue if it names none."""
    routing_config = services().runtime.routing
    queue_id = request.args.get("queue", "")
    if routing_config.queue(queue_id) is None:  # a forged or stale URL
        return routing_config.hotline.general_queue
    return queue_id


@bp.post("/caller/after")
@validate_twilio_request
def caller_after() -> Response:
    """The caller's conference ended (the hotliner hung up): say goodbye."""
    store = services().runtime.store
    sid = request.args.get("call") or request.form.get("CallSid", "")
    _live().run(lambda: store.conference_over(sid), False, ("conference_over", [sid]))
    known: dict[str, str] = {}
    lang = _lang(
        request.args.get("lang")
        or _live().run(lambda: store.call(sid), known).get("lang")
    )
    return _xml(twiml.goodbye(phrase(lang, "goodbye"), lang))


@bp.post("/caller/requeue")
@validate_twilio_request
def caller_requeue() -> Response:
    """A caller alone in a conference their hotliner left (timer `alone:`):
    back to their place in the queue, or goodbye if their call is over."""
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    live = _live()
    try:
        requeued = live.call(lambda: rt.store.requeue_alone(sid))
        call = live.call(lambda: rt.store.call(sid))
    except Unreachable:
        live.journal("requeue_alone", sid)
        lang = _lang(request.args.get("lang"))
        return _xml(_hold_in_queue(_queue_arg(), lang, phrase(lang, "hotliner_left")))
    lang = _lang(call.get("lang"))
    if not requeued and call.get("state") not in handoff.HOLDING:
        return _xml(twiml.goodbye(phrase(lang, "goodbye"), lang))
    after_response(rt, handoff.Next(dispatch=True))
    return _xml(
        _hold_in_queue(call.get("queue", ""), lang, phrase(lang, "hotliner_left"))
    )


@bp.post("/callback/answer")
@validate_twilio_request
def callback_answer() -> Response:
    """The caller picked up our call back: join the hotliner waiting for them."""
    rt = services().runtime
    sid = request.args.get("call", "")
    live = _live()
    try:
        lang = _lang(live.call(lambda: rt.store.call(sid)).get("lang"))
        state = live.call(lambda: rt.store.bridge(sid))
    except Unreachable:
        # Their hotliner accepted them before live state went away: join them.
        lang, state = _lang(request.args.get("lang")), "talking"
    if state != "talking":
        return _xml(twiml.goodbye(phrase(lang, "callback_gone"), lang))
    return _xml(
        twiml.connect_to_hotliner(
            conference_name(sid),
            _url("/voice/caller/after", call=sid, lang=lang),
            intro=phrase(lang, "callback_intro"),
            lang=lang,
        )
    )


@bp.post("/callback/status")
@validate_twilio_request
def callback_status() -> Response:
    """Status of our call back: the end of the call, or an unanswered attempt."""
    rt = services().runtime
    sid = request.args.get("call", "")
    call_status = request.form.get("CallStatus", "")
    if call_status in FINAL_STATUSES:
        todo = _live().run(
            lambda: handoff.callback_leg_ended(rt, sid, call_status),
            handoff.NOTHING,
            ("callback_leg_ended", [sid, call_status]),
        )
        after_response(rt, todo)
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
    queue_id = _queue_arg()  # a forged or stale URL: never drop them
    why = request.args.get("why", "unstaffed")
    sid = request.form.get("CallSid", "")
    key = request.form.get("Digits", "")[:1]
    number = request.form.get("From", "")
    if key == "1" and number:
        priority = min(9, max(0, _int_arg("priority", 0)))

        def callback_requested() -> bool:
            if why in {"unstaffed", "closed"}:
                rt.store.enqueue(sid, queue_id, priority)
            return rt.store.request_callback(sid, number)

        # Without live state no callback can be promised: a message instead.
        if _live().run(callback_requested, False):
            after_response(rt, handoff.Next(dispatch=True))
            spoken_number = " ".join(number[-10:])
            return _xml(
                twiml.goodbye(
                    phrase(lang, "callback_confirmed", number=spoken_number), lang
                )
            )
    if key == "2" or why in {"unstaffed", "closed"}:
        return _xml(
            twiml.record_message(
                phrase(lang, "leave_message"),
                lang,
                _url("/voice/message-left", lang=lang),
            )
        )
    # Too long, but no choice made: back to waiting at the same place.
    return _xml(_hold_in_queue(queue_id, lang, ""))


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
    sid = request.form.get("CallSid", "")
    url = request.form.get("RecordingUrl", "")
    _live().run(
        lambda: rt.store.leave_voicemail(sid, url, seconds),
        False,
        ("voicemail", [sid, url, seconds]),
    )
    return _xml(twiml.goodbye(phrase(lang, "message_saved"), lang))


def conference_name(call_sid: str) -> str:
    """One conference per caller, so transfer and listen-in can join it later."""
    return f"hotline-{call_sid}"
