"""What the IVR knows of a returning caller, decided from the Redis summary."""

from __future__ import annotations

from queues.history import earlier_call, is_rememberable, merged, preferred_agent

DAY = 86_400_000
NOW = 1_800_000_000_000
SUMMARY = {
    "last_call": "CAold",
    "last_queue": "printer",
    "last_started": str(NOW - DAY),
    "agent": "alice",
    "agent_at": str(NOW - 3 * 3_600_000),
}


def test_a_call_of_yesterday_is_an_earlier_call_within_seven_days() -> None:
    earlier = earlier_call(SUMMARY, NOW, 7, excluding="CAnew")
    assert earlier is not None
    assert (earlier.call_sid, earlier.queue) == ("CAold", "printer")
    assert earlier.started_at.timestamp() * 1000 == NOW - DAY


def test_an_earlier_call_out_of_the_window_or_the_same_call_is_not_one() -> None:
    assert earlier_call(SUMMARY, NOW, 0, excluding="CAnew") is None
    assert earlier_call(SUMMARY, NOW + 8 * DAY, 7, excluding="CAnew") is None
    assert earlier_call(SUMMARY, NOW, 7, excluding="CAold") is None
    assert earlier_call({}, NOW, 7, excluding="CAnew") is None


def test_the_last_hotliner_is_preferred_within_the_hours_set() -> None:
    assert preferred_agent(SUMMARY, NOW, 24) == "alice"
    assert preferred_agent(SUMMARY, NOW, 2) is None
    assert preferred_agent(SUMMARY, NOW, 0) is None
    assert preferred_agent({"last_call": "CAold"}, NOW, 24) is None


def test_only_phone_numbers_are_remembered() -> None:
    assert is_rememberable("+33612345678")
    assert not is_rememberable("anonymous")
    assert not is_rememberable("+336{hl}")
    assert not is_rememberable("")


def test_a_callers_summaries_from_two_groups_give_the_latest_of_each() -> None:
    network = {"last_call": "CA2", "last_queue": "network", "last_started": "2000"}
    desk = {
        "last_call": "CA1",
        "last_queue": "printer",
        "last_started": "1000",
        "agent": "d1",
        "agent_at": "1500",
    }
    assert merged([network, desk]) == {
        "last_call": "CA2",
        "last_queue": "network",
        "last_started": "2000",
        "agent": "d1",
        "agent_at": "1500",
    }
    assert merged([{}, desk]) == desk
    assert merged([{}, {}]) == {}
    assert merged([]) == {}
