"""The routing scripts against a real Redis: each move, and its guards."""

from __future__ import annotations

import redis

from agents.lifecycle import AgentState
from queues.lifecycle import EventType
from queues.routing import QueueRule
from queues.store import LegRecorded, Offer, OutcomeRecorded, Paced, RoutingStore

PRINTER = [QueueRule("printer", 1, 0, 1)]


def make_store(client: redis.Redis) -> RoutingStore:
    return RoutingStore(client)


def queued_caller(
    store: RoutingStore, sid: str, queue: str = "printer", priority: int = 0
) -> None:
    assert store.start_call(sid, "+33611111111", "+33180000000", "fr-FR")
    assert store.enqueue(sid, queue, priority) == 1


def events(client: redis.Redis, store: RoutingStore) -> list[str]:
    return [fields[b"type"].decode() for _, fields in client.xrange(store.keys.events)]


def test_retried_incoming_webhook_records_the_call_once(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    assert store.start_call("CA1", "+33611111111", "+33180000000", "fr-FR")
    assert not store.start_call("CA1", "+33611111111", "+33180000000", "fr-FR")
    assert events(redis_client, store) == ["call_started"]


def test_higher_priority_is_served_first_then_first_come(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    queued_caller(store, "CA1", priority=0)
    queued_caller(store, "CA2", priority=0)
    queued_caller(store, "CA3", priority=5)
    assert store.waiting("printer") == ["CA3", "CA1", "CA2"]
    assert store.position("printer", "CA2") == 3


def test_offer_goes_to_the_longest_idle_hotliner(redis_client: redis.Redis) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    store.agents.set_state(
        "bob", AgentState.AVAILABLE, [("printer", 2), ("network", 4)]
    )
    queued_caller(store, "CA1")
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    assert (offer.call_sid, offer.agent_id) == ("CA1", "alice")
    assert store.agents.get("alice")["state"] == "reserved"
    assert store.call("CA1")["state"] == "offered"
    # bob is still available for network, alice is in no available set any more
    assert redis_client.zrange(store.keys.available("printer", 2), 0, -1) == [b"bob"]
    assert redis_client.zrange(store.keys.available("printer", 3), 0, -1) == []
    assert store.match(PRINTER, 15_000) is None  # nobody waiting


def test_missed_offer_returns_caller_to_front_of_queue(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")
    queued_caller(store, "CA2")
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    rejected = store.reject(offer.offer_id, "no-answer", max_missed=3)
    assert rejected is not None
    assert rejected.agent_state == "available"
    assert store.waiting("printer") == ["CA1", "CA2"]
    assert store.reject(offer.offer_id, "no-answer", max_missed=3) is None
    assert store.accept(offer.offer_id, "CAleg") is None


def test_hotliner_missing_k_offers_in_a_row_is_set_away(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")
    for _ in range(2):
        offer = store.match(PRINTER, 15_000)
        assert offer is not None
        store.reject(offer.offer_id, "no-answer", max_missed=2)
    assert store.agents.get("alice")["state"] == "away"
    assert store.match(PRINTER, 15_000) is None
    assert store.waiting("printer") == ["CA1"]


def test_accepted_call_moves_to_wrapup_on_hangup_then_available_on_outcome(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    assert store.set_offer_leg(offer, "CAleg") is LegRecorded.RECORDED
    accepted = store.accept(offer.offer_id, "CAleg")
    assert accepted is not None
    assert store.agents.get("alice")["state"] == "busy"
    assert store.bridge("CA1") == "talking"
    ended = store.hang_up("CA1", "completed", wrapup_ms=30_000)
    assert ended is not None
    assert ended.final_state == "completed"
    assert not ended.agent_freed
    assert store.hang_up("CA1", "completed") is None  # duplicate status callback
    assert store.agents.get("alice")["state"] == "wrapup"
    assert store.record_outcome("CA1", "bob", "resolved", "") is OutcomeRecorded.REFUSED
    assert (
        store.record_outcome("CA1", "alice", "resolved", "rebooted")
        is OutcomeRecorded.AGENT_FREED
    )
    assert store.agents.get("alice")["state"] == "available"
    assert events(redis_client, store) == [
        "agent_state",
        "call_started",
        "enqueued",
        "offered",
        "accepted",
        "talking",
        "call_ended",
        "agent_state",
        "outcome",
        "agent_state",
    ]


def test_caller_hanging_up_while_offered_frees_the_hotliner(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    store.set_offer_leg(offer, "CAleg")
    ended = store.hang_up("CA1", "completed")
    assert ended is not None
    assert (ended.final_state, ended.agent_leg_to_end) == ("abandoned", "CAleg")
    assert ended.agent_freed
    assert store.agents.get("alice")["state"] == "available"
    assert store.accept(offer.offer_id, "CAleg") is None


def test_caller_hanging_up_in_queue_is_abandoned_and_removed(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    queued_caller(store, "CA1")
    ended = store.hang_up("CA1", "completed")
    assert ended is not None
    assert ended.final_state == "abandoned"
    assert store.waiting("printer") == []


def test_hotliner_on_a_call_cannot_go_on_break(redis_client: redis.Redis) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")
    assert store.match(PRINTER, 15_000) is not None
    assert store.agents.set_state("alice", AgentState.BREAK, [("printer", 3)]) == (
        False,
        "reserved",
    )


def test_caller_needing_a_level_waits_for_it_until_overflow_widens(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("junior", AgentState.AVAILABLE, [("network", 1)])
    queued_caller(store, "CA1", queue="network")
    strict = [QueueRule("network", 3, 60_000, 1)]
    assert store.match(strict, 15_000) is None
    redis_client.hset(store.keys.call("CA1"), "first_queued", 1)  # waited for ages
    offer = store.match(strict, 15_000)
    assert offer is not None
    assert offer.agent_id == "junior"


def test_best_caller_across_queues_is_served_first(redis_client: redis.Redis) -> None:
    store = make_store(redis_client)
    queued_caller(store, "CAnet", queue="network", priority=0)
    queued_caller(store, "CAprn", queue="printer", priority=0)
    queued_caller(store, "CAvip", queue="printer", priority=5)
    store.agents.set_state(
        "both", AgentState.AVAILABLE, [("printer", 2), ("network", 2)]
    )
    rules = [QueueRule("network", 1, 0, 1), QueueRule("printer", 1, 0, 1)]
    offer = store.match(rules, 15_000)
    assert offer is not None
    assert (offer.call_sid, offer.queue_id) == ("CAvip", "printer")
    store.reject(offer.offer_id, "no-answer", max_missed=5)
    store.hang_up("CAvip", "completed")
    offer = store.match(rules, 15_000)
    assert offer is not None
    assert offer.call_sid == "CAnet"  # same priority: first come


def test_head_nobody_can_take_does_not_block_another_queue(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    queued_caller(store, "CAold", queue="network")
    queued_caller(store, "CAnew", queue="printer")
    store.agents.set_state("prn", AgentState.AVAILABLE, [("printer", 2)])
    rules = [QueueRule("network", 1, 0, 1), QueueRule("printer", 1, 0, 1)]
    offer = store.match(rules, 15_000)
    assert offer is not None
    assert offer.call_sid == "CAnew"


def test_returning_callers_preferred_hotliner_is_chosen_when_available(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 2)])
    store.agents.set_state("bob", AgentState.AVAILABLE, [("printer", 2)])
    store.start_call("CA1", "+33611111111", "+33180000000", "fr-FR")
    store.note_call("CA1", EventType.IVR_NOTE, preferred="bob")
    store.enqueue("CA1", "printer", 0)
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    assert offer.agent_id == "bob"


def test_skill_level_strategy_prefers_the_expert(redis_client: redis.Redis) -> None:
    store = make_store(redis_client)
    store.agents.set_state(
        "novice", AgentState.AVAILABLE, [("printer", 1)], "skill-level"
    )
    store.agents.set_state(
        "expert", AgentState.AVAILABLE, [("printer", 5)], "skill-level"
    )
    queued_caller(store, "CA1")
    offer = store.match(PRINTER, 15_000, "skill-level")
    assert offer is not None
    assert offer.agent_id == "expert"


def test_fewest_calls_strategy_prefers_who_took_fewer(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    for agent in ("busy-bee", "fresh"):
        store.agents.set_state(
            agent, AgentState.AVAILABLE, [("printer", 2)], "fewest-calls"
        )
    redis_client.hset(store.keys.agent("busy-bee"), "calls", 7)
    # re-announce availability so the score reflects the count
    store.agents.set_state(
        "busy-bee", AgentState.BREAK, [("printer", 2)], "fewest-calls"
    )
    redis_client.hset(store.keys.agent("busy-bee"), "calls", 7)
    store.agents.set_state(
        "busy-bee", AgentState.AVAILABLE, [("printer", 2)], "fewest-calls"
    )
    queued_caller(store, "CA1")
    offer = store.match(PRINTER, 15_000, "fewest-calls")
    assert offer is not None
    assert offer.agent_id == "fresh"


def test_handle_times_are_measured_per_queue(redis_client: redis.Redis) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    store.accept(offer.offer_id, "CAleg")
    store.bridge("CA1")
    redis_client.hset(store.keys.call("CA1"), "talk_started", 1)
    store.hang_up("CA1", "completed", wrapup_ms=30_000)
    store.record_outcome("CA1", "alice", "resolved", "")
    stats = store.queue_stats("printer")
    assert stats["talk_ms"] > 1_000_000
    assert "wrapup_ms" in stats


def test_after_overflow_the_backup_queues_hotliners_help(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("desk", AgentState.AVAILABLE, [("general", 2)])
    queued_caller(store, "CA1", queue="network")
    rule = [QueueRule("network", 1, 60_000, 1, "general")]
    assert store.match(rule, 15_000) is None
    redis_client.hset(store.keys.call("CA1"), "first_queued", 1)
    offer = store.match(rule, 15_000)
    assert offer is not None
    assert (offer.agent_id, offer.queue_id) == ("desk", "network")


def test_a_callers_last_queue_and_hotliner_are_remembered_by_number(
    redis_client: redis.Redis,
) -> None:
    store = make_store(redis_client)
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    queued_caller(store, "CA1")  # from +33611111111
    history = store.caller_history("+33611111111")
    assert (history["last_call"], history["last_queue"]) == ("CA1", "printer")
    assert history["last_started"] == store.call("CA1")["created"]
    assert "agent" not in history
    offer = store.match(PRINTER, 15_000)
    assert offer is not None
    store.accept(offer.offer_id, "CAleg")
    store.bridge("CA1")
    store.hang_up("CA1", "completed")
    history = store.caller_history("+33611111111")
    assert history["agent"] == "alice"
    assert 0 < redis_client.ttl(store.keys.caller("+33611111111")) <= 30 * 86_400


def test_a_caller_without_a_number_is_not_remembered(redis_client: redis.Redis) -> None:
    store = make_store(redis_client)
    store.start_call("CA1", "anonymous", "+33180000000", "fr-FR")
    store.enqueue("CA1", "printer", 0)
    assert redis_client.keys(store.keys.base + "caller:*") == []


def test_offers_are_paced_to_the_carriers_calls_per_second(
    redis_client: redis.Redis,
) -> None:
    """Each offer rings a hotliner with an outbound call, and Twilio places an
    account's calls at its CPS: past it, nothing is offered (nobody reserved,
    nobody taken out of the queue) and the worker is told when to go on."""
    now = [1_000_000]
    store = RoutingStore(redis_client, clock=lambda: now[0])
    for agent in ("alice", "bob", "carol", "dan", "erin", "fay"):
        store.agents.set_state(agent, AgentState.AVAILABLE, [("printer", 2)])
    for sid in ("CA1", "CA2", "CA3", "CA4", "CA5", "CA6"):
        queued_caller(store, sid)

    first = store.match(PRINTER, 15_000, per_second=2)
    second = store.match(PRINTER, 15_000, per_second=2)
    assert isinstance(first, Offer)
    assert isinstance(second, Offer)
    assert store.match(PRINTER, 15_000, per_second=2) == Paced(wait_ms=500)
    assert store.waiting("printer") == ["CA3", "CA4", "CA5", "CA6"]
    assert store.call("CA3")["state"] == "queued"
    assert set(store.agents.states(["carol", "dan", "erin", "fay"]).values()) == {
        "available"
    }
    assert redis_client.zscore(store.keys.timers, "dispatch") == now[0] + 500

    now[0] += 200  # 0.4 of a token: 300 ms to go, the timer brought forward
    assert store.match(PRINTER, 15_000, per_second=2) == Paced(wait_ms=300)
    assert redis_client.zscore(store.keys.timers, "dispatch") == now[0] + 300
    now[0] += 300
    third = store.match(PRINTER, 15_000, per_second=2)
    assert isinstance(third, Offer)
    assert third.call_sid == "CA3"
    assert isinstance(store.match(PRINTER, 15_000, per_second=2), Paced)

    now[0] += 60_000  # a quiet minute fills the bucket to a second's worth, no more
    assert isinstance(store.match(PRINTER, 15_000, per_second=2), Offer)
    assert isinstance(store.match(PRINTER, 15_000, per_second=2), Offer)
    assert isinstance(store.match(PRINTER, 15_000, per_second=2), Paced)
    last = store.match(PRINTER, 15_000)  # 0: not paced
    assert isinstance(last, Offer)
    assert last.call_sid == "CA6"


def test_nobody_to_offer_takes_no_token_and_sets_no_timer(
    redis_client: redis.Redis,
) -> None:
    now = [1_000_000]
    store = RoutingStore(redis_client, clock=lambda: now[0])
    queued_caller(store, "CA1")  # nobody logged in
    for _ in range(3):
        assert store.match(PRINTER, 15_000, per_second=1) is None
    assert redis_client.zscore(store.keys.timers, "dispatch") is None
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 2)])
    offer = store.match(PRINTER, 15_000, per_second=1)
    assert isinstance(offer, Offer)
    assert offer.agent_id == "alice"
