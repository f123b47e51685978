"""Hostile bodies at the voice webhooks (issue 15): too big, not UTF-8, badly
escaped, and genuine requests about calls the hotline never saw.

A body over `MAX_CONTENT_LENGTH` (64 KiB) is refused before a byte of it is
read; what werkzeug cannot decode gets a clear 4xx or TwiML, never a 5xx;
and a signed webhook naming an unknown call answers TwiML and changes
nothing in Redis (but `/voice/incoming`, which starts the call).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlencode

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from support import (
    PUBLIC,
    ROUND_THE_CLOCK,
    TOKEN,
    RecordingTelephony,
    SignedPost,
    call_form,
    sign,
    twiml,
    verbs,
)
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder, TestResponse, run_wsgi_app
from werkzeug.wrappers import Request

from ivr.config import SelfHelpNode
from queues import webhooks

#: Builds a test app (`tests/integration/conftest.py`'s `make_app`).
AppFactory = Callable[..., Flask]

FORM = "application/x-www-form-urlencoded"
#: A body far bigger than anything a webhook may send.
HUGE = 300 * 2**20
#: Where a streamed body stops with an error: past it, the app is reading it
#: all (a failure worth seeing at once, not after 300 MB).
READ_CAP = 8 * 2**20


class GeneratorBody:
    """A request body streamed from a generator (the WSGI `wsgi.input`),
    counting the bytes anyone pulls from it."""

    def __init__(self, head: bytes, size: int, chunk: int = 64 * 1024) -> None:
        self.size = size
        self.pulled = 0  # from the generator (a chunk at a time)
        self.read_bytes = 0  # handed to the app
        self._chunks = self._generate(head, size, chunk)
        self._buffer = bytearray()

    @staticmethod
    def _generate(head: bytes, size: int, chunk: int) -> Iterator[bytes]:
        yield head
        left = size - len(head)
        while left > 0:
            piece = b"a" * min(chunk, left)
            left -= len(piece)
            yield piece

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            piece = next(self._chunks, b"")
            if not piece:
                break
            self.pulled += len(piece)
            if self.pulled > READ_CAP:
                raise AssertionError(f"{self.pulled} bytes of the body were read")
            self._buffer += piece
        if size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        self.read_bytes += len(out)
        return out


def raw_post(app: Flask, path: str, environ: dict[str, Any]) -> tuple[int, bytes]:
    """POST through the whole WSGI app with environ entries a test client
    would not produce (a streamed body, raw bytes in the query string)."""
    base = EnvironBuilder(
        path=path, method="POST", base_url="http://localhost"
    ).get_environ()
    base.update(environ)
    app_iter, status, _ = run_wsgi_app(app, base)
    try:
        body = b"".join(app_iter)
    finally:
        getattr(app_iter, "close", lambda: None)()
    return int(status.split()[0]), body


def nothing_stored(app: Flask, sid: str) -> bool:
    return bool(app.extensions["hotline"].runtime.store.call(sid) == {})


# -- too big ---------------------------------------------------------------------


def test_a_300_mb_body_with_its_length_gets_413_before_a_byte_is_read(
    app: Flask,
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 64 * 1024
    sid = "CAhuge"
    body = GeneratorBody(urlencode(call_form(sid)).encode() + b"&Pad=", HUGE)
    status, answer = raw_post(
        app,
        "/voice/incoming",
        {
            "wsgi.input": body,
            "CONTENT_TYPE": FORM,
            "CONTENT_LENGTH": str(HUGE),
            "HTTP_X_TWILIO_SIGNATURE": "forged",
        },
    )
    assert status == 413
    assert b"64 KiB" in answer
    # Not a byte was read: the form was never parsed, the signature never checked.
    assert body.pulled == body.read_bytes == 0
    assert nothing_stored(app, sid)


@pytest.mark.parametrize(
    "terminated",
    [True, False],
    ids=["server-dechunked (gunicorn)", "server-left-chunked"],
)
def test_a_300_mb_chunked_body_gets_403_having_read_at_most_64_kib(
    app: Flask, terminated: bool
) -> None:
    """Without a length werkzeug reads at most MAX_CONTENT_LENGTH (when the
    server says it ends the stream: `wsgi.input_terminated`, as gunicorn does
    for chunked requests) or nothing at all; the form it parses is cut there,
    so the answer is the signature's 403, not 413."""
    sid = "CAchunked"
    body = GeneratorBody(urlencode(call_form(sid)).encode() + b"&Pad=", HUGE)
    environ: dict[str, Any] = {
        "wsgi.input": body,
        "CONTENT_TYPE": FORM,
        "HTTP_TRANSFER_ENCODING": "chunked",
        # Genuine for the form without its padding: whatever werkzeug makes
        # of a body it cuts short, it is not what was signed.
        "HTTP_X_TWILIO_SIGNATURE": sign("/voice/incoming", call_form(sid)),
    }
    if terminated:
        environ["wsgi.input_terminated"] = True
    status, _ = raw_post(app, "/voice/incoming", environ)
    assert status == 403
    assert body.read_bytes <= app.config["MAX_CONTENT_LENGTH"]
    assert body.pulled <= 2 * app.config["MAX_CONTENT_LENGTH"]  # of 300 MB
    if not terminated:
        assert body.pulled == 0
    assert nothing_stored(app, sid)


def test_a_genuine_signature_does_not_lift_the_limit(client: FlaskClient) -> None:
    """A form of exactly 64 KiB is read and answered; one byte more is 413,
    however well signed."""
    for size, expected in ((64 * 1024, 200), (64 * 1024 + 1, 413)):
        sid = f"CAlimit{size}"
        form = call_form(sid)
        pad = size - len(urlencode({**form, "Pad": ""}).encode())
        form["Pad"] = "a" * pad
        assert len(urlencode(form).encode()) == size
        response = client.post(
            "/voice/incoming",
            data=form,
            headers={"X-Twilio-Signature": sign("/voice/incoming", form)},
        )
        assert response.status_code == expected, size
        assert nothing_stored(client.application, sid) is (expected == 413)


# -- not UTF-8, badly escaped ----------------------------------------------------


def werkzeug_form(body: bytes) -> MultiDict[str, str]:
    """The form werkzeug decodes from a body: what Twilio must have signed."""
    environ = EnvironBuilder(method="POST", data=body, content_type=FORM).get_environ()
    return MultiDict(Request(environ).form)


#: Bodies a carrier should never send, the form werkzeug makes of each, and
#: the answer to them signed as decoded.
BODIES: dict[str, tuple[bytes, dict[str, list[str]], int]] = {
    # Raw bytes that are not UTF-8: werkzeug drops the whole form (a
    # UnicodeDecodeError is a ValueError, which its parser swallows), so the
    # request names no call: 400, said in words.
    "raw \\xff\\xfe in a value": (
        b"CallSid=CAbadutf8&From=%2B33612345678&SpeechResult=\xff\xfe",
        {},
        400,
    ),
    # Escaped bytes that are not UTF-8 stay escaped: a value like any other.
    "escaped %FF%FE in a value": (
        b"CallSid=CAescaped&From=%2B33612345678&SpeechResult=%FF%FE",
        {
            "CallSid": ["CAescaped"],
            "From": ["+33612345678"],
            "SpeechResult": ["%FF%FE"],
        },
        200,
    ),
    # An invalid percent-escape is kept as written.
    "invalid percent-escapes": (
        b"CallSid=CAbadpct&From=%2B33612345678&Digits=%zz&SpeechResult=%E9%",
        {
            "CallSid": ["CAbadpct"],
            "From": ["+33612345678"],
            "Digits": ["%zz"],
            "SpeechResult": ["%E9%"],
        },
        200,
    ),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_undecodable_bodies_get_a_clear_answer_never_a_5xx(
    client: FlaskClient, case: str
) -> None:
    body, decoded, expected = BODIES[case]
    form = werkzeug_form(body)
    assert form.to_dict(flat=False) == decoded
    path = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + path, form)
    for headers, status in (
        ({"X-Twilio-Signature": signature}, expected),
        ({"X-Twilio-Signature": sign(path, {"CallSid": "CAother"})}, 403),
        ({}, 403),
    ):
        response = client.post(path, data=body, content_type=FORM, headers=headers)
        assert response.status_code == status, (headers, response.data[:300])
        if status == 200:
            twiml(response.data)
        elif status == 400:
            assert b"CallSid must be CA followed by letters and digits" in response.data


@pytest.mark.parametrize("public", [PUBLIC, None], ids=["behind a proxy", "direct"])
def test_a_query_string_that_is_not_utf8_gets_403_not_a_5xx(
    make_app: AppFactory, public: str | None
) -> None:
    """Raw bytes in the request line reach the app as they came; the URL the
    signature is checked against must still be built from them (behind a
    proxy it raised UnicodeDecodeError: a 500, for an unsigned request)."""
    app = make_app(ROUND_THE_CLOCK, settings={"public_base_url": public})
    form = call_form("CArawquery")
    body = urlencode(form).encode()
    for query in ("lang=\xff", "lang=fr-FR&v=\xc3(", "\xe9=\xe9"):
        environ = {
            "QUERY_STRING": query,  # latin-1, as a WSGI server hands it over
            "wsgi.input": GeneratorBody(body, len(body)),
            "CONTENT_TYPE": FORM,
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_X_TWILIO_SIGNATURE": sign("/voice/incoming", form),
        }
        status, _ = raw_post(app, "/voice/incoming", environ)
        assert status == 403, query
    assert nothing_stored(app, "CArawquery")


def test_an_escaped_query_that_is_not_utf8_is_a_query_like_any_other(
    signed_post: SignedPost,
) -> None:
    response = signed_post(
        "/voice/menu?node=%ff&attempt=%zz&lang=%FF%FE", call_form("CAescquery")
    )
    assert response.status_code == 200
    assert verbs(twiml(response.data))  # the start menu, in the default language


# -- a genuine webhook about a call the hotline never saw -------------------------

#: What Twilio posts to routes that tell how something ended (nobody listens
#: to their TwiML): their answer is an empty <Response/>.
STATUS_CALLBACKS = {
    webhooks.STATUS,
    webhooks.QUEUE_RESULT,
    webhooks.AGENT_STATUS,
    webhooks.EXTERNAL_STATUS,
    webhooks.LISTENER_STATUS,
    webhooks.CALLBACK_STATUS,
}


def webhook_urls(app: Flask, call: str) -> dict[str, str]:
    """Each voice route's URL as the hotline hands it to Twilio (the query
    parameters its view reads, naming real nodes, faults and queues), about
    the call `call`."""
    svc = app.extensions["hotline"]
    tree, version = svc.ivr, svc.version
    lang, offer = tree.languages[0], uuid.uuid4().hex
    queue = svc.runtime.routing.hotline.general_queue
    selfhelp = [n for n in tree.nodes.values() if isinstance(n, SelfHelpNode)]
    first, second = selfhelp[0], selfhelp[1]
    faults = f"{first.fault},{second.fault}"
    return {
        webhooks.INCOMING: webhooks.INCOMING,
        webhooks.STATUS: webhooks.STATUS,
        webhooks.INCIDENT: webhooks.incident(lang, "incident-1", version),
        webhooks.RETURNING: webhooks.returning(lang, call, queue, version),
        webhooks.MENU: webhooks.menu(tree.start, 1, lang, version),
        webhooks.SELFHELP: webhooks.selfhelp(first.id, 0, 1, lang, version),
        webhooks.WHICH: webhooks.which(
            tree.start, first.id, second.id, faults, lang, version
        ),
        webhooks.WAIT: webhooks.wait(queue, lang),
        webhooks.WAIT_KEY: webhooks.wait_key(queue, lang),
        webhooks.QUEUE_RESULT: webhooks.queue_result(lang, queue),
        webhooks.TOO_LONG: webhooks.too_long(queue, lang),
        webhooks.CHOOSE: webhooks.choose(queue, lang, "unstaffed"),
        webhooks.MESSAGE_LEFT: webhooks.message_left(lang),
        webhooks.AGENT_ANSWER: webhooks.agent_answer(offer, call),
        webhooks.AGENT_STATUS: webhooks.agent_status(offer, "nina"),
        webhooks.CALLER_CONNECT: webhooks.caller_connect(call, queue, lang),
        webhooks.CALLER_AFTER: webhooks.caller_after(call, lang),
        webhooks.CALLER_REQUEUE: webhooks.caller_requeue(call, queue, lang),
        webhooks.CALLER_TRANSFERRED: webhooks.caller_transferred(call, queue, lang),
        webhooks.CALLER_TRANSFER_HOLD: webhooks.transfer_hold(lang),
        webhooks.CONSULT_ANSWER: webhooks.consult_answer(offer, call),
        webhooks.EXTERNAL_STATUS: webhooks.external_status(call, "consult-1"),
        webhooks.LISTENER_STATUS: webhooks.listener_status(call),
        webhooks.CALLBACK_ANSWER: webhooks.callback_answer(call),
        webhooks.CALLBACK_STATUS: webhooks.callback_status(call),
    }


def redis_state(redis_client: redis.Redis) -> dict[bytes, bytes | None]:
    """Every key of the test database with its serialized value."""
    return {
        key: cast(bytes | None, redis_client.dump(key))
        for key in redis_client.scan_iter()
    }


def changed(before: dict[bytes, Any], after: dict[bytes, Any]) -> set[str]:
    return {
        key.decode()
        for key in before.keys() | after.keys()
        if before.get(key) != after.get(key)
    }


#: The form's extras: a call going on, then one saying everything ends.
FORMS: dict[str, dict[str, str]] = {
    "in progress": {},
    "final": {
        "CallStatus": "completed",
        "QueueResult": "hangup",
        "Digits": "1",
        "SpeechResult": "oui",
        "RecordingUrl": "https://api.twilio.com/recordings/RE0",
        "RecordingDuration": "12",
    },
}


def carrier_requests(telephony: RecordingTelephony) -> dict[str, list[Any]]:
    """What the hotline asked of the carrier so far."""
    return {
        "placed": list(telephony.placed),
        "added": list(telephony.added),
        "redirects": list(telephony.redirects),
        "ended": list(telephony.ended),
        "texts": list(telephony.texts),
        "participants": list(telephony.participant_updates),
    }


@pytest.mark.parametrize("extras", list(FORMS))
def test_a_signed_webhook_about_an_unknown_call_answers_twiml_and_changes_nothing(
    app: Flask,
    signed_post: SignedPost,
    redis_client: redis.Redis,
    telephony: RecordingTelephony,
    extras: str,
) -> None:
    voice_routes = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith(webhooks.ROOT)
    }
    urls = webhook_urls(app, "CA" + uuid.uuid4().hex)  # named in URLs, never seen
    assert voice_routes == set(urls), "give each new voice route its URL here"
    keys = app.extensions["hotline"].runtime.keys
    for rule in sorted(voice_routes):
        sid = "CA" + uuid.uuid4().hex
        before, asked = redis_state(redis_client), carrier_requests(telephony)
        form = call_form(sid, **FORMS[extras])
        response: TestResponse = signed_post(urls[rule], form)
        assert response.status_code == 200, (rule, response.data[:300])
        root = twiml(response.data)
        if rule in STATUS_CALLBACKS:
            assert verbs(root) == [], rule
        else:
            assert verbs(root), f"{rule}: someone on the line hears nothing"
        touched = changed(before, redis_state(redis_client))
        if rule == webhooks.INCOMING:  # the one route that starts a call
            assert touched == {keys.call(sid), keys.active_calls, keys.events}
            assert app.extensions["hotline"].runtime.store.call(sid) != {}
        else:
            assert touched == set(), rule
        now_asked = carrier_requests(telephony)
        new = {what: now_asked[what][len(asked[what]) :] for what in asked}
        if rule == webhooks.EXTERNAL_STATUS and form["CallStatus"] == "in-progress":
            # An outside leg answering for a transfer that is not (or no
            # longer) going on is a stray: it is hung up, nothing else.
            assert new == {**dict.fromkeys(new, []), "ended": [sid]}
        else:
            assert new == dict.fromkeys(new, []), rule
