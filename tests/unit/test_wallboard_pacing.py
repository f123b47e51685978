"""The wallboard feed's pacing: when boards go, and what they wait for."""

from __future__ import annotations

import threading
import time
from typing import Any, cast

from web import WebServices
from web.wallboard import DayCache, Pacer


def test_a_quiet_spell_lets_two_boards_go_at_once_then_one_per_gap() -> None:
    pacer = Pacer(gap=0.5, burst=2, now=100.0)
    assert pacer.wait(100.0) == 0.0
    pacer.spend(100.0)
    # A hotliner back from break, then on break again 50 ms later: at once.
    assert pacer.wait(100.05) == 0.0
    pacer.spend(100.05)
    # A third change right after waits for the bucket to refill.
    assert abs(pacer.wait(100.1) - 0.4) < 1e-9
    assert pacer.wait(100.55) == 0.0


def test_a_busy_hotline_gets_one_board_per_gap_in_the_long_run() -> None:
    pacer = Pacer(gap=0.5, burst=2, now=0.0)
    sent = []
    now = 0.0
    while now < 10.0:  # events every 10 ms for 10 s: send as soon as allowed
        if pacer.wait(now) == 0.0:
            pacer.spend(now)
            sent.append(now)
        now = round(now + 0.01, 2)
    # 2 at once, then one per half second: 21 in 10 s, never 3 in 0.5 s.
    assert len(sent) == 21, sent
    assert all(b - a >= 0.49 for a, b in zip(sent[1:], sent[2:], strict=False))


def test_figures_past_their_age_are_handed_out_while_new_ones_are_made() -> None:
    made: list[int] = []
    release = threading.Event()

    def make(_svc: WebServices, _day: str) -> int:
        if made:  # the second making is slow (a slow call log)
            assert release.wait(5.0)
        made.append(len(made))
        return len(made)

    cache: DayCache[int] = DayCache(0.05, make)
    svc = cast(WebServices, cast(Any, object()))
    assert cache.get(svc, "2026-12-03") == 1
    time.sleep(0.06)
    started = time.monotonic()
    # Not waiting: the old figures at once, a thread makes the next ones.
    assert cache.get(svc, "2026-12-03", wait=False) == 1
    assert cache.get(svc, "2026-12-03", wait=False) == 1
    assert time.monotonic() - started < 0.5
    release.set()
    deadline = time.monotonic() + 5.0
    while cache.get(svc, "2026-12-03", wait=False) != 2:
        assert time.monotonic() < deadline, "never refreshed"
        time.sleep(0.01)
    assert made == [0, 1]  # one making in the background, not one per board
    # A new day, or other services, are never given another's figures.
    assert cache.get(svc, "2026-12-04", wait=False) == 3
    other = cast(WebServices, cast(Any, object()))
    assert cache.get(other, "2026-12-04", wait=False) == 4
