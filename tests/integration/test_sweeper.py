"""The sweeper repairs drift: lapsed offers, stuck hotliners, lost callers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis
from support import ROUND_THE_CLOCK

from agents.lifecycle import AgentState
from calllog.db import upgrade
from core.embedded_redis import EmbeddedRedis
from core.settings import (
    DEFAULT_CONFIG_DIR,
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
    Settings,
)
from queues import jobs
from queues.routing import QueueRule, memberships
from queues.runtime import Runtime, build_runtime
from simulator.carrier import Carrier, CarrierConfig


@pytest.fixture
def runtime(
    redis_client: redis.Redis, redis_url: str, database_url: str, tmp_path: Path
) -> Iterator[Runtime]:
    upgrade(database_url)
    carrier = Carrier(
        CarrierConfig(
            account_sid=SIMULATOR_ACCOUNT_SID,
            auth_token=SIMULATOR_AUTH_TOKEN,
            voice_url="http://127.0.0.1:9/voice/incoming",
            status_callback_url="http://127.0.0.1:9/voice/status",
            time_scale=0.01,
        )
    )
    carrier.start(host="127.0.0.1", port=0)
    config_dir = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
    (config_dir / "hotliners.yaml").write_text(
        ROUND_THE_CLOCK + DAY_SHIFT, encoding="utf-8"
    )
    settings = Settings.from_env(
        {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database_url,
            "TWILIO_API_BASE_URL": carrier.api_base_url,
            "HOTLINE_INSTANCE": str(tmp_path / "instance"),
            "HOTLINE_CONFIG": str(config_dir),
        }
    )
    rt = build_runtime(settings)
    try:
        yield rt
    finally:
        rt.redis.close()
        carrier.stop()


#: Appended to the round-the-clock hotliner: one who works weekdays 8-16.
DAY_SHIFT = """  - id: dan
    name: "Dan Day"
    endpoint: "client:dan"
    skills: {printer: 2, network: 2}
    shifts: ["mon-fri 08:00-16:00"]
"""


def login(rt: Runtime, agent_id: str) -> None:
    hotliner = rt.routing.hotliners[agent_id]  # type: ignore[index]
    ok, _ = rt.store.agents.set_state(
        agent_id, AgentState.AVAILABLE, memberships(hotliner, rt.routing)
    )
    assert ok


def test_lapsed_offer_returns_the_caller_and_counts_a_miss(runtime: Runtime) -> None:
    rt = runtime
    login(rt, "nina")
    rt.store.start_call("CAswp1", "+33611111111", "+33180000000", "fr-FR")
    rt.store.enqueue("CAswp1", "printer", 0)
    offer = rt.store.match([QueueRule("printer", 1, 0, 1)], ring_ms=1)
    assert offer is not None
    time.sleep(0.01)
    assert rt.store.expired_offers() == [offer.offer_id]
    rt.store.agents.set_state("nina", AgentState.AVAILABLE, [])  # refused: reserved
    rt.redis.set(rt.keys.repair_lock, "1")  # this call is unknown to the carrier
    result = jobs.sweep_with(rt)
    assert result["expired"] == 1
    assert rt.store.agents.get("nina")["missed"] == "1"
    # swept back and offered again at once (to the only hotliner there is)
    assert rt.store.call("CAswp1")["state"] == "offered"


def test_hotliner_stuck_on_an_ended_call_is_released(runtime: Runtime) -> None:
    rt = runtime
    login(rt, "nina")
    rt.store.start_call("CAswp2", "+33622222222", "+33180000000", "fr-FR")
    rt.store.enqueue("CAswp2", "network", 0)
    offer = rt.store.match([QueueRule("network", 1, 0, 1)], ring_ms=60_000)
    assert offer is not None
    rt.store.accept(offer.offer_id, "CAlegswp2")
    # The caller's final status callback was handled, but pretend the hotliner
    # missed the change (a lost update): busy on a call that is over.
    rt.store.hang_up("CAswp2", "completed")
    rt.redis.hset(
        rt.keys.agent("nina"), mapping={"state": "busy", "call_sid": "CAswp2"}
    )
    assert jobs.release_stuck_agents(rt) == 1
    assert rt.store.agents.get("nina")["state"] == "wrapup"


def test_waiting_caller_whose_call_twilio_no_longer_knows_is_hung_up(
    runtime: Runtime,
) -> None:
    rt = runtime
    rt.store.start_call("CAgone", "+33633333333", "+33180000000", "fr-FR")
    rt.store.enqueue("CAgone", "email", 0)
    assert jobs.reconcile_with_carrier(rt, every_ms=0) >= 1
    assert rt.store.call("CAgone")["state"] == "abandoned"
    assert rt.store.waiting("email") == []


def test_embedded_server_keeps_waiting_callers_across_a_restart(tmp_path: Path) -> None:
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


def test_available_hotliner_whose_shift_is_over_is_set_away(runtime: Runtime) -> None:
    rt = runtime
    login(rt, "dan")
    login(rt, "nina")
    paris = rt.routing.hotline.timezone
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=paris)
    assert jobs.end_shifts(rt, at=tuesday_noon) == 0
    sunday_night = datetime(2026, 11, 29, 23, 0, tzinfo=paris)
    assert jobs.end_shifts(rt, at=sunday_night) == 1
    assert rt.store.agents.get("dan")["state"] == "away"
    assert rt.store.agents.get("nina")["state"] == "available"
    assert rt.redis.zrange(rt.keys.available("printer", 2), 0, -1) == []
