"""The event stream's cap: Redis's memory bounded, no event lost unsaid.

With the call log writer stopped, the stream would grow until Redis is out
of memory, and then no script runs: no caller is queued, offered or bridged.
So past its cap (`Settings.event_stream_max`) the scripts' `emit` drops the
oldest events (`XADD MAXLEN ~`, see `core.lua`) and counts each one in the
same atomic step; /metrics shows the count beside the writer's lag and the
writer says it in its log. A writer that keeps up never drops anything.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from flask import Flask
from flask.testing import FlaskClient
from integration.conftest import AppFactory
from integration.test_metrics import scrape
from support import SignedPost, call_form, round_the_clock

from calllog.writer import drain_events, report_drops
from core.keys import Keys
from core.lua import EVENTS_DROPPED, EVENTS_KEPT, LUA_HELPERS, with_events_kept
from core.text import as_text
from queues.runtime import Runtime

CAP = 50
CALLS = 200  # one event each (`call_started`): four times the cap
DROPPED = ("hotline_events_dropped_total", ())
LAG = ("hotline_calllog_writer_lag_events", ())


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    """A hotline whose event stream holds `CAP` events (nobody logged in:
    each call is one event, its start)."""
    return make_app(
        round_the_clock(("nina", "Nina")), settings={"event_stream_max": CAP}
    )


def runtime(app: Flask) -> Runtime:
    return app.extensions["hotline"].runtime  # type: ignore[no-any-return]


def added(rt: Runtime) -> int:
    """Events ever added to the stream (Redis counts them, trimmed or not)."""
    info = cast(dict[str, Any], rt.redis.xinfo_stream(rt.keys.events))
    return int(info["entries-added"])


def node_entries(rt: Runtime) -> int:
    """Entries in one node of a stream: what `MAXLEN ~` may keep over the cap."""
    config = cast(dict[str, str], rt.redis.config_get("stream-node-max-entries"))
    return int(config["stream-node-max-entries"])


def calls_in_stream(rt: Runtime) -> list[str]:
    entries = cast(
        list[tuple[bytes, dict[bytes, bytes]]], rt.redis.xrange(rt.keys.events)
    )
    return [as_text(fields[b"call"]) for _, fields in entries]


def test_the_cap_is_baked_into_every_script_that_emits() -> None:
    assert f"local EVENTS_KEPT = {EVENTS_KEPT}\n" in LUA_HELPERS
    capped = with_events_kept(LUA_HELPERS, CAP)
    assert f"local EVENTS_KEPT = {CAP}\n" in capped
    assert f"local EVENTS_KEPT = {EVENTS_KEPT}\n" not in capped
    assert with_events_kept("return 1", CAP) == "return 1"
    # `emit` finds the counters beside the stream: both are the base + a name.
    for keys in (Keys(), Keys(prefix="elsewhere", tag="t")):
        assert keys.events == keys.base + "events"
        assert keys.counters == keys.base + "counters"


def test_with_the_writer_stopped_the_stream_stays_at_its_cap_and_counts_drops(
    app: Flask,
    api: FlaskClient,
    signed_post: SignedPost,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rt = runtime(app)
    assert rt.store.events_kept == CAP
    for n in range(CALLS):
        signed_post("/voice/incoming", call_form(f"CAcap{n:03d}"))

    # `~` trims whole nodes only: the stream keeps at least the cap, and less
    # than a node's entries more (exact MAXLEN would cost a walk of the first
    # node on every event, and free no more memory).
    held = cast(int, rt.redis.xlen(rt.keys.events))
    assert CAP <= held < CAP + node_entries(rt)
    assert added(rt) == CALLS
    dropped = int(cast(bytes, rt.redis.hget(rt.keys.counters, EVENTS_DROPPED)))
    assert dropped == CALLS - held
    # The newest events are kept, the oldest dropped.
    assert calls_in_stream(rt) == [f"CAcap{n:03d}" for n in range(CALLS - held, CALLS)]

    seen = scrape(api)
    assert seen[DROPPED] == dropped
    assert seen[("hotline_event_stream_max", ())] == CAP
    assert seen[("hotline_event_stream_length", ())] == held
    assert seen[LAG] == held

    # The writer back: what is left reaches the call log, the loss is said
    # loudly, once.
    engine = app.extensions["hotline"].engine
    with caplog.at_level(logging.ERROR, logger="calllog.writer"):
        assert drain_events(rt.redis, engine, rt.keys) == held
    said = [
        r for r in caplog.records if "dropped from the full event stream" in r.message
    ]
    assert len(said) == 1
    assert said[0].levelno == logging.ERROR
    assert f"{dropped} events were dropped" in said[0].message
    assert report_drops(rt.redis, rt.keys) == 0  # said already
    after = scrape(api)
    assert after[LAG] == 0
    assert after[DROPPED] == dropped  # a counter: never goes back


def test_a_writer_that_keeps_up_never_drops_an_event(
    app: Flask, api: FlaskClient, signed_post: SignedPost
) -> None:
    rt = runtime(app)
    engine = app.extensions["hotline"].engine
    for n in range(CALLS):
        signed_post("/voice/incoming", call_form(f"CAkeep{n:03d}"))
        if n % 10 == 9:  # the worker's writer follows the stream as it grows
            drain_events(rt.redis, engine, rt.keys)
    assert added(rt) == CALLS
    assert rt.redis.hget(rt.keys.counters, EVENTS_DROPPED) is None
    seen = scrape(api)
    assert seen[DROPPED] == 0
    assert seen[LAG] == 0
