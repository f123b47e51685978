"""The live connections and configuration a web process or worker works with.

Built once by a composition root (`web.create_app`, the worker entry point)
from `Settings`; job functions reach it through `get_runtime()`. Nothing here
connects at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue

from core.connections import routing_client
from core.keys import Keys
from core.settings import Settings
from core.telephony import Telephony, TwilioTelephony
from core.twilio_client import build_twilio_client
from queues.config import RoutingConfig, load_routing_config
from queues.grouped_store import GroupedStore
from queues.groups import routing_groups
from queues.partition import Partition
from queues.store import RoutingStore

RQ_QUEUE = "hotline"

#: Redis client timeouts (seconds). Webhooks must answer Twilio within a
#: second whatever Redis does: a stalled server costs at most this much, and
#: the webhooks' degraded mode takes over.
REDIS_CONNECT_TIMEOUT = 0.25
REDIS_READ_TIMEOUT = 0.5

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Runtime:
    settings: Settings
    redis: redis.Redis
    keys: Keys
    store: RoutingStore
    routing: RoutingConfig
    jobs: Queue
    _telephony: Telephony | None = field(default=None, repr=False)

    @property
    def telephony(self) -> Telephony:
        """The carrier's REST API (built on first use; tests hand in their own)."""
        if self._telephony is None:
            self._telephony = TwilioTelephony(build_twilio_client(self.settings))
        return self._telephony

    def public_url(self, path: str) -> str:
        """Absolute URL Twilio must use to reach `path` on this app."""
        base = self.settings.public_base_url or "http://127.0.0.1:5000"
        return base + path


def build_runtime(
    settings: Settings,
    *,
    keys: Keys | None = None,
    routing: RoutingConfig | None = None,
    telephony: Telephony | None = None,
) -> Runtime:
    """Connect to Redis and load the routing configuration (SQL is the call
    log's: the composition roots connect it)."""
    if settings.redis_url is None:
        raise ValueError(
            "build_runtime needs a Redis URL (start the embedded one first)"
        )
    options: dict[str, Any] = {
        "health_check_interval": 30,
        "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
        "socket_timeout": REDIS_READ_TIMEOUT,
        "retry": Retry(NoBackoff(), 0),  # a failure is handled at once, not slept on
    }
    routing_url = settings.routing_redis_url or settings.redis_url
    client = routing_client(routing_url, **options)
    # RQ's jobs on REDIS_URL (a standalone server), the same client when the
    # routing state shares it.
    jobs_client = (
        client
        if routing_url == settings.redis_url
        else redis.Redis.from_url(settings.redis_url, **options)
    )
    keys = keys or Keys()
    routing = routing or load_routing_config(settings.config_dir)
    kept = settings.event_stream_max
    groups = routing_groups(routing)
    store = (
        GroupedStore(Partition(client, groups, keys, events_kept=kept))
        if settings.routing_groups == "auto" and len(groups.names) > 1
        else RoutingStore(client, keys, events_kept=kept)
    )
    return Runtime(
        settings=settings,
        redis=client,
        keys=keys,
        store=store,
        routing=routing,
        jobs=Queue(RQ_QUEUE, connection=jobs_client),
        _telephony=telephony,
    )


_runtime: Runtime | None = None


def set_runtime(runtime: Runtime | None) -> None:
    """Install the runtime job functions use (the worker's composition root)."""
    global _runtime
    _runtime = runtime


def get_runtime() -> Runtime:
    """The runtime installed by the process's composition root."""
    if _runtime is None:
        raise RuntimeError("no runtime installed: start jobs through `hotline worker`")
    return _runtime


def use_routing(rt: Runtime, routing: RoutingConfig) -> None:
    """A reloaded configuration's queues, hotliners and rules from now on
    (each process's `rt.routing` is read afresh by every request and job)."""
    rt.routing = routing
    if isinstance(rt.store, GroupedStore):
        groups = routing_groups(routing)
        if groups.members == rt.store.partition.groups.members:
            rt.store.partition.groups = groups  # hotliners added or changed
        else:
            # Calls and hotliners live in their group's keys: moving them all
            # at once is not done; every process keeps the groups it has.
            log.error(
                "routing groups changed (%s -> %s): restart the web processes "
                "and workers to use them",
                dict(rt.store.partition.groups.members),
                dict(groups.members),
            )
    publish_wrapup_times(rt)


def publish_wrapup_times(rt: Runtime) -> bool:
    """Tell the scripts each queue's own wrap-up time (one atomic swap).

    Both the web and the worker publish at start; False if Redis did not
    answer (the other process, or the next start, publishes it).
    """
    times = rt.routing.wrapup_ms_by_queue()
    try:
        for keys in rt.store.group_keys:  # each routing group's scripts read theirs
            with rt.redis.pipeline(transaction=True) as pipe:
                pipe.delete(keys.wrapup_times)
                if times:
                    pipe.hset(keys.wrapup_times, mapping=times)
                pipe.execute()
    except redis.RedisError:
        log.warning("wrap-up times per queue not published: Redis unreachable")
        return False
    return True
