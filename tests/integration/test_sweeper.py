"""The sweeper repairs drift: lapsed offers, stuck hotliners, lost callers."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import redis
from support import ROUND_THE_CLOCK

from agents.config import AgentId
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
from queues.board import live_board
from queues.routing import QueueRule, memberships
from queues.runtime import Runtime, build_runtime, use_routing
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


def test_a_hotliner_whose_shift_is_over_is_logged_out(runtime: Runtime) -> None:
    rt = runtime
    login(rt, "dan")
    login(rt, "nina")
    paris = rt.routing.hotline.timezone
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=paris)
    assert jobs.end_shifts(rt, at=tuesday_noon) == 0
    sunday_night = datetime(2026, 11, 29, 23, 0, tzinfo=paris)
    assert jobs.end_shifts(rt, at=sunday_night) == 1
    dan = rt.store.agents.get("dan")
    assert (dan["state"], dan["reason"], dan["shift_until"]) == (
        "offline",
        "shift_over",
        "0",
    )
    assert rt.store.agents.get("nina")["state"] == "available"
    assert rt.redis.zrange(rt.keys.available("printer", 2), 0, -1) == []


def test_a_shift_ending_during_a_call_lets_it_finish_then_offers_nothing(
    runtime: Runtime,
) -> None:
    """Dan (weekdays 08-16) takes a call at 15:51 that lasts past 16:00: the
    sweep leaves him on it, the wallboard flags him a quarter of an hour
    after his shift, and once the call and wrap-up are over the match offers
    him nothing, before any sweep has logged him out."""
    rt = runtime
    paris = rt.routing.hotline.timezone
    clock = {"now": datetime(2026, 11, 24, 15, 50, tzinfo=paris)}  # a Tuesday

    def at(hour: int, minute: int) -> datetime:
        clock["now"] = datetime(2026, 11, 24, hour, minute, tzinfo=paris)
        return clock["now"]

    def tick() -> int:
        return int(clock["now"].timestamp() * 1000)

    rt.store.clock = rt.store.agents.clock = tick
    login(rt, "dan")
    assert jobs.end_shifts(rt, at=at(15, 50)) == 0
    assert rt.store.agents.get("dan")["shift_until"] == str(
        int(datetime(2026, 11, 24, 16, 0, tzinfo=paris).timestamp() * 1000)
    )
    printer = QueueRule("printer", 1, 0, 1)
    assert rt.store.start_call("CAshift1", "+33611110001", "+33180000000", "fr-FR")
    rt.store.enqueue("CAshift1", "printer", 0)
    at(15, 51)
    offer = rt.store.match([printer], ring_ms=15_000)
    assert offer is not None
    assert offer.agent_id == "dan"
    assert rt.store.accept(offer.offer_id, "CAlegdan1") is not None
    assert jobs.end_shifts(rt, at=at(16, 1)) == 0  # on the call: not logged out
    assert rt.store.agents.get("dan")["state"] == "busy"
    (board_dan,) = [
        h for h in live_board(rt.store, rt.routing, "fr-FR").hotliners if h.id == "dan"
    ]
    assert board_dan.off_shift_since == tick() - 60_000
    assert not board_dan.late  # a minute after: finishing a call is normal
    at(16, 20)
    (board_dan,) = [
        h for h in live_board(rt.store, rt.routing, "fr-FR").hotliners if h.id == "dan"
    ]
    assert board_dan.late
    # The call and its wrap-up are over: available again, no sweep since.
    assert rt.store.agents.release("dan", "CAshift1", "call_over") == "available"
    assert rt.store.start_call("CAshift2", "+33611110002", "+33180000000", "fr-FR")
    rt.store.enqueue("CAshift2", "printer", 0)
    assert rt.store.match([printer], ring_ms=15_000) is None
    assert jobs.end_shifts(rt, at=at(16, 21)) == 1
    assert rt.store.agents.get("dan")["state"] == "offline"


def test_a_reloaded_roster_moves_logged_in_hotliners_between_lines(
    runtime: Runtime,
) -> None:
    """`hotliners.yaml` edited: Dan (printer, network) now takes email only.
    Once the worker has the new configuration, his lines follow at once;
    Nina, whose skills a supervisor set for today, keeps hers."""
    rt = runtime
    login(rt, "dan")
    login(rt, "nina")
    rt.store.agents.set_skills("nina", "printer:2", [("printer", 2)])
    dan = rt.routing.hotliners[AgentId("dan")]
    edited = dataclasses.replace(
        rt.routing,
        hotliners={
            **rt.routing.hotliners,
            AgentId("dan"): dataclasses.replace(dan, skills={"email": 2}),
        },
    )
    use_routing(rt, edited)
    assert jobs.follow_roster(rt) == 1  # Dan; not Nina (skills for today)

    def line(queue: str, level: int) -> list[bytes]:
        return rt.redis.zrange(rt.keys.available(queue, level), 0, -1)

    assert line("email", 2) == [b"dan"]
    assert b"dan" not in line("printer", 2)
    assert b"dan" not in line("network", 2)
    assert line("printer", 2) == [b"nina"]
    assert rt.store.agents.get("nina")["skills"] == "printer:2"
