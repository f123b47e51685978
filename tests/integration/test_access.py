"""Who may do what, over every route the app serves.

The table `ROUTES` names each route's guard; a new route nobody classified
fails `test_every_route_has_a_guard`, so no route ships unguarded by mistake.
"""

from __future__ import annotations

import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import PASSWORD, bearer_client, call_form, csrf_token, log_in, provision
from werkzeug.test import TestResponse

#: rule -> guard: "api" (401 anonymous), "steering" (supervisors only),
#: "twilio" (signed webhooks, 403 forged), "page" (login first), "console"
#: (the console page's JSON and feed: 401 anonymous, 403 not a hotliner),
#: "public".
ROUTES = {
    "/api/agents/<agent_id>": "api",
    "/api/agents/<agent_id>/state": "api",
    "/api/calls/<call_sid>/outcome": "api",
    "/api/calls/<call_sid>/hold": "api",
    "/api/calls/<call_sid>/mute": "api",
    "/api/calls/<call_sid>/hangup": "api",
    "/api/calls/<call_sid>/transfer": "api",
    "/api/calls/<call_sid>/transfer/<step>": "api",
    "/api/reports": "steering",
    "/api/calls": "steering",
    "/api/calls.csv": "steering",
    "/api/calls/<call_sid>/callback": "api",
    "/api/calls/<call_sid>/recap": "api",
    "/api/calls/<call_sid>/recap/preview": "api",
    "/api/offers/<offer_id>/decline": "api",
    "/api/agents/<agent_id>/wrapup/extend": "api",
    "/api/incident": "steering",
    "/api/queues": "steering",
    "/api/queues/<queue_id>/override": "steering",
    "/api/audit": "steering",
    "/api/calls/<call_sid>/timeline": "steering",
    "/api/calls/<call_sid>/listen": "steering",
    "/api/calls/<call_sid>/listen/end": "steering",
    "/api/calls/<call_sid>/queue": "steering",
    "/api/agents/<agent_id>/skills": "steering",
    "/api/rota/coverage": "steering",
    "/api/rota/exceptions": "steering",
    "/api/rota/shifts/<agent_id>": "steering",
    "/api/openapi.json": "api",  # the API's own description: any account
    "/metrics": "steering",  # scrapers send a supervisor's or admin's token
    "/status": "public",  # the first release's page: a redirect to the wallboard
    "/supervisor": "page",
    "/supervisor/calls": "page",
    "/supervisor/rota": "page",
    "/supervisor/calls/<call_sid>": "page",
    "/supervisor/board": "console",  # the wallboard's own JSON and feed
    "/supervisor/events": "console",
    "/console": "page",
    "/console/events": "console",  # the page's own feed and reads: 401 JSON
    "/console/token": "console",
    "/console/calls/<call_sid>": "console",
    "/console/kb": "console",
    "/console/day": "console",
    "/": "public",  # a redirect: to the login form, then to each role's home
    "/healthz": "public",  # for load balancers: says what is down, nothing else
    "/login": "public",
    "/logout": "public",
    "/static/<path:filename>": "public",
}
VOICE_PREFIX = "/voice/"
EXAMPLES = {
    "<agent_id>": "nina",
    "<call_sid>": "CA" + "0" * 32,
    "<offer_id>": "0" * 32,
    "<queue_id>": "email",
}


def _routes(app: Flask) -> list[tuple[str, str, str]]:
    """(rule, method, concrete path) for every route and method."""
    found = []
    for rule in app.url_map.iter_rules():
        path = rule.rule
        for placeholder, value in EXAMPLES.items():
            path = path.replace(placeholder, value)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, path))
    return found


def test_every_route_has_a_guard(app: Flask) -> None:
    unguarded = {
        rule
        for rule, _, _ in _routes(app)
        if rule not in ROUTES and not rule.startswith(VOICE_PREFIX)
    }
    assert unguarded == set(), "classify these routes in ROUTES"
    voice = {rule for rule, _, _ in _routes(app) if rule.startswith(VOICE_PREFIX)}
    assert len(voice) >= 15, voice  # the IVR, the queue, the legs, callbacks


def test_anonymous_api_requests_get_401_with_a_json_reason(client: FlaskClient) -> None:
    app = client.application
    tried = []
    for rule, method, path in _routes(app):
        if ROUTES.get(rule) not in ("api", "steering", "console"):
            continue
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, (method, path)
        assert "error" in response.get_json(), (method, path)
        tried.append((method, path))
    assert len(tried) == 43, tried


def test_unsigned_webhooks_get_403_on_every_voice_route(client: FlaskClient) -> None:
    voice = [
        path
        for rule, _, path in _routes(client.application)
        if rule.startswith("/voice/")
    ]
    for path in voice:
        response = client.post(path, data=call_form("CAforged"))
        assert response.status_code == 403, path


def test_anonymous_pages_lead_to_the_login_form(client: FlaskClient) -> None:
    response = client.get("/supervisor")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert client.get("/login").status_code == 200


def test_a_hotliner_acts_only_for_themself(app: Flask) -> None:
    token = provision(app.extensions["hotline"].accounts, "nina", "hotliner")
    nina = bearer_client(app, token)
    assert nina.get("/api/agents/nina").status_code == 200
    assert nina.get("/api/agents/dan").status_code == 403
    refused = nina.post("/api/agents/dan/state", json={"state": "break"})
    assert refused.status_code == 403
    assert "own" in refused.get_json()["error"]
    other = nina.post(
        "/api/calls/CA1234/outcome",
        json={"agent_id": "dan", "outcome": "resolved", "notes": "pas moi"},
    )
    assert other.status_code == 403
    # Her own state, yes: she is on a break in these tests and goes offline.
    assert nina.post("/api/agents/nina/state", json={"state": "offline"}).json == {
        "id": "nina",
        "state": "offline",
    }


def test_a_hotliner_may_not_touch_the_incident_message(app: Flask) -> None:
    token = provision(app.extensions["hotline"].accounts, "nina", "hotliner")
    nina = bearer_client(app, token)
    messages = {"fr-FR": "Panne", "en-US": "Outage"}
    assert nina.get("/api/incident").status_code == 403
    assert nina.post("/api/incident", json={"messages": messages}).status_code == 403
    assert nina.delete("/api/incident").status_code == 403


def test_a_hotliner_gets_403_on_every_steering_route(app: Flask) -> None:
    token = provision(app.extensions["hotline"].accounts, "nina", "hotliner")
    nina = bearer_client(app, token)
    tried = []
    for rule, method, path in _routes(app):
        if ROUTES.get(rule) != "steering":
            continue
        response = nina.open(path, method=method, json={})
        assert response.status_code == 403, (method, path)
        assert "error" in response.get_json(), (method, path)
        tried.append((method, path))
    assert len(tried) == 22, tried


def test_supervisors_act_for_everyone(api: FlaskClient) -> None:
    assert api.get("/api/agents/dan").status_code == 200
    assert (
        api.post("/api/agents/nina/state", json={"state": "offline"}).status_code == 200
    )
    messages = {"fr-FR": "Panne", "en-US": "Outage"}
    assert api.post("/api/incident", json={"messages": messages}).status_code == 201
    assert api.delete("/api/incident").status_code == 200


def test_a_wrong_or_revoked_token_opens_nothing(app: Flask) -> None:
    store = app.extensions["hotline"].accounts
    token = provision(store, "nina", "hotliner")
    assert (
        bearer_client(app, "hl_" + "0" * 40).get("/api/agents/nina").status_code == 401
    )
    newer = store.issue_token("nina")
    assert bearer_client(app, newer).get("/api/agents/nina").status_code == 200
    # The cache of last known accounts must not keep the old token alive.
    assert bearer_client(app, token).get("/api/agents/nina").status_code == 401


def test_a_session_json_write_needs_the_csrf_token(
    supervisor_session: FlaskClient,
) -> None:
    client = supervisor_session
    missing = client.post("/api/agents/nina/state", json={"state": "offline"})
    assert missing.status_code == 400
    assert "CSRF" in missing.get_json()["error"]
    # Reads need none; a write with the page's token goes through.
    assert client.get("/api/agents/nina").status_code == 200
    page = client.get("/supervisor").get_data(as_text=True)
    token = re.findall(r'name="csrf-token" content="([^"]+)"', page)[0]
    done = client.post(
        "/api/agents/nina/state",
        json={"state": "offline"},
        headers={"X-CSRFToken": token},
    )
    assert done.status_code == 200, done.get_json()


def test_a_login_form_post_without_csrf_is_refused(client: FlaskClient) -> None:
    provision(
        client.application.extensions["hotline"].accounts, "sup-csrf", "supervisor"
    )
    response = client.post(
        "/login", data={"username": "sup-csrf", "password": PASSWORD}
    )
    assert response.status_code == 400


def _try_login(client: FlaskClient, username: str, password: str) -> int:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    return response.status_code


def test_the_sixth_login_try_on_an_account_in_a_minute_gets_429(app: Flask) -> None:
    provision(app.extensions["hotline"].accounts, "sup-guess", "supervisor")
    client = app.test_client()
    tries = [_try_login(client, "sup-guess", "wrong-password") for _ in range(5)]
    assert tries == [401] * 5
    # Even the right password now waits: the guesser cannot tell it was right.
    assert _try_login(client, "sup-guess", PASSWORD) == 429


def test_the_sixth_login_try_from_one_address_in_a_minute_gets_429(app: Flask) -> None:
    client = app.test_client()
    tries = [_try_login(client, f"nobody{i}", "wrong-password") for i in range(5)]
    assert tries == [401] * 5
    assert _try_login(client, "nobody6", "wrong-password") == 429


def test_a_wrong_login_says_so_without_telling_which_part(client: FlaskClient) -> None:
    provision(client.application.extensions["hotline"].accounts, "sup-x", "supervisor")
    token = csrf_token(client.get("/login").get_data(as_text=True))
    wrong = client.post(
        "/login",
        data={"username": "sup-x", "password": "nope-nope", "csrf_token": token},
    )
    unknown = client.post(
        "/login",
        data={"username": "nobody", "password": "nope-nope", "csrf_token": token},
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "Identifiant ou mot de passe incorrect" in wrong.get_data(as_text=True)

    # The same page but for the login typed, kept in its field (and the CSRF
    # tokens, which carry the second they were signed in).
    def page(response: TestResponse, login: str) -> str:
        html = response.get_data(as_text=True).replace(f'value="{login}"', "")
        return re.sub(r'(csrf[-_]token"? (?:content|value)=")[^"]+', r"\1", html)

    assert page(wrong, "sup-x") == page(unknown, "nobody")
    xss = client.post(
        "/login",
        data={"username": "<script>x</script>", "password": "p", "csrf_token": token},
    )
    assert "<script>x" not in xss.get_data(as_text=True)
    assert "&lt;script&gt;x" in xss.get_data(as_text=True)


def test_login_never_redirects_off_site(client: FlaskClient) -> None:
    provision(
        client.application.extensions["hotline"].accounts, "sup-next", "supervisor"
    )
    token = csrf_token(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/steal",
        data={"username": "sup-next", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/supervisor"


def test_a_disabled_account_is_logged_out_of_its_session(app: Flask) -> None:
    store = app.extensions["hotline"].accounts
    provision(store, "sup-gone", "supervisor")
    client = app.test_client()
    log_in(client, "sup-gone")
    assert client.get("/supervisor").status_code == 200
    store.set_active("sup-gone", False)  # at once: SQL is asked first
    assert client.get("/supervisor").status_code == 302


def test_a_hotliner_sees_no_supervisor_page(app: Flask) -> None:
    provision(app.extensions["hotline"].accounts, "nina", "hotliner")
    client = app.test_client()
    log_in(client, "nina")
    pages = [rule for rule, guard in ROUTES.items() if guard == "page"]
    for rule in pages:
        if rule == "/console":
            continue
        path = rule.replace("<call_sid>", EXAMPLES["<call_sid>"])
        assert client.get(path).status_code == 403, path
    anonymous = client.application.test_client()
    for rule in pages:
        path = rule.replace("<call_sid>", EXAMPLES["<call_sid>"])
        answer = anonymous.get(path)
        assert answer.status_code == 302, path
        assert answer.headers["Location"].startswith("/login"), path


def test_pages_and_api_answers_carry_the_security_headers(client: FlaskClient) -> None:
    for response in (client.get("/login"), client.get("/api/incident")):
        csp = response.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]+)", csp)
        assert script_src is not None
        assert "unsafe-inline" not in script_src.group(1)
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
    cookie = client.application.test_client().get("/login").headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "application/json", "malformed JSON"),
        ("{'state': 'break'}", "application/json", "malformed JSON"),
        ('["break"]', "application/json", "expected a JSON object"),
        ("state=break", "application/x-www-form-urlencoded", "Content-Type"),
        ('{"state": ["break"]}', "application/json", "state must be one of"),
    ],
)
def test_bad_json_gets_400_with_a_reason(
    api: FlaskClient, body: str, content_type: str, reason: str
) -> None:
    response = api.post(
        "/api/agents/nina/state", data=body, headers={"Content-Type": content_type}
    )
    if len(body) > 64 * 1024:
        assert response.status_code == 413
        assert "error" in response.get_json()
        return
    assert response.status_code == 400
    assert reason in response.get_json()["error"]


def test_deep_json_under_the_size_limit_gets_400(api: FlaskClient) -> None:
    body = "[" * 30_000 + "]" * 30_000  # 60 KB: under the limit, deeper than Python
    response = api.post(
        "/api/incident", data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "malformed JSON" in response.get_json()["error"]


@pytest.mark.parametrize(
    "messages",
    [
        {"fr-FR": 1, "en-US": "Outage"},
        {"fr-FR": ["Panne"], "en-US": "Outage"},
        {"fr-FR": None, "en-US": "Outage"},
        {"fr-FR": "   ", "en-US": "Outage"},
        {"fr-FR": "Panne"},
        {"fr-FR": "Panne", "en-US": "Outage", "de-DE": "Störung"},
        "Panne",
        None,
    ],
)
def test_incident_messages_of_the_wrong_shape_get_400(
    api: FlaskClient, messages: object
) -> None:
    response = api.post(
        "/api/incident",
        data=json.dumps({"messages": messages}),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "messages must map each of fr-FR, en-US" in response.get_json()["error"]
    assert api.get("/api/incident").get_json() == {"incident": None}


def test_a_body_over_the_limit_gets_413_and_changes_nothing(api: FlaskClient) -> None:
    text = "x" * (70 * 1024)
    response = api.post(
        "/api/incident", json={"messages": {"fr-FR": text, "en-US": text}}
    )
    assert response.status_code == 413
    assert "error" in response.get_json()
    assert api.get("/api/incident").get_json() == {"incident": None}


def test_successful_logins_from_one_office_address_are_not_throttled(
    app: Flask,
) -> None:
    store = app.extensions["hotline"].accounts
    for i in range(7):
        provision(store, f"team{i}", "hotliner")
    codes = [_try_login(app.test_client(), f"team{i}", PASSWORD) for i in range(7)]
    assert codes == [302] * 7
