"""Erlang C against published values, the ideal FCFS queue it describes, and
Erlang A (hang-ups) against its closed forms, Erlang C and a simulation."""

from __future__ import annotations

import heapq
import math
import random

import pytest

from queues.erlang import (
    ErlangA,
    agents_for_service_level,
    agents_for_service_level_erlang_a,
    average_speed_of_answer,
    erlang_a,
    erlang_a_abandon_probability,
    erlang_a_average_speed_of_answer,
    erlang_a_service_level,
    erlang_a_wait_probability,
    erlang_b,
    erlang_c,
    fcfs_waits,
    service_level,
    wait_beyond,
)


def test_erlang_b_recursion_matches_the_closed_form() -> None:
    # B(N, A) = (A^N / N!) / sum_k A^k / k!
    for agents, traffic in ((1, 1.0), (2, 1.0), (5, 3.0), (10, 8.0), (30, 25.0)):
        terms = [traffic**k / math.factorial(k) for k in range(agents + 1)]
        assert erlang_b(agents, traffic) == pytest.approx(terms[-1] / sum(terms))
    assert erlang_b(0, 5.0) == 1.0


@pytest.mark.parametrize(
    ("agents", "traffic", "expected"),
    [
        (10, 8.0, 0.4092),  # the issue's case: 8 Erlangs on 10 hotliners
        (3, 2.0, 4 / 9),  # exact: 2 Erlangs on 3 agents
        (2, 1.0, 1 / 3),  # M/M/2: 2 rho^2 / (1 + rho), rho = 1/2
        (1, 0.7, 0.7),  # M/M/1: P(wait) = rho
        (11, 10.0, 0.6821),  # textbook: 100 calls / 30 min, AHT 180 s
        (12, 10.0, 0.4494),
        (14, 10.0, 0.1741),
    ],
)
def test_erlang_c_matches_published_tables(
    agents: int, traffic: float, expected: float
) -> None:
    assert erlang_c(agents, traffic) == pytest.approx(expected, abs=5e-4)


def test_erlang_c_has_no_steady_state_at_or_beyond_full_load() -> None:
    assert erlang_c(10, 10.0) == 1.0
    assert erlang_c(10, 12.0) == 1.0
    assert average_speed_of_answer(10, 10.0, 180.0) == math.inf
    assert erlang_c(5, 0.0) == 0.0


def test_asa_and_service_level_of_the_textbook_example() -> None:
    # 10 Erlangs (100 calls in 30 minutes, 180 s each), 20 s threshold.
    assert average_speed_of_answer(11, 10.0, 180.0) == pytest.approx(122.8, abs=0.1)
    assert service_level(11, 10.0, 180.0, 20.0) == pytest.approx(0.3896, abs=5e-4)
    assert average_speed_of_answer(14, 10.0, 180.0) == pytest.approx(7.84, abs=0.01)
    assert service_level(14, 10.0, 180.0, 20.0) == pytest.approx(0.8884, abs=5e-4)
    assert agents_for_service_level(10.0, 180.0, 20.0, 0.8) == 14


def test_the_issue_case_in_seconds() -> None:
    # 10 hotliners, 8 Erlangs, 3 s calls: ASA = C x 3 / 2.
    assert average_speed_of_answer(10, 8.0, 3.0) == pytest.approx(0.6138, abs=1e-3)
    assert service_level(10, 8.0, 3.0, 0.0) == pytest.approx(1 - 0.4092, abs=5e-4)
    assert wait_beyond(10, 8.0, 3.0, 0.0) == pytest.approx(erlang_c(10, 8.0))


def test_fcfs_serves_in_arrival_order_on_the_soonest_free_agent() -> None:
    # Two agents busy until 4 and 5; callers at 1, 2 and 6.
    waits = fcfs_waits([0.0, 0.0, 1.0, 2.0, 6.0], [4.0, 5.0, 1.0, 1.0, 1.0], 2)

    assert waits == [0.0, 0.0, 3.0, 3.0, 0.0]


def test_fcfs_refuses_unordered_or_mismatched_input() -> None:
    with pytest.raises(ValueError, match="time order"):
        fcfs_waits([1.0, 0.0], [1.0, 1.0], 1)
    with pytest.raises(ValueError, match="one handle time"):
        fcfs_waits([1.0], [1.0, 1.0], 1)


def test_fcfs_on_poisson_arrivals_and_exponential_handles_is_erlang_c() -> None:
    rng = random.Random(11)
    agents, traffic, handle, n = 10, 8.0, 3.0, 200_000
    t = 0.0
    arrivals = []
    for _ in range(n):
        t += rng.expovariate(traffic / handle)
        arrivals.append(t)
    handles = [rng.expovariate(1 / handle) for _ in range(n)]

    waits = fcfs_waits(arrivals, handles, agents)[1000:]  # past the empty start

    p_wait = sum(1 for w in waits if w > 0) / len(waits)
    assert p_wait == pytest.approx(erlang_c(agents, traffic), abs=0.015)
    asa = sum(waits) / len(waits)
    assert asa == pytest.approx(
        average_speed_of_answer(agents, traffic, handle), rel=0.1
    )
    within = sum(1 for w in waits if w <= 1.0) / len(waits)
    assert within == pytest.approx(
        service_level(agents, traffic, handle, 1.0), abs=0.015
    )


# Erlang A (M/M/N+M): callers hang up after an exponential patience.


def _incomplete_gamma_ratio(x: float, y: float) -> float:
    """Mandelbaum and Zeltyn's A(x, y) = x e^y y^-x gamma(x, y), gamma the
    lower incomplete gamma function, by its series
    1 + y / (x + 1) + y^2 / ((x + 1)(x + 2)) + ..."""
    total = term = 1.0
    k = 0
    while term > 1e-17 * total:
        k += 1
        term *= y / (x + k)
        total += term
    return total


@pytest.mark.parametrize(
    ("agents", "traffic", "handle", "patience"),
    [(10, 9.0, 1.0, 2.0), (5, 8.0, 300.0, 120.0), (50, 48.0, 240.0, 60.0)],
)
def test_erlang_a_matches_the_closed_forms_of_mandelbaum_and_zeltyn(
    agents: int, traffic: float, handle: float, patience: float
) -> None:
    # A. Mandelbaum, S. Zeltyn, "The Palm/Erlang-A Queue, with Applications to
    # Call Centers" (Technion, 2005), sections 4.4 and 4.5, with
    # E = Erlang B(N, A), x = N mu / theta, y = lambda / theta, rho = A / N:
    # P(W > 0) = A(x, y) E / (1 + (A(x, y) - 1) E),
    # P(Ab | W > 0) = 1 / (rho A(x, y)) + 1 - 1 / rho.
    ratio = _incomplete_gamma_ratio(
        agents * patience / handle, traffic * patience / handle
    )
    blocking = erlang_b(agents, traffic)
    p_wait = ratio * blocking / (1 + (ratio - 1) * blocking)
    rho = traffic / agents
    p_abandon = (1 / (rho * ratio) + 1 - 1 / rho) * p_wait

    figures = erlang_a(agents, traffic, handle, patience)

    assert figures.wait_probability == pytest.approx(p_wait, rel=1e-9)
    assert figures.abandon_probability == pytest.approx(p_abandon, rel=1e-9)


@pytest.mark.parametrize(
    ("agents", "threshold"), [(11, 20.0), (12, 20.0), (14, 0.0), (14, 20.0)]
)
def test_erlang_a_tends_to_erlang_c_as_patience_grows(
    agents: int, threshold: float
) -> None:
    # 10 Erlangs of 180 s calls; callers patient for 10^9 call lengths.
    figures = erlang_a(agents, 10.0, 180.0, 180.0e9, threshold)

    assert figures.wait_probability == pytest.approx(erlang_c(agents, 10.0), abs=1e-6)
    assert figures.abandon_probability < 1e-6
    assert figures.service_level == pytest.approx(
        service_level(agents, 10.0, 180.0, threshold), abs=1e-6
    )
    # With nobody hanging up, the answered callers are all the callers.
    assert figures.answered_asa == pytest.approx(
        average_speed_of_answer(agents, 10.0, 180.0), abs=1e-4
    )


def simulate_mmn_m(
    agents: int,
    arrival_rate: float,
    handle: float,
    patience: float,
    callers: int,
    seed: int,
) -> list[tuple[float, bool]]:
    """(wait, answered) of each caller of an M/M/N+M queue served first come
    first served: a caller is answered when the first agent frees after
    everyone before them was answered or gone, unless their patience ran out
    first (then they waited their patience and left, taking no agent)."""
    rng = random.Random(seed)
    free_at = [0.0] * agents
    out: list[tuple[float, bool]] = []
    now = 0.0
    for _ in range(callers):
        now += rng.expovariate(arrival_rate)
        offered_wait = max(0.0, free_at[0] - now)
        gives_up_after = rng.expovariate(1 / patience)
        if offered_wait > gives_up_after:
            out.append((gives_up_after, False))
            continue
        heapq.heapreplace(free_at, now + offered_wait + rng.expovariate(1 / handle))
        out.append((offered_wait, True))
    return out


def test_a_simulated_queue_with_hang_ups_agrees_with_erlang_a() -> None:
    # 10 agents, 9 Erlangs of calls of mean 1, patience of mean 2, T = 0.1.
    agents, traffic, handle, patience, threshold = 10, 9.0, 1.0, 2.0, 0.1
    callers = simulate_mmn_m(agents, traffic / handle, handle, patience, 200_000, 7)
    callers = callers[2_000:]  # past the empty start
    n = len(callers)

    figures = erlang_a(agents, traffic, handle, patience, threshold)

    # Standard errors are about 0.001 here; successive callers are correlated,
    # so allow ten times that.
    assert sum(w > 0 for w, _ in callers) / n == pytest.approx(
        figures.wait_probability, abs=0.01
    )
    assert sum(not ok for _, ok in callers) / n == pytest.approx(
        figures.abandon_probability, abs=0.01
    )
    assert sum(ok and w <= threshold for w, ok in callers) / n == pytest.approx(
        figures.service_level, abs=0.01
    )
    answered = [w for w, ok in callers if ok]
    assert sum(answered) / len(answered) == pytest.approx(
        figures.answered_asa, rel=0.05
    )


def test_erlang_a_functions_are_the_fields_of_erlang_a() -> None:
    figures = erlang_a(5, 8.0, 300.0, 120.0, 20.0)

    assert erlang_a_wait_probability(5, 8.0, 300.0, 120.0) == figures.wait_probability
    assert (
        erlang_a_abandon_probability(5, 8.0, 300.0, 120.0)
        == figures.abandon_probability
    )
    assert erlang_a_service_level(5, 8.0, 300.0, 120.0, 20.0) == figures.service_level
    assert (
        erlang_a_average_speed_of_answer(5, 8.0, 300.0, 120.0) == figures.answered_asa
    )


def test_erlang_a_is_stable_beyond_full_load() -> None:
    # 8 Erlangs on 5 agents: Erlang C has no steady state, Erlang A has one,
    # where at least 1 - N / A = 37.5 % of the callers hang up.
    figures = erlang_a(5, 8.0, 300.0, 120.0, 20.0)

    assert 1 - 5 / 8 <= figures.abandon_probability < 1
    assert figures.service_level <= 5 / 8


def test_erlang_a_with_no_traffic_answers_everyone_at_once() -> None:
    assert erlang_a(3, 0.0, 300.0, 60.0, 20.0) == ErlangA(0.0, 0.0, 1.0, 0.0)


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ((0, 5.0, 300.0, 60.0, 20.0), "agents"),
        ((3, -1.0, 300.0, 60.0, 20.0), "traffic"),
        ((3, 5.0, 0.0, 60.0, 20.0), "handle"),
        ((3, 5.0, 300.0, 0.0, 20.0), "patience"),
        ((3, 5.0, 300.0, math.inf, 20.0), "patience"),
        ((3, 5.0, 300.0, 60.0, -1.0), "threshold"),
    ],
)
def test_erlang_a_refuses_meaningless_arguments(
    arguments: tuple[int, float, float, float, float], reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        erlang_a(*arguments)


@pytest.mark.parametrize(
    ("traffic", "handle", "threshold", "target"),
    [(10.0, 180.0, 20.0, 0.8), (48.0, 240.0, 15.0, 0.9), (0.5, 300.0, 20.0, 0.8)],
)
def test_erlang_c_staffing_is_the_fewest_agents_that_meet_the_target(
    traffic: float, handle: float, threshold: float, target: float
) -> None:
    agents = agents_for_service_level(traffic, handle, threshold, target)

    assert service_level(agents, traffic, handle, threshold) >= target
    assert agents == 1 or service_level(agents - 1, traffic, handle, threshold) < target


@pytest.mark.parametrize(
    ("traffic", "handle", "patience", "threshold", "target", "max_abandon"),
    [
        (10.0, 180.0, 120.0, 20.0, 0.8, None),
        (10.0, 180.0, 120.0, 20.0, 0.8, 0.01),
        (48.0, 240.0, 60.0, 15.0, 0.9, None),
        (8.0, 300.0, 30.0, 20.0, 0.5, 0.03),
        (0.5, 300.0, 60.0, 20.0, 0.8, None),
    ],
)
def test_erlang_a_staffing_is_the_fewest_agents_that_meet_the_targets(
    traffic: float,
    handle: float,
    patience: float,
    threshold: float,
    target: float,
    max_abandon: float | None,
) -> None:
    def meets(agents: int) -> bool:
        figures = erlang_a(agents, traffic, handle, patience, threshold)
        return figures.service_level >= target and (
            max_abandon is None or figures.abandon_probability <= max_abandon
        )

    agents = agents_for_service_level_erlang_a(
        traffic, handle, patience, threshold, target, max_abandon=max_abandon
    )

    assert meets(agents)
    assert agents == 1 or not meets(agents - 1)


def test_an_abandon_ceiling_can_only_add_agents() -> None:
    free = agents_for_service_level_erlang_a(10.0, 180.0, 120.0, 20.0, 0.8)
    capped = agents_for_service_level_erlang_a(
        10.0, 180.0, 120.0, 20.0, 0.8, max_abandon=0.005
    )

    assert capped > free


@pytest.mark.parametrize(
    ("target", "max_abandon", "reason"),
    [(0.0, None, "target"), (1.0, None, "target"), (0.8, 0.0, "max_abandon")],
)
def test_erlang_a_staffing_refuses_impossible_targets(
    target: float, max_abandon: float | None, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        agents_for_service_level_erlang_a(
            10.0, 180.0, 120.0, 20.0, target, max_abandon=max_abandon
        )
