"""The JSON API's OpenAPI document (`web/openapi.yaml`) against the app itself.

The document validates as OpenAPI 3.1; it names every `/api` route of the app
with its methods and nothing else (a new route undocumented, or a removed one
still described, fails here); and schemathesis drives the running app (WSGI,
in process; a real Redis and SQL, `RecordingTelephony` for the carrier) as
each role: anonymous, a hotliner, a supervisor, an admin. Every answer must be
no 5xx, a documented status with a documented content type and a body of the
documented schema; anonymous requests all get 401, a hotliner's steering ones
all 403.

Each role's run first plays a scenario of well-formed requests on a caller
talking with Nina and one waiting (the answers of a transfer done, a recap
sent...), then fuzzes every operation with generated path parameters (ids
nobody has: 404s, 403s) and with the ids of this hotline, schema-abiding
requests and schema-breaking ones. The fuzzing is bounded and derandomized:
a run takes seconds and is the same every time.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from integration.conftest import AppFactory
from integration.test_transfer import EMAIL, runtime, talk_with_nina
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support import (
    RecordingTelephony,
    SignedPost,
    bearer,
    call_form,
    off_shift_hotliner,
    provision,
    round_the_clock,
)

from calllog.writer import drain_events
from web.openapi import document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@dataclass(frozen=True)
class Plan:
    """How hard one role's run fuzzes: examples per operation, generation
    mode and set of path parameters; schema-breaking requests too; the ids
    of this hotline as well as generated ones."""

    examples: int
    negative: bool = True
    known_ids: bool = True


PLANS = {
    # Every answer is 401 whatever is sent: a few requests of each suffice.
    "anonymous": Plan(4, negative=False, known_ids=False),
    # 8 examples of each pass: 16 to 48 requests an operation.
    "hotliner": Plan(8),
    "supervisor": Plan(8),
    # A supervisor but for callers' numbers, which only change bodies.
    "admin": Plan(5, negative=False),
}
#: The account of each role (the hotliner is Nina, a configured hotliner).
ACCOUNTS = {"hotliner": "nina", "supervisor": "sup-openapi", "admin": "adm-openapi"}


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """Nina and Omar round the clock, Dan off shift; Nina and Omar may log in."""
    return make_app(
        round_the_clock(("nina", "Nina Nuit-et-Jour"), ("omar", "Omar Toujours-Là"))
        + off_shift_hotliner("dan"),
        accounts=("nina", "omar"),
    )


def _served(app: Flask) -> dict[str, Any]:
    token = provision(app.extensions["hotline"].accounts, "sup-doc", "supervisor")
    response = app.test_client().get("/api/openapi.json", headers=bearer(token))
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served: dict[str, Any] = response.get_json()
    return served


def test_the_document_is_valid_openapi_3_1(app: Flask) -> None:
    served = _served(app)
    assert served["openapi"].startswith("3.1.")
    validate(served, cls=OpenAPIV31SpecValidator)
    # YAML 1.1 reads `200:`, `on:` or a day as a number, a boolean, a date:
    # what the YAML file says must survive as JSON unchanged.
    assert served == document()
    assert json.loads(json.dumps(document())) == document()


def test_anonymous_visitors_may_not_read_it(app: Flask) -> None:
    response = app.test_client().get("/api/openapi.json")
    assert response.status_code == 401
    assert "error" in response.get_json()


def _documented_rule(rule: str) -> str:
    """Flask's `/calls/<call_sid>` (or `<path:x>`) as OpenAPI's `/calls/{call_sid}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_nothing_else(app: Flask) -> None:
    in_app: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule == "/api" or rule.rule.startswith("/api/"):
            methods = (rule.methods or set()) - {"HEAD", "OPTIONS"}
            in_app.setdefault(_documented_rule(rule.rule), set()).update(
                m.lower() for m in methods
            )
    verbs = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    in_document = {
        path: {m for m in item if m in verbs}
        for path, item in document()["paths"].items()
    }
    assert in_document == in_app
    assert len(in_app) >= 25  # the API, not an empty map


@pytest.mark.parametrize(
    ("method", "path", "body", "reason"),
    [
        # A list or an object where the view looks a text up in a dict or a
        # set: TypeError (unhashable), was a 500.
        (
            "POST",
            "/api/agents/nina/state",
            {"state": "break", "reason": ["lunch"]},
            "reason",
        ),
        (
            "POST",
            "/api/calls/CA1/outcome",
            {"agent_id": "nina", "outcome": []},
            "outcome",
        ),
        ("POST", "/api/calls/CA1/transfer", {"queue": "printer", "mode": {}}, "mode"),
        # An id past SQL's integers: OverflowError, was a 500.
        ("GET", "/api/audit?before=99999999999999999999", None, "before"),
        # Midnight of 0001-01-01 in Paris is in year 0 in UTC, and the day
        # after 9999-12-31 is none: OverflowError, was a 500.
        ("GET", "/api/calls?from=0001-01-01&to=2026-01-01", None, "from"),
        ("GET", "/api/reports?from=2026-01-01&to=9999-12-31", None, "to"),
        # A report from 1900 rolled up every day since: a worker for minutes
        # (from year 1, hours).
        ("GET", "/api/reports?from=1900-01-01&to=2026-01-01", None, "at most"),
    ],
)
def test_bad_values_get_400_with_a_reason(
    api: FlaskClient, method: str, path: str, body: object, reason: str
) -> None:
    response = api.open(path, method=method, json=body)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert reason in response.get_json()["error"]


def test_a_nul_character_is_refused_before_it_reaches_sql(api: FlaskClient) -> None:
    """PostgreSQL's text cannot hold one: it was a 503 ("the call log cannot
    be read now"), and a queue closed by hand without its audit entry."""
    closing = {"state": "closed", "reason": "Panne\u0000"}
    refused = api.post("/api/queues/email/override", json=closing)
    assert refused.status_code == 400
    assert "NUL" in refused.get_json()["error"]
    queues = api.get("/api/queues").get_json()["queues"]
    assert [q["override"] for q in queues if q["id"] == "email"] == [None]
    for query in (
        "/api/calls?from=2026-01-01&to=2026-01-02&queue=%00",
        "/api/calls.csv?from=2026-01-01&to=2026-01-02&before=CA%00",
        "/api/audit?action=queue%00override",
    ):
        answer = api.get(query)
        assert answer.status_code == 400, query
        assert "NUL" in answer.get_json()["error"], query
    assert api.get("/api/calls/CA%00/timeline").status_code == 404


def test_a_report_says_its_days_as_the_call_log_does(api: FlaskClient) -> None:
    answer = api.get("/api/reports?from=20310106&to=2031-01-07&by=all")
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["from"], answer.get_json()["to"]) == (
        "2031-01-06",
        "2031-01-07",
    )


def _path_names(path: str) -> set[str]:
    return set(re.findall(r"{([^{}]+)}", path))


def _live_calls(
    app: Flask, signed_post: SignedPost, telephony: RecordingTelephony, role: str
) -> tuple[str, str]:
    """(a caller talking with Nina, a caller waiting in the email queue), in
    Redis and in the call log; sids of this role's run (SQL is shared)."""
    talking, waiting = f"CAoa{role}talk", f"CAoa{role}wait"
    talk_with_nina(app, signed_post, telephony, talking)
    signed_post("/voice/incoming", call_form(waiting))
    signed_post(EMAIL, call_form(waiting, Digits="4"))
    rt = runtime(app)
    assert rt.store.call(waiting)["state"] == "queued"
    drain_events(rt.redis, app.extensions["hotline"].engine, rt.keys)
    return talking, waiting


def _negatable(operation: Any, fixed: dict[str, str]) -> bool:
    """Whether a request can break the document's rules: a body or a query,
    or a path parameter of a few values. (Any text is a valid id and the
    empty one is no path: negating ids alone would only be filtered out.)"""
    enums = [
        p
        for p in operation.path_parameters
        if p.name not in fixed and "enum" in p.definition.get("schema", {})
    ]
    return bool(operation.body or operation.query or enums)


def _fuzz(
    schema: Any,
    headers: dict[str, str],
    plan: Plan,
    known: list[dict[str, str]],
    expect: Callable[[Any, Any], None],
) -> list[str]:
    """Fuzz every operation of `schema` with `headers`; the failures (an
    empty list when all went well)."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        names = _path_names(operation.path)
        path_sets: list[dict[str, str] | None] = [None]
        if plan.known_ids:
            path_sets += [{k: v for k, v in ids.items() if k in names} for ids in known]
        for path_parameters in path_sets:
            if path_parameters is not None and not path_parameters:
                continue  # no id of ours in this path: the first pass did it
            modes = [GenerationMode.POSITIVE]
            if plan.negative and _negatable(operation, path_parameters or {}):
                modes.append(GenerationMode.NEGATIVE)
            for mode in modes:
                strategy = operation.as_strategy(
                    generation_mode=mode,
                    headers=headers or None,
                    path_parameters=path_parameters,
                )

                @settings(
                    max_examples=plan.examples,
                    deadline=None,
                    derandomize=True,
                    database=None,
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=strategy)
                def run(case: Any) -> None:
                    response = case.call()
                    case.validate_response(response, checks=CHECKS)
                    expect(case, response)

                try:
                    run()
                except Exception as exc:  # noqa: BLE001 - every failure is reported
                    failures.append(
                        f"{operation.label} {mode.value} {path_parameters}: {exc}"
                    )
    return failures


def _scenario(
    talking: str, waiting: str, own: str
) -> list[tuple[str, str, dict[str, Any]]]:
    """A shift's worth of real requests, in order, on the calls in progress:
    fuzzing seldom guesses a configured queue or a well-formed body, so
    without them the answers of a transfer done, a call back scheduled, a
    recap sent or a supervisor listening in would go unchecked."""
    today = date.today()
    days = {
        "from": str(today - timedelta(days=1)),
        "to": str(today + timedelta(days=1)),
    }
    due = int(time.time() * 1000) + 3_600_000
    call = {"call_sid": talking}
    return [
        ("GET", "/api/agents/{agent_id}", {"path": {"agent_id": own}}),
        ("POST", "/api/calls/{call_sid}/hold", {"path": call, "body": {"on": True}}),
        ("POST", "/api/calls/{call_sid}/hold", {"path": call, "body": {"on": "yes"}}),
        ("POST", "/api/calls/{call_sid}/mute", {"path": call, "body": {"on": False}}),
        (
            "POST",
            "/api/calls/{call_sid}/recap/preview",
            {"path": call, "body": {"summary": "Pilote réinstallé"}},
        ),
        (
            "POST",
            "/api/calls/{call_sid}/recap",
            {"path": call, "body": {"summary": "Pilote réinstallé", "sms": True}},
        ),
        (
            "POST",
            "/api/calls/{call_sid}/callback",
            {"path": call, "body": {"queue": "network_l2", "at": due}},
        ),
        (
            "POST",
            "/api/calls/{call_sid}/listen",
            {"path": call, "body": {"mode": "whisper"}},
        ),
        ("POST", "/api/calls/{call_sid}/listen/end", {"path": call}),
        (
            "POST",
            "/api/calls/{call_sid}/queue",
            {
                "path": {"call_sid": waiting},
                "body": {"queue": "printer", "priority": 5},
            },
        ),
        (
            "POST",
            "/api/calls/{call_sid}/transfer",
            {"path": call, "body": {"queue": "printer", "agent": "omar"}},
        ),
        (
            "POST",
            "/api/calls/{call_sid}/transfer",
            {"path": call, "body": {"agent": "omar"}},
        ),
        (
            "POST",
            "/api/calls/{call_sid}/transfer",
            {"path": call, "body": {"queue": "printer", "steps": ["Redémarré"]}},
        ),
        (
            "POST",
            "/api/calls/{call_sid}/transfer/{step}",
            {"path": {**call, "step": "complete"}},
        ),
        ("GET", "/api/calls/{call_sid}/timeline", {"path": call}),
        ("GET", "/api/reports", {"query": {**days, "by": "agent"}}),
        ("GET", "/api/calls", {"query": days}),
        ("GET", "/api/calls.csv", {"query": days}),
        (
            "PUT",
            "/api/agents/{agent_id}/skills",
            {"path": {"agent_id": "omar"}, "body": {"skills": {"printer": 3}}},
        ),
        ("DELETE", "/api/agents/{agent_id}/skills", {"path": {"agent_id": "omar"}}),
        (
            "POST",
            "/api/queues/{queue_id}/override",
            {
                "path": {"queue_id": "email"},
                "body": {"state": "closed", "reason": "Panne"},
            },
        ),
        ("GET", "/api/queues", {}),
        (
            "POST",
            "/api/incident",
            {"body": {"messages": {"fr-FR": "Panne", "en-US": "Outage"}}},
        ),
        ("GET", "/api/incident", {}),
        ("DELETE", "/api/incident", {}),
        ("GET", "/api/audit", {"query": {"limit": 5}}),
        (
            "POST",
            "/api/agents/{agent_id}/state",
            {"path": {"agent_id": own}, "body": {"state": "break", "reason": "lunch"}},
        ),
    ]


def _play(
    schema: Any,
    headers: dict[str, str],
    steps: list[tuple[str, str, dict[str, Any]]],
    expect: Callable[[Any, Any], None],
) -> list[str]:
    """Send each request of `steps`; the failures, as `_fuzz` says them."""
    failures = []
    for method, path, parts in steps:
        case = schema[path][method].Case(
            path_parameters=parts.get("path"),
            query=parts.get("query"),
            headers=dict(headers),
            body=parts.get("body", NOT_SET),
            media_type="application/json" if "body" in parts else None,
        )
        try:
            response = case.call()
            case.validate_response(response, checks=CHECKS)
            expect(case, response)
        except Exception as exc:  # noqa: BLE001 - every failure is reported
            failures.append(f"{method} {path} {parts}: {exc}")
    return failures


@pytest.mark.parametrize("role", list(PLANS))
def test_schemathesis_finds_no_5xx_and_no_undocumented_answer(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    role: str,
) -> None:
    accounts = app.extensions["hotline"].accounts
    loader = provision(accounts, "sup-doc", "supervisor")
    schema = schemathesis.openapi.from_wsgi(
        "/api/openapi.json", app, headers=bearer(loader)
    )
    headers: dict[str, str] = {}
    if role != "anonymous":
        headers = bearer(provision(accounts, ACCOUNTS[role], role))
    talking, waiting = _live_calls(app, signed_post, telephony, role)
    own = "nina" if role == "hotliner" else "dan"
    known = [
        {"agent_id": own, "call_sid": talking, "queue_id": "email"},
        {"agent_id": "nina", "call_sid": waiting},
    ]

    def expect(case: Any, response: Any) -> None:
        """Beyond the document: who gets what, whatever the request."""
        if role == "anonymous":
            assert response.status_code == 401, case.operation.label
        elif role == "hotliner" and "steering" in case.operation.tags:
            assert response.status_code == 403, case.operation.label

    # The scenario first, while the caller still talks with Nina.
    failures = _play(schema, headers, _scenario(talking, waiting, own), expect)
    failures += _fuzz(schema, headers, PLANS[role], known, expect)
    assert not failures, "\n\n".join(failures)
