"""Who may take which queue's calls, and what a waiting caller is told.

Pure: derives from the configuration the rules the `MATCH` script applies
(minimum skill level, when it widens) and each hotliner's queue memberships,
and computes the estimated wait announced to callers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from agents.config import Hotliner
from queues.config import QueueConfig, RoutingConfig


@dataclass(frozen=True, slots=True)
class QueueRule:
    """What `MATCH` needs to know about one queue."""

    queue_id: str
    min_level: int
    overflow_after_ms: int
    overflow_min_level: int
    overflow_queue_id: str = ""  # backup queue whose hotliners help after overflow


def rule_for(queue: QueueConfig) -> QueueRule:
    return QueueRule(
        queue_id=queue.id,
        min_level=queue.min_level,
        overflow_after_ms=queue.overflow_after_seconds * 1000,
        overflow_min_level=min(queue.overflow_min_level, queue.min_level),
        overflow_queue_id=queue.overflow_queue or "",
    )


def rules(
    routing: RoutingConfig, queue_ids: Iterable[str] | None = None
) -> list[QueueRule]:
    """Rules of the given queues (all queues by default)."""
    wanted = set(queue_ids) if queue_ids is not None else None
    return [
        rule_for(q) for q in routing.queues.values() if wanted is None or q.id in wanted
    ]


def is_eligible(hotliner: Hotliner, queue: QueueConfig) -> bool:
    """Has the skill at some level and speaks the queue's language."""
    if queue.skill not in hotliner.skills:
        return False
    return queue.language is None or queue.language in hotliner.languages


def memberships(hotliner: Hotliner, routing: RoutingConfig) -> list[tuple[str, int]]:
    """(queue id, skill level) for every queue this hotliner may serve."""
    return [
        (q.id, hotliner.skills[q.skill])
        for q in routing.queues.values()
        if is_eligible(hotliner, q)
    ]


def serving(routing: RoutingConfig, queue_id: str) -> tuple[str, ...]:
    """Ids of the hotliners who may serve a queue (whatever their state).

    Every caller entering a queue and every estimate asks; with a thousand
    hotliners, sorting them out each time made every call cost more.
    """
    found = routing.serving_cache.get(queue_id)
    if found is None:
        queue = routing.queues.get(queue_id)  # type: ignore[call-overload]
        if queue is None:
            return ()  # not kept: any text may name a queue
        found = tuple(h.id for h in routing.hotliners.values() if is_eligible(h, queue))
        routing.serving_cache[queue_id] = found
    return found


def queue_for_language(routing: RoutingConfig, queue_id: str, lang: str) -> str:
    """The queue of the same skill in the caller's language, if one exists."""
    queue = routing.queue(queue_id)
    if queue is None or queue.language in (None, lang):
        return queue_id
    for other in routing.queues.values():
        if other.skill == queue.skill and other.language == lang:
            return other.id
    return queue_id


def estimated_wait_seconds(
    position: int, handle_seconds: float, agents_logged_in: int, agents_idle: int
) -> float | None:
    """Expected wait of the caller at `position` (1 = next), or None if unknowable.

    With N hotliners serving the queue, a caller at position p waits for
    p - idle calls to end ahead of them; calls end at a rate of N per average
    handle time, and the first one ends on average half a handle time from now
    (residual life of a call in progress). None when nobody serves the queue:
    no honest figure exists, and the caller is better told so.
    """
    if agents_logged_in <= 0:
        return None
    ahead = position - agents_idle
    if ahead <= 0:
        return 0.0
    return (ahead - 0.5) * handle_seconds / agents_logged_in


def announced_minutes(seconds: float | None) -> int | None:
    """Rounded up to whole minutes for speech; None stays None, 0 says nothing."""
    if seconds is None:
        return None
    return math.ceil(seconds / 60) if seconds >= 30 else 0
