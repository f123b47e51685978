"""`GET /metrics`: Prometheus's text format, for supervisors' and admins' tokens.

A caller waits in the email queue while every hotliner is on a break: the
scrape says so (waiting, longest wait, hotliners per state), counts the
voice webhooks answered per route, and shows the call-log writer's lag fall
to 0 once the writer has run.
"""

from __future__ import annotations

import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from integration.test_transfer import runtime, set_state
from prometheus_client.parser import text_string_to_metric_families
from support import SignedPost, call_form, console_session, round_the_clock

from agents.lifecycle import AgentState
from calllog.writer import drain_events

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"
SID = "CAmetrics1"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(round_the_clock(("nina", "Nina")), accounts=("nina",))


def scrape(api: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = api.get("/metrics")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.mimetype == "text/plain"
    samples = {}
    for family in text_string_to_metric_families(answer.get_data(as_text=True)):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_say_who_waits_and_how_fast_webhooks_answer(
    app: Flask, api: FlaskClient, signed_post: SignedPost
) -> None:
    rt = runtime(app)
    set_state(app, "nina", AgentState.AVAILABLE)
    set_state(app, "nina", AgentState.BREAK)
    before = scrape(api)
    incoming = ("hotline_webhook_seconds_count", (("route", "/voice/incoming"),))
    signed_post("/voice/incoming", call_form(SID))
    signed_post(EMAIL, call_form(SID, Digits="4"))
    time.sleep(0.05)
    after = scrape(api)
    assert after[incoming] == before.get(incoming, 0) + 1
    menu = ("hotline_webhook_seconds_count", (("route", "/voice/menu"),))
    assert after[menu] >= 1
    assert after[("hotline_callers_waiting", (("queue", "email"),))] == 1
    assert after[("hotline_longest_wait_seconds", (("queue", "email"),))] >= 0.05
    assert after[("hotline_hotliners", (("state", "break"),))] == 1
    assert after[("hotline_hotliners", (("state", "available"),))] == 0
    assert after[("hotline_redis_up", ())] == 1
    assert after[("hotline_calllog_writer_lag_events", ())] > 0
    drain_events(rt.redis, app.extensions["hotline"].engine, rt.keys)
    assert scrape(api)[("hotline_calllog_writer_lag_events", ())] == 0

    # A hotliner is not the ops team; nobody anonymous.
    nina, _ = console_session(app, "nina")
    assert nina.get("/metrics").status_code == 403
    assert app.test_client().get("/metrics").status_code == 401
