"""The webhooks Twilio is sent to: every path, and the URL each one expects.

One module names both sides of the contract. `web.voice` routes each path
(`@bp.post(webhooks.AGENT_ANSWER)`); whoever hands Twilio a URL builds it
here with the query parameters the view reads: the hand-off ringing a
hotliner or moving a caller, the sweep redirecting a long waiter, the views'
own TwiML. `tests/integration/test_webhook_paths.py` checks that each path is
a route of the app and each route is named here.

Builders return a path and its query; `Runtime.public_url` makes it absolute.
Parameters are URL-encoded in the order given (ids of calls, queues and
hotliners never need escaping, so the URLs read as written).
"""

from __future__ import annotations

from urllib.parse import urlencode

#: Every voice webhook's path starts so (what only Twilio, signing, asks for).
ROOT = "/voice/"

# Set on the hotline's number in Twilio's console.
INCOMING = "/voice/incoming"  # "A call comes in"
STATUS = "/voice/status"  # "Call status changes" (the caller's call)

# The voice menu.
INCIDENT = "/voice/incident"
RETURNING = "/voice/returning"
MENU = "/voice/menu"
SELFHELP = "/voice/selfhelp"
WHICH = "/voice/which"

# Waiting in Twilio's queue, and the ways out of it.
WAIT = "/voice/wait"
WAIT_KEY = "/voice/wait-key"
QUEUE_RESULT = "/voice/queue-result"
TOO_LONG = "/voice/too-long"
CHOOSE = "/voice/choose"
MESSAGE_LEFT = "/voice/message-left"

# The hotliner's leg and the caller's move to the conference.
AGENT_ANSWER = "/voice/agent/answer"
AGENT_STATUS = "/voice/agent/status"
CALLER_CONNECT = "/voice/caller/connect"
CALLER_AFTER = "/voice/caller/after"
CALLER_REQUEUE = "/voice/caller/requeue"
CALLER_TRANSFERRED = "/voice/caller/transferred"
CALLER_TRANSFER_HOLD = "/voice/caller/transfer-hold"  # on hold for a transfer
# A specialist rung for a warm transfer picked up (their leg's end goes to
# AGENT_STATUS, like any offer's).
CONSULT_ANSWER = "/voice/agent/consult-answer"
# Someone outside called into a caller's conference (external transfer).
EXTERNAL_STATUS = "/voice/external/status"

# A supervisor's leg in a caller's conference (listen, whisper, barge).
LISTENER_STATUS = "/voice/supervisor/status"

# Our call back to a caller who asked for one.
CALLBACK_ANSWER = "/voice/callback/answer"
CALLBACK_STATUS = "/voice/callback/status"

#: Every path Twilio may be sent to (each one is a POST route of the app).
ALL = (
    INCOMING,
    STATUS,
    INCIDENT,
    RETURNING,
    MENU,
    SELFHELP,
    WHICH,
    WAIT,
    WAIT_KEY,
    QUEUE_RESULT,
    TOO_LONG,
    CHOOSE,
    MESSAGE_LEFT,
    AGENT_ANSWER,
    AGENT_STATUS,
    CALLER_CONNECT,
    CALLER_AFTER,
    CALLER_REQUEUE,
    CALLER_TRANSFERRED,
    CALLER_TRANSFER_HOLD,
    CONSULT_ANSWER,
    EXTERNAL_STATUS,
    LISTENER_STATUS,
    CALLBACK_ANSWER,
    CALLBACK_STATUS,
)


def _with_query(path: str, **params: object) -> str:
    """`path?a=1&b=2`, leaving out parameters that are None."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{path}?{query}" if query else path


# -- the voice menu ------------------------------------------------------------


def incident(lang: str, incident_id: str, version: str) -> str:
    """Answer to "is your call about the announced incident?"."""
    return _with_query(INCIDENT, lang=lang, incident=incident_id, v=version)


def returning(lang: str, previous: str, queue: str, version: str) -> str:
    """Answer to "is it about your earlier call (`previous`, in `queue`)?"."""
    return _with_query(RETURNING, lang=lang, previous=previous, queue=queue, v=version)


def menu(node: str, attempt: int, lang: str, version: str) -> str:
    """Answer to a menu of the call's tree version."""
    return _with_query(MENU, node=node, attempt=attempt, lang=lang, v=version)


def which(
    node: str, first: str, second: str, faults: str, lang: str, version: str
) -> str:
    """Answer to "is it about this (1) or that (2)?" asked at menu `node`;
    `faults` is the two places' faults, comma-separated."""
    return _with_query(
        WHICH,
        node=node,
        first=first,
        second=second,
        faults=faults,
        lang=lang,
        v=version,
    )


def selfhelp(node: str, step: int, attempt: int, lang: str, version: str) -> str:
    """Answer to "did this self-help step fix it?"."""
    return _with_query(
        SELFHELP, node=node, step=step, attempt=attempt, lang=lang, v=version
    )


# -- waiting -------------------------------------------------------------------


def wait(queue: str, lang: str, *, held: bool = False) -> str:
    """Twilio's waitUrl: what a caller in `queue` hears while holding.

    `held`: the caller is not in Twilio's queue (it was full, `queue_result`)
    and is held by the document itself, which asks for itself again."""
    return _with_query(WAIT, queue=queue, lang=lang, held=1 if held else None)


def wait_key(queue: str, lang: str, *, held: bool = False) -> str:
    """A key pressed while holding (the callback key)."""
    return _with_query(WAIT_KEY, queue=queue, lang=lang, held=1 if held else None)


def queue_result(lang: str, queue: str) -> str:
    """`<Enqueue>`'s action: how the caller left Twilio's queue (`queue`)."""
    return _with_query(QUEUE_RESULT, lang=lang, queue=queue)


def too_long(queue: str, lang: str) -> str:
    """Where the sweep moves a caller who waited past the queue's maximum."""
    return _with_query(TOO_LONG, queue=queue, lang=lang)


def choose(queue: str, lang: str, why: str, priority: int | None = None) -> str:
    """Answer to "callback (1) or message (2)?"; `why` the caller was asked."""
    return _with_query(CHOOSE, queue=queue, priority=priority, lang=lang, why=why)


def message_left(lang: str) -> str:
    """`<Record>`'s action: the voicemail is recorded."""
    return _with_query(MESSAGE_LEFT, lang=lang)


# -- the hotliner's leg and the caller's move ----------------------------------


def agent_answer(offer: str, call: str) -> str:
    """The hotliner picked up the leg rung for `offer` (caller `call`)."""
    return _with_query(AGENT_ANSWER, offer=offer, call=call)


def consult_answer(offer: str, call: str) -> str:
    """The specialist picked up the leg rung for a warm transfer's `offer`."""
    return _with_query(CONSULT_ANSWER, offer=offer, call=call)


def external_status(call: str, consult: str) -> str:
    """Answered and final statuses of an outside leg of an external transfer."""
    return _with_query(EXTERNAL_STATUS, call=call, consult=consult)


def listener_status(call: str) -> str:
    """Statuses of a supervisor's leg listening in on `call`."""
    return _with_query(LISTENER_STATUS, call=call)


def transfer_hold(lang: str) -> str:
    """What a caller on hold for a warm transfer hears (their `HoldUrl`)."""
    return _with_query(CALLER_TRANSFER_HOLD, lang=lang)


def conference_name(call_sid: str) -> str:
    """One conference per caller, so transfer and listen-in can join it later."""
    return f"hotline-{call_sid}"


def agent_status(offer: str, agent: str) -> str:
    """Final status of the hotliner's leg rung for `offer`."""
    return _with_query(AGENT_STATUS, offer=offer, agent=agent)


def caller_connect(call: str, queue: str, lang: str) -> str:
    """A caller moved from the queue to their hotliner's conference; queue and
    language ride along to hold them again if live state is unreachable."""
    return _with_query(CALLER_CONNECT, call=call, queue=queue, lang=lang)


def caller_requeue(call: str, queue: str, lang: str) -> str:
    """A caller alone in a conference moved back to their place in the queue."""
    return _with_query(CALLER_REQUEUE, call=call, queue=queue, lang=lang)


def caller_transferred(call: str, queue: str, lang: str) -> str:
    """A caller passed on by their hotliner, moved out of the conference into
    the queue they were transferred to."""
    return _with_query(CALLER_TRANSFERRED, call=call, queue=queue, lang=lang)


def caller_after(call: str, lang: str) -> str:
    """`<Dial>`'s action: the caller's conference ended."""
    return _with_query(CALLER_AFTER, call=call, lang=lang)


# -- our call back -------------------------------------------------------------


def callback_answer(call: str) -> str:
    """The caller picked up our call back."""
    return _with_query(CALLBACK_ANSWER, call=call)


def callback_status(call: str) -> str:
    """Final status of our call back."""
    return _with_query(CALLBACK_STATUS, call=call)
