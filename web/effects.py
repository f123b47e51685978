"""Carry out a routing decision right after the answer is sent.

A webhook decides in Redis and answers Twilio at once; what the decision
leaves to do at the carrier (ring the next hotliner, move a caller into a
conference, end a leg) runs in the same thread as soon as the answer has
left, through WSGI's `close()` hook. No queued job sits between a freed
hotliner and the next offer, and Twilio never waits for our REST calls.
"""

from __future__ import annotations

import logging

from flask import Response, after_this_request

from queues import handoff
from queues.runtime import Runtime

log = logging.getLogger(__name__)


def after_response(rt: Runtime, todo: handoff.Next) -> None:
    """Run `handoff.carry_out(rt, todo)` once this request's answer is sent."""
    if todo == handoff.NOTHING:
        return

    def run() -> None:
        try:
            handoff.carry_out(rt, todo)
        except Exception:  # noqa: BLE001 - the timers and the sweep re-drive it
            log.exception("carrying out %r failed", todo)

    @after_this_request
    def attach(response: Response) -> Response:
        response.call_on_close(run)
        return response
