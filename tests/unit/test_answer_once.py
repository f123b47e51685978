"""A call is answered once: the first hotliner's answer sets its wait (ASA,
service level); a cold transfer's second answer does not, and a call back
the caller never picks up is no answer at all."""

from __future__ import annotations

from calllog.models import Call
from calllog.projection import StreamEvent, apply_event


def _play(*events: tuple[str, str, int, dict[str, str]]) -> Call:
    row: Call | None = None
    for n, (kind, agent, at, data) in enumerate(events, start=1):
        row = apply_event(row, StreamEvent(f"{n}-0", kind, "CAa", agent, at, data))
    assert row is not None
    return row


def test_a_transferred_call_keeps_its_first_answer_and_wait() -> None:
    row = _play(
        ("enqueued", "", 1_000, {"queue": "email", "queued_at": "1000"}),
        ("accepted", "nina", 4_000, {"queued_at": "1000"}),
        ("talking", "nina", 4_500, {}),
        ("transferred", "nina", 60_000, {"queue": "printer", "queued_at": "1000"}),
        ("accepted", "omar", 70_000, {"queued_at": "1000"}),
        ("call_ended", "omar", 90_000, {"state": "completed"}),
    )
    assert row.wait_seconds == 3.0  # not 69: her talk was no wait
    assert row.answered_at is not None
    assert round(row.answered_at.timestamp()) == 4
    assert (row.agent_id, row.transfers) == ("omar", 1)


def test_a_call_back_never_picked_up_is_not_answered() -> None:
    row = _play(
        ("enqueued", "", 1_000, {"queue": "account", "queued_at": "1000"}),
        ("callback_requested", "", 2_000, {"number": "+33611111111"}),
        ("accepted", "acc", 30_000, {"queued_at": "1000"}),
        ("callback_failed", "acc", 40_000, {}),
    )
    assert (row.answered_at, row.wait_seconds) == (None, None)
    row = _play(
        ("enqueued", "", 1_000, {"queue": "account", "queued_at": "1000"}),
        ("callback_requested", "", 2_000, {"number": "+33611111111"}),
        ("accepted", "acc", 30_000, {"queued_at": "1000"}),
        ("call_ended", "", 45_000, {"state": "abandoned", "reason": "callback_failed"}),
    )
    assert (row.status, row.outcome, row.answered_at) == (
        "abandoned",
        "callback_failed",
        None,
    )


def test_a_call_back_picked_up_at_the_second_attempt_is_answered_then() -> None:
    row = _play(
        ("enqueued", "", 1_000, {"queue": "account", "queued_at": "1000"}),
        ("accepted", "acc", 30_000, {"queued_at": "1000"}),
        ("callback_failed", "acc", 40_000, {}),
        ("accepted", "acc", 50_000, {"queued_at": "1000"}),
        ("talking", "acc", 52_000, {}),
    )
    assert row.wait_seconds == 49.0
