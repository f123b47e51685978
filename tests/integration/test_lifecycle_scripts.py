"""Every script, from every state, on a real Redis, against the lifecycle table.

For each call state a call is brought there through the store's own moves,
then one event's script runs; the state it leaves the call in must be the one
`queues.lifecycle.TRANSITIONS` gives (or the same state where the table has no
such move). Callback events run on calls whose caller asked to be called back.
"""

from __future__ import annotations

import pytest
import redis

from agents.lifecycle import AgentState
from core.keys import Keys
from queues.lifecycle import TERMINAL, TRANSITIONS, CallEvent, CallState
from queues.routing import QueueRule
from queues.scripts import ENDED_CALL_SECONDS
from queues.store import RoutingStore

PRINTER = [QueueRule("printer", 1, 0, 1)]
SID = "CAlife"
CALLBACK_EVENTS = frozenset(
    {CallEvent.CALLBACK_FAILED, CallEvent.CALLBACK_GIVEN_UP, CallEvent.RETRY_CALLBACK}
)


def available(store: RoutingStore, agent: str) -> None:
    done, _ = store.agents.set_state(agent, AgentState.AVAILABLE, [("printer", 3)])
    assert done


def reach(store: RoutingStore, state: CallState, *, callback: bool) -> None:
    """Bring call SID to `state` through the store's own moves."""
    if state is CallState.SCHEDULED:
        # A call back scheduled by a hotliner after another call.
        store.start_call("CAfollowed", "+33611111111", "+33180000000", "fr-FR")
        assert store.schedule_callback(
            SID,
            "CAfollowed",
            due_ms=store.clock() + 60_000,
            queue_id="printer",
            priority=8,
            number="+33611111111",
            language="fr-FR",
            agent_id="alice",
            notes="",
            hotline_number="+33180000000",
        )
        return
    store.start_call(SID, "+33611111111", "+33180000000", "fr-FR")
    if state is CallState.IVR:
        return
    if state is CallState.ABANDONED:
        assert store.hang_up(SID, "completed") is not None
        return
    if state is CallState.SELF_SERVED:
        assert store.self_serve(SID, "self_service_resolved")
        return
    if state is CallState.VOICEMAIL:
        assert store.leave_voicemail(SID, "https://r.test/RE1", 4)
        return
    assert store.enqueue(SID, "printer", 0) == 1
    if callback:
        assert store.request_callback(SID, "+33611111111")
    if state is CallState.QUEUED:
        return
    available(store, "alice")
    offer = store.match(PRINTER, 60_000)
    assert offer is not None
    if state is CallState.OFFERED:
        return
    assert store.accept(offer.offer_id, "CAlegalice") is not None
    if state is CallState.CONNECTED:
        return
    if state is CallState.CALLBACK_WAIT:
        assert store.callback_failed(SID, 3, "no-answer") is not None
        return
    assert store.bridge(SID) == "talking"
    if state is CallState.TALKING:
        return
    assert state is CallState.COMPLETED
    assert store.hang_up(SID, "completed", leg="callback" if callback else "caller")


def run(store: RoutingStore, event: CallEvent) -> None:
    """The script(s) an event runs, as the webhooks and jobs run them."""
    call = store.call(SID)
    offer = call.get("offer") or "no-offer"
    if event is CallEvent.ENQUEUE:
        store.enqueue(SID, "printer", 0)
    elif event is CallEvent.OFFER:
        available(store, "bob")
        store.match(PRINTER, 60_000)
    elif event is CallEvent.OFFER_REJECTED:
        store.reject(offer, "no-answer", 3)
    elif event is CallEvent.ACCEPT:
        store.accept(offer, "CAlegnew")
    elif event is CallEvent.BRIDGE:
        store.bridge(SID)
    elif event is CallEvent.HOTLINER_LEFT:
        # the hotliner's leg ends; a caller left alone is then moved back
        store.agent_leg_ended(call.get("agent", "alice"), call.get("leg") or "CAx")
        store.requeue_alone(SID)
    elif event is CallEvent.HANGUP:
        store.hang_up(SID, "completed")
    elif event is CallEvent.SELF_SERVE:
        store.self_serve(SID, "self_service_resolved")
    elif event is CallEvent.LEAVE_MESSAGE:
        store.leave_voicemail(SID, "https://r.test/RE2", 6)
    elif event is CallEvent.CALLBACK_FAILED:
        store.callback_failed(SID, 3, "no-answer")
    elif event is CallEvent.CALLBACK_GIVEN_UP:
        store.callback_failed(SID, 1, "no-answer")
    elif event is CallEvent.RETRY_CALLBACK:
        store.requeue_callback(SID)
    elif event is CallEvent.TRANSFER:
        store.transfer(
            SID,
            call.get("agent") or "alice",
            "network",
            priority_bump=1,
            wrapup_ms=0,
        )
    else:  # pragma: no cover - a new event needs its runner here
        raise AssertionError(f"no runner for {event}")


CASES: list[tuple[CallState, CallEvent, bool]] = [
    (state, event, event in CALLBACK_EVENTS)
    for state in CallState
    for event in CallEvent
    # a waiting-for-callback call only exists with the callback flag
    if event in CALLBACK_EVENTS or state is not CallState.CALLBACK_WAIT
    # a scheduled call back is one (reached its own way, flag set)
    if state is not CallState.SCHEDULED or event not in CALLBACK_EVENTS
]


@pytest.mark.parametrize(
    ("state", "event", "callback"), CASES, ids=[f"{s}-{e}" for s, e, _ in CASES]
)
def test_each_script_moves_a_call_as_the_table_says(
    redis_client: redis.Redis, state: CallState, event: CallEvent, callback: bool
) -> None:
    if callback and state in (
        CallState.IVR,
        CallState.SELF_SERVED,
        CallState.VOICEMAIL,
        CallState.ABANDONED,
    ):
        pytest.skip("no callback before the caller is queued")
    store = RoutingStore(redis_client, Keys(prefix="life"))
    reach(store, state, callback=callback)
    assert store.call(SID)["state"] == state
    run(store, event)
    expected = TRANSITIONS.get((state, event), state)
    assert store.call(SID)["state"] == expected, (state, event)
    # An ended call's live state goes a day after; a live call's stays.
    ttl = redis_client.ttl(Keys(prefix="life").call(SID))
    if expected in TERMINAL:
        assert 0 < ttl <= ENDED_CALL_SECONDS, (state, event, ttl)
    else:
        assert ttl == -1, (state, event, ttl)


def test_every_move_of_the_table_is_exercised() -> None:
    exercised = {(s, e) for s, e, _ in CASES}
    assert set(TRANSITIONS) <= exercised
