"""A supervisor moves a waiting caller to another queue or changes their priority.

The caller keeps their first entry time (their place among callers of equal
priority); moved to another queue, they are redirected into it at the
carrier and hear which queue they now wait in (the cold transfer's words),
so their position announcements read the right queue. Then the router offers
the waiting callers again: a higher priority may be served at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import HotlineError
from queues.grouped_store import OTHER_GROUP, OTHER_GROUP_TEXT
from queues.handoff import Next
from queues.runtime import Runtime

#: Priorities a caller can have (the scripts' score takes one digit).
PRIORITIES = range(10)


class MoveRefused(HotlineError):
    """Why the caller cannot be moved now: `why` is a short code."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True, slots=True)
class Moved:
    call_sid: str
    from_queue: str
    queue: str
    before_priority: int
    priority: int

    def as_json(self) -> dict[str, object]:
        return {
            "call_sid": self.call_sid,
            "from_queue": self.from_queue,
            "queue": self.queue,
            "priority": self.priority,
            "before_priority": self.before_priority,
        }


def move_waiting(
    rt: Runtime,
    call_sid: str,
    by: str,
    *,
    queue_id: str | None = None,
    priority: int | None = None,
) -> tuple[Moved, Next]:
    """Move the waiting caller and/or change their priority (`MoveRefused`:
    `bad_queue`, `bad_priority`, `nothing`, `unknown_call`, `not_waiting`,
    `being_offered`)."""
    if queue_id is None and priority is None:
        raise MoveRefused("nothing", "name a queue, a priority, or both")
    if queue_id is not None and rt.routing.queue(queue_id) is None:
        raise MoveRefused("bad_queue", f"no queue {queue_id!r}")
    if priority is not None and priority not in PRIORITIES:
        raise MoveRefused("bad_priority", "priority must be a whole number 0 to 9")
    call = rt.store.call(call_sid)
    if not call:
        raise MoveRefused("unknown_call", f"no live call {call_sid}")
    target = queue_id or call.get("queue", "")
    wanted = priority if priority is not None else int(call.get("priority") or 0)
    result = rt.store.move_waiting(call_sid, target, wanted, by)
    if isinstance(result, str):
        reasons = {
            "being_offered": "a hotliner is being offered this caller: try again",
            "not_waiting": "this caller is not waiting in a queue",
            "unknown_call": f"no live call {call_sid}",
            OTHER_GROUP: OTHER_GROUP_TEXT,
        }
        raise MoveRefused(result, reasons.get(result, result))
    from_queue, before = result
    moved = Moved(call_sid, from_queue, target, int(before or 0), wanted)
    other_queue = target != from_queue
    return moved, Next(move_out=call_sid if other_queue else None, dispatch=True)
