"""RQ enqueue-to-start latency, idle and beside the call-log load of 20 calls/s.

What the webhooks and the API hand to RQ (texts, callback retries) waits in
the `hotline` queue for a worker; the sweep, the backstop that repairs drift,
is itself an RQ job every second. The worker process that runs them also runs
the call-log writer, the timer loop and RQ's scheduler (`cli/worker.py`), so
a busy call log could delay every job behind it. This measures how long a
trivial job waits from the moment it is enqueued to the moment it starts.

The workers are the real ones, started as the Procfile's `worker` line starts
them (`hotline worker`, here `python -m cli worker`: an RQ `SimpleWorker`
with RQ's scheduler, the sweep clock, the timer loop and the call-log writer
threads), on the bench's Redis, a call log of their own (SQLite in a
temporary folder, migrated; or a throw-away PostgreSQL database with
`--database-url`) and the shipped `config/`. The bench enqueues `stamp`
(below: it pushes `time.time()` at its start to a Redis list) at a steady
`--rate` (50 jobs/s) for `--seconds` (15: 750 jobs, the p99 the 8th slowest;
the worker's stalls, bursts of jobs waiting 100-430 ms, come 2-4 times in 20 s
and still fall in each window), the way the app enqueues (`Queue.enqueue`,
defaults), after 3 s of the same as a warm-up; latency = start - the time
taken just before `enqueue`. The sweep's own jobs share the queue, as in
production. Jobs that waited over 100 ms are also shown by when they were
enqueued, in bursts: a stall of the worker shows as one.

Twice: idle, then while `bench/calllog_writer.py`'s load runs beside it
(`call_load`: whole calls through the store at 20 calls/s, from a process of
its own, on the app's keys, so the workers' own writer thread drains them
into their call log, as in production). The load's process starts with the
workers (its hotliners' logins are in the call log before the idle phase)
and its calls 3.5 s before the measure, so that calls are in flight when it
begins; the call log's lag behind
the stream is sampled every second meanwhile.

Baseline, in the same phases and at the same rate (interleaved, half a
period apart): a bare Redis LPUSH from this process and BRPOP in another
process, which pushes its receive time back the way `stamp` does; the floor
any queue on Redis pays. Printed: p50/p99/max of both and RQ/bare p99.

Target (exit 1 naming it): RQ p99 < 1 s beside the load; every job started.
Every process the bench starts is stopped at the end, also on Ctrl-C or
SIGTERM (the workers run in a process group of their own, killed as one).

    python bench/rq_latency.py                      # own Valkey, one worker
    python bench/rq_latency.py --workers 2 --seconds 60 \\
        --redis-url redis://127.0.0.1:6379 --db 15 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from rq import Queue, Worker, get_current_job  # noqa: E402

from bench.calllog_writer import (  # noqa: E402
    CALL_S,
    TARGET_RATE,
    Lag,
    LagProbe,
    LoadStats,
    call_load,
    database,
)
from bench.harness import (  # noqa: E402
    Figure,
    percentile,
    record,
    redis_server,
    show_tracebacks,
)
from calllog.db import create_db_engine  # noqa: E402
from core.keys import Keys  # noqa: E402
from queues.runtime import RQ_QUEUE  # noqa: E402

RATE = 50.0  # jobs a second (and as many bare messages)
TARGET_P99_S = 1.0
#: The job, by the name the workers import it by (this file run as a script
#: is `__main__`, which they cannot import).
JOB = "bench.rq_latency.stamp"
STARTS = "bench:rq:starts"  # + ":<phase>": "<enqueued> <started>" per job
BARE_IN = "bench:bare:in"
BARE_OUT = "bench:bare:out"  # + ":<phase>": "<pushed> <received>" per message
#: How long to wait for the last jobs of a phase to start.
SETTLE_S = 30.0
#: Jobs that waited longer are shown by when they were enqueued (stalls).
SLOW_S = 0.1
#: Warm-up jobs before the measure (the worker's first sweeps, imports).
WARMUP_S = 3.0


def stamp(phase: str, enqueued_at: float) -> None:
    """The trivial job: note when it started, beside when it was enqueued."""
    started = time.time()
    job = get_current_job()
    if job is None:
        raise RuntimeError("stamp runs as an RQ job")
    job.connection.rpush(f"{STARTS}:{phase}", f"{enqueued_at!r} {started!r}")


def bare_consumer(redis_url: str, ready: Event) -> None:
    """The baseline's other end: BRPOP, note the time, push it back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the bench stops it
    client = redis.Redis.from_url(redis_url)
    ready.set()
    while True:
        item = cast(tuple[bytes, bytes] | None, client.brpop([BARE_IN], timeout=1))
        if item is None:
            continue
        received = time.time()
        phase, sent = item[1].decode().split()
        if phase == "stop":
            return
        client.rpush(f"{BARE_OUT}:{phase}", f"{sent} {received!r}")


# -- processes ------------------------------------------------------------------


@contextmanager
def workers(
    count: int, redis_url: str, database_url: str, folder: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` workers as the Procfile starts them, each in a process group
    of its own; SIGTERM to each group at the end (RQ's warm shutdown), then
    SIGKILL to what is left after 10 s."""
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "HOTLINE_CONFIG": str(ROOT / "config"),
        "HOTLINE_INSTANCE": str(folder / "instance"),
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(count):
            with open(folder / f"worker-{i}.log", "wb") as log:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "cli", "worker"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        yield procs
    finally:
        for proc in procs:
            signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            signal_group(proc.pid, signal.SIGKILL)
            proc.wait()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


@contextmanager
def bare_queue(redis_url: str) -> Iterator[None]:
    """The baseline's consumer process, stopped at the end."""
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    process = ctx.Process(
        target=bare_consumer, args=(redis_url, ready), name="bench-bare", daemon=True
    )
    process.start()
    try:
        if not ready.wait(60):
            raise SystemExit("the bare consumer did not start: the bench is broken")
        yield
    finally:
        if process.is_alive():
            redis.Redis.from_url(redis_url).lpush(BARE_IN, "stop 0")
            process.join(3)
        if process.is_alive():
            process.terminate()
            process.join(5)


# -- one phase ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    name: str
    sent: int
    rq: list[tuple[float, float]]  # (enqueued, s into the phase; enqueue -> start)
    bare: list[tuple[float, float]]  # the same for LPUSH -> BRPOP
    enqueue_call: list[float]  # the `enqueue` call itself, s
    sending_s: float  # how long the sending took (the rate it kept)
    worker_cpu_s: float  # CPU the workers' processes used meanwhile

    @property
    def missing(self) -> int:
        return self.sent - len(self.rq)

    @property
    def rq_s(self) -> list[float]:
        return [d for _, d in self.rq]

    @property
    def bare_s(self) -> list[float]:
        return [d for _, d in self.bare]

    def stalls(self, over: float = SLOW_S) -> list[tuple[float, float, int]]:
        """Jobs that waited over `over`, in bursts (a second apart or more):
        (enqueued, s into the phase; longest wait; jobs) of each."""
        bursts: list[tuple[float, float, int]] = []
        for at, delay in sorted(x for x in self.rq if x[1] > over):
            if bursts and at - bursts[-1][0] < 1.0 + bursts[-1][1]:
                first, longest, count = bursts[-1]
                bursts[-1] = (first, max(longest, delay), count + 1)
            else:
                bursts.append((at, delay, 1))
        return bursts


def run_phase(
    client: redis.Redis,
    queue: Queue,
    name: str,
    rate: float,
    seconds: float,
    cpu: Callable[[], float],
) -> Phase:
    """`rate` jobs and bare messages a second for `seconds`, half a period
    apart; then wait for the last to start. `cpu`: the workers' CPU seconds."""
    count = round(rate * seconds)
    period = 1 / rate
    calls: list[float] = []
    cpu0 = cpu()
    t0 = time.time() + 0.1
    for i in range(count):
        pause(t0 + i * period)
        enqueued = time.time()
        queue.enqueue(JOB, name, enqueued)
        calls.append(time.time() - enqueued)
        pause(t0 + (i + 0.5) * period)
        client.lpush(BARE_IN, f"{name} {time.time()!r}")
    sending = time.time() - t0
    worker_cpu = cpu() - cpu0
    starts, bare = f"{STARTS}:{name}", f"{BARE_OUT}:{name}"
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline and (
        cast(int, client.llen(starts)) < count or cast(int, client.llen(bare)) < count
    ):
        time.sleep(0.1)
    return Phase(
        name,
        count,
        delays(client, starts, t0),
        delays(client, bare, t0),
        calls,
        sending,
        worker_cpu,
    )


def cpu_seconds(groups: set[int]) -> float:
    """CPU time (user + system) of the live processes of these process
    groups, from /proc (0 where there is none)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) in groups:  # pgrp; utime and stime follow at 11, 12
            total += int(fields[11]) + int(fields[12])
    return total / tick


def pause(until: float) -> None:
    wait = until - time.time()
    if wait > 0:
        time.sleep(wait)


def delays(client: redis.Redis, key: str, t0: float) -> list[tuple[float, float]]:
    pairs = (line.split() for line in cast(list[bytes], client.lrange(key, 0, -1)))
    return [(float(a) - t0, float(b) - float(a)) for a, b in pairs]


class LagSampler(threading.Thread):
    """The call log's lag behind the stream, once a second, meanwhile."""

    def __init__(self, probe: LagProbe) -> None:
        super().__init__(name="bench-lag", daemon=True)
        self.probe = probe
        self.samples: list[Lag] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.samples.append(self.probe())


# -- report -------------------------------------------------------------------------


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:,.1f}"


def report(phase: Phase, title: str) -> tuple[float, float]:
    """Print a phase; (RQ p99, bare p99) in seconds."""
    rq, bare = phase.rq_s, phase.bare_s
    rq99, bare99 = percentile(rq, 0.99), percentile(bare, 0.99)
    print(
        f"-- {title}: {phase.sent:,} jobs and {phase.sent:,} bare messages, sent "
        f"at {phase.sent / phase.sending_s:.1f} a second each"
    )
    print(
        f"   RQ enqueue -> start   p50 {ms(rq, 0.5)} / p99 {ms(rq, 0.99)} / max "
        f"{max(rq, default=float('nan')) * 1000:,.1f} ms; {len(rq):,} started, "
        f"{phase.missing:,} not within {SETTLE_S:.0f} s; the enqueue call itself "
        f"p50 {ms(phase.enqueue_call, 0.5)} / p99 {ms(phase.enqueue_call, 0.99)} ms"
    )
    print(
        f"   bare LPUSH -> BRPOP   p50 {ms(bare, 0.5)} / p99 {ms(bare, 0.99)} / max "
        f"{max(bare, default=float('nan')) * 1000:,.1f} ms ({len(bare):,} received)"
    )
    stalls = phase.stalls()
    shown = ", ".join(
        f"{at:.1f} s ({count} jobs, up to {longest * 1000:,.0f} ms)"
        for at, longest, count in sorted(stalls, key=lambda x: -x[1])[:4]
    )
    print(
        f"   the workers' processes used {phase.worker_cpu_s / phase.sending_s:.2f}"
        " CPU seconds a second (RQ, the writer and the timers share one "
        "interpreter lock per process)"
    )
    print(
        f"   RQ/bare p99 {rq99 / bare99:,.1f}x; jobs that waited over "
        f"{SLOW_S * 1000:.0f} ms: {sum(x[2] for x in stalls)}"
        + (f", in {len(stalls)} bursts; the longest at {shown}" if stalls else "")
    )
    return rq99, bare99


def report_load(stats: LoadStats, lags: list[Lag], end: Lag) -> None:
    worst = max(lags, key=lambda x: x.age_s, default=Lag(0, 0.0))
    print(
        f"   the load: {stats.started:,} calls ({stats.completed:,} completed) over"
        f" {stats.ended - stats.began:.1f} s; the workers' call-log writer behind "
        f"the stream, sampled each second: at most {worst.pending:,} events "
        f"({worst.age_s:.2f} s); {end.pending:,} events at the end"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--rate", type=float, default=RATE, help="jobs a second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", help="use this server (default: own Valkey)")
    parser.add_argument("--db", type=int, default=15, help="DB index with --redis-url")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server for the workers' throw-away call log "
        "(default: SQLite in a temporary folder)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanups run
    began = time.monotonic()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        url, _pid = stack.enter_context(redis_server(args.redis_url, args.db, folder))
        kind = "postgresql" if args.database_url else "sqlite"
        db_url = stack.enter_context(database(kind, args.database_url))
        client = redis.Redis.from_url(url)
        stack.callback(client.close)
        info = cast(dict[str, Any], client.info("server"))
        queue = Queue(RQ_QUEUE, connection=client)
        procs = stack.enter_context(workers(args.workers, url, db_url, folder))
        stack.enter_context(bare_queue(url))
        # The load's process starts (and logs its hotliners in) while the
        # workers start; it waits for `go`, and its logins are written before
        # the idle phase.
        load = stack.enter_context(call_load(url, TARGET_RATE, args.seconds + CALL_S))
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
            f"{info.get('server_name', 'redis')} "
            f"{info.get('valkey_version') or info.get('redis_version')}; "
            f"{args.workers} `hotline worker` (RQ SimpleWorker with its scheduler, "
            f"the Procfile's `worker`; call log in {kind}); {args.rate:.0f} jobs/s "
            f"for {args.seconds:.0f} s a phase"
        )
        groups = {p.pid for p in procs}

        def cpu() -> float:
            return cpu_seconds(groups)

        warm = run_phase(client, queue, "warmup", args.rate, WARMUP_S, cpu)
        if warm.missing:
            show_tracebacks(folder)
            dead = [p.pid for p in procs if p.poll() is not None]
            raise SystemExit(
                f"the workers ran {len(warm.rq)} of {warm.sent} warm-up jobs in "
                f"{SETTLE_S:.0f} s (exited: {dead or 'none'}): the bench is broken"
            )
        print(f"   workers up: {Worker.count(connection=client, queue=queue)}")
        engine = create_db_engine(db_url)
        stack.callback(engine.dispose)
        probe = LagProbe(client, engine, Keys())
        deadline = time.monotonic() + SETTLE_S
        while probe().pending and time.monotonic() < deadline:
            time.sleep(0.05)  # the load's logins, in the call log before idle
        idle = run_phase(client, queue, "idle", args.rate, args.seconds, cpu)
        sampler = LagSampler(probe)
        load.go()
        sampler.start()
        time.sleep(CALL_S)  # calls in flight before the measure
        loaded = run_phase(client, queue, "loaded", args.rate, args.seconds, cpu)
        stats = load.result(SETTLE_S)
        sampler.stop.set()
        sampler.join()
        time.sleep(1.0)
        end = probe()
        failures = [p.pid for p in procs if p.poll() is not None]
        print()
        idle_rq, idle_bare = report(idle, "idle")
        load_rq, load_bare = report(
            loaded, f"beside {TARGET_RATE} calls/s (the call-log bench's load)"
        )
        report_load(stats, sampler.samples, end)
        show_tracebacks(folder)
    ok = load_rq < TARGET_P99_S and not loaded.missing
    print(
        f"target RQ p99 < {TARGET_P99_S * 1000:.0f} ms beside the load, every job "
        f"started: {load_rq * 1000:,.1f} ms, {loaded.missing} missing "
        f"{'PASS' if ok else 'FAIL'}"
    )
    print(
        f"bench took {time.monotonic() - began:.0f} s; load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    record(
        "bench/rq_latency.py",
        [
            Figure(
                f"RQ enqueue -> start p99, beside {TARGET_RATE} calls/s",
                f"{load_rq * 1000:,.1f} ms",
                f"< {TARGET_P99_S * 1000:.0f} ms",
                ok,
                f"bare LPUSH -> BRPOP p99 {load_bare * 1000:,.1f} ms",
                f"{load_rq / load_bare:,.1f}x",
            ),
            Figure(
                "RQ enqueue -> start p99, idle",
                f"{idle_rq * 1000:,.1f} ms",
                baseline=f"bare LPUSH -> BRPOP p99 {idle_bare * 1000:,.1f} ms",
                ratio=f"{idle_rq / idle_bare:,.1f}x",
            ),
        ],
    )
    missed: list[str] = []
    if not ok:
        missed.append(
            f"RQ enqueue -> start p99 {load_rq * 1000:,.1f} ms beside "
            f"{TARGET_RATE} calls/s (target < {TARGET_P99_S * 1000:.0f} ms), "
            f"{loaded.missing} jobs not started"
        )
    if failures:
        missed.append(f"workers exited during the run: {failures}")
    for failure in missed:
        print(f"FAIL: {failure}")
    return 1 if missed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started is stopped by now
        sys.exit("interrupted")
