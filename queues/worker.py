"""The worker process: an RQ worker (with RQ's scheduler) plus the sweeper clock.

Composition root of background work: builds the runtime from settings and
installs it for job functions. Jobs run in-process (`SimpleWorker`): routing
jobs are a few Redis round trips and a REST call, so forking a work-horse per
job would cost more than the job; a job that raises is recorded by RQ and
the sweeper re-drives whatever it left.
"""

from __future__ import annotations

import logging
import threading

from rq import SimpleWorker
from rq.cron import CronScheduler

from core.settings import Settings
from queues import jobs
from queues.runtime import RQ_QUEUE, Runtime, build_runtime, set_runtime

log = logging.getLogger(__name__)

#: Seconds between sweeps (lapsed offers, wrap-ups, re-dispatch, call log drain).
SWEEP_INTERVAL = 1


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
    while not stop.is_set():
        try:
            cron.enqueue_jobs()
        except Exception:  # noqa: BLE001 - keep the clock ticking through blips
            log.exception("clock could not enqueue periodic jobs")
        stop.wait(SWEEP_INTERVAL / 2)


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Run until stopped (SIGTERM/SIGINT), or until the queue is empty in burst."""
    runtime = build_runtime(settings)
    set_runtime(runtime)
    stop = threading.Event()
    clock = threading.Thread(
        target=_clock, args=(runtime, stop), daemon=True, name="hotline-clock"
    )
    if not burst:
        clock.start()
    worker = SimpleWorker([runtime.jobs], connection=runtime.redis)
    try:
        worker.work(with_scheduler=True, burst=burst, logging_level="WARNING")
    finally:
        stop.set()
        set_runtime(None)
