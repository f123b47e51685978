"""How long one routing decision takes, from 10 to 100,000 waiting callers.

One routing decision is one `RoutingStore.match(...)` that makes an offer. For
each population (10, 1,000, 10,000, 100,000 waiting callers over 3 queues,
priorities mixed) and each team (10 and 1,000 hotliners available, members of
every queue at levels 1-5) it times DECISIONS matches; after each one, outside
the timed region, the offer is rejected so the caller returns to its place and
the hotliner to the available sets: each size is measured at that size.

Beside it, in the same run and with the same client, the raw round trip: an
EVALSHA of `return 1`. Then a profiling pass with SLOWLOG at threshold 0 gives
the server's own time for MATCH, so client-side (Python) time is the rest.

Targets (exit 1 naming each one missed):
- p99 of a decision within 3x the raw round trip's p99, at every size;
- p99 at 100,000 waiting within 1.5x of p99 at 10 waiting (per team size);
- Redis memory per waiting caller under 1 KB (INFO used_memory delta over the
  fill, event stream trimmed out; MEMORY USAGE of one call is shown too).

Callers are filled through the very scripts the store runs (START_CALL then
ENQUEUE, registered from `queues.scripts`), pipelined 1,000 at a time, so the
keys are exactly those of production; the event stream they write is trimmed
before memory is measured and reported on its own line.

    python bench/routing.py                      # own embedded Valkey
    python bench/routing.py --redis-url redis://127.0.0.1:6379 --db 15
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from agents.lifecycle import AgentState  # noqa: E402
from bench.harness import Figure, record  # noqa: E402
from core.embedded_redis import EmbeddedRedis  # noqa: E402
from core.keys import Keys  # noqa: E402
from queues import scripts  # noqa: E402
from queues.routing import QueueRule  # noqa: E402
from queues.store import RoutingStore  # noqa: E402

SIZES = (10, 1_000, 10_000, 100_000)
TEAMS = (10, 1_000)
QUEUES = ("printer", "network", "accounts")
RULES = [QueueRule(q, 1, 0, 1) for q in QUEUES]
RING_MS = 15_000
NEVER_AWAY = 10**9  # rejections in the bench must not set hotliners away
ROUND_TRIP_TARGET = 3.0
FLAT_TARGET = 1.5
BYTES_TARGET = 1024
PRIORITIES = (0,) * 14 + (2, 3, 5, 5) + (9, 9)  # mostly normal, a few urgent


@dataclass(frozen=True, slots=True)
class Row:
    waiting: int
    agents: int
    p50_us: float
    p99_us: float
    per_second: float
    raw_p50_us: float
    raw_p99_us: float
    server_p50_us: float
    server_p99_us: float


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


@contextmanager
def quiet_gc() -> Iterator[None]:
    """No collector pauses inside a timed loop (they are the client's, not ours)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def server(url: str | None, db: int) -> Iterator[redis.Redis]:
    """A client on an empty database: ours (embedded) or a dedicated index."""
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            embedded = EmbeddedRedis(Path(folder), persistent=False)
            embedded.start()
            client = redis.Redis.from_url(embedded.url)
            try:
                yield client
            finally:
                client.close()
                embedded.stop()
        return
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    client = redis.Redis.from_url(f"{base.rstrip('/')}/{db}")
    if client.dbsize():
        raise SystemExit(f"refusing to use non-empty Redis DB {db} at {base}")
    try:
        yield client
    finally:
        client.flushdb()
        client.close()


class Bench:
    def __init__(
        self, client: redis.Redis, decisions: int, warmup: int, prefix: str = "bench"
    ) -> None:
        self.client = client
        self.keys = Keys(prefix=prefix)
        self.store = RoutingStore(client, self.keys)
        self.decisions = decisions
        self.warmup = warmup
        self.rng = random.Random(7)
        self.start_call = client.register_script(scripts.START_CALL)
        self.enqueue = client.register_script(scripts.ENQUEUE)
        self.raw_sha = cast(str, client.script_load("return 1"))
        self.match_sha = self.store._match.sha  # the script the store runs
        self.filled = 0
        self.logged_in = 0

    # -- population ---------------------------------------------------------------

    def fill_to(self, waiting: int) -> None:
        """Queue callers through START_CALL + ENQUEUE, pipelined."""
        k = self.keys
        now = int(time.time() * 1000) - 3_600_000  # an hour ago, in arrival order
        while self.filled < waiting:
            pipe = self.client.pipeline(transaction=False)
            for _ in range(min(1_000, waiting - self.filled)):
                sid = f"CA{self.filled:08d}"
                queue = self.rng.choice(QUEUES)
                at = now + self.filled
                self.start_call(
                    keys=[k.call(sid), k.active_calls, k.events],
                    args=[k.base, sid, at, "+33611111111", "+33180000000", "fr-FR"],
                    client=pipe,
                )
                self.enqueue(
                    keys=[k.call(sid), k.queue(queue), k.events],
                    args=[k.base, sid, queue, self.rng.choice(PRIORITIES), at],
                    client=pipe,
                )
                self.filled += 1
            pipe.execute()

    def team(self, agents: int) -> None:
        """Exactly `agents` hotliners available, in every queue, levels 1-5."""
        while self.logged_in < agents:
            memberships = [(q, 1 + self.logged_in % 5) for q in QUEUES]
            self.store.agents.set_state(
                f"ag{self.logged_in:04d}", AgentState.AVAILABLE, memberships
            )
            self.logged_in += 1
        while self.logged_in > agents:
            self.logged_in -= 1
            self.store.agents.set_state(
                f"ag{self.logged_in:04d}", AgentState.OFFLINE, []
            )

    def population(self) -> tuple[int, int]:
        """(waiting callers, available hotliners) right now, to prove it constant."""
        waiting = sum(self.store.queue_length(q) for q in QUEUES)
        free = len(
            {
                m
                for q in QUEUES
                for lvl in range(1, 6)
                for m in cast(
                    list[bytes], self.client.zrange(self.keys.available(q, lvl), 0, -1)
                )
            }
        )
        return waiting, free

    # -- timings ------------------------------------------------------------------

    def raw_round_trips(self, n: int) -> list[int]:
        evalsha = self.client.evalsha
        sha = self.raw_sha
        clock = time.perf_counter_ns
        out = []
        with quiet_gc():
            for _ in range(n):
                t0 = clock()
                evalsha(sha, 0)
                out.append(clock() - t0)
        return out

    def decisions_timed(self, n: int) -> list[int]:
        """n matches, each undone by a rejection outside the timed region."""
        match, reject = self.store.match, self.store.reject
        clock = time.perf_counter_ns
        out = []
        with quiet_gc():
            for _ in range(n):
                t0 = clock()
                offer = match(RULES, RING_MS)
                t1 = clock()
                if offer is None:
                    raise SystemExit("a decision made no offer: the bench is broken")
                out.append(t1 - t0)
                reject(offer.offer_id, "no-answer", NEVER_AWAY)
        return out

    def interleaved(self, n: int) -> tuple[list[int], list[int]]:
        """n raw round trips and n decisions, alternating one by one.

        Each decision sits next to a raw round trip taken a few microseconds
        earlier, so both see the same machine weather (other processes, CPU
        frequency) and their ratio measures the router, not the noise.
        """
        evalsha, sha = self.client.evalsha, self.raw_sha
        match, reject = self.store.match, self.store.reject
        clock = time.perf_counter_ns
        raw: list[int] = []
        timed: list[int] = []
        with quiet_gc():
            for _ in range(n):
                t0 = clock()
                evalsha(sha, 0)
                t1 = clock()
                offer = match(RULES, RING_MS)
                t2 = clock()
                if offer is None:
                    raise SystemExit("a decision made no offer: the bench is broken")
                raw.append(t1 - t0)
                timed.append(t2 - t1)
                reject(offer.offer_id, "no-answer", NEVER_AWAY)
        return raw, timed

    def one_decision(self) -> int:
        """One timed match (ns), undone outside the timed region."""
        t0 = time.perf_counter_ns()
        offer = self.store.match(RULES, RING_MS)
        t1 = time.perf_counter_ns()
        if offer is None:
            raise SystemExit("a decision made no offer: the bench is broken")
        self.store.reject(offer.offer_id, "no-answer", NEVER_AWAY)
        return t1 - t0

    def server_times(self, n: int) -> list[int]:
        """MATCH's own time on the server (SLOWLOG at threshold 0), in ns."""
        c = self.client
        old = cast(dict[str, str], c.config_get("slowlog-*"))
        c.config_set("slowlog-max-len", 2 * n + 10)
        c.config_set("slowlog-log-slower-than", 0)
        c.slowlog_reset()
        try:
            self.decisions_timed(n)
            entries = cast(list[dict[str, Any]], c.slowlog_get(2 * n + 10))
        finally:
            c.config_set("slowlog-log-slower-than", old["slowlog-log-slower-than"])
            c.config_set("slowlog-max-len", old["slowlog-max-len"])
            c.slowlog_reset()  # its entries would count as callers' memory
        sha = self.match_sha.encode()
        out = []
        for entry in entries:
            command = entry.get("command", b"")
            if isinstance(command, str):
                command = command.encode()
            parts = command.split()
            if len(parts) > 1 and parts[0].lower() == b"evalsha" and parts[1] == sha:
                out.append(int(entry["duration"]) * 1000)
        return out or [0]

    def measure(self, waiting: int, agents: int) -> Row:
        self.fill_to(waiting)
        self.team(agents)
        before = self.population()
        assert before == (waiting, agents), before
        self.decisions_timed(self.warmup)
        self.raw_round_trips(self.warmup)
        raw, timed = self.interleaved(self.decisions)
        after = self.population()
        assert after == before, (before, after)
        server = self.server_times(min(500, self.decisions))
        return Row(
            waiting=waiting,
            agents=agents,
            p50_us=percentile(timed, 0.50),
            p99_us=percentile(timed, 0.99),
            per_second=1e9 / statistics.mean(timed),
            raw_p50_us=percentile(raw, 0.50),
            raw_p99_us=percentile(raw, 0.99),
            server_p50_us=percentile(server, 0.50),
            server_p99_us=percentile(server, 0.99),
        )

    # -- memory -------------------------------------------------------------------

    def used_memory(self) -> int:
        self.client.xtrim(self.keys.events, maxlen=0)
        info = cast(dict[str, Any], self.client.info("memory"))
        return int(info["used_memory"])

    def one_caller_bytes(self) -> tuple[int, float, int]:
        """MEMORY USAGE of one call hash; zset bytes per member; stream entry."""
        c = self.client
        call = int(cast(int, c.memory_usage(self.keys.call("CA00000000"))))
        queue = self.keys.queue(QUEUES[0])
        per_member = int(cast(int, c.memory_usage(queue, samples=0))) / max(
            1, int(cast(int, c.zcard(queue)))
        )
        return call, per_member, int(cast(int, c.memory_usage(self.keys.events) or 0))


def side_by_side(small: Bench, big: Bench, agents: int, n: int) -> tuple[float, float]:
    """p99 (µs) of decisions on a small and a big population, alternating.

    Both populations live in the same server under their own key prefix, and
    decisions alternate one by one, so the comparison of p99s is not a
    comparison of two moments of a shared, noisy machine.
    """
    small.team(agents)
    big.team(agents)
    for _ in range(small.warmup):
        small.one_decision()
        big.one_decision()
    small_times: list[int] = []
    big_times: list[int] = []
    with quiet_gc():
        for _ in range(n):
            small_times.append(small.one_decision())
            big_times.append(big.one_decision())
    return percentile(small_times, 0.99), percentile(big_times, 0.99)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis-url", help="use this server (default: own Valkey)")
    parser.add_argument("--db", type=int, default=15, help="DB index with --redis-url")
    parser.add_argument("--decisions", type=int, default=2_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--sizes", type=lambda s: tuple(int(x) for x in s.split(",")), default=SIZES
    )
    args = parser.parse_args(argv)
    sizes: tuple[int, ...] = args.sizes
    began = time.monotonic()
    with server(args.redis_url, args.db) as client:
        info = cast(dict[str, Any], client.info("server"))
        version = info.get("valkey_version") or info.get("redis_version")
        print(
            f"server {info.get('server_name', 'redis')} {version}, "
            f"redis-py {redis.__version__}, python {sys.version.split()[0]}"
        )
        bench = Bench(client, args.decisions, args.warmup)
        bench.team(max(TEAMS))  # hotliners' keys exist before the memory baseline
        bench.team(0)
        baseline = bench.used_memory()
        rows: list[Row] = []
        memory: dict[int, float] = {}
        for waiting in sizes:
            t0 = time.monotonic()
            bench.fill_to(waiting)
            fill_s = time.monotonic() - t0
            stream_bytes = int(cast(int, client.memory_usage(bench.keys.events) or 0))
            bench.team(0)
            memory[waiting] = (bench.used_memory() - baseline) / waiting
            print(
                f"filled {waiting:>7,} waiting in {fill_s:5.1f} s; "
                f"{memory[waiting]:6.0f} B/caller "
                f"(event stream, trimmed: {stream_bytes / waiting:.0f} B/caller more)"
            )
            for agents in TEAMS:
                rows.append(bench.measure(waiting, agents))
        call_bytes, member_bytes, _ = bench.one_caller_bytes()
        small = Bench(client, args.decisions, args.warmup, prefix="bench-small")
        small.fill_to(min(sizes))
        flat = {
            agents: side_by_side(small, bench, agents, args.decisions)
            for agents in TEAMS
        }
        failures = report(
            rows, memory, call_bytes, member_bytes, flat, (min(sizes), max(sizes))
        )
    print(f"bench took {time.monotonic() - began:.0f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


def report(
    rows: list[Row],
    memory: dict[int, float],
    call_bytes: int,
    member_bytes: float,
    flat: dict[int, tuple[float, float]],
    extremes: tuple[int, int],
) -> list[str]:
    print()
    print(
        f"{'waiting':>8} {'agents':>6} | {'p50 µs':>7} {'p99 µs':>7} {'dec/s':>7} | "
        f"{'raw p50':>7} {'raw p99':>7} | {'srv p50':>7} {'srv p99':>7} | "
        f"{'p99/raw':>7} {'target':>6}"
    )
    failures: list[str] = []
    figures: list[Figure] = []
    worst = max(rows, key=lambda r: r.p99_us / r.raw_p99_us)
    figures.append(
        Figure(
            f"routing decision p99, worst of {len(rows)} sizes"
            f" ({worst.waiting:,} waiting, {worst.agents:,} agents)",
            f"{worst.p99_us:.0f} µs",
            f"<= {ROUND_TRIP_TARGET}x raw round trip",
            worst.p99_us / worst.raw_p99_us <= ROUND_TRIP_TARGET,
            f"raw Redis round trip p99 {worst.raw_p99_us:.0f} µs",
            f"{worst.p99_us / worst.raw_p99_us:.2f}x",
        )
    )
    for r in rows:
        ratio = r.p99_us / r.raw_p99_us
        ok = ratio <= ROUND_TRIP_TARGET
        print(
            f"{r.waiting:>8,} {r.agents:>6,} | {r.p50_us:7.0f} {r.p99_us:7.0f} "
            f"{r.per_second:7.0f} | {r.raw_p50_us:7.0f} {r.raw_p99_us:7.0f} | "
            f"{r.server_p50_us:7.0f} {r.server_p99_us:7.0f} | {ratio:6.2f}x "
            f"{'PASS' if ok else 'FAIL':>6}"
        )
        if not ok:
            failures.append(
                f"p99 {r.p99_us:.0f} µs at {r.waiting:,} waiting / {r.agents:,} agents"
                f" is {ratio:.2f}x the raw round trip ({r.raw_p99_us:.0f} µs),"
                f" over {ROUND_TRIP_TARGET}x; server time p99 {r.server_p99_us:.0f} µs"
            )
    print()
    low, high = extremes
    for agents, (small_p99, big_p99) in sorted(flat.items()):
        ratio = big_p99 / small_p99
        ok = ratio <= FLAT_TARGET
        print(
            f"p99 at {high:,} vs {low:,} waiting, {agents:,} agents, measured "
            f"alternately: {big_p99:.0f} / {small_p99:.0f} µs = {ratio:.2f}x "
            f"(target <= {FLAT_TARGET}x) {'PASS' if ok else 'FAIL'}"
        )
        figures.append(
            Figure(
                f"routing p99 at {high:,} vs {low:,} waiting ({agents:,} agents)",
                f"{big_p99:.0f} µs",
                f"<= {FLAT_TARGET}x",
                ok,
                f"{small_p99:.0f} µs at {low:,} waiting",
                f"{ratio:.2f}x",
            )
        )
        if not ok:
            failures.append(
                f"p99 grows {ratio:.2f}x from {low:,} to {high:,}"
                f" waiting with {agents:,} agents (target {FLAT_TARGET}x)"
            )
    biggest = max(memory)
    ok = memory[biggest] < BYTES_TARGET
    print(
        f"memory per waiting caller at {biggest:,}: {memory[biggest]:.0f} B "
        f"(target < {BYTES_TARGET} B) {'PASS' if ok else 'FAIL'}; "
        f"MEMORY USAGE of one call hash {call_bytes} B + "
        f"~{member_bytes:.0f} B per queue zset entry"
    )
    if not ok:
        failures.append(f"{memory[biggest]:.0f} B per waiting caller (target 1 KB)")
    figures.append(
        Figure(
            f"Redis memory per waiting caller at {biggest:,}",
            f"{memory[biggest]:.0f} B",
            f"< {BYTES_TARGET} B",
            ok,
        )
    )
    record("bench/routing.py", figures)
    return failures


if __name__ == "__main__":
    sys.exit(main())
