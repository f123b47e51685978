"""Every state a call can be in, the moves between them, and every event logged.

The single table of the call lifecycle (h11-style: everything that moves a
call's state lives here). The Lua scripts in `queues.scripts` do not spell
states themselves: they receive this table (`lua_tables()`, compiled into
their prelude) and ask it for the state a move leads to, so the table is the
rule Redis enforces. `tests/integration/test_lifecycle_scripts.py` runs every
script from every state on a real Redis and compares with `TRANSITIONS`.

`EventType` names every entry of the event stream; the call log's projection
must know each one (a test checks every type the scripts can emit).
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
    SCHEDULED = "scheduled"  # a call back by a specialist, due at a set time


class CallEvent(StrEnum):
    """What moves a call (the second key of `TRANSITIONS`)."""

    ENQUEUE = "enqueue"
    OFFER = "offer"
    OFFER_REJECTED = "offer_rejected"  # no answer, declined, expired, failed
    ACCEPT = "accept"
    BRIDGE = "bridge"
    HOTLINER_LEFT = "hotliner_left"  # gone before the caller met them
    HANGUP = "hangup"
    SELF_SERVE = "self_serve"
    LEAVE_MESSAGE = "leave_message"
    CALLBACK_FAILED = "callback_failed"  # not answered; retry later
    CALLBACK_GIVEN_UP = "callback_given_up"  # not answered, no attempt left
    RETRY_CALLBACK = "retry_callback"
    TRANSFER = "transfer"  # a hotliner passes the caller on to a queue


class EventType(StrEnum):
    """Every type of entry in the event stream (what the call log projects)."""

    CALL_STARTED = "call_started"
    IVR_CHOICE = "ivr_choice"  # the menu leaf that queued the caller
    IVR_NOTE = "ivr_note"  # facts learnt on the way: KB fault, steps tried...
    LANGUAGE = "language"  # the caller switched language
    ENQUEUED = "enqueued"
    OFFERED = "offered"
    OFFER_REJECTED = "offer_rejected"
    ACCEPTED = "accepted"
    TALKING = "talking"
    REQUEUED = "requeued"  # back in place: hotliner left, or callback retry
    CALL_ENDED = "call_ended"
    OUTCOME = "outcome"
    CALLBACK_REQUESTED = "callback_requested"
    CALLBACK_SCHEDULED = "callback_scheduled"  # a specialist calls back later
    CALLBACK_FAILED = "callback_failed"
    CALLER_LEFT = "caller_left"  # hung up to be called back: keeps their place
    AGENT_STATE = "agent_state"  # a hotliner's state changed
    TRANSFERRED = "transferred"  # passed on by a hotliner: to a queue (cold),
    # or to the specialist they briefed ('kind' warm)
    RECAP_SENT = "recap_sent"  # the caller was sent a recap (SMS, email)
    HOLD = "hold"  # the hotliner put the caller on hold ('on' 1) or took them back
    # Warm transfer: a specialist is rung for it, answers and hears the
    # hotliner, or it ends without them (declined, not answered, cancelled...).
    CONSULT_OFFERED = "consult_offered"
    CONSULT_JOINED = "consult_joined"
    CONSULT_ENDED = "consult_ended"
    # A supervisor's control (audited in SQL): in the stream so that every
    # wallboard shows it at once ('action', 'target'); about no call.
    CONTROL = "control"


#: Where every call starts (the hotline answered, the caller is in the menu).
INITIAL = CallState.IVR

#: States a call never leaves (but see the one correction in `TRANSITIONS`).
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
    (CallState.IVR, CallEvent.LEAVE_MESSAGE): CallState.VOICEMAIL,
    (CallState.QUEUED, CallEvent.OFFER): CallState.OFFERED,
    (CallState.QUEUED, CallEvent.HANGUP): CallState.ABANDONED,
    (CallState.QUEUED, CallEvent.LEAVE_MESSAGE): CallState.VOICEMAIL,
    (CallState.OFFERED, CallEvent.OFFER_REJECTED): CallState.QUEUED,
    (CallState.OFFERED, CallEvent.ACCEPT): CallState.CONNECTED,
    (CallState.OFFERED, CallEvent.HANGUP): CallState.ABANDONED,
    (CallState.CONNECTED, CallEvent.BRIDGE): CallState.TALKING,
    (CallState.CONNECTED, CallEvent.HOTLINER_LEFT): CallState.QUEUED,
    (CallState.CONNECTED, CallEvent.HANGUP): CallState.COMPLETED,
    (CallState.TALKING, CallEvent.HOTLINER_LEFT): CallState.QUEUED,  # alone in it
    (CallState.TALKING, CallEvent.HANGUP): CallState.COMPLETED,
    # Cold transfer: back in the router for another queue, first entry kept.
    (CallState.TALKING, CallEvent.TRANSFER): CallState.QUEUED,
    # A caller waiting for a callback is called back once a hotliner accepts:
    (CallState.CONNECTED, CallEvent.CALLBACK_FAILED): CallState.CALLBACK_WAIT,
    (CallState.CONNECTED, CallEvent.CALLBACK_GIVEN_UP): CallState.ABANDONED,
    (CallState.CALLBACK_WAIT, CallEvent.RETRY_CALLBACK): CallState.QUEUED,
    # A call back scheduled by a hotliner for a specialist joins its queue
    # when due (then as any caller waiting for our call back).
    (CallState.SCHEDULED, CallEvent.ENQUEUE): CallState.QUEUED,
    # The one move out of a final state: the hang-up's status callback can
    # overtake the <Record> action of the message the caller did leave.
    (CallState.ABANDONED, CallEvent.LEAVE_MESSAGE): CallState.VOICEMAIL,
}


def next_state(current: CallState, event: CallEvent) -> CallState:
    """The state after `event`, or `IllegalCallMove` if the table has no such move."""
    try:
        return TRANSITIONS[(current, event)]
    except KeyError:
        raise IllegalCallMove(current, event) from None


def lua_tables() -> str:
    """The table as Lua, for the scripts' prelude.

    `MOVES[event][state]` is the state `event` leads to from `state` (nil: no
    such move); `TERMINAL[state]` is true for a final state; `INITIAL` is where
    a call starts.
    """
    moves: dict[str, dict[str, str]] = {}
    for (state, event), target in TRANSITIONS.items():
        moves.setdefault(event.value, {})[state.value] = target.value

    def lua(pairs: dict[str, str]) -> str:
        return "{" + ", ".join(f"{k} = {v!r}" for k, v in sorted(pairs.items())) + "}"

    events = ", ".join(f"{event} = {lua(by)}" for event, by in sorted(moves.items()))
    terminal = ", ".join(f"{state.value} = true" for state in sorted(TERMINAL))
    return (
        f"local INITIAL = {INITIAL.value!r}\n"
        f"local MOVES = {{{events}}}\nlocal TERMINAL = {{{terminal}}}\n"
    )


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
