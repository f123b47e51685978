"""Every event the routing can emit has a projection into the call log."""

from __future__ import annotations

import re

import pytest

from agents import scripts as agent_scripts
from agents.lifecycle import AgentState
from calllog.projection import StreamEvent, UnknownEvent, apply_event
from queues import consult_scripts, scripts
from queues.lifecycle import CallState, EventType


def emitted_by_scripts() -> set[str]:
    source = "\n".join(
        v
        for module in (scripts, consult_scripts, agent_scripts)
        for v in vars(module).values()
        if isinstance(v, str)
    )
    return set(re.findall(r"emit\([^,]+,\s*'([a-z_]+)'", source))


def test_the_scripts_emit_only_known_event_types() -> None:
    emitted = emitted_by_scripts()
    assert {"call_started", "offered", "call_ended", "agent_state"} <= emitted
    assert emitted <= {t.value for t in EventType}


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


def test_the_scripts_write_only_states_the_lifecycles_name() -> None:
    source = "\n".join(
        v
        for module in (scripts, consult_scripts, agent_scripts)
        for v in vars(module).values()
        if isinstance(v, str)
    )
    written = set(re.findall(r"'state', '([a-z_]+)'", source))
    assert {"available", "wrapup", "reserved", "busy"} <= written
    assert written <= {s.value for s in CallState} | {s.value for s in AgentState}
