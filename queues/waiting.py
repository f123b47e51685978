"""What a waiting caller is told: position and an honest estimated wait.

Reads live figures (position, measured handle time, who is logged in for the
queue) from the store and applies `queues.routing.estimated_wait_seconds`.
"""

from __future__ import annotations

import threading
import time
import weakref
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


#: How long a queue's staffing figures are shared by the wait estimates of a
#: process (seconds). Every waiting caller's hold loop asks for an estimate,
#: and the figures read every serving hotliner's state: with 5,000 callers
#: waiting and 1,000 hotliners, reading them for each would cost the web more
#: than the calls. A second-old count changes no spoken estimate.
STAFF_FIGURES_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class StaffFigures:
    logged_in: int  # serving hotliners logged in (idle, ringing, talking, wrap-up)
    idle: int
    handle_seconds: float


class _SharedFigures:
    """Each store's figures per queue, made at most once per `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._lock = threading.Lock()
        self._made: weakref.WeakKeyDictionary[
            RoutingStore, dict[tuple[int, str], tuple[float, StaffFigures]]
        ] = weakref.WeakKeyDictionary()

    def get(
        self, store: RoutingStore, routing: RoutingConfig, queue_id: str
    ) -> StaffFigures:
        key = (id(routing), queue_id)  # a new configuration counts anew
        now = time.monotonic()
        with self._lock:
            made = self._made.get(store, {}).get(key)
        if made is not None and now - made[0] < self.seconds:
            return made[1]
        states = store.agents.states(serving(routing, queue_id))
        figures = StaffFigures(
            logged_in=sum(1 for s in states.values() if s in LOGGED_IN),
            idle=sum(1 for s in states.values() if s == AgentState.AVAILABLE),
            handle_seconds=handle_seconds(store, routing, queue_id),
        )
        with self._lock:
            self._made.setdefault(store, {})[key] = (now, figures)
        return figures


STAFF_FIGURES = _SharedFigures(STAFF_FIGURES_SECONDS)


def estimate(
    store: RoutingStore, routing: RoutingConfig, queue_id: str, call_sid: str
) -> WaitEstimate:
    position = store.position(queue_id, call_sid)
    staff = STAFF_FIGURES.get(store, routing, queue_id)
    if position is None:
        return WaitEstimate(None, None, staff.logged_in)
    seconds = estimated_wait_seconds(
        position, staff.handle_seconds, staff.logged_in, staff.idle
    )
    return WaitEstimate(position, seconds, staff.logged_in)


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
        for agent_id in routing.roster.on_duty(serving(routing, queue_id), when)
        if takes(agent_id)
    ]
    # A few at a time, stopping at the first one logged in: every caller
    # entering a queue asks, and reading a thousand hotliners' states for
    # each made the web's work per call grow with the team.
    for start in range(0, len(candidates), STAFFED_CHUNK):
        states = store.agents.states(candidates[start : start + STAFFED_CHUNK])
        if any(state != AgentState.OFFLINE for state in states.values()):
            return True
    return False
