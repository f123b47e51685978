"""Errors raised by the carrier simulator.

    core.errors.HotlineError
    └── SimulatorError            (the simulator cannot do what was asked)
        ├── TwimlError            (TwiML Twilio would reject; `.reason`)
        └── WebhookError          (the app answered a webhook badly; `.url`)

They stay inside the simulator: a call that meets one "hears" the application
error and ends, and the message lands in `Carrier.errors` for tests to assert.
`AgentConsoleClient` raises a plain `SimulatorError` when the app refuses.
"""

from __future__ import annotations

from core.errors import HotlineError


class SimulatorError(HotlineError):
    """The simulator met something it cannot play along with."""


class TwimlError(SimulatorError):
    """A TwiML document Twilio would reject, with the reason it would give."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class WebhookError(SimulatorError):
    """A webhook answered with a non-2xx status, timed out or could not connect."""

    def __init__(self, reason: str, *, url: str) -> None:
        self.reason = reason
        self.url = url
        super().__init__(f"{url}: {reason}")
