"""The Redis adapter for live state: callers, queues, offers, hotliners.

Each method is one atomic script (see `queues.scripts`) or a read. Callers
of this class never touch Redis keys themselves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, cast

import redis

from agents.store import AgentStore
from core.clock import now_ms
from core.keys import Keys
from core.lua import EVENTS_KEPT, registrar
from core.text import as_text
from queues import scripts
from queues.consult_store import ConsultStore
from queues.lifecycle import EventType
from queues.routing import QueueRule


@dataclass(frozen=True, slots=True)
class Offer:
    """A caller offered to a hotliner (ringing)."""

    offer_id: str
    call_sid: str
    agent_id: str
    queue_id: str = ""


@dataclass(frozen=True, slots=True)
class Accepted:
    call_sid: str
    agent_id: str
    queued_at_ms: int | None


@dataclass(frozen=True, slots=True)
class Rejected:
    call_sid: str
    agent_id: str
    agent_state: str
    queue_id: str
    ended_warm_transfer: bool = False  # a specialist's offer: caller off hold


@dataclass(frozen=True, slots=True)
class CallbackFailure:
    final: bool  # True: no attempt left
    agent_id: str
    agent_leg: str | None


@dataclass(frozen=True, slots=True)
class Ended:
    """A caller's call that just ended: how, and what is left to clean up."""

    final_state: str
    agent_id: str | None
    agent_leg_to_end: str | None
    agent_freed: bool = False  # the hotliner may take the next caller now


@dataclass(frozen=True, slots=True)
class Paced:
    """A caller and a hotliner could be matched, but offers are at the
    carrier's calls per second: the `dispatch` timer is due in `wait_ms`."""

    wait_ms: int


class LegRecorded(Enum):
    """What `set_offer_leg` found when the hotliner's leg was placed."""

    RECORDED = 1  # still ringing: the leg is noted on the offer
    ALREADY_ANSWERED = 2  # the hotliner answered first on this very leg
    OFFER_GONE = 0  # the caller left or the offer lapsed: end the leg


@dataclass(frozen=True, slots=True)
class LegEnded:
    """A hotliner's leg ended while they were on a call."""

    caller: str  # 'requeued', 'talking' (conference should end) or '' (over)
    call_sid: str
    agent_state: str  # 'available' (take the next caller now) or 'wrapup'
    specialist_leg: str = ""  # a warm transfer's ringing leg, to end


@dataclass(frozen=True, slots=True)
class Transferred:
    """A caller passed on to another queue by their hotliner."""

    agent_leg: str  # the hotliner's leg, to hang up once the caller is out
    agent_state: str  # 'wrapup', or 'available' with no wrap-up
    priority: int  # the caller's, raised


@dataclass(frozen=True, slots=True)
class TransferRefused:
    why: str  # 'unknown_call', 'not_yours' or 'not_talking:<state>'


class OutcomeRecorded(Enum):
    REFUSED = 0  # this hotliner did not handle this call
    RECORDED = 1
    AGENT_FREED = 2  # recorded, and the hotliner is free for the next caller


#: How long a claimed timer is left to its claimer before it is due again
#: (`scripts.CLAIM_TIMER`): far longer than any timer's action takes.
TIMER_LEASE_MS = 30_000


class RoutingStore:
    """Atomic operations on one hotline's live state in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys | None = None,
        clock: Callable[[], int] = now_ms,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        self.redis = client
        self.keys = keys or Keys()
        #: Epoch ms of each move (a test may hand in a deterministic one).
        self.clock = clock
        #: The event stream's cap (`core.lua`: the oldest go past it, counted).
        self.events_kept = events_kept
        #: Starts every offer id (a routing group's name: `queues.partition`).
        self.offer_prefix = ""
        #: The hotliners' side of live state (their requests, repairs, reads).
        self.agents = AgentStore(client, self.keys, clock, events_kept)
        #: Warm transfers (the caller on hold while a specialist is briefed).
        self.consults = ConsultStore(client, self.keys, clock, events_kept)

        register = registrar(client, events_kept)

        self._start_call = register(scripts.START_CALL)
        self._note_call = register(scripts.NOTE_CALL)
        self._enqueue = register(scripts.ENQUEUE)
        self._match = register(scripts.MATCH)
        self._set_leg = register(scripts.SET_OFFER_LEG)
        self._accept = register(scripts.ACCEPT)
        self._reject = register(scripts.REJECT)
        self._bridge = register(scripts.BRIDGE)
        self._hangup = register(scripts.HANGUP)
        self._agent_leg_ended = register(scripts.AGENT_LEG_ENDED)
        self._record_outcome = register(scripts.RECORD_OUTCOME)
        self._request_callback = register(scripts.REQUEST_CALLBACK)
        self._callback_failed = register(scripts.CALLBACK_FAILED)
        self._requeue_callback = register(scripts.REQUEUE_CALLBACK)
        self._leave_voicemail = register(scripts.LEAVE_VOICEMAIL)
        self._requeue_alone = register(scripts.REQUEUE_ALONE)
        self._conference_over = register(scripts.CONFERENCE_OVER)
        self._self_serve = register(scripts.SELF_SERVE)
        self._transfer = register(scripts.TRANSFER)
        self._move_waiting = register(scripts.MOVE_WAITING)
        self._note_recap = register(scripts.NOTE_RECAP)
        self._schedule_callback = register(scripts.SCHEDULE_CALLBACK)
        self._note_hold = register(scripts.NOTE_HOLD)
        self._claim_timer = register(scripts.CLAIM_TIMER)
        self._close_lost_call = register(scripts.CLOSE_LOST_CALL)
        self._release_timer = register(scripts.RELEASE_TIMER)
        self._note_control = register(scripts.NOTE_CONTROL)

    # -- where things are (one place here; `GroupedStore` has several) -------

    @property
    def group_names(self) -> tuple[str, ...]:
        """The routing groups live state is split in (none: one whole)."""
        return ()

    @property
    def group_keys(self) -> tuple[Keys, ...]:
        """Each part's keys: what a reader of a whole family (every stream,
        every timer) reads."""
        return (self.keys,)

    def keys_for_call(self, call_sid: str) -> Keys:
        """The keys of the part of live state a call is in."""
        return self.keys

    def keys_for_agent(self, agent_id: str) -> Keys:
        """The keys of the part of live state a hotliner is in."""
        return self.keys

    # -- callers -------------------------------------------------------------

    def start_call(
        self,
        call_sid: str,
        from_number: str,
        to_number: str,
        language: str,
        at_ms: int | None = None,
    ) -> bool:
        """Record a new inbound call; False if Twilio retried an already-seen one."""
        k = self.keys
        created = self._start_call(
            keys=[k.call(call_sid), k.active_calls, k.events],
            args=[
                k.base,
                call_sid,
                at_ms or self.clock(),
                from_number,
                to_number,
                language,
            ],
        )
        return bool(created)

    def note_call(self, call_sid: str, event_type: EventType, **fields: str) -> bool:
        """Store facts learnt about a live call (IVR choice, language) as an event."""
        return self.note_facts(call_sid, event_type, fields)

    def note_facts(
        self,
        call_sid: str,
        event_type: EventType,
        fields: Mapping[str, str],
        at_ms: int | None = None,
    ) -> bool:
        """`note_call` with the facts as a mapping, at a given time (a replay)."""
        k = self.keys
        args: list[Any] = [k.base, call_sid, at_ms or self.clock(), event_type]
        for name, value in fields.items():
            args.extend([name, value])
        return bool(self._note_call(keys=[k.call(call_sid), k.events], args=args))

    def enqueue(
        self,
        call_sid: str,
        queue_id: str,
        priority: int,
        at_ms: int | None = None,
        cap: int = 0,
    ) -> int:
        """Put a caller in a queue: 1 queued, 0 already there, -1/-2 refused,
        -3 the queue already holds `cap` callers (0: no cap).

        `at_ms` (a replay after an outage) is their entry time: their place.
        """
        k = self.keys
        return int(
            self._enqueue(
                keys=[k.call(call_sid), k.queue(queue_id), k.events],
                args=[
                    k.base,
                    call_sid,
                    queue_id,
                    priority,
                    at_ms or self.clock(),
                    cap,
                ],
            )
        )

    def request_callback(self, call_sid: str, number: str) -> bool:
        """A waiting caller asked to be called back; they keep their place."""
        k = self.keys
        return bool(
            self._request_callback(
                keys=[k.call(call_sid), k.events],
                args=[k.base, call_sid, self.clock(), number],
            )
        )

    def callback_failed(
        self,
        call_sid: str,
        attempts_allowed: int,
        reason: str,
        at_ms: int | None = None,
    ) -> CallbackFailure | None:
        """Our call back was not answered: retry later, or give up for good."""
        k = self.keys
        result = self._callback_failed(
            keys=[k.call(call_sid), k.active_calls, k.events],
            args=[k.base, call_sid, at_ms or self.clock(), attempts_allowed, reason],
        )
        if not result:
            return None
        verdict, agent, leg = (as_text(x) for x in result)
        return CallbackFailure(
            final=verdict == "failed", agent_id=agent, agent_leg=leg or None
        )

    def requeue_callback(self, call_sid: str) -> bool:
        """After the retry delay, the caller is back in the queue at their place."""
        k = self.keys
        return bool(
            self._requeue_callback(
                keys=[k.call(call_sid), k.events], args=[k.base, call_sid, self.clock()]
            )
        )

    def self_serve(
        self, call_sid: str, outcome: str, detail: str = "", at_ms: int | None = None
    ) -> bool:
        """The IVR alone settled the call (self-help worked, known incident)."""
        k = self.keys
        return bool(
            self._self_serve(
                keys=[k.call(call_sid), k.active_calls, k.events],
                args=[k.base, call_sid, at_ms or self.clock(), outcome, detail],
            )
        )

    def leave_voicemail(
        self,
        call_sid: str,
        recording_url: str,
        seconds: int,
        at_ms: int | None = None,
    ) -> bool:
        """The caller left a message instead of waiting: the call ends here."""
        k = self.keys
        return bool(
            self._leave_voicemail(
                keys=[k.call(call_sid), k.active_calls, k.events],
                args=[k.base, call_sid, at_ms or self.clock(), recording_url, seconds],
            )
        )

    def waiting_since_before(
        self, queue_id: str, cutoff_ms: int, limit: int = 50
    ) -> list[str]:
        """Callers of a queue who first queued before `cutoff_ms`, any priority."""
        key = self.keys.queue(queue_id)
        pipe = self.redis.pipeline(transaction=False)
        for priority in range(10):
            band = (9 - priority) * 10**13
            pipe.zrangebyscore(key, band, band + cutoff_ms, start=0, num=limit)
        found: list[str] = []
        for members in pipe.execute():
            found.extend(as_text(m) for m in members)
        return found[:limit]

    def bridge(self, call_sid: str) -> str:
        """The caller is joining their hotliner's conference: talking starts.

        Returns the call's state afterwards: 'talking', or 'queued' when the
        hotliner left before the caller got there (back to their place), or
        the state that forbids it ('' for an unknown call).
        """
        k = self.keys
        return as_text(
            self._bridge(
                keys=[k.call(call_sid), k.events], args=[k.base, call_sid, self.clock()]
            )
        )

    def requeue_alone(self, call_sid: str, at_ms: int | None = None) -> bool:
        """A caller alone in a conference their hotliner left: back in place."""
        k = self.keys
        return bool(
            self._requeue_alone(
                keys=[k.call(call_sid), k.events],
                args=[k.base, call_sid, at_ms or self.clock()],
            )
        )

    def conference_over(self, call_sid: str, at_ms: int | None = None) -> bool:
        """The caller's conference ended (Dial action): they are not alone in it."""
        k = self.keys
        return bool(
            self._conference_over(
                keys=[k.call(call_sid), k.events],
                args=[k.base, call_sid, at_ms or self.clock()],
            )
        )

    def hang_up(
        self,
        call_sid: str,
        reason: str,
        leg: str = "caller",
        wrapup_ms: int = 0,
        at_ms: int | None = None,
    ) -> Ended | None:
        """The caller's call ended; None if unknown, already ended (duplicate), or
        the caller hung up to be called back (they keep their place)."""
        k = self.keys
        result = self._hangup(
            keys=[k.call(call_sid), k.active_calls, k.offers, k.events],
            args=[k.base, call_sid, at_ms or self.clock(), reason, leg, wrapup_ms],
        )
        if not result:
            return None
        final, agent, agent_leg, freed = (as_text(x) for x in result)
        return Ended(
            final_state=final,
            agent_id=agent or None,
            agent_leg_to_end=agent_leg or None,
            agent_freed=freed == "1",
        )

    def call(self, call_sid: str) -> dict[str, str]:
        """The live record of one call (empty if unknown)."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.call(call_sid)))
        return {as_text(a): as_text(b) for a, b in raw.items()}

    def caller_history(self, number: str) -> dict[str, str]:
        """What the call log remembers of a caller's last calls (or nothing)."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.caller(number)))
        return {as_text(a): as_text(b) for a, b in raw.items()}

    def queue_stats(self, queue_id: str) -> dict[str, float]:
        """Moving averages of talk and wrap-up time (ms) measured for a queue."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.stats(queue_id)))
        return {as_text(a): float(as_text(b)) for a, b in raw.items()}

    def queue_length(self, queue_id: str) -> int:
        return int(cast(int, self.redis.zcard(self.keys.queue(queue_id))))

    def position(self, queue_id: str, call_sid: str) -> int | None:
        """1-based position of a waiting caller, None if not waiting there."""
        rank = self.redis.zrank(self.keys.queue(queue_id), call_sid)
        return None if rank is None else int(cast(int, rank)) + 1

    def waiting(self, queue_id: str, limit: int = 100) -> list[str]:
        """Call sids waiting in a queue, first to be served first."""
        return [
            as_text(x)
            for x in cast(
                list[bytes], self.redis.zrange(self.keys.queue(queue_id), 0, limit - 1)
            )
        ]

    def calls(self, call_sids: Iterable[str]) -> list[dict[str, str]]:
        """Live records of several calls in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        sids = list(call_sids)
        for sid in sids:
            pipe.hgetall(self.keys.call(sid))
        return [
            {as_text(a): as_text(b) for a, b in raw.items()} for raw in pipe.execute()
        ]

    def call_fields(
        self, call_sids: Iterable[str], fields: Sequence[str]
    ) -> list[dict[str, str]]:
        """Some fields of several calls in one round trip (a screen showing
        hundreds of calls reads what it shows, not every field)."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in call_sids:
            pipe.hmget(self.keys.call(sid), list(fields))
        return [
            {name: as_text(v) for name, v in zip(fields, raw, strict=True) if v}
            for raw in pipe.execute()
        ]

    def queue_lengths(self, queue_ids: Iterable[str]) -> dict[str, int]:
        """Callers waiting in each queue, in one round trip."""
        ids = list(queue_ids)
        pipe = self.redis.pipeline(transaction=False)
        for queue_id in ids:
            pipe.zcard(self.keys.queue(queue_id))
        return {q: int(n) for q, n in zip(ids, pipe.execute(), strict=True)}

    def mark_checked(self, call_sid: str, at_ms: int) -> None:
        """When reconciliation last asked the carrier about this call."""
        self.redis.hset(self.keys.call(call_sid), "checked", str(at_ms))

    def active_calls(self, limit: int = 500) -> list[str]:
        return [
            as_text(x)
            for x in cast(
                list[bytes], self.redis.zrange(self.keys.active_calls, 0, limit - 1)
            )
        ]

    # -- offers ----------------------------------------------------------------

    def match(
        self,
        rules: Sequence[QueueRule],
        ring_ms: int,
        strategy: str = "longest-idle",
        per_second: float = 0.0,
    ) -> Offer | Paced | None:
        """Offer the best waiting caller of these queues to the best hotliner,
        at most `per_second` offers a second (0: no bound)."""
        if not rules:
            return None
        k = self.keys
        now = self.clock()
        offer_id = self.offer_prefix + uuid.uuid4().hex
        args: list[Any] = [k.base, now, now + ring_ms, offer_id, strategy, per_second]
        for rule in rules:
            args.extend(
                [
                    rule.queue_id,
                    rule.min_level,
                    rule.overflow_after_ms,
                    rule.overflow_min_level,
                    rule.overflow_queue_id,
                ]
            )
        result = self._match(
            keys=[k.offers, k.events, *(k.queue(r.queue_id) for r in rules)],
            args=args,
        )
        if not result:
            return None
        if isinstance(result, int):
            return Paced(wait_ms=result)
        sid, agent, queue = (as_text(x) for x in result)
        return Offer(offer_id=offer_id, call_sid=sid, agent_id=agent, queue_id=queue)

    def set_offer_leg(self, offer: Offer, leg_sid: str) -> LegRecorded:
        """Remember the hotliner's ringing leg, once the carrier has placed it."""
        k = self.keys
        result = self._set_leg(
            keys=[k.offer(offer.offer_id), k.agent(offer.agent_id)],
            args=[k.base, offer.offer_id, leg_sid],
        )
        return LegRecorded(int(result))

    def offer(self, offer_id: str) -> dict[str, str]:
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.offer(offer_id)))
        return {as_text(a): as_text(b) for a, b in raw.items()}

    def accept(
        self, offer_id: str, leg_sid: str, bridge_retry_ms: int = 5_000
    ) -> Accepted | None:
        """The hotliner answered on `leg_sid`; None if the caller left or the
        offer lapsed. A `bridge:` timer re-drives the bridge if the caller has
        not reached the conference after `bridge_retry_ms`."""
        k = self.keys
        result = self._accept(
            keys=[k.offer(offer_id), k.offers, k.events],
            args=[k.base, offer_id, self.clock(), leg_sid, bridge_retry_ms],
        )
        if not result:
            return None
        sid, agent, queued = (as_text(x) for x in result)
        return Accepted(
            call_sid=sid, agent_id=agent, queued_at_ms=int(queued) if queued else None
        )

    def reject(
        self,
        offer_id: str,
        reason: str,
        max_missed: int,
        *,
        counts_as_miss: bool = True,
        at_ms: int | None = None,
    ) -> Rejected | None:
        """Not answered, declined or expired: caller back in place, hotliner freed."""
        k = self.keys
        result = self._reject(
            keys=[k.offer(offer_id), k.offers, k.events],
            args=[
                k.base,
                offer_id,
                at_ms or self.clock(),
                reason,
                max_missed,
                "1" if counts_as_miss else "0",
            ],
        )
        if not result:
            return None
        sid, agent, state, queue, warm = (as_text(x) for x in result)
        return Rejected(
            call_sid=sid,
            agent_id=agent,
            agent_state=state,
            queue_id=queue,
            ended_warm_transfer=warm == "1",
        )

    def expired_offers(self, at_ms: int | None = None) -> list[str]:
        """Offers whose ring time is over (for the sweeper)."""
        return [
            as_text(x)
            for x in cast(
                list[bytes],
                self.redis.zrangebyscore(
                    self.keys.offers, "-inf", at_ms or self.clock()
                ),
            )
        ]

    # -- hotliners -------------------------------------------------------------

    def agent_leg_ended(
        self,
        agent_id: str,
        leg_sid: str,
        wrapup_ms: int = 0,
        alone_grace_ms: int = 2_000,
        at_ms: int | None = None,
    ) -> LegEnded | None:
        """The hotliner's leg ended while on a call; None if not on one on it."""
        k = self.keys
        now = at_ms or self.clock()
        result = self._agent_leg_ended(
            keys=[k.agent(agent_id), k.events],
            args=[k.base, agent_id, now, leg_sid, wrapup_ms, alone_grace_ms],
        )
        if not result:
            return None
        caller, call_sid, state, leg = (as_text(x) for x in result)
        return LegEnded(
            caller=caller, call_sid=call_sid, agent_state=state, specialist_leg=leg
        )

    def record_outcome(
        self,
        call_sid: str,
        agent_id: str,
        outcome: str,
        notes: str,
        make_available: bool = True,
        at_ms: int | None = None,
        details: Mapping[str, str] | None = None,
    ) -> OutcomeRecorded:
        k = self.keys
        pairs = [x for item in (details or {}).items() for x in item]
        return OutcomeRecorded(
            int(
                self._record_outcome(
                    keys=[k.call(call_sid), k.agent(agent_id), k.events],
                    args=[
                        k.base,
                        call_sid,
                        agent_id,
                        at_ms or self.clock(),
                        outcome,
                        notes,
                        "1" if make_available else "0",
                        *pairs,
                    ],
                )
            )
        )

    def move_waiting(
        self, call_sid: str, queue_id: str, priority: int, by: str
    ) -> tuple[str, str] | str:
        """A supervisor moves a waiting caller (see `MOVE_WAITING`): (the
        queue they were in, their priority before), or why not."""
        k = self.keys
        current = self.call(call_sid).get("queue", "")
        result = [
            as_text(x)
            for x in self._move_waiting(
                keys=[
                    k.call(call_sid),
                    k.queue(current or queue_id),
                    k.queue(queue_id),
                    k.events,
                ],
                args=[k.base, call_sid, queue_id, priority, self.clock(), by],
            )
        ]
        if result[0] != "ok":
            return result[1]
        return result[1], result[2]

    def transfer(
        self,
        call_sid: str,
        agent_id: str,
        queue_id: str,
        *,
        priority_bump: int,
        wrapup_ms: int,
        notes: str = "",
        steps: tuple[str, ...] = (),
        at_ms: int | None = None,
    ) -> Transferred | TransferRefused:
        """Cold transfer: `agent_id`'s caller goes to `queue_id` (see the script)."""
        k = self.keys
        result = [
            as_text(x)
            for x in self._transfer(
                keys=[k.call(call_sid), k.agent(agent_id), k.events, k.queue(queue_id)],
                args=[
                    k.base,
                    call_sid,
                    agent_id,
                    at_ms or self.clock(),
                    queue_id,
                    priority_bump,
                    wrapup_ms,
                    notes,
                    "\n".join(steps),
                ],
            )
        ]
        if result[0] != "ok":
            return TransferRefused(result[1])
        return Transferred(
            agent_leg=result[1], agent_state=result[2], priority=int(result[3])
        )

    def schedule_callback(
        self,
        call_sid: str,
        follows: str,
        *,
        due_ms: int,
        queue_id: str,
        priority: int,
        number: str,
        language: str,
        agent_id: str,
        notes: str,
        hotline_number: str,
        at_ms: int | None = None,
    ) -> bool:
        """A call back to `number` at `due_ms` by `queue_id`'s hotliners (see
        the script); False if `call_sid` exists already."""
        k = self.keys
        return bool(
            self._schedule_callback(
                keys=[k.call(call_sid), k.active_calls, k.events, k.call(follows)],
                args=[
                    k.base,
                    call_sid,
                    at_ms or self.clock(),
                    due_ms,
                    queue_id,
                    priority,
                    number,
                    language,
                    agent_id,
                    notes,
                    follows,
                    hotline_number,
                ],
            )
        )

    def note_hold(
        self, call_sid: str, agent_id: str, on: bool, at_ms: int | None = None
    ) -> bool:
        """The caller was put on hold (or taken back): timed in the call log."""
        k = self.keys
        return bool(
            self._note_hold(
                keys=[k.call(call_sid), k.events],
                args=[
                    k.base,
                    call_sid,
                    at_ms or self.clock(),
                    agent_id,
                    "1" if on else "0",
                ],
            )
        )

    def note_recap(
        self,
        call_sid: str,
        agent_id: str,
        *,
        sms_to: str = "",
        email_to: str = "",
        at_ms: int | None = None,
    ) -> bool:
        """The caller was sent a recap (on the call and in the stream)."""
        k = self.keys
        channels = ",".join(
            name for name, to in (("sms", sms_to), ("email", email_to)) if to
        )
        return bool(
            self._note_recap(
                keys=[k.call(call_sid), k.events],
                args=[
                    k.base,
                    call_sid,
                    at_ms or self.clock(),
                    agent_id,
                    channels,
                    sms_to,
                    email_to,
                ],
            )
        )

    def kb_fixes(self) -> dict[str, int]:
        """Calls fixed per known fault, as hotliners said in their outcomes."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.kb_fixes))
        return {as_text(f): int(n) for f, n in raw.items() if int(n) > 0}

    def due_timers(self, at_ms: int | None = None, limit: int = 100) -> list[str]:
        """Timers due now (`Keys.timers` says which there are)."""
        return [
            as_text(x)
            for x in cast(
                list[bytes],
                self.redis.zrangebyscore(
                    self.keys.timers, "-inf", at_ms or self.clock(), start=0, num=limit
                ),
            )
        ]

    def claim_timer(
        self, member: str, lease_ms: int = TIMER_LEASE_MS, at_ms: int | None = None
    ) -> str | None:
        """Take a due timer for `lease_ms` (only one process of several gets
        it); the lease to `release_timer` once acted on, None if not due."""
        lease = self._claim_timer(
            keys=[self.keys.timers], args=[member, at_ms or self.clock(), lease_ms]
        )
        return as_text(lease) if lease else None

    def close_lost_call(self, call_sid: str, final_state: str, reason: str) -> bool:
        """End, in the call log, a call live state has no trace of
        (`scripts.CLOSE_LOST_CALL`); False if live state knows it after all."""
        k = self.keys
        return bool(
            self._close_lost_call(
                keys=[k.call(call_sid), k.events],
                args=[k.base, call_sid, self.clock(), final_state, reason],
            )
        )

    def note_control(self, action: str, target: str) -> None:
        """A supervisor's control, in the event stream: live screens follow
        the stream, so they show it at once (the audit log is SQL's)."""
        k = self.keys
        self._note_control(
            keys=[k.events],
            args=[k.base, self.clock(), EventType.CONTROL.value, action, target],
        )

    def release_timer(self, member: str, lease: str) -> None:
        """A claimed timer was acted on: gone, unless it was set again."""
        self._release_timer(keys=[self.keys.timers], args=[member, lease])

    def set_timer(self, member: str, due_ms: int) -> None:
        self.redis.zadd(self.keys.timers, {member: due_ms})
