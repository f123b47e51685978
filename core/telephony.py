"""What the hotline asks of the carrier's REST API, behind one small adapter.

Five verbs are enough for the router: ring a hotliner (or call a caller
back), move a live call to other TwiML, end a call, ask what became of one,
and send a text. `TwilioTelephony` speaks them through `twilio.rest.Client`
(to api.twilio.com, or to the carrier simulator through
`TWILIO_API_BASE_URL`); tests hand their own implementation to the
composition roots, so no test ever reaches for a module global.

Every REST request has a timeout (`REST_TIMEOUT_SECONDS`): a carrier API that
hangs must not hold a web thread or a worker for ever.
"""

from __future__ import annotations

from typing import Any, Protocol

from twilio.base.exceptions import TwilioRestException

from core.errors import HotlineError

#: Connect + read timeout of one REST request (seconds).
REST_TIMEOUT_SECONDS = 5.0

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

    def update_participant(
        self,
        conference: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        muted: bool | None = None,
    ) -> None:
        """Hold (the caller hears music) or mute one leg of the live conference
        named `conference`."""
        ...


def _wrap(exc: Exception, what: str) -> TelephonyError:
    return TelephonyError(f"{what}: {exc}")


class TwilioTelephony:
    """`Telephony` over Twilio's REST API (or the simulator's copy of it)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def place_call(
        self, *, to: str, from_: str, url: str, status_callback: str, timeout: int
    ) -> str:
        try:
            call: Any = self.client.calls.create(
                to=to,
                from_=from_,
                url=url,
                method="POST",
                status_callback=status_callback,
                status_callback_method="POST",
                # Only the end matters (completed, busy, no-answer, failed,
                # canceled all come as "completed"): three webhooks fewer a leg.
                status_callback_event=["completed"],
                timeout=timeout,
            )
        except Exception as exc:  # noqa: BLE001 - REST and transport errors alike
            raise _wrap(exc, f"could not place a call to {to[:6]}...") from exc
        return str(call.sid)

    def redirect(self, call_sid: str, url: str) -> None:
        try:
            self.client.calls(call_sid).update(url=url, method="POST")
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not redirect {call_sid}") from exc

    def end(self, call_sid: str) -> None:
        status = self.status(call_sid)
        if status is None or status in FINAL_CALL_STATUSES:
            return
        wanted = "canceled" if status in {"queued", "ringing"} else "completed"
        try:
            self.client.calls(call_sid).update(status=wanted)
        except TwilioRestException as exc:
            if exc.status == 404:
                return
            raise _wrap(exc, f"could not end {call_sid}") from exc
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not end {call_sid}") from exc

    def status(self, call_sid: str) -> str | None:
        try:
            call: Any = self.client.calls(call_sid).fetch()
        except TwilioRestException as exc:
            if exc.status == 404:
                return None
            raise _wrap(exc, f"could not fetch {call_sid}") from exc
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not fetch {call_sid}") from exc
        return str(call.status)

    def send_sms(self, *, to: str, from_: str, body: str) -> None:
        try:
            self.client.messages.create(to=to, from_=from_, body=body)
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, "could not send a text") from exc

    def update_participant(
        self,
        conference: str,
        call_sid: str,
        *,
        hold: bool | None = None,
        muted: bool | None = None,
    ) -> None:
        changes: dict[str, bool] = {}
        if hold is not None:
            changes["hold"] = hold
        if muted is not None:
            changes["muted"] = muted
        try:
            # Participants are addressed by the conference's sid, which only
            # the carrier knows: found by its name among the live ones.
            live: Any = self.client.conferences.list(
                friendly_name=conference, status="in-progress", limit=1
            )
            if not live:
                raise TelephonyError(f"no live conference {conference}")
            self.client.conferences(live[0].sid).participants(call_sid).update(
                **changes
            )
        except TelephonyError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc, f"could not update {call_sid} in {conference}") from exc
