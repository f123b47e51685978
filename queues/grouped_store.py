"""Live state split by routing group, behind the one store's interface.

`GroupedStore` is a `RoutingStore` to the webhooks, jobs and screens: each
method goes to the group of what it is about (a call by its route, a queue
and a hotliner by the configuration, an offer by its id, a timer by the name
its group gives it) through `queues.partition`; the readers of whole
families (waiting queues, active calls, hotliners' states, timers, offers)
read every group and merge. What would touch two groups at once is refused
with a reason: a cold transfer, a supervisor's move or a warm transfer to a
queue or hotliner of another group, a call back into another group's queue.

It never calls `RoutingStore.__init__`: a method it does not define would
find no script and fail loudly, never run on the hotline-wide slot
(`tests/unit/test_grouped_store_interface.py` checks that it defines them all).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from agents.lifecycle import AgentState
from agents.store import AgentStore
from core.keys import Keys
from core.text import as_text
from queues.consult_store import (
    ConsultFinished,
    ConsultJoined,
    ConsultRefused,
    ConsultStarted,
    ConsultStore,
)
from queues.lifecycle import EventType
from queues.partition import ROUTE_SECONDS, Partition
from queues.routing import QueueRule
from queues.store import (
    TIMER_LEASE_MS,
    Accepted,
    CallbackFailure,
    Ended,
    LegEnded,
    LegRecorded,
    Offer,
    OutcomeRecorded,
    Paced,
    Rejected,
    RoutingStore,
    Transferred,
    TransferRefused,
)

#: Why something that would span two groups is refused, and in words.
OTHER_GROUP = "other_group"
OTHER_GROUP_TEXT = (
    "that queue is in another routing group (HOTLINE_ROUTING_GROUPS=auto): "
    "a call is not passed between groups once queued; schedule a call back "
    "or give the caller that team's number"
)

#: Between a timer's group and its member (`due_timers`).
TIMER_MARK = "/"


class GroupedStore(RoutingStore):
    """`RoutingStore` over every routing group of a `Partition`."""

    def __init__(self, partition: Partition) -> None:  # noqa: D107
        # Not RoutingStore.__init__: no script of the hotline-wide slot.
        self.partition = partition
        self.redis = partition.redis
        self.keys = partition.keys
        self.clock = partition.clock
        self.events_kept = partition.events_kept
        self.offer_prefix = ""
        self.agents = GroupedAgents(partition)
        self.consults = GroupedConsults(partition)
        #: The group `match` starts with next (turn about: no group waits on
        #: another's callers).
        self._next_group = 0

    # -- where things are ------------------------------------------------------

    @property
    def group_names(self) -> tuple[str, ...]:
        return self.partition.names

    @property
    def group_keys(self) -> tuple[Keys, ...]:
        return tuple(self.partition.keys.group(n) for n in self.partition.names)

    def keys_for_call(self, call_sid: str) -> Keys:
        return self.partition.keys.group(self.partition.group_of_call(call_sid))

    def keys_for_agent(self, agent_id: str) -> Keys:
        return self.partition.for_agent(agent_id).keys

    def _groups_of(self, call_sids: list[str]) -> dict[str, list[int]]:
        """Positions of these calls by group."""
        by_group: dict[str, list[int]] = defaultdict(list)
        for i, group in enumerate(self.partition.routes(call_sids)):
            by_group[group].append(i)
        return by_group

    def _same_group(self, call_sid: str, queue_id: str) -> str | None:
        """The call's group if the queue is in it too."""
        group = self.partition.group_of_call(call_sid)
        return group if self.partition.groups.of_queue(queue_id) == group else None

    # -- callers ---------------------------------------------------------------

    def start_call(
        self,
        call_sid: str,
        from_number: str,
        to_number: str,
        language: str,
        at_ms: int | None = None,
    ) -> bool:
        return self.partition.start_call(
            call_sid, from_number, to_number, language, at_ms
        )

    def note_call(self, call_sid: str, event_type: EventType, **fields: str) -> bool:
        return self.note_facts(call_sid, event_type, fields)

    def note_facts(
        self,
        call_sid: str,
        event_type: EventType,
        fields: Mapping[str, str],
        at_ms: int | None = None,
    ) -> bool:
        return self.partition.on_call(
            call_sid, lambda s: s.note_facts(call_sid, event_type, fields, at_ms)
        )

    def enqueue(
        self,
        call_sid: str,
        queue_id: str,
        priority: int,
        at_ms: int | None = None,
        cap: int = 0,
    ) -> int:
        return self.partition.enqueue(call_sid, queue_id, priority, at_ms, cap)

    def request_callback(self, call_sid: str, number: str) -> bool:
        return self.partition.on_call(
            call_sid, lambda s: s.request_callback(call_sid, number)
        )

    def callback_failed(
        self,
        call_sid: str,
        attempts_allowed: int,
        reason: str,
        at_ms: int | None = None,
    ) -> CallbackFailure | None:
        return self.partition.on_call(
            call_sid,
            lambda s: s.callback_failed(call_sid, attempts_allowed, reason, at_ms),
        )

    def requeue_callback(self, call_sid: str) -> bool:
        return self.partition.on_call(call_sid, lambda s: s.requeue_callback(call_sid))

    def self_serve(
        self, call_sid: str, outcome: str, detail: str = "", at_ms: int | None = None
    ) -> bool:
        return self.partition.on_call(
            call_sid, lambda s: s.self_serve(call_sid, outcome, detail, at_ms)
        )

    def leave_voicemail(
        self,
        call_sid: str,
        recording_url: str,
        seconds: int,
        at_ms: int | None = None,
    ) -> bool:
        return self.partition.on_call(
            call_sid,
            lambda s: s.leave_voicemail(call_sid, recording_url, seconds, at_ms),
        )

    def waiting_since_before(
        self, queue_id: str, cutoff_ms: int, limit: int = 50
    ) -> list[str]:
        return self.partition.for_queue(queue_id).waiting_since_before(
            queue_id, cutoff_ms, limit
        )

    def bridge(self, call_sid: str) -> str:
        return self.partition.on_call(call_sid, lambda s: s.bridge(call_sid))

    def requeue_alone(self, call_sid: str, at_ms: int | None = None) -> bool:
        return self.partition.on_call(
            call_sid, lambda s: s.requeue_alone(call_sid, at_ms)
        )

    def conference_over(self, call_sid: str, at_ms: int | None = None) -> bool:
        return self.partition.on_call(
            call_sid, lambda s: s.conference_over(call_sid, at_ms)
        )

    def hang_up(
        self,
        call_sid: str,
        reason: str,
        leg: str = "caller",
        wrapup_ms: int = 0,
        at_ms: int | None = None,
    ) -> Ended | None:
        return self.partition.on_call(
            call_sid, lambda s: s.hang_up(call_sid, reason, leg, wrapup_ms, at_ms)
        )

    def call(self, call_sid: str) -> dict[str, str]:
        return self.partition.on_call(call_sid, lambda s: s.call(call_sid))

    def caller_history(self, number: str) -> dict[str, str]:
        return self.partition.caller_history(number)

    def queue_stats(self, queue_id: str) -> dict[str, float]:
        return self.partition.for_queue(queue_id).queue_stats(queue_id)

    def queue_length(self, queue_id: str) -> int:
        return self.partition.for_queue(queue_id).queue_length(queue_id)

    def position(self, queue_id: str, call_sid: str) -> int | None:
        return self.partition.for_queue(queue_id).position(queue_id, call_sid)

    def waiting(self, queue_id: str, limit: int = 100) -> list[str]:
        return self.partition.for_queue(queue_id).waiting(queue_id, limit)

    def calls(self, call_sids: Iterable[str]) -> list[dict[str, str]]:
        sids = list(call_sids)
        out: list[dict[str, str]] = [{} for _ in sids]
        for group, positions in self._groups_of(sids).items():
            found = self.partition.stores[group].calls(sids[i] for i in positions)
            for i, call in zip(positions, found, strict=True):
                out[i] = call
        return out

    def call_fields(
        self, call_sids: Iterable[str], fields: Sequence[str]
    ) -> list[dict[str, str]]:
        sids = list(call_sids)
        out: list[dict[str, str]] = [{} for _ in sids]
        for group, positions in self._groups_of(sids).items():
            found = self.partition.stores[group].call_fields(
                [sids[i] for i in positions], fields
            )
            for i, call in zip(positions, found, strict=True):
                out[i] = call
        return out

    def queue_lengths(self, queue_ids: Iterable[str]) -> dict[str, int]:
        by_group: dict[str, list[str]] = defaultdict(list)
        for queue_id in queue_ids:
            group = self.partition.groups.of_queue(queue_id)
            by_group[group or self.partition.names[0]].append(queue_id)
        lengths: dict[str, int] = {}
        for group, ids in by_group.items():
            lengths.update(self.partition.stores[group].queue_lengths(ids))
        return lengths

    def mark_checked(self, call_sid: str, at_ms: int) -> None:
        self.partition.for_call(call_sid).mark_checked(call_sid, at_ms)

    def active_calls(self, limit: int = 500) -> list[str]:
        """The oldest `limit` calls of every group, oldest first."""
        found: list[tuple[float, str]] = []
        for keys in self.group_keys:
            scored = cast(
                list[tuple[bytes, float]],
                self.redis.zrange(keys.active_calls, 0, limit - 1, withscores=True),
            )
            found.extend((score, as_text(sid)) for sid, score in scored)
        return [sid for _, sid in sorted(found)[:limit]]

    # -- offers ------------------------------------------------------------------

    def match(
        self,
        rules: Sequence[QueueRule],
        ring_ms: int,
        strategy: str = "longest-idle",
        per_second: float = 0.0,
    ) -> Offer | Paced | None:
        """The first offer any group makes, groups taken in turn; each group
        with hotliners paced at an equal share of the calls per second (a
        group of queues nobody serves never offers)."""
        by_group: dict[str, list[QueueRule]] = defaultdict(list)
        for rule in rules:
            group = self.partition.groups.of_queue(rule.queue_id)
            if group is not None:
                by_group[group].append(rule)
        names = self.partition.names
        staffed = set(self.partition.groups.by_agent.values())
        share = per_second / max(1, len(staffed))
        paced: list[int] = []
        start = self._next_group
        self._next_group = (start + 1) % len(names)
        for turn in range(len(names)):
            group = names[(start + turn) % len(names)]
            if group not in by_group:
                continue
            result = self.partition.stores[group].match(
                by_group[group], ring_ms, strategy, share
            )
            if isinstance(result, Offer):
                return result
            if isinstance(result, Paced):
                paced.append(result.wait_ms)
        return Paced(min(paced)) if paced else None

    def set_offer_leg(self, offer: Offer, leg_sid: str) -> LegRecorded:
        return self.partition.for_offer(offer.offer_id).set_offer_leg(offer, leg_sid)

    def offer(self, offer_id: str) -> dict[str, str]:
        return self.partition.for_offer(offer_id).offer(offer_id)

    def accept(
        self, offer_id: str, leg_sid: str, bridge_retry_ms: int = 5_000
    ) -> Accepted | None:
        return self.partition.for_offer(offer_id).accept(
            offer_id, leg_sid, bridge_retry_ms
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
        return self.partition.for_offer(offer_id).reject(
            offer_id, reason, max_missed, counts_as_miss=counts_as_miss, at_ms=at_ms
        )

    def expired_offers(self, at_ms: int | None = None) -> list[str]:
        found: list[str] = []
        for store in self.partition.stores.values():
            found.extend(store.expired_offers(at_ms))
        return found

    # -- hotliners and their calls ----------------------------------------------

    def agent_leg_ended(
        self,
        agent_id: str,
        leg_sid: str,
        wrapup_ms: int = 0,
        alone_grace_ms: int = 2_000,
        at_ms: int | None = None,
    ) -> LegEnded | None:
        return self.partition.for_agent(agent_id).agent_leg_ended(
            agent_id, leg_sid, wrapup_ms, alone_grace_ms, at_ms
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
        return self.partition.on_call(
            call_sid,
            lambda s: s.record_outcome(
                call_sid, agent_id, outcome, notes, make_available, at_ms, details
            ),
        )

    def move_waiting(
        self, call_sid: str, queue_id: str, priority: int, by: str
    ) -> tuple[str, str] | str:
        group = self._same_group(call_sid, queue_id)
        if group is None:
            return OTHER_GROUP
        return self.partition.stores[group].move_waiting(
            call_sid, queue_id, priority, by
        )

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
        group = self._same_group(call_sid, queue_id)
        if group is None:
            return TransferRefused(OTHER_GROUP)
        return self.partition.stores[group].transfer(
            call_sid,
            agent_id,
            queue_id,
            priority_bump=priority_bump,
            wrapup_ms=wrapup_ms,
            notes=notes,
            steps=steps,
            at_ms=at_ms,
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
        """The call back lives in the group of the call it follows, which
        must be its queue's (else refused: False)."""
        group = self._same_group(follows, queue_id)
        if group is None:
            return False
        self.redis.set(self.keys.call_group(call_sid), group, ex=ROUTE_SECONDS)
        return self.partition.stores[group].schedule_callback(
            call_sid,
            follows,
            due_ms=due_ms,
            queue_id=queue_id,
            priority=priority,
            number=number,
            language=language,
            agent_id=agent_id,
            notes=notes,
            hotline_number=hotline_number,
            at_ms=at_ms,
        )

    def note_hold(
        self, call_sid: str, agent_id: str, on: bool, at_ms: int | None = None
    ) -> bool:
        return self.partition.on_call(
            call_sid, lambda s: s.note_hold(call_sid, agent_id, on, at_ms)
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
        return self.partition.on_call(
            call_sid,
            lambda s: s.note_recap(
                call_sid, agent_id, sms_to=sms_to, email_to=email_to, at_ms=at_ms
            ),
        )

    def kb_fixes(self) -> dict[str, int]:
        return self.partition.kb_fixes()

    def close_lost_call(self, call_sid: str, final_state: str, reason: str) -> bool:
        return self.partition.for_call(call_sid).close_lost_call(
            call_sid, final_state, reason
        )

    def note_control(self, action: str, target: str) -> None:
        """In the first group's stream: live screens read every group's, and
        the call log keeps the event once."""
        self.partition.stores[self.partition.names[0]].note_control(action, target)

    # -- timers --------------------------------------------------------------------

    def due_timers(self, at_ms: int | None = None, limit: int = 100) -> list[str]:
        """Each group's due timers, named `<group>/<member>`."""
        return [
            f"{name}{TIMER_MARK}{member}"
            for name, store in self.partition.stores.items()
            for member in store.due_timers(at_ms, limit)
        ]

    def _timer(self, member: str) -> tuple[RoutingStore, str]:
        group, mark, bare = member.partition(TIMER_MARK)
        if mark and group in self.partition.stores:
            return self.partition.stores[group], bare
        kind, _, ident = member.partition(":")
        if kind == "wrapup":
            return self.partition.for_agent(ident), member
        if kind in ("bridge", "alone", "due"):
            return self.partition.for_call(ident), member
        return self.partition.stores[self.partition.names[0]], member

    def claim_timer(
        self,
        member: str,
        lease_ms: int = TIMER_LEASE_MS,
        at_ms: int | None = None,
    ) -> str | None:
        store, bare = self._timer(member)
        return store.claim_timer(bare, lease_ms, at_ms)

    def release_timer(self, member: str, lease: str) -> None:
        store, bare = self._timer(member)
        store.release_timer(bare, lease)

    def set_timer(self, member: str, due_ms: int) -> None:
        store, bare = self._timer(member)
        store.set_timer(bare, due_ms)


def bare_timer(member: str) -> str:
    """A timer's member without the group `GroupedStore.due_timers` put first."""
    return member.rpartition(TIMER_MARK)[2]


class GroupedAgents(AgentStore):
    """`AgentStore` over every routing group: each hotliner in their group."""

    def __init__(self, partition: Partition) -> None:  # noqa: D107
        self.partition = partition
        self.keys = partition.keys
        self.clock = partition.clock

    def _of(self, agent_id: str) -> AgentStore:
        return self.partition.for_agent(agent_id).agents

    def _split(self, agent_ids: Iterable[str]) -> dict[str, list[str]]:
        by_group: dict[str, list[str]] = defaultdict(list)
        for agent_id in agent_ids:
            group = self.partition.groups.of_agent(agent_id)
            by_group[group or self.partition.names[0]].append(agent_id)
        return by_group

    def set_state(
        self,
        agent_id: str,
        state: AgentState,
        memberships: Iterable[tuple[str, int]],
        strategy: str = "longest-idle",
        reason: str = "",
    ) -> tuple[bool, str]:
        return self._of(agent_id).set_state(
            agent_id, state, memberships, strategy, reason
        )

    def log_out_after_shift(
        self,
        agent_id: str,
        memberships: Iterable[tuple[str, int]],
        strategy: str = "longest-idle",
    ) -> bool:
        return self._of(agent_id).log_out_after_shift(agent_id, memberships, strategy)

    def set_shift_ends(
        self,
        ends: Mapping[str, int],
        on_call: Mapping[str, tuple[int, bool] | None] | None = None,
    ) -> None:
        for group, ids in self._split(ends).items():
            self.partition.stores[group].agents.set_shift_ends(
                {a: ends[a] for a in ids},
                None
                if on_call is None
                else {a: on_call[a] for a in ids if a in on_call},
            )

    def set_skills(
        self, agent_id: str, skills: str, memberships: Iterable[tuple[str, int]]
    ) -> str:
        return self._of(agent_id).set_skills(agent_id, skills, memberships)

    def follow_roster(
        self, agent_id: str, memberships: Iterable[tuple[str, int]]
    ) -> bool:
        return self._of(agent_id).follow_roster(agent_id, memberships)

    def release(
        self, agent_id: str, call_sid: str, why: str, wrapup_ms: int = 0
    ) -> str | None:
        return self._of(agent_id).release(agent_id, call_sid, why, wrapup_ms)

    def end_wrapup_now(self, agent_id: str) -> bool:
        return self._of(agent_id).end_wrapup_now(agent_id)

    def extend_wrapup(self, agent_id: str, call_sid: str, extra_ms: int) -> int | None:
        return self._of(agent_id).extend_wrapup(agent_id, call_sid, extra_ms)

    def end_wrapup(self, agent_id: str, wrapup_ms: int) -> bool:
        return self._of(agent_id).end_wrapup(agent_id, wrapup_ms)

    def get(self, agent_id: str) -> dict[str, str]:
        return self._of(agent_id).get(agent_id)

    def get_many(self, agent_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for group, ids in self._split(agent_ids).items():
            found.update(self.partition.stores[group].agents.get_many(ids))
        return found

    def fields_many(
        self, agent_ids: Iterable[str], fields: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        found: dict[str, dict[str, str]] = {}
        for group, ids in self._split(agent_ids).items():
            found.update(self.partition.stores[group].agents.fields_many(ids, fields))
        return found

    def states(self, agent_ids: Iterable[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for group, ids in self._split(agent_ids).items():
            found.update(self.partition.stores[group].agents.states(ids))
        return found


class GroupedConsults(ConsultStore):
    """`ConsultStore` over every routing group: a warm transfer stays in the
    call's group (a queue or hotliner of another is refused)."""

    def __init__(self, partition: Partition) -> None:  # noqa: D107
        self.partition = partition
        self.keys = partition.keys
        self.clock = partition.clock
        self.offer_prefix = ""

    def start(
        self,
        call_sid: str,
        agent_id: str,
        *,
        target: tuple[str, str],
        min_level: int,
        offer_queue: str,
        ring_ms: int,
        notes: str,
        steps: tuple[str, ...] = (),
    ) -> ConsultStarted | ConsultRefused:
        group = self.partition.group_of_call(call_sid)
        kind, ident = target
        theirs = (
            self.partition.groups.of_queue(ident)
            if kind == "queue"
            else self.partition.groups.of_agent(ident)
        )
        if theirs != group:
            return ConsultRefused(OTHER_GROUP)
        return self.partition.stores[group].consults.start(
            call_sid,
            agent_id,
            target=target,
            min_level=min_level,
            offer_queue=offer_queue,
            ring_ms=ring_ms,
            notes=notes,
            steps=steps,
        )

    def accept(self, offer_id: str, leg_sid: str) -> ConsultJoined | None:
        return self.partition.for_offer(offer_id).consults.accept(offer_id, leg_sid)

    def finish(
        self, call_sid: str, agent_id: str, *, complete: bool, wrapup_ms: int
    ) -> ConsultFinished | ConsultRefused:
        return self.partition.for_call(call_sid).consults.finish(
            call_sid, agent_id, complete=complete, wrapup_ms=wrapup_ms
        )

    def start_external(
        self,
        call_sid: str,
        agent_id: str,
        *,
        who: str,
        number: str,
        notes: str,
        steps: tuple[str, ...] = (),
    ) -> ConsultStarted | ConsultRefused:
        return self.partition.for_call(call_sid).consults.start_external(
            call_sid, agent_id, who=who, number=number, notes=notes, steps=steps
        )

    def external_status(
        self, call_sid: str, ident: str, leg_sid: str, what: str
    ) -> bool:
        return self.partition.on_call(
            call_sid,
            lambda s: s.consults.external_status(call_sid, ident, leg_sid, what),
        )
