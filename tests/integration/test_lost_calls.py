"""Calls the call log has as live that live state lost in a crash: closed
once the carrier says they are over, through the event stream."""

from __future__ import annotations

from datetime import timedelta

import redis
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from support import RecordingTelephony

from calllog.db import upgrade
from calllog.lost_calls import close_lost_calls
from calllog.models import Call
from calllog.writer import drain_events
from core.clock import utcnow
from core.keys import Keys
from queues.scripts import ENDED_CALL_SECONDS
from queues.store import RoutingStore


def test_lost_calls_are_closed_once_the_carrier_says_they_are_over(
    redis_client: redis.Redis, fresh_database_url: str
) -> None:
    upgrade(fresh_database_url)  # of its own: every live row here is counted
    keys = Keys(prefix="lost-calls")
    store = RoutingStore(redis_client, keys)
    engine = create_engine(fresh_database_url)
    telephony = RecordingTelephony()
    long_ago = utcnow() - timedelta(minutes=30)
    with Session(engine) as session:
        session.add_all(
            [
                # talking when Redis crashed; the carrier has it completed
                Call(
                    call_sid="CAlost1",
                    status="talking",
                    started_at=long_ago,
                    queued_at=long_ago,
                    answered_at=long_ago,
                    agent_id="nina",
                ),
                # queued, and unknown to the carrier now
                Call(call_sid="CAlost2", status="queued", started_at=long_ago),
                # still live at the carrier: left alone
                Call(call_sid="CAlost3", status="queued", started_at=long_ago),
                # known to live state: its own reconciliation applies
                Call(call_sid="CAlost4", status="queued", started_at=long_ago),
                # too recent to say
                Call(call_sid="CAlost5", status="queued", started_at=utcnow()),
            ]
        )
        session.commit()
    telephony.statuses.update(
        {"CAlost1": "completed", "CAlost3": "in-progress", "CAlost4": "completed"}
    )
    store.start_call("CAlost4", "+33600000004", "+33180000000", "fr-FR")
    assert close_lost_calls(engine, store, telephony) == 2
    assert close_lost_calls(engine, store, telephony) == 0  # not twice
    # The tombstones that say so go a day after, as every ended call's state.
    for sid in ("CAlost1", "CAlost2"):
        assert 0 < redis_client.ttl(keys.call(sid)) <= ENDED_CALL_SECONDS
    drain_events(redis_client, engine, keys)
    with Session(engine) as session:
        rows = {
            sid: session.get(Call, sid)
            for sid in ("CAlost1", "CAlost2", "CAlost3", "CAlost4", "CAlost5")
        }
        got = {sid: (r.status, r.end_reason) for sid, r in rows.items() if r}
    assert got == {
        "CAlost1": ("completed", "reconciled:lost:completed"),
        "CAlost2": ("abandoned", "reconciled:lost:unknown"),
        "CAlost3": ("queued", None),
        "CAlost4": ("queued", None),
        "CAlost5": ("queued", None),
    }
    engine.dispose()
