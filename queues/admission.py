"""Whether a caller who chose a queue may wait in it, and what became of them.

A caller is not held in a queue that is closed (opening hours, holidays) or
that nobody serves right now (Asterisk's `joinempty`): they hear why at once
and choose a callback or a message. Otherwise they enter the queue. The
answer is an `Admission`, never the store's raw Lua code, so the voice view
only says what each outcome sounds like.

All Redis work goes through `LiveState`: with live state unreachable the
queue counts as staffed and the entry is journaled, so the caller is held in
Twilio's queue and takes their place in the router once Redis is back.
"""

from __future__ import annotations

import logging
from datetime import datetime
from enum import StrEnum

from core.clock import utcnow
from queues import waiting
from queues.outage import LiveState
from queues.overrides import is_open_now, overrides

log = logging.getLogger(__name__)


class Admission(StrEnum):
    """What `admit` did with a caller (the first two are `choose`'s `why`)."""

    CLOSED = "closed"  # outside the queue's opening hours: not queued
    UNSTAFFED = "unstaffed"  # nobody who may serve it is on duty: not queued
    FULL = "full"  # it holds its `max_waiting` callers already: not queued
    QUEUED = "queued"  # entered the queue now: offer waiting callers
    ALREADY_QUEUED = "already_queued"  # a webhook sent twice: in it already
    JOURNALED = "journaled"  # live state unreachable: entered on replay
    NOT_IN_MENU = "not_in_menu"  # the call has moved on from the menu: refused
    UNKNOWN_CALL = "unknown_call"  # no such call in live state: refused


#: Callers told the queue cannot take them; a callback they then ask for
#: enters them in it first, so they keep a place in the order of arrival.
TURNED_AWAY = frozenset({Admission.CLOSED, Admission.UNSTAFFED, Admission.FULL})

#: `RoutingStore.enqueue`'s codes (the ENQUEUE script's return values).
_ENQUEUED = {
    1: Admission.QUEUED,
    0: Admission.ALREADY_QUEUED,
    -1: Admission.NOT_IN_MENU,
    -2: Admission.UNKNOWN_CALL,
    -3: Admission.FULL,
}


def enqueued(code: int) -> Admission:
    """Name the ENQUEUE script's answer (1, 0, -1, -2, -3)."""
    return _ENQUEUED[code]


def admit(
    live: LiveState,
    call_sid: str,
    queue_id: str,
    priority: int,
    at: datetime | None = None,
) -> Admission:
    """Hold the caller in `queue_id` if it is open and staffed (at `at`, now
    by default); else say why not, without queueing them."""
    rt = live.rt
    when = at or utcnow()
    # Opened or closed by hand? Without live state: by the schedule alone.
    override = live.run(lambda: overrides(rt.redis, rt.keys).get(queue_id), None)
    if not is_open_now(rt.routing, queue_id, when, override):
        return Admission.CLOSED
    # Without live state, take the queue for staffed: the caller is held and
    # taken into the router in their order once Redis is back.
    if not live.run(
        lambda: waiting.is_staffed(rt.store, rt.routing, queue_id, when, priority),
        True,
    ):
        return Admission.UNSTAFFED
    queue = rt.routing.queue(queue_id)
    cap = queue.max_waiting if queue is not None else 0
    admission = live.run(
        lambda: enqueued(rt.store.enqueue(call_sid, queue_id, priority, cap=cap)),
        Admission.JOURNALED,
        ("enqueue", [call_sid, queue_id, priority]),
    )
    if admission in {Admission.NOT_IN_MENU, Admission.UNKNOWN_CALL}:
        log.warning(
            "enqueue refused (%s) call_sid=%s queue=%s", admission, call_sid, queue_id
        )
    return admission
