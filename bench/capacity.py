"""What one machine carries: new calls per second until something breaks,
then thousands of callers waiting at once.

The hotline runs as `hotline run` runs it (`bench.console`'s stack: the web's
gunicorn, the feed's gunicorn, one RQ worker with the call-log writer, its
own Valkey, SQLite in a temporary folder), `--hotliners` (1,000) simulated
hotliners logged in with every skill; the carrier simulator plays Twilio and
the callers, on the same machine (its share of the CPU is printed: on a
2-core machine the load generator is one of the things that run out).

1. **Ramp.** Poisson callers through the whole webhook flow (incoming, menu
   key, enqueue, hold-loop polls, offer, the hotliner's leg, bridge, status
   callbacks, outcome, call log) at each rate of `--rates` (20 ... 100 calls/s)
   for `--step-seconds` (30) each; talk is exponential, 20 simulated seconds
   (2 real: time-scaled 0.1), so 1,000 hotliners are never all busy: what is
   measured is the flow, not the queueing. Each step prints the webhooks'
   p50/p99 as the simulator timed them, errors, callers still on the line at
   the step's end, the call-log writer's lag, Redis memory, each part's CPU
   and resident memory. The ramp stops at the first step that breaks, and
   says what broke first; a step stops placing calls as soon as its verdict
   is certain whatever its remaining calls do (a simulator error, or more
   than 1 % of its calls placed over 0.5 s late: its p99 is past the limit),
   so a broken step costs seconds, not its whole `--step-seconds`:
   - `webhooks`: p99 over `--p99-limit` (1 s: callers hear the silence);
   - `lost`: a simulator error (a webhook unanswered within Twilio's 15 s,
     a bad TwiML) or a caller never bridged;
   - `writer`: the call log more than 5 s behind;
   - `load generator`: the simulator placing calls more than 0.5 s late
     (p99): past this the figures say more about the simulator than the app.
2. **Waiting** (`--waiting`, 5,000 by default: Twilio's most per queue,
   spread over the menu's queues): every hotliner goes on break (the API, as
   the console does), then the callers are placed at `--waiting-rate` (20/s;
   `make bench` places its 1,200 at 40/s: without hotliners to ring and
   bridge, arrivals cost the stack and the simulator less than in the ramp;
   at 50/s one run had only 1,783 in a queue at once, and the placing's own
   lateness is printed) and all wait, polling the hold loop; measured for
   `--hold-seconds` (30), and on until every caller is in a queue (the last
   ones placed are still hearing the greeting, in real time) or none joined
   for 5 s (60 s more at most):
   webhook p99 while they wait, Redis memory per waiting caller; then every
   hotliner comes back and the time until all of them were served, and lost
   callers (target 0).

Baseline in the same run: the first ramp step's webhook p99 (each later
step's is shown as a ratio to it).

    python bench/capacity.py                                # ~6 min
    python bench/capacity.py --step-seconds 12 --waiting 1200 --waiting-rate 40 \
        --hold-seconds 5                                    # make bench (~3.5 min)
    python bench/capacity.py --rates "" --waiting 5000 --waiting-rate 40 \
        --hold-seconds 5 --calls-per-second 25              # 5,000 waiting, paced
    python bench/capacity.py --rates 10,20 --waiting 500 --hotliners 200  # a look
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.console import (  # noqa: E402
    CHEAP,
    MENU_KEYS,
    PATIENCE,
    Hotline,
    Scenario,
    add_hotliner,
    hotline,
)
from bench.harness import Figure, percentile, record  # noqa: E402
from bench.soak import call_log, group_pids, rss_bytes  # noqa: E402
from core.keys import Keys  # noqa: E402
from simulator.carrier import Call  # noqa: E402
from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.scripts import CallerScript, Digits  # noqa: E402

TALK = 20.0  # simulated seconds
SCALE = 0.1  # real seconds per simulated one
WAITING_TALK = 5.0  # real seconds, once the waiting callers are answered
#: The hold ends once no caller joined a queue for this long (s) ...
SETTLED_SECONDS = 5.0
#: ... or this long past `--hold-seconds` at most.
HOLD_MORE_SECONDS = 60.0
LATE_LIMIT = 0.5  # s: the simulator placing calls later than this (p99)
LAG_LIMIT_S = 5.0  # s of events the call log may be behind


@dataclass
class Step:
    rate: float
    placed: int = 0
    webhooks: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    on_line: int = 0
    lag_events: int = 0
    lag_s: float = 0.0
    redis_bytes: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, int] = field(default_factory=dict)
    broke: str = ""


@dataclass
class Waiting:
    callers: int = 0
    rate: float = 0.0
    late: list[float] = field(default_factory=list)  # s each was placed late
    waited: int = 0  # callers in queues when measured
    webhooks: list[float] = field(default_factory=list)
    bytes_per_caller: float = float("nan")
    served_s: float = float("nan")
    bridged: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # call log status
    #: Why the calls that did not complete ended (call log `end_reason`), and
    #: what the last of them heard (the carrier's transcript), to tell apart
    #: a caller the app turned away from one who gave up.
    ended_why: dict[str, int] = field(default_factory=dict)
    last_heard: dict[str, int] = field(default_factory=dict)
    lost: int = 0
    errors: list[str] = field(default_factory=list)


class Probe:
    """Reads the stack's figures: webhooks since the last read, memory, CPU."""

    def __init__(self, h: Hotline) -> None:
        self.h = h
        self.client = redis.Redis.from_url(h.redis_url)
        with h.carrier.board.lock:
            self.seen_webhooks = len(h.carrier.webhook_times)
            self.seen_errors = len(h.carrier.errors)
        self.cpu = h.cpu(None)
        self.added, self.at = self._added(), time.monotonic()

    def _added(self) -> int:
        try:
            info: Any = self.client.xinfo_stream(Keys().events)
        except redis.ResponseError:  # no event yet: no stream
            return 0
        return int(info.get("entries-added", 0))

    def window(self) -> tuple[list[float], list[str]]:
        with self.h.carrier.board.lock:
            times = [s for _, s in self.h.carrier.webhook_times[self.seen_webhooks :]]
            errors = list(self.h.carrier.errors[self.seen_errors :])
            self.seen_webhooks = len(self.h.carrier.webhook_times)
            self.seen_errors = len(self.h.carrier.errors)
        return times, errors

    def fill(self, step: Step) -> None:
        step.webhooks, step.errors = self.window()
        with self.h.carrier.board.lock:
            step.on_line = sum(
                1
                for c in self.h.carrier.calls.values()
                if c.is_live and c.direction == "inbound"
            )
        length: Any = self.client.xlen(Keys().events)
        step.lag_events = int(length)
        added, at = self._added(), time.monotonic()
        rate = (added - self.added) / (at - self.at) if at > self.at else 0.0
        step.lag_s = step.lag_events / rate if rate else 0.0
        self.added, self.at = added, at
        step.redis_bytes = self.redis_bytes()
        cpu = self.h.cpu(None)
        step.cpu = {
            n: v - self.cpu.get(n, 0.0) for n, v in cpu.items() if n != "consoles"
        }
        self.cpu = cpu
        groups = {c.name: c.pid for c in self.h.stack.children if c.pid is not None}
        step.rss = {n: rss_bytes(group_pids(p)) for n, p in groups.items()}
        if self.h.valkey_pid is not None:
            step.rss["valkey"] = rss_bytes([self.h.valkey_pid])
        step.rss["simulator"] = rss_bytes([os.getpid()])

    def redis_bytes(self) -> int:
        info: Any = self.client.info("memory")
        return int(info["used_memory"])


def place(
    h: Hotline,
    rate: float,
    count: int,
    rng: random.Random,
    prefix: str,
    broken: Callable[[list[float]], bool] | None = None,
) -> tuple[list[Call], list[float]]:
    """`count` Poisson callers at `rate`/s, each with a menu key; how late
    each was placed (the simulator's own lag). `broken`, asked after each
    call with the lateness so far: True stops the placing there."""
    placed: list[Call] = []
    late: list[float] = []
    due = time.monotonic()
    for n in range(count):
        if broken is not None and broken(late):
            break
        due += rng.expovariate(rate)
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        late.append(max(0.0, -pause))
        number = f"+33{prefix}{n:06d}"
        placed.append(
            h.carrier.place_call(
                CallerScript(
                    number,
                    inputs=[Digits(rng.choice(MENU_KEYS))],
                    patience_seconds=PATIENCE,
                )
            )
        )
    return placed, late


class Verdict:
    """Whether a step has already broken, whatever its remaining calls do:
    a simulator error (`lost`), or so many calls placed over LATE_LIMIT late
    that the step's p99 is past it (`load generator`). Then the ramp stops
    placing at once instead of playing the step to its end: `judge` names
    the same cause on the calls placed, and every later step is skipped
    anyway. The webhooks' p99 and the writer's lag are judged at the end."""

    def __init__(self, h: Hotline, count: int) -> None:
        self.h = h
        self.errors = len(h.carrier.errors)
        # percentile() takes the value of rank int(0.99 n): past LATE_LIMIT
        # once this many of the n calls are.
        self.too_late = count - int(0.99 * count)
        self.over = 0
        self.seen = 0

    def certain(self, late: list[float]) -> bool:
        self.over += sum(1 for x in late[self.seen :] if x > LATE_LIMIT)
        self.seen = len(late)
        return self.over >= self.too_late or len(self.h.carrier.errors) > self.errors


def judge(step: Step, p99_limit: float) -> str:
    """What broke at this step, first ('' if nothing)."""
    if step.errors:
        return "lost"
    if percentile(step.late, 0.99) > LATE_LIMIT:
        return "load generator"
    if percentile(step.webhooks, 0.99) > p99_limit:
        return "webhooks"
    if step.lag_s > LAG_LIMIT_S:
        return "writer"
    return ""


def ramp(h: Hotline, args: argparse.Namespace, rng: random.Random) -> list[Step]:
    steps: list[Step] = []
    for n, rate in enumerate(args.rates):
        probe = Probe(h)
        step = Step(rate)
        count = int(rate * args.step_seconds)
        print(f"  {rate:g} calls/s for {args.step_seconds:g} s ...", flush=True)
        _, step.late = place(
            h, rate, count, rng, f"6{n:02d}", Verdict(h, count).certain
        )
        step.placed = len(step.late)
        if step.placed < count:
            print(
                f"    stopped after {step.placed} of {count} calls: the step had"
                " broken whatever the rest would do",
                flush=True,
            )
        time.sleep(3 * TALK * SCALE)  # the step's last callers are answered
        probe.fill(step)
        step.broke = judge(step, args.p99_limit)
        steps.append(step)
        show_step(step, steps[0])
        if step.broke:
            break
        h.carrier.wait_idle(60.0)  # each step starts from a quiet line
    return steps


def add_all(h: Hotline, sc: Scenario) -> None:
    """Every hotliner of the scenario made available, eight at a time (a
    thousand, one by one, took seconds of the stack's start)."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda agent: add_hotliner(h, sc, agent), sc.agents()))


def set_all(h: Hotline, agents: list[str], state: str) -> None:
    """Every hotliner to `state` through the API, eight at a time."""
    chunks = [agents[i::8] for i in range(8)]

    def run(chunk: list[str]) -> None:
        for agent in chunk:
            AgentConsoleClient(h.url, token=h.tokens[agent]).set_state(agent, state)

    threads = [threading.Thread(target=run, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def waiting(
    h: Hotline, args: argparse.Namespace, rate: float, rng: random.Random
) -> Waiting:
    w = Waiting(callers=args.waiting, rate=rate)
    agents = sorted(h.tokens)
    # On break, not logged out: the queues are staffed (callers are let in
    # to wait) but nobody is offered a call.
    set_all(h, agents, "break")
    probe = Probe(h)
    before = probe.redis_bytes()
    print(
        f"  {args.waiting} callers at {rate:g}/s (real time), every hotliner"
        " on break ...",
        flush=True,
    )
    placed, w.late = place(h, rate, args.waiting, rng, "699")
    probe.window()  # the arrivals' webhooks are the ramp's business
    k = Keys()

    def in_queues() -> int:
        sizes: list[Any] = [
            probe.client.zcard(key)
            for key in probe.client.scan_iter(match=k.queue("*"), count=1000)
            if probe.client.type(key) == b"zset"
        ]
        return sum(int(n) for n in sizes)

    print(
        f"  holding {args.hold_seconds:g} s, and until every caller is in a queue"
        f" or {SETTLED_SECONDS:g} s pass without one more ...",
        flush=True,
    )
    # The last callers placed are still in the menu (real time: they hear
    # the greeting): the hold lasts until they are in too, or stop coming.
    began = time.monotonic()
    end, grew = began + args.hold_seconds, began
    while True:  # the most waiting at once, and their memory
        now = in_queues()
        if now > w.waited:
            w.waited, grew = now, time.monotonic()
            w.bytes_per_caller = (probe.redis_bytes() - before) / now
        moment = time.monotonic()
        if moment >= end and (
            w.waited >= args.waiting
            or moment - grew >= SETTLED_SECONDS
            or moment - began >= args.hold_seconds + HOLD_MORE_SECONDS
        ):
            break
        time.sleep(1.0)
    print(f"  held {time.monotonic() - began:.0f} s", flush=True)
    w.webhooks, errors = probe.window()
    back = time.monotonic()
    set_all(h, agents, "available")
    paced = 2 * args.waiting / args.calls_per_second if args.calls_per_second else 0
    done = h.carrier.wait_idle(
        max(120.0, 3 * args.waiting * WAITING_TALK / max(1, len(agents)), paced)
    )
    w.served_s = time.monotonic() - back
    _, more = probe.window()
    w.errors = errors + more
    with h.carrier.board.lock:
        w.lost = sum(1 for c in placed if c.is_live)
        w.bridged = sum(1 for c in placed if c.connected_at is not None)
    sids = {c.sid for c in placed}
    time.sleep(2.0)  # the writer's last batch
    logged = call_log(h.stack.env["DATABASE_URL"])
    w.outcomes = dict(
        Counter(logged[s][0] if s in logged else "not logged" for s in sids)
    )
    unfinished = {s for s in sids if s in logged and logged[s][0] != "completed"}
    w.ended_why = end_reasons(h.stack.env["DATABASE_URL"], unfinished)
    with h.carrier.board.lock:
        w.last_heard = dict(
            Counter(
                next(
                    (f"{e.kind}: {e.detail[:60]}" for e in reversed(c.transcript)),
                    "nothing",
                )
                for c in placed
                if c.sid in unfinished
            ).most_common(3)
        )
        example = next((c for c in placed if c.sid in unfinished), None)
        if os.environ.get("CAPACITY_SHOW_UNFINISHED") and example is not None:
            for e in example.transcript[-14:]:
                print(f"    {example.sid} {e.kind}: {e.detail[:150]}")
    if not done:
        print("  (still calls on the line after the wait)")
    return w


def end_reasons(database_url: str, sids: set[str]) -> dict[str, int]:
    """How many of these calls ended for each reason the call log gives."""
    if not sids:
        return {}
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT call_sid, end_reason FROM calls")).all()
    finally:
        engine.dispose()
    return dict(Counter(str(r[1]) for r in rows if str(r[0]) in sids))


def mib(n: float) -> str:
    return f"{n / 1024 / 1024:.0f}"


def show_step(step: Step, first: Step) -> None:
    p99 = percentile(step.webhooks, 0.99)
    base = percentile(first.webhooks, 0.99)
    print(
        f"    {len(step.webhooks)} webhooks p50"
        f" {percentile(step.webhooks, 0.5) * 1000:.0f} ms p99 {p99 * 1000:.0f} ms"
        f" ({p99 / base:.2f}x the first step), errors {len(step.errors)},"
        f" placed late p99 {percentile(step.late, 0.99) * 1000:.0f} ms,"
        f" on the line {step.on_line}, writer lag {step.lag_events} events"
        f" ({step.lag_s:.1f} s), Redis {mib(step.redis_bytes)} MiB"
    )
    print(
        "    CPU s: "
        + ", ".join(f"{n} {v:.1f}" for n, v in sorted(step.cpu.items()))
        + "; RSS MiB: "
        + ", ".join(f"{n} {mib(v)}" for n, v in sorted(step.rss.items()))
    )
    if step.broke:
        print(f"    BROKE: {step.broke}")
    for e in step.errors[:3]:
        print(f"    error: {e[:200]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        type=lambda s: [float(x) for x in s.split(",") if x],
        default=[20.0, 40.0, 60.0, 80.0, 100.0],
    )
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--hotliners", type=int, default=1000)
    parser.add_argument("--waiting", type=int, default=5000)
    parser.add_argument(
        "--waiting-rate", type=float, default=20.0, help="calls/s placing them"
    )
    parser.add_argument("--hold-seconds", type=float, default=30.0)
    parser.add_argument("--p99-limit", type=float, default=1.0, help="seconds")
    parser.add_argument(
        "--calls-per-second",
        type=float,
        default=0.0,
        help="TWILIO_CALLS_PER_SECOND: offers paced to it (default 0: not paced)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", help="a Redis of your own (default: embedded)")
    parser.add_argument("--db", type=int, default=15, help="with --redis-url")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    began = time.monotonic()
    rng = random.Random(args.seed)
    sc = Scenario(
        consoles=args.hotliners,
        calls=0,
        rate=0.0,
        seed=args.seed,
        scale=SCALE,
        talk=TALK,
        answer=2.0,
    )
    # The stack's processes take the bench's environment, and this with it.
    os.environ["TWILIO_CALLS_PER_SECOND"] = f"{args.calls_per_second:g}"
    print(
        f"{args.hotliners} hotliners, rates {args.rates} calls/s,"
        f" {os.cpu_count()} CPUs, offers {paced_at(args)}; starting the stack ...",
        flush=True,
    )
    steps: list[Step] = []
    if args.rates:
        with hotline(sc, args.redis_url, args.db, None, hasher=CHEAP) as h:
            add_all(h, sc)
            print(f"ready after {time.monotonic() - began:.0f} s; ramp:", flush=True)
            steps = ramp(h, args, rng)
    kept = [s for s in steps if not s.broke]
    sustained = kept[-1].rate if kept else 0.0
    w = None
    if args.waiting:
        # Real time: a waiting caller asks for the hold loop again each time
        # its music ends (`announce_every_seconds`), as with Twilio; a
        # compressed clock would multiply those requests.
        real = Scenario(
            consoles=args.hotliners,
            calls=0,
            rate=0.0,
            seed=args.seed,
            scale=1.0,
            talk=WAITING_TALK,
            answer=1.0,
        )
        with hotline(real, args.redis_url, args.db, None, hasher=CHEAP) as h:
            add_all(h, real)
            w = waiting(h, args, args.waiting_rate, rng)
    return report(args, steps, sustained, w, time.monotonic() - began)


def paced_at(args: argparse.Namespace) -> str:
    """How the stack's offers are paced, in words."""
    cps = args.calls_per_second
    return f"paced at {cps:g}/s" if cps else "not paced"


def report(
    args: argparse.Namespace,
    steps: list[Step],
    sustained: float,
    w: Waiting | None,
    took: float,
) -> int:
    failures: list[str] = []
    pace = paced_at(args)
    broken = next((s for s in steps if s.broke), None)
    print()
    if broken:
        print(
            f"sustained {sustained:g} calls/s; broke at {broken.rate:g} calls/s,"
            f" first: {broken.broke}"
        )
    elif steps:
        print(f"sustained every rate up to {sustained:g} calls/s")
    base = percentile(steps[0].webhooks, 0.99) if steps else float("nan")
    figures: list[Figure] = []
    if steps:
        figures.append(
            Figure(
                f"new calls per second through the whole flow, {args.hotliners}"
                " hotliners (highest step held)",
                f"{sustained:g} calls/s",
                f">= {max(args.rates):g} calls/s",
                sustained >= max(args.rates),
            )
        )
        if sustained < max(args.rates):
            failures.append(f"held {sustained:g} calls/s, not {max(args.rates):g}")
    held = next((s for s in reversed(steps) if not s.broke and s.placed), None)
    if held is not None:
        # What the hotline itself costs a call, the simulator apart: how many
        # of this machine's cores the next rate would ask of the app alone.
        app_cpu = sum(v for name, v in held.cpu.items() if name != "simulator")
        per_call = app_cpu / held.placed
        later = [r for r in args.rates if r > held.rate]
        ask = (
            f"; {later[0]:g} calls/s would ask the app alone for"
            f" {per_call * later[0]:.2f} cores of {os.cpu_count()}"
            if later
            else ""
        )
        print(
            f"the app's CPU a call at {held.rate:g} calls/s: {per_call * 1000:.0f} ms"
            f" (web, worker, Valkey, feed; the simulator apart){ask}"
        )
        figures.append(
            Figure(
                f"the app's CPU a call at {held.rate:g} calls/s (simulator apart){ask}",
                f"{per_call * 1000:.0f} ms",
            )
        )
        # The target's rate, at the held step's cost a call: whether this
        # machine could carry it, the load generator included.
        target = max(args.rates)
        player = held.cpu.get("simulator", 0.0) / held.placed
        print(
            f"the simulator's CPU a call: {player * 1000:.0f} ms; {target:g} calls/s"
            f" at these costs would ask {per_call * target:.2f} cores of the app and"
            f" {player * target:.2f} of the simulator, of {os.cpu_count()}"
        )
        figures.append(
            Figure(
                f"cores {target:g} calls/s would ask at the costs of"
                f" {held.rate:g} calls/s: app + simulator (this machine:"
                f" {os.cpu_count()})",
                f"{per_call * target:.2f} + {player * target:.2f}",
                "",
                None,
                f"simulator {player * 1000:.0f} ms a call",
            )
        )
    if broken:
        figures.append(
            Figure(
                f"what broke first at {broken.rate:g} calls/s",
                broken.broke,
                "",
                None,
                f"webhook p99 {percentile(broken.webhooks, 0.99) * 1000:.0f} ms vs"
                f" {base * 1000:.0f} ms at {steps[0].rate:g}/s",
            )
        )
    if w is not None:
        p99 = percentile(w.webhooks, 0.99)
        ok = w.lost == 0 and not w.errors and w.waited >= w.callers
        print(
            f"waiting: {w.waited} of {w.callers} callers waiting at once (placed"
            f" late p99 {percentile(w.late, 0.99) * 1000:.0f} ms); webhook p99"
            f" {p99 * 1000:.0f} ms over {len(w.webhooks)} hold-loop webhooks;"
            f" Redis {w.bytes_per_caller:.0f} B per waiting caller; the line"
            f" idle {w.served_s:.0f} s after the hotliners came back"
            f" (offers {pace});"
            f" {w.bridged} bridged to a hotliner; in the call log: "
            + ", ".join(f"{n} {k}" for k, n in sorted(w.outcomes.items()))
            + f"; still on the line (lost) {w.lost}, errors {len(w.errors)}"
            f" (target 0) {'PASS' if ok else 'FAIL'}"
        )
        if w.ended_why:
            print(
                "  the calls not completed ended: "
                + ", ".join(f"{n} {k}" for k, n in sorted(w.ended_why.items()))
                + "; the most common last things they heard: "
                + "; ".join(f"{n}x {k!r}" for k, n in w.last_heard.items())
            )
        for e in w.errors[:3]:
            print(f"  error: {e[:200]}")
        if not ok:
            failures.append("waiting callers")
        figures += [
            Figure(
                f"callers waiting at once (placed {w.callers} at {w.rate:g}/s),"
                f" then served (offers {pace})",
                f"{w.waited}, {w.lost} lost",
                f"{w.callers}, 0 lost",
                ok,
            ),
            Figure(
                "webhook p99 while they wait",
                f"{p99 * 1000:.0f} ms",
                "",
                None,
                f"first ramp step {base * 1000:.0f} ms",
                f"{p99 / base:.2f}x" if base else "",
            ),
        ]
    record("bench/capacity.py", figures)
    print(f"bench took {took:.0f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
