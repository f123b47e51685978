"""`GET /metrics` for the ops team, in Prometheus's text format.

Two kinds of figures:

- **measured as requests are served**: the voice webhooks' answer times per
  route (a histogram). Under gunicorn each worker measures its own share; with
  `PROMETHEUS_MULTIPROC_DIR` set (`hotline run` and the Procfile set it) the
  workers write them to files there and any worker's `/metrics` adds them all
  up (prometheus-client's multiprocess mode);
- **read at scrape time** from Redis and the call log, so every worker
  answers the same: callers waiting and the longest wait per queue, callers
  in the voice menu, hotliners per state, calls offered so far (routing
  decisions), the RQ queue's depth, the call-log writer's lag (events in
  the stream not yet in SQL), the stream's cap and the events it dropped
  (`core.lua`: with the writer behind by the whole cap, the oldest go rather
  than Redis's memory; each one is a line the call log misses).

Scrapers authenticate like any API client: a supervisor's or admin's token
(`Authorization: Bearer ...`, Prometheus's `authorization` setting).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import redis
from flask import Blueprint, Flask, Response, g, request
from flask.typing import ResponseReturnValue
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from calllog.writer import applied_offset
from core.clock import now_ms
from core.lua import EVENTS_DROPPED
from queues import webhooks
from queues.board import live_board
from queues.runtime import RQ_QUEUE
from web import WebServices, services
from web.auth import require_steering

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

#: Where multiprocess mode keeps each worker's figures (set before import).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Webhook answer-time buckets (seconds): Twilio's limit is 15 s, our
#: target p99 50 ms.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0)
#: The writer's lag is counted up to this many events (then "at least").
LAG_CAP = 100_000

#: Without multiprocess mode, this process's own figures.
OWN = CollectorRegistry()
WEBHOOK_SECONDS = Histogram(
    "hotline_webhook_seconds",
    "Time to answer a Twilio webhook, by route.",
    ["route"],
    buckets=BUCKETS,
    registry=OWN,
)


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def _start_timer() -> None:
    if request.path.startswith(webhooks.ROOT):
        g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        rule = request.url_rule.rule if request.url_rule else "unknown"
        WEBHOOK_SECONDS.labels(route=rule).observe(time.perf_counter() - started)
    return response


def init_metrics(app: Flask) -> None:
    """Time every voice webhook (the hooks run around every request)."""
    app.before_request(_start_timer)
    app.after_request(_observe)


class LiveCollector(Collector):
    """Figures read from Redis and SQL when scraped."""

    def __init__(self, svc: WebServices) -> None:
        self.svc = svc

    def collect(self) -> Iterator[Metric]:
        rt = self.svc.runtime
        routing = rt.routing
        try:
            board = live_board(rt.store, routing, routing.hotline.default_language)
        except redis.RedisError:
            log.warning("metrics: Redis unreachable")
            up = GaugeMetricFamily("hotline_redis_up", "Redis answers.")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("hotline_redis_up", "Redis answers.")
        up.add_metric([], 1)
        yield up
        now = now_ms()
        waiting = GaugeMetricFamily(
            "hotline_callers_waiting", "Callers waiting, per queue.", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "hotline_longest_wait_seconds",
            "The longest-waiting caller's wait, per queue (0: nobody waits).",
            labels=["queue"],
        )
        callbacks = GaugeMetricFamily(
            "hotline_callbacks_pending",
            "Callers waiting for a call back, per queue.",
            labels=["queue"],
        )
        for queue in board.queues:
            waiting.add_metric([queue.id], queue.waiting)
            since = queue.oldest_since
            longest.add_metric([queue.id], max(0, now - since) / 1000 if since else 0)
            callbacks.add_metric([queue.id], queue.callbacks_pending)
        yield waiting
        yield longest
        yield callbacks
        in_ivr = GaugeMetricFamily("hotline_callers_in_ivr", "Callers in the menu.")
        in_ivr.add_metric([], board.in_ivr)
        yield in_ivr
        states = GaugeMetricFamily(
            "hotline_hotliners", "Hotliners per state.", labels=["state"]
        )
        for state in ("available", "offered", "busy", "wrapup", "break", "offline"):
            states.add_metric([state], board.states.get(state, 0))
        yield states
        yield from self._stream(rt)

    def _stream(self, rt: Any) -> Iterator[Metric]:
        """The event stream's figures: summed over the routing groups' own
        streams when live state is split in groups."""
        client = rt.redis
        parts = list(
            zip(rt.store.group_names or ("",), rt.store.group_keys, strict=True)
        )
        offers = CounterMetricFamily(
            "hotline_routing_offers",
            "Offers made by the router (its routing decisions).",
        )
        infos: list[Any] = [
            client.xinfo_stream(k.events) if client.exists(k.events) else {}
            for _, k in parts
        ]
        depth = GaugeMetricFamily("hotline_rq_queue_depth", "Jobs waiting in RQ.")
        depth.add_metric([], int(client.llen(f"rq:queue:{RQ_QUEUE}")))
        yield depth
        events = GaugeMetricFamily(
            "hotline_events", "Events written to the stream since it began."
        )
        events.add_metric([], sum(int(i.get("entries-added", 0) or 0) for i in infos))
        yield events
        offers.add_metric(
            [], sum(float(client.hget(k.counters, "offers") or 0) for _, k in parts)
        )
        yield offers
        # Read from Redis alone, before the lag: drops happen while SQL is down.
        dropped = CounterMetricFamily(
            "hotline_events_dropped",
            "Events the stream's cap dropped before the call log had them "
            "(the writer was behind by the whole cap).",
        )
        dropped.add_metric(
            [],
            sum(float(client.hget(k.counters, EVENTS_DROPPED) or 0) for _, k in parts),
        )
        yield dropped
        cap = GaugeMetricFamily(
            "hotline_event_stream_max",
            "Events the stream holds at most (HOTLINE_EVENT_STREAM_MAX).",
        )
        cap.add_metric([], rt.store.events_kept)
        yield cap
        held = GaugeMetricFamily(
            "hotline_event_stream_length",
            "Events in the stream now (the writer's lag, and its place mark).",
        )
        held.add_metric([], sum(int(i.get("length", 0) or 0) for i in infos))
        yield held
        lag = GaugeMetricFamily(
            "hotline_calllog_writer_lag_events",
            f"Events in the stream not yet in the call log (at most {LAG_CAP}).",
        )
        pending = 0
        for group, k in parts:
            try:
                last = applied_offset(self.svc.engine, group)
            except SQLAlchemyError:
                return
            found: Any = client.xrange(k.events, f"({last}", "+", count=LAG_CAP)
            pending += len(found)
        lag.add_metric([], min(pending, LAG_CAP))
        yield lag


@bp.get("/metrics")
@require_steering
def metrics() -> ResponseReturnValue:
    """The figures, in Prometheus's text format."""
    measured = CollectorRegistry()
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(measured)  # type: ignore[no-untyped-call]
    else:
        measured = OWN
    live = CollectorRegistry()
    live.register(LiveCollector(services()))
    body = generate_latest(measured) + generate_latest(live)
    return Response(body, mimetype=CONTENT_TYPE_LATEST.split(";")[0])
