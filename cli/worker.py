"""The worker process: RQ (with RQ's scheduler), the timer loop, the call-log writer.

Composition root of background work: builds the routing runtime and the call
log's engine from settings (the one place both are wired together: `queues`
and `calllog` do not import each other's runtime) and installs the runtime for
job functions. Three loops share the process (with three slow ones beside
them, threads too: the report rollups, the search for calls live state lost,
and the writing of audit entries kept while SQL was unreachable):

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

from accounts.audit import AuditLog
from calllog.db import create_db_engine
from calllog.writer import drain_events, drain_partition
from core.keys import Keys
from core.settings import Settings
from queues import handoff, jobs
from queues.config import RoutingConfig
from queues.runtime import (
    RQ_QUEUE,
    Runtime,
    build_runtime,
    get_runtime,
    publish_wrapup_times,
    set_runtime,
    use_routing,
)
from web.config_versions import ConfigVersions

log = logging.getLogger(__name__)

#: Seconds between sweeps (a backstop: drift repairs, reconciliation).
SWEEP_INTERVAL = 1
#: Seconds between two looks at the timers (offer expiries, wrap-up ends...).
TICK_SECONDS = 0.05
#: How long the writer waits for new events before looking again (ms).
WRITER_BLOCK_MS = 250
#: After the first new event, the writer waits this long before writing it
#: and those that follow: what the call log lags behind live state, at most.
WRITER_GATHER_SECONDS = 0.1
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


#: When old calls are anonymised (`calllog.retention_days`): daily, 02:17 UTC.
RETENTION_CRON = "17 2 * * *"
#: How often past days' report rollups are brought up to date (a thread of
#: the worker: SQL only, it neither waits for Redis nor takes a job slot),
#: the first time a while after start.
ROLLUP_INTERVAL = 15 * 60
ROLLUP_FIRST_AFTER = 120


def retention() -> int:
    """The RQ job: anonymise calls past the retention period; calls done."""
    from calllog.retention import anonymise_before, retention_cutoff

    rt = get_runtime()
    before = retention_cutoff(rt.routing.hotline.retention_days)
    if before is None:
        return 0
    engine = create_db_engine(rt.settings.effective_database_url)
    try:
        done = anonymise_before(engine, before)
    finally:
        engine.dispose()
    log.info("retention: %d calls anonymised (before %s)", done.calls, before)
    return done.calls


def _rollup_step(rt: Runtime, engine: Engine, started: list[bool]) -> float:
    """Bring the report rollups of past days up to date (`calllog.reports`)."""
    from calllog.reports import roll_up_days, thresholds

    if not started:
        started.append(True)
        return ROLLUP_FIRST_AFTER
    rows = roll_up_days(engine, thresholds(rt.routing))
    log.debug("report rollups up to date (%d rows)", rows)
    return ROLLUP_INTERVAL


#: How often the call log is searched for calls live state has lost.
LOST_CALLS_INTERVAL = 60


def _lost_calls_step(rt: Runtime, engine: Engine) -> float:
    """Close calls the call log has as live and live state lost (a crash)."""
    from calllog.lost_calls import close_lost_calls

    close_lost_calls(engine, rt.store, rt.telephony)
    return LOST_CALLS_INTERVAL


#: How often controls kept while the audit log was unreachable are written.
AUDIT_KEPT_INTERVAL = 5.0


def _audit_step(audit: AuditLog) -> float:
    """Write to SQL the supervisors' controls kept in Redis while it was down."""
    if audit.write_kept():
        return 0.0
    return AUDIT_KEPT_INTERVAL


def _timer_step(rt: Runtime) -> float:
    tick(rt)
    return TICK_SECONDS


def _writer_step(rt: Runtime, engine: Engine) -> float:
    """Drain the stream to SQL; when there is nothing, wait for new entries."""
    tz = rt.routing.hotline.timezone
    if rt.store.group_names:
        # A stream per routing group (on different masters: no one read
        # waits on them all): drained in turn, a short sleep when all empty.
        groups = rt.store.group_names
        if drain_partition(rt.redis, engine, rt.keys, groups, tz=tz):
            return 0.0
        return WRITER_GATHER_SECONDS
    if drain_events(rt.redis, engine, rt.keys, tz=tz):
        return 0.0
    last = cast(list[tuple[bytes, object]], rt.redis.xrevrange(rt.keys.events, count=1))
    after = last[0][0] if last else b"0-0"
    if rt.redis.xread({rt.keys.events: after}, count=1, block=WRITER_BLOCK_MS):
        # Let the events of the next moment join it: one transaction for
        # a few, not one for each (per-drain costs dominated at 20 calls/s).
        return WRITER_GATHER_SECONDS
    return 0.0


def _clock(runtime: Runtime, stop: threading.Event) -> None:
    """Enqueue the periodic jobs through RQ's cron scheduler, in a thread.

    `CronScheduler.start()` installs signal handlers and must own the main
    thread, which the worker needs; its `enqueue_jobs()` does the same work.
    """
    cron = CronScheduler(
        connection=runtime.jobs.connection, name=f"hotline-clock-{id(stop)}"
    )
    cron.register(
        jobs.sweep,
        queue_name=RQ_QUEUE,
        interval=SWEEP_INTERVAL,
        job_timeout=60,
        result_ttl=0,
        ttl=30,
        failure_ttl=3600,
    )

    # Daily, at a quiet hour (UTC), never at start: a long job must not hold
    # the worker's one job slot while the sweep waits.
    cron.register(
        retention,
        queue_name=RQ_QUEUE,
        cron=RETENTION_CRON,
        job_timeout=3600,
        result_ttl=0,
        failure_ttl=86400,
    )

    def step() -> float:
        cron.enqueue_jobs()
        return SWEEP_INTERVAL / 2

    _loop("clock", step, stop)


def start_background_loops(
    runtime: Runtime, engine: Engine, stop: threading.Event
) -> list[threading.Thread]:
    """The timer loop, the call-log writer, the report rollups, the search
    for lost calls and the writing of kept audit entries, as daemon threads."""
    first: list[bool] = []
    audit = AuditLog(engine, runtime.redis, runtime.keys)
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
        threading.Thread(
            target=_loop,
            args=("report rollups", lambda: _rollup_step(runtime, engine, first), stop),
            daemon=True,
            name="hotline-rollups",
        ),
        threading.Thread(
            target=_loop,
            args=("lost calls", lambda: _lost_calls_step(runtime, engine), stop),
            daemon=True,
            name="hotline-lost-calls",
        ),
        threading.Thread(
            target=_loop,
            args=("kept audit entries", lambda: _audit_step(audit), stop),
            daemon=True,
            name="hotline-audit-kept",
        ),
    ]
    for thread in threads:
        thread.start()
    return threads


#: How long a starting worker waits for Redis before giving up (exit 1, and
#: the supervisor starts it again).
REDIS_START_WAIT = 30.0


def _wait_for_redis(client: redis.Redis, timeout: float) -> None:
    """Wait until Redis answers a PING.

    A Valkey restarted under `hotline run` refuses commands while it loads its
    append-only file, and a worker restarted beside it would exit at once and
    be restarted again and again; one log line and a patient start instead.
    """
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            client.ping()
            return
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            if time.monotonic() >= deadline:
                raise
            if not said:
                log.warning("worker: waiting for Redis before starting")
                said = True
            time.sleep(RETRY_SECONDS)


def _reloaded(runtime: Runtime, routing: RoutingConfig) -> None:
    """A configuration edit: this process uses it, and logged-in hotliners'
    queue lines follow their new skills (each worker does it: idempotent)."""
    use_routing(runtime, routing)
    followed = jobs.follow_roster(runtime)
    log.info("configuration reloaded: %d hotliners' queue lines refreshed", followed)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run until stopped (SIGTERM/SIGINT), or until the queue is empty in burst."""
    configs = ConfigVersions(settings.config_dir, None, Keys())
    runtime = build_runtime(settings, routing=configs.load().routing)
    _wait_for_redis(runtime.redis, REDIS_START_WAIT)
    if runtime.jobs.connection is not runtime.redis:  # ROUTING_REDIS_URL's own
        _wait_for_redis(runtime.jobs.connection, REDIS_START_WAIT)
    publish_wrapup_times(runtime)
    configs.redis = runtime.redis
    configs.on_install = lambda _version, new: _reloaded(runtime, new.routing)
    configs.publish()
    engine = create_db_engine(settings.effective_database_url)
    set_runtime(runtime)
    stop = threading.Event()
    if not burst:
        threading.Thread(
            target=_clock, args=(runtime, stop), daemon=True, name="hotline-clock"
        ).start()
        threading.Thread(
            target=configs.watch, args=(stop,), daemon=True, name="hotline-config"
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
