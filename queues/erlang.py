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

Erlang A (M/M/N+M, Palm's queue) adds what Erlang C leaves out: callers hang
up. Each caller's patience is exponential with mean `patience`; one who has
not been answered by then abandons. The queue is then stable at any load, and
a staffing figure no longer assumes that every caller waits for ever (which
overstates the hotliners a service level needs when callers give up).
`erlang_a` computes it on the birth-death chain of the number of callers in
the system, truncated where the remaining mass is below 1e-18 (Mandelbaum and
Zeltyn, "The Palm/Erlang-A Queue, with Applications to Call Centers", 2005,
section 3: birth rate lambda, death rate min(k, N) mu + max(k - N, 0) theta),
then the fate of a caller who finds j callers waiting ahead, worked out in
`_reached_within`. Its P(wait) and P(abandon) agree with the paper's closed
forms (incomplete gamma functions, sections 4.4 and 4.5) to 1e-9
(`tests/unit/test_erlang.py`), and tend to Erlang C's as patience grows.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass


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


#: `erlang_a` stops the chain where the states left hold less than this share
#: of the probability mass.
_TAIL = 1e-18
#: The most states `erlang_a` walks. An overloaded queue (traffic >= agents)
#: keeps about (A - N) x patience / handle callers waiting: a patience of
#: millions of handle times is Erlang C's infinite patience, not Erlang A's.
MAX_STATES = 2_000_000
#: Below this handle / patience ratio, callers never hang up: use Erlang C.
_MIN_ABANDON_RATIO = 1e-12


@dataclass(frozen=True, slots=True)
class ErlangA:
    """Steady-state figures of an M/M/N+M queue, per offered caller.

    Times are in the unit of the `handle`, `patience` and `threshold` given.
    `service_level` is answered within the threshold / every offered caller:
    a caller who hangs up, even within the threshold, counts against it. Of
    the industry variants (Cisco's three on 70 answered in T, 10 abandoned in
    T, 20 later: 77.8 % abandons ignored, 70 % negative, 80 % positive) that
    is the *negative* one, the strictest; Mandelbaum and Zeltyn's P(W <= T)
    on the actual wait W counts an early abandon as good (positive). The
    call log's reports also leave short abandons (< 5 s) out of the
    denominator, which no Erlang formula models.
    """

    wait_probability: float  # P(W > 0): every agent busy when the caller arrives
    abandon_probability: float  # P(Ab): hung up before an agent answered
    service_level: float  # answered within the threshold / offered
    answered_asa: float  # mean wait of the answered callers, zero waits included


def _check_erlang_a(
    agents: int, traffic: float, handle: float, patience: float, threshold: float
) -> None:
    """Refuse arguments for which the figures mean nothing, saying why."""
    if agents < 1:
        raise ValueError("agents must be >= 1 (with none, every caller abandons)")
    if not (math.isfinite(traffic) and traffic >= 0):
        raise ValueError("traffic must be a finite number of Erlangs >= 0")
    if not (math.isfinite(handle) and handle > 0):
        raise ValueError("handle must be a finite time > 0")
    if not (math.isfinite(patience) and patience > 0):
        raise ValueError("patience must be a finite time > 0 (infinite: erlang_c)")
    if handle / patience < _MIN_ABANDON_RATIO:
        raise ValueError("patience over 1e12 handle times never ends: use erlang_c")
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ValueError("threshold must be a finite time >= 0")


def _waiting_distribution(agents: int, traffic: float, gamma: float) -> list[float]:
    """P(an arriving caller finds every agent busy and j callers waiting),
    j = 0, 1, ... (PASTA), with time in handle times: mu = 1, lambda = A,
    theta = gamma = handle / patience.

    Weights are kept as logarithms relative to state N (all busy, nobody
    waiting), so neither A^k / k! nor a long queue overflows: state N + j
    weighs prod_{i<=j} A / (N + i gamma), and the states below N together
    (1 - B) / B, B the Erlang B loss of N agents (the chain below N is
    Erlang's loss system). Truncated where the rest is below `_TAIL`: past
    the mode every ratio is at most the current one, r < 1, so the tail is at
    most the current weight / (1 - r).
    """
    blocking = erlang_b(agents, traffic)
    if blocking == 0.0:
        return []  # every agent busy less often than the smallest float
    log_below = math.log1p(-blocking) - math.log(blocking)
    log_traffic = math.log(traffic)
    logs = [0.0]
    top = 0.0
    while True:
        departures = agents + len(logs) * gamma
        logs.append(logs[-1] + log_traffic - math.log(departures))
        top = max(top, logs[-1])
        ratio = traffic / departures
        if ratio < 1 and logs[-1] - top < math.log(_TAIL * (1 - ratio)):
            break
        if len(logs) > MAX_STATES:
            raise ValueError(
                "patience too long for this load: the queue would hold over "
                f"{MAX_STATES} callers; use erlang_c"
            )
    scale = max(top, log_below)
    weights = [math.exp(x - scale) for x in logs]
    total = math.exp(log_below - scale) + sum(weights)
    return [w / total for w in weights]


def _reached_within(agents: int, gamma: float, t: float, count: int) -> list[float]:
    """P(S_m <= t) for m = 1 .. count, in handle times.

    A caller with m - 1 callers ahead moves up one place at rate N + i gamma
    (a hotliner frees, or one of the i ahead hangs up) and hangs up at rate
    gamma: each stage lasts an exponential of rate N + (i + 1) gamma whatever
    ends it, so the time to an agent, if reached, is S_m, a sum of
    exponentials of rates N + k gamma, k = 1..m, and the chance of reaching
    one telescopes to N / (N + m gamma). S_m has the law of -ln(B) / gamma
    with B ~ Beta(N / gamma + 1, m) (the Laplace transforms agree), hence for
    a whole m: P(S_m <= t) = P(K >= m), K negative binomial with size
    alpha = N / gamma + 1 and x = 1 - exp(-gamma t):
    P(K = k) = (1 - x)^alpha (alpha)_k x^k / k!. Positive terms only, unlike
    the textbook hypoexponential sum whose terms cancel.
    """
    if t == 0 or count == 0:
        return [0.0] * count
    alpha = agents / gamma + 1
    log_x = math.log(-math.expm1(-gamma * t))
    log_term = -(agents + gamma) * t  # log P(K = 0) = alpha log(1 - x)
    below = 0.0  # P(K < m)
    out: list[float] = []
    for m in range(1, count + 1):
        below += math.exp(log_term)
        out.append(max(0.0, 1.0 - below))
        log_term += math.log(alpha + m - 1) + log_x - math.log(m)
    return out


def erlang_a(
    agents: int,
    traffic: float,
    handle: float,
    patience: float,
    threshold: float = 0.0,
) -> ErlangA:
    """Erlang A figures of `agents` hotliners offered `traffic` Erlangs of
    calls lasting `handle` on average, callers hanging up after an
    exponential `patience` of that mean (same unit for the three times).

    A caller who finds j waiting ahead is answered with probability
    N / (N + (j + 1) gamma), gamma = handle / patience, within the threshold
    with that times P(S_{j+1} <= T) (`_reached_within`), after a mean wait of
    sum_{k=1}^{j+1} 1 / (N + k gamma) handle times if answered. Averaged over
    what arrivals find (`_waiting_distribution`).
    """
    _check_erlang_a(agents, traffic, handle, patience, threshold)
    if traffic == 0:
        return ErlangA(0.0, 0.0, 1.0, 0.0)
    gamma = handle / patience
    waiting = _waiting_distribution(agents, traffic, gamma)
    reached = _reached_within(agents, gamma, threshold / handle, len(waiting))
    p_wait = p_abandon = in_time = wait_answered = stages = 0.0
    for j, share in enumerate(waiting):
        rate = agents + (j + 1) * gamma
        stages += 1 / rate  # mean time to an agent, if reached
        answered = agents / rate
        p_wait += share
        p_abandon += share * (j + 1) * gamma / rate
        in_time += share * answered * reached[j]
        wait_answered += share * answered * stages
    return ErlangA(
        wait_probability=p_wait,
        abandon_probability=p_abandon,
        service_level=1.0 - p_wait + in_time,
        answered_asa=wait_answered / (1.0 - p_abandon) * handle,
    )


def erlang_a_wait_probability(
    agents: int, traffic: float, handle: float, patience: float
) -> float:
    """P(a caller waits) in Erlang A: lower than Erlang C's, as hang-ups
    shorten the queue."""
    return erlang_a(agents, traffic, handle, patience).wait_probability


def erlang_a_abandon_probability(
    agents: int, traffic: float, handle: float, patience: float
) -> float:
    """Share of offered callers who hang up before an answer (Erlang A)."""
    return erlang_a(agents, traffic, handle, patience).abandon_probability


def erlang_a_service_level(
    agents: int, traffic: float, handle: float, patience: float, threshold: float
) -> float:
    """Answered within `threshold` / offered (abandons count against: see
    `ErlangA`)."""
    return erlang_a(agents, traffic, handle, patience, threshold).service_level


def erlang_a_average_speed_of_answer(
    agents: int, traffic: float, handle: float, patience: float
) -> float:
    """Mean wait of the answered callers (the call log's ASA), in the unit of
    `handle`; the callers who hung up are not in it."""
    return erlang_a(agents, traffic, handle, patience).answered_asa


def agents_for_service_level_erlang_a(
    traffic: float,
    handle: float,
    patience: float,
    threshold: float,
    target: float,
    *,
    max_abandon: float | None = None,
) -> int:
    """The fewest agents whose Erlang A service level reaches `target` and,
    if given, whose abandon rate is at most `max_abandon`.

    No fewer than target x A agents can do: the answered share is at most
    N / A (N agents answer at most N / AHT callers a unit of time), and the
    service level at most the answered share; likewise (1 - max_abandon) x A.
    The search starts below that bound and stops at the first N that meets
    both, so the result is the minimum without assuming monotony.
    """
    if not 0 < target < 1:
        raise ValueError("target must be between 0 and 1")
    if max_abandon is not None and not 0 < max_abandon <= 1:
        raise ValueError("max_abandon must be in (0, 1]")
    _check_erlang_a(1, traffic, handle, patience, threshold)
    floor_share = max(target, 1 - max_abandon if max_abandon is not None else 0.0)
    agents = max(1, math.floor(floor_share * traffic))
    while True:
        figures = erlang_a(agents, traffic, handle, patience, threshold)
        if figures.service_level >= target and (
            max_abandon is None or figures.abandon_probability <= max_abandon
        ):
            return agents
        agents += 1
