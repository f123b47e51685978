"""Changes to the legs of a caller's conference for a warm transfer.

The caller and their hotliner both end the conference by leaving it (nobody
is left alone on the line). While the hotliner briefs a specialist, the
hotliner's leaving must not end it (it hands the caller over), nor must the
specialist's (they may decline); afterwards the specialist's must. These
helpers make those changes at the carrier; a refusal is logged and left:
the `alone:` timer still moves a caller left alone back to their queue.
"""

from __future__ import annotations

import logging

from core.telephony import TelephonyError
from queues import webhooks
from queues.runtime import Runtime

log = logging.getLogger(__name__)


def update_leg(
    rt: Runtime,
    call_sid: str,
    leg: str,
    *,
    hold: bool | None = None,
    end_conference_on_exit: bool | None = None,
    hold_url: str | None = None,
) -> bool:
    """One leg of `call_sid`'s conference; False if the carrier refused."""
    try:
        rt.telephony.update_participant(
            webhooks.conference_name(call_sid),
            leg,
            hold=hold,
            end_conference_on_exit=end_conference_on_exit,
            hold_url=hold_url,
        )
    except TelephonyError:
        log.warning("could not update leg %s of call %s", leg, call_sid, exc_info=True)
        return False
    return True


def resume_caller(rt: Runtime, call_sid: str) -> None:
    """A warm transfer that did not happen: the caller hears their hotliner
    again, whose leaving ends the conference again.

    The hotliner may start another transfer as soon as their console says
    the first is off, before these requests reach the carrier: a transfer
    going on by then (before or after them) keeps the caller on hold and
    the hotliner's leaving a hand-over, whichever request lands last."""
    call = rt.store.call(call_sid)
    if call.get("state") != "talking" or call.get("consult"):
        return
    update_leg(rt, call_sid, call_sid, hold=False)
    if call.get("leg"):
        update_leg(rt, call_sid, call["leg"], end_conference_on_exit=True)
    now = rt.store.call(call_sid)
    if now.get("state") == "talking" and now.get("consult"):
        hold_for_transfer(rt, call_sid)
        if now.get("leg"):
            update_leg(rt, call_sid, now["leg"], end_conference_on_exit=False)


def seat_specialist(rt: Runtime, call_sid: str) -> None:
    """A warm transfer done: the specialist's leaving ends the conference now,
    and the caller, off hold, hears them."""
    call = rt.store.call(call_sid)
    if call.get("state") != "talking":
        return
    if call.get("leg"):
        update_leg(rt, call_sid, call["leg"], end_conference_on_exit=True)
    update_leg(rt, call_sid, call_sid, hold=False)


def hold_for_transfer(rt: Runtime, call_sid: str) -> bool:
    """The caller on hold while their hotliner briefs someone: told so in
    their language, then music (`/voice/caller/transfer-hold`)."""
    lang = rt.store.call(call_sid).get("lang", "")
    url = rt.public_url(webhooks.transfer_hold(lang))
    return update_leg(rt, call_sid, call_sid, hold=True, hold_url=url)
