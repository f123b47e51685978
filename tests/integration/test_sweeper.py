"""The sweeper repairs drift: lapsed offers, stuck hotliners, lost callers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from agents.lifecycle import AgentState
from calllog.db import upgrade
from core.embedded_redis import EmbeddedRedis
from core.settings import SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN, Settings
from queues import jobs
from queues.routing import QueueRule, memberships
from queues.runtime import Runtime, build_runtime
from simulator.carrier import Carrier, CarrierConfig


@pytest.fixture
def runtime(redis_client: redis.Redis, redis_url: str, database_url: str,
            tmp_path: Path) -> Iterator[Runtime]:
    upgrade(database_url)
    carrier = Carrier(CarrierConfig(
        account_sid=SIMULATOR_ACCOUNT_SID, auth_token=SIMULATOR_AUTH_TOKEN,
        voice_url="http://127.0.0.1:9/voice/incoming",
        status_callback_url="http://127.0.0.1:9/voice/status", time_scale=0.01))
    carrier.start(host="127.0.0.1", port=0)
    settings = Settings.from_env({
        "REDIS_URL": redis_url, "DATABASE_URL": database_url,
        "TWILIO_API_BASE_URL": carrier.api_base_url,
        "HOTLINE_INSTANCE": str(tmp_path / "instance"),
    })
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.engine.dispose()
        rt.redis.close()
        carrier.stop()


def login(rt: Runtime, agent_id: str) -> None:
    hotliner = rt.routing.hotliners[agent_id]  # type: ignore[index]
    ok, _ = rt.store.set_agent_state(agent_id, AgentState.AVAILABLE,
                                     memberships(hotliner, rt.routing))
    assert ok


def test_lapsed_offer_returns_the_caller_and_counts_a_miss(runtime: Runtime) -> None:
    rt = runtime
    login(rt, "amelie")
    rt.store.start_call("CAswp1", "+33611111111", "+33180000000", "fr-FR")
    rt.store.enqueue("CAswp1", "printer", 0)
    offer = rt.store.match([QueueRule("printer", 1, 0, 1)], ring_ms=1)
    assert offer is not None
    time.sleep(0.01)
    assert rt.store.expired_offers() == [offer.offer_id]
    rt.store.set_agent_state("amelie", AgentState.AVAILABLE, [])  # refused: reserved
    rt.redis.set(rt.keys.repair_lock, "1")  # this call is unknown to the carrier
    result = jobs.sweep_with(rt)
    assert result["expired"] == 1
    assert rt.store.agent("amelie")["missed"] == "1"
    # swept back and offered again at once (to the only hotliner there is)
    assert rt.store.call("CAswp1")["state"] == "offered"


def test_hotliner_stuck_on_an_ended_call_is_released(runtime: Runtime) -> None:
    rt = runtime
    login(rt, "bruno")
    rt.store.start_call("CAswp2", "+33622222222", "+33180000000", "fr-FR")
    rt.store.enqueue("CAswp2", "network", 0)
    offer = rt.store.match([QueueRule("network", 1, 0, 1)], ring_ms=60_000)
    assert offer is not None
    rt.store.accept(offer.offer_id)
    # The caller's final status callback was handled, but pretend the hotliner
    # missed the change (a lost update): busy on a call that is over.
    rt.store.hang_up("CAswp2", "completed")
    rt.redis.hset(rt.keys.agent("bruno"), mapping={"state": "busy"})
    assert jobs.release_stuck_agents(rt) == 1
    assert rt.store.agent("bruno")["state"] == "wrapup"


def test_waiting_caller_whose_call_twilio_no_longer_knows_is_hung_up(
        runtime: Runtime) -> None:
    rt = runtime
    rt.store.start_call("CAgone", "+33633333333", "+33180000000", "fr-FR")
    rt.store.enqueue("CAgone", "email", 0)
    assert jobs.repair_with_twilio(rt) >= 1
    assert rt.store.call("CAgone")["state"] == "abandoned"
    assert rt.store.waiting("email") == []


def test_embedded_server_keeps_waiting_callers_across_a_restart(
        tmp_path: Path) -> None:
    from queues.store import RoutingStore

    server = EmbeddedRedis(tmp_path / "redis", persistent=True)
    server.start()
    client = redis.Redis.from_url(server.url)
    store = RoutingStore(client)
    store.start_call("CAaof", "+33644444444", "+33180000000", "fr-FR")
    store.enqueue("CAaof", "printer", 3)
    client.close()
    server.stop()
    server.start()
    client = redis.Redis.from_url(server.url)
    try:
        store = RoutingStore(client)
        assert store.waiting("printer") == ["CAaof"]
        types = [f[b"type"] for _, f in client.xrange(store.keys.events)]
        assert types == [b"call_started", b"enqueued"]
    finally:
        client.close()
        server.stop()
