"""The call and agent lifecycle tables."""

from __future__ import annotations

import pytest

from agents.lifecycle import AgentState, can_request
from queues.errors import IllegalCallMove
from queues.lifecycle import (
    TERMINAL,
    TRANSITIONS,
    CallEvent,
    CallState,
    lua_tables,
    next_state,
    queue_score,
)


def test_no_move_leaves_a_terminal_state_but_a_message_left_after_the_hangup() -> None:
    leaving = {(state, event) for state, event in TRANSITIONS if state in TERMINAL}
    assert leaving == {(CallState.ABANDONED, CallEvent.LEAVE_MESSAGE)}


def test_every_state_but_the_final_ones_can_end() -> None:
    ending = {state for state, event in TRANSITIONS if event is CallEvent.HANGUP}
    # No inbound leg to hang up: the caller already hung up, or the call is
    # a call back of ours not yet dialled.
    waiting_for_callback = {CallState.CALLBACK_WAIT, CallState.SCHEDULED}
    assert ending | TERMINAL | waiting_for_callback == set(CallState)


def test_the_table_reaches_the_scripts_as_lua() -> None:
    lua = lua_tables()
    assert "local INITIAL = 'ivr'" in lua
    assert "hangup = {connected = 'completed', ivr = 'abandoned'" in lua
    assert "TERMINAL = {abandoned = true, completed = true" in lua


def test_rejected_offer_puts_the_caller_back_in_the_queue() -> None:
    assert next_state(CallState.OFFERED, CallEvent.OFFER_REJECTED) is CallState.QUEUED


def test_hanging_up_before_a_hotliner_is_an_abandon_after_is_completed() -> None:
    assert next_state(CallState.QUEUED, CallEvent.HANGUP) is CallState.ABANDONED
    assert next_state(CallState.OFFERED, CallEvent.HANGUP) is CallState.ABANDONED
    assert next_state(CallState.TALKING, CallEvent.HANGUP) is CallState.COMPLETED


def test_illegal_move_names_state_and_event() -> None:
    with pytest.raises(IllegalCallMove, match="'completed'.*'offer'"):
        next_state(CallState.COMPLETED, CallEvent.OFFER)


def test_priority_beats_arrival_and_arrival_breaks_ties() -> None:
    early_low = queue_score(0, 1_700_000_000_000)
    late_high = queue_score(5, 1_800_000_000_000)
    later_low = queue_score(0, 1_700_000_000_001)
    assert late_high < early_low < later_low
    assert float(early_low) == early_low  # exact in a Redis double score


def test_scores_refuse_priorities_outside_0_to_9() -> None:
    with pytest.raises(ValueError, match="priority"):
        queue_score(10, 0)


def test_hotliner_on_a_call_cannot_ask_for_a_break() -> None:
    assert not can_request(AgentState.BUSY, AgentState.BREAK)
    assert not can_request(AgentState.RESERVED, AgentState.OFFLINE)
    assert can_request(AgentState.WRAPUP, AgentState.AVAILABLE)
    assert can_request(AgentState.AWAY, AgentState.AVAILABLE)
