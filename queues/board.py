"""What the wallboard shows of live state: queues, hotliners, calls going on.

Read from Redis in a few round trips (the queues' sorted sets, the hotliners'
hashes, the live calls' hashes in one pipeline) and shaped here; today's
figures (service level, abandons, ASA) are the call log's (`calllog.reports`),
added by the web. Times are epoch ms, so a screen counts clocks by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from agents.skills import overridden
from queues.config import RoutingConfig
from queues.store import RoutingStore

#: Live calls read for the board at most (Twilio holds 5,000 per queue).
MAX_CALLS = 5_000
#: What the board reads of each live call.
CALL_FIELDS = (
    "state",
    "callback",
    "queue",
    "from",
    "agent",
    "talk_started",
    "created",
    "priority",
    "first_queued",
)
#: What the board reads of each hotliner's record.
#: A hotliner still logged in this long after their shift ended is flagged
#: (finishing a long call is normal; an hour later, someone forgot to log out).
LATE_AFTER_MS = 15 * 60_000
AGENT_FIELDS = ("state", "state_since", "reason", "call_sid", "skills", "shift_until")
#: Waiting callers listed one by one (the longest waits): enough to pick one
#: to move, not a page of thousands on a bad day (the counts stay exact).
MAX_WAITING_SHOWN = 50
#: The states of a call a hotliner is on.
ON_A_CALL = ("connected", "talking")


@dataclass(frozen=True, slots=True)
class QueueNow:
    id: str
    name: str
    waiting: int
    oldest_since: int | None  # ms: the longest-waiting caller's first entry
    callbacks_pending: int
    override: str | None  # "open" | "closed" by a supervisor, None: its hours


@dataclass(frozen=True, slots=True)
class HotlinerNow:
    id: str
    name: str
    state: str
    since: int | None  # ms
    reason: str  # a break's
    call_sid: str
    caller: str  # masked number of whoever they are talking with
    queue: str
    skills: dict[str, int]  # what they take today (a supervisor may change it)
    skills_changed: bool  # not those of `hotliners.yaml`
    # Still logged in after their shift: when it ended (ms), else None; and
    # whether that is over `LATE_AFTER_MS` ago (flagged on the wallboard).
    off_shift_since: int | None = None
    late: bool = False


@dataclass(frozen=True, slots=True)
class CallNow:
    call_sid: str
    caller: str  # masked
    queue: str
    agent: str
    state: str
    since: int  # ms: talking since, or the call's start


@dataclass(frozen=True, slots=True)
class WaitingNow:
    call_sid: str
    caller: str  # masked
    queue: str
    priority: int
    since: int  # ms: first entry in a queue
    offered: bool  # being offered to a hotliner now (cannot be moved)


@dataclass(frozen=True, slots=True)
class LiveBoard:
    queues: list[QueueNow]
    hotliners: list[HotlinerNow]
    calls: list[CallNow]
    in_ivr: int
    states: dict[str, int] = field(default_factory=dict)  # hotliners per state
    waiting: list[WaitingNow] = field(default_factory=list)  # longest first

    def as_json(self) -> dict[str, Any]:
        # By hand: `dataclasses.asdict` copies recursively and was a third of
        # a board's time (a board is made twice a second under calls).
        return {
            "queues": [_row(q) for q in self.queues],
            "hotliners": [_row(h) for h in self.hotliners],
            "calls": [_row(c) for c in self.calls],
            "in_ivr": self.in_ivr,
            "states": dict(self.states),
            "waiting": [_row(w) for w in self.waiting],
        }


def _row(item: Any) -> dict[str, Any]:
    """A flat dataclass row as a dict (its dict values copied)."""
    row = {f.name: getattr(item, f.name) for f in fields(item)}
    for name, value in row.items():
        if isinstance(value, dict):
            row[name] = dict(value)
    return row


def _shift_ended(
    routing: RoutingConfig, agent_id: str, state: str, agent: dict[str, str], now: int
) -> int | None:
    """When the shift of someone still logged in ended (ms); None if they are
    on shift or logged out. Only those past their `shift_until` cost a look
    at the rota."""
    until = agent.get("shift_until")
    if state == "offline" or until is None or int(until) > now:
        return None
    ended = routing.roster.last_end(agent_id, datetime.fromtimestamp(now / 1000, UTC))
    return int(ended.timestamp() * 1000) if ended else None


def mask(number: str) -> str:
    """A caller's number as a wall shows it: enough to tell two apart."""
    if len(number) <= 6:
        return number
    return number[:4] + "•" * (len(number) - 6) + number[-2:]


def live_board(
    store: RoutingStore,
    routing: RoutingConfig,
    lang: str,
    overrides: dict[str, str] | None = None,
) -> LiveBoard:
    """The board as live state has it now."""
    overrides = overrides or {}
    now = store.clock()
    sids = store.active_calls(limit=MAX_CALLS)
    calls = dict(zip(sids, store.call_fields(sids, CALL_FIELDS), strict=True))
    oldest: dict[str, int] = {}  # per queue: the longest waiting's first entry
    pending: dict[str, int] = {}
    in_ivr = 0
    going_on: list[CallNow] = []
    waiting: list[WaitingNow] = []
    for sid, call in calls.items():
        state = call.get("state", "")
        if state == "ivr":
            in_ivr += 1
        if state == "queued" and call.get("first_queued"):
            waits_in, first = call.get("queue", ""), int(call["first_queued"])
            oldest[waits_in] = min(first, oldest.get(waits_in, first))
        if state in ("queued", "offered") and call.get("callback") != "1":
            waiting.append(
                WaitingNow(
                    call_sid=sid,
                    caller=mask(call.get("from", "")),
                    queue=call.get("queue", ""),
                    priority=int(call.get("priority") or 0),
                    since=int(call.get("first_queued") or call.get("created") or 0),
                    offered=state == "offered",
                )
            )
        if call.get("callback") == "1" and state in ("queued", "callback_wait"):
            waits_in = call.get("queue", "")
            pending[waits_in] = pending.get(waits_in, 0) + 1
        if state in ON_A_CALL:
            going_on.append(
                CallNow(
                    call_sid=sid,
                    caller=mask(call.get("from", "")),
                    queue=call.get("queue", ""),
                    agent=call.get("agent", ""),
                    state=state,
                    since=int(call.get("talk_started") or call.get("created") or 0),
                )
            )
    queues = []
    lengths = store.queue_lengths(routing.queues)
    for queue in routing.queues.values():
        queues.append(
            QueueNow(
                id=queue.id,
                name=queue.names.get(lang)
                or next(iter(queue.names.values()), queue.id),
                waiting=lengths[queue.id],
                oldest_since=oldest.get(queue.id),
                callbacks_pending=pending.get(queue.id, 0),
                override=overrides.get(queue.id),
            )
        )
    live = store.agents.fields_many(routing.hotliners, AGENT_FIELDS)
    hotliners = []
    states: dict[str, int] = {}
    for hotliner in routing.hotliners.values():
        agent = live.get(hotliner.id, {})
        state = agent.get("state", "offline")
        states[state] = states.get(state, 0) + 1
        call = calls.get(agent.get("call_sid", ""), {})
        today = overridden(agent)  # skills a supervisor set today, if any
        ended = _shift_ended(routing, hotliner.id, state, agent, now)
        hotliners.append(
            HotlinerNow(
                id=hotliner.id,
                name=hotliner.name,
                state=state,
                since=int(agent["state_since"]) if agent.get("state_since") else None,
                reason=agent.get("reason", "") if state == "break" else "",
                call_sid=agent.get("call_sid", "") if call else "",
                caller=mask(call.get("from", "")) if call else "",
                queue=call.get("queue", "") if call else "",
                skills=today if today is not None else hotliner.skills,
                skills_changed=today is not None,
                off_shift_since=ended,
                late=ended is not None and now - ended > LATE_AFTER_MS,
            )
        )
    going_on.sort(key=lambda c: c.since)
    waiting.sort(key=lambda c: c.since)
    return LiveBoard(
        queues, hotliners, going_on, in_ivr, states, waiting[:MAX_WAITING_SHOWN]
    )
