"""What the hotline remembers of a caller's last calls, for the IVR's first words.

A returning caller is asked whether they call about their earlier call, and
is offered to the hotliner who last helped them. The answer must not wait on
SQL (a slow or stopped database must not change what callers hear), so the
routing scripts keep a small summary per caller number in Redis, in the same
atomic step as the call's own changes (`ENQUEUE`, `HANGUP`), and the webhook
reads that. Pure functions here decide from it.

The summary (a Redis hash, see `core.keys.Keys.caller`, kept 30 days after
its last change): `last_call`, `last_queue`, `last_started` (ms) of the
caller's latest call that reached a queue; `agent`, `agent_at` (ms) of the
hotliner who ended their latest completed call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from core.clock import from_ms

#: Caller numbers the summary is kept for (E.164-like; anything else, such as
#: "anonymous" or a forged value, is not remembered).
NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


def is_rememberable(number: str) -> bool:
    return bool(NUMBER.match(number))


@dataclass(frozen=True, slots=True)
class EarlierCall:
    call_sid: str
    queue: str
    started_at: datetime


def earlier_call(
    summary: dict[str, str], now_ms: int, within_days: int, excluding: str
) -> EarlierCall | None:
    """The caller's latest call that reached a queue, within the window."""
    sid, queue = summary.get("last_call", ""), summary.get("last_queue", "")
    started = int(summary.get("last_started") or 0)
    if not sid or not queue or sid == excluding or within_days <= 0:
        return None
    if now_ms - started > within_days * 86_400_000:
        return None
    return EarlierCall(sid, queue, from_ms(started))


def preferred_agent(
    summary: dict[str, str], now_ms: int, within_hours: int
) -> str | None:
    """The hotliner who last helped this caller, if within the window."""
    agent = summary.get("agent", "")
    at = int(summary.get("agent_at") or 0)
    if not agent or within_hours <= 0 or now_ms - at > within_hours * 3_600_000:
        return None
    return agent


def merged(summaries: list[dict[str, str]]) -> dict[str, str]:
    """One caller's summary from each routing group (`queues.partition`)
    made one: their latest queued call and their latest hotliner, wherever
    each was (a caller's calls may have gone to different groups)."""
    out: dict[str, str] = {}
    latest_call = max(
        summaries, key=lambda s: int(s.get("last_started") or 0), default={}
    )
    latest_agent = max(summaries, key=lambda s: int(s.get("agent_at") or 0), default={})
    for name in ("last_call", "last_queue", "last_started"):
        if name in latest_call:
            out[name] = latest_call[name]
    for name in ("agent", "agent_at"):
        if name in latest_agent:
            out[name] = latest_agent[name]
    return out
