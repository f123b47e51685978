"""Every event the routing can emit has a projection into the call log."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agents import scripts as agent_scripts
from calllog.projection import StreamEvent, UnknownEvent, apply_event
from queues import scripts
from queues.lifecycle import EventType

ROOT = Path(__file__).resolve().parents[2]


def emitted_by_scripts() -> set[str]:
    source = "\n".join(
        v
        for module in (scripts, agent_scripts)
        for v in vars(module).values()
        if isinstance(v, str)
    )
    return set(re.findall(r"emit\([^,]+,\s*'([a-z_]+)'", source))


def noted_by_python() -> set[str]:
    """Event types handed to NOTE_CALL by name anywhere in the product's code."""
    found: set[str] = set()
    for package in ("queues", "web", "ivr", "agents", "calllog", "cli"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r"note_call\([^,]+,\s*\"([a-z_]+)\"", text))
            found |= set(re.findall(r"_note\([^,]+,\s*\"([a-z_]+)\"", text))
    return found


def test_the_scripts_emit_only_known_event_types() -> None:
    emitted = emitted_by_scripts()
    assert {"call_started", "offered", "call_ended", "agent_state"} <= emitted
    assert emitted <= {t.value for t in EventType}


def test_facts_noted_from_python_are_known_event_types() -> None:
    assert noted_by_python() <= {t.value for t in EventType}


@pytest.mark.parametrize("kind", list(EventType))
def test_every_event_type_has_a_projection(kind: EventType) -> None:
    event = StreamEvent(
        "1-0",
        kind.value,
        "CAev",
        "alice",
        1_800_000_000_000,
        {"state": "completed", "queue": "printer"},
    )
    apply_event(None, event)  # refuses (raises) only what it does not know


def test_an_unknown_event_type_is_refused_not_dropped_silently() -> None:
    with pytest.raises(UnknownEvent, match="'max_wait_offered'"):
        apply_event(None, StreamEvent("1-0", "max_wait_offered", "CAev", "", 1))
