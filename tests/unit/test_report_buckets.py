"""Local days and half hours in Paris time, across midnight and both DST nights,
and what the projection keeps for reports (arrival bucket, wrap-up, offers)."""

from __future__ import annotations

from datetime import UTC, datetime

from calllog.buckets import half_hour, half_hour_label, iso_week, local_day
from calllog.projection import StreamEvent, apply_event


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_local_day_and_half_hour_follow_the_paris_wall_clock() -> None:
    # 23:30 UTC on 1 December is 00:30 in Paris (winter, UTC+1): the next day
    assert local_day(utc(2026, 12, 1, 23, 30)) == "2026-12-02"
    assert half_hour(utc(2026, 12, 1, 23, 30)) == 1
    # summer, UTC+2: 06:10 UTC is 08:10
    assert half_hour(utc(2026, 7, 1, 6, 10)) == 16
    assert half_hour_label(16) == "08:00"
    assert half_hour_label(47) == "23:30"


def test_both_dst_nights() -> None:
    # 29 March 2026, 02:00 -> 03:00: 00:59 UTC is 01:59, 01:00 UTC is 03:00
    assert half_hour(utc(2026, 3, 29, 0, 59)) == 3
    assert half_hour(utc(2026, 3, 29, 1, 0)) == 6
    # 25 October 2026, 03:00 -> 02:00: 02:30 local happens twice, same slot
    assert half_hour(utc(2026, 10, 25, 0, 30)) == 5
    assert half_hour(utc(2026, 10, 25, 1, 30)) == 5
    assert local_day(utc(2026, 10, 25, 1, 30)) == "2026-10-25"


def test_iso_weeks() -> None:
    assert iso_week("2026-12-01") == "2026-W49"
    assert iso_week("2027-01-01") == "2026-W53"


def event(kind: str, at_ms: int, agent: str = "", **data: str) -> StreamEvent:
    return StreamEvent(f"{at_ms}-0", kind, "CAbucket", agent, at_ms, data)


def test_the_projection_keeps_what_reports_sum() -> None:
    t = int(utc(2026, 12, 1, 23, 30).timestamp() * 1000)
    row = apply_event(None, event("call_started", t, **{"from": "+33600000001"}))
    assert row is not None
    assert (row.local_day, row.local_halfhour) == ("2026-12-02", 1)
    for reason in ("declined", "no-answer", "expired", "failed", "busy"):
        row = apply_event(row, event("offer_rejected", t, "nina", reason=reason))
    assert row is not None
    assert (row.declined_offers, row.missed_offers) == (1, 3)  # failed: ours
    row = apply_event(
        row, event("agent_state", t, "nina", state="wrapup", **{"from": "busy"})
    )
    row = apply_event(
        row,
        event(
            "agent_state",
            t + 30_000,
            "nina",
            state="wrapup",
            reason="extended",
            **{"from": "wrapup"},
        ),
    )
    row = apply_event(
        row,
        event(
            "agent_state", t + 90_000, "nina", state="available", **{"from": "wrapup"}
        ),
    )
    assert row is not None
    assert row.wrapup_seconds == 90.0  # one wrap-up, extended, 90 s in all
    assert row.wrapup_since is None


def test_day_bounds_are_local_midnights_even_on_dst_days() -> None:
    from calllog.buckets import day_bounds

    # 25 October 2026 lasts 25 hours in Paris: 22:00 UTC the day before to 23:00 UTC
    start, end = day_bounds("2026-10-25", "2026-10-25")
    assert (start, end) == (utc(2026, 10, 24, 22, 0), utc(2026, 10, 25, 23, 0))
    start, end = day_bounds("2026-03-29", "2026-03-29")  # 23 hours
    assert (end - start).total_seconds() == 23 * 3600


def test_numbers_are_masked_but_told_apart() -> None:
    from calllog.call_list import mask_number

    assert mask_number("+33612345678") == "+336******78"
    assert mask_number("12345") == "*****"
