"""The voice menu: the incident notice, "same as last time?", menus and
self-help, up to the caller's admission to a queue.

The tree (in memory, hot reloaded) decides what input means (`ivr.tree`);
a call keeps the tree version it started with (`v=` in its URLs).
"""

from __future__ import annotations

from flask import Blueprint, Response, request
from twilio.twiml.voice_response import VoiceResponse

from core.clock import now_ms, utcnow
from ivr.config import MenuNode, SelfHelpNode
from ivr.prompts import days_ago, phrase, problem_name
from ivr.tree import (
    MAX_ATTEMPTS,
    Answer,
    InputKind,
    interpret,
    is_description,
    option_for_problem,
    yes_or_no,
)
from ivr.triage import Triage, Verdict, answer_between, triage
from queues import handoff, routing, webhooks
from queues.admission import TURNED_AWAY, Admission, admit
from queues.call_context import path_field, path_value
from queues.history import earlier_call, is_rememberable, preferred_agent
from queues.lifecycle import EventType
from web import services, twiml
from web.config import HotlineConfig
from web.effects import after_response
from web.twilio_auth import validate_twilio_request
from web.voice.common import (
    Twiml,
    absolute_url,
    hold_in_queue,
    int_arg,
    language,
    live,
    note,
    xml_response,
)

bp = Blueprint("menu", __name__)


def _menu_context() -> tuple[str, str, HotlineConfig]:
    """The caller's language and the tree version their call started with."""
    version, config = services().for_version(request.args.get("v"))
    return language(request.args.get("lang")), version, config


@bp.post(webhooks.INCOMING)
@validate_twilio_request
def incoming() -> Response:
    """A caller dialled the hotline: incident first, then "same as last time?",
    then the menu."""
    svc = services()
    version, config = svc.for_version(None)
    lang = config.ivr.languages[0]
    sid = request.form.get("CallSid", "")
    rt = svc.runtime
    live_state = live()
    caller = request.form.get("From", "")
    to = request.form.get("To", "")
    created = live_state.run(
        lambda: rt.store.start_call(sid, caller, to, lang),
        False,
        ("start_call", [sid, caller, to, lang]),
    )
    history: dict[str, str] | None = None  # read once, for both questions
    if created:
        history = _history(caller)
        agent = preferred_agent(
            history, now_ms(), rt.routing.hotline.preferred_agent_hours
        )
        if agent is not None:
            note(sid, preferred=agent)
    incident = live_state.run(lambda: svc.incidents.current(), None)
    if incident is not None:
        text = incident.messages.get(lang) or next(iter(incident.messages.values()))
        return xml_response(
            twiml.question(
                f"{config.ivr.welcome[lang]} {text}",
                phrase(lang, "incident_question"),
                lang,
                absolute_url(webhooks.incident(lang, incident.id, version)),
            )
        )
    return xml_response(
        _after_incident(version, lang, config.ivr.welcome[lang], history)
    )


def _after_incident(
    version: str, lang: str, preamble: str, history: dict[str, str] | None = None
) -> Twiml:
    """A returning caller is asked whether it is about their earlier call
    (`history`: the caller's, if this request has read it already)."""
    svc = services()
    _, config = svc.for_version(version)
    rt = svc.runtime
    hotline = rt.routing.hotline
    sid = request.form.get("CallSid", "")
    if history is None:
        history = _history(request.form.get("From", ""))
    earlier = earlier_call(
        history,
        now_ms(),
        hotline.returning_caller_days,
        excluding=sid,
    )
    queue = rt.routing.queue(earlier.queue) if earlier else None
    if earlier is not None and queue is not None:
        when = days_ago(lang, earlier.started_at, utcnow(), hotline.timezone)
        return twiml.question(
            preamble,
            phrase(lang, "returning", when=when, queue=queue.names[lang]),
            lang,
            absolute_url(
                webhooks.returning(lang, earlier.call_sid, earlier.queue, version)
            ),
        )
    return _node(config.ivr.start, lang, attempt=1, preamble=preamble, version=version)


def _history(number: str) -> dict[str, str]:
    """What the call log remembers of this caller (from Redis: never SQL here)."""
    if not is_rememberable(number):
        return {}
    store = services().runtime.store
    nothing: dict[str, str] = {}
    return live().run(lambda: store.caller_history(number), nothing)


@bp.post(webhooks.INCIDENT)
@validate_twilio_request
def incident() -> Response:
    """Is the call about the announced incident? Yes ends it, counted."""
    lang, version, _ = _menu_context()
    sid = request.form.get("CallSid", "")
    incident_id = request.args.get("incident", "")
    number = request.form.get("From", "")
    incidents = services().incidents
    if request.form.get("Digits", "")[:1] == "1" and live().run(
        lambda: incidents.confirm(incident_id, number), False
    ):
        _self_serve(sid, "incident_confirmed", incident_id)
        return xml_response(twiml.goodbye(phrase(lang, "incident_thanks"), lang))
    if incident_id:
        note(sid, incident_heard=incident_id)  # heard it, said it is not theirs
    return xml_response(_after_incident(version, lang, ""))


@bp.post(webhooks.RETURNING)
@validate_twilio_request
def returning() -> Response:
    """Same problem as last time: straight to the same queue, linked."""
    lang, version, config = _menu_context()
    sid = request.form.get("CallSid", "")
    previous = request.args.get("previous", "")
    queue_id = request.args.get("queue", "")
    rt = services().runtime
    if request.form.get("Digits", "")[:1] == "1" and rt.routing.queue(queue_id):
        note(sid, previous_call=previous)
        return xml_response(_enqueue(queue_id, 1, lang, "", f"returning:{previous}"))
    return xml_response(_node(config.ivr.start, lang, attempt=1, version=version))


def _note_answer(sid: str, node: str, digits: str | None, speech: str | None) -> None:
    """What the caller pressed or said at a menu, for their hotliner's screen."""
    if digits:
        note(
            sid,
            EventType.IVR_NOTE,
            **{path_field(now_ms()): path_value(node, "key", digits)},
        )
    elif speech:
        note(
            sid,
            EventType.IVR_NOTE,
            **{path_field(now_ms()): path_value(node, "said", speech)},
        )


def _self_serve(sid: str, outcome: str, detail: str) -> None:
    """The IVR alone settled the call (journaled if Redis is down)."""
    store = services().runtime.store
    live().run(
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
    version: str | None = None,
) -> Twiml:
    """TwiML for arriving at a node of the tree (of the call's tree version)."""
    svc = services()
    version, config = svc.for_version(version)
    node = config.ivr.node(node_id) or config.ivr.nodes[config.ivr.start]
    if isinstance(node, MenuNode):
        key = (version, node.id, lang, attempt, preamble, use_help)
        known = svc.menu_twiml.get(key)
        if known is None:
            known = str(
                twiml.menu(
                    node,
                    lang,
                    absolute_url(webhooks.menu(node.id, attempt, lang, version)),
                    preamble=preamble,
                    use_help=use_help,
                    hints=config.gather_hints.get((node.id, lang), ""),
                )
            )
            svc.remember_menu(key, known)
        return known
    if isinstance(node, SelfHelpNode):
        # Known before any step is read, so a caller who hangs up counts in
        # the fault's deflection (`docs/METRICS.md`) and the pop-up names it.
        note(
            request.form.get("CallSid", ""),
            kb_fault=node.fault,
            selfhelp_tried=f"{node.fault}:0",
        )
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
    version: str,
    attempt: int,
    preamble: str = "",
) -> Twiml:
    _, config = services().for_version(version)
    fault = config.kb.get(node.fault)
    steps = fault.self_help if fault else ()
    if step >= len(steps):
        note(
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
        absolute_url(webhooks.selfhelp(node.id, step, attempt, lang, version)),
    )


@bp.post(webhooks.SELFHELP)
@validate_twilio_request
def selfhelp() -> Response:
    """After one self-help step: fixed (1) ends the call, not fixed (2) goes on."""
    lang, version, config = _menu_context()
    node = config.ivr.node(request.args.get("node", ""))
    step = int_arg("step", 0)
    attempt = int_arg("attempt", 1)
    if not isinstance(node, SelfHelpNode):
        return xml_response(_node(config.ivr.start, lang, attempt=1, version=version))
    _note_answer(
        request.form.get("CallSid", ""),
        f"{node.id}#{step + 1}",
        request.form.get("Digits"),
        request.form.get("SpeechResult"),
    )
    answer = yes_or_no(request.form.get("Digits"), request.form.get("SpeechResult"))
    if answer is Answer.YES:
        _self_serve(
            request.form.get("CallSid", ""),
            "self_service_resolved",
            f"{node.fault}:{step + 1}",
        )
        return xml_response(twiml.goodbye(phrase(lang, "selfhelp_resolved"), lang))
    if answer is Answer.NO:
        fault = config.kb.get(node.fault)
        if fault is not None and step + 1 < len(fault.self_help):
            # The last step's "no" is noted when the caller is handed over.
            note(
                request.form.get("CallSid", ""),
                selfhelp_tried=f"{node.fault}:{step + 1}",
            )
        return xml_response(
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
        return xml_response(_selfhelp_step(node, 10**6, lang, version, attempt=1))
    reason = phrase(lang, "invalid" if answer is Answer.INVALID else "no_input")
    return xml_response(
        _selfhelp_step(node, step, lang, version, attempt=attempt + 1, preamble=reason)
    )


def _enqueue(
    queue_id: str,
    priority: int,
    lang: str,
    announce: str,
    choice: str,
    preamble: str = "",
) -> VoiceResponse:
    """The caller chose a queue: held in it, or told why not and asked to
    choose a callback or a message."""
    rt = services().runtime
    sid = request.form.get("CallSid", "")
    queue_id = routing.queue_for_language(rt.routing, queue_id, lang)
    note(sid, EventType.IVR_CHOICE, ivr_choice=choice, lang=lang)
    queue = rt.routing.queue(queue_id)
    name = queue.names[lang] if queue else queue_id
    admission = admit(live(), sid, queue_id, priority)
    if admission not in TURNED_AWAY:
        if admission is Admission.QUEUED:
            after_response(rt, handoff.Next(dispatch=True))
        return hold_in_queue(queue_id, lang, f"{preamble} {announce}".strip())
    if admission is Admission.CLOSED:
        notice = rt.routing.hotline.hours_text.get(lang) or phrase(lang, "closed")
    elif admission is Admission.FULL:
        notice = phrase(lang, "queue_full", queue=name)
    else:
        notice = phrase(lang, "nobody_on_duty", queue=name)
    return twiml.choose_callback_or_message(
        f"{preamble} {notice}".strip(),
        phrase(lang, "callback_or_message"),
        lang,
        absolute_url(webhooks.choose(queue_id, lang, admission, priority=priority)),
    )


@bp.post(webhooks.MENU)
@validate_twilio_request
def menu() -> Response:
    """The caller pressed a key, said something, or stayed silent at a menu."""
    svc = services()
    lang, version, config = _menu_context()
    node = config.ivr.node(request.args.get("node", ""))
    attempt = max(1, int_arg("attempt", 1))
    if not isinstance(node, MenuNode):
        start = config.ivr.nodes[config.ivr.start]
        assert isinstance(start, MenuNode)
        node = start
    speech = request.form.get("SpeechResult")
    digits = request.form.get("Digits")
    sid = request.form.get("CallSid", "")
    _note_answer(sid, node.id, digits, speech)
    if speech and is_description(digits, speech):
        # Words describing a problem: straight on, one question, or the menu.
        decided = triage(config.search_in(lang), config.places, node, speech)
        if decided.verdict is Verdict.ROUTE and decided.first is not None:
            note(sid, kb_fault=decided.first.fault)
            return xml_response(
                _node(decided.first.node, lang, attempt=1, version=version)
            )
        if decided.verdict is Verdict.ASK:
            return xml_response(_ask_which(config, node, decided, lang, version))
    heard = interpret(node, digits, speech, lang)
    if heard.kind is InputKind.INVALID and speech:
        goto = option_for_problem(node, config.search_in(lang), speech)
        if goto is not None:
            return xml_response(_node(goto, lang, attempt=1, version=version))
    if heard.kind is InputKind.CHOSEN and heard.option is not None:
        option = heard.option
        if option.switch_language:
            new_lang = option.switch_language
            note(sid, EventType.LANGUAGE, lang=new_lang)
            return xml_response(_node(node.id, new_lang, attempt=1, version=version))
        assert option.goto is not None
        return xml_response(_node(option.goto, lang, attempt=1, version=version))
    if heard.kind is InputKind.REPEAT:
        return xml_response(_node(node.id, lang, attempt=attempt, version=version))
    if heard.kind is InputKind.BACK:
        return xml_response(_node(config.ivr.start, lang, attempt=1, version=version))
    if attempt >= MAX_ATTEMPTS:
        general = svc.runtime.routing.hotline.general_queue
        return xml_response(
            _enqueue(
                general, 0, lang, phrase(lang, "to_general"), f"{node.id}:fallback"
            )
        )
    reason = phrase(lang, "no_input" if heard.kind is InputKind.NO_INPUT else "invalid")
    return xml_response(
        _node(
            node.id,
            lang,
            attempt=attempt + 1,
            preamble=reason,
            use_help=True,
            version=version,
        )
    )


def _ask_which(
    config: HotlineConfig, menu: MenuNode, decided: Triage, lang: str, version: str
) -> VoiceResponse:
    """One question naming the two places the caller's words fit: their
    kinds of problem, or the two faults' titles when both are of one kind."""
    first, second = decided.first, decided.second
    assert first is not None
    assert second is not None
    names = []
    for place in (first, second):
        fault = config.kb.get(place.fault)
        if first.problem_type == second.problem_type and fault is not None:
            names.append(fault.title_in(lang))
        else:
            names.append(problem_name(lang, place.problem_type))
    return twiml.question(
        "",
        phrase(lang, "which", first=names[0], second=names[1]),
        lang,
        absolute_url(
            webhooks.which(
                menu.id,
                first.node,
                second.node,
                f"{first.fault},{second.fault}",
                lang,
                version,
            )
        ),
        hints=", ".join(names),
    )


@bp.post(webhooks.WHICH)
@validate_twilio_request
def which() -> Response:
    """The answer to the one question: the place picked, else the menu."""
    lang, version, config = _menu_context()
    menu = config.ivr.node(request.args.get("node", ""))
    if not isinstance(menu, MenuNode):
        menu = config.ivr.nodes[config.ivr.start]
        assert isinstance(menu, MenuNode)
    first, second = request.args.get("first", ""), request.args.get("second", "")
    faults = request.args.get("faults", "").split(",")
    sid = request.form.get("CallSid", "")
    digits, speech = request.form.get("Digits"), request.form.get("SpeechResult")
    _note_answer(sid, f"{menu.id}?", digits, speech)
    picked = answer_between(
        config.search_in(lang), config.places, menu, digits, speech, first, second
    )
    if picked is None or config.ivr.node(picked) is None:
        return xml_response(_node(menu.id, lang, attempt=1, version=version))
    fault = faults[0 if picked == first else 1] if len(faults) == 2 else ""
    if config.kb.get(fault) is not None:
        note(sid, kb_fault=fault)
    return xml_response(_node(picked, lang, attempt=1, version=version))
