"""The supervisors' wallboard: `/supervisor`, its TV mode, and its live feed.

The board is one JSON document (`board()`): live state from Redis
(`queues.board`) and today's figures from the call log (`calllog.reports`,
the very numbers of the reports API). The feed follows the hotline's event
stream and sends a fresh board after each burst of events (one per `MIN_GAP`
seconds in the long run, the first of a quiet spell's at once: `Pacer`) and
once more a moment later, when the call log writer has applied them; a
quiet hotline gets one every `QUIET_SECONDS`, so the clocks' origin never
drifts. One thread per process and language follows the stream and makes
the boards (`Broadcast`); each viewer writes them as they come: fifty
wallboards cost one board's reads and encoding, and a wake-up each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any, Generic, TypeVar

import redis
from flask import Blueprint, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from accounts.roles import Role
from calllog import reports
from calllog.buckets import half_hour_label, local_day
from core.clock import now_ms, utcnow
from core.text import as_text
from queues import overrides
from queues.board import live_board
from web import WebServices, services
from web.auth import api_account, json_for, page_for
from web.console import allow_same_host, feed_url_for
from web.console_feed import RETRY_MS, sse

log = logging.getLogger(__name__)
T = TypeVar("T")

bp = Blueprint("supervisor", __name__, url_prefix="/supervisor")
#: The live feed alone: registered by the web and by the feed's processes.
feed_bp = Blueprint("supervisor_feed", __name__, url_prefix="/supervisor")

LANGUAGES = ("fr-FR", "en-US")
#: Shortest time between two boards sent (seconds), and their shared age:
#: a busy hotline's events (hundreds a second) make two boards a second.
MIN_GAP = 0.5
#: Boards that may go at once after a quiet spell (`Pacer`).
BURST = 2
#: A board again this long after the last events (the writer has applied them).
SETTLE_SECONDS = 1.2
#: A board at least this often when nothing happens.
QUIET_SECONDS = 10.0
#: How long one wait for new events lasts (ms).
BLOCK_MS = 250
#: After events, the stream is read again this much later (s).
GATHER_SECONDS = 0.05
#: The window of "calls per known fault".
FAULT_WINDOW = timedelta(hours=1)
#: The audit log's latest entries on the board (every supervisor sees the
#: controls used, as they are used).
AUDIT_SHOWN = 8
#: Service level this far under the target is amber, further is red.
AMBER_MARGIN = 0.1


def rag(level: float | None, target: float) -> str:
    """Red, amber or green for a service level against its target."""
    if level is None:
        return "none"
    if level >= target:
        return "green"
    return "amber" if level >= target - AMBER_MARGIN else "red"


Today = tuple[
    dict[str, reports.Figures], dict[str, int], list[Any], list[Any], bool, Any
]


def today_figures(svc: WebServices, today: str) -> Today:
    """Today's figures from the call log: by queue, calls per hotliner, known
    faults of the last hour, the audit log's latest, the charts (empty and
    False when SQL does not answer)."""
    routing = svc.runtime.routing
    try:
        by_queue = {
            r.key: r
            for r in reports.report(
                svc.engine,
                today,
                today,
                "queue",
                reports.thresholds(routing),
                today=today,
            )
        }
        by_agent = {
            r.key: r.totals.handled
            for r in reports.report(svc.engine, today, today, "agent", today=today)
        }
        faults = reports.calls_per_fault(svc.engine, utcnow() - FAULT_WINDOW)
        chart = CHARTS.get(svc, today)
        audited = [e.as_json() for e in svc.audit.entries(limit=AUDIT_SHOWN)]
        figures_ok = True
    except SQLAlchemyError as exc:
        log.warning("wallboard: the call log did not answer: %s", exc)
        by_queue, by_agent, faults, audited, figures_ok = {}, {}, [], [], False
        chart = None
    return by_queue, by_agent, faults, audited, figures_ok, chart


class DayCache(Generic[T]):
    """One value per local day shared by a process's boards for `seconds`:
    the live part of a board (Redis) is read for each board, what comes
    from the call log (which the writer updates a moment after the events
    anyway) at most that often, so a burst of events costs Redis reads and
    not reports.

    `get(..., wait=False)` (the board sent right after events) never waits
    for SQL: past `seconds` it hands the last value and has a thread make
    the next one, so a change on the hotline reaches the screens in the time
    of Redis reads even when the call log is slow. The board sent once a
    burst settled waits (`wait=True`): it is the one that carries the call
    log's figures of that burst."""

    def __init__(self, seconds: float, make: Callable[[WebServices, str], T]) -> None:
        self.seconds = seconds
        self.make = make
        self._lock = threading.Lock()
        # (made at, for whom: the services and the day, value)
        self._made: tuple[float, tuple[int, str], T] | None = None
        self._refreshing = False

    def get(self, svc: WebServices, today: str, wait: bool = True) -> T:
        whose = (id(svc), today)
        with self._lock:
            made = self._made
            if made is not None and made[1] == whose:
                if time.monotonic() - made[0] < self.seconds:
                    return made[2]
                if not wait:
                    if not self._refreshing:
                        self._refreshing = True
                        threading.Thread(
                            target=self._in_background,
                            args=(svc, today),
                            name="wallboard-figures",
                            daemon=True,
                        ).start()
                    return made[2]
        return self._refresh(svc, today)

    def _refresh(self, svc: WebServices, today: str) -> T:
        value = self.make(svc, today)
        with self._lock:
            self._made = (time.monotonic(), (id(svc), today), value)
        return value

    def _in_background(self, svc: WebServices, today: str) -> None:
        try:
            self._refresh(svc, today)
        except Exception:  # noqa: BLE001 - the next board tries again
            log.exception("wallboard: today's figures not refreshed")
        finally:
            with self._lock:
                self._refreshing = False


#: How long today's figures from the call log are shared (seconds; under
#: `SETTLE_SECONDS`, so the board sent once a burst settled has them fresh).
FIGURES_SECONDS = 1.0
FIGURES = DayCache(FIGURES_SECONDS, today_figures)


def board(svc: WebServices, lang: str, wait: bool = True) -> dict[str, Any]:
    """The whole board now (live state, and today's figures when SQL answers;
    `wait=False`: the last ones made if newer are not ready, see `DayCache`)."""
    rt = svc.runtime
    routing = rt.routing
    live = live_board(
        rt.store,
        routing,
        lang,
        {q: o.value for q, o in overrides.overrides(rt.redis, rt.keys).items()},
    ).as_json()
    today = local_day(utcnow(), routing.hotline.timezone)
    by_queue, by_agent, faults, audited, figures_ok, chart = FIGURES.get(
        svc, today, wait
    )
    for queue in live["queues"]:
        row = by_queue.get(queue["id"])
        config = routing.queue(queue["id"])
        target = config.service_level_target if config else 0.8
        level = row.service_level if row else None
        queue.update(
            {
                "service_level": level,
                "target": target,
                "threshold": config.service_level_seconds if config else 20,
                "rag": rag(level, target),
                "abandon_rate": row.abandon_rate if row else None,
                "asa_seconds": row.asa_seconds if row else None,
                "offered": row.totals.offered if row else 0,
                "answered": row.totals.answered if row else 0,
                "abandoned": row.totals.abandoned if row else 0,
            }
        )
    for hotliner in live["hotliners"]:
        hotliner["calls_today"] = by_agent.get(hotliner["id"], 0)
    incident = svc.incidents.current()
    return {
        **live,
        "at": now_ms(),
        "day": today,
        "figures": figures_ok,
        "faults": [{"fault": f, "calls": n} for f, n in faults],
        "charts": chart,
        "audit": audited,
        "incident": None
        if incident is None
        else {
            "text": incident.messages.get(lang)
            or next(iter(incident.messages.values()), ""),
            "since": incident.since_ms,
            "confirmations": incident.confirmations,
        },
        "break_reasons": {
            k: v.get(lang, k) for k, v in routing.hotline.break_reasons.items()
        },
    }


#: The charts' series are made again at most this often (seconds): a half
#: hour's bar moves slowly, and each costs two reports.
CHART_SECONDS = 5.0
#: Half hours of a day (local): the charts' x axis.
HALF_HOURS = 48


def _series(rows: list[reports.Figures]) -> dict[str, list[float | None]]:
    """Per half hour: offered, answered, abandoned, service level (None where
    nobody was offered)."""
    by_key = {r.key: r for r in rows}
    out: dict[str, list[float | None]] = {
        "offered": [],
        "answered": [],
        "abandoned": [],
        "service_level": [],
    }
    for n in range(HALF_HOURS):
        row = by_key.get(half_hour_label(n))
        out["offered"].append(row.totals.offered if row else 0)
        out["answered"].append(row.totals.answered if row else 0)
        out["abandoned"].append(row.totals.abandoned if row else 0)
        out["service_level"].append(row.service_level if row else None)
    return out


def charts(svc: WebServices, today: str) -> dict[str, Any]:
    """The wallboard's charts: offered, answered and abandoned per half hour
    today and on the same weekday last week, and today's service level per
    half hour against the hotline's lowest queue target."""
    routing = svc.runtime.routing
    week_ago = (date.fromisoformat(today) - timedelta(days=7)).isoformat()
    limits = reports.thresholds(routing)
    now = reports.report(svc.engine, today, today, "halfhour", limits, today=today)
    then = reports.report(svc.engine, week_ago, week_ago, "halfhour", limits)
    targets = [q.service_level_target for q in routing.queues.values()]
    return {
        "labels": [half_hour_label(n) for n in range(HALF_HOURS)],
        "today": _series(now),
        "last_week": _series(then),
        "last_week_day": week_ago,
        "target": min(targets) if targets else 0.8,
    }


CHARTS = DayCache(CHART_SECONDS, charts)


def _position(stream_id: Any) -> tuple[int, int]:
    ms, _, seq = as_text(stream_id).partition("-")
    return int(ms), int(seq or 0)


#: A board ready to send: the stream position it shows and its SSE message.
Made = tuple[tuple[int, int], bytes]


class SharedBoard:
    """One board per language for all of a process's viewers, sent as one
    ready SSE message (encoded once, however many sockets it goes to): a
    board made for a stream position at or past the one asked for is shared
    for `MIN_GAP`, never one made before it. Boards are labelled with the
    newest event when they were made (their state holds at least that).

    `settled`: a board sent once a burst settled, whose call-log figures are
    waited for (`DayCache`); one made without waiting is not shared as one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boards: dict[tuple[int, str], tuple[float, bool, Made]] = {}

    def get(self, svc: WebServices, lang: str, cursor: Any, settled: bool) -> Made:
        wanted = _position(cursor)
        whose = (id(svc), lang)
        with self._lock:
            found = self._boards.get(whose)
            if (
                found is not None
                and found[2][0] >= wanted
                and found[1] >= settled
                and time.monotonic() - found[0] < MIN_GAP
            ):
                return found[2]
            newest = StreamTicker.newest(svc.runtime.redis, streams(svc))
            position = max(_position(newest), wanted)
            # The stream position it shows (a benchmark times each event's
            # arrival on the screen by it).
            fresh = {
                **board(svc, lang, wait=settled),
                "cursor": f"{position[0]}-{position[1]}",
            }
            made = (position, sse(None, fresh).encode())
            self._boards[whose] = (time.monotonic(), settled, made)
            return made


class Pacer:
    """When a viewer's next board may go: one per `gap` seconds in the long
    run, and up to `burst` at once after a quiet spell (a token bucket).

    A busy hotline gets a board every `gap`, as before; an isolated change
    (a hotliner who goes on break a moment after coming back) is sent at
    once instead of waiting out the gap after the board before it."""

    def __init__(self, gap: float, burst: int, now: float) -> None:
        self.gap = gap
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def _fill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._at) / self.gap)
        self._at = now

    def wait(self, now: float) -> float:
        """Seconds until a board may go (0: now)."""
        self._fill(now)
        return max(0.0, (1.0 - self._tokens) * self.gap)

    def spend(self, now: float) -> None:
        """A board went at `now`."""
        self._fill(now)
        self._tokens = max(0.0, self._tokens - 1.0)


SHARED = SharedBoard()


class StreamTicker:
    """The one reader of the event stream in a process: it tells the
    process's boards (`Broadcast`, one per language) how far the stream has
    gone.

    The wallboard only needs to know that events came and the newest one's
    position; reading (and parsing) every event of a busy hotline once per
    language would cost that much more in the feed's process, on the cores
    the webhooks answer on. The boards wait on `changed` instead, with no
    Redis connection of their own."""

    #: The reader stops this long (s) after the last board thread asked (one
    #: asks at least every `BLOCK_MS`); the next one starts it again.
    IDLE_SECONDS = 1.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._cursor: Any = None
        self._ticks = 0
        self._failed: str | None = None
        self._thread: threading.Thread | None = None
        self._asked = time.monotonic()

    def latest(self, svc: WebServices) -> tuple[int, Any]:
        """(tick, newest position), the reader started on first use;
        `redis.RedisError` while the stream cannot be read."""
        with self._cond:
            self._asked = time.monotonic()
            if self._thread is None or not self._thread.is_alive():
                self._cursor = self.newest(svc.feed_redis(), streams(svc))
                self._failed = None
                self._thread = threading.Thread(
                    target=self._read,
                    args=(svc.feed_redis(), streams(svc)),
                    name="wallboard-stream",
                    daemon=True,
                )
                self._thread.start()
            if self._failed:
                raise redis.ConnectionError(self._failed)
            return self._ticks, self._cursor

    def changed(self, tick: int, timeout: float) -> tuple[int, Any]:
        """Wait up to `timeout` s for events past `tick`; (tick, position)."""
        with self._cond:
            self._asked = time.monotonic()
            self._cond.wait_for(
                lambda: self._ticks != tick or self._failed is not None, timeout
            )
            if self._failed:
                raise redis.ConnectionError(self._failed)
            return self._ticks, self._cursor

    @staticmethod
    def newest(client: redis.Redis, keys: Sequence[str]) -> Any:
        """The newest event's position of these streams (the latest of
        each routing group's: their positions are each server's clock)."""
        found = [StreamTicker._newest_of(client, key) for key in keys]
        return max([b"0-0", *found], key=_position)

    def _read(self, client: redis.Redis, keys: Sequence[str]) -> None:
        # One stream: a blocking read waits for news. Several (one per
        # routing group, on different masters: no one read waits on them
        # all): each read in turn, a short sleep between rounds.
        block = BLOCK_MS if len(keys) == 1 else None
        cursors = {key: self._cursor for key in keys}
        if block is None:
            cursors = {key: self._newest_of(client, key) for key in keys}
        while True:
            news = False
            try:
                for key in keys:
                    answer: Any = client.xread(
                        {key: cursors[key]}, count=1000, block=block
                    )
                    if answer:
                        cursors[key], news = answer[0][1][-1][0], True
            except redis.RedisError as exc:
                # Viewers end their streams (browsers reconnect); the next
                # viewer starts a reader again.
                with self._cond:
                    self._failed = str(exc) or type(exc).__name__
                    self._cond.notify_all()
                return
            with self._cond:
                if news:
                    self._cursor = max(cursors.values(), key=_position)
                    self._ticks += 1
                    self._cond.notify_all()
                if time.monotonic() - self._asked > self.IDLE_SECONDS:
                    self._thread = None
                    return
            if news or block is None:
                # A busy hotline's events come a few milliseconds apart: read
                # them in batches (the first after a quiet spell is told at
                # once, and boards go at most every `MIN_GAP` anyway).
                time.sleep(GATHER_SECONDS)

    @staticmethod
    def _newest_of(client: redis.Redis, key: str) -> Any:
        newest: Any = client.xrevrange(key, count=1)
        return newest[0][0] if newest else b"0-0"


def streams(svc: WebServices) -> list[str]:
    """The event streams live screens follow: each routing group's."""
    return [keys.events for keys in svc.runtime.store.group_keys]


_TICKERS: dict[tuple[str, ...], StreamTicker] = {}
_TICKERS_LOCK = threading.Lock()


def ticker(svc: WebServices) -> StreamTicker:
    """The reader of this process for the app's event stream (one per
    stream: tests run many apps in one process)."""
    stream = (svc.routing_redis_url or str(id(svc.runtime.redis)), *streams(svc))
    with _TICKERS_LOCK:
        found = _TICKERS.get(stream)
        if found is None:
            found = _TICKERS[stream] = StreamTicker()
        return found


class Broadcast:
    """A process's boards for one event stream and language: one thread
    follows the stream, paces the boards (`Pacer`) and makes each once;
    every viewer waits for the next one and writes it to its socket.

    Each viewer used to follow the stream, pace itself and ask for its own
    board at the position it had seen: fifty viewers woke several times a
    board each, on the cores the webhooks answer on. Now a board costs one
    making and one wake-up per viewer. With 50 wallboards at 20 calls/s the
    feed's process used 2.0-2.1 CPU s per 30 s before, 1.8 s per 40 s after
    (1.1-1.3 s once the stream reader gathered events)."""

    #: Longest wait of a viewer for the next board (s).
    VIEWER_WAIT = 2.0

    def __init__(self, svc: WebServices, lang: str) -> None:
        self._svc = svc
        self._lang = lang
        self._cond = threading.Condition()
        self._number = 0
        self._made: Made | None = None
        self._failed: str | None = None
        self._thread: threading.Thread | None = None
        #: Viewers following (the thread stops as soon as the last one left:
        #: boards nobody reads would cost the webhooks' cores all the same).
        self._viewers = 0

    def join(self) -> int:
        """A new viewer: the number of the last board broadcast (a `leave`
        must follow, whatever happens)."""
        with self._cond:
            self._viewers += 1
            self._start()
            return self._number

    def leave(self) -> None:
        with self._cond:
            self._viewers -= 1

    def running(self) -> bool:
        """Whether boards are being made (someone is following)."""
        with self._cond:
            return self._thread is not None and self._thread.is_alive()

    def first(self) -> Made:
        """A new viewer's first board (settled: the call log's figures of the
        moment)."""
        tick_cursor = ticker(self._svc).latest(self._svc)[1]
        return SHARED.get(self._svc, self._lang, tick_cursor, settled=True)

    def next(self, number: int) -> tuple[int, Made | None]:
        """The board after number `number`, or None after `VIEWER_WAIT`;
        `redis.RedisError` when the boards stopped (the viewer reconnects)."""
        with self._cond:
            self._start()
            self._cond.wait_for(
                lambda: self._number != number or self._failed is not None,
                self.VIEWER_WAIT,
            )
            if self._failed is not None:
                raise redis.ConnectionError(self._failed)
            if self._number == number or self._made is None:
                return number, None
            return self._number, self._made

    def _start(self) -> None:
        """The thread, if it is not running (called holding `_cond`)."""
        if self._thread is None or not self._thread.is_alive():
            self._failed = None
            self._thread = threading.Thread(
                target=self._run, name=f"wallboard-{self._lang}", daemon=True
            )
            self._thread.start()

    def _publish(self, made: Made) -> None:
        with self._cond:
            self._number += 1
            self._made = made
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            self._make_boards()
        except Exception as exc:  # noqa: BLE001 - the viewers reconnect
            if not isinstance(exc, redis.RedisError):
                log.exception("wallboard: boards stopped")
            with self._cond:
                self._failed = str(exc) or type(exc).__name__
                self._thread = None
                self._cond.notify_all()

    def _make_boards(self) -> None:
        svc, lang = self._svc, self._lang
        stream = ticker(svc)
        tick, cursor = stream.latest(svc)
        sent = time.monotonic()
        # Boards after events are paced; the settled and the quiet ones are
        # not (one each per burst or per `QUIET_SECONDS` at most).
        pacer = Pacer(MIN_GAP, BURST, sent)
        pending = False  # events came that no board sent shows yet
        settle: float | None = None
        while True:
            with self._cond:
                if self._viewers <= 0:
                    self._thread = None
                    return
            if pending:
                # Events came: the board at the end of the wait shows them
                # and whatever else comes meanwhile (one wake-up, however many).
                time.sleep(pacer.wait(time.monotonic()))
                tick, cursor = stream.latest(svc)
            else:
                seen, cursor = stream.changed(tick, BLOCK_MS / 1000)
                if seen != tick:
                    tick, pending = seen, True
            now = time.monotonic()
            if pending and pacer.wait(now) == 0.0:
                self._publish(SHARED.get(svc, lang, cursor, settled=False))
                pacer.spend(now)
                sent, pending, settle = now, False, now + SETTLE_SECONDS
            elif not pending and settle is not None and now >= settle:
                # The call log writer has applied them by now: today's figures.
                self._publish(SHARED.get(svc, lang, cursor, settled=True))
                sent, settle = now, None
            elif not pending and now - sent >= QUIET_SECONDS:
                self._publish(SHARED.get(svc, lang, cursor, settled=True))
                sent = now


_BROADCASTS: dict[tuple[int, str], Broadcast] = {}
_BROADCASTS_LOCK = threading.Lock()


def broadcast(svc: WebServices, lang: str) -> Broadcast:
    """This process's boards in `lang` for the app of `svc` (tests run many
    apps in one process)."""
    with _BROADCASTS_LOCK:
        found = _BROADCASTS.get((id(svc), lang))
        if found is None or found._svc is not svc:
            found = _BROADCASTS[(id(svc), lang)] = Broadcast(svc, lang)
        return found


def follow(svc: WebServices, lang: str) -> Iterator[bytes]:
    """The SSE body: a board now, then each one the process broadcasts."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    try:
        yield from _follow(svc, lang)
    except redis.RedisError as exc:
        log.warning("wallboard feed stopped: %s", exc)
        yield b": live state unreachable, reconnect\n\n"


def _follow(svc: WebServices, lang: str) -> Iterator[bytes]:
    boards = broadcast(svc, lang)
    number = boards.join()
    try:
        shown, message = boards.first()
        yield message
        while True:
            number, made = boards.next(number)
            # A board made before this viewer's first one is not sent after
            # it: what a screen shows never goes back.
            if made is not None and made[0] >= shown:
                shown, message = made
                yield message
    finally:
        boards.leave()


def _lang() -> str:
    wanted = request.args.get("lang", "")
    return wanted if wanted in LANGUAGES else LANGUAGES[0]


@bp.get("")
@page_for(Role.SUPERVISOR, Role.ADMIN)
def page() -> ResponseReturnValue:
    """The wallboard (`?tv=1`: full screen, large type, no controls)."""
    svc = services()
    lang = _lang()
    settings = svc.runtime.settings
    feed = feed_url_for(settings.feed_port)
    account = api_account()
    setup = {
        "lang": lang,
        "feed_url": feed,
        "tv": request.args.get("tv") == "1",
        "me": account.id if account else "",
        "skills": list(svc.runtime.routing.skills),
    }
    response = Response(
        render_template(
            "supervisor.html",
            setup=setup,
            lang=lang,
            hotline=svc.runtime.routing.hotline,
            tv=setup["tv"],
        )
    )
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src 'self' {feed}; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    )
    return response


@feed_bp.get("/board")
@json_for(Role.SUPERVISOR, Role.ADMIN)
def board_now() -> ResponseReturnValue:
    """The board as JSON (what the feed sends)."""
    return jsonify(board(services(), _lang()))


@feed_bp.get("/events")
@json_for(Role.SUPERVISOR, Role.ADMIN)
def events() -> ResponseReturnValue:
    """Server-sent events: the board after each change."""
    svc = services()
    return Response(
        follow(svc, _lang()),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


feed_bp.after_request(allow_same_host)
