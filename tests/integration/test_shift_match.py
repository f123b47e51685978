"""The match never offers a call to someone off shift, whatever the rota and
however far the clock has moved since the worker's last sweep.

Random rotas (weekly shifts of any length, night ones, leave, extra shifts,
swaps, French public holidays) for four hotliners; the sweep tells Redis
until when each one is on shift at a random instant, then the clock jumps
ahead (seconds to days, across DST changes) and a caller is matched on a
real Redis. Checked each time, against the rota computed in Python:

- whoever is offered the call is on shift at that instant (safety);
- if someone on shift at the sweep is still in that same stretch on duty,
  the call is offered (the check never starves a hotliner who may work).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.lifecycle import AgentState
from agents.rota import Duty, HolidayCalendar, Roster, parse_changes
from agents.shifts import DAYS, parse_shift
from core.keys import Keys
from queues.routing import QueueRule
from queues.store import RoutingStore

PARIS = ZoneInfo("Europe/Paris")
AGENTS = ("a0", "a1", "a2", "a3")
#: Around both DST changes of 2026 and the May holidays.
STARTS = (
    datetime(2026, 3, 26, tzinfo=PARIS),
    datetime(2026, 4, 30, tzinfo=PARIS),
    datetime(2026, 10, 22, tzinfo=PARIS),
)


@st.composite
def weekly_shift(draw: st.DrawFn) -> str:
    days = draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True))
    start = draw(st.integers(0, 47)) * 30
    length = draw(st.integers(1, 48)) * 30
    end = (start + length) % (24 * 60)
    return f"{','.join(days)} {clock(start)}-{clock(end)}"


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def exception(draw: st.DrawFn, base: datetime) -> str:
    day = (base + timedelta(days=draw(st.integers(-2, 8)))).date()
    kind = draw(st.sampled_from(("leave", "sick", "extra", "swap")))
    if kind == "leave":
        return f"leave {day}..{day + timedelta(days=draw(st.integers(0, 3)))}"
    if kind == "sick":
        return f"sick {day}"
    if kind == "extra":
        start = draw(st.integers(0, 47)) * 30
        end = (start + draw(st.integers(1, 18)) * 30) % (24 * 60)
        return f"extra {day} {clock(start)}-{clock(end)}"
    return f"swap {day} with {draw(st.sampled_from(AGENTS))}"


@st.composite
def rota(draw: st.DrawFn) -> tuple[Roster, datetime]:
    base = draw(st.sampled_from(STARTS))
    duties: dict[str, Duty] = {}
    for agent in AGENTS:
        shifts = draw(st.lists(weekly_shift(), max_size=3))
        lines = draw(st.lists(exception(base), max_size=3))
        # One swap a day at most, never with oneself.
        seen: set[str] = set()
        kept = []
        for line in lines:
            words = line.split()
            if words[0] == "swap":
                if words[1] in seen or words[3] == agent:
                    continue
                seen.add(words[1])
            kept.append(line)
        duties[agent] = Duty(
            weekly=tuple(parse_shift(s) for s in shifts),
            tz=PARIS,
            changes=parse_changes(kept),
            on_holidays=draw(st.booleans()),
        )
    return Roster(duties, HolidayCalendar(countries=("FR",))), base


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    drawn=rota(),
    sweep_after=st.integers(0, 6 * 24 * 60),  # minutes after the base
    jump=st.one_of(
        st.integers(0, 120), st.integers(0, 3 * 24 * 3600)
    ),  # seconds after the sweep
)
def test_the_match_never_offers_a_call_to_someone_off_shift(
    redis_client: redis.Redis,
    drawn: tuple[Roster, datetime],
    sweep_after: int,
    jump: int,
) -> None:
    roster, base = drawn
    swept = (base + timedelta(minutes=sweep_after)).astimezone(UTC)
    now = swept + timedelta(seconds=jump)
    keys = Keys(prefix=f"shift-{uuid.uuid4().hex[:8]}")
    store = RoutingStore(redis_client, keys, clock=lambda: ms(now))
    try:
        for n, agent in enumerate(AGENTS):
            # Everyone logged in (as if they had been on shift at login).
            store.agents.clock = lambda n=n: ms(swept) - 60_000 + n  # type: ignore[misc]
            done, _ = store.agents.set_state(
                agent, AgentState.AVAILABLE, [("q", 1)], "longest-idle"
            )
            assert done
        ends = {}
        for agent in AGENTS:
            until = roster.until(agent, swept)
            ends[agent] = ms(until) if until else 0
        store.agents.set_shift_ends(ends)
        assert store.start_call("CAshift", "+33611111111", "+33180000000", "fr-FR")
        store.enqueue("CAshift", "q", 0, at_ms=ms(swept))
        offer = store.match([QueueRule("q", 1, 0, 1)], ring_ms=15_000)
        on_shift_now = {a for a in AGENTS if roster.on_shift(a, now)}
        still_in_stretch = {a for a in AGENTS if ends[a] > ms(now)}
        assert still_in_stretch <= on_shift_now  # what the sweep said holds
        if offer is None:
            assert not still_in_stretch, (now, ends)
        else:
            assert offer.agent_id in on_shift_now, (offer.agent_id, now, ends)
            assert offer.agent_id in still_in_stretch
    finally:
        for key in redis_client.scan_iter(match=f"{keys.base}*"):
            redis_client.delete(key)
