"""How close the hotline's router comes to an ideal queue (Erlang C).

The whole hotline runs as a user runs it (gunicorn, an RQ worker, Redis, SQL)
with the carrier simulator playing Twilio, and it is fed the textbook case:
Poisson callers who go straight to one queue and never give up, N simulated
hotliners with that one skill who answer at once, talk an exponentially
distributed time, hang up and post their outcome at once, wrap-up 0. The run
is time-scaled (`--time-scale`): by default a call lasts 300 simulated
seconds, 3 s of real time; the app's overheads (HTTP, jobs, Redis) stay real.

Every figure comes from the simulator's side (monotonic times it notes when a
caller gives its menu key, when two legs meet in a conference, when a leg is
created, answered and ended, when an outcome is posted), not from the app's
own bookkeeping; the call log is only read to cross-check.

Beside the measured figures, in the same run:
- Erlang C for the measured arrival rate and the measured mean talk time (the
  talk as the simulator played it, bridged -> hang-up), N hotliners;
- an ideal router: a zero-overhead first-come-first-served queue with N
  servers (`queues.erlang.fcfs_waits`) fed the same realized queue-entry times
  and the same realized talk times, so sampling noise cancels out of the
  comparison.

Targets (exit 1 naming each one missed): idle while waiting <= 1 %,
|P(wait) - Erlang C| <= 0.03, hotliner free -> next caller bridged p99 < 50 ms,
0 lost callers.

300 measured callers by default (arrivals for ~2 minutes; 600, twice as
long, until 2026-12): every figure keeps its meaning (same team, traffic and
calls), what grows is the sampling noise of P(wait). The report prints it
each run (an ideal router fed that many Poisson callers, 200 seeds): standard
deviation ~0.075 from Erlang C on 300 callers, ~0.054 on 600 (within 0.03 on
about 25 % and 35 % of the seeds). The comparison free of that noise,
measured against the ideal router on the same callers, is printed beside it;
`--calls 600` when a run must tell a router within a few points of Erlang C.

    python bench/fidelity.py                 # 10 hotliners, 8 Erlangs, 300 calls
    python bench/fidelity.py --calls 600     # twice the callers (~4 min)
    python bench/fidelity.py --quick         # 120 calls, a smoke run
    python bench/fidelity.py --redis-url redis://127.0.0.1:6379 --db 15
"""

from __future__ import annotations

import argparse
import bisect
import gc
import logging
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from accounts.roles import Role  # noqa: E402
from accounts.store import AccountStore  # noqa: E402
from bench.harness import (  # noqa: E402
    Figure,
    percentile,
    record,
    redis_server,
    show_tracebacks,
)
from calllog.db import upgrade  # noqa: E402
from cli.stack import Stack  # noqa: E402
from core.embedded_redis import free_port  # noqa: E402
from core.settings import (  # noqa: E402
    DEFAULT_CONFIG_DIR,
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
)
from queues import erlang, webhooks  # noqa: E402
from simulator.carrier import Call, Carrier, CarrierConfig  # noqa: E402
from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.scripts import CallerScript, Digits, HotlinerProfile  # noqa: E402

QUEUE = "email"  # open round the clock in the shipped config
MENU_KEY = "4"  # main menu -> "Messagerie" -> the email queue, one key
PATIENCE = 10.0**7  # simulated seconds: nobody gives up
IDLE_TARGET = 0.01
PWAIT_TARGET = 0.03
HANDOFF_TARGET_MS = 50.0
WARMUP_TALK = 5.0  # simulated seconds of each warm-up call
FINAL = frozenset({"completed", "abandoned", "voicemail", "self_served"})
PROGRESS_EVENTS = frozenset({"initiated", "ringing", "answered"})


# -- the timelines (pure) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Caller:
    """One measured caller; times are real seconds (monotonic)."""

    sid: str
    number: str
    ready: float  # gave the menu key that queues them: the IVR is over
    rung: float | None  # the leg of the hotliner who served them was placed
    bridged: float | None  # in the conference with their hotliner
    end: float | None  # their leg ended
    lost: str  # "" when served, else why not
    talk: float | None  # real seconds their hotliner talked with them
    redirected: float | None = None  # the app's REST redirect reached the call
    in_conference: float | None = None  # the caller entered the conference
    story: str = ""  # the end of a lost caller's transcript

    @property
    def waiting(self) -> tuple[float, float]:
        """Queue entry -> bridged (-> their end, or entry, when never bridged)."""
        return self.ready, self.bridged or self.end or self.ready

    @property
    def unassigned(self) -> tuple[float, float]:
        """Queue entry -> the serving hotliner's phone rings (or as `waiting`)."""
        return self.ready, self.rung or self.waiting[1]


@dataclass(frozen=True, slots=True)
class Leg:
    """One hotliner leg placed by the app (REST Calls.create)."""

    sid: str
    agent: str
    created: float  # the phone rings: the hotliner is no longer idle
    answered: float | None
    whisper: float | None  # the answer document started playing (whisper)
    in_conference: float | None  # the hotliner entered the conference
    bridged: float | None
    ended: float  # hung up: the hotliner is free (wrap-up 0)
    outcome: float | None  # the outcome POST returned
    peer: str | None  # the caller talked with
    progress_callbacks: float = 0.0  # initiated, ringing, answered: waited for
    end_note: str = ""  # final status and the transcript's last entry


@dataclass(frozen=True, slots=True)
class Figures:
    waited: int
    waited_beyond: int
    asa: float
    within_sl: int
    served: int
    total: int

    @property
    def p_wait(self) -> float:
        return self.waited / self.total if self.total else 0.0

    @property
    def p_beyond(self) -> float:
        return self.waited_beyond / self.total if self.total else 0.0

    @property
    def sl(self) -> float:
        return self.within_sl / self.total if self.total else 0.0


def merge(intervals: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Union of intervals, sorted and disjoint."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


class Hotliners:
    """Which hotliners are idle (logged in, no leg) at any moment of the run."""

    def __init__(
        self,
        busy: dict[str, Sequence[tuple[float, float]]],
        logged_in: dict[str, float],
    ) -> None:
        self.logged_in = dict(logged_in)
        self.busy = {agent: merge(busy.get(agent, [])) for agent in logged_in}

    def idle_at(self, t: float) -> int:
        """Hotliners logged in with no leg (not ringing, not talking) at t."""
        idle = 0
        for agent, since in self.logged_in.items():
            if t < since:
                continue
            spans = self.busy[agent]
            i = bisect.bisect_right(spans, (t, float("inf"))) - 1
            if i < 0 or not spans[i][0] <= t < spans[i][1]:
                idle += 1
        return idle

    def idle_while(self, waits: Sequence[tuple[float, float]]) -> tuple[float, float]:
        """(caller-seconds of `waits` with >= 1 hotliner idle, caller-seconds).

        An interval sweep: w(t) callers waiting, i(t) hotliners idle; the first
        figure integrates w(t) where i(t) > 0, the second w(t).
        """
        events: list[tuple[float, int, int]] = []  # (time, d waiting, d idle)
        for start, end in waits:
            events += [(start, 1, 0), (end, -1, 0)]
        for agent, since in self.logged_in.items():
            events.append((since, 0, 1))
            for start, end in self.busy[agent]:
                events += [(max(start, since), 0, -1), (max(end, since), 0, 1)]
        events.sort()
        waiting = idle = 0
        total = overlap = 0.0
        last = events[0][0] if events else 0.0
        for t, d_wait, d_idle in events:
            span = t - last
            total += waiting * span
            if idle > 0:
                overlap += waiting * span
            waiting += d_wait
            idle += d_idle
            last = t
        return overlap, total


def idle_spells(
    hotliners: Hotliners, waits: Sequence[tuple[float, float]], end: float
) -> list[tuple[float, str, float, float]]:
    """Each hotliner's idle spells with the caller-seconds waited meanwhile:
    (caller-seconds, agent, start, end), most costly first."""
    spells: list[tuple[float, str, float, float]] = []
    for agent, since in hotliners.logged_in.items():
        edge = since
        for start, stop in hotliners.busy[agent] + [(end, end)]:
            if start > edge:
                cost = sum(
                    max(0.0, min(stop_w, start) - max(start_w, edge))
                    for start_w, stop_w in waits
                )
                spells.append((cost, agent, edge, start))
            edge = max(edge, stop)
    return sorted(spells, reverse=True)


def had_to_wait(hotliners: Hotliners, callers: Sequence[Caller]) -> list[bool]:
    """Per caller: no hotliner was free for them when they entered the queue.

    Free for them: idle, and not owed to a caller who entered before them and
    has no hotliner ringing yet (FCFS): waited if idle <= unassigned ahead.
    This is the event Erlang C counts (all N busy on arrival), read from the
    timelines rather than from the wait's length, which overheads inflate.
    """
    out = []
    for n, c in enumerate(callers):
        ahead = sum(
            1
            for m, other in enumerate(callers)
            if m != n and other.unassigned[0] < c.ready < other.unassigned[1]
        )
        out.append(hotliners.idle_at(c.ready) <= ahead)
    return out


def handoffs(
    callers: Sequence[Caller], legs: Sequence[Leg]
) -> list[tuple[Leg, float, Caller]]:
    """Each hang-up while callers wait unassigned, and the next bridge.

    Hang-ups are taken in time order; each claims the earliest bridge, after
    it, of a caller who was then in the queue with no hotliner ringing for them
    and who is not claimed by an earlier hang-up: (the freed leg, real seconds
    to that bridge, that caller). A hang-up when every waiting caller already
    has a hotliner ringing, or is claimed, is no hand-off.
    """
    claimed: set[str] = set()
    out: list[tuple[Leg, float, Caller]] = []
    for leg in sorted((g for g in legs if g.peer is not None), key=lambda g: g.ended):
        free = leg.ended
        candidates = [
            c
            for c in callers
            if c.sid not in claimed
            and c.bridged is not None
            and c.unassigned[0] <= free < c.unassigned[1]
        ]
        if not candidates:
            continue
        nxt = min(candidates, key=lambda c: c.bridged or 0.0)
        claimed.add(nxt.sid)
        assert nxt.bridged is not None
        out.append((leg, nxt.bridged - free, nxt))
    return out


def figures(
    waits: Sequence[float | None],
    waited: Sequence[bool],
    beyond: float,
    sl_threshold: float,
) -> Figures:
    """P(wait), P(wait > beyond), ASA, SL from per-caller waits (None: lost)."""
    served = [w for w in waits if w is not None]
    return Figures(
        waited=sum(waited),
        waited_beyond=sum(1 for w in waits if w is None or w > beyond),
        asa=statistics.fmean(served) if served else float("nan"),
        within_sl=sum(1 for w in served if w <= sl_threshold),
        served=len(served),
        total=len(waits),
    )


# -- running the hotline ----------------------------------------------------------


HOTLINER_ENTRY = """  - id: {id}
    name: "Bench {id}"
    endpoint: "client:{id}"
    skills: {{{queue}: 3}}
    shifts: ["daily 00:00-00:00"]
"""

ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 15
  wrapup_seconds: 0
  max_missed_offers: 100
  announce_every_seconds: 30
  preferred_agent_hours: 0
  whisper: {whisper}
"""


def agent_ids(agents: int) -> list[str]:
    return [f"h{n:02d}" for n in range(1, agents + 1)]


def write_config(folder: Path, agents: int, whisper: str = "phones") -> Path:
    """The shipped configuration with N one-skill hotliners and wrap-up 0."""
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    entries = "".join(
        HOTLINER_ENTRY.format(id=agent, queue=QUEUE) for agent in agent_ids(agents)
    )
    (folder / "hotliners.yaml").write_text("hotliners:\n" + entries, encoding="utf-8")
    hotline = (folder / "hotline.yaml").read_text(encoding="utf-8")
    patched, count = re.subn(
        r"^routing:\n(?:[ #].*\n|\n)*",
        ROUTING.format(whisper=whisper),
        hotline,
        flags=re.MULTILINE,
    )
    if count != 1:
        raise SystemExit("config/hotline.yaml has no routing block to replace")
    (folder / "hotline.yaml").write_text(patched, encoding="utf-8")
    return folder


@dataclass
class Scenario:
    agents: int
    traffic: float
    talk: float  # mean, simulated seconds
    scale: float
    calls: int
    seed: int
    warmup: int
    sl_seconds: float  # simulated
    beyond_seconds: float  # simulated
    whisper: str = "phones"  # routing.whisper: the hotliners are on client:
    talks: dict[str, float] = field(default_factory=dict)  # number -> sim s
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rate(self) -> float:
        """Offered arrivals per real second."""
        return self.traffic / (self.talk * self.scale)

    def talk_time(self, number: str) -> float:
        with self.lock:
            return self.talks.get(number, self.talk)


@dataclass
class Run:
    callers: list[Caller]
    legs: list[Leg]
    logged_in: dict[str, float]
    errors: list[str]
    placement_lag: list[float]
    log_rows: list[tuple[str, float | None]]
    server: str
    load: tuple[float, float]  # 1-minute load average when placing began, ended
    jobs: dict[str, tuple[list[float], list[float]]]  # RQ: (queued s, ran s)
    notes: list[str]  # what went wrong before the measured calls
    webhooks: list[tuple[str, float]]  # (path, s) of every webhook, as timed


def first_at(call: Call, kind: str, after: float = 0.0) -> float | None:
    return next(
        (e.at for e in call.transcript if e.kind == kind and e.at >= after), None
    )


def collect(
    carrier: Carrier, measured: list[Call], agents: dict[str, str], since: float
) -> tuple[list[Caller], list[Leg]]:
    """Read the simulator's records of the measured callers and of the
    hotliners' legs placed from `since` on (a leg still up ends now)."""
    with carrier.board.lock:
        now = time.monotonic()
        legs: list[Leg] = []
        talks: dict[str, float] = {}
        rung: dict[str, float] = {}
        for call in carrier.calls.values():
            agent = agents.get(call.to)
            if (
                call.direction != "outbound-api"
                or agent is None
                or call.started_at < since
            ):
                continue
            legs.append(
                Leg(
                    sid=call.sid,
                    agent=agent,
                    created=call.started_at,
                    answered=call.answered_at,
                    whisper=first_at(call, "say"),
                    in_conference=first_at(call, "conference"),
                    bridged=call.connected_at,
                    ended=call.ended_at or now,
                    outcome=call.outcome_posted_at,
                    peer=call.peer_sid if call.talk_started else None,
                    end_note=(
                        f"{call.status}, {call.transcript[-1].kind} "
                        f"{call.transcript[-1].detail[:50]}"
                        if call.transcript
                        else call.status
                    ),
                    progress_callbacks=sum(
                        done - sent
                        for event, sent, done in call.callbacks_sent
                        if event in PROGRESS_EVENTS
                    ),
                )
            )
            if (
                call.peer_sid
                and call.connected_at is not None
                and call.ended_at is not None
                and call.talk_started
            ):
                talks[call.peer_sid] = call.ended_at - call.connected_at
                rung[call.peer_sid] = call.started_at
        callers: list[Caller] = []
        for call in measured:
            ready = first_at(call, "input")
            assert ready is not None, f"{call.sid} never gave its menu key"
            errors = [e.detail for e in call.transcript if e.kind == "error"]
            if call.is_live:
                lost = "still on the line at the end"
            elif errors:
                lost = f"error: {errors[0]}"
            elif call.connected_at is None:
                last = call.transcript[-1] if call.transcript else None
                lost = "never bridged" + (
                    f" ({last.kind} {last.detail})" if last else ""
                )
            elif call.sid not in talks:
                lost = "bridged but no hotliner talked with them"
            else:
                lost = ""
            callers.append(
                Caller(
                    sid=call.sid,
                    number=call.from_number,
                    ready=ready,
                    rung=rung.get(call.sid),
                    bridged=call.connected_at,
                    end=call.ended_at,
                    lost=lost,
                    talk=talks.get(call.sid),
                    redirected=first_at(call, "redirect", ready),
                    in_conference=first_at(call, "conference", ready),
                    story=lost_story(carrier, call, ready) if lost else "",
                )
            )
    callers.sort(key=lambda c: c.ready)
    return callers, legs


def story(call: Call, origin: float, last: int = 8) -> str:
    """The last transcript entries, ms after `origin`, hold music left out."""
    entries = [
        e for e in call.transcript if e.at >= origin and e.kind not in {"play", "wait"}
    ]
    return "; ".join(
        f"+{ms(e.at - origin)} {e.kind} {e.detail[:60]}".rstrip()
        for e in entries[-last:]
    )


def lost_story(carrier: Carrier, call: Call, origin: float) -> str:
    """A lost caller's last moments, and those of the hotliner legs that
    entered the same conference (lock held)."""
    rooms = {e.detail for e in call.transcript if e.kind == "conference"}
    redirected = first_at(call, "redirect", origin)
    lines = [f"caller: {story(call, origin)}"]
    for other in carrier.calls.values():
        in_room = any(
            e.kind == "conference" and e.detail in rooms for e in other.transcript
        )
        # a hotliner leg that never talked, placed shortly before the redirect
        near = (
            redirected is not None
            and other.direction == "outbound-api"
            and not other.talk_started
            and redirected - 2.0 <= other.started_at <= redirected
        )
        if other is not call and (in_room or near):
            lines.append(
                ("leg in their conference" if in_room else "leg that never talked")
                + f" {other.sid} to {other.to}, placed "
                f"{(other.started_at - origin) * 1000:+.0f}, {other.status}: "
                f"{story(other, origin)}"
            )
    return "\n      ".join(lines)


def rq_job_times(
    url: str, since: datetime
) -> dict[str, tuple[list[float], list[float]]]:
    """Per job function, seconds each job waited in RQ's queue and ran.

    From RQ's own job hashes (kept for their result TTL; the sweep keeps
    none), for jobs enqueued from `since` on.
    """
    client = redis.Redis.from_url(url)
    out: dict[str, tuple[list[float], list[float]]] = {}
    try:
        for key in client.scan_iter(match="rq:job:*", count=1000):
            fields = cast(
                list[bytes | None],
                client.hmget(
                    key, ["description", "enqueued_at", "started_at", "ended_at"]
                ),
            )
            if any(f is None for f in fields):
                continue
            text = [cast(bytes, f).decode() for f in fields]
            enqueued, started, ended = (rq_time(t) for t in text[1:])
            if enqueued is None or started is None or ended is None:
                continue
            if enqueued < since:
                continue
            name = text[0].split("(", 1)[0].rsplit(".", 1)[-1]
            queued, ran = out.setdefault(name, ([], []))
            queued.append((started - enqueued).total_seconds())
            ran.append((ended - started).total_seconds())
    finally:
        client.close()
    return out


def rq_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def call_log_rows(database_url: str, sids: set[str]) -> list[tuple[str, float | None]]:
    """(status, wait_seconds) of the measured calls in the app's call log."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT call_sid, status, wait_seconds FROM calls")
            ).all()
    finally:
        engine.dispose()
    return [(str(r[1]), r[2]) for r in rows if r[0] in sids]


def run(sc: Scenario, redis_url: str | None, db: int) -> Run:
    os.chdir(ROOT)  # `python -m gunicorn` and the worker import from their cwd
    with tempfile.TemporaryDirectory(prefix="fidelity-") as tmp:
        folder = Path(tmp)
        database_url = f"sqlite:///{folder / 'calllog.sqlite3'}"
        upgrade(database_url)
        config_dir = write_config(folder / "config", sc.agents, sc.whisper)
        with redis_server(redis_url, db, folder) as (url, _pid):
            client = redis.Redis.from_url(url)
            info = cast(dict[str, Any], client.info("server"))
            client.close()
            server = (
                f"{info.get('server_name', 'redis')} "
                f"{info.get('valkey_version') or info.get('redis_version')}"
            )
            port = free_port()
            app_url = f"http://127.0.0.1:{port}"
            carrier = Carrier(
                CarrierConfig(
                    account_sid=SIMULATOR_ACCOUNT_SID,
                    auth_token=SIMULATOR_AUTH_TOKEN,
                    voice_url=app_url + webhooks.INCOMING,
                    status_callback_url=app_url + webhooks.STATUS,
                    hotline_number="+33180000000",
                    time_scale=sc.scale,
                )
            )
            stack: Stack | None = None
            try:
                carrier.start(host="127.0.0.1", port=0)
                path = os.environ.get("PYTHONPATH", "")
                env = {
                    "REDIS_URL": url,
                    "DATABASE_URL": database_url,
                    "TWILIO_ACCOUNT_SID": "",
                    "TWILIO_AUTH_TOKEN": "",
                    "TWILIO_API_BASE_URL": carrier.api_base_url,
                    "PUBLIC_BASE_URL": app_url,
                    "HOTLINE_CONFIG": str(config_dir),
                    "HOTLINE_INSTANCE": str(folder / "instance"),
                    "SECRET_KEY": "",
                    # the processes run this checkout, whatever the current folder
                    "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
                }
                stack = Stack(env, port, folder / "logs")
                stack.start()
                return drive(sc, carrier, app_url, database_url, server, url)
            finally:
                carrier.stop()  # calls end first: their last callbacks land
                if stack is not None:
                    stack.stop()
                show_tracebacks(folder / "logs")
                keep = os.environ.get("FIDELITY_KEEP")
                if keep:  # logs and call log, to look at after the run
                    shutil.copytree(folder, keep, dirs_exist_ok=True)


def wait_all_available(
    console: AgentConsoleClient, agents: list[str], timeout: float
) -> dict[str, str]:
    """Waits until the app has every hotliner available; {} then, else their
    states at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        states = {a: str(console.agent(a).get("state")) for a in agents}
        others = {a: s for a, s in states.items() if s != "available"}
        if not others or time.monotonic() > deadline:
            return others
        time.sleep(0.2)


def bench_token(database_url: str) -> str:
    """A supervisor's API token on the bench's database: the simulated
    hotliners use the console API as people do, logged in."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        store = AccountStore(engine)
        if store.get("bench") is None:
            store.add("bench", "Bench", Role.SUPERVISOR)
        return store.issue_token("bench")
    finally:
        engine.dispose()


def drive(
    sc: Scenario,
    carrier: Carrier,
    app_url: str,
    database_url: str,
    server: str,
    redis_url: str,
) -> Run:
    console = AgentConsoleClient(app_url, token=bench_token(database_url))
    agents = {f"client:{a}": a for a in agent_ids(sc.agents)}
    logged_in: dict[str, float] = {}
    for endpoint, agent in agents.items():
        carrier.add_hotliner(
            HotlinerProfile(
                agent_id=agent,
                endpoint=endpoint,
                answer_after_seconds=0.0,
                talk_seconds=sc.talk,
                talk_time=sc.talk_time,
                console=console,
            )
        )
        logged_in[agent] = time.monotonic()
    rng = random.Random(sc.seed)
    # Warm-up: every process has served a call before the measured ones.
    with sc.lock:
        for n in range(sc.warmup):
            sc.talks[f"+33690{n:06d}"] = WARMUP_TALK
    warm = [
        carrier.place_call(
            CallerScript(
                f"+33690{n:06d}", inputs=[Digits(MENU_KEY)], patience_seconds=PATIENCE
            )
        )
        for n in range(sc.warmup)
    ]
    notes: list[str] = []
    if not carrier.wait_idle(10 + 10 * WARMUP_TALK * sc.scale):
        stuck = [c for c in warm if c.is_live]
        notes.append(
            f"warm-up: {len(stuck)} of {sc.warmup} calls still on the line after "
            f"{10 + 10 * WARMUP_TALK * sc.scale:.0f} s, hung up: "
            + "; ".join(lost_story(carrier, c, c.started_at) for c in stuck)
        )
        for c in stuck:
            carrier.hang_up(c.sid, "the bench ended a stuck warm-up call")
        carrier.wait_idle(30)
    if carrier.errors:
        raise SystemExit(f"warm-up errors: {carrier.errors}")
    states = wait_all_available(console, list(agents.values()), timeout=10.0)
    if states:
        notes.append(f"not every hotliner available at the start: {states}")
    logged_in = dict.fromkeys(logged_in, time.monotonic())
    numbers = [f"+33610{n:06d}" for n in range(sc.calls)]
    with sc.lock:
        for number in numbers:
            sc.talks[number] = rng.expovariate(1.0 / sc.talk)
    gaps = [rng.expovariate(sc.rate) for _ in numbers]
    measured: list[Call] = []
    lag: list[float] = []
    load_before = os.getloadavg()[0]
    wall = datetime.now(UTC)
    began = time.monotonic()
    due = began
    print(f"placing {sc.calls} calls over ~{sum(gaps):.0f} s ...", flush=True)
    for number, gap in zip(numbers, gaps, strict=True):
        due += gap
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        lag.append(time.monotonic() - due)
        measured.append(
            carrier.place_call(
                CallerScript(
                    number, inputs=[Digits(MENU_KEY)], patience_seconds=PATIENCE
                )
            )
        )
    # Still on the line this long after the last arrival: lost.
    carrier.wait_idle(max(30.0, 10 * sc.talk * sc.scale))
    callers, legs = collect(carrier, measured, agents, began)
    sids = {c.sid for c in measured}
    rows: list[tuple[str, float | None]] = []
    deadline = time.monotonic() + 15  # the worker drains the stream every second
    while time.monotonic() < deadline:
        try:
            rows = call_log_rows(database_url, sids)
        except Exception as exc:  # noqa: BLE001 - a cross-check only
            print(f"(call log not read: {exc!r})")
            break
        if sum(1 for status, _ in rows if status in FINAL) == len(sids):
            break
        time.sleep(0.5)
    load = (load_before, os.getloadavg()[0])
    try:
        jobs = rq_job_times(redis_url, wall)
    except redis.RedisError as exc:
        print(f"(RQ jobs not read: {exc!r})")
        jobs = {}
    return Run(
        callers,
        legs,
        logged_in,
        list(carrier.errors),
        lag,
        rows,
        server,
        load,
        jobs,
        notes,
        list(carrier.webhook_times),
    )


# -- the report -------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report(sc: Scenario, r: Run) -> list[str]:
    callers = r.callers
    n = len(callers)
    lost = [c for c in callers if c.lost]
    # Measured traffic: arrival rate from queue entries, AHT = talk as played.
    span = callers[-1].ready - callers[0].ready if n > 1 else float("nan")
    rate = (n - 1) / span if n > 1 else float("nan")
    talks = [c.talk for c in callers if c.talk is not None]
    aht = statistics.fmean(talks)
    traffic = rate * aht
    occupied = [g.ended - g.created for g in r.legs if g.peer]
    aht_busy = statistics.fmean(occupied) if occupied else float("nan")
    scale = sc.scale
    sl_t = sc.sl_seconds * scale
    beyond = sc.beyond_seconds * scale

    waits: list[float | None] = [
        (c.bridged - c.ready) if c.bridged is not None and not c.lost else None
        for c in callers
    ]
    hotliners = Hotliners(
        {
            a: [(g.created, g.ended) for g in r.legs if g.agent == a]
            for a in r.logged_in
        },
        r.logged_in,
    )
    waited = had_to_wait(hotliners, callers)
    measured = figures(waits, waited, beyond, sl_t)
    # The ideal router on the same callers: same entries, same talk times.
    arrivals = [c.ready for c in callers]
    handles = [
        c.talk if c.talk is not None else sc.talk_time(c.number) * scale
        for c in callers
    ]
    ideal_waits = erlang.fcfs_waits(arrivals, handles, sc.agents)
    ideal = figures(list(ideal_waits), [w > 0 for w in ideal_waits], beyond, sl_t)
    c_wait = erlang.erlang_c(sc.agents, traffic)
    e_asa = erlang.average_speed_of_answer(sc.agents, traffic, aht)
    e_beyond = erlang.wait_beyond(sc.agents, traffic, aht, beyond)
    e_sl = erlang.service_level(sc.agents, traffic, aht, sl_t)
    c_busy = erlang.erlang_c(sc.agents, rate * aht_busy)
    overlap, wait_total = hotliners.idle_while([c.waiting for c in callers])
    idle_share = overlap / wait_total if wait_total else 0.0
    unassigned, unassigned_total = hotliners.idle_while([c.unassigned for c in callers])
    end = max([g.ended for g in r.legs] + [c.waiting[1] for c in callers])
    worst = idle_spells(hotliners, [c.unassigned for c in callers], end)[:3]
    hand = handoffs(callers, r.legs)
    hand_ms = [d * 1000 for _, d, _ in hand]

    print()
    print(
        f"{sc.agents} hotliners, {sc.traffic:g} Erlangs offered, mean talk "
        f"{sc.talk:g} s simulated = {sc.talk * scale:g} s real (time scale "
        f"{scale:g}), {sc.calls} callers, seed {sc.seed}, whisper {sc.whisper}; "
        f"{r.server}, SQLite; "
        f"{os.cpu_count()} CPUs, load average {r.load[0]:.2f} -> {r.load[1]:.2f}"
    )
    print(
        f"arrivals: {n} callers entered the queue over {span:.1f} s: "
        f"{rate:.3f}/s measured ({sc.rate:.3f}/s offered); placement lag "
        f"p99 {ms(percentile(r.placement_lag, 0.99))} ms"
    )
    print(
        f"talk as played (bridged -> hotliner hangs up): AHT {aht:.3f} s, so "
        f"A = {traffic:.2f} Erlangs measured; a hotliner's leg lasted "
        f"{aht_busy:.3f} s on average (ringing -> hang-up)"
    )
    print()
    print(
        f"{'':28}{'measured':>10}{'ideal FCFS':>12}{'Erlang C':>10}{'meas/ideal':>12}"
    )

    def row(label: str, m: float, i: float, e: float, unit: str = "") -> None:
        ratio = m / i if i else float("inf")

        def fmt(v: float) -> str:
            return f"{v * 1000:.0f} ms" if unit == "s" else f"{v:.3f}"

        print(f"{label:28}{fmt(m):>10}{fmt(i):>12}{fmt(e):>10}{ratio:>11.2f}x")

    row("P(wait)", measured.p_wait, ideal.p_wait, c_wait)
    row(f"P(wait > {ms(beyond)} ms)", measured.p_beyond, ideal.p_beyond, e_beyond)
    row("ASA (mean wait)", measured.asa, ideal.asa, e_asa, "s")
    row(f"SL({ms(sl_t)} ms = {sc.sl_seconds:g} s sim)", measured.sl, ideal.sl, e_sl)
    served_waits = [w for w in waits if w is not None]
    print(
        f"{'wait p50 / p99 / max':28}"
        f"{ms(percentile(served_waits, 0.5))} / "
        f"{ms(percentile(served_waits, 0.99))} / "
        f"{ms(max(served_waits, default=float('nan')))} ms measured; "
        f"{ms(percentile(ideal_waits, 0.5))} / {ms(percentile(ideal_waits, 0.99))}"
        f" / {ms(max(ideal_waits, default=float('nan')))} ms ideal"
    )
    print(
        f"Erlang C with the leg time as handle time ({aht_busy:.3f} s, what the "
        f"ringing and bridging cost): P(wait) {c_busy:.3f}"
    )
    print()
    print(
        f"idle while waiting: {idle_share:.1%} of {wait_total:.1f} caller-seconds "
        f"of wait had >= 1 hotliner idle; of the {unassigned_total:.1f} s before "
        f"the caller's hotliner was rung, "
        f"{unassigned / unassigned_total if unassigned_total else 0.0:.1%}"
    )
    origin = callers[0].ready if callers else 0.0
    print(
        "  costliest idle spells (caller-seconds waited unrung meanwhile): "
        + "; ".join(
            f"{agent} idle {stop - start:.2f} s from {start - origin:.1f} s: {cost:.1f}"
            for cost, agent, start, stop in worst
            if cost > 0
        )
    )
    print(
        f"hand-off (hang-up while callers wait unrung -> next caller bridged), "
        f"{len(hand)} times: p50 {percentile(hand_ms, 0.5):.0f} ms, "
        f"p99 {percentile(hand_ms, 0.99):.0f} ms, "
        f"max {max(hand_ms, default=float('nan')):.0f} ms"
    )
    where_time_goes(callers, r.legs, hand, waited)
    if r.webhooks:
        print("webhooks as the simulator timed them (ms p50 / p99 / max, count):")
        by_path: dict[str, list[float]] = {}
        for path, seconds in r.webhooks:
            by_path.setdefault(path, []).append(seconds)
        for path, times in sorted(by_path.items(), key=lambda kv: -max(kv[1])):
            print(
                f"  {path:24} {ms(percentile(times, 0.5))} / "
                f"{ms(percentile(times, 0.99))} / {ms(max(times))}  ({len(times)})"
            )
    if r.jobs:
        print(
            "RQ jobs of the measured window (the app's worker, RQ's own times; "
            "ms queued p50/p99/max, ran p50/p99/max):"
        )
        for name, (queued, ran) in sorted(r.jobs.items()):
            print(
                f"  {name:24} {len(queued):5} jobs  queued "
                f"{ms(percentile(queued, 0.5))} / {ms(percentile(queued, 0.99))} / "
                f"{ms(max(queued))}  ran {ms(percentile(ran, 0.5))} / "
                f"{ms(percentile(ran, 0.99))} / {ms(max(ran))}"
            )
    if r.log_rows:
        logged = [w for s, w in r.log_rows if s == "completed" and w is not None]
        print(
            f"call log cross-check: {len(r.log_rows)} of {n} calls logged, "
            f"{sum(1 for s, _ in r.log_rows if s == 'completed')} completed; "
            f"its mean wait_seconds {ms(statistics.fmean(logged))} ms"
            if logged
            else "call log cross-check: no completed call logged"
        )
    silent = Counter(g.end_note for g in r.legs if g.peer is None)
    print(
        f"hotliner legs that never talked with a caller: {sum(silent.values())}"
        + "".join(f"; {count} ended: {note}" for note, count in silent.items())
    )
    for note in r.notes:
        print(f"note: {note}")
    print(f"lost callers: {len(lost)} of {n}; simulator errors: {len(r.errors)}")
    for c in lost[:10]:
        print(f"  lost {c.sid} {c.number}: {c.lost}")
        print(f"    ms after queue entry, {c.story}")
    for error in r.errors[:10]:
        print(f"  error: {error}")
    print(DEFINITIONS.format(beyond=ms(beyond), sl=ms(sl_t)))

    checks = [
        (
            idle_share <= IDLE_TARGET,
            f"idle while waiting {idle_share:.1%} (target <= {IDLE_TARGET:.0%})",
        ),
        (
            abs(measured.p_wait - c_wait) <= PWAIT_TARGET,
            f"|P(wait) - Erlang C| = |{measured.p_wait:.3f} - {c_wait:.3f}| = "
            f"{abs(measured.p_wait - c_wait):.3f} (target <= {PWAIT_TARGET})",
        ),
        (
            bool(hand_ms) and percentile(hand_ms, 0.99) < HANDOFF_TARGET_MS,
            f"hotliner free -> next caller bridged p99 "
            f"{percentile(hand_ms, 0.99):.0f} ms (target < {HANDOFF_TARGET_MS:.0f} ms)",
        ),
        (
            not lost and len(callers) == sc.calls,
            f"{len(lost)} lost callers of {sc.calls} (target 0)",
        ),
    ]
    print("\ntargets:")
    for ok, text in checks:
        print(f"  {text}: {'PASS' if ok else 'FAIL'}")
    record("bench/fidelity.py", [Figure(text, "", "", ok) for ok, text in checks])
    print(
        f"(for scale: the ideal router's P(wait) is {ideal.p_wait:.3f}, "
        f"{ideal.p_wait - c_wait:+.3f} from Erlang C on these same callers; "
        f"the router's own share: {measured.p_wait - ideal.p_wait:+.3f})"
    )
    within, spread = ideal_spread(sc, n)
    print(
        f"(sampling noise: an ideal router fed {n} Poisson callers of this "
        f"traffic lands within 0.03 of Erlang C on {within:.0%} of 200 seeds; "
        f"standard deviation {spread:.3f})"
    )
    return [text for ok, text in checks if not ok]


def ideal_spread(sc: Scenario, n: int, seeds: int = 200) -> tuple[float, float]:
    """How far a perfect router's P(wait) strays from Erlang C by chance alone
    on `n` callers: (share of seeds within 0.03, standard deviation)."""
    gaps: list[float] = []
    deltas: list[float] = []
    rate = sc.traffic / sc.talk  # per simulated second, like the talks
    for seed in range(seeds):
        rng = random.Random(10_000 + seed)
        t, arrivals = 0.0, []
        for _ in range(n):
            t += rng.expovariate(rate)
            arrivals.append(t)
        talks = [rng.expovariate(1.0 / sc.talk) for _ in range(n)]
        waits = erlang.fcfs_waits(arrivals, talks, sc.agents)
        measured_rate = (n - 1) / (arrivals[-1] - arrivals[0])
        traffic = measured_rate * statistics.fmean(talks)
        if traffic >= sc.agents:
            continue
        p = sum(1 for w in waits if w > 0) / n
        deltas.append(p - erlang.erlang_c(sc.agents, traffic))
        gaps.append(abs(deltas[-1]))
    within = sum(1 for g in gaps if g <= 0.03) / len(gaps)
    return within, statistics.pstdev(deltas)


def where_time_goes(
    callers: Sequence[Caller],
    legs: Sequence[Leg],
    hand: Sequence[tuple[Leg, float, Caller]],
    waited: Sequence[bool],
) -> None:
    """Milestones of a hand-off and of a caller who found a hotliner free."""
    by_agent: dict[str, list[Leg]] = {}
    for leg in sorted(legs, key=lambda g: g.created):
        by_agent.setdefault(leg.agent, []).append(leg)
    by_peer = {g.peer: g for g in legs if g.peer}
    steps: dict[str, list[float]] = {}
    same = 0
    for freed, _, caller in hand:
        free = freed.ended
        assert free is not None
        if freed.outcome is not None:
            steps.setdefault("outcome posted", []).append(freed.outcome - free)
        later = [g for g in by_agent[freed.agent] if g.created >= free]
        if later and later[0].peer == caller.sid:
            same += 1
        add_milestones(steps, free, by_peer.get(caller.sid), caller)
    print(
        f"  where it goes, ms after the hang-up (p50 / p99), {same} of {len(hand)}"
        f" served by the same hotliner:"
    )
    show(steps, ["outcome posted"] + MILESTONES)
    show(steps, ["(simulator callbacks)"])
    found: dict[str, list[float]] = {}
    count = 0
    for caller, w in zip(callers, waited, strict=True):
        if w or caller.lost:
            continue
        count += 1
        add_milestones(found, caller.ready, by_peer.get(caller.sid), caller)
    print(
        f"  a caller who found a hotliner free ({count}), ms after their menu key"
        " (p50 / p99):"
    )
    show(found, MILESTONES)
    show(found, ["(simulator callbacks)"])
    print(
        "  (simulator callbacks): the new leg's initiated, ringing and answered"
        " status callbacks, which the simulator waits for before the hotliner"
        " hears the whisper (Twilio sends them on the side)"
    )


MILESTONES = [
    "next leg rings",
    "hotliner answers",
    "whisper starts",
    "hotliner in conference",
    "caller redirected",
    "caller in conference",
    "bridged",
]


def add_milestones(
    steps: dict[str, list[float]], origin: float, leg: Leg | None, caller: Caller
) -> None:
    marks = {
        "caller redirected": caller.redirected,
        "caller in conference": caller.in_conference,
        "bridged": caller.bridged,
    }
    if leg is not None:
        steps.setdefault("(simulator callbacks)", []).append(leg.progress_callbacks)
        marks |= {
            "next leg rings": leg.created,
            "hotliner answers": leg.answered,
            "whisper starts": leg.whisper,
            "hotliner in conference": leg.in_conference,
        }
    for name, at in marks.items():
        if at is not None:
            steps.setdefault(name, []).append(at - origin)


def show(steps: dict[str, list[float]], names: Sequence[str]) -> None:
    print(
        "    "
        + "; ".join(
            f"{name} {ms(percentile(steps[name], 0.5))} / "
            f"{ms(percentile(steps[name], 0.99))}"
            for name in names
            if steps.get(name)
        )
    )


DEFINITIONS = """
definitions (times from the simulator, real time):
  queue entry  the caller gives the menu key that queues them (the IVR is over;
               the app enqueues while answering that request)
  bridged      caller and hotliner both in the conference (the simulator's
               switchboard); wait = bridged - queue entry, every overhead included
  idle         a hotliner logged in with no leg: not ringing, not talking; free
               the moment they hang up (wrap-up 0; posting the outcome is the
               system's time)
  P(wait)      share of callers for whom, on queue entry, idle hotliners <=
               callers ahead with no hotliner rung yet (no hotliner free for
               them, FCFS): the event Erlang C counts; ideal: wait > 0
  P(wait > {beyond} ms)  share of callers whose wait exceeded {beyond} ms
  SL           share answered within {sl} ms; ASA the mean wait of those served
  Erlang C     for the measured arrival rate (queue entries) and the measured
               AHT (talk as the simulator played it), N hotliners
  ideal FCFS   zero-overhead first-come-first-served with N servers fed the same
               queue entries and talk times
  idle while waiting   caller-seconds of wait during which >= 1 hotliner was
               idle, over all caller-seconds of wait (the target); the second
               figure counts only wait before the caller's hotliner is rung
  hand-off     each hang-up while callers wait with no hotliner rung for them,
               to the earliest later bridge of one of those callers (each
               bridge counted once)"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=10, help="hotliners (N)")
    parser.add_argument("--erlangs", type=float, default=8.0, help="offered traffic")
    parser.add_argument(
        "--talk-seconds", type=float, default=300.0, help="mean talk, simulated seconds"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=0.01,
        help="real seconds per simulated second",
    )
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--warmup", type=int, default=4, help="calls served before the measured ones"
    )
    parser.add_argument(
        "--sl-seconds",
        type=float,
        default=20.0,
        help="service level threshold T, simulated seconds",
    )
    parser.add_argument(
        "--beyond-seconds",
        type=float,
        default=10.0,
        help="threshold of P(wait > t), simulated seconds",
    )
    parser.add_argument("--quick", action="store_true", help="120 calls")
    parser.add_argument(
        "--whisper",
        choices=("always", "phones", "never"),
        default="phones",
        help="routing.whisper (shipped: phones; the bench's hotliners are on "
        "browser softphones, so 'always' adds the queue's name, ~1 s simulated)",
    )
    parser.add_argument("--redis-url", help="use this server (default: own Valkey)")
    parser.add_argument("--db", type=int, default=15, help="DB index with --redis-url")
    args = parser.parse_args(argv)
    if args.erlangs >= args.agents:
        parser.error("--erlangs must be below --agents (Erlang C has no steady state)")
    sc = Scenario(
        agents=args.agents,
        traffic=args.erlangs,
        talk=args.talk_seconds,
        scale=args.time_scale,
        calls=120 if args.quick else args.calls,
        seed=args.seed,
        warmup=args.warmup,
        sl_seconds=args.sl_seconds,
        beyond_seconds=args.beyond_seconds,
        whisper=args.whisper,
    )
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the REST access log
    began = time.monotonic()
    # The stand-in's own garbage collector would stop every simulated call for
    # a few hundred milliseconds now and then (it keeps every transcript): a
    # pause of the harness, not of the app. Reference counting still frees
    # what the run drops; cycles wait for the end.
    gc.disable()
    result = run(sc, args.redis_url, args.db)
    gc.enable()
    failures = report(sc, result)
    print(f"bench took {time.monotonic() - began:.0f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
