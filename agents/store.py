"""The Redis adapter for hotliners' live state: requests, repairs, reads.

A person's requests at the console (`set_state`, through
`lifecycle.MANUAL_MOVES`, which the script receives and enforces), the
sweeper's repairs (`send_away`, `release`, `end_wrapup`), the wrap-up timer
(`end_wrapup_now`) and the reads. Moves that concern a caller and a hotliner at
once (offer, answer, a call's end) are routing's, in `queues.store`, and stay
one atomic script each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import cast

import redis

from agents import scripts
from agents.lifecycle import MANUAL_MOVES, AgentState
from core.clock import now_ms
from core.keys import Keys
from core.text import as_text


def _memberships(memberships: Iterable[tuple[str, int]]) -> str:
    return ",".join(f"{queue}:{level}" for queue, level in memberships)


class AgentStore:
    """Atomic operations on hotliners' live state in Redis."""

    def __init__(
        self, client: redis.Redis, keys: Keys, clock: Callable[[], int] = now_ms
    ) -> None:
        self.redis = client
        self.keys = keys
        self.clock = clock  # epoch ms of each move
        self._set_state = client.register_script(scripts.SET_AGENT_STATE)
        self._end_wrapup = client.register_script(scripts.END_WRAPUP)
        self._extend_wrapup = client.register_script(scripts.EXTEND_WRAPUP)
        self._release = client.register_script(scripts.RELEASE_AGENT)

    def set_state(
        self,
        agent_id: str,
        state: AgentState,
        memberships: Iterable[tuple[str, int]],
        strategy: str = "longest-idle",
        reason: str = "",
    ) -> tuple[bool, str]:
        """A console request to change state; (done, state now)."""
        k = self.keys
        allowed = ",".join(sorted(MANUAL_MOVES.get(state, frozenset())))
        ok, current = self._set_state(
            keys=[k.agent(agent_id), k.agents, k.events],
            args=[
                k.base,
                agent_id,
                self.clock(),
                state.value,
                _memberships(memberships),
                allowed,
                strategy,
                reason,
            ],
        )
        return bool(int(ok)), as_text(current)

    def send_away(
        self,
        agent_id: str,
        memberships: Iterable[tuple[str, int]],
        strategy: str = "longest-idle",
    ) -> bool:
        """An available hotliner whose shift is over stops being offered calls.

        Not logged out (they may be finishing something): set away, which the
        status page shows, until they log in again or their next shift.
        """
        k = self.keys
        ok, _ = self._set_state(
            keys=[k.agent(agent_id), k.agents, k.events],
            args=[
                k.base,
                agent_id,
                self.clock(),
                AgentState.AWAY.value,
                _memberships(memberships),
                AgentState.AVAILABLE.value,
                strategy,
            ],
        )
        return bool(int(ok))

    def release(
        self, agent_id: str, call_sid: str, why: str, wrapup_ms: int = 0
    ) -> str | None:
        """Free a hotliner stuck on a call that is over (drift repair)."""
        k = self.keys
        result = self._release(
            keys=[k.agent(agent_id), k.events],
            args=[k.base, agent_id, self.clock(), call_sid, why, wrapup_ms],
        )
        return as_text(result) if result else None

    def end_wrapup_now(self, agent_id: str) -> bool:
        """The hotliner's wrap-up timer is due: available again (if in wrap-up).

        The timer is the deadline (one per hotliner, replaced by each new
        wrap-up, removed when they become available), so no clock is compared
        here: clocks of two hosts may differ by a few milliseconds.
        """
        k = self.keys
        return bool(
            self._end_wrapup(
                keys=[k.agent(agent_id), k.events],
                args=[k.base, agent_id, self.clock(), 2**53],
            )
        )

    def extend_wrapup(self, agent_id: str, call_sid: str, extra_ms: int) -> int | None:
        """More time to finish the call's notes, once per call; the new end
        of wrap-up (ms), or None (not in that wrap-up, or extended already)."""
        k = self.keys
        due = self._extend_wrapup(
            keys=[k.agent(agent_id), k.events],
            args=[k.base, agent_id, self.clock(), call_sid, extra_ms],
        )
        return int(due) if due else None

    def end_wrapup(self, agent_id: str, wrapup_ms: int) -> bool:
        """End a wrap-up that has lasted `wrapup_ms` or more (the sweep's backstop)."""
        k = self.keys
        now = self.clock()
        return bool(
            self._end_wrapup(
                keys=[k.agent(agent_id), k.events],
                args=[k.base, agent_id, now, now - wrapup_ms],
            )
        )

    def get(self, agent_id: str) -> dict[str, str]:
        """One hotliner's live record (empty if never logged in)."""
        raw = cast(dict[bytes, bytes], self.redis.hgetall(self.keys.agent(agent_id)))
        return {as_text(a): as_text(b) for a, b in raw.items()}

    def get_many(self, agent_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """Live records of several hotliners in one round trip."""
        ids = list(agent_ids)
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hgetall(self.keys.agent(agent_id))
        return {
            agent_id: {as_text(a): as_text(b) for a, b in raw.items()}
            for agent_id, raw in zip(ids, pipe.execute(), strict=True)
        }

    def states(self, agent_ids: Iterable[str]) -> dict[str, str]:
        """Current state of several hotliners in one round trip."""
        ids = list(agent_ids)
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hget(self.keys.agent(agent_id), "state")
        return {
            a: as_text(v) if v else AgentState.OFFLINE.value
            for a, v in zip(ids, pipe.execute(), strict=True)
        }
