"""The call list: find calls of a period, and export them (CSV).

What a supervisor searches by (a queue, a hotliner, an outcome, a number, a
status, a KB fault, words in the notes) over local days, newest first;
served by the call log's indexes (`ix_calls_started_at`,
`ix_calls_from_number`, `ix_calls_agent_started`; the words by the notes'
trigram index, `calllog.notes_search`).
Numbers are masked in what leaves the hotline unless the reader is an admin
(`mask_number`): a CSV on a shared drive must not list who called.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from calllog.buckets import DEFAULT_TZ, day_bounds
from calllog.models import Call
from calllog.notes_search import notes_hold

#: At most this many calls per search (the export pages through them).
MAX_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class CallFilter:
    first_day: str  # local days, both included
    last_day: str
    queue: str | None = None
    agent: str | None = None
    outcome: str | None = None
    status: str | None = None
    number: str | None = None  # the caller's number, exactly
    fault: str | None = None  # the KB fault matched in the menu or that fixed it
    words: str | None = None  # found in the hotliner's notes, any case


def search(
    engine: Engine,
    flt: CallFilter,
    *,
    limit: int = 50,
    before: str | None = None,
    tz: ZoneInfo = DEFAULT_TZ,
) -> list[Call]:
    """Calls matching `flt`, newest first; `before` (a call sid seen last)
    pages on."""
    c = Call
    # By arrival time, not local day: the started_at index both bounds and
    # orders the scan, which stops at `limit` (a month of calls is never sorted).
    start, end = day_bounds(flt.first_day, flt.last_day, tz)
    query = select(c).where(c.started_at >= start, c.started_at < end)
    for column, value in (
        (c.queue, flt.queue),
        (c.agent_id, flt.agent),
        (c.outcome, flt.outcome),
        (c.status, flt.status),
        (c.from_number, flt.number),
    ):
        if value is not None:
            query = query.where(column == value)
    if flt.fault is not None:
        query = query.where(or_(c.kb_fault == flt.fault, c.fixed_by == flt.fault))
    with Session(engine) as session:
        if flt.words:
            query = query.where(*notes_hold(session, flt.words))
        if before is not None:
            last = session.get(Call, before)
            if last is not None and last.started_at is not None:
                query = query.where(c.started_at < last.started_at)
        query = query.order_by(c.started_at.desc()).limit(min(limit, MAX_LIMIT))
        rows = list(session.scalars(query).all())
        session.expunge_all()
    return rows


def mask_number(number: str) -> str:
    """'+33612345678' -> '+336******78': enough to tell calls apart."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 6) + number[-2:]


#: The CSV's columns, in order.
CSV_COLUMNS = (
    "call_sid",
    "started_at",
    "local_day",
    "number",
    "queue",
    "priority",
    "agent_id",
    "status",
    "outcome",
    "wait_seconds",
    "talk_seconds",
    "hold_seconds",
    "wrapup_seconds",
    "transfers",
    "offers",
    "kb_fault",
    "fixed_by",
    "previous_call_sid",
)


def to_csv(calls: Iterable[Call], *, masked: bool) -> str:
    """The calls as CSV (UTF-8 text, a header row first)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for call in calls:
        writer.writerow(values(call, masked=masked))
    return out.getvalue()


def values(call: Call, *, masked: bool = False) -> Sequence[Any]:
    """One call's values, in `CSV_COLUMNS` order."""
    number = call.from_number or ""
    return (
        call.call_sid,
        call.started_at.isoformat() if call.started_at else "",
        call.local_day or "",
        mask_number(number) if masked and number else number,
        call.queue or "",
        "" if call.priority is None else call.priority,
        call.agent_id or "",
        call.status,
        call.outcome or "",
        "" if call.wait_seconds is None else call.wait_seconds,
        "" if call.handle_talk_seconds is None else call.handle_talk_seconds,
        "" if call.hold_seconds is None else call.hold_seconds,
        "" if call.wrapup_seconds is None else call.wrapup_seconds,
        call.transfers,
        call.offers,
        call.kb_fault or "",
        call.fixed_by or "",
        call.previous_call_sid or "",
    )
