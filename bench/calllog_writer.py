"""The call-log writer's throughput and lag behind the event stream, at 20 and
100 calls/s, on SQLite (WAL) and PostgreSQL.

Every move of a call appends an event to the Redis stream (`Keys.events`); the
worker's writer thread (`cli.worker._writer_step`) follows it into SQL with
`calllog.writer.drain_events`, which also trims what it applied. If the writer
falls behind, the call list, the timelines and today's figures on the
wallboard lag, and the stream grows in Redis's memory. This measures how far
behind it stays at a steady load, and how much headroom it has.

The load is made of whole calls driven through the real store
(`queues.store.RoutingStore`, the scripts the webhooks run), in a process of
its own, in the app's order: `start_call`, two IVR notes (a key pressed, the
menu leaf chosen), `enqueue`, `match` (an offer to one of the bench's
hotliners), `set_offer_leg`, `accept`, `bridge`, `hang_up` with the hotline's
wrap-up, `record_outcome` (which frees the hotliner, who is offered the next
caller). A call lasts ~3.5 s (menu 1 s, ring 0.4 s, talk 1.5 s, outcome 0.5 s
later: compressed, the log's work per call does not depend on it); calls start
at a steady rate (20 a second for 10 s, then 100 a second for 20 s; see
`SECONDS`; `--seconds` sets both), then those in flight finish. About 11
events a call, so ~220 and ~1,100 events/s.

The writer runs in another process, through the worker's own code
(`cli.worker._loop` over `_writer_step`: `drain_events` until it returns 0,
then `XREAD BLOCK` 250 ms for the next entry, and after one arrives a
0.1 s wait so the next moment's events share its transaction). Measured:

- events/s produced (`XINFO STREAM` entries-added) and written;
- writer lag, sampled every 100 ms while calls flow: events not yet in SQL
  (stream entries after the offset committed in `stream_offsets`) and the age
  of the oldest of them (s), p50/p99/max;
- per batch: `session.commit()` time (the last flush + COMMIT) p50/p99,
  events a batch, SQL statements an event;
- the writer's own rate: events per second of its batches' time (each from
  its XRANGE to the end of its COMMIT), and that time as a share of the run
  (its headroom). A writer still draining a backlog when the run ends is
  stopped there (killed in the middle of its drain: the next run starts on
  an empty Redis).

Baseline, same engine, same run: a bare SQLAlchemy insert of as many
CallEvent rows into `call_events`, one executemany and one transaction per
batch of the writer's batch size (500); printed: the writer's own rate over
the bare one. Beside it, the same insert in batches of the size the writer
actually had in that run (a few events at 20 calls/s): the floor of its
transactions alone.

Targets (exit 1 naming each one missed), at 20 calls/s on every database:
lag p99 < 5 s, and the writer keeping up (every event produced is in SQL
within those 5 s of the last one: written >= produced). At 100 calls/s,
whether it keeps up is reported, not judged.

SQLite: a file in a temporary folder (WAL, as `calllog.db.create_db_engine`
opens it), migrated with `calllog.db.upgrade`. PostgreSQL: with
`--database-url`, or at this machine's default URL when it answers, a
database `hotline_bench_<hex>` is created there and dropped at the end, even
on failure (`--sqlite-only` skips it).

    python bench/calllog_writer.py                # own Valkey; SQLite, PostgreSQL
    python bench/calllog_writer.py --seconds 60 \\
        --redis-url redis://127.0.0.1:6379 --db 15 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

`bench/rq_latency.py` imports `call_load` to put the same load beside RQ.
(Not named `calllog.py`: run as a script, bench/ comes first on sys.path,
and such a file would hide the `calllog` package from every bench.)
"""

from __future__ import annotations

import argparse
import functools
import heapq
import inspect
import itertools
import math
import multiprocessing as mp
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from redis.typing import KeyT, ResponseT, StreamIdT  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from agents.lifecycle import AgentState  # noqa: E402
from bench.harness import Figure, percentile, record, redis_server  # noqa: E402
from calllog.buckets import DEFAULT_TZ  # noqa: E402
from calllog.db import create_db_engine, upgrade  # noqa: E402
from calllog.models import Call, CallEvent, StreamOffset  # noqa: E402
from calllog.writer import OFFSET_NAME, drain_events  # noqa: E402
from core.keys import Keys  # noqa: E402
from queues.call_context import path_field, path_value  # noqa: E402
from queues.lifecycle import EventType  # noqa: E402
from queues.routing import QueueRule  # noqa: E402
from queues.store import Offer, OutcomeRecorded, RoutingStore  # noqa: E402

RATES = (20, 100)  # calls started per second; the targets hold at the first
#: Seconds of calls at each rate unless `--seconds` says. At 20 calls/s the
#: writer is a fifth to half busy and its lag is flat (~0.15 s): 10 s give
#: 100 lag samples and 2,200 events. At 100 calls/s what counts is whether it
#: keeps up, i.e. a backlog drained within 5 s of the last event: a writer
#: short by a quarter of the rate only shows it after ~20 s of load.
SECONDS = {20: 10.0, 100: 20.0}
TARGET_RATE = 20
LAG_TARGET_S = 5.0
SAMPLE_S = 0.1
#: The writer's batch, as the worker calls it (`drain_events`'s default).
BATCH = cast(int, inspect.signature(drain_events).parameters["batch"].default)
#: A load running later than this (p99) is not the steady rate it claims.
LATE_WARN_MS = 500
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

QUEUES = ("bench-printer", "bench-network", "bench-email")  # none of config/
RULES = [QueueRule(q, 1, 0, 1) for q in QUEUES]
RING_MS = 15_000  # config/hotline.yaml ring_seconds
WRAPUP_MS = 60_000  # config/hotline.yaml wrapup_seconds (the outcome ends it)
HOTLINE_NUMBER = "+33180000000"
# A call's timeline, seconds (compressed; see the docstring).
IVR_KEY_AT = 0.4  # a key pressed at the main menu
IVR_CHOICE_AT = 0.8  # the menu leaf that queues the caller
ENQUEUE_AT = 1.0
LEG_AFTER = 0.1  # the carrier's answer placing the hotliner's leg
ANSWER_AFTER = 0.4  # the hotliner picks up
BRIDGE_AFTER = 0.1  # the caller joins the conference
TALK_S = 1.5
OUTCOME_AFTER = 0.5  # the hotliner gives the outcome during wrap-up
#: How long a hotliner is taken by one call (offer to outcome).
HOTLINER_BUSY_S = ANSWER_AFTER + BRIDGE_AFTER + TALK_S + OUTCOME_AFTER
CALL_S = ENQUEUE_AT + HOTLINER_BUSY_S
PREFIX = Keys().prefix  # the app's keys: a worker beside the load drains them


# -- the load: whole calls through the store, at a steady rate ----------------


@dataclass(frozen=True, slots=True)
class LoadSpec:
    redis_url: str
    rate: float  # calls started per second
    seconds: float  # for this long; then the calls in flight finish
    run: str  # call and hotliner ids of this load start with it
    prefix: str = PREFIX
    seed: int = 7

    @property
    def hotliners(self) -> int:
        """Enough for every call to be offered at once (30 % spare)."""
        return math.ceil(self.rate * HOTLINER_BUSY_S * 1.3) + 5


@dataclass(frozen=True, slots=True)
class LoadStats:
    started: int  # calls
    completed: int  # outcome recorded
    offers: int
    lost_offers: int  # accept refused (should be 0)
    began: float  # time.time() of the first call
    ended: float  # of the last event
    late_p99_ms: float  # how late the driver ran its steps (its own pace)
    late_max_ms: float


class CallDriver:
    """Runs every step of every call at its time, in one thread: a heap of
    (due, seq, step). Steps are scheduled from their due time, not from when
    they ran, so a late step does not slow the rate down."""

    def __init__(self, store: RoutingStore, spec: LoadSpec) -> None:
        self.store = store
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.heap: list[tuple[float, int, Callable[[float], None]]] = []
        self.seq = itertools.count()
        self.late: list[float] = []
        self.started = self.completed = self.offers = self.lost = 0
        self.agents = [f"ag-{spec.run}-{i:04d}" for i in range(spec.hotliners)]

    def log_in(self) -> None:
        """The bench's hotliners, available in every bench queue (before the
        measured part: their events are drained first)."""
        lines = [(q, 3) for q in QUEUES]
        for agent in self.agents:
            self.store.agents.set_state(agent, AgentState.AVAILABLE, lines)

    def at(self, due: float, step: Callable[[float], None]) -> None:
        heapq.heappush(self.heap, (due, next(self.seq), step))

    def run(self) -> LoadStats:
        total = round(self.spec.rate * self.spec.seconds)
        t0 = time.time()
        ended = t0
        step: Callable[[float], None]
        while self.heap or self.started < total:
            next_call = t0 + self.started / self.spec.rate
            if self.started < total and (not self.heap or next_call < self.heap[0][0]):
                due, step = next_call, self.call
            else:
                due, _, step = heapq.heappop(self.heap)
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            self.late.append(max(0.0, -wait))
            step(due)
            ended = time.time()
        return LoadStats(
            started=self.started,
            completed=self.completed,
            offers=self.offers,
            lost_offers=self.lost,
            began=t0,
            ended=ended,
            late_p99_ms=percentile(self.late, 0.99) * 1000,
            late_max_ms=max(self.late, default=0.0) * 1000,
        )

    # -- the steps of one call (the webhooks' store calls, in their order) ----

    def call(self, due: float) -> None:
        sid = f"CA{self.spec.run}{self.started:08d}"
        self.started += 1
        number = f"+336{self.rng.randrange(10**8):08d}"
        self.store.start_call(sid, number, HOTLINE_NUMBER, "fr-FR")
        self.at(due + IVR_KEY_AT, functools.partial(self.key_pressed, sid))
        self.at(due + IVR_CHOICE_AT, functools.partial(self.chose, sid))
        self.at(due + ENQUEUE_AT, functools.partial(self.enqueue, sid))

    def key_pressed(self, sid: str, _due: float) -> None:
        field = path_field(self.store.clock())
        self.store.note_facts(
            sid, EventType.IVR_NOTE, {field: path_value("main", "key", "4")}
        )

    def chose(self, sid: str, _due: float) -> None:
        self.store.note_call(
            sid, EventType.IVR_CHOICE, ivr_choice="file_messagerie", lang="fr-FR"
        )

    def enqueue(self, sid: str, due: float) -> None:
        queue = self.rng.choice(QUEUES)
        priority = 5 if self.rng.random() < 0.1 else 0
        self.store.enqueue(sid, queue, priority)
        self.dispatch(due)

    def dispatch(self, due: float) -> None:
        """`handoff.offer_waiting_callers`: match until nobody can be offered."""
        while (offer := self.store.match(RULES, RING_MS)) is not None:
            self.offers += 1
            leg = f"CA{uuid.uuid4().hex}"
            self.at(due + LEG_AFTER, functools.partial(self.leg_placed, offer, leg))
            self.at(due + ANSWER_AFTER, functools.partial(self.answer, offer, leg))

    def leg_placed(self, offer: Offer, leg: str, _due: float) -> None:
        self.store.set_offer_leg(offer, leg)

    def answer(self, offer: Offer, leg: str, due: float) -> None:
        if self.store.accept(offer.offer_id, leg) is None:
            self.lost += 1
            return
        self.at(due + BRIDGE_AFTER, functools.partial(self.bridge, offer.call_sid))
        self.at(
            due + BRIDGE_AFTER + TALK_S,
            functools.partial(self.hang_up, offer.call_sid),
        )
        self.at(
            due + BRIDGE_AFTER + TALK_S + OUTCOME_AFTER,
            functools.partial(self.outcome, offer.call_sid, offer.agent_id),
        )

    def bridge(self, sid: str, _due: float) -> None:
        self.store.bridge(sid)

    def hang_up(self, sid: str, _due: float) -> None:
        self.store.hang_up(sid, "completed", wrapup_ms=WRAPUP_MS)

    def outcome(self, sid: str, agent: str, due: float) -> None:
        result = self.store.record_outcome(
            sid,
            agent,
            "resolved",
            "Outlook ne synchronisait plus : profil recréé, OK.",
            details={"remote": "TeamViewer"},
        )
        self.completed += 1
        if result is OutcomeRecorded.AGENT_FREED:
            self.dispatch(due)


def run_load(spec: LoadSpec, ready: Event, go: Event, out: Connection) -> None:
    """A load process: log the hotliners in, wait for `go`, drive the calls,
    send the `LoadStats` (as a dict) back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the bench stops it
    client = redis.Redis.from_url(spec.redis_url)
    driver = CallDriver(RoutingStore(client, Keys(prefix=spec.prefix)), spec)
    driver.log_in()
    ready.set()
    go.wait()
    out.send(asdict(driver.run()))
    client.close()


class CallLoad:
    """A load process started by `call_load`."""

    def __init__(self, spec: LoadSpec) -> None:
        ctx = mp.get_context("spawn")
        self.spec = spec
        self.ready = ctx.Event()
        self._go = ctx.Event()
        self._results, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(
            target=run_load,
            args=(spec, self.ready, self._go, child),
            name="bench-call-load",
            daemon=True,
        )

    def go(self) -> None:
        self._go.set()

    def done(self) -> bool:
        return self._results.poll()

    def result(self, timeout: float) -> LoadStats:
        try:
            if self._results.poll(timeout):
                return LoadStats(**self._results.recv())
        except EOFError:  # it died: its traceback is on stderr
            pass
        raise SystemExit("the call load did not finish: the bench is broken")


@contextmanager
def call_load(
    redis_url: str,
    rate: float,
    seconds: float,
    *,
    prefix: str = PREFIX,
    seed: int = 7,
) -> Iterator[CallLoad]:
    """Calls at `rate` a second for `seconds`, from a process of their own,
    hotliners logged in when this yields; they start at `load.go()`."""
    spec = LoadSpec(redis_url, rate, seconds, uuid.uuid4().hex[:6], prefix, seed)
    load = CallLoad(spec)
    load.process.start()
    try:
        if not load.ready.wait(60):
            raise SystemExit("the call load did not start: the bench is broken")
        yield load
    finally:
        if load.process.is_alive():
            load.process.terminate()
        load.process.join(5)


# -- the writer, as the worker runs it -----------------------------------------


class TimedRedis(redis.Redis):
    """The writer's client. `drain_events` reads each batch with one XRANGE
    and then commits it: an XRANGE that returns entries opens a batch, the
    next commit closes it."""

    opened: tuple[float, float, int, int] | None = None  # wall, perf, entries, SQL

    statements = 0  # SQL statements so far (counted by an engine event)

    def xrange(
        self,
        name: KeyT,
        min: StreamIdT = "-",
        max: StreamIdT = "+",
        count: int | None = None,
    ) -> ResponseT:
        entries = super().xrange(name, min, max, count)
        if entries:
            self.opened = (
                time.time(),
                time.perf_counter(),
                len(cast(list[Any], entries)),
                self.statements,
            )
        return entries


def run_writer(
    redis_url: str,
    prefix: str,
    database_url: str,
    stop: Event,
    out: Connection,
) -> None:
    """The worker's writer thread, run by the worker's own code
    (`cli.worker._loop` over `cli.worker._writer_step`) until `stop`; sends
    one `Batch` (as a tuple) per batch committed, as it goes (a drain of a
    long backlog returns only when it is done)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the bench stops it
    from cli.worker import _loop, _writer_step
    from queues.runtime import Runtime

    client = TimedRedis(connection_pool=redis.ConnectionPool.from_url(redis_url))
    keys = Keys(prefix=prefix)
    engine = create_db_engine(database_url)
    commit_began = [0.0]

    def before_commit(_session: Session) -> None:
        commit_began[0] = time.perf_counter()

    def after_commit(_session: Session) -> None:
        now = time.perf_counter()
        if client.opened is None:
            return
        wall, began, entries, statements = client.opened
        client.opened = None
        out.send(
            (
                wall,
                now - began,
                entries,
                now - commit_began[0],
                client.statements - statements,
            )
        )

    def count(*_args: Any) -> None:
        client.statements += 1

    event.listen(Session, "before_commit", before_commit)
    event.listen(Session, "after_commit", after_commit)
    event.listen(engine, "before_cursor_execute", count)
    # What `_writer_step` reads of the worker's runtime.
    runtime = cast(
        Runtime,
        SimpleNamespace(
            redis=client,
            keys=keys,
            routing=SimpleNamespace(hotline=SimpleNamespace(timezone=DEFAULT_TZ)),
            # One stream: live state not split by routing group.
            store=SimpleNamespace(group_names=()),
        ),
    )
    # `_loop` only asks its event is_set() and wait(): a process's will do.
    _loop(
        "call log writer",
        lambda: _writer_step(runtime, engine),
        cast(threading.Event, stop),
    )
    engine.dispose()
    client.close()


@dataclass(frozen=True, slots=True)
class Batch:
    """One batch of the writer, from its XRANGE to the end of its COMMIT."""

    at: float  # time.time() at its XRANGE
    seconds: float
    events: int
    commit_s: float  # `session.commit()`: the last flush and COMMIT
    statements: int  # SQL statements


@dataclass(frozen=True, slots=True)
class WriterStats:
    batches: list[Batch]
    start: float  # the window they are counted in (time.time())
    end: float

    @property
    def written(self) -> int:
        return sum(b.events for b in self.batches)

    @property
    def busy_s(self) -> float:
        """Time spent on batches, within the window."""
        return sum(
            max(0.0, min(b.at + b.seconds, self.end) - max(b.at, self.start))
            for b in self.batches
        )

    @property
    def own_rate(self) -> float:
        """Events a second of batch time: what the writer does when busy."""
        took = sum(b.seconds for b in self.batches)
        return self.written / took if took else 0.0

    @property
    def statements(self) -> int:
        return sum(b.statements for b in self.batches)

    @property
    def commit_s(self) -> list[float]:
        return [b.commit_s for b in self.batches]


class WriterProcess:
    """The writer in a process of its own (`run_writer`), its batches
    collected as they come."""

    def __init__(self, redis_url: str, prefix: str, database_url: str) -> None:
        ctx = mp.get_context("spawn")
        self._stop = ctx.Event()
        self._results, child = ctx.Pipe(duplex=False)
        self.batches: list[Batch] = []
        self.process = ctx.Process(
            target=run_writer,
            args=(redis_url, prefix, database_url, self._stop, child),
            name="bench-calllog-writer",
            daemon=True,
        )

    def collect(self) -> None:
        try:
            while self._results.poll():
                self.batches.append(Batch(*self._results.recv()))
        except EOFError:  # it has exited: all it sent is in
            pass

    def stop(self) -> None:
        """Stop it: at once when idle, else killed in the middle of a drain
        (what it committed is in SQL; the rest of the stream is dropped)."""
        self._stop.set()
        deadline = time.monotonic() + 1
        while self.process.is_alive() and time.monotonic() < deadline:
            self.collect()
            self.process.join(0.05)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        self.collect()

    def stats(self, start: float, end: float) -> WriterStats:
        """Batches begun within the window, their busy time clipped to it."""
        return WriterStats(
            [b for b in self.batches if start <= b.at <= end], start, end
        )


@contextmanager
def writer_process(
    redis_url: str, prefix: str, database_url: str
) -> Iterator[WriterProcess]:
    """Start the writer (the load starts beside it while it imports); stopped
    at the end whatever happens."""
    writer = WriterProcess(redis_url, prefix, database_url)
    writer.process.start()
    try:
        yield writer
    finally:
        writer.stop()


# -- one measured run -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Lag:
    pending: int  # events in the stream not yet in SQL
    age_s: float  # of the oldest of them


class LagProbe:
    """Events not yet in SQL: the stream's entries after the offset the
    writer committed (it keeps the last applied entry when it trims)."""

    def __init__(self, client: redis.Redis, engine: sa.Engine, keys: Keys) -> None:
        self.client = client
        self.engine = engine
        self.keys = keys
        self.query = sa.select(StreamOffset.last_id).where(
            StreamOffset.name == OFFSET_NAME
        )

    def __call__(self) -> Lag:
        with self.engine.connect() as conn:
            last = conn.scalar(self.query) or "0-0"
        pipe = self.client.pipeline(transaction=True)
        pipe.xlen(self.keys.events)
        pipe.xrange(self.keys.events, "-", last, count=BATCH + 2)
        pipe.xrange(self.keys.events, f"({last}", "+", count=1)
        length, applied, oldest = pipe.execute()
        pending = max(0, int(length) - len(applied))
        if not pending or not oldest:
            return Lag(0, 0.0)
        at_ms = int(oldest[0][0].split(b"-")[0])
        return Lag(pending, max(0.0, time.time() - at_ms / 1000))

    def added(self) -> int:
        """Entries ever appended to the stream."""
        info = cast(dict[str, Any], self.client.xinfo_stream(self.keys.events))
        return int(info["entries-added"])


@dataclass(frozen=True, slots=True)
class Result:
    database: str
    rate: int
    load: LoadStats
    produced: int
    written: int
    span_s: float  # first call to last event
    run_s: float  # first call to caught up, or to the end of the grace
    caught_up_s: float | None  # after the last event; None: not within the grace
    pending_end: int
    lags: list[Lag]
    writer: WriterStats
    bare_per_s: float  # batches of BATCH
    bare_own_batch_per_s: float  # batches of the writer's mean size in this run
    logged_calls: int  # completed calls the call log holds

    @property
    def produced_per_s(self) -> float:
        return self.produced / self.span_s

    @property
    def written_per_s(self) -> float:
        return self.written / self.run_s

    @property
    def writer_per_s(self) -> float:
        """The writer's own rate: events per second of its batches' time."""
        return self.writer.own_rate

    @property
    def kept_up(self) -> bool:
        return self.caught_up_s is not None and self.written >= self.produced

    def lag_q(self, q: float) -> tuple[float, float]:
        """(events, seconds) at quantile q of the samples."""
        return (
            percentile([float(x.pending) for x in self.lags], q),
            percentile([x.age_s for x in self.lags], q),
        )


def measure(
    redis_url: str, database_url: str, kind: str, rate: int, seconds: float, seed: int
) -> Result:
    """One load at `rate` against a fresh writer process; then the bare insert."""
    keys = Keys()
    client = redis.Redis.from_url(redis_url)
    engine = create_db_engine(database_url)
    probe = LagProbe(client, engine, keys)
    try:
        with (
            writer_process(redis_url, keys.prefix, database_url) as process,
            call_load(redis_url, rate, seconds, seed=seed) as load,
        ):

            def drained() -> bool:
                process.collect()
                return probe().pending == 0

            wait_until(drained, 90, "the logins to be written")
            added0 = probe.added()
            load.go()
            lags: list[Lag] = []
            while not load.done():
                t = time.monotonic()
                lags.append(probe())
                process.collect()
                time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - t)))
            stats = load.result(5)
            produced = probe.added() - added0
            caught_up: float | None = None
            while time.time() < stats.ended + LAG_TARGET_S:
                if drained():
                    caught_up = max(0.0, time.time() - stats.ended)
                    break
                time.sleep(0.02)
            pending_end = probe().pending
            finished = time.time()
            process.stop()
            writer = process.stats(stats.began, finished)
        with Session(engine) as session:
            logged = session.scalar(
                sa.select(sa.func.count())
                .select_from(Call)
                .where(Call.call_sid.like(f"CA{load.spec.run}%"))
                .where(Call.status == "completed")
            )
        count = produced - pending_end
        bare = bare_insert(engine, count, BATCH)
        own_batch = round(writer.written / max(1, len(writer.batches)))
        bare_own = bare_insert(engine, count, max(1, own_batch))
    finally:
        engine.dispose()
        client.flushdb()  # the next run starts on an empty stream, no hotliners
        client.close()
    return Result(
        database=kind,
        rate=rate,
        load=stats,
        produced=produced,
        written=produced - pending_end,
        span_s=stats.ended - stats.began,
        run_s=finished - stats.began,
        caught_up_s=caught_up,
        pending_end=pending_end,
        lags=lags,
        writer=writer,
        bare_per_s=bare,
        bare_own_batch_per_s=bare_own,
        logged_calls=int(logged or 0),
    )


def wait_until(ok: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ok():
        if time.monotonic() > deadline:
            raise SystemExit(f"waited {timeout:.0f} s for {what}: the bench is broken")
        time.sleep(0.05)


def bare_insert(engine: sa.Engine, count: int, batch: int) -> float:
    """The floor: `count` CallEvent rows, one executemany (and one
    transaction) per `batch` rows; rows per second."""
    run = uuid.uuid4().hex[:6]
    now = datetime.now(UTC)
    rows = [
        {
            "stream_id": f"bare-{run}-{i}",
            "type": "enqueued",
            "call_sid": f"CAbare{run}{i // 11:08d}",
            "agent_id": None,
            "at": now,
            "data": {"queue": "bench-printer", "priority": "0"},
        }
        for i in range(count)
    ]
    statement = sa.insert(CallEvent)
    t0 = time.perf_counter()
    for start in range(0, count, batch):
        with engine.begin() as conn:
            conn.execute(statement, rows[start : start + batch])
    took = time.perf_counter() - t0
    return count / took if took else 0.0


# -- databases ----------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="hotline-bench-") as folder:
        yield f"sqlite:///{folder}/calllog.sqlite3"


@contextmanager
def postgres_database(url: str) -> Iterator[str]:
    """A throw-away database `hotline_bench_<hex>` on that server, dropped
    at the end whatever happens (its connections closed by force)."""
    name = f"hotline_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg"),
        isolation_level="AUTOCOMMIT",
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_answers(url: str) -> bool:
    engine = sa.create_engine(
        sa.make_url(url).set(drivername="postgresql+psycopg"),
        connect_args={"connect_timeout": 2},
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


@contextmanager
def database(kind: str, server: str | None) -> Iterator[str]:
    """A migrated, empty call log of that kind."""
    made = postgres_database(server) if kind == "postgresql" and server else None
    with made if made is not None else sqlite_database() as url:
        upgrade(url)
        yield url


# -- report ---------------------------------------------------------------------


def times(ratio: float) -> str:
    """A ratio with two significant digits however small (0.0043x)."""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def report(result: Result) -> tuple[list[Figure], list[str]]:
    """Print one run; its headline figures and the targets it missed."""
    r = result
    lag50, lag99 = r.lag_q(0.50), r.lag_q(0.99)
    lagmax = (
        max((x.pending for x in r.lags), default=0),
        max((x.age_s for x in r.lags), default=0.0),
    )
    per_batch = r.writer.written / max(1, len(r.writer.batches))
    busy_share = r.writer.busy_s / r.run_s
    per_event = r.writer.statements / max(1, r.writer.written)
    ratio = r.writer_per_s / r.bare_per_s if r.bare_per_s else float("nan")
    own_ratio = r.writer_per_s / r.bare_own_batch_per_s
    where = f"{r.database}, {r.rate} calls/s"
    print(f"-- {where}: {r.load.started:,} calls over {r.span_s:.1f} s")
    print(
        f"   produced {r.produced:,} events, {r.produced_per_s:,.0f}/s "
        f"({r.load.completed:,} calls completed, {r.logged_calls:,} of them "
        f"in the log; driver late p99 {r.load.late_p99_ms:.0f} ms, "
        f"max {r.load.late_max_ms:.0f} ms)"
    )
    if r.load.lost_offers:
        print(f"   WARNING: {r.load.lost_offers} offers lost (accept refused)")
    if r.load.late_p99_ms > LATE_WARN_MS:
        print(
            f"   WARNING: the load ran behind its schedule (p99 "
            f"{r.load.late_p99_ms / 1000:.1f} s late): the machine is too busy "
            "for these figures to be the writer's"
        )
    caught = (
        f"all in SQL {r.caught_up_s:.2f} s after the last event"
        if r.caught_up_s is not None
        else f"{r.pending_end:,} still not in SQL {LAG_TARGET_S:.0f} s after "
        "the last event"
    )
    print(
        f"   written  {r.written:,} events, {r.written_per_s:,.0f}/s; {caught}: "
        f"{'keeps up' if r.kept_up else 'does NOT keep up'}"
    )
    print(
        f"   lag, {len(r.lags)} samples every {SAMPLE_S * 1000:.0f} ms: events not "
        f"in SQL p50 {lag50[0]:,.0f} / p99 {lag99[0]:,.0f} / max {lagmax[0]:,}; "
        f"oldest's age p50 {lag50[1]:.2f} / p99 {lag99[1]:.2f} / "
        f"max {lagmax[1]:.2f} s"
    )
    commits = r.writer.commit_s
    print(
        f"   {len(commits):,} batches, {per_batch:,.1f} events each; commit "
        f"(last flush + COMMIT) p50 {percentile(commits, 0.5) * 1000:.1f} / p99 "
        f"{percentile(commits, 0.99) * 1000:.1f} ms; {per_event:.1f} SQL "
        "statements an event"
    )
    print(
        f"   writer's own rate {r.writer_per_s:,.0f} events/s "
        f"(busy {busy_share:.0%} of the run); bare insert {r.bare_per_s:,.0f} "
        f"rows/s in batches of {BATCH}: writer/bare {times(ratio)}; in batches "
        f"of {round(per_batch)} (the writer's here) {r.bare_own_batch_per_s:,.0f} "
        f"rows/s: {times(own_ratio)}"
    )
    figures = [
        Figure(
            f"call-log writer rate, {where}",
            f"{r.writer_per_s:,.0f} events/s ({r.produced_per_s:,.0f}/s produced)",
            baseline=f"bare insert {r.bare_per_s:,.0f} rows/s",
            ratio=times(ratio),
        )
    ]
    missed: list[str] = []
    if r.rate == TARGET_RATE:
        lag_ok = lag99[1] < LAG_TARGET_S
        print(
            f"   target lag p99 < {LAG_TARGET_S:.0f} s: {lag99[1]:.2f} s "
            f"{'PASS' if lag_ok else 'FAIL'}; target written >= produced: "
            f"{r.written:,} >= {r.produced:,} {'PASS' if r.kept_up else 'FAIL'}"
        )
        figures += [
            Figure(
                f"call-log lag p99, {where}",
                f"{lag99[1]:.2f} s ({lag99[0]:,.0f} events)",
                f"< {LAG_TARGET_S:.0f} s",
                lag_ok,
            ),
            Figure(
                f"call-log events written / produced, {where}",
                f"{r.written:,} / {r.produced:,}",
                "written >= produced",
                r.kept_up,
            ),
        ]
        if not lag_ok:
            missed.append(
                f"{where}: writer lag p99 {lag99[1]:.2f} s (target < "
                f"{LAG_TARGET_S:.0f} s)"
            )
        if not r.kept_up:
            missed.append(
                f"{where}: the writer does not keep up ({r.written:,} of "
                f"{r.produced:,} events written)"
            )
    else:
        figures.append(
            Figure(
                f"call-log writer keeps up, {where}",
                f"{'yes' if r.kept_up else 'no'}: lag p99 {lag99[1]:.2f} s, "
                f"{r.written:,} / {r.produced:,} written",
            )
        )
    return figures, missed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        help="of calls at each rate (default: "
        + ", ".join(f"{s:g} s at {r}/s" for r, s in SECONDS.items())
        + ")",
    )
    parser.add_argument("--redis-url", help="use this server (default: own Valkey)")
    parser.add_argument("--db", type=int, default=15, help="DB index with --redis-url")
    parser.add_argument(
        "--database-url",
        help=f"PostgreSQL server for the throw-away database (default: "
        f"{DEFAULT_POSTGRES} when it answers)",
    )
    parser.add_argument("--sqlite-only", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # cleanups run
    began = time.monotonic()
    kinds: list[tuple[str, str | None]] = [("sqlite", None)]
    if not args.sqlite_only:
        server = args.database_url or DEFAULT_POSTGRES
        if args.database_url or postgres_answers(server):
            kinds.append(("postgresql", server))
        else:
            print(f"PostgreSQL does not answer at {server}: SQLite only")
    figures: list[Figure] = []
    missed: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="hotline-bench-") as folder,
        redis_server(args.redis_url, args.db, Path(folder)) as (url, _pid),
    ):
        info = cast(dict[str, Any], redis.Redis.from_url(url).info("server"))
        print(
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
            f"{info.get('server_name', 'redis')} "
            f"{info.get('valkey_version') or info.get('redis_version')}; writer "
            f"batches of {BATCH}; a call ~{CALL_S:.1f} s, "
            + (
                f"{args.seconds:g} s of calls at each rate"
                if args.seconds
                else ", ".join(f"{s:g} s of calls at {r}/s" for r, s in SECONDS.items())
            )
        )
        for kind, server in kinds:
            with database(kind, server) as db_url:
                engine = sa.make_url(db_url)
                print(f"== {kind} ({engine.render_as_string(hide_password=True)})")
                for rate in RATES:
                    seconds = args.seconds or SECONDS[rate]
                    result = measure(url, db_url, kind, rate, seconds, args.seed)
                    got, failed = report(result)
                    figures += got
                    missed += failed
    print(
        f"bench took {time.monotonic() - began:.0f} s; load average "
        f"{os.getloadavg()[0]:.2f} at the end"
    )
    for failure in missed:
        print(f"FAIL: {failure}")
    record("bench/calllog_writer.py", figures)
    return 1 if missed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # everything started is stopped by now
        sys.exit("interrupted")
