"""Redis killed or stalled under the webhooks: callers held, nothing lost.

The app runs on a Valkey server of the test's own (append-only file, as
`hotline run` starts it), which the test kills (SIGKILL) or freezes
(SIGSTOP), then brings back. Flask's test client plays Twilio.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import (
    ROUND_THE_CLOCK,
    RecordingTelephony,
    bearer_client,
    call_form,
    make_settings,
    provision,
    sign,
    spoken,
    twiml,
    verbs,
)
from werkzeug.test import TestResponse

from agents.lifecycle import AgentState
from core.embedded_redis import EmbeddedRedis
from core.settings import DEFAULT_CONFIG_DIR
from queues.routing import memberships
from queues.runtime import Runtime
from web import create_app

EMAIL = "/voice/menu?node=accueil&attempt=1&lang=fr-FR"  # key 4: the email queue
WAIT = "/voice/wait?queue=email&lang=fr-FR"


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path / "valkey", persistent=True)
    server.start()
    try:
        yield server
    finally:
        if server.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def outage_app(
    valkey: EmbeddedRedis,
    migrated_database: str,
    tmp_path: Path,
    telephony: RecordingTelephony,
) -> Iterator[Flask]:
    config_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    (config_dir / "hotliners.yaml").write_text(ROUND_THE_CLOCK, encoding="utf-8")
    app = create_app(
        {
            "SETTINGS": make_settings(
                valkey.url, migrated_database, tmp_path, config_dir
            ),
            "TELEPHONY": telephony,
        }
    )
    rt = runtime(app)
    nina = memberships(rt.routing.hotliners["nina"], rt.routing)  # type: ignore[index]
    for state in (AgentState.AVAILABLE, AgentState.BREAK):  # staffed, not offered
        rt.store.agents.set_state("nina", state, nina)
    yield app
    app.extensions["hotline"].stop.set()
    app.extensions["hotline"].engine.dispose()
    rt.redis.close()


def runtime(app: Flask) -> Runtime:
    return app.extensions["hotline"].runtime  # type: ignore[no-any-return]


def timed_post(
    client: FlaskClient, path: str, form: dict[str, str], limit: float = 1.0
) -> TestResponse:
    """A signed webhook that must be answered within `limit` seconds."""
    started = time.monotonic()
    response = client.post(
        path, data=form, headers={"X-Twilio-Signature": sign(path, form)}
    )
    response.get_data()
    response.close()
    took = time.monotonic() - started
    assert took < limit, f"{path} took {took:.2f} s"
    assert response.status_code == 200, response.data
    return response


def wait_until(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kill(server: EmbeddedRedis) -> None:
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    wait_until(lambda: server.poll() is not None, 5.0, "Valkey to die")


def supervisor(app: Flask) -> FlaskClient:
    """A client acting as a supervisor by API token (accounts live in SQL)."""
    token = provision(app.extensions["hotline"].accounts, "sup-outage", "supervisor")
    return bearer_client(app, token)


def test_callers_are_held_and_every_change_replayed_when_redis_comes_back(
    outage_app: Flask, valkey: EmbeddedRedis, telephony: RecordingTelephony
) -> None:
    client = supervisor(outage_app)
    rt = runtime(outage_app)
    live = outage_app.extensions["hotline"].live
    timed_post(client, "/voice/incoming", call_form("CAoutA"))
    timed_post(client, EMAIL, call_form("CAoutA", Digits="4"))
    timed_post(client, "/voice/incoming", call_form("CAoutC"))
    assert rt.store.call("CAoutA")["state"] == "queued"

    kill(valkey)
    # A waiting caller's hold loop: music, never an apology or a hang-up.
    root = twiml(timed_post(client, WAIT, call_form("CAoutA")).data)
    assert "Hangup" not in verbs(root)
    assert "patienter" in spoken(root)
    # A new caller: the menu from memory, then held in Twilio's queue.
    root = twiml(timed_post(client, "/voice/incoming", call_form("CAoutB")).data)
    assert verbs(root) == ["Gather"]
    queued_b = time.time()
    root = twiml(timed_post(client, EMAIL, call_form("CAoutB", Digits="4")).data)
    assert verbs(root)[-1] == "Enqueue"
    # A caller who hangs up in the menu during the outage.
    timed_post(client, "/voice/status", call_form("CAoutC", CallStatus="completed"))
    assert live.down
    assert live.spool.count() >= 4
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json is not None
    assert health.json["redis"].startswith("down")
    assert health.json["journaled"] >= 4
    assert client.get("/api/agents/nina").status_code == 503

    valkey.restart()
    wait_until(lambda: not live.down, 10.0, "the journal to be replayed")
    a, b, c = (rt.store.call(sid) for sid in ("CAoutA", "CAoutB", "CAoutC"))
    assert a["state"] == b["state"] == "queued"
    assert rt.store.waiting("email") == ["CAoutA", "CAoutB"]  # in their order
    assert abs(int(b["first_queued"]) / 1000 - queued_b) < 1.0  # their own time
    assert c["state"] == "abandoned"
    assert client.get("/healthz").status_code == 200

    # The router takes them back: nina back from her break gets A first.
    response = client.post("/api/agents/nina/state", json={"state": "available"})
    response.close()
    assert response.status_code == 200
    assert "call=CAoutA" in telephony.placed[0]["url"]


def test_a_hotliner_answering_during_the_outage_is_not_counted_as_missing(
    outage_app: Flask, valkey: EmbeddedRedis, telephony: RecordingTelephony
) -> None:
    client = supervisor(outage_app)
    rt = runtime(outage_app)
    timed_post(client, "/voice/incoming", call_form("CAoutD"))
    timed_post(client, EMAIL, call_form("CAoutD", Digits="4"))
    response = client.post("/api/agents/nina/state", json={"state": "available"})
    response.close()
    leg = telephony.placed[0]
    kill(valkey)
    path = leg["url"].removeprefix("https://hotline.test")
    root = twiml(timed_post(client, path, call_form(leg["sid"])).data)
    assert verbs(root) == ["Say", "Hangup"]  # told, and the leg ends
    status_path = leg["status_callback"].removeprefix("https://hotline.test")
    timed_post(client, status_path, call_form(leg["sid"], CallStatus="completed"))
    # The hotliner posts the outcome of an earlier call: journaled, not lost.
    response = client.post(
        "/api/calls/CAoutD/outcome", json={"agent_id": "nina", "outcome": "resolved"}
    )
    response.close()
    assert response.status_code == 202
    valkey.restart()
    live = outage_app.extensions["hotline"].live
    wait_until(lambda: not live.down, 10.0, "the journal to be replayed")
    assert rt.store.agents.get("nina")["missed"] == "0"
    # back in place, and offered again at once to the hotliner, now free
    assert rt.store.call("CAoutD")["state"] == "offered"
    assert len(telephony.placed) == 2


def test_a_stalled_redis_costs_a_webhook_at_most_its_timeout(
    outage_app: Flask, valkey: EmbeddedRedis
) -> None:
    client = outage_app.test_client()
    rt = runtime(outage_app)
    assert valkey.pid is not None
    os.kill(valkey.pid, signal.SIGSTOP)
    try:
        root = twiml(timed_post(client, "/voice/incoming", call_form("CAstall")).data)
        assert verbs(root) == ["Gather"]
        started = time.monotonic()
        timed_post(client, EMAIL, call_form("CAstall", Digits="4"))
        assert time.monotonic() - started < 0.2  # known down: Redis not tried
        time.sleep(3.0)
    finally:
        os.kill(valkey.pid, signal.SIGCONT)
    live = outage_app.extensions["hotline"].live
    wait_until(lambda: not live.down, 10.0, "the journal to be replayed")
    assert rt.store.call("CAstall")["state"] == "queued"


def test_a_timer_claimed_while_redis_is_frozen_is_not_lost(
    outage_app: Flask, valkey: EmbeddedRedis
) -> None:
    """The claim is sent, the client gives up (read timeout), and Redis
    carries it out once it thaws: the timer must come due again, not vanish
    (a caller would wait for a bridge that never comes)."""
    import redis

    rt = runtime(outage_app)
    assert rt.store.claim_timer("bridge:CAnone") is None  # the script is loaded
    rt.store.set_timer("bridge:CAfrozen", 1)
    assert valkey.pid is not None
    os.kill(valkey.pid, signal.SIGSTOP)
    try:
        with pytest.raises(redis.TimeoutError):
            rt.store.claim_timer("bridge:CAfrozen", lease_ms=3000)
    finally:
        os.kill(valkey.pid, signal.SIGCONT)
    # The claim was carried out after all: leased, not due for now...
    wait_until(
        lambda: rt.redis.zscore(rt.keys.timers, "bridge:CAfrozen") not in (None, 1),
        5.0,
        "the frozen claim to be carried out",
    )
    assert "bridge:CAfrozen" not in rt.store.due_timers()
    # ...and due again once the lease is over, to whoever claims it then.
    wait_until(
        lambda: "bridge:CAfrozen" in rt.store.due_timers(), 5.0, "the lease to end"
    )
    lease = rt.store.claim_timer("bridge:CAfrozen")
    assert lease is not None
    assert rt.store.claim_timer("bridge:CAfrozen") is None  # one claimer
    rt.store.release_timer("bridge:CAfrozen", lease)
    assert rt.redis.zscore(rt.keys.timers, "bridge:CAfrozen") is None


def test_a_timer_set_again_by_its_action_outlives_the_release(
    outage_app: Flask,
) -> None:
    rt = runtime(outage_app)
    rt.store.set_timer("bridge:CAagain", 1)
    lease = rt.store.claim_timer("bridge:CAagain")
    assert lease is not None
    rt.store.set_timer("bridge:CAagain", 10**13)  # its action set it again
    rt.store.release_timer("bridge:CAagain", lease)
    assert rt.redis.zscore(rt.keys.timers, "bridge:CAagain") == 10**13
