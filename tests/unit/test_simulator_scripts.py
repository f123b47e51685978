"""What a simulated hotliner decides: the length of each conversation."""

from __future__ import annotations

from simulator.scripts import HotlinerProfile


def test_talk_seconds_is_the_length_of_every_call_by_default() -> None:
    profile = HotlinerProfile("alice", "client:alice", talk_seconds=42.0)

    assert profile.talk_seconds_with("+33612345678") == 42.0
    assert profile.talk_seconds_with(None) == 42.0


def test_talk_time_decides_per_caller_number() -> None:
    talks = {"+33600000001": 12.5, "+33600000002": 300.0}
    profile = HotlinerProfile(
        "alice", "client:alice", talk_seconds=42.0, talk_time=talks.__getitem__
    )

    assert profile.talk_seconds_with("+33600000001") == 12.5
    assert profile.talk_seconds_with("+33600000002") == 300.0
    # A leg with no outside number (none known) falls back to talk_seconds.
    assert profile.talk_seconds_with(None) == 42.0
