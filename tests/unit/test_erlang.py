"""Erlang C against published values, and the ideal FCFS queue it describes."""

from __future__ import annotations

import math
import random

import pytest

from queues.erlang import (
    agents_for_service_level,
    average_speed_of_answer,
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
