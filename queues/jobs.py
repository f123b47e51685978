"""RQ jobs: background work that is not on a caller's critical path.

Handing callers to hotliners is done in the request that decides it
(`queues.handoff`); what is left here runs on a timer or can wait a little:
the sweep (a backstop that repairs drift every second), reconciliation with
the carrier, callbacks' retries and texts. Every job is idempotent and safe
to run twice or concurrently: the Lua scripts decide, jobs carry decisions out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from agents import skills as agent_skills
from agents.lifecycle import AgentState
from core.clock import now_ms, utcnow
from core.telephony import FINAL_CALL_STATUSES, TelephonyError
from ivr.prompts import phrase
from queues import handoff, routing, webhooks
from queues.lifecycle import TERMINAL, EventType
from queues.runtime import Runtime, get_runtime

log = logging.getLogger(__name__)

#: Seconds between two reconciliations with the carrier (REST).
RECONCILE_SECONDS = 30
#: A live call is asked about at most this often, and not before this age.
RECONCILE_EVERY_MS = 30_000
#: Calls asked about in one reconciliation (the carrier's API is rate-limited).
RECONCILE_BATCH = 100


def sweep() -> dict[str, int]:
    """Repair drift every second (a backstop: timers do the timely work)."""
    return sweep_with(get_runtime())


def sweep_with(rt: Runtime) -> dict[str, int]:
    expired = handoff.expire_offers(rt)
    wrapped = 0
    # A backstop for the timers: no wrap-up ends before the longest allowed.
    wrapup_ms = rt.routing.longest_wrapup_ms
    for agent_id in rt.routing.hotliners:
        if rt.store.agents.end_wrapup(agent_id, wrapup_ms):
            wrapped += 1
    released = release_stuck_agents(rt)
    off_shift = end_shifts(rt)
    too_long = offer_way_out_to_long_waiters(rt)
    reconciled = 0
    if rt.redis.set(rt.keys.repair_lock, "1", nx=True, ex=RECONCILE_SECONDS):
        reconciled = reconcile_with_carrier(rt)
    offers = handoff.offer_waiting_callers(rt)
    return {
        "expired": expired,
        "wrapups_ended": wrapped,
        "released": released,
        "off_shift": off_shift,
        "too_long": too_long,
        "reconciled": reconciled,
        "offers": offers,
    }


def follow_roster(rt: Runtime) -> int:
    """After a configuration reload: every logged-in hotliner's queue lines
    as their (new) skills in `hotliners.yaml` say, unless a supervisor set
    their skills for today. Returns how many were looked at."""
    live = rt.store.agents.get_many(rt.routing.hotliners)
    changed = 0
    for agent_id, hotliner in rt.routing.hotliners.items():
        if live.get(agent_id, {}).get("state", "offline") == "offline":
            continue
        lines = routing.memberships(hotliner, rt.routing)
        if rt.store.agents.follow_roster(agent_id, lines):
            changed += 1
    return changed


def end_shifts(rt: Runtime, at: datetime | None = None) -> int:
    """Keep live state true to the rota: tell the match until when each
    logged-in hotliner is on shift (and what a specialist on call takes), log
    out those whose shift is over once they are not working a call, and log
    in specialists on call whose shift has begun (they have no console: the
    rota is their "available"). Returns how many were logged out.

    The match itself passes over anyone past their `shift_until`, so a
    hotliner whose wrap-up ends after their shift is never offered a call
    while this sweep is yet to come; the sweep only keeps `shift_until` moving
    (a round-the-clock hotliner's, a config reload's) and logs people out.
    """
    when = at or utcnow()
    live = rt.store.agents.get_many(rt.routing.hotliners)
    ends: dict[str, int] = {}
    rules: dict[str, tuple[int, bool] | None] = {}
    ended = 0
    for agent_id, hotliner in rt.routing.hotliners.items():
        agent = live.get(agent_id, {})
        state = agent.get("state", "offline")
        if state == "offline" and hotliner.on_call is None:
            continue  # most of a big roster, most of the time: nothing to do
        until_ms, rule = rt.routing.shift_fields(agent_id, when)
        lines = routing.memberships(agent_skills.effective(hotliner, agent), rt.routing)
        if state == "offline":
            if rule is None or not until_ms:
                continue
            # A specialist on call: on duty, so reachable.
            rt.store.agents.set_shift_ends({agent_id: until_ms}, {agent_id: rule})
            ok, _ = rt.store.agents.set_state(
                agent_id, AgentState.AVAILABLE, lines, rt.routing.hotline.strategy
            )
            if ok:
                log.info("on call: agent_id=%s logged in by the rota", agent_id)
            continue
        ends[agent_id], rules[agent_id] = until_ms, rule
        if not until_ms and rt.store.agents.log_out_after_shift(
            agent_id, lines, rt.routing.hotline.strategy
        ):
            log.info("shift over: agent_id=%s logged out", agent_id)
            ended += 1
    rt.store.agents.set_shift_ends(ends, rules)
    return ended


def release_stuck_agents(rt: Runtime) -> int:
    """Hotliners reserved or busy on a call that already ended (a lost webhook)."""
    live = rt.store.agents.get_many(rt.routing.hotliners)
    stuck = {
        a: s["call_sid"]
        for a, s in live.items()
        if s.get("state") in {"busy", "reserved"} and s.get("call_sid")
    }
    calls = dict(zip(stuck, rt.store.calls(stuck.values()), strict=True))
    wrapup_ms = rt.routing.hotline.wrapup_seconds * 1000
    released = 0
    for agent_id, call_sid in stuck.items():
        call = calls[agent_id]
        if not call or call.get("state") in TERMINAL:
            if rt.store.agents.release(agent_id, call_sid, "call_over", wrapup_ms):
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
            rt.store.note_call(sid, EventType.IVR_NOTE, max_wait_offered="1")
            lang = call.get("lang") or rt.routing.hotline.default_language
            try:
                rt.telephony.redirect(
                    sid, rt.public_url(webhooks.too_long(queue.id, lang))
                )
                offered += 1
            except TelephonyError:  # gone callers are reconciled
                log.info("could not offer a way out to call_sid=%s", sid)
    return offered


def reconcile_with_carrier(
    rt: Runtime, batch: int = RECONCILE_BATCH, every_ms: int = RECONCILE_EVERY_MS
) -> int:
    """Ask the carrier about calls our state says are live; close those that ended.

    A final status callback lost (or arriving while Redis was down) would
    otherwise leave a caller in the IVR, queued, offered or talking for
    ever. Each live call older than `every_ms` is asked about at most that
    often, the least recently asked first, `batch` per run. Busy
    hotliners whose leg is over are freed too. Returns calls and legs closed.
    """
    closed = 0
    todo = handoff.NOTHING
    wrapup_ms = rt.routing.hotline.wrapup_seconds * 1000
    for agent_id, agent in rt.store.agents.get_many(rt.routing.hotliners).items():
        leg = agent.get("leg")
        if agent.get("state") == "busy" and leg and _is_over(rt, leg):
            ended = rt.store.agent_leg_ended(
                agent_id, leg, wrapup_ms, handoff.ALONE_GRACE_MS
            )
            if ended is not None:
                closed += 1
                todo |= handoff.after_leg_ended(ended)
    now = now_ms()
    active = rt.store.active_calls(limit=100_000)
    due: list[tuple[int, str]] = []
    for sid, call in zip(active, rt.store.calls(active), strict=True):
        if not call or call.get("callback") == "1":
            continue  # a caller waiting for our call back has hung up on purpose
        last = int(call.get("checked") or call.get("created") or now)
        if now - last >= every_ms:
            due.append((last, sid))
    for _, sid in sorted(due)[:batch]:
        try:
            status = rt.telephony.status(sid)
        except TelephonyError:
            log.info("reconcile: carrier did not answer for call_sid=%s", sid)
            continue
        rt.store.mark_checked(sid, now)
        if status is None or status in FINAL_CALL_STATUSES:
            reason = f"reconciled:{status or 'unknown'}"
            log.warning("reconcile: call_sid=%s ended at the carrier (%s)", sid, reason)
            todo |= handoff.caller_gone(rt, sid, reason)
            closed += 1
    handoff.carry_out(rt, todo)
    return closed


def _is_over(rt: Runtime, call_sid: str) -> bool:
    """The carrier says the call has ended (unknown calls count as ended)."""
    try:
        status = rt.telephony.status(call_sid)
    except TelephonyError:
        return False
    return status is None or status in FINAL_CALL_STATUSES


def requeue_callback(call_sid: str) -> None:
    """The retry delay is over: back in the queue at the caller's place."""
    rt = get_runtime()
    if rt.store.requeue_callback(call_sid):
        handoff.offer_waiting_callers(rt)


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
        rt.telephony.send_sms(to=number, from_=rt.settings.hotline_number, body=body)
    except TelephonyError:  # the attempt is logged; nothing else to do
        log.exception("could not send the callback SMS call_sid=%s", call_sid)


def send_sms(number: str, phrase_name: str) -> None:
    """Text a caller one of the hotline's phrases (in the default language)."""
    rt = get_runtime()
    body = phrase(rt.routing.hotline.default_language, phrase_name)
    try:
        rt.telephony.send_sms(to=number, from_=rt.settings.hotline_number, body=body)
    except TelephonyError:  # logged; a text is best effort
        log.exception("could not text %s", number[:-4] + "****")
