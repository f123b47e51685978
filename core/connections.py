"""Redis clients for the routing state: one server, or a Redis Cluster.

The routing state (`core.keys`) may live on a Redis Cluster: every key shares
one hash tag, so every script's keys are in one slot, and `RedisCluster`
answers the commands the stores use (scripts, hashes, sorted sets, streams,
same-slot transactions) as `redis.Redis` does. RQ cannot: its jobs stay on
REDIS_URL, a standalone server.

A cluster is named by its URL (`redis+cluster://host:port`, any node), not
found out by asking the server: the web must start while Redis is down (its
webhooks then journal callers, `queues.spool`), when there is nobody to ask.
For the same reason the cluster's client is made on first use, and made
again at the next use if the cluster could not be reached: `RedisCluster`
maps the cluster's slots as it is made, and fails if no node answers.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import redis
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def routing_client(url: str, **options: Any) -> redis.Redis:
    """A client for `url` with redis-py's `options` (timeouts, retry).

    A cluster's client is typed as `redis.Redis`: the stores call it through
    the commands both answer alike (`tests/e2e/test_redis_cluster_stack.py`
    runs the whole hotline on one).
    """
    scheme, rest = url.split("://", 1)
    if scheme not in CLUSTER_SCHEMES:
        return redis.Redis.from_url(url, **options)
    # A connection's health check is the cluster client's own business.
    options.pop("health_check_interval", None)
    return cast(
        redis.Redis, LazyCluster(f"{CLUSTER_SCHEMES[scheme]}://{rest}", options)
    )


class LazyCluster:
    """A `RedisCluster` made on first use (see the module's docstring).

    Until a node answers, every command raises `redis.ConnectionError`, as a
    server that is down does: the callers' degraded modes take over.
    """

    def __init__(self, url: str, options: dict[str, Any]) -> None:
        self._url = url
        self._options = options
        self._cluster: RedisCluster | None = None
        self._lock = threading.Lock()

    def cluster(self) -> RedisCluster:
        if self._cluster is None:
            with self._lock:
                if self._cluster is None:
                    try:
                        self._cluster = RedisCluster.from_url(
                            self._url, **self._options
                        )
                    except RedisClusterException as error:
                        raise redis.ConnectionError(
                            f"Redis Cluster at {self._url}: {error}"
                        ) from error
        return self._cluster

    def register_script(self, script: str) -> Script:
        """Scripts are made before the cluster answers, and run on first call
        (as bytes: `Script` would ask the cluster for its text encoding)."""
        return Script(cast(redis.Redis, self), script.encode())

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.cluster(), name)
