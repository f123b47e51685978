"""Erlang C against figures printed in published documentation.

The figures are copied as printed, never computed with our code. Both pages
work Call Centre Helper's worked example ("Erlang C Formula - Made Simple
With an Easy Worked Example", callcentrehelper.com/erlang-c-formula-example-
121281.htm): 100 calls in 30 minutes, 180 s average handle time, 80 % to be
answered within 20 s. Traffic A = 100 x 180 / 1800 = 10 Erlangs.

- [CRAN] R package ErlangC 0.1.0 (Damonsoul, CRAN 2024-12-05), README,
  https://stat.ethz.ch/CRAN/web/packages/ErlangC/readme/README.html (same
  text on rdocumentation.org/packages/ErlangC/versions/0.1.0):
  `erlang_c(100, 30 min, 180 s, 20 s, 14)` prints traffic_intensity 10,
  wait_probability 0.1741319, service_level 0.88835,
  average_speed_of_answer "7.83593701177724s", occupancy 0.7142857;
  `calculate_agents(..., require_service_level = 0.8, ...)` prints agents 14
  and, as the first row of its search (11 agents, A + 1, where the worked
  example starts), wait_probability 0.6821182, service_level 0.3896138.
- [PyPI] pyworkforce 0.1.0, project description,
  https://pypi.org/project/pyworkforce/0.1.0/:
  `ErlangC(transactions=100, asa=20/60, aht=3, interval=30, ...)
  .required_positions(service_level=0.8)` prints raw_positions 14,
  service_level 0.8883500191794669, occupancy 0.7142857142857143,
  waiting_probability 0.1741319335950498.
"""

from __future__ import annotations

import pytest

from queues.erlang import (
    agents_for_service_level,
    average_speed_of_answer,
    erlang_c,
    service_level,
)

CALLS, INTERVAL, HANDLE, THRESHOLD = 100, 1800.0, 180.0, 20.0
TRAFFIC = CALLS * HANDLE / INTERVAL  # 10 Erlangs: [CRAN] traffic_intensity 10
#: Three decimals: a printed figure rounded to 3 places is within 5e-4.
THREE_DECIMALS = 5e-4


@pytest.mark.parametrize(
    ("agents", "wait_probability", "within_20_s"),
    [
        (11, 0.6821182, 0.3896138),  # [CRAN] first row of calculate_agents
        (14, 0.1741319, 0.88835),  # [CRAN] erlang_c(..., 14)
        (14, 0.1741319335950498, 0.8883500191794669),  # [PyPI]
    ],
)
def test_erlang_c_matches_the_published_worked_example(
    agents: int, wait_probability: float, within_20_s: float
) -> None:
    assert erlang_c(agents, TRAFFIC) == pytest.approx(
        wait_probability, abs=THREE_DECIMALS
    )
    assert service_level(agents, TRAFFIC, HANDLE, THRESHOLD) == pytest.approx(
        within_20_s, abs=THREE_DECIMALS
    )


def test_average_speed_of_answer_matches_the_published_seconds() -> None:
    # [CRAN] average_speed_of_answer "7.83593701177724s" with 14 agents
    assert average_speed_of_answer(14, TRAFFIC, HANDLE) == pytest.approx(
        7.836, abs=THREE_DECIMALS
    )


def test_staffing_for_80_in_20_s_is_the_published_fourteen() -> None:
    # [CRAN] agents 14, [PyPI] raw_positions 14
    assert agents_for_service_level(TRAFFIC, HANDLE, THRESHOLD, 0.8) == 14
