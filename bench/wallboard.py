"""Supervisors' wallboards under load: 50 of them on SSE while calls come in.

N supervisors log in through the login form and keep the wallboard's feed
open (`GET /supervisor/events` on the feed's processes, as the page does),
while the carrier simulator places Poisson callers at `--rate` (20/s) who
go to a queue and are answered by simulated hotliners.

Measured on the whole hotline as `hotline run` runs it (`bench.console`'s
stack: the web's gunicorn, the feed's own gunicorn, an RQ worker, its own
Valkey, SQLite in a temporary folder):

- **update latency**: every board names the event-stream position it shows
  (`cursor`); for every event of the measured calls and every wallboard, the
  time from the event (its stream id's milliseconds, the Redis server's
  clock, this machine's) to the arrival of the first board at or past it.
  Target: p99 < 1 s;
- **voice webhooks' answer times** as the simulator saw them, with and
  without the wallboards. One stack, one steady stream of callers, in
  phases of `--phase-seconds` (6): the wallboards' feeds are open in some
  and closed in the others, in the order ABBA repeated (A without, B with) so
  the drift of the machine and of the hotline's state (a call log that
  grows) weighs on both sides alike; each phase's first second (the feeds
  opening or closing) is left out on both sides. Every phase replays the
  same callers (one phase's Poisson gaps, talk times and menu keys, drawn
  once), after a ramp phase of the same callers not measured: drawn anew
  for each phase, at seed 1 the phases with wallboards carried 2,913-2,927
  webhooks against 2,313-2,327 without, the first "without" phase being the
  stack's ramp (389-391 webhooks against about 650 in a steady phase), and the
  ratio compared loads as much as wallboards. Target: p99 with
  < 1.10x without. (Separate stacks per side, as before, swung from 2.32x
  to 0.78x on the same code minutes apart: a p99 of 30-50 ms on two cores
  shared with the load generator moves by tens of ms between runs.)

    python bench/wallboard.py              # 50 wallboards, 20 calls/s, 16 phases of 6 s
    python bench/wallboard.py --wallboards 5 --rate 5 --phases 4  # a look
"""

from __future__ import annotations

import argparse
import bisect
import gc
import json
import logging
import multiprocessing
import os
import random
import re
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import redis
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.console import (  # noqa: E402
    MENU_KEYS,
    PATIENCE,
    WARMUP_CALLS,
    WARMUP_TALK,
    WEBHOOK_LIMIT,
    LoginRefused,
    Scenario,
    add_hotliner,
    hotline,
    log_in,
    place_calls,
    timed_out_path,
)
from bench.harness import Figure, percentile, record, sleep_until  # noqa: E402
from core.keys import Keys  # noqa: E402
from simulator.scripts import CallerScript, Digits  # noqa: E402

UPDATE_TARGET_S = 1.0
WEBHOOK_RATIO_TARGET = 1.10
OPEN_SECONDS = 30.0
#: A board: when it arrived (ms, this machine's clock) and the stream id it shows.
Board = tuple[float, str]


def stream_ms(stream_id: str) -> int:
    return int(stream_id.split("-", 1)[0])


def id_key(stream_id: str) -> tuple[int, int]:
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)


#: The board's stream position, as `sse` writes it (`json.dumps`' default
#: separators). A screen parses the whole board; the bench needs only this,
#: and parsing fifty boards a beat in one Python process on the server's
#: cores would weigh on what is measured.
CURSOR = re.compile(rb'"cursor": "([0-9]+-[0-9]+)"')


def board_cursor(line: bytes) -> str:
    found = CURSOR.search(line)
    if found is None:  # a board without one: parse it to say why
        return str(json.loads(line[6:]).get("cursor", ""))
    return found.group(1).decode()


class WallboardFeed(threading.Thread):
    """One wallboard's `/supervisor/events`: each board's arrival and cursor."""

    def __init__(self, feed_url: str, session: requests.Session) -> None:
        super().__init__(daemon=True)
        self.url = feed_url
        self.session = session
        self.connected = threading.Event()
        self.boards: list[Board] = []
        self.errors: list[str] = []
        self._response: requests.Response | None = None
        self._closing = False

    def run(self) -> None:
        try:
            response = self.session.get(
                f"{self.url}/supervisor/events", stream=True, timeout=(10, 60)
            )
            self._response = response
            if response.status_code != 200:
                self.errors.append(f"HTTP {response.status_code}")
                return
            buffer = b""
            for chunk in response.iter_content(chunk_size=None):
                received = time.time() * 1000
                buffer += chunk
                while b"\n\n" in buffer:
                    message, buffer = buffer.split(b"\n\n", 1)
                    for line in message.split(b"\n"):
                        if line.startswith(b"data: "):
                            self.boards.append((received, board_cursor(line)))
                            self.connected.set()
        except Exception as exc:  # noqa: BLE001 - reported
            if not self._closing:
                self.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    def close(self) -> None:
        self._closing = True
        if self._response is not None:
            with suppress(Exception):
                self._response.raw.shutdown()
        self.join(2.0)


def run_wallboards(url: str, feed_url: str, names: list[str], conn: Connection) -> None:
    """The wallboards' own process (their screens are other machines): logs
    every supervisor in once, then opens and closes their feeds on command.

    It runs at the lowest CPU priority: fifty screens' worth of reading is
    other machines' work, and on the cores the hotline answers on it would
    be counted as the feed's cost."""
    os.nice(19)
    gc.disable()
    sessions = []
    for n, name in enumerate(names):
        try:
            sessions.append(log_in(url, name, 200 + n, timeout=30.0))
        except (LoginRefused, requests.RequestException) as exc:
            print(f"  {name} could not log in: {exc}", flush=True)
    conn.send(len(sessions))
    while conn.recv() == "open":
        feeds = [WallboardFeed(feed_url, session) for session in sessions]
        for feed in feeds:
            feed.start()
        opened = time.monotonic()
        deadline = opened + OPEN_SECONDS
        for feed in feeds:
            feed.connected.wait(max(0.0, deadline - time.monotonic()))
        conn.send(
            (sum(1 for f in feeds if f.connected.is_set()), time.monotonic() - opened)
        )
        conn.recv()  # close
        for feed in feeds:
            feed.close()
        conn.send([(list(f.boards), list(f.errors)) for f in feeds])
    for session in sessions:
        session.close()


class StreamTap(threading.Thread):
    """Notes every event id as it is written (the call-log writer trims the
    stream once it has applied them, so it cannot be read afterwards)."""

    def __init__(self, redis_url: str, start_id: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.cursor = start_id
        self.ids: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        key = Keys().events
        while not self.stopping.is_set():
            answer: Any = self.client.xread({key: self.cursor}, count=1000, block=100)
            for _, entries in answer or []:
                for raw, _ in entries:
                    self.ids.append(raw.decode())
                if entries:
                    self.cursor = entries[-1][0]

    def stop(self) -> list[str]:
        self.stopping.set()
        self.join(2.0)
        self.client.close()
        return self.ids


@dataclass
class Phase:
    """One phase of the run: the wallboards' feeds open in it or not."""

    loaded: bool
    connected: int = 0
    opening: float = 0.0  # s from the command to every feed's first board
    webhooks: list[float] = field(default_factory=list)  # s, once settled
    latencies: list[float] = field(default_factory=list)  # s, event -> screen
    unseen: int = 0  # (event, wallboard) pairs no board reached
    errors: list[str] = field(default_factory=list)
    events: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # s, once settled
    #: Each wallboard's boards and errors (the phases with them).
    boards: list[tuple[list[Board], list[str]]] = field(default_factory=list)


@dataclass
class Run:
    phases: list[Phase]
    late: float = 0.0  # s: p99 of how late the simulator placed the calls
    errors: list[str] = field(default_factory=list)  # the carrier's
    timeouts: int = 0  # webhooks not answered within Twilio's 15 s


def latencies(
    events: Sequence[str], boards: Sequence[Board], until_ms: float
) -> tuple[list[float], int]:
    """For each event, seconds until this wallboard showed it; and how many it
    never showed (events after its last board are left out if they came in
    the last second before `until_ms`)."""
    keys = [id_key(cursor) for _, cursor in boards if cursor]
    arrivals = [at for at, cursor in boards if cursor]
    # A board shows every event up to its cursor: the first board at or past
    # an event is the earliest that has it (cursors never go back).
    out, unseen = [], 0
    for event in events:
        i = bisect.bisect_left(keys, id_key(event))
        if i < len(keys):
            out.append(max(0.0, arrivals[i] - stream_ms(event)) / 1000)
        elif stream_ms(event) < until_ms - 1000:
            unseen += 1
    return out, unseen


def run(
    sc: Scenario,
    order: Sequence[bool],
    seconds: float,
    wallboards: int,
    redis_url: str | None,
    db: int,
) -> Run:
    """One stack, callers at `sc.rate` throughout, the wallboards' feeds open
    in the phases of `order` that say so, after a ramp phase not measured.

    Every phase, the ramp's too, replays one phase's callers: their Poisson
    gaps (scaled to fill the phase exactly), talk times and menu keys are
    drawn once, so the phases with wallboards and those without carry the
    same load and differ only by the wallboards and the machine's drift."""
    rng = random.Random(sc.seed)
    per_phase = sc.calls // (len(order) + 1)
    pattern = [rng.expovariate(sc.rate) for _ in range(per_phase)]
    stretch = seconds / sum(pattern)
    pattern = [gap * stretch for gap in pattern]
    pattern_talks = [rng.expovariate(1.0 / sc.talk) for _ in range(per_phase)]
    pattern_keys = [rng.choice(MENU_KEYS) for _ in range(per_phase)]
    numbers = [f"+33612{n:06d}" for n in range(per_phase * (len(order) + 1))]
    talks = {number: pattern_talks[n % per_phase] for n, number in enumerate(numbers)}
    keys = {number: pattern_keys[n % per_phase] for n, number in enumerate(numbers)}
    gaps = [pattern[n % per_phase] for n in range(len(numbers))]
    warm = [f"+33691{n:06d}" for n in range(WARMUP_CALLS)]
    talks |= dict.fromkeys(warm, WARMUP_TALK)
    names = [f"sup{n:02d}" for n in range(1, wallboards + 1)]
    run = Run(phases=[Phase(loaded) for loaded in order])
    with hotline(sc, redis_url, db, None, supervisors=names) as h, ExitStack() as on:
        context = multiprocessing.get_context("spawn")
        conn, child = context.Pipe()
        process = context.Process(
            target=run_wallboards,
            args=(h.url, h.feed_url, names, child),
            daemon=True,
        )
        process.start()
        on.callback(process.join, 10.0)
        on.callback(conn.send, "stop")
        if not conn.poll(OPEN_SECONDS + 30 * wallboards):
            raise SystemExit("the wallboards did not log in")
        logged_in = int(conn.recv())
        for agent in sc.agents():
            add_hotliner(h, sc, agent, talks)
        for number in warm:
            h.carrier.place_call(
                CallerScript(number, inputs=[Digits("4")], patience_seconds=PATIENCE)
            )
        h.carrier.wait_idle(30.0)
        client = redis.Redis.from_url(h.redis_url)
        on.callback(client.close)
        newest: Any = client.xrevrange(Keys().events, count=1)
        tap = StreamTap(h.redis_url, newest[0][0].decode() if newest else "0-0")
        tap.start()
        with h.carrier.board.lock:
            first_error = len(h.carrier.errors)
        print(
            f"  {logged_in} supervisors logged in; placing {len(numbers)} calls at "
            f"{sc.rate:g}/s through a ramp and {len(order)} phases of {seconds:g} s"
            " ...",
            flush=True,
        )
        late: list[float] = []
        placer = threading.Thread(
            target=lambda: late.extend(place_calls(h.carrier, numbers, gaps, keys)),
            daemon=True,
        )
        began = time.monotonic()
        placer.start()
        windows = []
        for k, phase in enumerate(run.phases):
            start = began + (k + 1) * seconds  # after the ramp
            sleep_until(start)
            if phase.loaded:
                conn.send("open")
            sleep_until(start + SETTLE_SECONDS)
            with h.carrier.board.lock:
                first = len(h.carrier.webhook_times)
            cpu = h.cpu(process.pid)
            from_ms = time.time() * 1000
            if phase.loaded:
                phase.connected, phase.opening = conn.recv()
            sleep_until(start + seconds)
            with h.carrier.board.lock:
                phase.webhooks = [s for _, s in h.carrier.webhook_times[first:]]
            phase.cpu = {  # h.cpu names the load's own process "consoles"
                "wallboards" if name == "consoles" else name: used - cpu[name]
                for name, used in h.cpu(process.pid).items()
            }
            windows.append((from_ms, time.time() * 1000))
            if phase.loaded:
                conn.send("close")
                phase.boards = conn.recv()
            print(
                f"  phase {k + 1}: {'with' if phase.loaded else 'without'} "
                f"wallboards, {len(phase.webhooks)} webhooks, p99 "
                f"{percentile(phase.webhooks, 0.99) * 1000:.0f} ms",
                flush=True,
            )
        placer.join()
        run.late = percentile(late, 0.99)
        h.carrier.wait_idle(max(60.0, 20 * sc.talk * sc.scale))
        with h.carrier.board.lock:
            errors = list(h.carrier.errors[first_error:])
        run.errors = errors[:5]
        run.timeouts = sum(
            1 for e in errors if "no answer within" in e and timed_out_path(e)
        )
        events = tap.stop()
        for phase, (from_ms, to_ms) in zip(run.phases, windows, strict=True):
            if not phase.loaded:
                continue
            shown = [e for e in events if from_ms <= stream_ms(e) <= to_ms]
            phase.events = len(shown)
            for boards, feed_errors in phase.boards:
                seen, unseen = latencies(shown, boards, to_ms)
                phase.latencies += seen
                phase.unseen += unseen
                phase.errors += feed_errors[:2]
    return run


#: Each phase's first seconds are not measured, on either side: the
#: wallboards' feeds opening (fifty first boards) or closing.
SETTLE_SECONDS = 1.0
#: The phases, A without wallboards and B with: ABBA, repeated.
ABBA = (False, True, True, False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wallboards", type=int, default=50)
    parser.add_argument("--rate", type=float, default=20.0, help="calls per second")
    parser.add_argument("--phases", type=int, default=16, help="a multiple of 4")
    parser.add_argument("--phase-seconds", type=float, default=6.0)
    parser.add_argument("--hotliners", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", help="use this server (default: own Valkey)")
    parser.add_argument("--db", type=int, default=15, help="DB index with --redis-url")
    args = parser.parse_args(argv)
    if args.phases < 4 or args.phases % 4:
        parser.error("--phases: a multiple of 4 (ABBA)")
    if args.phase_seconds <= SETTLE_SECONDS + 1:
        parser.error(f"--phase-seconds: more than {SETTLE_SECONDS + 1:g}")
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the REST access log
    logging.getLogger("simulator").setLevel(logging.ERROR)  # errors are counted
    sc = Scenario(
        consoles=args.hotliners,
        # one phase's callers in each phase and in the ramp before them
        calls=round(args.rate * args.phase_seconds) * (args.phases + 1),
        rate=args.rate,
        seed=args.seed,
        scale=0.1,
        talk=20.0,
        answer=2.0,
    )
    order = list(ABBA) * (args.phases // 4)
    started = time.monotonic()
    # The simulator keeps every transcript: a full collection would stop every
    # simulated call now and then, a pause of the harness that times the
    # webhooks, not of the app (as bench/console.py does).
    gc.disable()
    result = run(
        sc, order, args.phase_seconds, args.wallboards, args.redis_url, args.db
    )
    gc.enable()
    phases = result.phases
    base = [w for p in phases if not p.loaded for w in p.webhooks]
    with_boards = [w for p in phases if p.loaded for w in p.webhooks]
    seen = [x for p in phases if p.loaded for x in p.latencies]
    unseen = sum(p.unseen for p in phases if p.loaded)
    print()
    print(
        f"{args.wallboards} wallboards, {sc.calls} calls at {args.rate:g}/s "
        f"(seed {args.seed}) in a ramp and {args.phases} phases of"
        f" {args.phase_seconds:g} s, each the same callers (ABBA; the ramp and"
        f" the first {SETTLE_SECONDS:g} s of each phase not measured), "
        f"{args.hotliners} simulated hotliners, {os.cpu_count()} CPUs"
    )
    connected = [p.connected for p in phases if p.loaded]
    print(
        f"wallboards connected per phase with them: {connected} of {args.wallboards}"
        f" (all within {max(p.opening for p in phases if p.loaded):.2f} s);"
        f" {sum(p.events for p in phases if p.loaded)} events, each on every"
        f" wallboard; calls placed late p99 {result.late * 1000:.0f} ms"
        " (the simulator's lag)"
    )
    for loaded in (False, True):
        cpu: dict[str, float] = {}
        for p in phases:
            if p.loaded == loaded:
                for name, used in p.cpu.items():
                    cpu[name] = cpu.get(name, 0.0) + used
        measured = sum(1 for p in phases if p.loaded == loaded) * (
            args.phase_seconds - SETTLE_SECONDS
        )
        print(
            f"  CPU s in the {measured:g} s measured {'with' if loaded else 'without'}"
            " wallboards: "
            + ", ".join(f"{name} {used:.1f}" for name, used in sorted(cpu.items()))
        )
    errors = result.errors + [e for p in phases for e in p.errors]
    if errors:
        print(f"  errors: {errors[:8]}")
    failures = []
    p99 = percentile(seen, 0.99)
    print(
        f"event -> wallboard, ms: p50 {percentile(seen, 0.5) * 1000:.0f}, "
        f"p95 {percentile(seen, 0.95) * 1000:.0f}, p99 {p99 * 1000:.0f}, "
        f"max {max(seen, default=float('nan')) * 1000:.0f} over {len(seen)} "
        f"(event, wallboard) pairs; never shown {unseen} "
        f"(target p99 < {UPDATE_TARGET_S * 1000:.0f}) "
        + ("PASS" if p99 < UPDATE_TARGET_S and unseen == 0 else "FAIL")
    )
    if not (p99 < UPDATE_TARGET_S and unseen == 0):
        failures.append("wallboard update latency")
    b99, w99 = percentile(base, 0.99), percentile(with_boards, 0.99)
    ratio = w99 / b99 if b99 else float("nan")
    print(
        f"voice webhooks p99 without -> with wallboards: {b99 * 1000:.0f} -> "
        f"{w99 * 1000:.0f} ms = {ratio:.2f}x (p50 {percentile(base, 0.5) * 1000:.0f}"
        f" -> {percentile(with_boards, 0.5) * 1000:.0f} ms; {len(base)} / "
        f"{len(with_boards)} webhooks; {result.timeouts} not answered within"
        f" {WEBHOOK_LIMIT:g} s) (target < {WEBHOOK_RATIO_TARGET:.2f}x) "
        + ("PASS" if ratio < WEBHOOK_RATIO_TARGET else "FAIL")
    )
    if not ratio < WEBHOOK_RATIO_TARGET:
        failures.append("webhook p99 ratio")
    if result.timeouts:
        failures.append("webhooks not answered")
    if any(c < args.wallboards for c in connected):
        failures.append("wallboards connected")
    record(
        "bench/wallboard.py",
        [
            Figure(
                f"event -> {args.wallboards} wallboards at {args.rate:g} calls/s: p99",
                f"{p99 * 1000:.0f} ms ({unseen} never shown)",
                f"< {UPDATE_TARGET_S * 1000:.0f} ms, 0 unseen",
                p99 < UPDATE_TARGET_S and unseen == 0,
            ),
            Figure(
                "voice webhook p99 with the wallboards open",
                f"{w99 * 1000:.0f} ms",
                f"< {WEBHOOK_RATIO_TARGET:.2f}x without",
                ratio < WEBHOOK_RATIO_TARGET,
                f"without wallboards {b99 * 1000:.0f} ms",
                f"{ratio:.2f}x",
            ),
        ],
    )
    print(f"bench took {time.monotonic() - started:.0f} s")
    if failures:
        print("missed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
