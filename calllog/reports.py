"""Standard contact-centre figures from the call log (`docs/METRICS.md`).

One definition each, computed one way: SQL sums additive totals per group
(plain columns only, so SQLite and PostgreSQL agree and an index on the local
day serves a month), and `Figures` derives every ratio from those totals. A
week is folded from its days; the local day and half hour of each call were
fixed when it was logged (`calllog.buckets`), in the hotline's timezone.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Engine, and_, case, delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from calllog.buckets import DEFAULT_TZ, day_bounds, half_hour_label, iso_week, local_day
from calllog.models import AgentInterval, Call, CallEvent, ReportRollup
from calllog.projection import DECLINED, MISSED
from core.clock import utcnow
from queues.config import RoutingConfig
from queues.lifecycle import EventType

#: Abandons shorter than this are not counted against the service level
#: (a caller who hangs up at once never really waited; said in every report).
SHORT_ABANDON_SECONDS = 5
#: The service level threshold of a queue that has none configured.
DEFAULT_SL_SECONDS = 20
#: What a report can be broken down by.
GROUPINGS = ("queue", "agent", "problem", "fault", "halfhour", "day", "week", "all")
#: Outcomes that mean "fixed by the hotline" (first line, phone or remote).
RESOLVED = ("resolved", "remote_takeover")


class ReportError(ValueError):
    """A report asked for something that does not exist (an unknown grouping)."""


@dataclass(frozen=True, slots=True)
class Totals:
    """Additive counts and sums of one group (seconds are sums)."""

    calls: int = 0  # every call that reached the hotline
    self_served: int = 0  # ended in the voice menu, fixed by self-help
    selfhelp: int = 0  # reached a known fault's self-help steps
    deflected: int = 0  # of which fixed by them: no hotliner needed
    abandoned_in_ivr: int = 0
    voicemail: int = 0
    offered: int = 0  # reached a queue
    answered: int = 0
    answered_in_sl: int = 0  # answered within the queue's threshold
    abandoned: int = 0  # left while waiting in a queue
    short_abandoned: int = 0  # of which before SHORT_ABANDON_SECONDS
    waiting: int = 0  # offered and still waiting (today): not counted yet
    wait_answered: float = 0.0
    wait_abandoned: float = 0.0  # of the abandons that count
    longest_wait: float = 0.0
    handled: int = 0  # answered and over: their handle time is known
    talk: float = 0.0  # every hotliner's, hold included
    hold: float = 0.0
    wrapup: float = 0.0
    resolved: int = 0
    escalated: int = 0
    transferred: int = 0
    callbacks: int = 0  # calls back (asked for, or scheduled by level 2)
    callbacks_reached: int = 0
    declined_offers: int = 0
    missed_offers: int = 0
    first_contacts: int = 0  # handled, and not about an earlier call
    resolved_first: int = 0  # of which resolved, and no repeat names them

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            **{
                f.name: (
                    max(getattr(self, f.name), getattr(other, f.name))
                    if f.name == "longest_wait"
                    else getattr(self, f.name) + getattr(other, f.name)
                )
                for f in fields(Totals)
            }
        )


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of a report: its group and the standard figures."""

    key: str
    totals: Totals

    @property
    def service_level(self) -> float | None:
        """Answered within the threshold / (offered - short abandons - still
        waiting): a caller in the queue now counts once answered or gone."""
        t = self.totals
        return _ratio(t.answered_in_sl, t.offered - t.short_abandoned - t.waiting)

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned (short ones excluded) / (offered - short abandons - still
        waiting)."""
        t = self.totals
        return _ratio(
            t.abandoned - t.short_abandoned, t.offered - t.short_abandoned - t.waiting
        )

    @property
    def asa_seconds(self) -> float | None:
        """Average speed of answer: queue waits of answered calls / answered."""
        t = self.totals
        return None if not t.answered else round(t.wait_answered / t.answered, 1)

    @property
    def avg_abandon_seconds(self) -> float | None:
        t = self.totals
        counted = t.abandoned - t.short_abandoned
        return None if not counted else round(t.wait_abandoned / counted, 1)

    @property
    def aht_seconds(self) -> float | None:
        """Average handle time: (talk + hold + wrap-up) / handled."""
        t = self.totals
        return None if not t.handled else round((t.talk + t.wrapup) / t.handled, 1)

    @property
    def self_service_rate(self) -> float | None:
        return _ratio(self.totals.self_served, self.totals.calls)

    @property
    def deflection_rate(self) -> float | None:
        """Fixed by a fault's self-help steps / calls that reached them."""
        return _ratio(self.totals.deflected, self.totals.selfhelp)

    @property
    def resolution_rate(self) -> float | None:
        return _ratio(self.totals.resolved, self.totals.handled)

    @property
    def escalation_rate(self) -> float | None:
        return _ratio(self.totals.escalated, self.totals.handled)

    @property
    def transfer_rate(self) -> float | None:
        return _ratio(self.totals.transferred, self.totals.answered)

    @property
    def fcr_rate(self) -> float | None:
        """First-contact resolution: first contacts resolved with no repeat
        about the same problem / first contacts."""
        return _ratio(self.totals.resolved_first, self.totals.first_contacts)

    @property
    def callback_success_rate(self) -> float | None:
        return _ratio(self.totals.callbacks_reached, self.totals.callbacks)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key}
        out.update({f.name: getattr(self.totals, f.name) for f in fields(Totals)})
        for name in FIGURES:
            out[name] = getattr(self, name)
        return out


#: The derived figures, in the order reports show them.
FIGURES = (
    "service_level",
    "abandon_rate",
    "asa_seconds",
    "avg_abandon_seconds",
    "aht_seconds",
    "self_service_rate",
    "deflection_rate",
    "resolution_rate",
    "fcr_rate",
    "escalation_rate",
    "transfer_rate",
    "callback_success_rate",
)


def _sum(condition: ColumnElement[bool], value: Any = 1) -> Any:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def _sums(thresholds: Mapping[str, int]) -> list[Any]:
    """The SQL of every `Totals` field, in its order."""
    c = Call
    reached = c.queued_at.is_not(None)
    answered = and_(reached, c.answered_at.is_not(None))
    abandoned = and_(reached, c.status == "abandoned", c.answered_at.is_(None))
    short = and_(abandoned, func.coalesce(c.wait_seconds, 0) < SHORT_ABANDON_SECONDS)
    counted_abandon = and_(
        abandoned, func.coalesce(c.wait_seconds, 0) >= SHORT_ABANDON_SECONDS
    )
    limit = (
        case(dict(thresholds), value=c.queue, else_=DEFAULT_SL_SECONDS)
        if thresholds
        else DEFAULT_SL_SECONDS
    )
    handled = and_(answered, c.status == "completed")
    still_waiting = and_(
        reached,
        c.answered_at.is_(None),
        c.status.in_(("queued", "offered", "callback_wait")),
    )
    callback = c.callback_number.is_not(None)
    # A repeat: a later call the caller said was about this one (the voice
    # menu offers that link for 7 days, `returning_caller_days`), or a
    # level-2 call back that follows it.
    first = and_(handled, c.previous_call_sid.is_(None))
    later = aliased(Call)
    repeated = exists().where(later.previous_call_sid == c.call_sid)
    return [
        func.count(),
        _sum(c.status == "self_served"),
        _sum(c.selfhelp_tried.is_not(None)),
        _sum(and_(c.status == "self_served", c.outcome == "self_service_resolved")),
        _sum(and_(c.status == "abandoned", c.queued_at.is_(None))),
        _sum(c.status == "voicemail"),
        _sum(reached),
        _sum(answered),
        _sum(and_(answered, func.coalesce(c.wait_seconds, 0) <= limit)),
        _sum(abandoned),
        _sum(short),
        _sum(still_waiting),
        _sum(answered, func.coalesce(c.wait_seconds, 0)),
        _sum(counted_abandon, func.coalesce(c.wait_seconds, 0)),
        func.coalesce(func.max(case((reached, c.wait_seconds), else_=None)), 0),
        _sum(handled),
        _sum(handled, func.coalesce(c.handle_talk_seconds, c.talk_seconds, 0)),
        _sum(handled, func.coalesce(c.hold_seconds, 0)),
        _sum(handled, func.coalesce(c.wrapup_seconds, 0)),
        _sum(and_(handled, c.outcome.in_(RESOLVED))),
        _sum(and_(handled, c.outcome == "escalated")),
        _sum(and_(answered, c.transfers > 0)),
        _sum(callback),
        _sum(and_(callback, handled)),
        func.coalesce(func.sum(c.declined_offers), 0),
        func.coalesce(func.sum(c.missed_offers), 0),
        _sum(first),
        _sum(and_(first, c.outcome.in_(RESOLVED), ~repeated)),
    ]


def _group_column(by: str) -> Any:
    return {
        "queue": Call.queue,
        "agent": Call.agent_id,
        "problem": Call.ivr_choice,
        "fault": Call.kb_fault,
        "halfhour": Call.local_halfhour,
        "day": Call.local_day,
        "week": Call.local_day,  # folded into weeks below
    }.get(by)


#: Days at least this old are closed: their calls no longer change (a repeat
#: that lowers a call's first-contact resolution comes within 7 days), so
#: their rollups (`report_rollups`) stand for ever. A more recent past day's
#: rollups stand for `PROVISIONAL_SECONDS`, then are made again.
CLOSED_AFTER_DAYS = 8
PROVISIONAL_SECONDS = 15 * 60


def report(
    engine: Engine,
    first_day: str,
    last_day: str,
    by: str,
    thresholds: Mapping[str, int] | None = None,
    *,
    today: str | None = None,
    rollups: bool = True,
) -> list[Figures]:
    """Figures of the calls that arrived from `first_day` to `last_day`
    (local days, 'YYYY-MM-DD', both included), one row per group, sorted by
    key; `thresholds` is each queue's service level threshold (seconds).

    Past days (before `today`, the hotline's local day) are read from their
    rollups, made when missing or out of date (the worker keeps them made:
    `roll_up_days`); today, from the calls themselves."""
    if by not in GROUPINGS:
        raise ReportError(f"by must be one of {', '.join(GROUPINGS)}")
    limits = dict(thresholds or {})
    today = today or local_day(utcnow())
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    parts: list[tuple[Any, Totals]] = []
    live_first = first_day
    with Session(engine) as session:
        if rollups and first_day <= yesterday:
            rolled_last = min(last_day, yesterday)
            parts += _rolled(session, first_day, rolled_last, by, limits, today)
            live_first = (
                date.fromisoformat(rolled_last) + timedelta(days=1)
            ).isoformat()
        if live_first <= last_day:
            parts += _live(session, live_first, last_day, by, limits)
    grouped: dict[str, Totals] = {}
    for raw_key, totals in parts:
        key = _key(by, raw_key)
        grouped[key] = grouped[key] + totals if key in grouped else totals
    return [Figures(key, grouped[key]) for key in sorted(grouped)]


def _live(
    session: Session, first: str, last: str, by: str, thresholds: Mapping[str, int]
) -> list[tuple[Any, Totals]]:
    """(group, totals) of the calls of those days, summed by SQL."""
    column = _group_column(by)
    keys = [column] if column is not None else []
    query = (
        select(*keys, *_sums(thresholds))
        .where(Call.local_day >= first, Call.local_day <= last)
        .group_by(*keys)
    )
    out = []
    for row in session.execute(query).all():
        values = list(row)
        raw_key = values.pop(0) if keys else "all"
        out.append((raw_key, Totals(*(_number(v) for v in values))))
    return out


def _dimension(by: str) -> str:
    """The rollup a grouping reads (a week is its days)."""
    return "day" if by == "week" else by


def _thresholds_key(thresholds: Mapping[str, int]) -> str:
    """What a rollup was counted with: the thresholds and the `Totals` it
    holds (a release that adds a figure makes past days' rollups again)."""
    text = ",".join(f"{q}={t}" for q, t in sorted(thresholds.items()))
    text += "|" + ",".join(f.name for f in fields(Totals))
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def _days(first: str, last: str) -> list[str]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    out = []
    while day <= end:
        out.append(day.isoformat())
        day += timedelta(days=1)
    return out


def _rolled(
    session: Session,
    first: str,
    last: str,
    by: str,
    thresholds: Mapping[str, int],
    today: str,
) -> list[tuple[Any, Totals]]:
    """(group, totals) of past days from their rollups, making first those
    that are missing, counted with other thresholds, or out of date."""
    dimension = _dimension(by)
    tkey = _thresholds_key(thresholds)
    closed = (date.fromisoformat(today) - timedelta(days=CLOSED_AFTER_DAYS)).isoformat()
    fresh_since = utcnow() - timedelta(seconds=PROVISIONAL_SECONDS)
    made = dict(
        session.execute(
            select(ReportRollup.local_day, func.min(ReportRollup.made_at))
            .where(ReportRollup.local_day >= first, ReportRollup.local_day <= last)
            .where(ReportRollup.dimension == dimension)
            .where(ReportRollup.thresholds == tkey)
            .group_by(ReportRollup.local_day)
        ).all()
    )
    for day in _days(first, last):
        when = made.get(day)
        if when is not None and when.tzinfo is None:
            when = when.replace(tzinfo=fresh_since.tzinfo)
        if when is None or (day > closed and when < fresh_since):
            _roll_up(session, day, dimension, thresholds, tkey)
    rows = session.execute(
        select(ReportRollup.key, ReportRollup.totals)
        .where(ReportRollup.local_day >= first, ReportRollup.local_day <= last)
        .where(ReportRollup.dimension == dimension)
        .where(ReportRollup.thresholds == tkey)
    ).all()
    return [
        (None if key == "" else key, Totals(**totals))
        for key, totals in rows
        if key != NO_CALLS
    ]


#: The key of the rollup row of a day without a call (so it counts as made).
NO_CALLS = "~none~"


def _roll_up(
    session: Session,
    day: str,
    dimension: str,
    thresholds: Mapping[str, int],
    tkey: str,
) -> None:
    """Sum one past day's calls for one dimension into rollup rows, in place
    of any before; a race with another process doing the same day leaves
    one set of rows (the unique index refuses the second)."""
    rows = _live(session, day, day, dimension, thresholds) or [(NO_CALLS, Totals())]
    now = utcnow()
    session.execute(
        delete(ReportRollup).where(
            ReportRollup.local_day == day, ReportRollup.dimension == dimension
        )
    )
    session.add_all(
        ReportRollup(
            local_day=day,
            dimension=dimension,
            key="" if key is None else str(key),
            thresholds=tkey,
            totals=asdict(totals),
            made_at=now,
        )
        for key, totals in rows
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()  # another process rolled this day up meanwhile


def roll_up_days(
    engine: Engine,
    thresholds: Mapping[str, int],
    *,
    days_back: int = 62,
    today: str | None = None,
) -> int:
    """Make the rollups of the last `days_back` past days that had calls and
    whose rollups are missing or out of date, for every grouping (the
    worker does it every quarter of an hour); rollup rows there are then."""
    today = today or local_day(utcnow())
    last = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    first = (date.fromisoformat(last) - timedelta(days=days_back)).isoformat()
    rows = 0
    with Session(engine) as session:
        # Only days that had calls: a quiet log costs one query.
        days = sorted(
            d
            for d in session.scalars(
                select(Call.local_day)
                .where(Call.local_day >= first, Call.local_day <= last)
                .distinct()
            )
            if d is not None
        )
        for day in days:
            for by in ("queue", "agent", "problem", "fault", "halfhour", "day", "all"):
                rows += len(_rolled(session, day, day, by, thresholds, today))
    return rows


def _number(value: Any) -> Any:
    """SQL sums as Python numbers (PostgreSQL gives Decimal for some)."""
    if value is None:
        return 0
    if isinstance(value, int | float):
        return value
    return float(value)


def _key(by: str, raw: Any) -> str:
    if raw is None:
        return "—"
    if by == "halfhour":
        return half_hour_label(int(raw))
    if by == "week":
        return iso_week(str(raw))
    return str(raw)


def totals_of(figures: Sequence[Figures]) -> Figures:
    """The whole period's row (every group summed)."""
    total = Totals()
    for row in figures:
        total = total + row.totals
    return replace(Figures("total", total))


def thresholds(routing: RoutingConfig) -> dict[str, int]:
    """Each queue's service level threshold (seconds), from `queues.yaml`."""
    return {q.id: q.service_level_seconds for q in routing.queues.values()}


#: Columns of a table or CSV report: (heading, how to read it from a row).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("calls", "calls"),
    ("offered", "offered"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("short_abandoned", "short_abandoned"),
    ("service_level", "service_level"),
    ("abandon_rate", "abandon_rate"),
    ("asa_s", "asa_seconds"),
    ("longest_wait_s", "longest_wait"),
    ("aht_s", "aht_seconds"),
    ("self_service", "self_service_rate"),
    ("deflection", "deflection_rate"),
    ("resolved", "resolution_rate"),
    ("fcr", "fcr_rate"),
    ("escalated", "escalation_rate"),
    ("transferred", "transfer_rate"),
    ("callback_success", "callback_success_rate"),
    ("declined_offers", "declined_offers"),
    ("missed_offers", "missed_offers"),
)


def cells(row: Figures) -> list[str]:
    """A row's values as text: ratios in percent, seconds rounded, '—' none."""
    out = []
    for _, name in COLUMNS:
        value = getattr(row, name) if hasattr(row, name) else getattr(row.totals, name)
        if value is None:
            out.append("—")
        elif name.endswith("_rate") or name == "service_level":
            out.append(f"{value * 100:.1f}%")
        elif isinstance(value, float):
            out.append(f"{value:.0f}")
        else:
            out.append(str(value))
    return out


#: Hotliner states that count as working on calls, and as ready for one.
HANDLING = ("busy", "wrapup")
READY = ("available", "reserved")


@dataclass(frozen=True, slots=True)
class AgentTime:
    """A hotliner's time in each state over a period (closed intervals
    started in it), and their breaks by reason."""

    agent_id: str
    seconds: dict[str, float]
    breaks: dict[str, float]
    declined_offers: int = 0  # offers they declined from their console
    missed_offers: int = 0  # offers they let ring out (no answer, busy, expired)

    @property
    def occupancy(self) -> float | None:
        """Handling (talk and wrap-up) ÷ (handling + ready): not-ready time
        (break, away, offline) is left out."""
        handling = sum(self.seconds.get(s, 0.0) for s in HANDLING)
        ready = sum(self.seconds.get(s, 0.0) for s in READY)
        return _ratio(handling, handling + ready)

    def as_json(self) -> dict[str, Any]:
        return {
            "agent": self.agent_id,
            "seconds": {k: round(v, 1) for k, v in sorted(self.seconds.items())},
            "breaks": {k: round(v, 1) for k, v in sorted(self.breaks.items())},
            "occupancy": self.occupancy,
            "declined_offers": self.declined_offers,
            "missed_offers": self.missed_offers,
        }


def agent_time(
    engine: Engine, first_day: str, last_day: str, tz: ZoneInfo = DEFAULT_TZ
) -> list[AgentTime]:
    """Each hotliner's time in state from `first_day` to `last_day` (local
    days of the intervals' starts, both included), sorted by hotliner, and
    the offers they declined or missed then (from the offer events: a call's
    row knows only who had it last)."""
    query = (
        select(
            AgentInterval.agent_id,
            AgentInterval.state,
            func.coalesce(AgentInterval.reason, ""),
            func.sum(AgentInterval.seconds),
        )
        .where(AgentInterval.local_day >= first_day)
        .where(AgentInterval.local_day <= last_day)
        .where(AgentInterval.ended_at.is_not(None))
        .group_by(AgentInterval.agent_id, AgentInterval.state, AgentInterval.reason)
    )
    start, end = day_bounds(first_day, last_day, tz)
    offers = (
        select(CallEvent.agent_id, CallEvent.data)
        .where(CallEvent.type == EventType.OFFER_REJECTED.value)
        .where(CallEvent.at >= start, CallEvent.at < end)
        .where(CallEvent.agent_id.is_not(None))
    )
    seconds: dict[str, dict[str, float]] = {}
    breaks: dict[str, dict[str, float]] = {}
    declined: Counter[str] = Counter()
    missed: Counter[str] = Counter()
    with Session(engine) as session:
        for agent, state, reason, total in session.execute(query):
            value = float(total or 0.0)
            mine = seconds.setdefault(agent, {})
            mine[state] = mine.get(state, 0.0) + value
            if state == "break":
                theirs = breaks.setdefault(agent, {})
                theirs[reason or "—"] = theirs.get(reason or "—", 0.0) + value
        for agent, data in session.execute(offers):
            why = (data or {}).get("reason")
            if why in DECLINED:
                declined[agent] += 1
            elif why in MISSED:
                missed[agent] += 1
    return [
        AgentTime(
            agent,
            seconds.get(agent, {}),
            breaks.get(agent, {}),
            declined[agent],
            missed[agent],
        )
        for agent in sorted(set(seconds) | set(declined) | set(missed))
    ]


def calls_per_fault(engine: Engine, since: datetime) -> list[tuple[str, int]]:
    """Calls that arrived since `since` per known fault the menu matched,
    most first: a spike of one fault is how an incident first shows."""
    with Session(engine) as session:
        rows = session.execute(
            select(Call.kb_fault, func.count())
            .where(Call.started_at >= since, Call.kb_fault.is_not(None))
            .group_by(Call.kb_fault)
        ).all()
    return sorted(((str(f), int(n)) for f, n in rows), key=lambda r: (-r[1], r[0]))
