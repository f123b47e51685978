"""The grouped store: what it sends to which group, and what it refuses.

On the test Redis server (one server holds every group's slot; the cluster
tests show them apart): two teams' groups (`support.two_teams_config`), the
hotline's interface (`RoutingStore`) over them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from support import two_teams_config

from agents.lifecycle import AgentState
from core.keys import Keys
from ivr.incident import IncidentStore
from queues.config import RoutingConfig, load_routing_config
from queues.grouped_store import OTHER_GROUP, GroupedStore, bare_timer
from queues.groups import routing_groups
from queues.partition import Partition
from queues.routing import memberships, rules
from queues.store import Offer, Paced, TransferRefused


@pytest.fixture
def routing(tmp_path: Path) -> RoutingConfig:
    return load_routing_config(two_teams_config(tmp_path / "config"))


@pytest.fixture
def store(redis_client: redis.Redis, routing: RoutingConfig) -> GroupedStore:
    grouped = GroupedStore(Partition(redis_client, routing_groups(routing), Keys()))
    for hotliner in routing.hotliners.values():
        ok, _ = grouped.agents.set_state(
            hotliner.id, AgentState.AVAILABLE, memberships(hotliner, routing)
        )
        assert ok
    return grouped


def talking(store: GroupedStore, routing: RoutingConfig, sid: str, queue: str) -> Offer:
    assert store.start_call(sid, "+33612121212", "+33180000000", "fr-FR")
    assert store.enqueue(sid, queue, 2) == 1
    offer = store.match(rules(routing), 15_000)
    assert isinstance(offer, Offer)
    assert offer.call_sid == sid
    assert store.accept(offer.offer_id, f"L{sid}") is not None
    assert store.bridge(sid) == "talking"
    return offer


def test_each_thing_is_kept_in_its_groups_keys(
    store: GroupedStore, routing: RoutingConfig, redis_client: redis.Redis
) -> None:
    offer = talking(store, routing, "CAg1", "network")
    group = Keys().group("account")
    assert offer.offer_id.startswith("account.")
    assert offer.agent_id.startswith("n")
    assert redis_client.exists(group.call("CAg1"), group.agent(offer.agent_id)) == 2
    assert store.keys_for_call("CAg1") == group
    assert store.keys_for_agent("d1") == Keys().group("general")
    assert store.group_names == ("account", "general")
    assert store.call("CAg1")["state"] == "talking"
    assert store.calls(["CAg1", "CAnobody"]) == [store.call("CAg1"), {}]
    assert store.agents.states(["d1", offer.agent_id]) == {
        "d1": "available",
        offer.agent_id: "busy",
    }
    assert store.queue_lengths(["network", "printer"]) == {"network": 0, "printer": 0}
    assert store.active_calls() == ["CAg1"]
    # Every group's active calls, oldest first, at most the limit.
    for i, (sid, queue) in enumerate([("CAg0", "printer"), ("CAg9", "email")]):
        assert store.start_call(
            sid, "+33612121211", "+33180000000", "fr-FR", at_ms=i + 1
        )
        assert store.enqueue(sid, queue, 2) == 1
    assert store.active_calls() == ["CAg0", "CAg9", "CAg1"]
    assert store.active_calls(limit=2) == ["CAg0", "CAg9"]


def test_what_would_span_two_groups_is_refused(
    store: GroupedStore, routing: RoutingConfig
) -> None:
    offer = talking(store, routing, "CAg2", "network")
    refused = store.transfer(
        "CAg2", offer.agent_id, "printer", priority_bump=1, wrapup_ms=0
    )
    assert refused == TransferRefused(OTHER_GROUP)
    assert store.call("CAg2")["state"] == "talking"
    started = store.consults.start(
        "CAg2",
        offer.agent_id,
        target=("queue", "printer"),
        min_level=1,
        offer_queue="printer",
        ring_ms=15_000,
        notes="",
    )
    assert getattr(started, "why", "") == OTHER_GROUP
    assert store.start_call("CAg3", "+33612121213", "+33180000000", "fr-FR")
    assert store.enqueue("CAg3", "email", 2) == 1
    assert store.move_waiting("CAg3", "software", 2, "sup") == OTHER_GROUP
    assert store.position("email", "CAg3") == 1
    # Within the group, the same moves go through.
    assert store.move_waiting("CAg3", "network", 2, "sup") != OTHER_GROUP
    assert store.position("network", "CAg3") == 1


def test_timers_and_lapsed_offers_are_each_groups(
    store: GroupedStore, routing: RoutingConfig
) -> None:
    talking(store, routing, "CAg5", "network")  # in the network team's group
    store.set_timer("bridge:CAg5", 1)
    store.set_timer("wrapup:d1", 1)
    due = sorted(store.due_timers())
    assert due == ["account/bridge:CAg5", "general/wrapup:d1"]
    assert [bare_timer(m) for m in due] == ["bridge:CAg5", "wrapup:d1"]
    lease = store.claim_timer(due[1])
    assert lease is not None
    assert store.claim_timer(due[1]) is None  # claimed once
    store.release_timer(due[1], lease)
    assert store.due_timers() == ["account/bridge:CAg5"]
    assert store.start_call("CAg4", "+33612121214", "+33180000000", "fr-FR")
    assert store.enqueue("CAg4", "printer", 2) == 1
    offer = store.match(rules(routing), 1)
    assert isinstance(offer, Offer)
    lapsed = store.expired_offers(store.clock() + 10)
    assert lapsed == [offer.offer_id]
    rejected = store.reject(offer.offer_id, "no-answer", max_missed=5)
    assert rejected is not None
    assert store.call("CAg4")["state"] == "queued"


def test_offers_are_paced_per_group_at_a_share_of_the_carriers_rate(
    store: GroupedStore, routing: RoutingConfig
) -> None:
    """Two groups with hotliners at 2 calls a second: 1 a second each, so
    one offer in each group at once, then both wait."""
    for i, queue in enumerate(["printer", "printer", "network", "network"]):
        assert store.start_call(f"CAp{i}", "+33612121215", "+33180000000", "fr-FR")
        assert store.enqueue(f"CAp{i}", queue, 2) == 1
    made = [store.match(rules(routing), 15_000, per_second=2.0) for _ in range(3)]
    offers = [m for m in made if isinstance(m, Offer)]
    assert sorted(o.queue_id for o in offers) == ["network", "printer"]
    assert isinstance(made[2], Paced)


def test_an_incident_reaches_every_groups_router(
    store: GroupedStore, redis_client: redis.Redis
) -> None:
    incidents = IncidentStore(redis_client, store.keys, store.group_keys)
    incident = incidents.publish({"fr-FR": "Panne"})
    for keys in store.group_keys:
        assert redis_client.hget(keys.incident, "id") == incident.id.encode()
    assert incidents.current() == incident
    incidents.resolve()
    assert redis_client.exists(*(k.incident for k in store.group_keys)) == 0


def test_a_supervisors_control_is_one_event(
    store: GroupedStore, redis_client: redis.Redis
) -> None:
    before = [redis_client.xlen(k.events) for k in store.group_keys]
    store.note_control("queue_closed", "printer")
    after = [redis_client.xlen(k.events) for k in store.group_keys]
    assert sum(after) - sum(before) == 1
