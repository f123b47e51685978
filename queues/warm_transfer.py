"""Warm transfer: the hotliner briefs a specialist, then leaves them the caller.

1. `start`: the caller goes on hold (they hear music), a specialist is
   reserved (the longest idle of a queue with the level, or one named and on
   shift) and rung with the call's whole context and the hotliner's notes.
2. The specialist answers (`answered`): they join the conference and talk
   with the hotliner; the caller still hears music.
3. The hotliner completes (`complete`, or simply hangs up): the specialist has
   the caller, who is taken off hold; the hotliner wraps up.

The specialist declining, not answering, or hanging up before step 3, and
the hotliner cancelling (`cancel`), leave the caller with their hotliner, off
hold, and the hotliner's console says why. Each step is one atomic script
(`queues.consult_scripts`, and `REJECT`, `AGENT_LEG_ENDED`, `HANGUP` for the
ends that come from elsewhere); what it leaves to do at the carrier is a
`handoff.Next`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from agents.shifts import is_on_shift
from core.clock import utcnow
from core.telephony import FINAL_CALL_STATUSES, TelephonyError
from core.validate import is_e164
from queues import conference, handoff, webhooks
from queues.consult_store import (
    ConsultFinished,
    ConsultJoined,
    ConsultRefused,
    ConsultStarted,
)
from queues.grouped_store import OTHER_GROUP, OTHER_GROUP_TEXT
from queues.runtime import Runtime
from queues.store import Offer

log = logging.getLogger(__name__)

#: What each refusal of the scripts means, for the hotliner.
REFUSALS = {
    "unknown_call": "no such call in progress",
    "not_yours": "this call is not yours",
    "already_transferring": "a transfer of this call is already under way",
    "yourself": "you cannot transfer a call to yourself",
    "nobody_available": "nobody of that queue is available now: transfer it "
    "cold (the caller waits in that queue) or schedule a call back",
    "not_transferring": "no transfer of this call is under way",
    "not_joined": "the specialist has not answered yet",
    OTHER_GROUP: OTHER_GROUP_TEXT,
}


def explain(why: str) -> str:
    """A refusal in words ('specialist_<state>', 'not_talking:<state>' too)."""
    if why.startswith("specialist_"):
        return f"that specialist is not available ({why.removeprefix('specialist_')})"
    if why.startswith("not_talking:"):
        return f"the call is not in conversation ({why.partition(':')[2]})"
    return REFUSALS.get(why, why)


@dataclass(frozen=True, slots=True)
class Target:
    """Who a warm transfer goes to: a queue's hotliners, or one named."""

    queue: str | None = None
    specialist: str | None = None


def start(
    rt: Runtime,
    call_sid: str,
    agent_id: str,
    target: Target,
    notes: str = "",
    steps: tuple[str, ...] = (),
) -> ConsultStarted | ConsultRefused:
    """Put the caller on hold and ring a specialist for them.

    `handoff.TransferInvalid` for an unknown queue or hotliner, a hotliner
    off shift, or a caller on our call back; `TelephonyError` if the carrier
    refused (the transfer is then off and the caller back with their
    hotliner, off hold).
    """
    kind, ident, min_level, offer_queue = _resolve(rt, call_sid, target)
    result = rt.store.consults.start(
        call_sid,
        agent_id,
        target=(kind, ident),
        min_level=min_level,
        offer_queue=offer_queue,
        ring_ms=rt.routing.hotline.ring_seconds * 1000,
        notes=notes,
        steps=steps,
    )
    if isinstance(result, ConsultRefused):
        return result
    _hold_for_briefing(rt, call_sid, agent_id, result)
    _ring(rt, call_sid, result)
    return result


def _hold_for_briefing(
    rt: Runtime, call_sid: str, agent_id: str, started: ConsultStarted
) -> None:
    """The caller on hold, and the hotliner's leaving made to hand the caller
    over rather than end the call; `TelephonyError` (the transfer called off,
    the caller back with their hotliner) if the carrier refused.

    The specialist's console shows the offer as soon as the transfer starts,
    so they may decline it before the hold reaches the carrier: that
    decline's "take the caller off hold" then came first and did nothing.
    Whoever ends the transfer after this check finds the caller held and
    resumes them; if it ended before, the caller is resumed here."""
    if not (
        conference.hold_for_transfer(rt, call_sid)
        and conference.update_leg(
            rt, call_sid, started.hotliner_leg, end_conference_on_exit=False
        )
    ):
        handoff.carry_out(rt, cancel(rt, call_sid, agent_id)[1])
        raise TelephonyError("the carrier refused to put the caller on hold")
    if rt.store.call(call_sid).get("consult") != started.offer_id:
        conference.resume_caller(rt, call_sid)


def _resolve(rt: Runtime, call_sid: str, target: Target) -> tuple[str, str, int, str]:
    """(kind, id, minimum level, the offer's queue) of a valid target."""
    call = rt.store.call(call_sid)
    if call.get("callback") == "1":
        raise handoff.TransferInvalid("a caller we called back cannot be transferred")
    if target.queue is not None:
        queue = rt.routing.queue(target.queue)
        if queue is None:
            raise handoff.TransferInvalid(f"no queue {target.queue!r}")
        return "queue", queue.id, queue.min_level, queue.id
    hotliner = rt.routing.hotliner(target.specialist or "")
    if hotliner is None:
        raise handoff.TransferInvalid(f"no hotliner {target.specialist!r}")
    # A specialist with no rota at all takes transfers at any time.
    rostered = hotliner.shifts or hotliner.changes.extra
    if rostered and not rt.routing.roster.on_shift(hotliner.id, utcnow()):
        raise handoff.TransferInvalid(f"{hotliner.name} is off shift now")
    return "agent", hotliner.id, 1, call.get("queue", "")


def _ring(rt: Runtime, call_sid: str, started: ConsultStarted) -> None:
    hotliner = rt.routing.hotliner(started.specialist)
    offer = Offer(started.offer_id, call_sid, started.specialist)
    try:
        if hotliner is None:
            raise TelephonyError(f"hotliner {started.specialist!r} is not configured")
        leg = rt.telephony.place_call(
            to=hotliner.endpoint,
            from_=rt.settings.hotline_number,
            url=rt.public_url(webhooks.consult_answer(started.offer_id, call_sid)),
            status_callback=rt.public_url(
                webhooks.agent_status(started.offer_id, started.specialist)
            ),
            timeout=rt.routing.hotline.ring_seconds,
        )
    except TelephonyError:
        log.exception("could not ring specialist %s", started.specialist)
        rejected = rt.store.reject(
            started.offer_id,
            "failed",
            rt.routing.hotline.max_missed_offers,
            counts_as_miss=False,
        )
        if rejected is not None:
            conference.resume_caller(rt, call_sid)
        raise
    handoff.leg_placed(rt, offer, leg)


def start_external(
    rt: Runtime,
    call_sid: str,
    agent_id: str,
    *,
    on_call: str | None = None,
    number: str | None = None,
    notes: str = "",
    steps: tuple[str, ...] = (),
) -> ConsultStarted | ConsultRefused:
    """Put the caller on hold and call someone outside into their conference:
    an on-call entry (`on_call` in `hotliners.yaml`, within its hours) or a
    number. The hotliner briefs them, then completes (or hangs up).

    `handoff.TransferInvalid` for an unknown entry, one outside its hours, a
    number that is not one, or a caller on our call back; `TelephonyError`
    if the carrier refused (the caller is back with their hotliner)."""
    if rt.store.call(call_sid).get("callback") == "1":
        raise handoff.TransferInvalid("a caller we called back cannot be transferred")
    if on_call is not None:
        entry = rt.routing.on_call.get(on_call)
        if entry is None:
            raise handoff.TransferInvalid(f"no on-call entry {on_call!r}")
        tz = rt.routing.hotline.timezone
        if entry.hours and not is_on_shift(entry.hours, utcnow(), tz):
            raise handoff.TransferInvalid(f"{entry.name} takes no calls now")
        who, to = entry.id, entry.number
    elif number is not None and is_e164(number):
        who, to = number, number
    else:
        raise handoff.TransferInvalid("name an on-call entry or an E.164 number")
    result = rt.store.consults.start_external(
        call_sid, agent_id, who=who, number=to, notes=notes, steps=steps
    )
    if isinstance(result, ConsultRefused):
        return result
    _hold_for_briefing(rt, call_sid, agent_id, result)
    try:
        leg = rt.telephony.add_participant(
            webhooks.conference_name(call_sid),
            to=to,
            from_=rt.settings.hotline_number,
            status_callback=rt.public_url(
                webhooks.external_status(call_sid, result.offer_id)
            ),
            timeout=rt.routing.hotline.ring_seconds,
            label="external",
        )
    except TelephonyError:
        log.exception("could not call %s into call %s", who, call_sid)
        handoff.carry_out(rt, cancel(rt, call_sid, agent_id)[1])
        raise
    if not rt.store.consults.external_status(call_sid, result.offer_id, leg, "placed"):
        _end_if_stray(rt, call_sid, leg)
    return result


def _end_if_stray(rt: Runtime, call_sid: str, leg: str) -> None:
    """An outside leg whose transfer ended meanwhile nobody waits for (unless
    it is the one the call was handed to)."""
    if rt.store.call(call_sid).get("leg") != leg:
        handoff.end_leg(rt, leg)


def external_status(
    rt: Runtime, call_sid: str, ident: str, leg_sid: str, status: str
) -> handoff.Next:
    """A status callback of the outside leg: answered, or over. Over before
    the hand-over, the transfer is off (the caller back with their
    hotliner); after it, the conference ends on its own."""
    if status in FINAL_CALL_STATUSES:
        ended = rt.store.consults.external_status(call_sid, ident, leg_sid, status)
        return handoff.Next(resume=call_sid) if ended else handoff.NOTHING
    if status == "in-progress" and not rt.store.consults.external_status(
        call_sid, ident, leg_sid, "answered"
    ):
        _end_if_stray(rt, call_sid, leg_sid)
    return handoff.NOTHING


def answered(rt: Runtime, offer_id: str, leg_sid: str) -> ConsultJoined | None:
    """The specialist picked up; None if the transfer is off by now."""
    return rt.store.consults.accept(offer_id, leg_sid)


def complete(
    rt: Runtime, call_sid: str, agent_id: str
) -> tuple[ConsultFinished | ConsultRefused, handoff.Next]:
    """The hotliner leaves the specialist with the caller."""
    result = rt.store.consults.finish(
        call_sid,
        agent_id,
        complete=True,
        wrapup_ms=rt.routing.hotline.wrapup_seconds * 1000,
    )
    if isinstance(result, ConsultRefused):
        return result, handoff.NOTHING
    # The specialist holds the conference before the hotliner's leg ends.
    return result, handoff.Next(
        handed_over=call_sid,
        end_legs=(result.leg_to_end,) if result.leg_to_end else (),
        dispatch=result.hotliner_state == "available",
    )


def cancel(
    rt: Runtime, call_sid: str, agent_id: str
) -> tuple[ConsultFinished | ConsultRefused, handoff.Next]:
    """The hotliner takes the caller back (the specialist is let go)."""
    result = rt.store.consults.finish(call_sid, agent_id, complete=False, wrapup_ms=0)
    if isinstance(result, ConsultRefused):
        return result, handoff.NOTHING
    return result, handoff.Next(
        resume=call_sid,
        end_legs=(result.leg_to_end,) if result.leg_to_end else (),
        dispatch=True,
    )
