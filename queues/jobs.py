"""RQ jobs: the router's moves that need Twilio's REST API or run on a timer.

Webhooks only change Redis (fast, atomic) and enqueue these. Every job is
idempotent and safe to run twice or concurrently: the Lua scripts decide,
the jobs only carry decisions out (ring a hotliner, bridge a caller, cancel a
ringing leg). A crash in a job loses no caller: the caller's state is in
Redis, and `sweep` (every second) re-drives whatever was left half-done.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from agents.shifts import is_on_shift
from calllog.writer import drain_events
from core.clock import now_ms, utcnow
from ivr.prompts import phrase
from queues import routing
from queues.runtime import Runtime, get_runtime
from queues.store import Offer

log = logging.getLogger(__name__)

#: Bound on offers made by one dispatch run, so one job never runs away.
MAX_OFFERS_PER_RUN = 200


def dispatch(queue_id: str | None = None) -> int:
    """Offer waiting callers to available hotliners; returns offers made."""
    rt = get_runtime()
    return dispatch_with(rt, queue_id)


def dispatch_with(rt: Runtime, queue_id: str | None = None) -> int:
    """Match until nobody can be matched (or the per-run bound is reached).

    Every queue takes part whatever `queue_id` says: a hotliner freed by one
    queue may be the best match for another queue's caller.
    """
    queue_rules = routing.rules(rt.routing)
    ring_ms = rt.routing.hotline.ring_seconds * 1000
    strategy = rt.routing.hotline.strategy
    made = 0
    while made < MAX_OFFERS_PER_RUN:
        offer = rt.store.match(queue_rules, ring_ms, strategy)
        if offer is None:
            break
        made += 1
        ring_hotliner(rt, offer)
    return made


def ring_hotliner(rt: Runtime, offer: Offer) -> None:
    """Place the hotliner's leg for an offer; a failure hands the caller on."""
    hotliner = rt.routing.hotliner(offer.agent_id)
    try:
        if hotliner is None:
            raise LookupError(f"hotliner {offer.agent_id!r} is not configured")
        leg: Any = rt.twilio.calls.create(
            to=hotliner.endpoint,
            from_=rt.settings.hotline_number,
            url=rt.public_url(f"/voice/agent/answer?offer={offer.offer_id}"),
            method="POST",
            status_callback=rt.public_url(
                f"/voice/agent/status?offer={offer.offer_id}&agent={offer.agent_id}"
            ),
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=rt.routing.hotline.ring_seconds,
        )
    except Exception:  # noqa: BLE001 - any REST failure: next hotliner, caller keeps place
        log.exception(
            "could not ring hotliner agent_id=%s call_sid=%s",
            offer.agent_id,
            offer.call_sid,
        )
        rt.store.reject(offer.offer_id, "failed", rt.routing.hotline.max_missed_offers)
        return
    if not rt.store.set_offer_leg(offer.offer_id, str(leg.sid)):
        # The caller hung up while we were dialling: stop the ringing leg.
        cancel_leg_with(rt, str(leg.sid))


def bridge_caller(call_sid: str) -> None:
    """Move a waiting caller out of Twilio's queue into the hotliner's conference.

    A caller who asked to be called back is no longer on the line: we call
    them, and they join the conference when they pick up.
    """
    rt = get_runtime()
    call = rt.store.call(call_sid)
    if call.get("callback") == "1":
        call_back(rt, call_sid, call.get("callback_number", ""))
        return
    try:
        rt.twilio.calls(call_sid).update(
            url=rt.public_url(f"/voice/caller/connect?call={call_sid}"), method="POST"
        )
    except Exception:  # noqa: BLE001 - the caller may have hung up meanwhile
        log.warning(
            "could not bridge call_sid=%s (caller gone?)", call_sid, exc_info=True
        )


def cancel_leg(leg_sid: str) -> None:
    cancel_leg_with(get_runtime(), leg_sid)


def cancel_leg_with(rt: Runtime, leg_sid: str) -> None:
    """Stop ringing (or end) a hotliner's leg that no longer has a caller."""
    try:
        call: Any = rt.twilio.calls(leg_sid).fetch()
        status = "canceled" if call.status in {"queued", "ringing"} else "completed"
        if call.status not in {"completed", "canceled", "failed", "busy", "no-answer"}:
            rt.twilio.calls(leg_sid).update(status=status)
    except Exception:  # noqa: BLE001 - already over is fine
        log.info("leg %s already over", leg_sid)


def hang_up_caller(call_sid: str) -> None:
    """End a caller's call (their hotliner left before the bridge was made)."""
    rt = get_runtime()
    try:
        rt.twilio.calls(call_sid).update(status="completed")
    except Exception:  # noqa: BLE001
        log.info("call %s already over", call_sid)


def sweep() -> dict[str, int]:
    """Repair drift every second: lapsed offers, wrap-ups over, waiting callers."""
    rt = get_runtime()
    return sweep_with(rt)


def sweep_with(rt: Runtime) -> dict[str, int]:
    expired = 0
    max_missed = rt.routing.hotline.max_missed_offers
    for offer_id in rt.store.expired_offers():
        leg = rt.store.offer(offer_id).get("leg")
        if rt.store.reject(offer_id, "expired", max_missed) is not None:
            expired += 1
            if leg:
                cancel_leg_with(rt, leg)
    wrapped = 0
    wrapup_ms = rt.routing.hotline.wrapup_seconds * 1000
    for agent_id in rt.routing.hotliners:
        if rt.store.end_wrapup(agent_id, wrapup_ms):
            wrapped += 1
    released = release_stuck_agents(rt)
    off_shift = end_shifts(rt)
    too_long = offer_way_out_to_long_waiters(rt)
    if rt.redis.set(rt.keys.repair_lock, "1", nx=True, ex=REST_REPAIR_SECONDS):
        released += repair_with_twilio(rt)
    offers = dispatch_with(rt)
    logged = drain_events(rt.redis, rt.engine, rt.keys)
    return {
        "expired": expired,
        "wrapups_ended": wrapped,
        "released": released,
        "off_shift": off_shift,
        "too_long": too_long,
        "offers": offers,
        "logged": logged,
    }


#: Seconds between two repairs that ask Twilio (REST) what became of calls.
REST_REPAIR_SECONDS = 30
#: A hotliner connected this long without the caller joining is re-bridged.
BRIDGE_GRACE_MS = 20_000
ENDED = frozenset({"completed", "abandoned", "voicemail", "self_served"})
OVER = frozenset({"completed", "canceled", "failed", "busy", "no-answer"})


def end_shifts(rt: Runtime, at: datetime | None = None) -> int:
    """Available hotliners whose shift is over are no longer offered calls."""
    when = at or utcnow()
    tz = rt.routing.hotline.timezone
    states = rt.store.agent_states(rt.routing.hotliners)
    ended = 0
    for agent_id, state in states.items():
        hotliner = rt.routing.hotliner(agent_id)
        if (
            state == "available"
            and hotliner is not None
            and not is_on_shift(hotliner.shifts, when, tz)
        ):
            if rt.store.send_away(
                agent_id,
                routing.memberships(hotliner, rt.routing),
                rt.routing.hotline.strategy,
            ):
                log.info("shift over: agent_id=%s set away", agent_id)
                ended += 1
    return ended


def release_stuck_agents(rt: Runtime) -> int:
    """Hotliners reserved or busy on a call that already ended (a lost webhook)."""
    live = rt.store.agents(rt.routing.hotliners)
    stuck = {
        a: s["call_sid"]
        for a, s in live.items()
        if s.get("state") in {"busy", "reserved"} and s.get("call_sid")
    }
    calls = dict(zip(stuck, rt.store.calls(stuck.values()), strict=True))
    released = 0
    for agent_id, call_sid in stuck.items():
        call = calls[agent_id]
        if not call or call.get("state") in ENDED:
            if rt.store.release_agent(agent_id, call_sid, "call_over"):
                log.warning(
                    "released hotliner agent_id=%s from ended call_sid=%s",
                    agent_id,
                    call_sid,
                )
                released += 1
    return released


def offer_way_out_to_long_waiters(rt: Runtime) -> int:
    """Callers past their queue's maximum wait hear: callback or message."""
    offered = 0
    now = now_ms()
    for queue in rt.routing.queues.values():
        if queue.max_wait_seconds <= 0:
            continue
        cutoff = now - queue.max_wait_seconds * 1000
        sids = rt.store.waiting_since_before(queue.id, cutoff)
        for sid, call in zip(sids, rt.store.calls(sids), strict=True):
            if call.get("callback") == "1" or call.get("max_wait_offered") == "1":
                continue
            rt.store.note_call(sid, "max_wait_offered", max_wait_offered="1")
            lang = call.get("lang") or rt.routing.hotline.default_language
            try:
                rt.twilio.calls(sid).update(
                    url=rt.public_url(f"/voice/too-long?queue={queue.id}&lang={lang}"),
                    method="POST",
                )
                offered += 1
            except Exception:  # noqa: BLE001 - gone callers are repaired below
                log.info("could not offer a way out to call_sid=%s", sid)
    return offered


def repair_with_twilio(rt: Runtime) -> int:
    """Ask Twilio about calls our state says are live but may not be.

    Busy hotliners whose leg is over, connected callers who never reached the
    conference, and the longest waiters (a lost final status callback would
    otherwise leave them queued for ever).
    """
    repaired = 0
    now = now_ms()
    live = rt.store.agents(rt.routing.hotliners)
    for agent_id, agent in live.items():
        leg = agent.get("leg")
        if agent.get("state") == "busy" and leg and _is_over(rt, leg):
            rt.store.agent_leg_ended(agent_id, leg)
            repaired += 1
    active = rt.store.active_calls()
    for sid, call in zip(active, rt.store.calls(active), strict=True):
        if (
            call.get("state") == "connected"
            and call.get("callback") != "1"
            and (now - int(call.get("answered") or now) > BRIDGE_GRACE_MS)
        ):
            if _is_over(rt, sid):
                rt.store.hang_up(sid, "gone")
            else:
                rt.jobs.enqueue(bridge_caller, sid)
            repaired += 1
    for queue in rt.routing.queues.values():
        for sid in rt.store.waiting(queue.id, limit=10):
            call = rt.store.call(sid)
            if call.get("callback") != "1" and _is_over(rt, sid):
                rt.store.hang_up(sid, "gone")
                repaired += 1
    return repaired


def _is_over(rt: Runtime, call_sid: str) -> bool:
    """Twilio says the call has ended (unknown calls count as ended)."""
    try:
        call: Any = rt.twilio.calls(call_sid).fetch()
    except Exception as exc:  # noqa: BLE001
        return getattr(exc, "status", None) == 404
    return str(call.status) in OVER


def drain_call_log() -> int:
    rt = get_runtime()
    return drain_events(rt.redis, rt.engine, rt.keys)


def call_back(rt: Runtime, call_sid: str, number: str) -> None:
    """Ring a caller who asked to be called back; failure counts as an attempt."""
    hotline = rt.routing.hotline
    try:
        rt.twilio.calls.create(
            to=number,
            from_=rt.settings.hotline_number,
            url=rt.public_url(f"/voice/callback/answer?call={call_sid}"),
            method="POST",
            status_callback=rt.public_url(f"/voice/callback/status?call={call_sid}"),
            status_callback_method="POST",
            status_callback_event=["initiated", "ringing", "answered", "completed"],
            timeout=hotline.callback_ring_seconds,
        )
    except Exception:  # noqa: BLE001 - a refused call back is an unanswered one
        log.exception("could not call back call_sid=%s", call_sid)
        failure = rt.store.callback_failed(
            call_sid, hotline.callback_attempts, "failed"
        )
        if failure is None:
            return
        if failure.agent_leg:
            cancel_leg_with(rt, failure.agent_leg)
        if failure.final:
            send_callback_sms_with(rt, call_sid)
        else:
            rt.jobs.enqueue_in(
                timedelta(seconds=hotline.callback_retry_seconds),
                requeue_callback,
                call_sid,
            )


def requeue_callback(call_sid: str) -> None:
    """The retry delay is over: back in the queue at the caller's place."""
    rt = get_runtime()
    if rt.store.requeue_callback(call_sid):
        dispatch_with(rt)


def send_callback_sms(call_sid: str) -> None:
    send_callback_sms_with(get_runtime(), call_sid)


def send_callback_sms_with(rt: Runtime, call_sid: str) -> None:
    """Tell a caller we could not reach them (after the last attempt)."""
    call = rt.store.call(call_sid)
    number = call.get("callback_number") or call.get("from", "")
    if not number:
        return
    lang = call.get("lang") or rt.routing.hotline.default_language
    body = phrase(
        lang,
        "callback_sms",
        attempts=call.get("callback_attempts", "?"),
        hotline=rt.settings.hotline_number,
    )
    try:
        rt.twilio.messages.create(
            to=number, from_=rt.settings.hotline_number, body=body
        )
    except Exception:  # noqa: BLE001 - the attempt is logged; nothing else to do
        log.exception("could not send the callback SMS call_sid=%s", call_sid)


def send_sms(number: str, phrase_name: str) -> None:
    """Text a caller one of the hotline's phrases (in the default language)."""
    rt = get_runtime()
    body = phrase(rt.routing.hotline.default_language, phrase_name)
    try:
        rt.twilio.messages.create(
            to=number, from_=rt.settings.hotline_number, body=body
        )
    except Exception:  # noqa: BLE001 - logged; a text is best effort
        log.exception("could not text %s", number[:-4] + "****")
