"""Live state as the webhooks use it: Redis when it answers, the journal when not.

A webhook must answer Twilio within a second whatever Redis does, and a caller
must never be dropped because live state is unreachable. `LiveState.run` tries
an operation on Redis; if Redis fails (refused, or no answer within the
client's timeouts), or failed moments ago, or journaled entries still wait to
be replayed (their order must be kept), the operation is journaled instead
(`queues.spool`) and the webhook carries on with a safe answer. A thread of
each web process (`replay_when_back`) watches Redis and, once it answers,
replays the journal with each entry's own time and carries out what follows
(offers, ended legs), then lets webhooks use Redis again.

Only operations in `REPLAY` can be journaled: they are the writes webhooks
make, each idempotent (a replay of something Redis had in fact applied before
failing changes nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis

from core.clock import now_ms
from queues import handoff, warm_transfer
from queues.lifecycle import EventType
from queues.runtime import Runtime
from queues.spool import Args, Spool

log = logging.getLogger(__name__)

T = TypeVar("T")

#: How often a web process looks whether Redis is back (seconds).
WATCH_SECONDS = 0.1


def _start_call(rt: Runtime, at: int, sid: str, frm: str, to: str, lang: str) -> None:
    rt.store.start_call(sid, frm, to, lang, at_ms=at)


def _note_call(
    rt: Runtime, at: int, sid: str, kind: str, fields: dict[str, str]
) -> None:
    rt.store.note_facts(sid, EventType(kind), fields, at_ms=at)


def _enqueue(rt: Runtime, at: int, sid: str, queue: str, priority: int) -> handoff.Next:
    return handoff.Next(dispatch=rt.store.enqueue(sid, queue, priority, at_ms=at) == 1)


def _self_serve(rt: Runtime, at: int, sid: str, outcome: str, detail: str) -> None:
    rt.store.self_serve(sid, outcome, detail, at_ms=at)


def _voicemail(rt: Runtime, at: int, sid: str, url: str, seconds: int) -> None:
    rt.store.leave_voicemail(sid, url, seconds, at_ms=at)


def _caller_gone(rt: Runtime, at: int, sid: str, reason: str) -> handoff.Next:
    return handoff.caller_gone(rt, sid, reason, at_ms=at)


def _leg_ended(
    rt: Runtime, at: int, offer: str, agent: str, leg: str, status: str
) -> handoff.Next:
    return handoff.hotliner_leg_ended(rt, offer, agent, leg, status, at_ms=at)


def _unanswerable(rt: Runtime, at: int, offer: str) -> handoff.Next:
    """A hotliner answered while Redis was down: told so and hung up; the
    caller keeps their place and the miss is ours, not theirs."""
    rejected = rt.store.reject(
        offer,
        "unavailable",
        rt.routing.hotline.max_missed_offers,
        counts_as_miss=False,
        at_ms=at,
    )
    return handoff.Next(dispatch=rejected is not None)


def _conference_over(rt: Runtime, at: int, sid: str) -> None:
    rt.store.conference_over(sid, at_ms=at)


def _requeue_alone(rt: Runtime, at: int, sid: str) -> handoff.Next:
    return handoff.Next(dispatch=rt.store.requeue_alone(sid, at_ms=at))


def _callback_leg_ended(rt: Runtime, at: int, sid: str, status: str) -> handoff.Next:
    return handoff.callback_leg_ended(rt, sid, status, at_ms=at)


def _external_status(
    rt: Runtime, at: int, sid: str, ident: str, leg: str, status: str
) -> handoff.Next:
    return warm_transfer.external_status(rt, sid, ident, leg, status)


def _outcome(
    rt: Runtime, at: int, sid: str, agent: str, outcome: str, notes: str
) -> handoff.Next:
    recorded, todo = handoff.outcome_posted(rt, sid, agent, outcome, notes, at_ms=at)
    if not recorded:
        log.warning("journaled outcome refused call_sid=%s agent_id=%s", sid, agent)
    return todo


#: Every operation a webhook may journal, and how it is applied on replay:
#: (runtime, the time it happened (ms), its arguments) -> what follows, if any.
REPLAY: dict[str, Callable[..., handoff.Next | None]] = {
    "start_call": _start_call,
    "note_call": _note_call,
    "enqueue": _enqueue,
    "self_serve": _self_serve,
    "voicemail": _voicemail,
    "caller_gone": _caller_gone,
    "leg_ended": _leg_ended,
    "unanswerable": _unanswerable,
    "conference_over": _conference_over,
    "requeue_alone": _requeue_alone,
    "callback_leg_ended": _callback_leg_ended,
    "external_status": _external_status,
    "outcome": _outcome,
}


def is_outage(exc: BaseException) -> bool:
    """Redis refused, dropped or did not answer: live state is unreachable."""
    return isinstance(exc, redis.ConnectionError | redis.TimeoutError) or (
        isinstance(exc, redis.ResponseError) and str(exc).startswith("LOADING")
    )


class Unreachable(Exception):
    """Live state cannot be used now (Redis down, or the journal not replayed)."""


class LiveState:
    """Redis when it answers, the journal when it does not (one per process)."""

    def __init__(self, rt: Runtime, spool: Spool) -> None:
        self.rt = rt
        self.spool = spool
        self._down_since: float | None = None
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        """Webhooks must not use Redis now: it failed, or entries wait."""
        return self._down_since is not None or self.spool.pending()

    def trip(self, exc: BaseException) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("live state unreachable, journaling: %s", exc)

    def call(self, attempt: Callable[[], T]) -> T:
        """`attempt()` on Redis; `Unreachable` if it is down (or known to be)."""
        if self.down:
            raise Unreachable
        try:
            return attempt()
        except redis.RedisError as exc:
            if not is_outage(exc):
                raise
            self.trip(exc)
            raise Unreachable from exc

    def run(
        self,
        attempt: Callable[[], T],
        fallback: T,
        journal: tuple[str, Args] | None = None,
    ) -> T:
        """`attempt()` on Redis, or (Redis down) journal `journal` and return
        `fallback`. Errors other than an outage propagate."""
        try:
            return self.call(attempt)
        except Unreachable:
            if journal is not None:
                self.journal(journal[0], *journal[1])
            return fallback

    def journal(self, op: str, *args: Any) -> None:
        """Journal an operation without trying Redis (the caller knows it is down)."""
        assert op in REPLAY, op
        self.spool.append(op, list(args), now_ms())

    def apply(self, op: str, args: Args, at_ms: int) -> None:
        """Replay one journaled operation and carry out what follows."""
        todo = REPLAY[op](self.rt, at_ms, *args)
        if isinstance(todo, handoff.Next):
            handoff.carry_out(self.rt, todo)

    def recover(self) -> int:
        """If Redis answers: replay the journal and use Redis again. Replayed."""
        if not self.down:
            return 0
        try:
            self.rt.redis.ping()
        except redis.RedisError:
            return 0
        replayed = 0
        if self.spool.pending():
            started = time.monotonic()
            replayed = self.spool.replay(self.apply, is_outage)
            if replayed:
                log.warning(
                    "replayed %d journaled operations in %.2f s",
                    replayed,
                    time.monotonic() - started,
                )
        if not self.spool.pending():
            with self._lock:
                if self._down_since is not None:
                    log.warning(
                        "live state back after %.1f s",
                        time.monotonic() - self._down_since,
                    )
                self._down_since = None
        return replayed


def replay_when_back(live: LiveState, stop: threading.Event) -> None:
    """A web process's watch: replay the journal as soon as Redis is back."""
    while not stop.wait(WATCH_SECONDS):
        try:
            live.recover()
        except Exception:  # noqa: BLE001 - keep watching
            log.exception("replaying the journal failed")
