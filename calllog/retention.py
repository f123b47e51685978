"""Retention (RGPD): old calls lose their personal data, keep their figures.

After `retention_days` (`hotline.yaml` `calllog:`), a call's caller number,
call-back number, notes, voicemail URL and remote session, and in its events
the numbers, addresses, notes and what the caller said to the voice menu,
are removed; the call stays, with every column a report sums (times, queue,
outcome, links between calls), so past figures do not change. Idempotent:
a call is done once (`anonymised_at`), in batches, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from calllog.models import Call, CallEvent
from core.clock import utcnow

#: Event fields that may name or describe a person.
PERSONAL_FIELDS = frozenset(
    {
        "from",
        "number",
        "callback_number",
        "sms_to",
        "email_to",
        "notes",
        "recording_url",
        "remote",
    }
)
#: What the caller pressed or said at each menu (`path:<ms>`).
PATH_PREFIX = "path:"
BATCH = 500


@dataclass(frozen=True, slots=True)
class Purged:
    calls: int  # calls anonymised (or that would be, in a dry run)
    events: int  # their events, cleared of personal fields
    before: datetime


def anonymise_before(
    engine: Engine, before: datetime, *, dry_run: bool = False, batch: int = BATCH
) -> Purged:
    """Remove the personal data of calls that started before `before`."""
    due = select(Call).where(Call.started_at < before, Call.anonymised_at.is_(None))
    if dry_run:
        with Session(engine) as session:
            calls = session.scalar(select(func.count()).select_from(due.subquery()))
            events = session.scalar(
                select(func.count())
                .select_from(CallEvent)
                .where(
                    CallEvent.call_sid.in_(
                        select(Call.call_sid).where(
                            Call.started_at < before, Call.anonymised_at.is_(None)
                        )
                    )
                )
            )
        return Purged(int(calls or 0), int(events or 0), before)
    calls = events = 0
    now = utcnow()
    while True:
        with Session(engine) as session:
            rows = session.scalars(due.order_by(Call.started_at).limit(batch)).all()
            if not rows:
                break
            for row in rows:
                row.from_number = ""
                # Emptied, not removed: "a call back" is a figure.
                row.callback_number = "" if row.callback_number is not None else None
                row.notes = None
                row.recording_url = None
                row.remote_session = None
                row.anonymised_at = now
            sids = [row.call_sid for row in rows]
            for event in session.scalars(
                select(CallEvent).where(CallEvent.call_sid.in_(sids))
            ):
                cleared = _cleared(event.data or {})
                if cleared != event.data:
                    event.data = cleared
                events += 1
            calls += len(rows)
            session.commit()
    return Purged(calls, events, before)


def _cleared(data: dict[str, str]) -> dict[str, str]:
    """Personal fields emptied; of the voice menu path, the keys pressed stay
    and the words said go (`<node>|said|<words>` keeps `<node>|said|`)."""
    out = {}
    for key, value in data.items():
        if key in PERSONAL_FIELDS:
            out[key] = ""
        elif key.startswith(PATH_PREFIX) and value.split("|")[1:2] == ["said"]:
            out[key] = value.split("|", 2)[0] + "|said|"
        else:
            out[key] = value
    return out


def retention_cutoff(retention_days: int) -> datetime | None:
    """Calls that started before this are due (None: keep everything)."""
    if retention_days <= 0:
        return None
    return utcnow() - timedelta(days=retention_days)
