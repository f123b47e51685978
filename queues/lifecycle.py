"""Every state a call can be in, and the events that move it.

The single table of the call lifecycle (h11-style). The Lua scripts in
`queues.scripts` apply these moves atomically in Redis; `next_state` is the
reference the tests hold the scripts to.
"""

from __future__ import annotations

from enum import StrEnum

from queues.errors import IllegalCallMove


class CallState(StrEnum):
    IVR = "ivr"  # in the voice menu
    QUEUED = "queued"  # waiting in a skill queue
    OFFERED = "offered"  # ringing at one hotliner
    CONNECTED = "connected"  # hotliner answered; caller being bridged
    TALKING = "talking"  # both in the conference
    COMPLETED = "completed"  # ended after talking to a hotliner
    ABANDONED = "abandoned"  # caller hung up before reaching a hotliner
    SELF_SERVED = "self_served"  # resolved by the IVR's self-help
    VOICEMAIL = "voicemail"  # left a message instead of waiting
    CALLBACK_WAIT = "callback_wait"  # our call back failed; retry after a delay


class CallEvent(StrEnum):
    ENQUEUE = "enqueue"
    OFFER = "offer"
    OFFER_REJECTED = "offer_rejected"  # no answer, declined, expired, failed
    ACCEPT = "accept"
    BRIDGE = "bridge"
    HANGUP = "hangup"
    SELF_SERVE = "self_serve"
    LEAVE_MESSAGE = "leave_message"
    CALLBACK_FAILED = "callback_failed"  # not answered; retry later
    CALLBACK_GIVEN_UP = "callback_given_up"  # not answered, no attempt left
    RETRY_CALLBACK = "retry_callback"


TERMINAL = frozenset(
    {
        CallState.COMPLETED,
        CallState.ABANDONED,
        CallState.SELF_SERVED,
        CallState.VOICEMAIL,
    }
)

TRANSITIONS: dict[tuple[CallState, CallEvent], CallState] = {
    (CallState.IVR, CallEvent.ENQUEUE): CallState.QUEUED,
    (CallState.IVR, CallEvent.HANGUP): CallState.ABANDONED,
    (CallState.IVR, CallEvent.SELF_SERVE): CallState.SELF_SERVED,
    (CallState.QUEUED, CallEvent.OFFER): CallState.OFFERED,
    (CallState.QUEUED, CallEvent.HANGUP): CallState.ABANDONED,
    (CallState.OFFERED, CallEvent.OFFER_REJECTED): CallState.QUEUED,
    (CallState.OFFERED, CallEvent.ACCEPT): CallState.CONNECTED,
    (CallState.OFFERED, CallEvent.HANGUP): CallState.ABANDONED,
    (CallState.CONNECTED, CallEvent.BRIDGE): CallState.TALKING,
    (CallState.CONNECTED, CallEvent.HANGUP): CallState.COMPLETED,
    (CallState.TALKING, CallEvent.HANGUP): CallState.COMPLETED,
    (CallState.IVR, CallEvent.LEAVE_MESSAGE): CallState.VOICEMAIL,
    (CallState.QUEUED, CallEvent.LEAVE_MESSAGE): CallState.VOICEMAIL,
    # A caller waiting for a callback is called back once a hotliner accepts:
    (CallState.CONNECTED, CallEvent.CALLBACK_FAILED): CallState.CALLBACK_WAIT,
    (CallState.CONNECTED, CallEvent.CALLBACK_GIVEN_UP): CallState.ABANDONED,
    (CallState.CALLBACK_WAIT, CallEvent.RETRY_CALLBACK): CallState.QUEUED,
}


def next_state(current: CallState, event: CallEvent) -> CallState:
    """The state after `event`, or `IllegalCallMove` if the table has no such move."""
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise IllegalCallMove(current, event) from None


def queue_score(priority: int, first_entered_ms: int) -> int:
    """Sort key of a waiting caller: higher priority first, then first come.

    Priority 9 sorts before 0; within a priority the earliest entry wins. The
    entry time is the first time the caller ever queued, so a caller moved,
    re-offered or called back keeps their place. Stays an exact integer in a
    double (< 2**53) for any epoch-ms time before the year 2255.
    """
    if not 0 <= priority <= 9:
        raise ValueError("priority must be 0..9")
    return (9 - priority) * 10**13 + first_entered_ms
