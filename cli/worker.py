"""The worker process: RQ (with RQ's scheduler), the timer loop, the call-log writer.

Composition root of background work: builds the routing runtime and the call
log's engine from settings (the one place both are wired together: `queues`
and `calllog` do not import each other's runtime) and installs the runtime for
job functions. Three loops share the process:

- the **timer loop** (a thread, every `TICK_SECONDS`) fires what is due at a
  precise time: offers rung past their time, wrap-ups that end, callers
  not yet bridged, callers perhaps alone in a conference. A wrap-up of 10 s
  ends 10 s after the call, not at the next sweep;
- the **call-log writer** (a thread) follows the Redis event stream into SQL
  as events arrive, so logging never queues up behind (or in front of)
  routing work;
- the **RQ worker** (main thread) runs the periodic sweep, a backstop that
  repairs drift every second, and the few jobs that can wait (texts,
  callback retries). Jobs run in-process (`SimpleWorker`): they are a few
  Redis round trips and a REST call; a job that raises is recorded by RQ
  and the sweep re-drives whatever it left.

Every loop survives Redis or SQL being unreachable: it logs (once per
outage, not once per tick) and tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import cast

import redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler
from sqlalchemy import Engine

from calllog.db import create_db_engine
from calllog.writer import drain_events
from core.settings import Settings
from queues import handoff, jobs
from queues.runtime import (
    RQ_QUEUE,
    Runtime,
    build_runtime,
    publish_wrapup_times,
    set_runtime,
)

log = logging.getLogger(__name__)

#: Seconds between sweeps (a backstop: drift repairs, reconciliation).
SWEEP_INTERVAL = 1
#: Seconds between two looks at the timers (offer expiries, wrap-up ends...).
TICK_SECONDS = 0.05
#: How long the writer waits for new events before looking again (ms).
WRITER_BLOCK_MS = 250
#: Pause after a failure of Redis or SQL before a loop tries again (s).
RETRY_SECONDS = 0.5


class _Outage:
    """Logs the first failure of a loop and its recovery, not every tick."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.since: float | None = None

    def failed(self, exc: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s failing: %s", self.what, exc)

    def ok(self) -> None:
        if self.since is not None:
            log.warning(
                "%s recovered after %.1f s", self.what, time.monotonic() - self.since
            )
            self.since = None


def _loop(what: str, step: Callable[[], float], stop: threading.Event) -> None:
    """Run `step` until stopped; it returns how long to wait before the next."""
    outage = _Outage(what)
    while not stop.is_set():
        try:
            pause = step()
        except Exception as exc:  # noqa: BLE001 - Redis, SQL or a bug: keep going
            if not isinstance(exc, redis.RedisError):
                log.exception("%s step failed", what)
            outage.failed(exc)
            pause = RETRY_SECONDS
        else:
            outage.ok()
        if pause > 0:
            stop.wait(pause)


def tick(rt: Runtime) -> int:
    """One look at what is due now: expired offers, then timers; things done."""
    return handoff.expire_offers(rt) + handoff.fire_due_timers(rt)


def _timer_step(rt: Runtime) -> float:
    tick(rt)
    return TICK_SECONDS


def _writer_step(rt: Runtime, engine: Engine) -> float:
    """Drain the stream to SQL; when there is nothing, wait for new entries."""
    if drain_events(rt.redis, engine, rt.keys):
        return 0.0
    last = cast(list[tuple[bytes, object]], rt.redis.xrevrange(rt.keys.events, count=1))
    after = last[0][0] if last else b"0-0"
    rt.redis.xread({rt.keys.events: after}, count=1, block=WRITER_BLOCK_MS)
    return 0.0


def _clock(runtime: Runtime, stop: threading.Event) -> None:
    """Enqueue the periodic jobs through RQ's cron scheduler, in a thread.

    `CronScheduler.start()` installs signal handlers and must own the main
    thread, which the worker needs; its `enqueue_jobs()` does the same work.
    """
    cron = CronScheduler(connection=runtime.redis, name=f"hotline-clock-{id(stop)}")
    cron.register(
        jobs.sweep,
        queue_name=RQ_QUEUE,
        interval=SWEEP_INTERVAL,
        job_timeout=60,
        result_ttl=0,
        ttl=30,
        failure_ttl=3600,
    )

    def step() -> float:
        cron.enqueue_jobs()
        return SWEEP_INTERVAL / 2

    _loop("clock", step, stop)


def start_background_loops(
    runtime: Runtime, engine: Engine, stop: threading.Event
) -> list[threading.Thread]:
    """The timer loop and the call-log writer, as daemon threads."""
    threads = [
        threading.Thread(
            target=_loop,
            args=("timers", lambda: _timer_step(runtime), stop),
            daemon=True,
            name="hotline-timers",
        ),
        threading.Thread(
            target=_loop,
            args=("call log writer", lambda: _writer_step(runtime, engine), stop),
            daemon=True,
            name="hotline-writer",
        ),
    ]
    for thread in threads:
        thread.start()
    return threads


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run until stopped (SIGTERM/SIGINT), or until the queue is empty in burst."""
    runtime = build_runtime(settings)
    publish_wrapup_times(runtime)
    engine = create_db_engine(settings.effective_database_url)
    set_runtime(runtime)
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_clock, args=(runtime, stop), daemon=True, name="hotline-clock"
        ).start()
        start_background_loops(runtime, engine, stop)
    # RQ blocks on its queue for minutes at a time: its own connection, without
    # the webhooks' short read timeout.
    assert settings.redis_url is not None
    rq_redis = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=1.0, health_check_interval=30
    )
    queue = Queue(RQ_QUEUE, connection=rq_redis)
    worker = SimpleWorker([queue], connection=rq_redis)
    try:
        worker.work(with_scheduler=True, burst=burst, logging_level="WARNING")
    finally:
        stop.set()
        set_runtime(None)
        engine.dispose()
