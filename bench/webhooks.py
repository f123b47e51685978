"""What a signed IVR step costs over a bare Flask endpoint, under gunicorn as
the Procfile runs it.

Twilio waits for every voice webhook while the caller hears silence, so the
hotline's own work per step (the signature check, the call's state in Redis,
the menu's TwiML) must stay a small share of what the server itself costs,
and answer fast at a help desk's peak. Two servers run side by side (started
together), each with the Procfile's `web` gunicorn line (its arguments read from the
Procfile: 2 workers, 16 gthread threads, no access log; bound to 127.0.0.1
on a free port):

- hotline: `web:create_app()` on its own embedded Valkey and a temporary
  SQLite call log (migrated), a copy of the shipped configuration, known Twilio
  credentials and `PUBLIC_BASE_URL`, so the bench signs its requests as
  Twilio does. Only the web process: no RQ worker, no consoles' feed, nobody
  logged in (the measured step needs no hotliner). `TWILIO_API_BASE_URL`
  points at a closed local port: nothing leaves the machine;
- bare (the baseline): `bench.bare_app`, one POST route at the same path
  answering a fixed small `<Gather>` document; no signature check, no Redis.

The measured request is the IVR step a caller makes most: at the first menu
(`accueil`), key 2, printer, answered by the printer sub-menu. CALLS calls
are first created by signed `POST /voice/incoming` (Twilio's form: CallSid,
From, To, AccountSid, CallStatus...); the measured request is a signed POST
to the action URL the app answered (`/voice/menu?node=accueil&attempt=1&
lang=fr-FR&v=...`) with `Digits=2`, each call in turn. Every request is
built (and signed) before the timed region; both servers get the very same
bytes (the bare app ignores them). An answer counts when it is HTTP 200 and
holds the printer sub-menu's `<Gather>`; anything else is an error.

The load comes from `--client-processes` forked processes (2), each with
threads on keep-alive HTTP/1.1 sockets speaking raw bytes (no HTTP library
in the loop), so the client costs little of the machine it shares:

- closed loop: `--clients` (16) clients send, wait for the answer, send
  again, for `--closed-seconds` (10) after 1 s of warm-up: requests/s is the
  capacity; target hotline >= 0.7x bare. A mean over 10 s is already over
  8,000 answers on this machine (hotline ~800-1,200/s, bare ~3,000/s): a
  longer window adds no precision, only the machine's weather;
- open loop: arrivals at a fixed `--rate` (200/s) for `--seconds` (15), each
  sent at its scheduled time whatever the answers before it (64 senders),
  latency timed from the scheduled send time, so a stall counts for every
  request it delays (free of coordinated omission): p50, p99, p99.9; target
  hotline p99 <= 50 ms. 3,000 arrivals a run: the p99 is the 30th slowest.

The ladder (`bench.ladder_apps`; `--no-ladder` leaves it out): two more
servers under the same gunicorn line, measured in the closed loop once each,
say where the step's cost over the bare endpoint goes:

- framework: the hotline's own app (every extension and hook) whose menu
  route answers the bare app's fixed TwiML;
- unwritten: the real signed step without its one write to Redis (the
  caller's answer kept for their hotliner and the call log).

From the four, the whole machine's CPU a request (every process in the
window), and what the ratio target leaves the step over the framework's
own, beside one Redis round trip's client CPU (PINGs timed in this process).

Each measured window also gives CPU from /proc: the server's gunicorn
(master and workers) per request, Valkey, the client processes (share of a
core: well under 1 means they kept up), and every other process on the
machine. `--rounds 2` runs bare, hotline, hotline, bare for each loop and
pools each side. Exit 1 naming each target missed (every answer must also be
a 200 with the expected TwiML).

    python bench/webhooks.py                  # 10 s closed, 15 s open a run (~1 min)
    python bench/webhooks.py --seconds 5 --closed-seconds 5   # a quick look
    python bench/webhooks.py --rounds 2 --rate 100
    python bench/webhooks.py --no-ladder      # bare and hotline only
"""

from __future__ import annotations

import argparse
import gc
import itertools
import multiprocessing
import os
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import redis
import requests
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.harness import (  # noqa: E402
    Figure,
    percentile,
    record,
    redis_server,
    show_tracebacks,
    sleep_until,
)
from calllog.db import upgrade  # noqa: E402
from cli.stack import WEB_APP, ManagedProcess  # noqa: E402
from core.embedded_redis import free_port  # noqa: E402
from core.settings import DEFAULT_CONFIG_DIR, DOCUMENTED_VARIABLES  # noqa: E402

BARE_APP = "bench.bare_app:create_app()"
#: The ladder's rungs (`bench.ladder_apps`), measured in the closed loop only.
LADDER = {
    "framework": "bench.ladder_apps:framework()",
    "unwritten": "bench.ladder_apps:unwritten()",
}
PINGS = 2000  # round trips timed for a Redis round trip's client CPU
#: Known credentials: the bench signs as Twilio would with them.
ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "bench0webhooks0auth0token0000000"
PUBLIC = "https://hotline.invalid"  # PUBLIC_BASE_URL: what the signatures cover
HOTLINE_NUMBER = "+33180000000"
INCOMING = "/voice/incoming"
MENU = "/voice/menu"
#: The measured step's URL must be the first menu's, first attempt, French.
MENU_QUERY = {"node": ["accueil"], "attempt": ["1"], "lang": ["fr-FR"]}
#: What the printer sub-menu's answer holds (the bare app's too).
MARK = b"node=menu_imprimante"
CALLS = 256  # calls created, then used in turn
CLOSED_WARMUP = 1.0  # s of load before a closed-loop window
OPEN_WARMUP = 1.0  # s of arrivals before an open-loop window
OPEN_SENDERS = 64  # open loop: requests in flight at most, all processes
TIMEOUT = 15.0  # what Twilio waits for a webhook
RATIO_TARGET = 0.7
P99_TARGET_MS = 50.0
BUSY_CORE = 0.8  # a client process above this share of a core may be the limit
ERRORS_SHOWN = 5


# -- requests -------------------------------------------------------------------


def sign(url: str, form: dict[str, str]) -> str:
    """X-Twilio-Signature of a POST of `form` to `url`."""
    return str(RequestValidator(TOKEN).compute_signature(url, form))


def call_form(sid: str, **extra: str) -> dict[str, str]:
    """What Twilio sends with every voice webhook of an inbound call
    (`tests/support.call_form`): a caller number of its own per call."""
    return {
        "CallSid": sid,
        "AccountSid": ACCOUNT,
        "From": f"+336{int(sid[2:], 16) % 10**8:08d}",
        "To": HOTLINE_NUMBER,
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
        **extra,
    }


def signed_post(path: str, form: dict[str, str]) -> bytes:
    """The bytes of a signed POST of `form` to `path` (path and query)."""
    body = urlencode(form).encode()
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {urlsplit(PUBLIC).netloc}\r\n"
        "User-Agent: TwilioProxy/1.1\r\n"
        "Accept: */*\r\n"
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {sign(PUBLIC + path, form)}\r\n"
        "\r\n"
    )
    return head.encode() + body


class NothingBack(ConnectionError):
    """The server closed the connection before answering a byte."""


class Http:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1 sending ready-made
    requests; it reads only the status line, the headers it needs and the
    body. A connection the server closed while idle (its keep-alive ran out)
    is opened again and the request sent once more: it never reached it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.reused = False
        self.reconnects = 0

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.reused = sock, False
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, request: bytes) -> tuple[int, bytes]:
        """(status, body); OSError when no answer came."""
        for attempt in (0, 1):
            sock = self.sock or self.connect()
            stale = self.reused and attempt == 0
            try:
                status, body, close = self._exchange(sock, request)
            except (NothingBack, BrokenPipeError, ConnectionResetError):
                self.close()
                if not stale:
                    raise
                self.reconnects += 1
                continue
            except OSError:
                self.close()
                raise
            self.reused = True
            if close:
                self.close()
            return status, body
        raise ConnectionError("no answer on a fresh connection")

    @staticmethod
    def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes, bool]:
        sock.sendall(request)
        data = b""
        while (end := data.find(b"\r\n\r\n")) < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise NothingBack() if not data else ConnectionError("answer cut")
            data += chunk
        lines = data[:end].split(b"\r\n")
        body = data[end + 4 :]
        status = int(lines[0].split(b" ", 2)[1])
        length, close = -1, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"connection":
                close = b"close" in value.lower()
            elif key == b"transfer-encoding":
                raise ConnectionError("chunked answer: not read here")
        if length < 0:
            raise ConnectionError("answer without Content-Length")
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("answer cut")
            body += chunk
        return status, body[:length], close


def judge(http: Http, request: bytes) -> str:
    """'' for a good answer (200, the sub-menu's TwiML), else what was wrong."""
    try:
        status, body = http.send(request)
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"[:120]
    if status != 200:
        return f"HTTP {status}"
    if MARK not in body:
        return f"200 without the sub-menu: {body[:80]!r}"
    return ""


# -- the client processes -------------------------------------------------------


@dataclass(frozen=True)
class Load:
    """What one client process sends (pickled to it)."""

    port: int
    requests: tuple[bytes, ...]
    closed: bool  # closed loop; else open loop at `rate`
    threads: int
    first: int  # the global number of its first thread
    every: int  # threads (closed) or processes (open) in all
    index: int  # its place among the processes
    seconds: float
    warmup: float
    rate: float = 0.0  # arrivals a second, all processes together


@dataclass
class Tally:
    """What one thread (then one process, then one run) saw in its window."""

    good: int = 0
    bad: int = 0
    latencies: list[float] = field(default_factory=list)  # ms, good answers
    lags: list[float] = field(default_factory=list)  # ms, sent - scheduled
    errors: list[str] = field(default_factory=list)  # the first few
    reconnects: int = 0

    def fail(self, reason: str) -> None:
        self.bad += 1
        if len(self.errors) < ERRORS_SHOWN:
            self.errors.append(reason)

    def add(self, other: Tally) -> None:
        self.good += other.good
        self.bad += other.bad
        self.latencies += other.latencies
        self.lags += other.lags
        self.errors += other.errors[: max(0, ERRORS_SHOWN - len(self.errors))]
        self.reconnects += other.reconnects


def closed_loop(http: Http, load: Load, number: int, t0: float, tally: Tally) -> None:
    """Send, wait for the answer, send again; calls in turn (thread `number`
    uses calls number, number + every, ...)."""
    begin, end = t0 + load.warmup, t0 + load.warmup + load.seconds
    made, i = load.requests, number
    time.sleep(max(0.0, t0 - time.monotonic()))
    while (sent := time.monotonic()) < end:
        wrong = judge(http, made[i % len(made)])
        done = time.monotonic()
        i += load.every
        if wrong and http.sock is None:
            time.sleep(0.01)  # a refused connection must not spin
        if not begin <= done <= end:
            continue
        if wrong:
            tally.fail(wrong)
        else:
            tally.good += 1
            tally.latencies.append((done - sent) * 1000)
    tally.reconnects = http.reconnects


def open_loop(
    http: Http, load: Load, slots: Iterator[int], t0: float, tally: Tally
) -> None:
    """Arrival i (of this process's share) is due at t0 + i / rate: sent then,
    or as soon as a sender is free; timed from when it was due."""
    begin, end = t0 + load.warmup, t0 + load.warmup + load.seconds
    made = load.requests
    while True:
        i = next(slots) * load.every + load.index  # the global arrival
        due = t0 + i / load.rate
        if due >= end:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        sent = time.monotonic()
        wrong = judge(http, made[i % len(made)])
        done = time.monotonic()
        if due < begin:
            continue
        tally.lags.append((sent - due) * 1000)
        if wrong:
            tally.fail(wrong)
        else:
            tally.good += 1
            tally.latencies.append((done - due) * 1000)
    tally.reconnects = http.reconnects


def client_process(load: Load, conn: Connection) -> None:
    """One client process: connect its threads, say so, run from the time it
    is given, send back its tally."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the bench's handler
    gc.disable()  # no collector pause in the timing loops
    https = [Http(load.port) for _ in range(load.threads)]
    for http in https:
        http.connect()
    tallies = [Tally() for _ in https]
    conn.send("ready")
    t0 = cast(float, conn.recv())
    slots = itertools.count()  # shared by the threads: next() holds the GIL
    threads = [
        threading.Thread(
            target=closed_loop if load.closed else open_loop,
            args=(http, load, load.first + n if load.closed else slots, t0, tally),
            daemon=True,
        )
        for n, (http, tally) in enumerate(zip(https, tallies, strict=True))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for tally in tallies:
        total.add(tally)
    conn.send(total)
    conn.close()


# -- CPU from /proc -------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> dict[int, float]:
    """User + system CPU seconds so far of each process in group `pgid`."""
    used = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(entry / "stat")
            if fields and int(fields[2]) == pgid:
                used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICK
    return used


def pid_cpu(pid: int) -> float:
    """User + system CPU seconds so far of process `pid` (0: gone)."""
    fields = stat_fields(Path(f"/proc/{pid}/stat"))
    return (int(fields[11]) + int(fields[12])) / TICK if fields else 0.0


def stat_fields(path: Path) -> list[str]:
    """/proc/PID/stat's fields after the command's name (it may hold spaces)."""
    try:
        stat = path.read_text()
    except OSError:
        return []
    return stat[stat.rindex(")") + 2 :].split()


def machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (/proc/stat)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / TICK


@dataclass(frozen=True)
class Server:
    name: str
    port: int
    pgid: int  # gunicorn's master leads its group: master and workers
    valkey: int | None  # the Valkey it uses, ours


@dataclass
class Run:
    server: str
    closed: bool
    seconds: float
    tally: Tally
    cpu: dict[str, float]  # s in the window: server, valkey, clients, other
    client_core: float  # the busiest client process's share of one core
    workers: list[float]  # s in the window, each gunicorn worker, most first


def snapshot(server: Server, clients: Sequence[int]) -> dict[str, float]:
    """CPU seconds so far: the server's group, its Valkey, each client
    process, this one, the whole machine."""
    shot = {f"server {pid}": cpu for pid, cpu in group_cpu(server.pgid).items()}
    shot |= {
        "valkey": pid_cpu(server.valkey) if server.valkey else 0.0,
        "bench": pid_cpu(os.getpid()),
        "machine": machine_busy(),
    }
    for pid in clients:
        shot[f"client {pid}"] = pid_cpu(pid)
    return shot


def receive(pipe: Connection) -> object:
    """What a client process sent; None if it died first."""
    try:
        return cast(object, pipe.recv())
    except EOFError:
        return None


def run(
    server: Server,
    loads: Sequence[Load],
    closed: bool,
    seconds: float,
    warmup: float,
) -> Run:
    """Start the client processes, let them run, collect their tallies."""
    # Forked: the child has the requests already, and imports nothing (the
    # bench has no thread of its own by then, so nothing is forked mid-lock).
    context = multiprocessing.get_context("fork")
    processes: list[multiprocessing.process.BaseProcess] = []
    pipes: list[Connection] = []
    try:
        for load in loads:
            mine, theirs = context.Pipe()
            process = context.Process(
                target=client_process, args=(load, theirs), daemon=True
            )
            process.start()
            theirs.close()
            processes.append(process)
            pipes.append(mine)
        for pipe in pipes:
            if not pipe.poll(60) or receive(pipe) != "ready":
                raise SystemExit("a client process did not start")
        t0 = time.monotonic() + 0.2
        for pipe in pipes:
            pipe.send(t0)
        pids = [p.pid for p in processes if p.pid is not None]
        sleep_until(t0 + warmup)
        before = snapshot(server, pids)
        sleep_until(t0 + warmup + seconds)
        after = snapshot(server, pids)
        total = Tally()
        for pipe in pipes:
            tally = receive(pipe) if pipe.poll(TIMEOUT + 30) else None
            if not isinstance(tally, Tally):
                raise SystemExit("a client process did not report")
            total.add(tally)
        for started in processes:
            started.join(10)
    finally:
        for started in processes:
            if started.is_alive():
                started.terminate()
                started.join(5)
    spent = {name: after[name] - before.get(name, 0.0) for name in after}
    each = [v for k, v in spent.items() if k.startswith("client ")]
    workers = {k: v for k, v in spent.items() if k.startswith("server ")}
    workers.pop(f"server {server.pgid}", None)  # the master
    gunicorn = sum(v for k, v in spent.items() if k.startswith("server "))
    own = gunicorn + spent["valkey"] + sum(each) + spent["bench"]
    return Run(
        server.name,
        closed,
        seconds,
        total,
        {
            "server": gunicorn,
            "valkey": spent["valkey"],
            "clients": sum(each),
            "other": max(0.0, spent["machine"] - own),
        },
        max(each) / seconds,
        sorted(workers.values(), reverse=True),
    )


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if n < total % parts else 0) for n in range(parts)]


def closed_loads(
    port: int, reqs: tuple[bytes, ...], clients: int, processes: int, seconds: float
) -> list[Load]:
    counts = split(clients, processes)
    return [
        Load(
            port,
            reqs,
            closed=True,
            threads=count,
            first=sum(counts[:n]),
            every=clients,
            index=n,
            seconds=seconds,
            warmup=CLOSED_WARMUP,
        )
        for n, count in enumerate(counts)
        if count
    ]


def open_loads(
    port: int, reqs: tuple[bytes, ...], rate: float, processes: int, seconds: float
) -> list[Load]:
    return [
        Load(
            port,
            reqs,
            closed=False,
            threads=count,
            first=0,
            every=processes,
            index=n,
            seconds=seconds,
            warmup=OPEN_WARMUP,
            rate=rate,
        )
        for n, count in enumerate(split(OPEN_SENDERS, processes))
    ]


# -- the servers ----------------------------------------------------------------


def procfile_gunicorn(port: int, app: str) -> list[str]:
    """The Procfile's `web` gunicorn with its own arguments, bound to
    127.0.0.1:`port`, serving `app`."""
    procfile = (ROOT / "Procfile").read_text(encoding="utf-8")
    line = next((x for x in procfile.splitlines() if x.startswith("web:")), "")
    words = shlex.split(line.partition(" gunicorn ")[2])
    if not words or words[-1] != WEB_APP or "--bind" not in words[:-1]:
        raise SystemExit(f"the Procfile's web line is not `... gunicorn ... {WEB_APP}`")
    args = words[:-1]
    args[args.index("--bind") + 1] = f"127.0.0.1:{port}"
    return [sys.executable, "-m", "gunicorn", *args, app]


def start_server(
    cleanup: ExitStack,
    name: str,
    app: str,
    env: dict[str, str],
    logs: Path,
    valkey: int | None,
) -> Callable[[], Server]:
    """`app` under the Procfile's gunicorn, stopped (the whole process group)
    when `cleanup` closes; returns a wait for its /healthz, so that both
    servers start at once."""
    port = free_port()
    process = ManagedProcess(name, procfile_gunicorn(port, app), env, logs)
    process.start()
    cleanup.callback(process.stop)

    def answering() -> Server:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"{name}: gunicorn exited at start; see {logs}")
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                    assert process.pid is not None
                    return Server(name, port, process.pid, valkey)
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{name}: no answer on /healthz within 60 s; see {logs}")

    return answering


def hotline_env(folder: Path, redis_url: str) -> dict[str, str]:
    """The hotline's environment: nothing of ours inherited, its own state."""
    database_url = f"sqlite:///{folder / 'calllog.sqlite3'}"
    upgrade(database_url)
    config = folder / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, config)
    metrics = folder / "metrics"
    metrics.mkdir()
    path = os.environ.get("PYTHONPATH", "")
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in DOCUMENTED_VARIABLES and not k.startswith(("SMTP_", "FEED_"))
    }
    return {
        **inherited,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT,
        "TWILIO_AUTH_TOKEN": TOKEN,
        "TWILIO_API_BASE_URL": "http://127.0.0.1:9",  # nothing leaves the machine
        "PUBLIC_BASE_URL": PUBLIC,
        "HOTLINE_CONFIG": str(config),
        "HOTLINE_INSTANCE": str(folder / "instance"),
        "HOTLINE_NUMBER": HOTLINE_NUMBER,
        "SECRET_KEY": uuid.uuid4().hex,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),  # as the Procfile sets it
        # the processes run this checkout, whatever the current folder
        "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else ""),
    }


def create_calls(port: int) -> tuple[list[str], str]:
    """CALLS calls placed by signed POST /voice/incoming; their sids and the
    first menu's answer URL (path and query) the app gave Twilio."""
    http = Http(port)
    sids = [f"CA{uuid.uuid4().hex}" for _ in range(CALLS)]
    actions = set()
    for sid in sids:
        status, body = http.send(signed_post(INCOMING, call_form(sid)))
        if status != 200:
            raise SystemExit(f"POST {INCOMING}: HTTP {status} {body[:200]!r}")
        gather = next(ET.fromstring(body).iter("Gather"), None)
        if gather is None:
            raise SystemExit(f"POST {INCOMING}: no <Gather> in {body[:300]!r}")
        actions.add(gather.get("action", ""))
    http.close()
    if len(actions) != 1:
        raise SystemExit(f"the calls were answered to different URLs: {actions}")
    action = urlsplit(actions.pop())
    query = parse_qs(action.query)
    if (
        f"{action.scheme}://{action.netloc}" != PUBLIC
        or action.path != MENU
        or any(query.get(k) != v for k, v in MENU_QUERY.items())
    ):
        raise SystemExit(f"unexpected first menu URL: {action.geturl()}")
    return sids, f"{action.path}?{action.query}"


# -- report ---------------------------------------------------------------------


def ms(values: Sequence[float], q: float) -> str:
    return f"{percentile(values, q):8.1f}" if values else "       -"


def show_run(n: int, r: Run) -> None:
    t = r.tally
    per = r.cpu["server"] * 1000 / t.good if t.good else float("nan")
    split = "/".join(f"{w:.1f}" for w in r.workers)
    cpu = (
        f"| {per:6.2f} {split:>9} {r.cpu['valkey']:6.1f} {r.cpu['clients']:6.1f}"
        f" {r.client_core:5.0%} {r.cpu['other']:6.1f}"
    )
    if r.closed:
        print(
            f"  {r.server:9} {n:4} {t.good / r.seconds:8.1f} {ms(t.latencies, 0.5)}"
            f" {ms(t.latencies, 0.99)} {t.bad:6} {cpu}"
        )
    else:
        print(
            f"  {r.server:9} {n:4} {t.good + t.bad:7} {ms(t.latencies, 0.5)}"
            f" {ms(t.latencies, 0.99)} {ms(t.latencies, 0.999)}"
            f" {ms(t.latencies, 1.0)} {t.bad:6} {ms(t.lags, 0.99)} {cpu}"
        )
    for reason in t.errors:
        print(f"      error: {reason}")


CPU_HEAD = "| ms/req   workers valkey client  core  other"
CPU_NOTE = (
    "CPU in each window, from /proc: ms/req, the server's gunicorn (master and"
    " workers)\nper good answer; in CPU-s, each gunicorn worker, Valkey, the"
    " client processes and\nevery other process on the machine; core: the"
    " busiest client process's share of one core."
)


def pooled(runs: Sequence[Run], server: str, closed: bool) -> Tally:
    total = Tally()
    for r in runs:
        if r.server == server and r.closed == closed:
            total.add(r.tally)
    return total


def capacity(closed: Sequence[Run], name: str) -> float:
    """Good answers a second of `name`, pooled over its closed-loop runs."""
    mine = [r for r in closed if r.server == name]
    return sum(r.tally.good for r in mine) / sum(r.seconds for r in mine)


def machine_ms(runs: Sequence[Run], name: str) -> float:
    """The whole machine's CPU a good answer of `name` (every process in the
    window: server, Valkey, clients, the rest), ms."""
    mine = [r for r in runs if r.server == name]
    good = sum(r.tally.good for r in mine)
    spent = sum(sum(r.cpu.values()) for r in mine)
    return spent * 1000 / good if good else float("nan")


#: The ladder, bottom to top: each rung adds what it says to the one below.
RUNGS = (
    ("bare", "a bare Flask endpoint answering fixed TwiML"),
    ("framework", "the hotline's app answering that TwiML: its extensions, hooks"),
    ("unwritten", "+ signature, form, IVR, the menu's TwiML"),
    ("hotline", "+ the caller's answer written to Redis: the signed IVR step"),
)


def ladder(closed: Sequence[Run], trip_ms: float) -> list[Figure]:
    """Where the step's cost over the bare endpoint goes, and what the ratio
    target leaves for the step's own work over the framework's."""
    if not all(any(r.server == name for r in closed) for name, _ in RUNGS):
        return []
    rps = {name: capacity(closed, name) for name, _ in RUNGS}
    cost = {name: machine_ms(closed, name) for name, _ in RUNGS}
    print(
        "\nwhere the step's cost goes (closed loop, same sitting; the machine's"
        " CPU a request, every process):"
    )
    for name, what in RUNGS:
        print(
            f"  {name:9} {rps[name]:8.1f} req/s {rps[name] / rps['bare']:5.2f}x"
            f" {cost[name]:6.3f} ms  {what}"
        )
    allowed = cost["bare"] / RATIO_TARGET
    left = allowed - cost["framework"]
    own = cost["hotline"] - cost["framework"]
    print(
        f"  the {RATIO_TARGET}x target allows {allowed:.3f} ms a request: {left:.3f} ms"
        f" over the framework's own {cost['framework']:.3f} for the step's work,"
        f" which takes {own:.3f} ms;\n  one Redis round trip alone costs its"
        f" client {trip_ms:.3f} ms (PING, redis-py, timed in this process)"
    )
    return [
        Figure(
            "the hotline's app answering fixed TwiML (extensions, hooks): capacity",
            f"{rps['framework']:.0f} req/s",
            "",
            None,
            f"bare Flask endpoint {rps['bare']:.0f} req/s",
            f"{rps['framework'] / rps['bare']:.2f}x",
        ),
        Figure(
            "the signed IVR step without its Redis write: capacity",
            f"{rps['unwritten']:.0f} req/s",
            "",
            None,
            f"bare Flask endpoint {rps['bare']:.0f} req/s",
            f"{rps['unwritten'] / rps['bare']:.2f}x",
        ),
        Figure(
            f"CPU a request the {RATIO_TARGET}x target leaves the step over the"
            " framework's own",
            f"{left:.3f} ms (the step takes {own:.3f})",
            "",
            None,
            f"one Redis round trip, its client: {trip_ms:.3f} ms",
            "",
        ),
    ]


def report(
    runs: Sequence[Run],
    closed_s: float,
    open_s: float,
    rate: float,
    clients: int,
    trip_ms: float,
) -> list[str]:
    failures: list[str] = []
    figures: list[Figure] = []
    closed = [r for r in runs if r.closed]
    opened = [r for r in runs if not r.closed]
    counted: dict[str, int] = {}
    print(f"\n{CPU_NOTE}")
    if closed:
        print(
            f"\nclosed loop: {clients} clients, {closed_s:g} s a run"
            f" (after {CLOSED_WARMUP:g} s of warm-up)"
        )
        print(f"  server    round    req/s   p50 ms   p99 ms errors {CPU_HEAD}")
        for n, r in enumerate(closed):
            show_run(n // 2 + 1 if r.server in ("bare", "hotline") else 1, r)
        rps = {name: capacity(closed, name) for name in ("bare", "hotline")}
        ratio = rps["hotline"] / rps["bare"] if rps["bare"] else 0.0
        verdict = "PASS" if ratio >= RATIO_TARGET else "FAIL"
        print(
            f"  capacity: hotline {rps['hotline']:.1f} req/s / bare"
            f" {rps['bare']:.1f} req/s = {ratio:.2f}"
            f" (target >= {RATIO_TARGET}) {verdict}"
        )
        if verdict == "FAIL":
            failures.append(
                f"closed loop: hotline/bare capacity {ratio:.2f} < {RATIO_TARGET}"
            )
        figures.append(
            Figure(
                f"signed IVR step, closed loop ({clients} clients): capacity",
                f"{rps['hotline']:.0f} req/s",
                f">= {RATIO_TARGET}x bare",
                verdict == "PASS",
                f"bare Flask endpoint {rps['bare']:.0f} req/s",
                f"{ratio:.2f}x",
            )
        )
        figures.extend(ladder(closed, trip_ms))
    if opened:
        print(
            f"\nopen loop: {rate:g} req/s at fixed times, {open_s:g} s a run"
            f" (after {OPEN_WARMUP:g} s), {OPEN_SENDERS} senders;"
            " latency from the scheduled send time"
        )
        print(
            "  server    round    sent   p50 ms   p99 ms p99.9 ms   max ms errors"
            f"  lag p99 {CPU_HEAD}"
        )
        for n, r in enumerate(opened):
            show_run(n // 2 + 1, r)
        for name in ("bare", "hotline"):
            t = pooled(opened, name, closed=False)
            print(
                f"  {name:9} pooled: p50 {percentile(t.latencies, 0.5):.1f} ms, p99"
                f" {percentile(t.latencies, 0.99):.1f} ms, p99.9"
                f" {percentile(t.latencies, 0.999):.1f} ms of {len(t.latencies)}"
                f" answers, {t.bad} errors"
            )
        p99 = percentile(pooled(opened, "hotline", closed=False).latencies, 0.99)
        verdict = "PASS" if p99 <= P99_TARGET_MS else "FAIL"
        print(
            f"  hotline p99 {p99:.1f} ms at {rate:g} req/s"
            f" (target <= {P99_TARGET_MS:g} ms) {verdict}"
        )
        if verdict == "FAIL":
            failures.append(
                f"open loop: hotline p99 {p99:.1f} ms > {P99_TARGET_MS:g} ms"
                f" at {rate:g} req/s"
            )
        bare_p99 = percentile(pooled(opened, "bare", closed=False).latencies, 0.99)
        figures.append(
            Figure(
                f"signed IVR step, open loop at {rate:g} req/s: p99",
                f"{p99:.1f} ms",
                f"<= {P99_TARGET_MS:g} ms",
                verdict == "PASS",
                f"bare Flask endpoint p99 {bare_p99:.1f} ms",
                f"{p99 / bare_p99:.2f}x" if bare_p99 else "",
            )
        )
    for r in runs:
        counted[r.server] = counted.get(r.server, 0) + r.tally.bad
    for name, bad in counted.items():
        if bad:
            failures.append(f"{name}: {bad} answers not 200 with the sub-menu")
    busy = max((r.client_core for r in runs), default=0.0)
    if busy > BUSY_CORE:
        print(
            f"WARNING: a client process used {busy:.0%} of a core: the load"
            " generator may have been the limit (--client-processes)"
        )
    reconnects = sum(r.tally.reconnects for r in runs)
    if reconnects:
        print(f"note: {reconnects} idle connections closed by gunicorn, opened again")
    record("bench/webhooks.py", figures)
    return failures


# -- main -----------------------------------------------------------------------


def terminated(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds the ExitStack: servers stopped


@contextmanager
def servers(ladder: bool) -> Iterator[tuple[dict[str, Server], str]]:
    """The bare app and the hotline (and the ladder's rungs) under gunicorn,
    the hotline on its own Valkey and SQLite, and that Valkey's URL; every
    process stopped after, the logs' tracebacks printed."""
    with ExitStack() as cleanup:
        folder = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        logs = folder / "logs"
        url, valkey = cleanup.enter_context(redis_server(None, 0, folder))
        cleanup.callback(show_tracebacks, logs)  # after the servers stopped
        env = hotline_env(folder, url)
        apps = {"bare": BARE_APP, "hotline": WEB_APP, **(LADDER if ladder else {})}
        started = {
            name: start_server(
                cleanup, name, app, env, logs, None if name == "bare" else valkey
            )
            for name, app in apps.items()
        }
        yield {name: answering() for name, answering in started.items()}, url


def round_trip_ms(url: str) -> float:
    """A Redis round trip's CPU in its client (redis-py, as the web uses
    it): PINGs timed in this process, ms each."""
    client = redis.Redis.from_url(url)
    try:
        for _ in range(PINGS // 10):
            client.ping()
        began = time.process_time()
        for _ in range(PINGS):
            client.ping()
        return (time.process_time() - began) * 1000 / PINGS
    finally:
        client.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=15.0, help="open loop: per run (its p99)"
    )
    parser.add_argument(
        "--closed-seconds",
        type=float,
        default=10.0,
        help="closed loop: per run (its requests/s)",
    )
    parser.add_argument(
        "--rate", type=float, default=200.0, help="open loop: requests a second"
    )
    parser.add_argument("--clients", type=int, default=16, help="closed loop")
    parser.add_argument(
        "--rounds", type=int, default=1, help="2: bare, hotline, hotline, bare..."
    )
    parser.add_argument(
        "--client-processes", type=int, default=2, help="processes sending"
    )
    parser.add_argument(
        "--no-ladder",
        action="store_true",
        help="without the rungs between bare and hotline (bench.ladder_apps)",
    )
    args = parser.parse_args(argv)
    if (
        min(args.seconds, args.closed_seconds, args.rate) <= 0
        or min(args.clients, args.rounds) < 1
    ):
        parser.error(
            "--seconds, --closed-seconds, --rate, --clients and --rounds must be"
            " positive"
        )
    if not 1 <= args.client_processes <= min(args.clients, OPEN_SENDERS):
        parser.error("--client-processes: 1 to --clients")
    signal.signal(signal.SIGTERM, terminated)
    began = time.monotonic()
    usable = len(os.sched_getaffinity(0))
    print(
        f"machine: {os.cpu_count()} CPUs ({usable} usable), load average"
        f" {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    plan = [
        server
        for n in range(args.rounds)
        for server in (("bare", "hotline") if n % 2 == 0 else ("hotline", "bare"))
    ]
    runs: list[Run] = []
    with servers(not args.no_ladder) as (by_name, redis_url):
        hotline = by_name["hotline"]
        command = procfile_gunicorn(hotline.port, WEB_APP)
        print(f"gunicorn as the Procfile's web line: {shlex.join(command[1:])}")
        print(f"both servers up after {time.monotonic() - began:.1f} s", flush=True)
        placed = time.monotonic()
        sids, path = create_calls(hotline.port)
        print(f"{CALLS} calls placed in {time.monotonic() - placed:.1f} s")
        measured = tuple(signed_post(path, call_form(sid, Digits="2")) for sid in sids)
        for server in by_name.values():
            http = Http(server.port)
            status, body = http.send(measured[0])
            http.close()
            if status != 200 or MARK not in body:
                raise SystemExit(f"{server.name}: HTTP {status} {body[:300]!r}")
            print(f"{server.name} answers {len(body)} bytes of TwiML")
        print(
            f"measured: signed POST {path} Digits=2, {CALLS} calls in turn"
            f" (created by signed POST {INCOMING});"
            f" {args.client_processes} client processes"
        )
        for name in plan + [n for n in by_name if n not in plan]:
            server = by_name[name]
            loads = closed_loads(
                server.port,
                measured,
                args.clients,
                args.client_processes,
                args.closed_seconds,
            )
            runs.append(run(server, loads, True, args.closed_seconds, CLOSED_WARMUP))
            rps = runs[-1].tally.good / args.closed_seconds
            print(
                f"  closed loop, {name}: {rps:.1f} req/s"
                f" ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
        for name in plan:
            server = by_name[name]
            loads = open_loads(
                server.port, measured, args.rate, args.client_processes, args.seconds
            )
            runs.append(run(server, loads, False, args.seconds, OPEN_WARMUP))
            p99 = percentile(runs[-1].tally.latencies, 0.99)
            print(
                f"  open loop, {name}: p99 {p99:.1f} ms"
                f" ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
        trip = round_trip_ms(redis_url)
        stopping = time.monotonic()
    print(f"servers stopped in {time.monotonic() - stopping:.1f} s")
    failures = report(
        runs, args.closed_seconds, args.seconds, args.rate, args.clients, trip
    )
    print(
        f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())};"
        f" bench took {time.monotonic() - began:.0f} s"
    )
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
