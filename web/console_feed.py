"""The live feed of a hotliner's console: server-sent events from Redis.

Every move that concerns a hotliner is written, by the same Lua step that
makes it, to their own capped stream (`Keys.agent_events`). The feed reads it
with a blocking XREAD and sends each entry as one SSE message whose `id` is
the stream id, so a browser that reconnects (it does so by itself, sending
`Last-Event-ID`) gets exactly what it missed. A first connection, or one whose
last id fell out of the capped stream, starts with a `snapshot` of the state
instead. SSE is not throttled in background tabs, unlike timers: a console
left behind another window still rings.

An offer is sent with the caller's whole context (`queues.call_context`) and
their previous calls from the call log, read once when the offer is seen.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import redis

from core.clock import now_ms
from core.lua import AGENT_EVENTS_KEPT
from queues.call_context import call_context
from queues.runtime import Runtime
from web.config import HotlineConfig

log = logging.getLogger(__name__)

#: How long one XREAD waits before a keep-alive comment is sent (ms). A closed
#: page is only noticed when a write to it fails, and each open feed holds a
#: web thread: short enough that a wave of reloads frees its threads quickly.
BLOCK_MS = 5_000
#: What the browser waits before reconnecting after a dropped stream (ms).
RETRY_MS = 1_000
_STREAM_ID = re.compile(r"^(\d{1,20})-(\d{1,20})$")

#: Previous calls of a number, from the call log: (number, excluding) -> rows.
History = Callable[[str, str], list[dict[str, Any]]]


def parse_id(value: str | None) -> tuple[int, int] | None:
    match = _STREAM_ID.match(value or "")
    return (int(match[1]), int(match[2])) if match else None


def sse(event_id: str | None, data: dict[str, Any]) -> str:
    """One SSE message (JSON on one line: json.dumps never emits newlines)."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


class ConsoleFeed:
    """Turns a hotliner's stream entries into what their console shows."""

    def __init__(
        self,
        rt: Runtime,
        config: HotlineConfig,
        history: History,
        display_language: str,
        incident_text: Callable[[str], str] = lambda _id: "",
    ) -> None:
        self.rt = rt
        self.config = config
        self.history = history
        self.lang = display_language
        self.incident_text = incident_text

    def context(self, call_sid: str, agent_id: str) -> dict[str, Any] | None:
        """A live call's context for this hotliner's screen, or None."""
        call = self.rt.store.call(call_sid)
        if not call:
            return None
        ctx = call_context(
            call,
            self.rt.routing,
            self.config.kb,
            self.lang,
            now_ms(),
            agent_id,
        ).as_json()
        ctx["name"] = self.config.directory.get(ctx["number"], "")
        ctx["previous_calls"] = self.history(ctx["number"], call_sid)
        ctx["incident_text"] = (
            self.incident_text(ctx["incident"]) if ctx["incident"] else ""
        )
        return ctx

    def snapshot(self, agent_id: str) -> dict[str, Any]:
        """The hotliner's state now, and their offer or call if any."""
        agent = self.rt.store.agents.get(agent_id)
        state = agent.get("state", "offline")
        body: dict[str, Any] = {
            "type": "snapshot",
            "state": state,
            "since": _int(agent.get("state_since")),
            "reason": agent.get("reason", ""),
            "server_ms": now_ms(),
            "offer": None,
            "call": None,
        }
        offer_id = agent.get("offer", "")
        if state == "reserved" and offer_id:
            offer = self.rt.store.offer(offer_id)
            if offer:
                body["offer"] = self._offer(offer_id, offer, agent_id)
        call_sid = agent.get("call_sid", "")
        if state in {"busy", "wrapup"} and call_sid:
            body["call"] = self.context(call_sid, agent_id)
            if state == "wrapup":
                body["wrapup_until"] = self._wrapup_until(agent_id, agent)
        return body

    def event(self, agent_id: str, fields: dict[str, str]) -> dict[str, Any] | None:
        """The console message for one stream entry (None: nothing to show)."""
        kind = fields.get("type", "")
        call_sid = fields.get("call", "")
        at = _int(fields.get("at"))
        if kind in {"offered", "consult_offered"}:
            offer_id = fields.get("offer", "")
            offer = self.rt.store.offer(offer_id)
            if not offer:  # already gone: its rejection follows in the stream
                return None
            return {"type": "offer", "at": at, **self._offer(offer_id, offer, agent_id)}
        if kind == "offer_rejected":
            return {
                "type": "offer_gone",
                "at": at,
                "call_sid": call_sid,
                "reason": fields.get("reason", ""),
            }
        if kind == "transferred" and fields.get("kind") != "warm":
            return None  # a cold transfer: the hotliner's wrap-up says it
        if kind in {"consult_joined", "consult_ended", "transferred", "hold"}:
            return self._warm_transfer(kind, agent_id, fields, at)
        if kind == "accepted":
            # The context came with the offer a moment ago: not read again
            # (a page that missed it asks /console/calls/<sid>).
            return {"type": "accepted", "at": at, "call_sid": call_sid}
        if kind in {"talking", "call_ended", "outcome", "callback_failed"}:
            out = {"type": kind, "at": at, "call_sid": call_sid}
            for name in ("reason", "outcome", "state"):
                if name in fields:
                    out[name] = fields[name]
            return out
        if kind == "agent_state":
            out = {
                "type": "state",
                "at": at,
                "call_sid": call_sid,
                "state": fields.get("state", ""),
                "from": fields.get("from", ""),
                "reason": fields.get("reason", ""),
            }
            if out["state"] == "wrapup":
                out["wrapup_until"] = _int(fields.get("until")) or self._wrapup_until(
                    agent_id, self.rt.store.agents.get(agent_id)
                )
            return out
        return None

    def _warm_transfer(
        self, kind: str, agent_id: str, fields: dict[str, str], at: int
    ) -> dict[str, Any]:
        """A warm transfer's steps, as each side sees them: the specialist
        who answered sees the call (like an accepted offer), the hotliner who
        asked sees the specialist join, or the transfer end and why."""
        call_sid = fields.get("call", "")
        if kind == "hold":
            return {
                "type": "hold",
                "at": at,
                "call_sid": call_sid,
                "on": fields.get("on") == "1",
            }
        if kind == "consult_joined" and fields.get("from"):
            return {"type": "accepted", "at": at, "call_sid": call_sid, "warm": True}
        other = fields.get("specialist") or fields.get("to", "")
        other = other.removeprefix("external:")
        hotliner = self.rt.routing.hotliner(other)
        entry = self.rt.routing.on_call.get(other)
        return {
            "type": "consult",
            "at": at,
            "call_sid": call_sid,
            "state": {"consult_joined": "joined", "consult_ended": "ended"}.get(
                kind, "done"
            ),
            "reason": fields.get("reason", ""),
            "specialist": other,
            "specialist_name": (
                hotliner.name if hotliner else entry.name if entry else other
            ),
        }

    def _offer(
        self, offer_id: str, offer: dict[str, str], agent_id: str
    ) -> dict[str, Any]:
        call_sid = offer.get("call", "")
        return {
            "offer_id": offer_id,
            "call_sid": call_sid,
            "warm": offer.get("kind") == "consult",
            "expires": _int(offer.get("expires")),
            "call": self.context(call_sid, agent_id),
        }

    def _wrapup_until(self, agent_id: str, agent: dict[str, str]) -> int:
        score: Any = self.rt.redis.zscore(
            self.rt.store.keys_for_agent(agent_id).timers, f"wrapup:{agent_id}"
        )
        if score:
            return int(score)
        return _int(agent.get("state_since")) + (
            self.rt.routing.hotline.wrapup_seconds * 1000
        )


def follow(
    feed: ConsoleFeed,
    client: redis.Redis,
    agent_id: str,
    last_id: str | None,
    block_ms: int = BLOCK_MS,
) -> Iterator[str]:
    """The SSE body: a snapshot or what was missed since `last_id`, then live.

    Redis unreachable ends the stream (never an error half-way through a
    response): the browser reconnects by itself a second later and resumes
    from the last id it got.
    """
    yield f"retry: {RETRY_MS}\n\n"
    try:
        yield from _follow(feed, client, agent_id, last_id, block_ms)
    except redis.RedisError as exc:
        log.warning("console feed of %s stopped: %s", agent_id, exc)
        yield ": live state unreachable, reconnect\n\n"


def _follow(
    feed: ConsoleFeed,
    client: redis.Redis,
    agent_id: str,
    last_id: str | None,
    block_ms: int,
) -> Iterator[str]:
    key = feed.rt.store.keys_for_agent(agent_id).agent_events(agent_id)
    cursor = last_id if _still_held(client, key, last_id) else None
    if cursor is None:
        newest: Any = client.xrevrange(key, count=1)
        if newest:
            cursor = _text(newest[0][0])
        else:
            # A first entry to resume from: "after 0-0" could not tell a
            # reconnect whether entries were trimmed meanwhile.
            cursor = _text(
                client.xadd(
                    key,
                    {"type": "console_opened", "agent": agent_id},
                    maxlen=AGENT_EVENTS_KEPT,
                    approximate=True,
                )
            )
        yield sse(cursor, feed.snapshot(agent_id))
    while True:
        answer: Any = client.xread({key: cursor}, count=100, block=block_ms)
        if not answer:
            yield ": keep-alive\n\n"
            continue
        for raw_id, raw_fields in answer[0][1]:
            cursor = _text(raw_id)
            fields = {_text(k): _text(v) for k, v in raw_fields.items()}
            message = feed.event(agent_id, fields)
            if message is not None:
                yield sse(cursor, message)


def _still_held(client: redis.Redis, key: str, last_id: str | None) -> bool:
    """Whether everything after `last_id` is still in the capped stream."""
    wanted = parse_id(last_id)
    if wanted is None:
        return False
    oldest: Any = client.xrange(key, count=1)
    if not oldest:
        return False
    first = parse_id(_text(oldest[0][0]))
    return first is not None and wanted >= first


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
