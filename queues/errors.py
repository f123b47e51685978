"""Errors of queues and routing.

HotlineError
└── QueueError
    └── IllegalCallMove   (the call lifecycle has no such move)
"""

from __future__ import annotations

from core.errors import HotlineError


class QueueError(HotlineError):
    """Something about queues or routing went wrong."""


class IllegalCallMove(QueueError):
    def __init__(self, current: str, event: str) -> None:
        self.current = current
        self.event = event
        super().__init__(f"a call in state {current!r} cannot take event {event!r}")
