"""The Redis adapter for hotliners' live state: requests, repairs, reads.

A person's requests at the console (`set_state`, through
`lifecycle.MANUAL_MOVES`, which the script receives and enforces), the
sweeper's repairs (`log_out_after_shift`, `release`, `end_wrapup`), the wrap-up timer
(`end_wrapup_now`) and the reads. Moves that concern a caller and a hotliner at
once (offer, answer, a call's end) are routing's, in `queues.store`, and stay
one atomic script each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import cast

import redis

from agents import scripts
from agents.lifecycle import MANUAL_MOVES, AgentState
from core.clock import now_ms
from core.keys import Keys
from core.lua import EVENTS_KEPT, registrar
from core.text import as_text


def _memberships(memberships: Iterable[tuple[str, int]]) -> str:
    return ",".join(f"{queue}:{level}" for queue, level in memberships)


class AgentStore:
    """Atomic operations on hotliners' live state in Redis."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        clock: Callable[[], int] = now_ms,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        self.redis = client
        self.keys = keys
        self.clock = clock  # epoch ms of each move

        # The event stream's cap (`core.lua`) baked into each script.
        register = registrar(client, events_kept)

        self._set_state = register(scripts.SET_AGENT_STATE)
        self._end_wrapup = register(scripts.END_WRAPUP)
        self._extend_wrapup = register(scripts.EXTEND_WRAPUP)
        self._release = register(scripts.RELEASE_AGENT)
        self._set_skills = register(scripts.SET_SKILLS)

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

    def log_out_after_shift(
        self,
        agent_id: str,
        memberships: Iterable[tuple[str, int]],
        strategy: str = "longest-idle",
    ) -> bool:
        """A hotliner whose shift is over and who is not working a call is
        logged out; one on a call or in wrap-up finishes it first (the match
        offers them nothing meanwhile: `shift_until`)."""
        k = self.keys
        idle = (AgentState.AVAILABLE, AgentState.AWAY, AgentState.BREAK)
        ok, _ = self._set_state(
            keys=[k.agent(agent_id), k.agents, k.events],
            args=[
                k.base,
                agent_id,
                self.clock(),
                AgentState.OFFLINE.value,
                _memberships(memberships),
                ",".join(sorted(s.value for s in idle)),
                strategy,
                "shift_over",
            ],
        )
        return bool(int(ok))

    def set_shift_ends(
        self,
        ends: Mapping[str, int],
        on_call: Mapping[str, tuple[int, bool] | None] | None = None,
    ) -> None:
        """What the match checks of the rota, atomically with the offer it
        makes: until when (epoch ms) each hotliner is on shift (0: off
        shift), and for a specialist on call (`on_call`: their lowest caller
        priority, and whether an announced incident lets any caller through;
        None: an ordinary hotliner)."""
        rules = on_call or {}
        pipe = self.redis.pipeline(transaction=False)
        for agent_id, until_ms in ends.items():
            key = self.keys.agent(agent_id)
            pipe.hset(key, "shift_until", str(until_ms))
            rule = rules.get(agent_id)
            if rule is None:
                pipe.hdel(key, "min_priority", "incident_any")
            else:
                pipe.hset(
                    key,
                    mapping={
                        "min_priority": str(rule[0]),
                        "incident_any": "1" if rule[1] else "0",
                    },
                )
        pipe.execute()

    def set_skills(
        self, agent_id: str, skills: str, memberships: Iterable[tuple[str, int]]
    ) -> str:
        """A supervisor's skills for a hotliner (`agents.skills.format_skills`;
        '' puts back the roster's) and the memberships they give; the skills
        before ('' the roster's)."""
        k = self.keys
        before = self._set_skills(
            keys=[k.agent(agent_id)],
            args=[k.base, agent_id, _memberships(memberships), skills],
        )
        return as_text(before)

    def follow_roster(
        self, agent_id: str, memberships: Iterable[tuple[str, int]]
    ) -> bool:
        """A reloaded roster's skills for a logged-in hotliner: their queue
        lines change at once, keeping their place, unless a supervisor set
        their skills for today (those stay). True if changed."""
        k = self.keys
        before = self._set_skills(
            keys=[k.agent(agent_id)],
            args=[k.base, agent_id, _memberships(memberships), "", "1"],
        )
        return not as_text(before)

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

    def fields_many(
        self, agent_ids: Iterable[str], fields: Sequence[str]
    ) -> dict[str, dict[str, str]]:
        """Some fields of several hotliners' records in one round trip (a
        wallboard reads what it shows, twice a second)."""
        ids = list(agent_ids)
        pipe = self.redis.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hmget(self.keys.agent(agent_id), list(fields))
        return {
            agent_id: {f: as_text(v) for f, v in zip(fields, raw, strict=True) if v}
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
