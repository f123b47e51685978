"""The hotliners' live feed under load: 50 consoles on SSE while calls come in.

Each of N hotliners logs in through the login form, as a person does, and
keeps their console's feed open (`GET /console/events`, server-sent events),
while the carrier simulator places Poisson callers who go to a queue, and the
N hotliners' simulated phones answer, talk and post their outcome. Every
offer therefore goes to a watched console.

Measured on the whole hotline as `hotline run` runs it (`cli.stack.Stack`:
the web's gunicorn with its shipped threads unless `--threads`, the feed's own
gunicorn, an RQ worker; own embedded Valkey unless `--redis-url`; SQLite in a
temporary folder). The consoles read their feed where the page does, from the
feed's processes; `--feed web` reads it from the web's processes instead (as
before the feed had its own), the web then given 64 threads unless told:

- offer -> pop-up: the moment a console reads the offer from its stream
  (wall clock, ms) minus the offer's `at` (the app's clock when the routing
  step made it); every offer made to a console (its own Redis stream) must
  reach it;
- the voice webhooks' answer times as the simulator saw them, in a run with
  no console open (baseline, first) and then in a run with the N consoles
  open: same seed, same callers, same work, a fresh stack each. `--rounds 2`
  runs baseline, loaded, loaded, baseline and pools each side, so a drift of
  the machine's load weighs on both alike.

The consoles run in a process of their own (browsers run on other machines):
reading them takes no turn of the interpreter lock from the simulator's
threads that time the webhooks. The CPU each part used during the calls is
printed per run. Each open feed holds one of its gunicorn's threads as long
as the console is open: too few threads shows here as consoles that never
connect, webhooks that time out (counted at Twilio's 15 s), or a run stopped
because the app no longer answers its API.

Targets (exit 1 naming each one missed): pop-up p99 < 300 ms, webhook p99
with the consoles < 1.10x without, every console connected and shown every
offer made to it.

120 calls a run by default (20 s of arrivals at 6/s; 240 until 2026-12, to
keep `make bench` short): the same load, half the sample. Each side then has
~840 webhooks (its p99 the 9th slowest) and the consoles ~120 offers; the
ratio of two p99s moves more from run to run than on 240 calls (it already
moved by tens of percent with the machine's weather): `--calls 240` or
`--rounds 2` before reading a few percent into it.

    python bench/console.py                      # 50 consoles, 120 calls (~1.5 min)
    python bench/console.py --calls 240          # twice the sample (~2 min)
    python bench/console.py --consoles 10 --calls 60   # a quick look
    python bench/console.py --rounds 2           # A B B A (~6 min)
    python bench/console.py --feed web           # feeds served by the web
    python bench/console.py --redis-url redis://127.0.0.1:6379 --db 15
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast

import redis
import requests
from argon2 import PasswordHasher
from requests.adapters import HTTPAdapter

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
from calllog.db import create_db_engine, upgrade  # noqa: E402
from cli.stack import Stack, gunicorn_command  # noqa: E402
from core.embedded_redis import free_port  # noqa: E402
from core.keys import Keys  # noqa: E402
from core.settings import (  # noqa: E402
    DEFAULT_CONFIG_DIR,
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
)
from queues import webhooks  # noqa: E402
from simulator.carrier import Carrier, CarrierConfig  # noqa: E402
from simulator.console import AgentConsoleClient  # noqa: E402
from simulator.errors import SimulatorError  # noqa: E402
from simulator.scripts import CallerScript, Digits, HotlinerProfile  # noqa: E402

POPUP_TARGET_MS = 300.0
WEBHOOK_RATIO_TARGET = 1.10
PASSWORD = "bench console password"
#: Main-menu keys that queue a caller at once, in queues open round the clock
#: in the shipped configuration: 4 email, 6 hardware.
MENU_KEYS = ("4", "6")
PATIENCE = 10.0**6  # simulated seconds: nobody gives up
WARMUP_CALLS = 6
WARMUP_TALK = 5.0  # simulated seconds
#: What Twilio waits for a webhook; one that timed out counts this long.
WEBHOOK_LIMIT = 15.0
OPEN_SECONDS = 20.0  # every feed must have its snapshot by then
LOGIN_SECONDS = 60.0  # for all the consoles to log in
RECONNECT_SECONDS = 1.0  # the feed's `retry:`, as a browser obeys it
LOGINS_AT_ONCE = 4  # consoles logging in together
#: A cheap password hash for the benches' accounts: the app's own costs tens
#: of milliseconds a hash and again a login, before anything is measured (the
#: web's timed work is the calls, not the logins).
CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)

HOTLINER_ENTRY = """  - id: {id}
    name: "Console {id}"
    endpoint: "client:{id}"
    skills: {{software: 3, printer: 3, network: 3, email: 3, account: 3,
             hardware: 3, general: 3}}
    shifts: ["daily 00:00-00:00"]
    languages: [fr-FR, en-US]
"""

ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 15
  wrapup_seconds: 0
  max_missed_offers: 100
  announce_every_seconds: 30
  preferred_agent_hours: 0
"""


@dataclass(frozen=True, slots=True)
class Scenario:
    consoles: int
    calls: int
    rate: float  # calls placed per real second
    seed: int
    scale: float
    talk: float  # mean talk, simulated seconds
    answer: float  # a hotliner picks up after this, simulated seconds

    def agents(self) -> list[str]:
        return [f"hl{n:02d}" for n in range(1, self.consoles + 1)]


@dataclass(frozen=True, slots=True)
class Offer:
    """An offer as one console read it: its `at` and when it arrived (ms)."""

    offer_id: str
    call_sid: str
    at: int
    received: float


@dataclass
class Phase:
    """What one run of the hotline gave."""

    consoles: bool
    threads: str  # how gunicorn was run
    webhooks: list[tuple[str, float]] = field(default_factory=list)
    timeouts: list[str] = field(default_factory=list)  # paths, no answer in 15 s
    errors: list[str] = field(default_factory=list)
    connected: int = 0
    made: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    seen: dict[str, list[Offer]] = field(default_factory=dict)
    accepted_unseen: int = 0  # missed offers whose call the console then got
    drops: list[str] = field(default_factory=list)  # "agent: why", each break
    open_times: list[float] = field(default_factory=list)  # s to the snapshot
    cpu: dict[str, float] = field(default_factory=dict)  # s during the calls
    measured_from: int = 0  # ms: offers from then on are timed
    load: tuple[float, float] = (0.0, 0.0)
    unfinished: int = 0


# -- the consoles -------------------------------------------------------------


class SourceAddress(HTTPAdapter):
    """Connections from one loopback address of the consoles' own.

    N desks log in from N machines: each console gets its own 127.0.1.x, so
    the web sees N client addresses as it would in an office.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **kwargs: Any
    ) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(connections, maxsize, block, **kwargs)


class Aborted(Exception):
    """A run could not go on: the app stopped answering."""


class LoginRefused(Exception):
    """The login form did not let a console in."""


def log_in(url: str, agent: str, n: int, timeout: float) -> requests.Session:
    """A session logged in through the login form (CSRF token and all)."""
    session = requests.Session()
    session.mount("http://", SourceAddress(f"127.0.1.{n + 1}"))
    page = session.get(f"{url}/login", timeout=timeout)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if found is None:
        raise LoginRefused(f"no CSRF token on the login page ({page.status_code})")
    answer = session.post(
        f"{url}/login",
        data={"username": agent, "password": PASSWORD, "csrf_token": found[1]},
        allow_redirects=False,
        timeout=timeout,
    )
    if answer.status_code != 302:
        raise LoginRefused(f"HTTP {answer.status_code} {answer.text[:100]}")
    return session


class ConsoleFeed(threading.Thread):
    """One console's `/console/events`, read as it comes; offers noted.

    Like a browser's EventSource: a dropped stream is opened again after a
    second with `Last-Event-ID`, a refusal (not 200) is final.
    """

    def __init__(self, url: str, agent: str, session: requests.Session) -> None:
        super().__init__(name=f"feed-{agent}", daemon=True)
        self.url = url
        self.agent = agent
        self.session = session
        self.connected = threading.Event()
        self.cursor = ""  # the first snapshot's stream id: offers after it are ours
        self.last_id = ""  # the last message's id, sent back on a reconnect
        self.offers: list[Offer] = []
        self.accepted: list[str] = []  # call sids of "accepted" messages
        self.drops: list[str] = []  # why the stream broke, each time it did
        self.began = 0.0  # monotonic: the first request was sent
        self.opened = 0.0  # monotonic: the first snapshot arrived
        self._closing = False
        self._response: requests.Response | None = None

    def run(self) -> None:
        self.began = time.monotonic()
        while not self._closing:
            try:
                if not self._follow():
                    return
                reason = "the server ended the stream"
            except Exception as exc:  # noqa: BLE001 - noted, then reported
                reason = f"{type(exc).__name__}: {exc}"[:200]
            if self._closing:
                return
            self.drops.append(reason)
            time.sleep(RECONNECT_SECONDS)

    def _follow(self) -> bool:
        """Reads one stream to its end; False when refused (final)."""
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        response = self.session.get(
            f"{self.url}/console/events",
            headers=headers,
            stream=True,
            timeout=(10, 60),
        )
        self._response = response
        if response.status_code != 200:
            self.drops.append(f"HTTP {response.status_code}, not retried")
            return False
        buffer = b""
        for chunk in response.iter_content(chunk_size=None):
            received = time.time() * 1000
            buffer += chunk
            while b"\n\n" in buffer:
                message, buffer = buffer.split(b"\n\n", 1)
                self._take(message.decode(), received)
        return True

    def _take(self, message: str, received: float) -> None:
        event_id, data = "", ""
        for line in message.split("\n"):
            if line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data = line[6:]
        if event_id:
            self.last_id = event_id
        if not data:
            return  # retry: or a keep-alive comment
        body = json.loads(data)
        kind = body.get("type")
        if kind == "snapshot" and not self.cursor:
            self.cursor = event_id
            self.opened = time.monotonic()
            self.connected.set()
        elif kind == "offer":
            self.offers.append(
                Offer(body["offer_id"], body["call_sid"], int(body["at"]), received)
            )
        elif kind == "accepted":
            self.accepted.append(str(body.get("call_sid", "")))

    def close(self) -> None:
        """Ends the feed: the socket is shut down first, which wakes the read
        blocked in the thread (closing alone would wait for it)."""
        self._closing = True
        if self._response is not None:
            with suppress(Exception):
                self._response.raw.shutdown()
            self.join(2.0)
            with suppress(Exception):
                self._response.close()
        self.session.close()


def offers_made(
    client: redis.Redis, keys: Keys, agent: str, after: str
) -> list[tuple[str, str]]:
    """(offer id, call sid) of every offer the routing made to `agent` after the
    stream id `after`: their console's own stream, written by the same step."""
    entries = cast(
        list[tuple[bytes, dict[bytes, bytes]]],
        client.xrange(keys.agent_events(agent), min=f"({after}", max="+"),
    )
    out = []
    for _, fields in entries:
        if fields.get(b"type") == b"offered":
            out.append((fields[b"offer"].decode(), fields[b"call"].decode()))
    return out


# -- running the hotline ------------------------------------------------------


def write_config(folder: Path, agents: Sequence[str]) -> Path:
    """The shipped configuration, N all-skill hotliners on duty, wrap-up 0."""
    shutil.copytree(DEFAULT_CONFIG_DIR, folder)
    entries = "".join(HOTLINER_ENTRY.format(id=agent) for agent in agents)
    (folder / "hotliners.yaml").write_text("hotliners:\n" + entries, encoding="utf-8")
    hotline = (folder / "hotline.yaml").read_text(encoding="utf-8")
    patched, count = re.subn(
        r"^routing:\n(?:[ #].*\n|\n)*", ROUTING, hotline, flags=re.MULTILINE
    )
    if count != 1:
        raise SystemExit("config/hotline.yaml has no routing block to replace")
    (folder / "hotline.yaml").write_text(patched, encoding="utf-8")
    return folder


@dataclass
class Hotline:
    url: str
    redis_url: str
    carrier: Carrier
    stack: Stack
    tokens: dict[str, str]  # agent -> API token
    logs: Path
    feed_url: str
    valkey_pid: int | None

    def cpu(self, consoles: int | None) -> dict[str, float]:
        """CPU seconds used so far by each part (`consoles`: their pid)."""
        groups = {c.name: c.pid for c in self.stack.children if c.pid is not None}
        single = {"valkey": self.valkey_pid, "consoles": consoles}
        used = cpu_seconds(
            {p: n for n, p in groups.items() if p is not None},
            {p: n for n, p in single.items() if p is not None},
        )
        own = os.times()
        used["simulator"] = own.user + own.system  # the bench's own process
        return used


@contextmanager
def hotline(
    sc: Scenario,
    redis_url: str | None,
    db: int,
    threads: int | None,
    supervisors: Sequence[str] = (),
    hasher: PasswordHasher | None = None,
) -> Iterator[Hotline]:
    """The whole hotline on fresh state, N hotliner accounts (and supervisor
    accounts named in `supervisors`, same password); all stopped after.

    `threads`: gunicorn threads per worker (None: as `cli.stack` ships it).
    `hasher`: the accounts' password hashing (a cheap one for a thousand
    hotliners who only ever use their API token; None: the app's).
    """
    os.chdir(ROOT)  # `python -m gunicorn` and the worker import from their cwd
    with ExitStack() as cleanup:
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        database_url = f"sqlite:///{folder / 'calllog.sqlite3'}"
        upgrade(database_url)
        engine = create_db_engine(database_url)
        store = AccountStore(engine, hasher)
        tokens = {}
        for agent in sc.agents():
            store.add(agent, f"Console {agent}", Role.HOTLINER, PASSWORD)
            tokens[agent] = store.issue_token(agent)
        for supervisor in supervisors:
            store.add(supervisor, f"Wallboard {supervisor}", Role.SUPERVISOR, PASSWORD)
            tokens[supervisor] = store.issue_token(supervisor)
        engine.dispose()
        config_dir = write_config(folder / "config", sc.agents())
        url, valkey_pid = cleanup.enter_context(redis_server(redis_url, db, folder))
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
                console_origins=(app_url,),
            )
        )
        path = os.environ.get("PYTHONPATH", "")
        env = {
            "REDIS_URL": url,
            "DATABASE_URL": database_url,
            "TWILIO_ACCOUNT_SID": "",
            "TWILIO_AUTH_TOKEN": "",
            "TWILIO_API_BASE_URL": "",  # set once the carrier has its port
            "PUBLIC_BASE_URL": app_url,
            "HOTLINE_CONFIG": str(config_dir),
            "HOTLINE_INSTANCE": str(folder / "instance"),
            "SECRET_KEY": "",
            # the processes run this checkout, whatever the current folder
            "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
        }
        started: list[Stack] = []

        def stop() -> None:
            carrier.stop()  # calls end first: their last callbacks land
            for stack in started:
                stack.stop()
            show_tracebacks(folder / "logs")

        carrier.start(host="127.0.0.1", port=0)
        cleanup.callback(stop)
        env["TWILIO_API_BASE_URL"] = carrier.api_base_url
        stack = Stack(env, port, folder / "logs")
        if threads is not None:  # `Stack` takes no thread count: its web command
            web = next(c for c in stack.children if c.name == "web")
            web.command = gunicorn_command(
                port, workers=stack.web_workers, threads=threads
            )
        started.append(stack)
        stack.start()
        yield Hotline(
            app_url,
            url,
            carrier,
            stack,
            tokens,
            folder / "logs",
            stack.feed_url,
            valkey_pid,
        )


def add_hotliner(
    h: Hotline, sc: Scenario, agent: str, talks: Mapping[str, float] | None = None
) -> None:
    """A simulated hotliner of the scenario, made available through their
    console's API (`talks`: each caller number's talk, simulated seconds)."""
    h.carrier.add_hotliner(
        HotlinerProfile(
            agent_id=agent,
            endpoint=f"client:{agent}",
            answer_after_seconds=sc.answer,
            talk_seconds=sc.talk,
            talk_time=talks.__getitem__ if talks is not None else None,
            console=AgentConsoleClient(h.url, token=h.tokens[agent]),
        )
    )


def cpu_seconds(groups: dict[int, str], single: dict[int, str]) -> dict[str, float]:
    """User + system CPU seconds, from /proc, of the processes in each process
    group of `groups` (pgid -> name) and of each process of `single`."""
    tick = os.sysconf("SC_CLK_TCK")
    used = dict.fromkeys([*groups.values(), *single.values()], 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ... utime stime: comm may hold spaces.
        fields = stat[stat.rindex(")") + 2 :].split()
        name = single.get(int(entry.name)) or groups.get(int(fields[2]))
        if name is not None:
            used[name] += (int(fields[11]) + int(fields[12])) / tick
    return used


#: What the consoles' process tells of one feed: the hotliner, the snapshot's
#: stream id, seconds from request to snapshot (None: never), the offers read
#: (offer id, call sid, at, received ms), the call sids of the "accepted"
#: messages, why the stream broke each time it did. Plain tuples: they are
#: pickled between two processes.
FeedReport = tuple[
    str, str, float | None, list[tuple[str, str, int, float]], list[str], list[str]
]


def run_consoles(url: str, feed_url: str, agents: list[str], conn: Connection) -> None:
    """The consoles' own process: log in, open every feed, read until told.

    Apart from the simulator, so reading N feeds takes no turn of the
    interpreter lock from the simulator's threads that time the webhooks
    (N browsers run on N machines; here they share only the CPUs).
    """
    gc.disable()
    feeds: list[ConsoleFeed] = []
    failed: list[FeedReport] = []
    lock = threading.Lock()
    deadline = time.monotonic() + LOGIN_SECONDS

    def open_console(n: int, agent: str) -> None:
        """Log in, then open the feed at once."""
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise LoginRefused(f"not tried: logins took over {LOGIN_SECONDS:g} s")
            session = log_in(url, agent, n, timeout=left)
        except (LoginRefused, requests.RequestException) as exc:
            with lock:
                failed.append((agent, "", None, [], [], [f"login: {exc}"[:200]]))
            return
        feed = ConsoleFeed(feed_url, agent, session)
        feed.start()
        with lock:
            feeds.append(feed)

    # A few at a time, as people arriving together: each login costs the web
    # a password hash (its own cost), which one at a time left a core idle.
    with ThreadPoolExecutor(LOGINS_AT_ONCE) as pool:
        list(pool.map(open_console, range(len(agents)), agents))
    deadline = time.monotonic() + OPEN_SECONDS
    for feed in feeds:
        feed.connected.wait(max(0.0, deadline - time.monotonic()))
    conn.send(sum(1 for f in feeds if f.connected.is_set()))
    conn.recv()  # the calls are over
    reports: list[FeedReport] = [
        (
            f.agent,
            f.cursor,
            f.opened - f.began if f.opened else None,
            [(o.offer_id, o.call_sid, o.at, o.received) for o in list(f.offers)],
            list(f.accepted),
            list(f.drops),
        )
        for f in feeds
    ] + failed
    conn.send(reports)
    for feed in feeds:
        feed.close()


class Consoles:
    """N logged-in consoles with their feed open, in a process of their own."""

    def __init__(self, url: str, feed_url: str, agents: Sequence[str]) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of our threads
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=run_consoles,
            args=(url, feed_url, list(agents), child),
            name="consoles",
            daemon=True,
        )
        self._process.start()
        child.close()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def wait_open(self, timeout: float) -> int:
        """How many feeds are open, once every console logged in and its feed
        opened or OPEN_SECONDS passed."""
        if not self._conn.poll(timeout):
            raise SystemExit(f"the consoles did not log in within {timeout:g} s")
        return int(self._receive())

    def collect(self) -> list[FeedReport]:
        """Every feed's report; the feeds close."""
        self._conn.send("stop")
        return cast(list[FeedReport], self._receive())

    def _receive(self) -> Any:
        try:
            return self._conn.recv()
        except EOFError:
            self._process.join(5.0)
            raise SystemExit(
                f"the consoles' process ended (exit {self._process.exitcode})"
            ) from None

    def close(self) -> None:
        self._process.join(10.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5.0)
        self._conn.close()


def threads_of(command: Sequence[str]) -> str:
    def value(flag: str) -> str:
        return command[command.index(flag) + 1] if flag in command else "?"

    return f"{value('--workers')} workers x {value('--threads')} threads"


def run_phase(
    sc: Scenario,
    redis_url: str | None,
    db: int,
    threads: int | None,
    with_consoles: bool,
    feed: str,
) -> Phase:
    rng = random.Random(sc.seed)  # the same callers and work in either phase
    numbers = [f"+33611{n:06d}" for n in range(sc.calls)]
    talks = {number: rng.expovariate(1.0 / sc.talk) for number in numbers}
    keys = {number: rng.choice(MENU_KEYS) for number in numbers}
    gaps = [rng.expovariate(sc.rate) for _ in numbers]
    warm = [f"+33690{n:06d}" for n in range(WARMUP_CALLS)]
    talks |= dict.fromkeys(warm, WARMUP_TALK)
    with (
        hotline(sc, redis_url, db, threads, hasher=CHEAP) as h,
        ExitStack() as feeds_open,
    ):
        web = next(c for c in h.stack.children if c.name == "web")
        phase = Phase(consoles=with_consoles, threads=threads_of(web.command))
        consoles: Consoles | None = None
        if with_consoles:
            feed_url = h.feed_url if feed == "own" else h.url
            consoles = Consoles(h.url, feed_url, sc.agents())
            feeds_open.callback(consoles.close)
            phase.connected = consoles.wait_open(
                timeout=2 * LOGIN_SECONDS + OPEN_SECONDS + 30.0
            )
        for agent in sc.agents():
            try:
                add_hotliner(h, sc, agent, talks)
            except SimulatorError as exc:  # the app does not answer its API
                raise Aborted(
                    f"{'loaded' if with_consoles else 'baseline'} run "
                    f"({phase.threads}, {phase.connected} of {sc.consoles} consoles"
                    f" open): {agent} could not be set available: {exc}"
                ) from None
        # Warm-up: every process has served a call before the measured ones.
        for number in warm:
            h.carrier.place_call(
                CallerScript(number, inputs=[Digits("4")], patience_seconds=PATIENCE)
            )
        h.carrier.wait_idle(30.0)
        with h.carrier.board.lock:
            first_webhook = len(h.carrier.webhook_times)
            first_error = len(h.carrier.errors)
        phase.measured_from = int(time.time() * 1000)
        consoles_pid = consoles.pid if consoles is not None else None
        cpu_before = h.cpu(consoles_pid)
        phase.load = (os.getloadavg()[0], 0.0)
        print(
            f"  placing {sc.calls} calls over ~{sum(gaps):.0f} s"
            + (f" with {phase.connected} consoles open" if with_consoles else "")
            + " ...",
            flush=True,
        )
        place_calls(h.carrier, numbers, gaps, keys)
        if not h.carrier.wait_idle(max(30.0, 20 * sc.talk * sc.scale)):
            with h.carrier.board.lock:
                phase.unfinished = sum(1 for c in h.carrier.calls.values() if c.is_live)
        phase.load = (phase.load[0], os.getloadavg()[0])
        phase.cpu = {
            name: used - cpu_before.get(name, 0.0)
            for name, used in h.cpu(consoles_pid).items()
        }
        with h.carrier.board.lock:
            phase.webhooks = list(h.carrier.webhook_times[first_webhook:])
            phase.errors = list(h.carrier.errors[first_error:])
        phase.timeouts = [
            timed_out_path(e) for e in phase.errors if "no answer within" in e
        ]
        if consoles is not None:
            time.sleep(1.0)  # the last calls' messages are on their way
            take(phase, consoles.collect(), h.redis_url)
        return phase


def place_calls(
    carrier: Carrier,
    numbers: Sequence[str],
    gaps: Sequence[float],
    keys: dict[str, str],
) -> list[float]:
    """Place one caller per number, each `gap` seconds after the one before
    (on schedule whatever placing takes), pressing their menu key; how late
    each was placed (s): the simulator's own lag, when the machine is full."""
    due = time.monotonic()
    late: list[float] = []
    for number, gap in zip(numbers, gaps, strict=True):
        due += gap
        pause = due - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        late.append(max(0.0, -pause))
        carrier.place_call(
            CallerScript(
                number, inputs=[Digits(keys[number])], patience_seconds=PATIENCE
            )
        )
    return late


def take(phase: Phase, reports: list[FeedReport], redis_url: str) -> None:
    """The feeds' reports against the offers made to each hotliner (their own
    stream, from the snapshot's id on)."""
    client = redis.Redis.from_url(redis_url)
    try:
        k = Keys()  # the app's default prefix, as `Runtime` uses
        for agent, cursor, opened, offers, accepted, drops in reports:
            if opened is not None:
                phase.open_times.append(opened)
            if cursor:
                phase.made[agent] = offers_made(client, k, agent, cursor)
            phase.seen[agent] = [Offer(*offer) for offer in offers]
            phase.drops += [f"{agent}: {reason}" for reason in drops]
            seen = {offer[0] for offer in offers}
            phase.accepted_unseen += sum(
                1
                for offer_id, call in phase.made.get(agent, [])
                if offer_id not in seen and call in accepted
            )
    finally:
        client.close()


def timed_out_path(error: str) -> str:
    found = re.search(r"https?://[^/\s]+(/[^\s:?]*)", error)
    return found[1] if found else "?"


# -- the report ---------------------------------------------------------------


def webhook_seconds(phases: Sequence[Phase]) -> list[float]:
    """Every voice webhook's answer time; one never answered counts 15 s."""
    answered = [seconds for phase in phases for _, seconds in phase.webhooks]
    timeouts = sum(len(phase.timeouts) for phase in phases)
    return answered + [WEBHOOK_LIMIT] * timeouts


def by_path(phases: Sequence[Phase]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for phase in phases:
        for path, seconds in phase.webhooks:
            out.setdefault(path, []).append(seconds)
        for path in phase.timeouts:
            out.setdefault(path, []).append(WEBHOOK_LIMIT)
    return out


def ms_line(values: Sequence[float]) -> str:
    """p50, p99, max (ms) and count of answer times in seconds."""
    return (
        f"{percentile(values, 0.5) * 1000:7.0f}{percentile(values, 0.99) * 1000:7.0f}"
        f"{max(values, default=float('nan')) * 1000:8.0f}{len(values):7}"
    )


def report(sc: Scenario, phases: Sequence[Phase]) -> list[str]:
    failures: list[str] = []
    base = [p for p in phases if not p.consoles]
    loaded = [p for p in phases if p.consoles]
    print()
    print(
        f"{sc.consoles} consoles, {sc.calls} calls at {sc.rate:g}/s (seed {sc.seed}),"
        f" time scale {sc.scale:g}, mean talk {sc.talk:g} s simulated, answer after"
        f" {sc.answer:g} s; web gunicorn {phases[0].threads}; {os.cpu_count()} CPUs"
    )
    print(
        "runs, in order: "
        + ", ".join(
            f"{'loaded' if p.consoles else 'baseline'} (load average "
            f"{p.load[0]:.2f} -> {p.load[1]:.2f})"
            for p in phases
        )
    )

    parts = ("web", "feed", "worker-0", "valkey", "simulator", "consoles")
    print(f"{'CPU seconds during the calls':30}" + "".join(f"{n:>10}" for n in parts))
    for phase in phases:
        print(
            f"  {'loaded' if phase.consoles else 'baseline':28}"
            + "".join(
                f"{phase.cpu[n]:10.1f}" if n in phase.cpu else f"{'-':>10}"
                for n in parts
            )
        )

    # offer -> pop-up
    print()
    for n, phase in enumerate(loaded, 1):
        label = f"loaded run {n}: " if len(loaded) > 1 else ""
        print(
            f"{label}consoles connected: {phase.connected} of {sc.consoles}; "
            f"feed opened (request -> snapshot) p50 "
            f"{percentile(phase.open_times, 0.5) * 1000:.0f} ms, max "
            f"{max(phase.open_times, default=float('nan')) * 1000:.0f} ms"
        )
        if phase.connected < sc.consoles:
            failures.append(
                f"{label}{phase.connected} of {sc.consoles} consoles connected "
                f"within {OPEN_SECONDS:g} s"
            )
    made = missing = on = unseen_accepted = 0
    for phase in loaded:
        for agent, offers in phase.made.items():
            seen = {o.offer_id for o in phase.seen.get(agent, [])}
            lost = [o for o, _ in offers if o not in seen]
            made += len(offers)
            missing += len(lost)
            on += 1 if lost else 0
        unseen_accepted += phase.accepted_unseen
    shown = sum(len(v) for phase in loaded for v in phase.seen.values())
    print(
        f"offers: {made} made to the open consoles (their own streams), {shown} "
        f"shown; {missing} never shown, on {on} consoles"
        + (
            f" ({unseen_accepted} of them then shown as their call's 'accepted')"
            if missing
            else ""
        )
    )
    timed = [
        o.received - o.at
        for phase in loaded
        for offers in phase.seen.values()
        for o in offers
        if o.at >= phase.measured_from
    ]
    p99 = percentile(timed, 0.99)
    ok = bool(timed) and p99 < POPUP_TARGET_MS
    print(
        f"offer -> pop-up ({len(timed)} offers of the measured calls), ms: "
        f"p50 {percentile(timed, 0.5):.0f}, p95 {percentile(timed, 0.95):.0f}, "
        f"p99 {p99:.0f}, max {max(timed, default=float('nan')):.0f} "
        f"(target p99 < {POPUP_TARGET_MS:.0f}) {'PASS' if ok else 'FAIL'}"
    )
    for phase in loaded:
        if phase.drops:
            print(
                f"  feed troubles (a broken stream is reopened, as a browser does): "
                f"{len(phase.drops)}; " + "; ".join(phase.drops[:3])
            )
    popup_p99, popup_ok = p99, ok
    if not ok:
        failures.append(
            f"offer -> pop-up p99 {p99:.0f} ms (target < {POPUP_TARGET_MS:.0f} ms)"
        )
    if missing:
        failures.append(f"{missing} offers of {made} never shown, on {on} consoles")

    # voice webhooks
    a, b = webhook_seconds(base), webhook_seconds(loaded)
    a50, a99 = percentile(a, 0.5), percentile(a, 0.99)
    b50, b99 = percentile(b, 0.5), percentile(b, 0.99)
    ratio = b99 / a99 if a99 else float("inf")
    connected = min(p.connected for p in loaded)
    print()
    print(f"{'voice webhooks, ms':34}{'p50':>7}{'p99':>7}{'max':>8}{'count':>7}")
    if len(phases) > 2:
        for phase in phases:
            label = "with consoles" if phase.consoles else "without"
            print(f"  {'one run ' + label:32}{ms_line(webhook_seconds([phase]))}")
    for label, values, group in (
        ("without consoles (baseline)", a, base),
        (f"with {connected} consoles open", b, loaded),
    ):
        timeouts = sum(len(p.timeouts) for p in group)
        print(
            f"  {label:32}{ms_line(values)}"
            + (f"  ({timeouts} timed out, counted 15 s)" if timeouts else "")
        )
    ok = ratio < WEBHOOK_RATIO_TARGET
    print(
        f"  with / without: p50 {b50 / a50:.2f}x, p99 {ratio:.2f}x "
        f"(target p99 < {WEBHOOK_RATIO_TARGET:.2f}x) {'PASS' if ok else 'FAIL'}"
    )
    if not ok:
        failures.append(
            f"webhook p99 {b99 * 1000:.0f} ms with consoles vs {a99 * 1000:.0f} ms "
            f"without = {ratio:.2f}x (target < {WEBHOOK_RATIO_TARGET:.2f}x)"
        )
    print("  by path, p99 ms without / with (count):")
    paths_a, paths_b = by_path(base), by_path(loaded)
    for path in sorted(set(paths_a) | set(paths_b)):
        pa, pb = paths_a.get(path, []), paths_b.get(path, [])
        print(
            f"    {path:26}{percentile(pa, 0.99) * 1000:6.0f} /"
            f"{percentile(pb, 0.99) * 1000:6.0f}  ({len(pa)} / {len(pb)})"
        )
    record(
        "bench/console.py",
        [
            Figure(
                f"offer -> hotliner's pop-up, {connected} consoles open: p99",
                f"{popup_p99:.0f} ms ({missing} never shown)",
                f"< {POPUP_TARGET_MS:.0f} ms",
                popup_ok and not missing,
            ),
            Figure(
                "voice webhook p99 with the consoles open",
                f"{b99 * 1000:.0f} ms",
                f"< {WEBHOOK_RATIO_TARGET:.2f}x without",
                ok,
                f"without consoles {a99 * 1000:.0f} ms",
                f"{ratio:.2f}x",
            ),
        ],
    )
    for phase in phases:
        name = "loaded" if phase.consoles else "baseline"
        if phase.unfinished:
            print(f"  {name}: {phase.unfinished} calls still on the line at the end")
        for error in phase.errors[:5]:
            print(f"  {name} simulator error: {error[:200]}")
        if len(phase.errors) > 5:
            print(f"  {name}: {len(phase.errors)} simulator errors in all")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--calls", type=int, default=120, help="per run")
    parser.add_argument("--rate", type=float, default=6.0, help="calls per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--time-scale", type=float, default=0.1, help="real s per simulated s"
    )
    parser.add_argument(
        "--talk-seconds", type=float, default=20.0, help="mean talk, simulated s"
    )
    parser.add_argument(
        "--answer-seconds",
        type=float,
        default=2.0,
        help="a hotliner picks up after, simulated s",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="1: baseline then loaded; 2: baseline, loaded, loaded, baseline...",
    )
    parser.add_argument(
        "--threads", type=int, help="gunicorn threads per worker (default: shipped)"
    )
    parser.add_argument(
        "--feed",
        choices=("own", "web"),
        default="own",
        help="who serves the consoles' feed: its own processes (shipped) or the web",
    )
    parser.add_argument("--redis-url", help="use this server (default: own Valkey)")
    parser.add_argument("--db", type=int, default=15, help="DB index with --redis-url")
    args = parser.parse_args(argv)
    if not 1 <= args.consoles <= 250:
        parser.error("--consoles: 1 to 250 (one loopback address each)")
    if args.rounds < 1:
        parser.error("--rounds: 1 or more")
    sc = Scenario(
        consoles=args.consoles,
        calls=args.calls,
        rate=args.rate,
        seed=args.seed,
        scale=args.time_scale,
        talk=args.talk_seconds,
        answer=args.answer_seconds,
    )
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the REST access log
    logging.getLogger("simulator").setLevel(logging.ERROR)  # errors are counted
    began = time.monotonic()
    # The simulator keeps every transcript: a full collection would stop every
    # simulated call (and every console reader) now and then, a pause of the
    # harness, not of the app.
    gc.disable()
    # Baseline first; each further round reversed (A B B A ...).
    plan = [
        with_consoles
        for n in range(args.rounds)
        for with_consoles in ((False, True) if n % 2 == 0 else (True, False))
    ]
    phases: list[Phase] = []
    threads = args.threads
    if args.feed == "web" and threads is None:
        threads = 64  # what the web shipped with while it served the feeds
    print(f"consoles' feed served by: {args.feed}", flush=True)
    for with_consoles in plan:
        what = f"{sc.consoles} consoles open" if with_consoles else "no console open"
        print(f"{'loaded' if with_consoles else 'baseline'}: {what} ...", flush=True)
        try:
            phases.append(
                run_phase(
                    sc, args.redis_url, args.db, threads, with_consoles, args.feed
                )
            )
        except Aborted as exc:
            print(f"bench took {time.monotonic() - began:.0f} s")
            print(f"FAIL: {exc}")
            return 1
    gc.enable()
    failures = report(sc, phases)
    print(f"bench took {time.monotonic() - began:.0f} s")
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
