"""A supervisor on a live call: listen, whisper to the hotliner, barge in.

The supervisor's phone (their browser's `client:<id>` or a number) is called
into the call's conference (`hotline-<CallSid>`) as a participant: muted to
listen (they hear both sides, nobody hears them), coaching the hotliner's leg
to whisper (Twilio's `Coaching` + `CallSidToCoach`: the hotliner alone hears
them), neither to barge (everyone hears everyone). Moving between the three
updates that same participant; ending hangs their leg up. The call's hash
keeps who listens with which leg and mode (`listen_by`, `listen_leg`,
`listen_mode`), so a second supervisor is refused and the leg's end (its
status callback) clears them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, cast

import redis

from core.errors import HotlineError
from core.text import as_text
from core.validate import is_e164
from queues import webhooks
from queues.runtime import Runtime

log = logging.getLogger(__name__)

MODES = ("listen", "whisper", "barge")
#: Statuses after which a leg is gone.
FINAL = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
FIELDS = ("listen_by", "listen_leg", "listen_mode")


class ListenRefused(HotlineError):
    """Why a supervisor cannot do that now: `why` is a short code."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass(frozen=True, slots=True)
class Listening:
    call_sid: str
    supervisor: str
    leg: str
    mode: str
    before: str  # the mode before ("" when they were not on the call)

    def as_json(self) -> dict[str, str]:
        return {
            "call_sid": self.call_sid,
            "supervisor": self.supervisor,
            "leg": self.leg,
            "mode": self.mode,
        }


def _endpoint(to: str) -> bool:
    return is_e164(to) or (
        to.startswith("client:") and 1 <= len(to) - 7 <= 64 and to[7:].isprintable()
    )


def listen(
    rt: Runtime, call_sid: str, supervisor: str, mode: str, to: str
) -> Listening:
    """Join the call in `mode`, or move to `mode` if already on it.

    `ListenRefused`: unknown mode or endpoint, the call not in conversation,
    another supervisor on it; `TelephonyError` if the carrier refused
    (nothing is kept then)."""
    if mode not in MODES:
        raise ListenRefused("bad_mode", f"mode must be one of {', '.join(MODES)}")
    if not _endpoint(to):
        raise ListenRefused("bad_endpoint", "to must be client:<id> or an E.164 number")
    call = rt.store.call(call_sid)
    hotliner_leg = call.get("leg", "")
    if call.get("state") != "talking" or not hotliner_leg:
        raise ListenRefused("not_talking", "the call is not in conversation now")
    conference = webhooks.conference_name(call_sid)
    on_it = call.get("listen_leg", "")
    if on_it:
        if call.get("listen_by") != supervisor:
            raise ListenRefused(
                "taken", f"{call.get('listen_by')} is already on this call"
            )
        before = call.get("listen_mode", "")
        rt.telephony.update_participant(
            conference,
            on_it,
            muted=mode == "listen",
            coach=hotliner_leg if mode == "whisper" else "",
        )
        rt.redis.hset(
            rt.store.keys_for_call(call_sid).call(call_sid), "listen_mode", mode
        )
        return Listening(call_sid, supervisor, on_it, mode, before)
    leg = rt.telephony.add_participant(
        conference,
        to=to,
        from_=rt.settings.hotline_number,
        status_callback=rt.public_url(webhooks.listener_status(call_sid)),
        timeout=rt.routing.hotline.ring_seconds,
        label="supervisor",
        muted=mode == "listen",
        coach=hotliner_leg if mode == "whisper" else None,
    )
    if not _claim(rt, call_sid, supervisor, leg, mode):
        rt.telephony.end(leg)  # another supervisor got there first
        raise ListenRefused("taken", "another supervisor is already on this call")
    return Listening(call_sid, supervisor, leg, mode, "")


def stop(rt: Runtime, call_sid: str, supervisor: str) -> Listening:
    """Hang the supervisor's leg up (`ListenRefused` if they are not on it)."""
    call = rt.store.call(call_sid)
    leg = call.get("listen_leg", "")
    if not leg or call.get("listen_by") != supervisor:
        raise ListenRefused("not_listening", "you are not on this call")
    before = call.get("listen_mode", "")
    rt.telephony.end(leg)
    leg_ended(rt, call_sid, leg)
    return Listening(call_sid, supervisor, leg, "", before)


def leg_status(rt: Runtime, call_sid: str, leg: str, status: str) -> None:
    """The supervisor's leg status callback: gone, they are off the call."""
    if status in FINAL:
        leg_ended(rt, call_sid, leg)


def leg_ended(rt: Runtime, call_sid: str, leg: str) -> bool:
    """Forget the listener if `leg` is still theirs (watched: a new listener
    who came meanwhile is kept)."""
    key = rt.store.keys_for_call(call_sid).call(call_sid)
    with rt.redis.pipeline() as raw:
        pipe = cast(Any, raw)  # redis-py's WATCH pipeline is untyped
        try:
            pipe.watch(key)
            current = pipe.hget(key, "listen_leg")
            if current is None or as_text(current) != leg:
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.hdel(key, *FIELDS)
            pipe.execute()
            return True
        except redis.WatchError:
            return False


def _claim(rt: Runtime, call_sid: str, supervisor: str, leg: str, mode: str) -> bool:
    """Note the listener unless one is there already (watched, one key)."""
    key = rt.store.keys_for_call(call_sid).call(call_sid)
    with rt.redis.pipeline() as raw:
        pipe = cast(Any, raw)  # redis-py's WATCH pipeline is untyped
        try:
            pipe.watch(key)
            if pipe.hget(key, "listen_leg") or not pipe.exists(key):
                pipe.unwatch()
                return False
            pipe.multi()
            pipe.hset(
                key,
                mapping={
                    "listen_by": supervisor,
                    "listen_leg": leg,
                    "listen_mode": mode,
                },
            )
            pipe.execute()
            return True
        except redis.WatchError:
            return False
