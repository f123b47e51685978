"""The routing state split by routing group, so a cluster spreads it.

Each routing group (`queues.groups`) has a `RoutingStore` of its own on keys
with the group's hash tag: every script still touches one slot, and a Redis
Cluster places groups on different masters. What a group's store does is
what the one store of a hotline does; this adapter says which group's store
holds a queue (the configuration), a hotliner (the configuration) and a call.

A call starts in a home group, found from its CallSid alone (no lookup, the
same in every process). When it joins a queue of another group it moves
there (`queues.move_scripts`: out, in, done, each atomic and safe to run
again) and its route (`Keys.call_group`, a slot of its own) names the
group from then on. A call's operations read the route first; one that
found nothing to act on in a group the call left meanwhile is run again in
the group the route now names.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis

from core.clock import now_ms
from core.keys import Keys
from core.lua import EVENTS_KEPT, registrar
from core.text import as_text
from queues import history
from queues.groups import RoutingGroups
from queues.lifecycle import INITIAL
from queues.move_scripts import (
    MOVE_CANCEL,
    MOVE_DONE,
    MOVE_IN,
    MOVE_OUT,
    MOVE_UNDO,
)
from queues.store import RoutingStore

T = TypeVar("T")

#: How long a moved call's route is kept (s): longer than any call lives,
#: with its wrap-up and late callbacks (`scripts.ENDED_CALL_SECONDS` after).
ROUTE_SECONDS = 7 * 86_400

#: Between a group's name and an id minted in it (an offer's), or a timer.
GROUP_MARK = "."

#: What `Partition.move` says.
MOVED = "moved"  # the call is in the target group now
ENDED = "ended"  # the caller hung up while it moved: ended there too
UNKNOWN = "unknown"  # no such call where its route said


class Partition:
    """Which routing group's store holds a call, a queue or a hotliner."""

    def __init__(
        self,
        client: redis.Redis,
        groups: RoutingGroups,
        keys: Keys | None = None,
        clock: Callable[[], int] = now_ms,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        if not groups.names:
            raise ValueError("a partition needs at least one routing group")
        self.redis = client
        self.groups = groups
        self.keys = keys or Keys()
        self.clock = clock
        self.events_kept = events_kept
        self.names = groups.names
        self.stores = {
            name: RoutingStore(client, self.keys.group(name), clock, events_kept)
            for name in self.names
        }
        for name, store in self.stores.items():
            # Offers (and a warm transfer's outside legs) say their group.
            store.offer_prefix = store.consults.offer_prefix = f"{name}{GROUP_MARK}"
        register = registrar(client, events_kept)
        self._move_out = register(MOVE_OUT)
        self._move_in = register(MOVE_IN)
        self._move_done = register(MOVE_DONE)
        self._move_undo = register(MOVE_UNDO)
        self._move_cancel = register(MOVE_CANCEL)

    # -- where things are ----------------------------------------------------

    def home(self, call_sid: str) -> str:
        """The group a call starts in: spread evenly, known to every process."""
        return self.names[zlib.crc32(call_sid.encode()) % len(self.names)]

    def group_of_call(self, call_sid: str) -> str:
        route = cast(bytes | None, self.redis.get(self.keys.call_group(call_sid)))
        return as_text(route) if route else self.home(call_sid)

    def group_of_queue(self, queue_id: str) -> str:
        group = self.groups.of_queue(queue_id)
        if group is None:
            raise KeyError(f"no routing group has the queue {queue_id!r}")
        return group

    def for_call(self, call_sid: str) -> RoutingStore:
        return self.stores[self.group_of_call(call_sid)]

    def for_queue(self, queue_id: str) -> RoutingStore:
        return self.stores[self.group_of_queue(queue_id)]

    def for_offer(self, offer_id: str) -> RoutingStore:
        """The store of the group an offer was made in (its id says it)."""
        group = offer_id.partition(GROUP_MARK)[0]
        return self.stores.get(group, self.stores[self.names[0]])

    def routes(self, call_sids: list[str]) -> list[str]:
        """Each call's group, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for sid in call_sids:
            pipe.get(self.keys.call_group(sid))
        return [
            as_text(route) if route else self.home(sid)
            for sid, route in zip(call_sids, pipe.execute(), strict=True)
        ]

    def for_agent(self, agent_id: str) -> RoutingStore:
        """A hotliner's group's store (one with no queue's skill: the first)."""
        return self.stores[self.groups.of_agent(agent_id) or self.names[0]]

    def on_call(self, call_sid: str, operation: Callable[[RoutingStore], T]) -> T:
        """`operation` on the call's group's store, run again in its new group
        if it acted on nothing because the call moved meanwhile."""
        group = self.group_of_call(call_sid)
        result = operation(self.stores[group])
        if not result:
            now = self.group_of_call(call_sid)
            if now != group:
                return operation(self.stores[now])
        return result

    # -- what is the hotline's, kept by each group ---------------------------

    def caller_history(self, number: str) -> dict[str, str]:
        """A caller's summary (`queues.history`): each group keeps its own
        (the scripts write it in the call's slot), read in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for name in self.names:
            pipe.hgetall(self.keys.group(name).caller(number))
        summaries = [
            {as_text(a): as_text(b) for a, b in raw.items()} for raw in pipe.execute()
        ]
        return history.merged(summaries)

    def kb_fixes(self) -> dict[str, int]:
        """Calls fixed per known fault, summed over the groups."""
        total: Counter[str] = Counter()
        for store in self.stores.values():
            total.update(store.kb_fixes())
        return dict(total)

    # -- a call's start and its queue -----------------------------------------

    def start_call(self, call_sid: str, *args: Any, **kwargs: Any) -> bool:
        """`RoutingStore.start_call` in the call's home group."""
        return self.stores[self.home(call_sid)].start_call(call_sid, *args, **kwargs)

    def enqueue(
        self,
        call_sid: str,
        queue_id: str,
        priority: int,
        at_ms: int | None = None,
        cap: int = 0,
    ) -> int:
        """`RoutingStore.enqueue` in the queue's group, the caller moved there
        first if they are elsewhere; -1 if they could not move (gone, ended,
        or no longer in the IVR)."""
        target = self.group_of_queue(queue_id)
        current = self.group_of_call(call_sid)
        if current == target:
            self._call_off_move(call_sid, current)
        else:
            moved = self.move(call_sid, current, target)
            if moved.startswith("moving:"):
                # A move to another group was cut short (a crash, a retried
                # webhook that then chose another queue): finish it, then
                # move on from there.
                elsewhere = moved.partition(":")[2]
                if self.move(call_sid, current, elsewhere) != MOVED:
                    return -1
                moved = (
                    MOVED
                    if elsewhere == target
                    else self.move(call_sid, elsewhere, target)
                )
            if moved != MOVED:
                return -1
        return self.stores[target].enqueue(call_sid, queue_id, priority, at_ms, cap)

    def _call_off_move(self, call_sid: str, group: str) -> None:
        """Call off a move out of `group` cut short before it ended (the
        caller chose a queue of the group they are in after all)."""
        here = self.keys.group(group)
        pending = cast(bytes | None, self.redis.hget(here.call(call_sid), "moving"))
        if not pending:
            return
        target = as_text(pending)
        there = self.keys.group(target)
        self._move_undo(
            keys=[there.call(call_sid), there.active_calls],
            args=[there.base, call_sid, group],
        )
        self._move_cancel(
            keys=[here.call(call_sid)], args=[here.base, call_sid, target]
        )

    def move(self, call_sid: str, source: str, target: str) -> str:
        """Move a caller still in the IVR from `source` to `target`: `MOVED`,
        `ENDED` (they hung up meanwhile), `UNKNOWN`, or why it was refused
        (their state, or 'moving:<group>')."""
        src, dst = self.keys.group(source), self.keys.group(target)
        out = [
            as_text(x)
            for x in self._move_out(
                keys=[src.call(call_sid)], args=[src.base, call_sid, target]
            )
        ]
        if out[0] == UNKNOWN:
            return UNKNOWN
        if out[0] == ENDED:
            # Run again after they hung up: end a copy an earlier run made.
            if self.stores[target].hang_up(call_sid, "ended_while_moving"):
                self.redis.set(self.keys.call_group(call_sid), target, ex=ROUTE_SECONDS)
                self._move_done(
                    keys=[src.call(call_sid), src.active_calls],
                    args=[src.base, call_sid, target],
                )
            return ENDED
        if out[0] != "ok":
            return out[1]
        self._move_in(
            keys=[dst.call(call_sid), dst.active_calls],
            args=[dst.base, call_sid, source, *out[1:]],
        )
        self.redis.set(self.keys.call_group(call_sid), target, ex=ROUTE_SECONDS)
        left = self._move_done(
            keys=[src.call(call_sid), src.active_calls],
            args=[src.base, call_sid, target],
        )
        state = as_text(left) if left else ""
        if state and state != INITIAL:
            # They hung up in the source group while they moved.
            self.stores[target].hang_up(call_sid, "ended_while_moving")
            return ENDED
        return MOVED
