"""Calls the call log has as live that live state has lost: closed.

Redis writes its append-only file once a second, so a crash can lose the last
changes of a call after the call log writer had already read (and logged) the
earlier ones: the call log then shows a call queued or talking for ever, and
live state, which has no trace of it, never ends it (`queues.jobs.
reconcile_with_carrier` asks the carrier about the calls live state knows).
This looks from the other side: calls the log has in a live state for a
while, unknown to live state, are asked about at the carrier and, once it
says they are over, closed through the event stream like any other end.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from calllog.models import Call
from core.clock import utcnow
from core.telephony import FINAL_CALL_STATUSES, Telephony, TelephonyError
from queues.store import RoutingStore

log = logging.getLogger(__name__)

#: The call log's states of a call still going on (a scheduled call back is
#: not a call yet: it has no carrier call to ask about).
LIVE = ("ivr", "queued", "offered", "connected", "talking", "callback_wait")
#: How long a call must have been going on before it is looked at, and how
#: far back (a range of `started_at`, on its index: not the whole log).
OLDER_THAN = timedelta(minutes=5)
LOOK_BACK = timedelta(days=2)


def close_lost_calls(
    engine: Engine, store: RoutingStore, telephony: Telephony, limit: int = 100
) -> int:
    """Close up to `limit` lost calls the carrier says are over; closed."""
    now = utcnow()
    with Session(engine) as session:
        rows = session.execute(
            select(Call.call_sid, Call.answered_at)
            .where(Call.started_at > now - LOOK_BACK)
            .where(Call.started_at < now - OLDER_THAN)
            .where(Call.status.in_(LIVE))
            .order_by(Call.started_at)
            .limit(limit * 10)
        ).all()
    closed = 0
    for sid, answered_at in rows:
        if closed >= limit:
            break
        if store.call(sid):
            continue  # live state knows it: its own reconciliation applies
        try:
            status = telephony.status(sid)
        except TelephonyError:
            log.info("lost calls: the carrier did not answer for call_sid=%s", sid)
            continue
        if status is not None and status not in FINAL_CALL_STATUSES:
            log.warning("lost calls: call_sid=%s is live at the carrier only", sid)
            continue
        final = "completed" if answered_at is not None else "abandoned"
        if store.close_lost_call(sid, final, f"reconciled:lost:{status or 'unknown'}"):
            closed += 1
            log.warning("lost calls: call_sid=%s closed (%s)", sid, final)
    return closed
