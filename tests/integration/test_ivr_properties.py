"""Arbitrary key presses, words and query strings at every IVR webhook.

Twilio sends whatever the caller's phone and the speech recogniser produce:
any Digits, any SpeechResult (emoji, control characters, kilobytes of text),
and our own query strings come back as we wrote them, or as someone forged
them. Whatever arrives, signed, a webhook answers 200 with TwiML Twilio
accepts (checked by the simulator's strict parser), never a 5xx: Twilio
would play its own error message and hang up on the caller.

Each example starts a fresh call (`/voice/incoming` with a new CallSid),
sometimes while an incident is announced or after the caller has already
been queued, so the state behind the webhook varies as well as its input.
"""

from __future__ import annotations

import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import PUBLIC, SignedPost, call_form
from werkzeug.test import TestResponse

from core.settings import DEFAULT_CONFIG_DIR
from ivr.config import MenuNode, SelfHelpNode
from ivr.incident import IncidentStore
from simulator.twiml import WAIT_URL_VERBS, TwimlError, parse_twiml
from web.config import load_config

SHIPPED = load_config(DEFAULT_CONFIG_DIR)
LANGUAGES = SHIPPED.ivr.languages
MENUS = [n.id for n in SHIPPED.ivr.nodes.values() if isinstance(n, MenuNode)]
SELFHELP = {
    n.id: len(fault.self_help)
    for n in SHIPPED.ivr.nodes.values()
    if isinstance(n, SelfHelpNode) and (fault := SHIPPED.kb.get(n.fault)) is not None
}
QUEUES = sorted(str(queue) for queue in SHIPPED.routing.queues)
NODES = sorted(SHIPPED.ivr.nodes)
FAULT_PAIRS = [f"{a.id},{b.id}" for a, b in itertools.pairwise(SHIPPED.kb)]
#: Attributes that hold a URL Twilio will request: all must be absolute.
URL_ATTRIBUTES = (
    "action",
    "waitUrl",
    "url",
    "statusCallback",
    "recordingStatusCallback",
)

#: Examples per webhook; the whole file stays well under 40 s.
EXAMPLES = 50

# ---------------------------------------------------------------- strategies

#: Any text a form can carry (no lone surrogates: they cannot be encoded).
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)
KEYPAD = st.text(alphabet="0123456789*#", max_size=6)
EMOJI = st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=8)
CONTROL = st.text(st.characters(max_codepoint=0x1F), max_size=8)
#: Kilobytes of text, up to what fits twice in the app's 64 KiB body limit
#: once form-encoded (an emoji takes 12 bytes); bigger bodies get 413.
LONG = st.integers(300, 2500).flatmap(
    lambda n: st.sampled_from("0123456789*#aé 😀").map(lambda c: c * n)
)
WORDS = sorted(
    {
        word
        for node in SHIPPED.ivr.nodes.values()
        if isinstance(node, MenuNode)
        for option in node.options
        for words in option.keywords.values()
        for word in words
    }
    | {"oui", "non", "yes", "no", "c'est réglé", "ça marche", "deux", "nine"}
    | {symptom for fault in SHIPPED.kb for symptom in fault.symptoms}
)
SAYS = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)

DIGITS = st.one_of(st.none(), st.just(""), KEYPAD, ANY_TEXT, LONG, CONTROL)
SPEECH = st.one_of(
    st.none(), st.just(""), SAYS, ANY_TEXT, EMOJI, CONTROL, LONG, SAYS.map(str.upper)
)


def one_of_or_garbage(good: list[str]) -> st.SearchStrategy[str | None]:
    """A valid value most of the time, else absent, empty or any text."""
    return st.one_of(
        st.sampled_from(good), st.sampled_from(good), st.none(), st.just(""), ANY_TEXT
    )


def number_or_garbage(low: int, high: int) -> st.SearchStrategy[str | None]:
    return st.one_of(
        st.integers(low, high).map(str),
        st.integers(-(10**30), 10**30).map(str),
        st.none(),
        st.sampled_from(["", "1.5", "-0", "1e3", "٣", "NaN", " 2 "]),
        ANY_TEXT,
    )


LANG = one_of_or_garbage(list(LANGUAGES))
VERSION = st.one_of(
    st.none(), st.sampled_from(["1", "2", "0", "-1", "999999999999999999999"]), ANY_TEXT
)
#: Query-string parameters of each webhook, as the views read them.
QUERIES: dict[str, dict[str, st.SearchStrategy[str | None]]] = {
    "/voice/incoming": {},
    "/voice/menu": {
        "node": one_of_or_garbage(MENUS),
        "attempt": number_or_garbage(1, 3),
        "lang": LANG,
        "v": VERSION,
    },
    "/voice/which": {
        "node": one_of_or_garbage(MENUS),
        "first": one_of_or_garbage(NODES),
        "second": one_of_or_garbage(NODES),
        "faults": one_of_or_garbage(FAULT_PAIRS),
        "lang": LANG,
        "v": VERSION,
    },
    "/voice/selfhelp": {
        "node": one_of_or_garbage(sorted(SELFHELP)),
        "step": number_or_garbage(0, max(SELFHELP.values()) + 1),
        "attempt": number_or_garbage(1, 3),
        "lang": LANG,
        "v": VERSION,
    },
    "/voice/incident": {
        "lang": LANG,
        "incident": st.one_of(st.none(), ANY_TEXT),  # the real id is added below
        "v": VERSION,
    },
    "/voice/returning": {
        "lang": LANG,
        "previous": st.one_of(st.none(), ANY_TEXT),
        "queue": one_of_or_garbage(QUEUES),
        "v": VERSION,
    },
    "/voice/choose": {
        "queue": one_of_or_garbage(QUEUES),
        "priority": number_or_garbage(0, 9),
        "lang": LANG,
        "why": one_of_or_garbage(["unstaffed", "closed", "too_long"]),
    },
    "/voice/too-long": {"queue": one_of_or_garbage(QUEUES), "lang": LANG},
    "/voice/wait": {"queue": one_of_or_garbage(QUEUES), "lang": LANG},
    "/voice/wait-key": {"queue": one_of_or_garbage(QUEUES), "lang": LANG},
    "/voice/message-left": {"lang": LANG},
    "/voice/queue-result": {"lang": LANG},
    "/voice/status": {},
}
#: Form fields some webhooks read besides Digits and SpeechResult.
EXTRA_FORM: dict[str, dict[str, st.SearchStrategy[str | None]]] = {
    "/voice/message-left": {
        "RecordingUrl": st.one_of(st.none(), st.just(f"{PUBLIC}/rec/1"), ANY_TEXT),
        "RecordingDuration": number_or_garbage(0, 120),
    },
    "/voice/queue-result": {
        "QueueResult": one_of_or_garbage(
            ["hangup", "bridged", "leave", "redirected", "error", "system-error"]
        ),
        "QueueTime": number_or_garbage(0, 600),
    },
    "/voice/status": {
        "CallStatus": one_of_or_garbage(
            ["completed", "busy", "failed", "no-answer", "canceled", "in-progress"]
        ),
    },
    "/voice/wait": {
        "QueuePosition": number_or_garbage(1, 10),
        "QueueTime": number_or_garbage(0, 600),
    },
}
#: Documents Twilio plays inside an <Enqueue> waitUrl, where fewer verbs work.
WAIT_URL_DOCUMENTS = frozenset({"/voice/wait", "/voice/wait-key"})


# ---------------------------------------------------------------- checks


def assert_valid_twiml(response: TestResponse, path: str) -> ET.Element:
    """200, XML, a <Response> Twilio accepts, absolute URLs; else fail with why."""
    where = f"POST {path}"
    assert response.status_code == 200, f"{where}: {response.status_code}"
    assert response.mimetype == "text/xml", f"{where}: {response.mimetype}"
    body = response.get_data(as_text=True)
    try:
        verbs = parse_twiml(body)
    except TwimlError as exc:
        pytest.fail(f"{where}: Twilio would reject {body!r}: {exc}")
    if urlsplit(path).path in WAIT_URL_DOCUMENTS:
        wrong = [type(v).__name__ for v in verbs if not isinstance(v, WAIT_URL_VERBS)]
        assert not wrong, f"{where}: not allowed in a waitUrl: {wrong}"
    root = ET.fromstring(body)
    for element in root.iter():
        urls = [element.get(name) for name in URL_ATTRIBUTES]
        if element.tag in ("Redirect", "Play") and element.get("digits") is None:
            urls.append((element.text or "").strip())
        for url in urls:
            if url is not None:
                assert urlsplit(url).scheme in ("http", "https"), (
                    f"{where}: relative URL {url!r} in <{element.tag}>"
                )
        if element.tag == "Enqueue":
            assert is_twiml_queue_name(element.text or ""), (
                f"{where}: <Enqueue> queue name {element.text!r} Twilio would reject"
            )
    return root


def is_twiml_queue_name(name: str) -> bool:
    """What `<Enqueue>` accepts: 1-64 characters XML can carry, not all blank."""
    return (
        0 < len(name) <= 64
        and bool(name.strip())
        and all(c in "\t\n\r" or ord(c) >= 0x20 for c in name)
        and not any(0xFFFE <= ord(c) <= 0xFFFF for c in name)
    )


def query(values: Mapping[str, str | None]) -> str:
    present = {k: v for k, v in values.items() if v is not None}
    return urlencode(present)


def form_of(sid: str, values: Mapping[str, str | None]) -> dict[str, str]:
    return call_form(sid, **{k: v for k, v in values.items() if v is not None})


@dataclass
class Caller:
    """One fresh call per example, and the requests it made."""

    app: Flask
    signed_post: SignedPost
    sid: str = ""

    def start(self, *, incident: bool, queued: bool) -> ET.Element:
        self.sid = "CA" + uuid.uuid4().hex
        incidents = self._incidents()
        if incident:
            incidents.publish({lang: f"Incident « test » {lang}" for lang in LANGUAGES})
        else:
            incidents.resolve()
        response = self.signed_post("/voice/incoming", call_form(self.sid))
        root = assert_valid_twiml(response, "/voice/incoming")
        if queued:
            # Already waiting: wait, wait-key and choose then see a real caller.
            path = f"/voice/menu?{query({'node': 'accueil', 'lang': 'fr-FR'})}"
            self.signed_post(path, call_form(self.sid, Digits="4"))
        return root

    def current_incident(self) -> str | None:
        incident = self._incidents().current()
        return incident.id if incident else None

    def _incidents(self) -> IncidentStore:
        rt = self.app.extensions["hotline"].runtime
        return IncidentStore(rt.redis, rt.keys)


SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.parametrize("path", list(QUERIES))
@SETTINGS
@given(data=st.data())
def test_any_input_at_any_ivr_webhook_gets_valid_twiml(
    app: Flask, signed_post: SignedPost, path: str, data: st.DataObject
) -> None:
    caller = Caller(app, signed_post)
    caller.start(
        incident=data.draw(st.booleans(), "incident"),
        queued=data.draw(st.booleans(), "queued"),
    )
    params = {name: data.draw(s, name) for name, s in QUERIES[path].items()}
    if path == "/voice/incident" and data.draw(st.booleans(), "real incident id"):
        params["incident"] = caller.current_incident()
    form = {
        "Digits": data.draw(DIGITS, "Digits"),
        "SpeechResult": data.draw(SPEECH, "SpeechResult"),
        **{name: data.draw(s, name) for name, s in EXTRA_FORM.get(path, {}).items()},
    }
    url = f"{path}?{query(params)}" if query(params) else path
    response = signed_post(url, form_of(caller.sid, form))
    root = assert_valid_twiml(response, url)
    event(f"answer: {' '.join(child.tag for child in root) or '(empty)'}")


MENU_CASES = [
    (node, lang, attempt)
    for node in MENUS
    for lang in LANGUAGES
    for attempt in (1, 2, 3)
]
SELFHELP_CASES = [
    (n, step) for n, count in SELFHELP.items() for step in range(count + 1)
]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_every_menu_in_every_language_at_every_attempt_answers(
    app: Flask, signed_post: SignedPost, data: st.DataObject
) -> None:
    # Every example visits every case: each menu gets arbitrary input every time.
    for node, lang, attempt in MENU_CASES:
        caller = Caller(app, signed_post)
        caller.start(incident=False, queued=False)
        params = {"node": node, "attempt": str(attempt), "lang": lang}
        url = f"/voice/menu?{query(params)}"
        digits = data.draw(DIGITS, f"Digits at {url}")
        speech = data.draw(SPEECH, f"SpeechResult at {url}")
        form = form_of(caller.sid, {"Digits": digits, "SpeechResult": speech})
        assert_valid_twiml(signed_post(url, form), url)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_every_self_help_step_answers(
    app: Flask, signed_post: SignedPost, data: st.DataObject
) -> None:
    for node, step in SELFHELP_CASES:
        caller = Caller(app, signed_post)
        caller.start(incident=False, queued=False)
        params = {
            "node": node,
            "step": str(step),
            "attempt": str(data.draw(st.integers(1, 3))),
            "lang": data.draw(st.sampled_from(LANGUAGES)),
        }
        url = f"/voice/selfhelp?{query(params)}"
        digits = data.draw(DIGITS, f"Digits at {url}")
        speech = data.draw(SPEECH, f"SpeechResult at {url}")
        form = form_of(caller.sid, {"Digits": digits, "SpeechResult": speech})
        assert_valid_twiml(signed_post(url, form), url)


@pytest.mark.parametrize(
    "queue", ["", "   ", "\x08", "q" * 65], ids=["empty", "blank", "control", "long"]
)
def test_too_long_caller_who_chooses_nothing_goes_back_to_a_valid_queue(
    signed_post: SignedPost, queue: str
) -> None:
    """A queue name from a forged or stale URL never reaches <Enqueue>: the
    caller goes back to the general queue instead of being dropped."""
    sid = "CA" + uuid.uuid4().hex
    signed_post("/voice/incoming", call_form(sid))
    url = f"/voice/choose?{query({'queue': queue, 'lang': 'fr-FR', 'why': 'too_long'})}"
    assert_valid_twiml(signed_post(url, call_form(sid)), url)


def next_url(root: ET.Element) -> str | None:
    """Where Twilio goes next: a Gather's action, a Redirect, Record's action."""
    for element in root.iter():
        if element.tag in ("Gather", "Record") and element.get("action"):
            return element.get("action")
        if element.tag == "Redirect":
            return (element.text or "").strip()
        if element.tag == "Enqueue" and element.get("waitUrl"):
            return element.get("waitUrl")
    return None


@SETTINGS
@given(
    incident=st.booleans(),
    answers=st.lists(st.tuples(DIGITS, SPEECH), min_size=1, max_size=6),
)
def test_a_caller_following_our_own_urls_with_any_input_always_gets_twiml(
    app: Flask,
    signed_post: SignedPost,
    incident: bool,
    answers: list[tuple[str | None, str | None]],
) -> None:
    caller = Caller(app, signed_post)
    root = caller.start(incident=incident, queued=False)
    for digits, speech in answers:
        url = next_url(root)
        if url is None:
            break  # hung up, or nothing more to ask
        assert url.startswith(PUBLIC)
        path = url[len(PUBLIC) :]
        form = form_of(caller.sid, {"Digits": digits, "SpeechResult": speech})
        root = assert_valid_twiml(signed_post(path, form), path)
    event(f"last answer: {' '.join(child.tag for child in root)}")


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(path=st.sampled_from(list(QUERIES)), digits=DIGITS, speech=SPEECH)
def test_the_same_requests_unsigned_get_403(
    app: Flask, client: FlaskClient, path: str, digits: str | None, speech: str | None
) -> None:
    form = form_of("CA" + uuid.uuid4().hex, {"Digits": digits, "SpeechResult": speech})
    response = client.post(path, data=form)
    assert response.status_code == 403
    assert app.extensions["hotline"].runtime.store.call(form["CallSid"]) == {}
