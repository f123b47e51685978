"""Eligibility, memberships and the estimated wait."""

from __future__ import annotations

from pathlib import Path

import pytest

from queues.config import load_routing_config
from queues.routing import (
    announced_minutes,
    estimated_wait_seconds,
    memberships,
    queue_for_language,
    rules,
    serving,
)

CONFIG = Path(__file__).resolve().parents[2] / "config"


def test_memberships_follow_skills_and_levels() -> None:
    routing = load_routing_config(CONFIG)
    amelie = routing.hotliners["amelie"]  # type: ignore[index]
    assert sorted(memberships(amelie, routing)) == [
        ("general", 3),
        ("printer", 3),
        ("software", 4),
    ]
    assert "amelie" in serving(routing, "printer")
    assert "amelie" not in serving(routing, "network")


def test_every_queue_has_a_rule() -> None:
    routing = load_routing_config(CONFIG)
    assert {r.queue_id for r in rules(routing)} == set(routing.queues)


def test_caller_in_a_language_without_its_own_queue_stays_in_the_named_one() -> None:
    routing = load_routing_config(CONFIG)
    assert queue_for_language(routing, "printer", "en-US") == "printer"


def test_next_caller_with_an_idle_hotliner_waits_nothing() -> None:
    assert estimated_wait_seconds(1, 300, agents_logged_in=3, agents_idle=1) == 0.0


def test_wait_grows_with_position_and_shrinks_with_hotliners() -> None:
    three = estimated_wait_seconds(4, 300, agents_logged_in=3, agents_idle=0)
    six = estimated_wait_seconds(4, 300, agents_logged_in=6, agents_idle=0)
    later = estimated_wait_seconds(8, 300, agents_logged_in=3, agents_idle=0)
    assert three == pytest.approx(350.0)
    assert six == pytest.approx(175.0)
    assert later is not None
    assert three is not None
    assert later > three


def test_nobody_logged_in_means_no_figure() -> None:
    assert estimated_wait_seconds(1, 300, agents_logged_in=0, agents_idle=0) is None


def test_minutes_for_speech_round_up_and_skip_tiny_waits() -> None:
    assert announced_minutes(None) is None
    assert announced_minutes(10) == 0
    assert announced_minutes(61) == 2
