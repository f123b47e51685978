"""What the hotline asks of the carrier's REST API, behind one small adapter.

Seven verbs are enough: ring a hotliner (or call a caller back), move a live
call to other TwiML, end a call, ask what became of one, send a text, call
someone into a conference, and change one leg of a conference (hold, mute,
whether its leaving ends it).
`TwilioTelephony` speaks them through `twilio.rest.Client` (to
api.twilio.com, or to the carrier simulator through `TWILIO_API_BASE_URL`);
tests hand their own implementation to the
composition roots, so no test ever reaches for a module global.

Every REST request has a timeout (`REST_TIMEOUT_SECONDS`): a carrier API that
hangs must not hold a web thread or a worker for ever. A request the carrier
turned away (429, or a connection never made) is sent again with exponential
backoff and jitter. One that may have been carried out (a 5xx, a timeout
after sending) is sent again only when it reads (a call's status, the live
conference): a call created twice rings two phones for one offer, and an
update sent again a second later may undo what was decided meanwhile (a
caller redirected out of the conference a specialist just joined). Attempts
are bounded in number and in time, inside Twilio's 15 s webhook budget.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import requests
from tenacity import (
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)
from twilio.base.exceptions import TwilioRestException
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from core.errors import HotlineError

T = TypeVar("T")

#: Connect + read timeout of one REST request (seconds).
REST_TIMEOUT_SECONDS = 5.0
#: Attempts of one REST request at most, and the time after which none more
#: starts: a hanging API costs at most two timeouts and a backoff (~10 s).
REST_ATTEMPTS = 3
REST_RETRY_SECONDS = 6.0
#: First backoff (seconds, doubled each time, plus up to as much jitter).
REST_BACKOFF_SECONDS = 0.25

#: Twilio's final CallStatus values: the call is over and can no longer be
#: changed (status callbacks, and what `status` reports).
FINAL_CALL_STATUSES = frozenset(
    {"completed", "canceled", "failed", "busy", "no-answer"}
)


class TelephonyError(HotlineError):
    """The carrier refused a request or could not be reached."""


class Telephony(Protocol):
    """The carrier operations the hotline uses."""

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> str:
        """Ring `to`; TwiML comes from `url` once answered. Returns the CallSid."""
        ...

    def redirect(self, call_sid: str, url: str) -> None:
        """Make a live call fetch and play the TwiML at `url` now."""
        ...

    def end(self, call_sid: str) -> None:
        """Cancel a ringing call or hang up a live one; no-op if already over."""
        ...

    def status(self, call_sid: str) -> str | None:
        """The call's status (Twilio's CallStatus), None if the carrier has no
        such call."""
        ...

    def send_sms(self, *, to: str, from_: str, body: str) -> None:
        """Text a caller."""
        ...

    def add_participant(
        self,
        conference: str,
        *,
        to: str,
        from_: str,
        status_callback: str,
        timeout: int,
        label: str,
        muted: bool = False,
        coach: str | None = None,
    ) -> str:
        """Call `to` into the live conference named `conference` (its leaving
        does not end it); the new leg's CallSid. Its status callback hears
        when it is answered and when it ends. `muted`: it hears and is not
        heard (a supervisor listening); `coach`: heard by that leg alone (a
        supervisor whispering to the hotliner)."""
        ...

    def update_participant(
        self,
        conference: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        muted: bool | None = None,
        end_conference_on_exit: bool | None = None,
        hold_url: str | None = None,
        coach: str | None = None,
    ) -> None:
        """Hold (the caller hears music, or the TwiML at `hold_url`) or mute
        one leg of the live conference named `conference`, or say whether its
        leaving ends the conference (a warm transfer hands the conference from
        one hotliner to another). `coach`: a leg's CallSid to be heard by alone
        (whisper), or "" to be heard by everyone again (barge)."""
        ...


def _wrap(exc: Exception, what: str) -> TelephonyError:
    return TelephonyError(f"{what}: {exc}")


def unsent(exc: BaseException) -> bool:
    """The carrier did not act on the request: sending it again is safe,
    whatever it asked (Twilio answers 429 before doing anything)."""
    if isinstance(exc, TwilioRestException):
        return bool(exc.status == 429)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
    return False


def transient(exc: BaseException) -> bool:
    """Worth asking again when asking changes nothing (a read): the
    carrier's 5xx, a timeout, a dropped connection (not a 4xx: that answer
    stands)."""
    if unsent(exc):
        return True
    if isinstance(exc, TwilioRestException):
        return bool(exc.status >= 500)
    return isinstance(
        exc, (requests.exceptions.Timeout, requests.exceptions.ConnectionError)
    )


class TwilioTelephony:
    """`Telephony` over Twilio's REST API (or the simulator's copy of it)."""

    def __init__(
        self,
        client: Any,
        *,
        attempts: int = REST_ATTEMPTS,
        retry_seconds: float = REST_RETRY_SECONDS,
        backoff: float = REST_BACKOFF_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self._attempts = attempts
        self._retry_seconds = retry_seconds
        self._backoff = backoff
        self._sleep = sleep

    def _send(self, request: Callable[[], T], *, reads: bool = False) -> T:
        """`request()` with the retries its kind allows (module docstring):
        any request again when it was not sent, a read also when it failed."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts)
            | stop_after_delay(self._retry_seconds),
            wait=wait_exponential_jitter(
                multiplier=self._backoff, max=4 * self._backoff, jitter=self._backoff
            ),
            retry=retry_if_exception(transient if reads else unsent),
            sleep=self._sleep,
            reraise=True,
        )
        return retrying(request)

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> str:
        try:
            call: Any = self._send(
                lambda: self.client.calls.create(
                    to=to,
                    from_=from_,
                    url=url,
                    method="POST",
                    status_callback=status_callback,
                    status_callback_method="POST",
                    # Only the end matters (completed, busy, no-answer, failed,
                    # canceled all come as "completed"): three webhooks fewer a
                    # leg.
                    status_callback_event=["completed"],
                    timeout=timeout,
                ),
            )
        except Exception as exc:  # noqa: BLE001 - REST and transport errors alike
            raise _wrap(exc, f"could not place a call to {to[:6]}...") from exc
        return str(call.sid)

    def redirect(self, call_sid: str, url: str) -> None:
        try:
            self._send(
                lambda: self.client.calls(call_sid).update(url=url, method="POST")
            )
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not redirect {call_sid}") from exc

    def end(self, call_sid: str) -> None:
        status = self.status(call_sid)
        if status is None or status in FINAL_CALL_STATUSES:
            return
        wanted = "canceled" if status in {"queued", "ringing"} else "completed"
        try:
            self._send(lambda: self.client.calls(call_sid).update(status=wanted))
        except TwilioRestException as exc:
            if exc.status == 404:
                return
            raise _wrap(exc, f"could not end {call_sid}") from exc
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not end {call_sid}") from exc

    def status(self, call_sid: str) -> str | None:
        try:
            call: Any = self._send(
                lambda: self.client.calls(call_sid).fetch(), reads=True
            )
        except TwilioRestException as exc:
            if exc.status == 404:
                return None
            raise _wrap(exc, f"could not fetch {call_sid}") from exc
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not fetch {call_sid}") from exc
        return str(call.status)

    def send_sms(self, *, to: str, from_: str, body: str) -> None:
        try:
            self._send(
                lambda: self.client.messages.create(to=to, from_=from_, body=body),
            )
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, "could not send a text") from exc

    def add_participant(
        self,
        conference: str,
        *,
        to: str,
        from_: str,
        status_callback: str,
        timeout: int,
        label: str,
        muted: bool = False,
        coach: str | None = None,
    ) -> str:
        extra: dict[str, Any] = {}
        if muted:
            extra["muted"] = True
        if coach:
            extra["coaching"] = True
            extra["call_sid_to_coach"] = coach
        try:
            # Twilio creates participants by the conference's friendly name too.
            participant: Any = self._send(
                lambda: self.client.conferences(conference).participants.create(
                    from_=from_,
                    to=to,
                    label=label,
                    timeout=timeout,
                    beep="false",
                    end_conference_on_exit=False,
                    status_callback=status_callback,
                    status_callback_method="POST",
                    status_callback_event=["answered", "completed"],
                    **extra,
                ),
            )
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not call {to[:6]}... into {conference}") from exc
        return str(participant.call_sid)

    def update_participant(
        self,
        conference: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        muted: bool | None = None,
        end_conference_on_exit: bool | None = None,
        hold_url: str | None = None,
        coach: str | None = None,
    ) -> None:
        changes: dict[str, bool | str] = {}
        if coach is not None:
            changes["coaching"] = bool(coach)
            if coach:
                changes["call_sid_to_coach"] = coach
        if hold_url is not None:
            changes["hold_url"] = hold_url
            changes["hold_method"] = "POST"
        if hold is not None:
            changes["hold"] = hold
        if muted is not None:
            changes["muted"] = muted
        if end_conference_on_exit is not None:
            changes["end_conference_on_exit"] = end_conference_on_exit
        try:
            # Participants are addressed by the conference's sid, which only
            # the carrier knows: found by its name among the live ones.
            live: Any = self._send(
                lambda: self.client.conferences.list(
                    friendly_name=conference, status="in-progress", limit=1
                ),
                reads=True,
            )
            if not live:
                raise TelephonyError(f"no live conference {conference}")
            self._send(
                lambda: (
                    self.client.conferences(live[0].sid)
                    .participants(call_sid)
                    .update(**changes)
                )
            )
        except TelephonyError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not update {call_sid} in {conference}") from exc
