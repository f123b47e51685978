"""Queues a supervisor opened or closed by hand, whatever their hours say.

An outage of a business application, a team meeting, an evening of overtime:
the supervisor closes a queue now (new callers hear it is closed and may ask
for a call back or leave a message) or opens it outside its hours, with a
reason that goes to the audit log, until they give it back to its schedule.
Callers already waiting stay in their place either way.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import cast

import redis

from core.keys import Keys
from core.text import as_text
from queues.config import RoutingConfig


class Override(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


def overrides(client: redis.Redis, keys: Keys) -> dict[str, Override]:
    """Every queue opened or closed by hand now."""
    raw = cast(dict[bytes, bytes], client.hgetall(keys.queue_overrides))
    out = {}
    for queue_id, value in raw.items():
        try:
            out[as_text(queue_id)] = Override(as_text(value))
        except ValueError:
            continue  # not ours: ignored, never a crash in the voice path
    return out


def set_override(
    client: redis.Redis, keys: Keys, queue_id: str, override: Override | None
) -> Override | None:
    """Open or close `queue_id` by hand (None: back to its schedule); the
    override it had before."""
    pipe = client.pipeline(transaction=True)
    pipe.hget(keys.queue_overrides, queue_id)
    if override is None:
        pipe.hdel(keys.queue_overrides, queue_id)
    else:
        pipe.hset(keys.queue_overrides, queue_id, override.value)
    before = pipe.execute()[0]
    return Override(as_text(before)) if before else None


def is_open_now(
    routing: RoutingConfig,
    queue_id: str,
    at: datetime,
    override: Override | None,
) -> bool:
    """The queue takes new callers: by hand if a supervisor said so, else
    by its opening hours and holidays."""
    if override is not None:
        return override is Override.OPEN
    return routing.is_open(queue_id, at)
