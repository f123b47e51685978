"""Hostile signatures at the voice webhooks (issue 15).

`web.twilio_auth.signature_is_valid` is our own, faster, re-implementation of
twilio's `RequestValidator.validate` for form bodies: these tests hold it to
Twilio's documented example, to twilio's helper on 10,000 fuzzed requests,
and, through the real app, to 403-and-nothing-stored for every forgery.
Behind a proxy the URL Twilio signed is `PUBLIC_BASE_URL` plus the path and
query, not what Flask sees (`http://localhost` under the test client).
"""

from __future__ import annotations

import base64
import random
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlparse

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from support import PUBLIC, ROUND_THE_CLOCK, TOKEN, call_form, sign, twiml
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from core.keys import Keys
from web.twilio_auth import signature_is_valid

#: Builds a test app (`tests/integration/conftest.py`'s `make_app`).
AppFactory = Callable[..., Flask]

# -- Twilio's own vectors ---------------------------------------------------------

# Twilio's worked example of a signed webhook, "Webhooks security":
# https://www.twilio.com/docs/usage/webhooks/webhooks-security
# (formerly https://www.twilio.com/docs/usage/security#validating-requests).
DOC_TOKEN = "12345"
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# twilio-python's own test of its validator, the same example with the older
# numbers, and its expectations on ports:
# https://github.com/twilio/twilio-python/blob/main/tests/unit/test_request_validator.py
HELPER_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
HELPER_CASES = [
    # (URL requested, signature Twilio sent)
    (DOC_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
    # signed without the port the request came to
    (
        "https://mycompany.com:1234/myapp.php?foo=1&bar=2",
        "RSOYDt4T1cUTdK1PDd93/VVr8B8=",
    ),
    # signed with https' default port, requested without it
    (DOC_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    # signed with http's default port, requested without it
    ("http://mycompany.com/myapp.php?foo=1&bar=2", "0ZXoZLH/DfblKGATFgpif+LLRf4="),
]


def test_twilios_documented_example_verifies_with_twilios_helper_and_ours() -> None:
    validator = RequestValidator(DOC_TOKEN)
    assert validator.compute_signature(DOC_URL, DOC_PARAMS) == DOC_SIGNATURE
    assert validator.validate(DOC_URL, DOC_PARAMS, DOC_SIGNATURE)
    assert signature_is_valid(DOC_TOKEN, DOC_URL, MultiDict(DOC_PARAMS), DOC_SIGNATURE)
    altered = MultiDict({**DOC_PARAMS, "Digits": "1235"})
    assert not validator.validate(DOC_URL, altered, DOC_SIGNATURE)
    assert not signature_is_valid(DOC_TOKEN, DOC_URL, altered, DOC_SIGNATURE)


@pytest.mark.parametrize(("url", "signature"), HELPER_CASES)
def test_twilio_python_s_own_vectors_verify_with_ours(url: str, signature: str) -> None:
    assert RequestValidator(DOC_TOKEN).validate(url, HELPER_PARAMS, signature)
    assert signature_is_valid(DOC_TOKEN, url, MultiDict(HELPER_PARAMS), signature)
    assert not signature_is_valid("54321", url, MultiDict(HELPER_PARAMS), signature), (
        "another account's token"
    )


# -- forgeries through the app ----------------------------------------------------


def as_wsgi_header(text: str) -> str:
    """A header value as a WSGI server hands it over: its UTF-8 bytes read as
    latin-1 (PEP 3333)."""
    return text.encode("utf-8").decode("latin-1")


def forged_headers(case: str, path: str, form: dict[str, str]) -> dict[str, str]:
    """The `X-Twilio-Signature` a forger sends, by kind of forgery."""
    genuine = sign(path, form)
    match case:
        case "missing":
            return {}
        case "empty":
            return {"X-Twilio-Signature": ""}
        case "wrong":
            return {"X-Twilio-Signature": sign(path, {**form, "From": "+33699999999"})}
        case "for another URL":
            return {"X-Twilio-Signature": sign("/voice/status", form)}
        case "of another token":
            return {"X-Twilio-Signature": sign(path, form, token="f" * 32)}
        case "non-ASCII, latin-1":
            return {"X-Twilio-Signature": genuine[:-2] + "é="}
        case "non-ASCII, emoji":
            return {"X-Twilio-Signature": as_wsgi_header(genuine[:-3] + "😀=")}
    raise AssertionError(case)


FORGERIES = [
    "missing",
    "empty",
    "wrong",
    "for another URL",
    "of another token",
    "non-ASCII, latin-1",
    "non-ASCII, emoji",
]


#: The event stream of the apps under test (built with the default keys).
EVENTS = Keys().events


def stored_for(redis_client: redis.Redis, sid: str) -> list[bytes]:
    """Redis keys naming a call, and events of the stream that mention it."""
    named = list(redis_client.scan_iter(match=f"*{sid}*"))
    events = [
        entry_id
        for entry_id, fields in cast(list[Any], redis_client.xrange(EVENTS))
        if sid.encode() in b"".join(fields.values())
    ]
    return named + events


def post(
    client: FlaskClient, path: str, form: Any, headers: dict[str, str]
) -> TestResponse:
    response = client.post(path, data=form, headers=headers)
    response.get_data()
    response.close()  # as a WSGI server does: what runs after the answer runs
    return response


@pytest.mark.parametrize("case", FORGERIES)
def test_a_forged_signature_gets_403_and_stores_nothing(
    app: Flask, client: FlaskClient, redis_client: redis.Redis, case: str
) -> None:
    sid = "CAforged" + "".join(c for c in case if c.isalnum())
    form = call_form(sid)
    response = post(
        client, "/voice/incoming", form, forged_headers(case, "/voice/incoming", form)
    )
    assert response.status_code == 403
    assert app.extensions["hotline"].runtime.store.call(sid) == {}
    assert stored_for(redis_client, sid) == []
    # The same request, genuinely signed, is a new call: the forgery alone failed.
    genuine = post(
        client,
        "/voice/incoming",
        form,
        {"X-Twilio-Signature": sign("/voice/incoming", form)},
    )
    assert genuine.status_code == 200
    assert app.extensions["hotline"].runtime.store.call(sid) != {}


# -- behind a proxy: the public URL, its port -------------------------------------


def test_behind_a_proxy_the_public_url_is_checked_not_the_one_flask_sees(
    app: Flask, client: FlaskClient, redis_client: redis.Redis
) -> None:
    assert app.config["PUBLIC_BASE_URL"] == PUBLIC == "https://hotline.test"
    internal = call_form("CAinternal")
    refused = client.post(
        "/voice/incoming",
        base_url="http://localhost",
        data=internal,
        headers={
            "X-Twilio-Signature": sign(
                "/voice/incoming", internal, base="http://localhost"
            )
        },
    )
    assert refused.status_code == 403
    assert stored_for(redis_client, "CAinternal") == []
    public = call_form("CApublic")
    accepted = client.post(
        "/voice/incoming",
        base_url="http://localhost",
        data=public,
        headers={"X-Twilio-Signature": sign("/voice/incoming", public)},
    )
    assert accepted.status_code == 200
    twiml(accepted.data)
    assert app.extensions["hotline"].runtime.store.call("CApublic") != {}


def test_the_query_string_is_part_of_the_signed_url(
    client: FlaskClient,
) -> None:
    path = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"
    form = call_form("CAquery", Digits="9")
    signed = {"X-Twilio-Signature": sign(path, form)}
    assert post(client, path, form, signed).status_code == 200
    other = "/voice/menu?node=accueil&attempt=2&lang=fr-FR"
    assert post(client, other, form, signed).status_code == 403
    assert post(client, "/voice/menu", form, signed).status_code == 403


#: PUBLIC_BASE_URL -> {the base Twilio signed for: accepted?}. Twilio signs
#: with or without the default port; a non-default port must be the one the
#: hotline is reached on, though like twilio's helper (`remove_port`) a
#: signature without any port is accepted too.
PORT_RULES = {
    "https://hotline.test": {
        "https://hotline.test": True,
        "https://hotline.test:443": True,
        "https://hotline.test:8443": False,
        "https://hotline.test:80": False,
        "http://hotline.test": False,
        "http://hotline.test:443": False,
    },
    "https://hotline.test:443": {
        "https://hotline.test": True,
        "https://hotline.test:443": True,
        "https://hotline.test:8443": False,
    },
    "https://hotline.test:8443": {
        "https://hotline.test:8443": True,
        "https://hotline.test:9443": False,
        "https://hotline.test:443": False,
        "https://hotline.test": True,
        "http://hotline.test:8443": False,
    },
}


@pytest.mark.parametrize("public", sorted(PORT_RULES))
def test_twilio_may_sign_with_or_without_the_default_port_a_non_default_one_must_match(
    make_app: AppFactory, redis_client: redis.Redis, public: str
) -> None:
    app = make_app(ROUND_THE_CLOCK, settings={"public_base_url": public})
    client = app.test_client()
    store = app.extensions["hotline"].runtime.store
    for n, (signed_base, accepted) in enumerate(PORT_RULES[public].items()):
        sid = f"CAport{n}"
        form = call_form(sid)
        signature = sign("/voice/incoming", form, base=signed_base)
        helper = RequestValidator(TOKEN).validate(
            public + "/voice/incoming", form, signature
        )
        assert helper is accepted, f"twilio's helper on {signed_base} for {public}"
        response = post(
            client, "/voice/incoming", form, {"X-Twilio-Signature": signature}
        )
        assert response.status_code == (200 if accepted else 403), signed_base
        assert (store.call(sid) != {}) is accepted, signed_base
        if not accepted:
            assert stored_for(redis_client, sid) == [], signed_base


def test_without_public_base_url_the_url_flask_sees_is_checked(
    make_app: AppFactory,
) -> None:
    app = make_app(ROUND_THE_CLOCK, settings={"public_base_url": None})
    assert not app.config["PUBLIC_BASE_URL"]
    client = app.test_client()
    cases = {
        "http://localhost": 200,
        "http://localhost:80": 200,
        PUBLIC: 403,  # what a proxy would have been told: not configured here
    }
    store = app.extensions["hotline"].runtime.store
    for n, (base, status) in enumerate(cases.items()):
        sid = f"CAdirect{n}"
        form = call_form(sid)
        signature = sign("/voice/incoming", form, base=base)
        response = post(
            client, "/voice/incoming", form, {"X-Twilio-Signature": signature}
        )
        assert response.status_code == status, base
        assert (store.call(sid) != {}) is (status == 200), base


# -- repeated keys, unicode ---------------------------------------------------------

#: Fields added to a call's form; the first one is then altered.
FORMS: dict[str, list[tuple[str, str]]] = {
    "a key twice, two values": [("Digits", "1"), ("Digits", "2")],
    "a key twice, the same value": [("SpeechResult", "oui"), ("SpeechResult", "oui")],
    "unicode keys and values": [
        ("SpeechResult", "Mon imprimante a pris feu 🔥, déjà vu ; 電話が壊れた"),
        ("Cléf-accentuée", "valeur é"),
        ("🔑", "🗝️"),
        ("電話", "番号"),
        ("Empty", ""),
    ],
}


@pytest.mark.parametrize("case", sorted(FORMS))
def test_repeated_and_unicode_fields_signed_as_twilio_does_are_accepted_altered_refused(
    app: Flask, client: FlaskClient, case: str
) -> None:
    path = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"
    sid = "CArepeat" + str(sorted(FORMS).index(case))
    items = list(call_form(sid).items()) + FORMS[case]
    headers = {"X-Twilio-Signature": twilio_signs(PUBLIC + path, items)}
    accepted = post(client, path, MultiDict(items), headers)
    assert accepted.status_code == 200, accepted.data
    twiml(accepted.data)
    first = len(items) - len(FORMS[case])
    key, value = items[first]
    altered = [*items[:first], (key, value + "x"), *items[first + 1 :]]
    assert post(client, path, MultiDict(altered), headers).status_code == 403


# -- 10,000 fuzzed requests: the same verdict as twilio's helper -------------------

FUZZ_CASES = 10_000
SCHEMES = ["http", "https"]
HOSTS = [
    "hotline.test",
    "mycompany.com",
    "127.0.0.1",
    "[::1]",
    "user:secret@hotline.test",
    "xn--caf-dma.test",
    "café.test",
]
PORTS = ["", "", "", ":443", ":80", ":8443", ":5000", ":0", ":", ":65535"]
PORTS_BROKEN = [":65536", ":abc", ":-1"]  # `urlparse(...).port` raises
PATHS = [
    "",
    "/",
    "/voice/incoming",
    "/voice/agent/answer",
    "/voice/menu/",
    "/caf%C3%A9",
    "/a%20b/c",
    "/%7Euser",
    "/x;p=1",
    "/電話",
]
QUERY_KEYS = ["lang", "v", "node", "call", "é", "%C3%A9", "😀", "q", "foo[]"]
QUERY_VALUES = ["fr-FR", "1", "", "a%2Bb", "%ZZ", "%", "a+b", "電話", "x y", "CAab12"]
FORM_KEYS = [
    "CallSid",
    "From",
    "To",
    "Digits",
    "SpeechResult",
    "Cléf",
    "😀",
    "電話",
    "a",
    "A",
    "",
]
FORM_VALUES = [
    "",
    "1",
    "+33612345678",
    "é",
    "naïve café",
    "😀🎉",
    "電話番号",
    "a b",
    "%41",
    "x&y=z",
    " ",
    "CA" + "0" * 32,
    "\u00a0\u200b",
]


def fuzz_url(rng: random.Random) -> str:
    port = rng.choice(PORTS) if rng.random() < 0.95 else rng.choice(PORTS_BROKEN)
    query = []
    for _ in range(rng.randint(0, 4)):
        key, value = rng.choice(QUERY_KEYS), rng.choice(QUERY_VALUES)
        query.append(f"{key}={value}")
        if rng.random() < 0.25:  # the same key again
            query.append(f"{key}={rng.choice(QUERY_VALUES)}")
    tail = "?" + "&".join(query) if query or rng.random() < 0.1 else ""
    return f"{rng.choice(SCHEMES)}://{rng.choice(HOSTS)}{port}{rng.choice(PATHS)}{tail}"


def fuzz_form(rng: random.Random) -> list[tuple[str, str]]:
    items = []
    for _ in range(rng.randint(0, 8)):
        key = rng.choice(FORM_KEYS)
        items.append((key, rng.choice(FORM_VALUES)))
        if rng.random() < 0.2:  # a repeated key, same or other value
            items.append((key, rng.choice(FORM_VALUES)))
    return items


def port_forms(url: str) -> tuple[str, str]:
    """`url` with its scheme's default port added (if it has none) and with
    any port removed: the two URLs Twilio may have signed."""
    try:
        parsed = urlparse(url)
        if parsed.port:
            host = parsed.netloc.rsplit(":", 1)[0]
            return url, parsed._replace(netloc=host).geturl()
    except ValueError:
        return url, url
    default = 443 if parsed.scheme == "https" else 80
    return parsed._replace(netloc=f"{parsed.netloc}:{default}").geturl(), url


def twilio_signs(url: str, items: list[tuple[str, str]], token: str = TOKEN) -> str:
    """The signature Twilio sends with a POST of `items` to `url`."""
    return str(RequestValidator(token).compute_signature(url, MultiDict(items)))


def fuzz_signature(rng: random.Random, url: str, items: list[tuple[str, str]]) -> str:
    with_port, without_port = port_forms(url)
    kind = rng.randrange(10)
    if kind == 0:
        return twilio_signs(url, items)
    if kind == 1:
        return twilio_signs(with_port, items)
    if kind == 2:
        return twilio_signs(without_port, items)
    if kind == 3:  # one value changed, or one field added
        mutated = (
            [(items[0][0], items[0][1] + "x"), *items[1:]]
            if items
            else [("Digits", "1")]
        )
        return twilio_signs(url, mutated)
    if kind == 4:
        return base64.b64encode(rng.randbytes(20)).decode()
    if kind == 5:
        return ""
    if kind == 6:  # a genuine one with a non-ASCII character in it
        genuine = twilio_signs(url, items)
        return genuine[:5] + rng.choice(["é", "😀", "\u0130", "\udc80"]) + genuine[6:]
    if kind == 7:
        return twilio_signs(url, items, token="f" * 32)
    if kind == 8:  # a genuine one, cut or padded
        genuine = twilio_signs(url, items)
        return rng.choice([genuine[:-1], genuine + "=", " " + genuine])
    # the URL Twilio would have signed, give or take a character
    return twilio_signs(url + rng.choice(["/", "?", "#", "&a=1"]), items)


def test_ours_agrees_with_twilios_helper_on_10000_fuzzed_requests() -> None:
    rng = random.Random(15)
    validator = RequestValidator(TOKEN)
    verdicts = {True: 0, False: 0}
    for n in range(FUZZ_CASES):
        url = fuzz_url(rng)
        items = fuzz_form(rng)
        try:
            signature = fuzz_signature(rng, url, items)
        except (ValueError, UnicodeEncodeError):  # lone surrogates, bad ports
            signature = "not-a-signature"
        form = MultiDict(items)
        try:
            theirs = validator.validate(url, form, signature)
        except (ValueError, UnicodeEncodeError):  # a port not a number, a surrogate
            theirs = False
        ours = signature_is_valid(TOKEN, url, form, signature)  # never raises
        assert ours is theirs, (n, url, items, signature)
        verdicts[ours] += 1
    # Both answers were exercised plenty (a broken fuzzer would make all fail).
    assert verdicts[True] > FUZZ_CASES // 5, verdicts
    assert verdicts[False] > FUZZ_CASES // 2, verdicts
