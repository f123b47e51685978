"""Handing callers to hotliners: each move of the router, decided then done.

Every function here takes its decision in Redis through one atomic store
operation and says what that decision leaves to do at the carrier as a
`Next` value: legs to end, a caller to bring to their hotliner, whether to
offer waiting callers now. `carry_out` does it. Webhooks decide before they
answer Twilio and carry out right after the answer is sent (same request,
no queued job in between); the worker's timer loop and jobs carry out at
once. That is what keeps a freed hotliner's phone from sitting idle while
callers wait: the next offer is made in the very request that freed them.

Nothing is lost if carrying out fails half-way: the state in Redis is right,
and the worker's timers (`bridge:`, `alone:`, wrap-up ends, offer expiries)
and sweep re-drive whatever was left undone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from core.clock import now_ms
from core.telephony import FINAL_CALL_STATUSES, TelephonyError
from core.validate import is_e164
from queues import conference, routing, webhooks
from queues.grouped_store import OTHER_GROUP_TEXT, bare_timer
from queues.runtime import Runtime
from queues.store import (
    Accepted,
    LegEnded,
    LegRecorded,
    Offer,
    OutcomeRecorded,
    Rejected,
    Transferred,
    TransferRefused,
)

log = logging.getLogger(__name__)

#: Bound on offers made by one dispatch run, so one run never runs away.
MAX_OFFERS_PER_RUN = 200
#: A caller accepted by a hotliner but not in the conference after this long
#: is moved there again (the redirect was lost, or the process died).
BRIDGE_RETRY_MS = 5_000
#: After a hotliner's leg ends, how long a bridged caller's conference has to
#: end by itself before we take them for alone in it and put them back.
ALONE_GRACE_MS = 2_000


@dataclass(frozen=True, slots=True)
class Next:
    """What a decision leaves to do at the carrier, in this order."""

    end_legs: tuple[str, ...] = ()  # hotliner legs nobody waits for any more
    connect: str | None = None  # a caller whose hotliner answered
    dispatch: bool = False  # a hotliner or a caller became free: offer now
    # A transferred caller to move out of their conference into their new
    # queue, before `end_legs` (their old hotliner's): if the move fails, the
    # legs are left up, so the caller is never left in a conference that ends.
    move_out: str | None = None
    # A warm transfer that did not happen: the caller is taken off hold.
    resume: str | None = None
    # A warm transfer done: the specialist now holds the conference.
    handed_over: str | None = None

    def __or__(self, other: Next) -> Next:
        return Next(
            end_legs=self.end_legs + other.end_legs,
            connect=self.connect or other.connect,
            dispatch=self.dispatch or other.dispatch,
            move_out=self.move_out or other.move_out,
            resume=self.resume or other.resume,
            handed_over=self.handed_over or other.handed_over,
        )


NOTHING = Next()

#: States in which a caller on the line belongs in Twilio's queue: waiting,
#: ringing at a hotliner, or accepted by one (the redirect to the conference
#: finds them there).
HOLDING = frozenset({"queued", "offered", "connected"})


def carry_out(rt: Runtime, todo: Next) -> None:
    """Do at the carrier what a decision implies; failures are logged and left
    to the timers and the sweep."""
    moved = move_caller_out(rt, todo.move_out) if todo.move_out else True
    if todo.handed_over:
        conference.seat_specialist(rt, todo.handed_over)
    if todo.resume:
        conference.resume_caller(rt, todo.resume)
    for leg in todo.end_legs if moved else ():
        end_leg(rt, leg)
    if todo.connect:
        connect_caller(rt, todo.connect)
    if todo.dispatch:
        offer_waiting_callers(rt)


# -- offers ------------------------------------------------------------------


def offer_waiting_callers(rt: Runtime) -> int:
    """Match waiting callers with free hotliners and ring them; offers made.

    Every queue takes part: a hotliner freed by one queue may be the best
    match for another queue's caller. Stops at the first leg the carrier
    refuses (its trouble is not the next hotliner's): the sweep tries again.
    Offers go at the carrier's calls per second: past it, the `dispatch`
    timer goes on when the next may be made.
    """
    queue_rules = routing.rules(rt.routing)
    hotline = rt.routing.hotline
    made = 0
    while made < MAX_OFFERS_PER_RUN:
        offer = rt.store.match(
            queue_rules,
            hotline.ring_seconds * 1000,
            hotline.strategy,
            rt.settings.calls_per_second,
        )
        if not isinstance(offer, Offer):
            break
        made += 1
        if not ring(rt, offer):
            break
    return made


def ring(rt: Runtime, offer: Offer) -> bool:
    """Place the hotliner's leg for an offer; False if the carrier refused it
    (the caller keeps their place, the hotliner is not counted as missing)."""
    leg = place_leg(rt, offer)
    if leg is None:
        return False
    leg_placed(rt, offer, leg)
    return True


def place_leg(rt: Runtime, offer: Offer) -> str | None:
    """Ask the carrier to ring the hotliner; the leg's sid, or None if refused."""
    hotliner = rt.routing.hotliner(offer.agent_id)
    try:
        if hotliner is None:
            raise TelephonyError(f"hotliner {offer.agent_id!r} is not configured")
        return rt.telephony.place_call(
            to=hotliner.endpoint,
            from_=rt.settings.hotline_number,
            url=rt.public_url(webhooks.agent_answer(offer.offer_id, offer.call_sid)),
            status_callback=rt.public_url(
                webhooks.agent_status(offer.offer_id, offer.agent_id)
            ),
            timeout=rt.routing.hotline.ring_seconds,
        )
    except TelephonyError:
        log.exception(
            "could not ring hotliner agent_id=%s call_sid=%s",
            offer.agent_id,
            offer.call_sid,
        )
        rt.store.reject(
            offer.offer_id,
            "failed",
            rt.routing.hotline.max_missed_offers,
            counts_as_miss=False,
        )
        return None


def leg_placed(rt: Runtime, offer: Offer, leg: str) -> None:
    """The carrier says the hotliner's leg exists (its REST answer).

    That answer can arrive after the hotliner's phone has already answered
    (ACCEPT ran first, on this leg): then there is nothing to do. Only an
    offer gone for another reason (the caller left, the offer lapsed) means
    nobody waits for this leg any more.
    """
    if rt.store.set_offer_leg(offer, leg) is LegRecorded.OFFER_GONE:
        end_leg(rt, leg)


def expire_offers(rt: Runtime) -> int:
    """Offers rung past their time go to the next hotliner; offers expired."""
    expired = 0
    todo = NOTHING
    for offer_id in rt.store.expired_offers():
        leg = rt.store.offer(offer_id).get("leg")
        rejected = rt.store.reject(
            offer_id, "expired", rt.routing.hotline.max_missed_offers
        )
        if rejected is not None:
            expired += 1
            todo |= Next(end_legs=(leg,) if leg else (), dispatch=True)
            todo |= _resume_if(rejected)
    carry_out(rt, todo)
    return expired


# -- the hotliner's side -----------------------------------------------------


def hotliner_answered(rt: Runtime, offer_id: str, leg_sid: str) -> Accepted | None:
    """The hotliner picked up on `leg_sid`: accepted unless the caller left or
    the offer lapsed. The caller is then brought to them (`connect_caller`)."""
    return rt.store.accept(offer_id, leg_sid, BRIDGE_RETRY_MS)


def hotliner_declined(rt: Runtime, offer_id: str, agent_id: str) -> Next | None:
    """The hotliner declined an offer from their console: the caller goes
    back to their place for the next hotliner (this one, freed, becomes the
    most recently idle). Counted as declined, never as a missed offer that
    would set them away. None if the offer is not theirs or already over."""
    offer = rt.store.offer(offer_id)
    if not offer or offer.get("agent") != agent_id:
        return None
    leg = offer.get("leg", "")
    rejected = rt.store.reject(
        offer_id,
        "declined",
        rt.routing.hotline.max_missed_offers,
        counts_as_miss=False,
    )
    if rejected is None:
        return None
    return Next(end_legs=(leg,) if leg else (), dispatch=True) | _resume_if(rejected)


def _resume_if(rejected: Rejected) -> Next:
    """A specialist's offer for a warm transfer, rejected: the caller is
    taken off hold (they stay with their hotliner)."""
    return Next(resume=rejected.call_sid) if rejected.ended_warm_transfer else NOTHING


def hotliner_leg_ended(
    rt: Runtime,
    offer_id: str,
    agent_id: str,
    leg_sid: str,
    status: str,
    at_ms: int | None = None,
) -> Next:
    """A hotliner's leg reached a final status (its status callback).

    Still ringing for an offer: not answered, the caller goes back to their
    place and the next hotliner is tried. Answered: the conversation is over
    for the hotliner (wrap-up, or free at once), and a caller they never met
    goes back to their place.
    """
    hotline = rt.routing.hotline
    rejected = rt.store.reject(offer_id, status, hotline.max_missed_offers, at_ms=at_ms)
    if rejected is not None:
        return Next(dispatch=True) | _resume_if(rejected)
    ended = rt.store.agent_leg_ended(
        agent_id, leg_sid, hotline.wrapup_seconds * 1000, ALONE_GRACE_MS, at_ms
    )
    return after_leg_ended(ended)


def after_leg_ended(ended: LegEnded | None) -> Next:
    """What a hotliner's leg ending leaves to do (its status callback, or the
    reconciliation finding it over): offer the next caller, and for a warm
    transfer, hand the conference over or take the caller off hold."""
    if ended is None:
        return NOTHING
    todo = Next(
        end_legs=(ended.specialist_leg,) if ended.specialist_leg else (),
        dispatch=ended.caller in {"requeued", "consult_over"}
        or ended.agent_state == "available",
    )
    if ended.caller == "handed_over":
        return todo | Next(handed_over=ended.call_sid)
    if ended.caller == "consult_over":
        return todo | Next(resume=ended.call_sid)
    return todo


def outcome_posted(
    rt: Runtime,
    call_sid: str,
    agent_id: str,
    outcome: str,
    notes: str,
    at_ms: int | None = None,
    details: Mapping[str, str] | None = None,
) -> tuple[bool, Next]:
    """The hotliner recorded the call's outcome; a hotliner in wrap-up is free
    for the next caller in the same step. (recorded, what to do next).

    `details`: the KB fault that fixed it (`fixed_by`), the remote session
    used (`remote`), the agent steps done (`steps`)."""
    result = rt.store.record_outcome(
        call_sid, agent_id, outcome, notes, at_ms=at_ms, details=details
    )
    return (
        result is not OutcomeRecorded.REFUSED,
        Next(dispatch=result is OutcomeRecorded.AGENT_FREED),
    )


# -- transfers ---------------------------------------------------------------

#: Priority added to a caller transferred to another queue: they have waited
#: once already (capped at 9, the highest).
TRANSFER_PRIORITY_BUMP = 1


class TransferInvalid(Exception):
    """A transfer asked for something that cannot be (unknown queue...)."""


def transfer_to_queue(
    rt: Runtime,
    call_sid: str,
    agent_id: str,
    queue_id: str,
    notes: str = "",
    steps: tuple[str, ...] = (),
) -> tuple[Transferred | TransferRefused, Next]:
    """Cold transfer: the caller talking with `agent_id` goes to `queue_id`,
    keeping their first entry time, with a raised priority and the notes.

    What is left to do: move the caller out of the conference into the queue
    (they hear that they are transferred), then hang up the hotliner's leg,
    then offer the waiting callers. `TransferInvalid` for a queue that does
    not exist or a caller on our call back (not movable yet).
    """
    if rt.routing.queue(queue_id) is None:
        raise TransferInvalid(f"no queue {queue_id!r}")
    if rt.store.call(call_sid).get("callback") == "1":
        raise TransferInvalid("a caller we called back cannot be transferred")
    result = rt.store.transfer(
        call_sid,
        agent_id,
        queue_id,
        priority_bump=TRANSFER_PRIORITY_BUMP,
        wrapup_ms=rt.routing.hotline.wrapup_seconds * 1000,
        notes=notes,
        steps=steps,
    )
    if isinstance(result, TransferRefused):
        return result, NOTHING
    legs = (result.agent_leg,) if result.agent_leg else ()
    return result, Next(move_out=call_sid, end_legs=legs, dispatch=True)


def move_caller_out(rt: Runtime, call_sid: str) -> bool:
    """Redirect a transferred caller from their conference into their queue.
    False if the carrier refused (the caller is still in the conference)."""
    call = rt.store.call(call_sid)
    if call.get("state") not in HOLDING:
        return True  # gone, or already with their next hotliner
    try:
        rt.telephony.redirect(
            call_sid, _caller_url(rt, webhooks.caller_transferred, call)
        )
    except TelephonyError:
        log.warning(
            "could not move transferred call_sid=%s out of its conference",
            call_sid,
            exc_info=True,
        )
        return False
    return True


# -- call backs by a specialist, at a set time ---------------------------------

#: How far ahead a call back may be scheduled, and how soon at the earliest.
MAX_SCHEDULE_AHEAD_MS = 14 * 24 * 3600 * 1000
MIN_SCHEDULE_AHEAD_MS = 10_000
#: Priority of a scheduled call back: the caller was promised this time.
SCHEDULED_PRIORITY = 8


def schedule_callback(
    rt: Runtime,
    call_sid: str,
    agent_id: str,
    queue_id: str,
    due_ms: int,
    notes: str = "",
) -> str:
    """A specialist of `queue_id` calls the caller of `call_sid` back at
    `due_ms`; the new call's sid. `TransferInvalid` for an unknown queue, a
    time out of bounds, a number we cannot call, or a queue of another
    routing group than the call's."""
    if rt.routing.queue(queue_id) is None:
        raise TransferInvalid(f"no queue {queue_id!r}")
    now = now_ms()
    if not now + MIN_SCHEDULE_AHEAD_MS <= due_ms <= now + MAX_SCHEDULE_AHEAD_MS:
        raise TransferInvalid("the time must be between 10 s and 14 days from now")
    call = rt.store.call(call_sid)
    number = call.get("callback_number") or call.get("from", "")
    if not is_e164(number):
        raise TransferInvalid("the caller's number cannot be called back")
    new_sid = "CB" + uuid.uuid4().hex
    scheduled = rt.store.schedule_callback(
        new_sid,
        call_sid,
        due_ms=due_ms,
        queue_id=queue_id,
        priority=SCHEDULED_PRIORITY,
        number=number,
        language=call.get("lang", ""),
        agent_id=agent_id,
        notes=notes,
        hotline_number=rt.settings.hotline_number,
    )
    if not scheduled:  # live state split by routing group: another group's queue
        raise TransferInvalid(f"the call back cannot be scheduled: {OTHER_GROUP_TEXT}")
    return new_sid


def callback_due(rt: Runtime, call_sid: str) -> Next:
    """A scheduled call back's time has come: it joins its queue."""
    call = rt.store.call(call_sid)
    if call.get("state") != "scheduled":
        return NOTHING
    queued = rt.store.enqueue(
        call_sid,
        call.get("scheduled_queue", ""),
        int(call.get("scheduled_priority") or 0),
    )
    return Next(dispatch=queued == 1)


# -- the caller's side -------------------------------------------------------


def caller_gone(
    rt: Runtime, call_sid: str, reason: str, at_ms: int | None = None
) -> Next:
    """The caller's call ended (final status, or left Twilio's queue hung up)."""
    ended = rt.store.hang_up(
        call_sid,
        reason,
        wrapup_ms=rt.routing.hotline.wrapup_seconds * 1000,
        at_ms=at_ms,
    )
    if ended is None:
        return NOTHING
    legs = (ended.agent_leg_to_end,) if ended.agent_leg_to_end else ()
    return Next(end_legs=legs, dispatch=ended.agent_freed)


def connect_caller(rt: Runtime, call_sid: str) -> None:
    """Bring an accepted caller to their hotliner's conference.

    A caller waiting in Twilio's queue is redirected into the conference; a
    caller who asked to be called back is not on the line: we call them.
    """
    call = rt.store.call(call_sid)
    if call.get("state") != "connected":
        return
    if call.get("callback") == "1":
        call_back(rt, call_sid, call.get("callback_number", ""))
        return
    try:
        rt.telephony.redirect(call_sid, _caller_url(rt, webhooks.caller_connect, call))
    except TelephonyError:
        log.warning(
            "could not bridge call_sid=%s (retried by its timer)",
            call_sid,
            exc_info=True,
        )


def end_leg(rt: Runtime, leg_sid: str) -> None:
    """Stop ringing (or hang up) a hotliner's leg nobody waits for any more."""
    try:
        rt.telephony.end(leg_sid)
    except TelephonyError:
        log.warning("could not end leg %s", leg_sid, exc_info=True)


def call_back(rt: Runtime, call_sid: str, number: str) -> None:
    """Ring a caller who asked to be called back; a refusal is a failed attempt."""
    hotline = rt.routing.hotline
    try:
        rt.telephony.place_call(
            to=number,
            from_=rt.settings.hotline_number,
            url=rt.public_url(webhooks.callback_answer(call_sid)),
            status_callback=rt.public_url(webhooks.callback_status(call_sid)),
            timeout=hotline.callback_ring_seconds,
        )
    except TelephonyError:
        log.exception("could not call back call_sid=%s", call_sid)
        carry_out(rt, callback_not_answered(rt, call_sid, "failed"))


def callback_leg_ended(
    rt: Runtime, call_sid: str, status: str, at_ms: int | None = None
) -> Next:
    """Our call back to a caller reached a final status (its status callback).

    After a conversation it is the end of the call; unanswered, it is a
    failed attempt (retried later, or a text after the last).
    """
    if rt.store.call(call_sid).get("state") == "talking":
        ended = rt.store.hang_up(
            call_sid,
            status,
            leg="callback",
            wrapup_ms=rt.routing.hotline.wrapup_seconds * 1000,
            at_ms=at_ms,
        )
        return Next(dispatch=ended is not None and ended.agent_freed)
    return callback_not_answered(rt, call_sid, status, at_ms)


def callback_not_answered(
    rt: Runtime, call_sid: str, reason: str, at_ms: int | None = None
) -> Next:
    """Our call back was not answered: retry after a delay, or text them after
    the last attempt; their hotliner is free again either way."""
    hotline = rt.routing.hotline
    failure = rt.store.callback_failed(
        call_sid, hotline.callback_attempts, reason, at_ms
    )
    if failure is None:
        return NOTHING
    # Background work, by name: the jobs module builds on this one.
    if failure.final:
        rt.jobs.enqueue("queues.jobs.send_callback_sms", call_sid)
    else:
        rt.jobs.enqueue_in(
            timedelta(seconds=hotline.callback_retry_seconds),
            "queues.jobs.requeue_callback",
            call_sid,
        )
    legs = (failure.agent_leg,) if failure.agent_leg else ()
    return Next(end_legs=legs, dispatch=True)


# -- timers ------------------------------------------------------------------


def fire_due_timers(rt: Runtime) -> int:
    """Fire every timer that is due (each claimed by one process); fired."""
    fired = 0
    for member in rt.store.due_timers():
        lease = rt.store.claim_timer(member)
        if lease is not None:
            fired += 1
            carry_out(rt, fire_timer(rt, member))
            rt.store.release_timer(member, lease)
    return fired


def fire_timer(rt: Runtime, member: str) -> Next:
    """One due timer: 'wrapup:<agent>', 'bridge:<call>', 'alone:<call>',
    'due:<call>' (a scheduled call back) or 'dispatch' (paced offers),
    after their routing group's name when live state is split in groups."""
    kind, _, ident = bare_timer(member).partition(":")
    if kind == "dispatch":
        return Next(dispatch=True)
    if kind == "due":
        return callback_due(rt, ident)
    if kind == "wrapup":
        return Next(dispatch=rt.store.agents.end_wrapup_now(ident))
    if kind == "bridge":
        return _bridge_again(rt, ident)
    if kind == "alone":
        _free_caller_alone(rt, ident)
        return NOTHING
    log.warning("unknown timer %r", member)
    return NOTHING


def _bridge_again(rt: Runtime, call_sid: str) -> Next:
    """An accepted caller who is still not in the conference."""
    call = rt.store.call(call_sid)
    if call.get("state") != "connected" or call.get("callback") == "1":
        return NOTHING
    try:
        status = rt.telephony.status(call_sid)
    except TelephonyError:
        status = "unknown"
    if status is None or status in FINAL_CALL_STATUSES:
        return caller_gone(rt, call_sid, "gone")
    rt.store.set_timer(f"bridge:{call_sid}", now_ms() + BRIDGE_RETRY_MS)
    return Next(connect=call_sid)


def _free_caller_alone(rt: Runtime, call_sid: str) -> None:
    """A bridged caller whose conference did not end when their hotliner left:
    they are alone in it. Move them out; `webhooks.CALLER_REQUEUE` puts them back
    in their place (or says goodbye if their conference ended meanwhile)."""
    call = rt.store.call(call_sid)
    if call.get("state") != "talking" or call.get("after") == "1":
        return
    if call.get("callback") == "1":
        return  # on our call back's leg: its own status callback settles it
    agent = rt.store.agents.get(call.get("agent", ""))
    if agent.get("state") == "busy" and agent.get("call_sid") == call_sid:
        return
    try:
        rt.telephony.redirect(call_sid, _caller_url(rt, webhooks.caller_requeue, call))
    except TelephonyError:
        log.warning("could not free call_sid=%s from its conference", call_sid)


def _caller_url(
    rt: Runtime, webhook: Callable[[str, str, str], str], call: dict[str, str]
) -> str:
    """Where a caller is moved; queue and language ride along, so the webhook
    can hold them in their queue even if live state is unreachable then."""
    return rt.public_url(
        webhook(call.get("sid", ""), call.get("queue", ""), call.get("lang", ""))
    )
