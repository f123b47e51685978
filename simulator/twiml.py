"""Parse voice TwiML into frozen values, rejecting what Twilio would reject.

The simulator is only useful if it is stricter than the app's own tests: a
misspelt attribute, a verb in the wrong place or a `<Dial>` with nothing to
dial would fail on a real call, so it must fail here too, with the reason
Twilio would log. Verbs Twilio has but the simulator does not play
(`<Connect>`, `<Pay>`, `<Record transcribe>`...) are rejected as "not simulated" rather
than silently skipped, so a test never passes by accident.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from simulator.errors import TwimlError

__all__ = [
    "Client",
    "Conference",
    "Dial",
    "DialTarget",
    "Enqueue",
    "Gather",
    "Hangup",
    "Leave",
    "Number",
    "Pause",
    "Play",
    "Prompt",
    "Queue",
    "Record",
    "Redirect",
    "Reject",
    "Say",
    "TwimlError",
    "Verb",
    "WAIT_URL_VERBS",
    "parse_twiml",
]


@dataclass(frozen=True, slots=True)
class Say:
    text: str
    language: str | None = None
    voice: str | None = None
    loop: int = 1  # 0 = until interrupted


@dataclass(frozen=True, slots=True)
class Play:
    url: str
    loop: int = 1  # 0 = until interrupted
    digits: str | None = None


@dataclass(frozen=True, slots=True)
class Pause:
    length: float = 1.0


Prompt = Say | Play | Pause


@dataclass(frozen=True, slots=True)
class Gather:
    input: frozenset[str] = frozenset({"dtmf"})
    num_digits: int | None = None
    timeout: float = 5.0
    action: str | None = None
    method: str = "POST"
    finish_on_key: str = "#"
    action_on_empty_result: bool = False
    language: str | None = None
    hints: str | None = None
    speech_timeout: str | None = None
    prompts: tuple[Prompt, ...] = ()


@dataclass(frozen=True, slots=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Enqueue:
    name: str
    wait_url: str | None = None
    wait_url_method: str = "POST"
    action: str | None = None
    method: str = "POST"
    max_queue_size: int | None = None


@dataclass(frozen=True, slots=True)
class Leave:
    pass


@dataclass(frozen=True, slots=True)
class Hangup:
    pass


@dataclass(frozen=True, slots=True)
class Reject:
    reason: str = "rejected"


@dataclass(frozen=True, slots=True)
class Conference:
    name: str
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep: str = "true"
    muted: bool = False
    wait_url: str | None = None
    wait_method: str = "POST"
    status_callback: str | None = None
    status_callback_event: frozenset[str] = frozenset()
    status_callback_method: str = "POST"
    participant_label: str | None = None
    coach: str | None = None
    max_participants: int = 250


@dataclass(frozen=True, slots=True)
class Client:
    identity: str
    url: str | None = None
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Number:
    number: str
    url: str | None = None
    method: str = "POST"


@dataclass(frozen=True, slots=True)
class Queue:
    name: str
    url: str | None = None
    method: str = "POST"


DialTarget = Conference | Client | Number | Queue


@dataclass(frozen=True, slots=True)
class Dial:
    targets: tuple[DialTarget, ...]
    action: str | None = None
    method: str = "POST"
    timeout: float = 30.0
    caller_id: str | None = None
    time_limit: float = 14400.0


@dataclass(frozen=True, slots=True)
class Record:
    """Voicemail: record what the caller says, then request `action`."""

    action: str | None = None
    method: str = "POST"
    timeout: float = 5.0  # seconds of silence that end it; 0 = no detection
    finish_on_key: str = "1234567890*#"  # any of these keys ends it
    max_length: float = 3600.0
    play_beep: bool = True
    trim: str = "trim-silence"  # | "do-not-trim"
    recording_status_callback: str | None = None
    recording_status_callback_method: str = "POST"
    recording_status_callback_event: frozenset[str] = frozenset({"completed"})


Verb = (
    Say
    | Play
    | Pause
    | Gather
    | Redirect
    | Enqueue
    | Leave
    | Hangup
    | Reject
    | Dial
    | Record
)


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Inside an <Enqueue> waitUrl Twilio accepts only these.
WAIT_URL_VERBS: tuple[type, ...] = (Play, Say, Pause, Hangup, Redirect, Leave, Gather)

_NOT_SIMULATED = _names(
    "Connect Pay Refer Start Stop Stream Echo Sms Message Prompt Siprec"
)
_SSML = _names(
    "break emphasis lang p phoneme prosody s say-as sub w amazon:domain amazon:effect"
)
_STATUS_CALLBACK = "url method statusCallback statusCallbackEvent statusCallbackMethod"
_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "Say": _names("voice language loop"),
    "Play": _names("loop digits"),
    "Pause": _names("length"),
    "Gather": _names(
        "action actionOnEmptyResult enhanced finishOnKey hints input language method"
        " numDigits partialResultCallback partialResultCallbackMethod profanityFilter"
        " speechModel speechTimeout timeout debug dtmfDetection"
    ),
    "Redirect": _names("method"),
    "Enqueue": _names("action maxQueueSize method waitUrl waitUrlMethod workflowSid"),
    "Leave": frozenset(),
    "Hangup": frozenset(),
    "Reject": _names("reason"),
    "Dial": _names(
        "action answerOnBridge callerId hangupOnStar method record"
        " recordingStatusCallback recordingStatusCallbackMethod"
        " recordingStatusCallbackEvent recordingTrack ringTone timeLimit timeout trim"
        " sequential referUrl referMethod events"
    ),
    "Conference": _names(
        "beep coach endConferenceOnExit eventCallbackUrl jitterBufferSize"
        " maxParticipants muted participantLabel record recordingStatusCallback"
        " recordingStatusCallbackEvent recordingStatusCallbackMethod region"
        " startConferenceOnEnter statusCallback statusCallbackEvent"
        " statusCallbackMethod trim waitMethod waitUrl"
    ),
    "Client": _names(_STATUS_CALLBACK),
    "Number": _names(
        f"{_STATUS_CALLBACK} sendDigits byoc machineDetection amdStatusCallback"
    ),
    "Queue": _names("url method reservationSid postWorkActivitySid"),
    "Record": _names(
        "action method timeout finishOnKey maxLength playBeep trim"
        " recordingStatusCallback recordingStatusCallbackMethod"
        " recordingStatusCallbackEvent transcribe transcribeCallback"
        " storageUrl storageUrlMethod"
    ),
}

_GATHER_INPUTS = frozenset({"dtmf", "speech"})
_CONFERENCE_EVENTS = _names(
    "start end join leave mute hold modify speaker announcement"
)
_DTMF_KEYS = set("0123456789*#")
_RECORDING_EVENTS = _names("in-progress completed absent")


def parse_twiml(text: str) -> tuple[Verb, ...]:
    """The verbs of a `<Response>` document, or `TwimlError` with Twilio's reason."""
    if not text.strip():
        raise TwimlError("empty document (Twilio error 12100: document parse failure)")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise TwimlError(f"document parse failure (Twilio error 12100): {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, expected <Response>")
    _check_attributes(root, frozenset())
    _check_no_text(root)
    return tuple(_verb(child) for child in root)


def _verb(element: ET.Element) -> Verb:
    tag = element.tag
    if tag in _NOT_SIMULATED:
        raise TwimlError(f"<{tag}> is valid TwiML but not simulated")
    parser = _VERB_PARSERS.get(tag)
    if parser is None:
        raise TwimlError(f"<{tag}> is not a TwiML voice verb")
    _check_attributes(element, _ATTRIBUTES[tag])
    return parser(element)


def _say(element: ET.Element) -> Say:
    for child in element.iter():
        if child is not element and child.tag not in _SSML:
            raise TwimlError(f"<Say> cannot contain <{child.tag}>")
    text = "".join(element.itertext()).strip()
    if not text:
        raise TwimlError("<Say> has no text to say")
    return Say(
        text=text,
        language=element.get("language"),
        voice=element.get("voice"),
        loop=_int(element, "loop", 1, minimum=0),
    )


def _play(element: ET.Element) -> Play:
    _check_no_children(element)
    url = (element.text or "").strip()
    digits = element.get("digits")
    if digits is not None and not set(digits) <= _DTMF_KEYS | {"w"}:
        raise TwimlError(f"<Play digits={digits!r}>: only 0-9, *, # and w allowed")
    if not url and digits is None:
        raise TwimlError("<Play> has neither a URL nor digits")
    return Play(url=url, loop=_int(element, "loop", 1, minimum=0), digits=digits)


def _pause(element: ET.Element) -> Pause:
    _check_no_children(element)
    _check_no_text(element)
    return Pause(length=float(_int(element, "length", 1, minimum=0)))


def _gather(element: ET.Element) -> Gather:
    _check_no_text(element)
    prompts: list[Prompt] = []
    for child in element:
        if child.tag not in ("Say", "Play", "Pause"):
            raise TwimlError(f"<Gather> cannot contain <{child.tag}>")
        _check_attributes(child, _ATTRIBUTES[child.tag])
        prompt = _VERB_PARSERS[child.tag](child)
        assert isinstance(prompt, Say | Play | Pause)
        prompts.append(prompt)
    inputs = frozenset((element.get("input") or "dtmf").split())
    if not inputs or not inputs <= _GATHER_INPUTS:
        raise TwimlError(f"<Gather input={element.get('input')!r}>: use dtmf, speech")
    finish_on_key = element.get("finishOnKey", "#")
    if finish_on_key and finish_on_key not in _DTMF_KEYS:
        raise TwimlError(f"<Gather finishOnKey={finish_on_key!r}>: one of 0-9, #, *")
    speech_timeout = element.get("speechTimeout")
    if speech_timeout is not None and speech_timeout != "auto":
        _int(element, "speechTimeout", 0, minimum=0)
    num_digits = element.get("numDigits")
    return Gather(
        input=inputs,
        num_digits=None if num_digits is None else _int(element, "numDigits", 1),
        timeout=float(_int(element, "timeout", 5, minimum=0)),
        action=_url_attribute(element, "action"),
        method=_method(element, "method"),
        finish_on_key=finish_on_key,
        action_on_empty_result=_bool(element, "actionOnEmptyResult", default=False),
        language=element.get("language"),
        hints=element.get("hints"),
        speech_timeout=speech_timeout,
        prompts=tuple(prompts),
    )


def _redirect(element: ET.Element) -> Redirect:
    _check_no_children(element)
    url = (element.text or "").strip()
    if not url:
        raise TwimlError("<Redirect> has no URL")
    return Redirect(url=url, method=_method(element, "method"))


def _enqueue(element: ET.Element) -> Enqueue:
    for child in element:
        if child.tag == "Task":
            raise TwimlError("<Enqueue><Task> (TaskRouter) is not simulated")
        raise TwimlError(f"<Enqueue> cannot contain <{child.tag}>")
    name = (element.text or "").strip()
    if element.get("workflowSid") is not None:
        raise TwimlError("<Enqueue workflowSid> (TaskRouter) is not simulated")
    if not name:
        raise TwimlError("<Enqueue> has no queue name")
    if len(name) > 64:
        raise TwimlError(f"<Enqueue> queue name longer than 64 characters: {name!r}")
    max_size = element.get("maxQueueSize")
    return Enqueue(
        name=name,
        wait_url=_url_attribute(element, "waitUrl"),
        wait_url_method=_method(element, "waitUrlMethod"),
        action=_url_attribute(element, "action"),
        method=_method(element, "method"),
        max_queue_size=(
            None
            if max_size is None
            else _int(element, "maxQueueSize", 1000, minimum=1, maximum=5000)
        ),
    )


def _record(element: ET.Element) -> Record:
    _empty(element)
    if _bool(element, "transcribe", default=False) or element.get("transcribeCallback"):
        raise TwimlError("<Record transcribe> (transcription) is not simulated")
    if element.get("storageUrl") is not None:
        raise TwimlError("<Record storageUrl> (external storage) is not simulated")
    finish_on_key = element.get("finishOnKey", "1234567890*#")
    if not set(finish_on_key) <= _DTMF_KEYS:
        raise TwimlError(f"<Record finishOnKey={finish_on_key!r}>: only 0-9, # and *")
    trim = element.get("trim", "trim-silence")
    if trim not in ("trim-silence", "do-not-trim"):
        raise TwimlError(f"<Record trim={trim!r}>: trim-silence or do-not-trim")
    events = frozenset(
        (element.get("recordingStatusCallbackEvent") or "completed")
        .replace(",", " ")
        .split()
    )
    if not events <= _RECORDING_EVENTS:
        unknown = ", ".join(sorted(events - _RECORDING_EVENTS))
        raise TwimlError(f"<Record recordingStatusCallbackEvent>: unknown {unknown}")
    return Record(
        action=_url_attribute(element, "action"),
        method=_method(element, "method"),
        timeout=float(_int(element, "timeout", 5, minimum=0)),
        finish_on_key=finish_on_key,
        max_length=float(_int(element, "maxLength", 3600, minimum=1, maximum=86400)),
        play_beep=_bool(element, "playBeep", default=True),
        trim=trim,
        recording_status_callback=_url_attribute(element, "recordingStatusCallback"),
        recording_status_callback_method=_method(
            element, "recordingStatusCallbackMethod"
        ),
        recording_status_callback_event=events,
    )


def _empty(element: ET.Element) -> None:
    _check_no_children(element)
    _check_no_text(element)


def _leave(element: ET.Element) -> Leave:
    _empty(element)
    return Leave()


def _hangup(element: ET.Element) -> Hangup:
    _empty(element)
    return Hangup()


def _reject(element: ET.Element) -> Reject:
    _empty(element)
    reason = element.get("reason", "rejected")
    if reason not in ("rejected", "busy"):
        raise TwimlError(f"<Reject reason={reason!r}>: use rejected or busy")
    return Reject(reason=reason)


def _dial(element: ET.Element) -> Dial:
    targets: list[DialTarget] = []
    for child in element:
        noun = _NOUN_PARSERS.get(child.tag)
        if noun is None:
            if child.tag in ("Sip", "Sim", "Application", "WhatsApp"):
                raise TwimlError(f"<Dial><{child.tag}> is not simulated")
            raise TwimlError(f"<Dial> cannot contain <{child.tag}>")
        _check_attributes(child, _ATTRIBUTES[child.tag])
        targets.append(noun(child))
    text = (element.text or "").strip()
    if text:
        if targets:
            raise TwimlError("<Dial> mixes a plain number with nested nouns")
        targets.append(Number(number=text))
    if not targets:
        raise TwimlError("<Dial> has nothing to dial")
    kinds = {type(target) for target in targets}
    if len(targets) > 1 and kinds & {Conference, Queue}:
        raise TwimlError("<Dial> with <Conference> or <Queue> must dial only that")
    if len(targets) > 10:
        raise TwimlError("<Dial> can ring at most 10 nouns at once")
    return Dial(
        targets=tuple(targets),
        action=_url_attribute(element, "action"),
        method=_method(element, "method"),
        timeout=float(_int(element, "timeout", 30, minimum=1, maximum=600)),
        caller_id=element.get("callerId"),
        time_limit=float(_int(element, "timeLimit", 14400, minimum=1)),
    )


def _conference(element: ET.Element) -> Conference:
    _check_no_children(element)
    name = (element.text or "").strip()
    if not name:
        raise TwimlError("<Conference> has no name")
    beep = element.get("beep", "true")
    if beep not in ("true", "false", "onEnter", "onExit"):
        raise TwimlError(f"<Conference beep={beep!r}>: true, false, onEnter or onExit")
    events = frozenset((element.get("statusCallbackEvent") or "").split())
    if not events <= _CONFERENCE_EVENTS:
        unknown = ", ".join(sorted(events - _CONFERENCE_EVENTS))
        raise TwimlError(f"<Conference statusCallbackEvent>: unknown event {unknown}")
    if events and element.get("statusCallback") is None:
        raise TwimlError("<Conference statusCallbackEvent> without statusCallback")
    return Conference(
        name=name,
        start_conference_on_enter=_bool(
            element, "startConferenceOnEnter", default=True
        ),
        end_conference_on_exit=_bool(element, "endConferenceOnExit", default=False),
        beep=beep,
        muted=_bool(element, "muted", default=False),
        wait_url=element.get("waitUrl") or None,
        wait_method=_method(element, "waitMethod"),
        status_callback=_url_attribute(element, "statusCallback"),
        status_callback_event=events,
        status_callback_method=_method(element, "statusCallbackMethod"),
        participant_label=element.get("participantLabel"),
        coach=element.get("coach"),
        max_participants=_int(element, "maxParticipants", 250, minimum=2, maximum=250),
    )


def _client(element: ET.Element) -> Client:
    identity = (element.text or "").strip()
    for child in element:
        if child.tag == "Identity":
            identity = (child.text or "").strip()
        elif child.tag != "Parameter":
            raise TwimlError(f"<Client> cannot contain <{child.tag}>")
    if not identity:
        raise TwimlError("<Client> has no identity")
    return Client(
        identity=identity,
        url=_url_attribute(element, "url"),
        method=_method(element, "method"),
    )


def _number(element: ET.Element) -> Number:
    _check_no_children(element)
    number = (element.text or "").strip()
    if not number:
        raise TwimlError("<Number> has no phone number")
    return Number(
        number=number,
        url=_url_attribute(element, "url"),
        method=_method(element, "method"),
    )


def _queue(element: ET.Element) -> Queue:
    _check_no_children(element)
    name = (element.text or "").strip()
    if not name:
        raise TwimlError("<Queue> has no queue name")
    return Queue(
        name=name, url=_url_attribute(element, "url"), method=_method(element, "method")
    )


_VERB_PARSERS: dict[str, Callable[[ET.Element], Verb]] = {
    "Say": _say,
    "Play": _play,
    "Pause": _pause,
    "Gather": _gather,
    "Redirect": _redirect,
    "Enqueue": _enqueue,
    "Leave": _leave,
    "Hangup": _hangup,
    "Reject": _reject,
    "Dial": _dial,
    "Record": _record,
}

_NOUN_PARSERS: dict[str, Callable[[ET.Element], DialTarget]] = {
    "Conference": _conference,
    "Client": _client,
    "Number": _number,
    "Queue": _queue,
}


def _check_attributes(element: ET.Element, allowed: frozenset[str]) -> None:
    unknown = sorted(set(element.attrib) - allowed)
    if unknown:
        raise TwimlError(f"<{element.tag}>: unknown attribute {', '.join(unknown)}")


def _check_no_children(element: ET.Element) -> None:
    for child in element:
        raise TwimlError(f"<{element.tag}> cannot contain <{child.tag}>")


def _check_no_text(element: ET.Element) -> None:
    texts = [element.text or ""] + [child.tail or "" for child in element]
    if any(text.strip() for text in texts):
        raise TwimlError(f"<{element.tag}> cannot contain text")


def _bool(element: ET.Element, name: str, *, default: bool) -> bool:
    value = element.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise TwimlError(f"<{element.tag} {name}={value!r}>: expected true or false")
    return value.lower() == "true"


def _int(
    element: ET.Element,
    name: str,
    default: int,
    *,
    minimum: int = 1,
    maximum: int | None = None,
) -> int:
    value = element.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise TwimlError(
            f"<{element.tag} {name}={value!r}>: expected an integer"
        ) from None
    if number < minimum or (maximum is not None and number > maximum):
        bounds = f">= {minimum}" if maximum is None else f"{minimum}..{maximum}"
        raise TwimlError(f"<{element.tag} {name}={value!r}>: expected {bounds}")
    return number


def _method(element: ET.Element, name: str) -> str:
    value = element.get(name, "POST")
    if value.upper() not in ("GET", "POST"):
        raise TwimlError(f"<{element.tag} {name}={value!r}>: expected GET or POST")
    return value.upper()


def _url_attribute(element: ET.Element, name: str) -> str | None:
    value = element.get(name)
    if value is not None and not value.strip():
        raise TwimlError(f"<{element.tag} {name}>: empty URL")
    return value
