"""The Redis adapter of warm transfers: start, answer, complete or cancel.

Each method is one atomic script of `queues.consult_scripts`; what ends a
warm transfer from elsewhere (the specialist declining or not answering, a
leg or the caller's call ending) is in the scripts of `queues.scripts`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from core.clock import now_ms
from core.keys import Keys
from core.lua import EVENTS_KEPT, registrar
from core.text import as_text
from queues import consult_scripts


@dataclass(frozen=True, slots=True)
class ConsultStarted:
    """A specialist is reserved and about to be rung; the caller is on hold."""

    offer_id: str
    specialist: str
    hotliner_leg: str  # the briefing hotliner's leg in the conference


@dataclass(frozen=True, slots=True)
class ConsultJoined:
    call_sid: str
    specialist: str
    hotliner: str


@dataclass(frozen=True, slots=True)
class ConsultFinished:
    """Completed (the specialist has the caller) or cancelled (the hotliner
    keeps them)."""

    leg_to_end: str  # the hotliner's (complete) or the specialist's (cancel)
    specialist_leg: str
    hotliner_state: str  # after a complete: 'wrapup' or 'available'


@dataclass(frozen=True, slots=True)
class ConsultRefused:
    why: str


class ConsultStore:
    """Atomic warm-transfer moves on one hotline's live state."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        clock: Callable[[], int] = now_ms,
        events_kept: int = EVENTS_KEPT,
    ) -> None:
        self.keys = keys
        self.clock = clock
        #: Starts every offer id (a routing group's name: `queues.partition`).
        self.offer_prefix = ""

        # The event stream's cap (`core.lua`) baked into each script.
        register = registrar(client, events_kept)

        self._start = register(consult_scripts.START)
        self._accept = register(consult_scripts.ACCEPT)
        self._finish = register(consult_scripts.FINISH)
        self._external_start = register(consult_scripts.EXTERNAL_START)
        self._external_status = register(consult_scripts.EXTERNAL_STATUS)

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
        """`target` is ('queue', id) or ('agent', id); see the script."""
        k = self.keys
        now = self.clock()
        offer_id = self.offer_prefix + uuid.uuid4().hex
        kind, ident = target
        result = [
            as_text(x)
            for x in self._start(
                keys=[k.call(call_sid), k.agent(agent_id), k.offers, k.events],
                args=[
                    k.base,
                    call_sid,
                    agent_id,
                    now,
                    offer_id,
                    now + ring_ms,
                    kind,
                    ident,
                    min_level,
                    notes,
                    offer_queue,
                    "\n".join(steps),
                ],
            )
        ]
        if result[0] != "ok":
            return ConsultRefused(result[1])
        return ConsultStarted(offer_id, specialist=result[1], hotliner_leg=result[2])

    def accept(self, offer_id: str, leg_sid: str) -> ConsultJoined | None:
        """The specialist answered on `leg_sid`; None if the transfer is off."""
        k = self.keys
        result = self._accept(
            keys=[k.offer(offer_id), k.offers, k.events],
            args=[k.base, offer_id, self.clock(), leg_sid],
        )
        if not result:
            return None
        sid, specialist, hotliner = (as_text(x) for x in result)
        return ConsultJoined(sid, specialist, hotliner)

    def finish(
        self, call_sid: str, agent_id: str, *, complete: bool, wrapup_ms: int
    ) -> ConsultFinished | ConsultRefused:
        k = self.keys
        result = [
            as_text(x)
            for x in self._finish(
                keys=[k.call(call_sid), k.events],
                args=[
                    k.base,
                    call_sid,
                    agent_id,
                    self.clock(),
                    wrapup_ms,
                    "complete" if complete else "cancel",
                ],
            )
        ]
        if result[0] != "ok":
            return ConsultRefused(result[1])
        return ConsultFinished(
            leg_to_end=result[1], specialist_leg=result[2], hotliner_state=result[3]
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
        """Someone outside is about to be called in (see `EXTERNAL_START`);
        the result's `specialist` is '' and its `offer_id` the transfer's id."""
        k = self.keys
        ident = uuid.uuid4().hex
        result = [
            as_text(x)
            for x in self._external_start(
                keys=[k.call(call_sid), k.agent(agent_id), k.events],
                args=[
                    k.base,
                    call_sid,
                    agent_id,
                    self.clock(),
                    ident,
                    who,
                    number,
                    notes,
                    "\n".join(steps),
                ],
            )
        ]
        if result[0] != "ok":
            return ConsultRefused(result[1])
        return ConsultStarted(ident, specialist="", hotliner_leg=result[1])

    def external_status(
        self, call_sid: str, ident: str, leg_sid: str, what: str
    ) -> bool:
        """The outside leg was placed, answered or ended; False if the
        transfer `ident` is not the call's any more."""
        k = self.keys
        return bool(
            self._external_status(
                keys=[k.call(call_sid), k.events],
                args=[k.base, call_sid, ident, leg_sid, self.clock(), what],
            )
        )
