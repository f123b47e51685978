"""What a waiting caller is told: position and an honest estimated wait.

Reads live figures (position, measured handle time, who is logged in for the
queue) from the store and applies `queues.routing.estimated_wait_seconds`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agents.lifecycle import AgentState
from core.clock import utcnow
from queues.config import RoutingConfig
from queues.routing import estimated_wait_seconds, serving
from queues.store import RoutingStore

LOGGED_IN = frozenset(
    {AgentState.AVAILABLE, AgentState.RESERVED, AgentState.BUSY, AgentState.WRAPUP}
)


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    position: int | None  # None: the caller is no longer waiting in that queue
    seconds: float | None  # None: nobody serves the queue now
    agents_logged_in: int


def handle_seconds(store: RoutingStore, routing: RoutingConfig, queue_id: str) -> float:
    """Average handle time (talk + wrap-up) measured on the queue, or its default."""
    queue = routing.queue(queue_id)
    default = queue.default_handle_seconds if queue else 300
    stats = store.queue_stats(queue_id)
    if "talk_ms" not in stats:
        return float(default)
    return (stats["talk_ms"] + stats.get("wrapup_ms", 0.0)) / 1000


#: Hotliners whose state `is_staffed` reads at a time.
STAFFED_CHUNK = 32


def estimate(
    store: RoutingStore, routing: RoutingConfig, queue_id: str, call_sid: str
) -> WaitEstimate:
    position = store.position(queue_id, call_sid)
    states = store.agents.states(serving(routing, queue_id))
    logged_in = sum(1 for s in states.values() if s in LOGGED_IN)
    idle = sum(1 for s in states.values() if s == AgentState.AVAILABLE)
    if position is None:
        return WaitEstimate(None, None, logged_in)
    seconds = estimated_wait_seconds(
        position, handle_seconds(store, routing, queue_id), logged_in, idle
    )
    return WaitEstimate(position, seconds, logged_in)


def is_staffed(
    store: RoutingStore,
    routing: RoutingConfig,
    queue_id: str,
    at: datetime | None = None,
    priority: int = 0,
) -> bool:
    """Someone who may serve this caller in the queue is on shift and logged
    in right now (a specialist on call counts only for callers their rule
    lets through: the match would never offer them the others).

    A caller is not held in a queue nobody serves (Asterisk's `joinempty`):
    they hear it at once and choose a callback or a message instead.
    """
    when = at or utcnow()
    incident: list[bool] = []  # read once, if a rule asks

    def takes(agent_id: str) -> bool:
        rule = routing.hotliners[agent_id].on_call  # type: ignore[index]
        if rule is None or priority >= rule.min_priority:
            return True
        if not incident:
            incident.append(bool(store.redis.exists(store.keys.incident)))
        return rule.accepts(priority, incident[0])

    candidates = [
        agent_id
        for agent_id in serving(routing, queue_id)
        if routing.roster.on_shift(agent_id, when) and takes(agent_id)
    ]
    # A few at a time, stopping at the first one logged in: every caller
    # entering a queue asks, and reading a thousand hotliners' states for
    # each made the web's work per call grow with the team.
    for start in range(0, len(candidates), STAFFED_CHUNK):
        states = store.agents.states(candidates[start : start + STAFFED_CHUNK])
        if any(state != AgentState.OFFLINE for state in states.values()):
            return True
    return False
