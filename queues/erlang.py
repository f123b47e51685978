"""Erlang C, and the ideal first-come-first-served queue it describes.

Pure functions, no I/O: the yardstick a router is measured against
(`bench/fidelity.py`) and a staffing formula. With Poisson arrivals at rate
lambda, exponential handle times of mean AHT and N agents, traffic A = lambda x AHT
Erlangs, a first-come-first-served router that wastes no agent time gives:

- P(wait) = C(N, A), the Erlang C probability that all N agents are busy when a
  caller arrives, computed through the Erlang B recursion (factorials overflow);
- ASA = C x AHT / (N - A), the mean wait over all callers;
- SL(T) = 1 - C x exp(-(N - A) T / AHT), the share answered within T.

`fcfs_waits` plays that ideal router on given arrival times and handle times
(any distribution), so a measured run can be compared with what a zero-overhead
router would have done with exactly the same callers.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence


def erlang_b(agents: int, traffic: float) -> float:
    """Blocking probability of `agents` servers offered `traffic` Erlangs.

    B(0) = 1, B(k) = A B(k-1) / (k + A B(k-1)).
    """
    if agents < 0:
        raise ValueError("agents must be >= 0")
    if traffic < 0:
        raise ValueError("traffic must be >= 0")
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def erlang_c(agents: int, traffic: float) -> float:
    """Probability that a caller waits (all agents busy); 1.0 when A >= N."""
    if agents <= 0 or traffic >= agents:
        return 1.0
    if traffic == 0:
        return 0.0
    blocking = erlang_b(agents, traffic)
    return agents * blocking / (agents - traffic * (1 - blocking))


def average_speed_of_answer(agents: int, traffic: float, handle: float) -> float:
    """Mean wait over all callers (ASA), in the unit of `handle`; inf if A >= N."""
    if traffic >= agents:
        return math.inf
    return erlang_c(agents, traffic) * handle / (agents - traffic)


def wait_beyond(agents: int, traffic: float, handle: float, threshold: float) -> float:
    """Probability that a caller waits longer than `threshold` (same unit as
    `handle`): C x exp(-(N - A) T / AHT)."""
    if traffic >= agents:
        return 1.0
    return erlang_c(agents, traffic) * math.exp(
        -(agents - traffic) * threshold / handle
    )


def service_level(
    agents: int, traffic: float, handle: float, threshold: float
) -> float:
    """Share of callers answered within `threshold`: 1 - C x exp(-(N-A) T / AHT)."""
    return 1.0 - wait_beyond(agents, traffic, handle, threshold)


def agents_for_service_level(
    traffic: float, handle: float, threshold: float, target: float
) -> int:
    """The fewest agents whose SL(threshold) reaches `target` (staffing)."""
    if not 0 < target < 1:
        raise ValueError("target must be between 0 and 1")
    agents = max(1, math.floor(traffic) + 1)
    while service_level(agents, traffic, handle, threshold) < target:
        agents += 1
    return agents


def fcfs_waits(
    arrivals: Sequence[float], handles: Sequence[float], agents: int
) -> list[float]:
    """Waits of an ideal first-come-first-served queue with `agents` servers.

    Caller i arrives at `arrivals[i]` (non-decreasing) and needs `handles[i]`;
    the next caller in arrival order takes the agent free soonest, at once:
    no ringing, no hand-off, no agent idle beside a waiting caller. All agents
    are free at the start.
    """
    if len(arrivals) != len(handles):
        raise ValueError("one handle time per arrival")
    if agents <= 0:
        raise ValueError("agents must be >= 1")
    free_at = [-math.inf] * agents
    waits: list[float] = []
    previous = -math.inf
    for arrival, handle in zip(arrivals, handles, strict=True):
        if arrival < previous:
            raise ValueError("arrivals must be in time order")
        previous = arrival
        soonest = heapq.heappop(free_at)
        start = max(arrival, soonest)
        waits.append(start - arrival)
        heapq.heappush(free_at, start + handle)
    return waits
