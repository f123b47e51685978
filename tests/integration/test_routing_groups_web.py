"""The hotline's webhooks and API with live state split by routing group.

Two teams that share no hotliner (`support.two_teams_config`'s queues), the
app started with `HOTLINE_ROUTING_GROUPS=auto`: a caller goes through the
menu to the email queue (the network team's group) and talks with one of
them, over the real webhooks. What would pass them to the desk's group (a
cold or warm transfer to the printer queue, a supervisor's move of a waiting
caller) is refused with words that say why, and changes nothing; within the
group, a supervisor's move goes through.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from support import (
    TWO_TEAMS_QUEUES,
    RecordingTelephony,
    SignedPost,
    call_form,
    console_session,
    two_teams_hotliners,
)
from test_metrics import scrape
from test_transfer import answer_and_talk, post, runtime, set_state

from agents.lifecycle import AgentState
from calllog.writer import drain_partition
from core.keys import Keys
from queues.grouped_store import OTHER_GROUP, OTHER_GROUP_TEXT, GroupedStore
from web import wallboard

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
SID = "CAgroups1"


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(
        two_teams_hotliners(per_team=1),
        accounts=("n1",),
        settings={"routing_groups": "auto"},
        queues_yaml=TWO_TEAMS_QUEUES,
    )


def test_a_caller_is_served_in_their_queues_group_and_kept_there(
    app: Flask,
    signed_post: SignedPost,
    telephony: RecordingTelephony,
    api: FlaskClient,
) -> None:
    rt = runtime(app)
    assert isinstance(rt.store, GroupedStore)
    assert rt.store.group_names == ("account", "general")
    set_state(app, "n1", AgentState.AVAILABLE)
    signed_post("/voice/incoming", call_form(SID))
    signed_post(EMAIL, call_form(SID, Digits="4"))
    answer_and_talk(signed_post, telephony, 0, SID)
    call = rt.store.call(SID)
    assert (call["state"], call["queue"], call["agent"]) == ("talking", "email", "n1")
    assert rt.redis.exists(Keys().group("account").call(SID)) == 1
    assert rt.redis.exists(Keys().call(SID)) == 0

    n1, headers = console_session(app, "n1")
    cold = post(
        n1,
        f"/api/calls/{SID}/transfer",
        json={"queue": "printer", "notes": "imprimante"},
        headers=headers,
    )
    assert cold.status_code == 409
    assert OTHER_GROUP_TEXT in cold.get_json()["error"]
    warm = post(
        n1,
        f"/api/calls/{SID}/transfer",
        json={"queue": "printer", "mode": "warm", "notes": "imprimante"},
        headers=headers,
    )
    assert warm.status_code == 409, warm.get_json()
    assert OTHER_GROUP_TEXT in warm.get_json()["error"]
    call = rt.store.call(SID)
    assert (call["state"], call["queue"], call["agent"]) == ("talking", "email", "n1")
    assert "consult" not in call
    # A level-2 call back: in a queue of the call's group, not another's.
    later = int(time.time() * 1000) + 3_600_000
    elsewhere = post(
        n1,
        f"/api/calls/{SID}/callback",
        json={"queue": "printer", "at": later},
        headers=headers,
    )
    assert elsewhere.status_code == 400
    assert OTHER_GROUP_TEXT in elsewhere.get_json()["error"]
    within = post(
        n1,
        f"/api/calls/{SID}/callback",
        json={"queue": "network_l2", "at": later},
        headers=headers,
    )
    assert within.status_code == 201, within.get_json()
    callback = within.get_json()["callback_sid"]
    assert rt.store.call(callback)["state"] == "scheduled"
    assert rt.redis.exists(Keys().group("account").call(callback)) == 1

    # A waiting caller: moved within their group, not out of it.
    signed_post("/voice/incoming", call_form("CAgroups2"))
    signed_post(EMAIL, call_form("CAgroups2", Digits="4"))
    assert rt.store.call("CAgroups2")["state"] == "queued"
    out = post(api, "/api/calls/CAgroups2/queue", json={"queue": "printer"})
    assert out.status_code == 409, out.get_json()
    assert out.get_json()["why"] == OTHER_GROUP
    assert rt.store.position("email", "CAgroups2") == 1
    within = post(api, "/api/calls/CAgroups2/queue", json={"queue": "network"})
    assert within.status_code == 200, within.get_json()
    assert rt.store.position("network", "CAgroups2") == 1


def test_the_wallboard_follows_every_groups_stream(
    app: Flask, signed_post: SignedPost
) -> None:
    """Its reader takes each group's stream in turn (they live on different
    masters): a caller queued in either group reaches the board."""
    svc = app.extensions["hotline"]
    rt = svc.runtime
    for state in (AgentState.AVAILABLE, AgentState.BREAK):  # staffed, not offered
        set_state(app, "n1", state)
    shown: list[dict[str, int]] = []
    first, both = threading.Event(), threading.Event()

    def view() -> None:
        body = wallboard.follow(svc, "fr-FR")
        try:
            for chunk in body:
                if not chunk.startswith(b"data: "):
                    continue
                board = json.loads(chunk[6:])
                waiting = {q["id"]: q["waiting"] for q in board["queues"]}
                shown.append(waiting)
                first.set()
                if waiting["printer"] == 1 and waiting["email"] == 1:
                    both.set()
                    break
        finally:
            body.close()

    viewer = threading.Thread(target=view, daemon=True)
    viewer.start()
    assert first.wait(10.0)
    assert shown[0]["printer"] == shown[0]["email"] == 0
    assert rt.store.start_call("CAwb1", "+33612121299", "+33180000000", "fr-FR")
    assert rt.store.enqueue("CAwb1", "printer", 2) == 1  # the desk's group
    signed_post("/voice/incoming", call_form("CAwb2"))
    signed_post(EMAIL, call_form("CAwb2", Digits="4"))  # the network team's
    assert rt.store.call("CAwb2")["state"] == "queued"
    assert both.wait(10.0), shown
    assert rt.redis.exists(Keys().group("general").call("CAwb1")) == 1
    viewer.join(5.0)


def test_metrics_count_every_groups_stream(
    app: Flask, api: FlaskClient, signed_post: SignedPost
) -> None:
    """`/metrics` sums the groups' streams; the writer's lag is every
    group's events not yet in the call log, none once each is drained."""
    rt = runtime(app)
    for state in (AgentState.AVAILABLE, AgentState.BREAK):
        set_state(app, "n1", state)
    assert rt.store.start_call("CAm1", "+33612121298", "+33180000000", "fr-FR")
    assert rt.store.enqueue("CAm1", "printer", 2) == 1  # the desk's group
    signed_post("/voice/incoming", call_form("CAm2"))
    signed_post(EMAIL, call_form("CAm2", Digits="4"))  # the network team's
    samples = scrape(api)
    held = sum(rt.redis.xlen(k.events) for k in rt.store.group_keys)
    assert held > 0
    assert all(rt.redis.xlen(k.events) for k in rt.store.group_keys)
    assert samples[("hotline_event_stream_length", ())] == held
    assert samples[("hotline_calllog_writer_lag_events", ())] == held
    waiting = "hotline_callers_waiting"
    assert samples[(waiting, (("queue", "printer"),))] == 1
    assert samples[(waiting, (("queue", "email"),))] == 1
    engine = app.extensions["hotline"].engine
    drain_partition(rt.redis, engine, rt.keys, rt.store.group_names)
    assert scrape(api)[("hotline_calllog_writer_lag_events", ())] == 0
