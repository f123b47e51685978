"""bench/fidelity.py's reading of the timelines: idle hotliners, waits, hand-offs."""

from __future__ import annotations

import pytest

from bench.fidelity import (
    Caller,
    Hotliners,
    Leg,
    had_to_wait,
    handoffs,
    idle_spells,
    merge,
)


def caller(sid: str, ready: float, rung: float | None, bridged: float | None) -> Caller:
    return Caller(
        sid=sid,
        number="+336" + sid,
        ready=ready,
        rung=rung,
        bridged=bridged,
        end=None,
        lost="" if bridged is not None else "never bridged",
        talk=1.0,
    )


def leg(agent: str, created: float, ended: float, peer: str) -> Leg:
    return Leg(
        sid="CA" + peer,
        agent=agent,
        created=created,
        answered=created,
        whisper=None,
        in_conference=None,
        bridged=None,
        ended=ended,
        outcome=None,
        peer=peer,
    )


def test_merge_joins_overlapping_spans() -> None:
    assert merge([(5.0, 6.0), (0.0, 2.0), (1.0, 3.0)]) == [(0.0, 3.0), (5.0, 6.0)]


def test_a_hotliner_is_idle_outside_its_legs_once_logged_in() -> None:
    team = Hotliners({"a": [(1.0, 4.0)], "b": []}, {"a": 0.0, "b": 2.0})

    assert team.idle_at(0.5) == 1  # a idle, b not logged in yet
    assert team.idle_at(3.0) == 1  # a ringing or talking, b idle
    assert team.idle_at(4.0) == 2  # a hung up at 4: free


def test_idle_while_waiting_weighs_each_waiting_caller() -> None:
    # a busy 0-4, b busy 0-10; one caller waits 2-6, another 3-5.
    team = Hotliners({"a": [(0.0, 4.0)], "b": [(0.0, 10.0)]}, {"a": 0.0, "b": 0.0})

    overlap, total = team.idle_while([(2.0, 6.0), (3.0, 5.0)])

    assert total == pytest.approx(4.0 + 2.0)
    assert overlap == pytest.approx(2.0 + 1.0)  # a idle from 4 on


def test_nobody_idle_while_callers_wait_is_zero() -> None:
    team = Hotliners({"a": [(0.0, 4.0), (4.0, 9.0)]}, {"a": 0.0})

    assert team.idle_while([(1.0, 4.0)]) == (0.0, 3.0)


def test_a_caller_waits_when_the_only_idle_hotliner_is_owed_to_one_ahead() -> None:
    # One hotliner: busy 0.01-10, idle 10-10.05 (the hand-off), busy again.
    first = caller("1", 0.0, 0.01, 0.03)
    ahead = caller("2", 5.0, 10.05, 10.08)  # queued, rung after the hand-off
    during_handoff = caller("3", 10.02, 20.05, 20.1)
    free_line = caller("4", 30.0, 30.01, 30.05)
    team = Hotliners(
        {"a": [(0.01, 10.0), (10.05, 20.0), (20.05, 25.0), (30.01, 35.0)]},
        {"a": 0.0},
    )

    waited = had_to_wait(team, [first, ahead, during_handoff, free_line])

    assert waited == [False, True, True, False]


def test_each_hang_up_while_callers_wait_claims_the_next_bridge() -> None:
    callers = [
        caller("1", 0.0, 0.0, 0.02),
        caller("2", 5.0, 10.03, 10.08),  # waits for a's hang-up at 10
        caller("3", 6.0, 12.01, 12.06),  # waits for b's hang-up at 12
    ]
    legs = [
        leg("a", 0.0, 10.0, "1"),
        leg("b", -1.0, 12.0, "0"),
        leg("a", 10.03, 15.0, "2"),  # nobody waits unassigned at 15
        leg("b", 12.01, 16.0, "3"),
    ]

    found = handoffs(callers, legs)

    assert [(g.agent, round(d, 3), c.sid) for g, d, c in found] == [
        ("a", 0.08, "2"),
        ("b", 0.06, "3"),
    ]


def test_idle_spells_are_ranked_by_the_wait_they_let_happen() -> None:
    # a idle 0-1 (nobody waits) and 5-9 (one caller waits 6-8);
    # b idle 0-2 while a caller waits 1-2.
    team = Hotliners(
        {"a": [(1.0, 5.0), (9.0, 10.0)], "b": [(2.0, 10.0)]}, {"a": 0.0, "b": 0.0}
    )

    spells = idle_spells(team, [(1.0, 2.0), (6.0, 8.0)], end=10.0)

    assert spells == [
        (2.0, "a", 5.0, 9.0),
        (1.0, "b", 0.0, 2.0),
        (0.0, "a", 0.0, 1.0),
    ]
