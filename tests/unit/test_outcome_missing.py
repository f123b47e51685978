"""A call never ends without an outcome: a wrap-up that ends without one
(timed out, or left by hand) marks the call `outcome_missing`."""

from __future__ import annotations

import pytest

from calllog.models import Call
from calllog.projection import OUTCOME_MISSING, StreamEvent, apply_event


def _handled(sid: str = "CAw") -> Call:
    row = apply_event(
        None,
        StreamEvent("1-0", "accepted", sid, "nina", 1_000, {"queued_at": "500"}),
    )
    assert row is not None
    row = apply_event(
        row,
        StreamEvent("2-0", "call_ended", sid, "nina", 9_000, {"state": "completed"}),
    )
    assert row is not None
    return row


@pytest.mark.parametrize("reason", ["wrapup_timeout", ""])
def test_a_wrapup_that_ends_without_an_outcome_says_so(reason: str) -> None:
    row = _handled()
    event = StreamEvent(
        "3-0",
        "agent_state",
        "CAw",
        "nina",
        70_000,
        {"state": "available", "from": "wrapup", "reason": reason},
    )
    after = apply_event(row, event)
    assert after is not None
    assert after.outcome == OUTCOME_MISSING


def test_an_outcome_given_in_time_stays() -> None:
    row = _handled()
    row = apply_event(
        row,
        StreamEvent("3-0", "outcome", "CAw", "nina", 20_000, {"outcome": "resolved"}),
    )
    assert row is not None
    ended = StreamEvent(
        "4-0",
        "agent_state",
        "CAw",
        "nina",
        20_000,
        {"state": "available", "from": "wrapup"},
    )
    after = apply_event(row, ended)
    assert after is not None
    assert after.outcome == "resolved"
    # And a late outcome (from the list of calls to complete) replaces the mark.
    row.outcome = OUTCOME_MISSING
    late = apply_event(
        row,
        StreamEvent("5-0", "outcome", "CAw", "nina", 90_000, {"outcome": "escalated"}),
    )
    assert late is not None
    assert late.outcome == "escalated"


def test_an_extended_wrapup_is_not_an_end() -> None:
    row = _handled()
    extended = StreamEvent(
        "3-0",
        "agent_state",
        "CAw",
        "nina",
        30_000,
        {"state": "wrapup", "from": "wrapup", "reason": "extended"},
    )
    after = apply_event(row, extended)
    assert after is not None
    assert after.outcome is None
