"""Faults under real calls: Redis killed or frozen, SQL stopped. Nobody dropped.

The whole hotline as a user runs it (gunicorn, a worker, the carrier
simulator), on a Valkey server of the test's own with its append-only file,
as `hotline run` starts it. While simulated callers go through the menu, wait
and talk to simulated hotliners, the test kills Valkey (SIGKILL, restarted
two seconds later on the same data), freezes it (SIGSTOP for three seconds),
or stops the SQL call log for thirty seconds. Then, for every call:

- no caller was hung up by us: each one talked to a hotliner (the simulator
  notes `connected`), none heard an apology;
- every webhook was answered within one second (the simulator times them);
- the call is in the SQL call log with its right final state (completed,
  with the hotliner who took it);
- `carrier.errors == []`: nothing Twilio would report as an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session
from support import supervisor_token
from valkey_cluster import valkey_cluster

from calllog.db import normalise_url, upgrade
from calllog.models import Call
from cli.stack import Stack
from core.embedded_redis import EmbeddedRedis, free_port
from core.keys import Keys
from core.settings import (
    DEFAULT_CONFIG_DIR,
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
)
from simulator.carrier import Carrier, CarrierConfig
from simulator.console import AgentConsoleClient
from simulator.scripts import CallerScript, Digits, HotlinerProfile

pytestmark = pytest.mark.e2e

HOTLINERS = """
hotliners:
""" + "".join(
    f"""  - id: h{n}
    name: "Hotliner {n}"
    endpoint: "client:h{n}"
    skills: {{email: 3, general: 3}}
    shifts: ["daily 00:00-00:00"]
"""
    for n in range(3)
)

ROUTING = """routing:
  strategy: longest-idle
  ring_seconds: 10
  wrapup_seconds: 0
  max_missed_offers: 5
  announce_every_seconds: 30
"""

TIME_SCALE = 0.1  # a simulated second lasts 100 ms
APOLOGY = "incident technique nous empêche"


@dataclass
class Hotline:
    url: str
    carrier: Carrier
    stack: Stack
    valkey: EmbeddedRedis
    database_url: str
    placed: list[str]

    def call(self, n: int) -> str:
        """A caller who picks the email queue (key 4) and waits as long as it takes."""
        return self.call_from(f"+336300{n:05d}", [Digits("4")])

    def call_from(self, number: str, inputs: list[Digits]) -> str:
        handle = self.carrier.place_call(
            CallerScript(
                from_number=number, inputs=list(inputs), patience_seconds=36_000.0
            )
        )
        self.placed.append(handle.sid)
        return handle.sid


@pytest.fixture
def hotline(
    tmp_path: Path, fresh_database_url: str
) -> Iterator[Callable[[str], Hotline]]:
    """Starts the hotline on its own Valkey and the given call log URL."""
    started: list[Hotline] = []

    def start(database_url: str, routing_redis_url: str = "") -> Hotline:
        upgrade(database_url)
        config_dir = tmp_path / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, config_dir)
        (config_dir / "hotliners.yaml").write_text(HOTLINERS, encoding="utf-8")
        hotline_yaml = (config_dir / "hotline.yaml").read_text(encoding="utf-8")
        (config_dir / "hotline.yaml").write_text(
            hotline_yaml[: hotline_yaml.index("routing:")] + ROUTING, encoding="utf-8"
        )
        valkey = EmbeddedRedis(tmp_path / "valkey", persistent=True)
        valkey.start()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        carrier = Carrier(
            CarrierConfig(
                account_sid=SIMULATOR_ACCOUNT_SID,
                auth_token=SIMULATOR_AUTH_TOKEN,
                voice_url=f"{url}/voice/incoming",
                status_callback_url=f"{url}/voice/status",
                time_scale=TIME_SCALE,
            )
        )
        carrier.start(host="127.0.0.1", port=0)
        stack = Stack(
            {
                "REDIS_URL": valkey.url,
                "DATABASE_URL": database_url,
                "TWILIO_ACCOUNT_SID": "",
                "TWILIO_AUTH_TOKEN": "",
                "SECRET_KEY": "",
                "TWILIO_API_BASE_URL": carrier.api_base_url,
                "PUBLIC_BASE_URL": url,
                "HOTLINE_CONFIG": str(config_dir),
                "HOTLINE_INSTANCE": str(tmp_path / "instance"),
                "ROUTING_REDIS_URL": routing_redis_url,
            },
            port,
            tmp_path / "logs",
        )
        running = Hotline(url, carrier, stack, valkey, database_url, [])
        started.append(running)
        stack.start()
        console = AgentConsoleClient(url, token=supervisor_token(database_url))
        for n in range(3):
            carrier.add_hotliner(
                HotlinerProfile(
                    agent_id=f"h{n}",
                    endpoint=f"client:h{n}",
                    answer_after_seconds=1.0,
                    talk_seconds=25.0,
                    console=console,
                )
            )
        return running

    yield start
    for running in started:
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(running.valkey.pid, signal.SIGCONT)  # type: ignore[arg-type]
        running.carrier.stop()
        running.stack.stop()
        running.valkey.stop()
        for log in sorted((tmp_path / "logs").glob("*.log")):
            text = log.read_text(errors="replace")
            if "Traceback" in text:
                print(f"--- {log.name} ---\n{text[-4000:]}")


def place(hotline: Hotline, count: int, every: float) -> None:
    for _ in range(count):
        hotline.call(len(hotline.placed))
        time.sleep(every)


def stuck(hotline: Hotline) -> str:
    """What the calls still running were doing, at the carrier and in Redis."""
    lines = ["calls still running:"]
    try:
        live = [c for c in hotline.carrier.board.calls.values() if c.is_live]
        client = redis.Redis.from_url(hotline.valkey.url, decode_responses=True)
        for call in live:
            lines.append(f"{call.sid} {call.status} to={call.to}")
            lines += [f"  {e.kind}: {e.detail[:100]}" for e in call.transcript]
            for key in client.scan_iter(match=f"*{call.sid}*"):
                kind = client.type(key)
                value = client.hgetall(key) if kind == "hash" else kind
                lines.append(f"  redis {key}: {value}")
        for key in client.scan_iter(match="*agent*"):
            if client.type(key) == "hash":
                lines.append(f"  redis {key}: {client.hgetall(key)}")
        for name in ("web.log", "worker-0.log"):
            text = (hotline.stack.log_dir / name).read_text(errors="replace")
            lines.append(f"--- {name} ---\n{text[-6000:]}")
    except Exception as exc:  # noqa: BLE001 - a diagnosis must not hide the failure
        lines.append(f"(could not look further: {exc!r})")
    return "\n".join(lines)


def check_nobody_dropped(hotline: Hotline) -> None:
    carrier = hotline.carrier
    assert carrier.wait_idle(timeout=150.0), stuck(hotline)
    assert carrier.errors == []
    slowest = max(seconds for _, seconds in carrier.webhook_times)
    assert slowest < 1.0, sorted(carrier.webhook_times, key=lambda t: -t[1])[:5]
    for sid in hotline.placed:
        call = carrier.calls[sid]
        heard = " ".join(e.detail for e in call.transcript if e.kind == "say")
        assert APOLOGY not in heard, (sid, heard)
        assert any(e.kind == "connected" for e in call.transcript), (
            sid,
            [f"{e.kind}:{e.detail}"[:80] for e in call.transcript],
        )
    engine = sa.create_engine(normalise_url(hotline.database_url))
    deadline = time.monotonic() + 45.0
    rows: dict[str, Call] = {}
    while time.monotonic() < deadline:
        with Session(engine) as session:
            rows = {r.call_sid: r for r in session.scalars(sa.select(Call))}
        if all(
            sid in rows and rows[sid].status == "completed" for sid in hotline.placed
        ):
            break
        time.sleep(0.5)
    engine.dispose()
    for sid in hotline.placed:
        row = rows.get(sid)
        assert row is not None, f"{sid} missing from the call log"
        assert (row.status, row.queue) == ("completed", "email"), (sid, row.status)
        assert row.agent_id in {"h0", "h1", "h2"}, (sid, row.agent_id)
        assert row.ended_at is not None


def replayed(hotline: Hotline) -> int:
    """Operations the web processes journaled during the outage and replayed."""
    text = (hotline.stack.log_dir / "web.log").read_text(errors="replace")
    return sum(int(n) for n in re.findall(r"replayed (\d+) journaled operations", text))


@pytest.mark.heavy  # on a Valkey of its own: CI's second pass would repeat it
def test_redis_killed_and_restarted_during_calls_drops_nobody(
    hotline: Callable[..., Hotline], fresh_database_url: str
) -> None:
    running = hotline(fresh_database_url)
    place(running, 6, 0.2)  # some talk, some wait
    time.sleep(0.5)
    assert running.valkey.pid is not None
    os.kill(running.valkey.pid, signal.SIGKILL)
    place(running, 4, 0.4)  # ringing while Redis is down
    time.sleep(0.5)
    running.valkey.restart()
    place(running, 3, 0.2)
    check_nobody_dropped(running)
    assert replayed(running) > 0  # the outage was met, and its writes kept


@pytest.mark.heavy  # on a Valkey of its own: CI's second pass would repeat it
def test_redis_frozen_for_three_seconds_during_calls_drops_nobody(
    hotline: Callable[..., Hotline], fresh_database_url: str
) -> None:
    running = hotline(fresh_database_url)
    place(running, 6, 0.2)
    time.sleep(0.5)
    assert running.valkey.pid is not None
    os.kill(running.valkey.pid, signal.SIGSTOP)
    try:
        place(running, 4, 0.5)
        time.sleep(1.0)
    finally:
        os.kill(running.valkey.pid, signal.SIGCONT)
    place(running, 3, 0.2)
    check_nobody_dropped(running)
    assert replayed(running) > 0


# -- SQL stopped ------------------------------------------------------------------


class TcpGate:
    """A TCP relay to PostgreSQL on a port of its own, which the test closes
    (connections cut, new ones dropped at once) and opens again: SQL
    'stopped'. The port stays bound throughout, so nothing else takes it."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.links: list[socket.socket] = []
        self.lock = threading.Lock()
        self.passing = threading.Event()
        self.passing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.passing.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)

    def open(self) -> None:
        self.passing.set()

    def close(self) -> None:
        self.passing.clear()
        with self.lock:
            links, self.links = self.links, []
        for link in links:
            with contextlib.suppress(OSError):
                link.shutdown(socket.SHUT_RDWR)
            link.close()

    def shut(self) -> None:
        self.close()
        with contextlib.suppress(OSError):  # wakes the accepting thread
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()


class SqlSwitch:
    """The call log's URL for the app, and a way to stop and start SQL.

    PostgreSQL: reached through a `TcpGate` the test closes. SQLite (a file,
    no server to stop): held under an exclusive lock, so no writer gets in.
    """

    def __init__(self, database_url: str) -> None:
        self.real = sa.make_url(database_url)
        self.gate: TcpGate | None = None
        self.holder: sqlite3.Connection | None = None
        self.url = database_url
        if self.real.get_backend_name() != "sqlite":
            self.gate = TcpGate((self.real.host or "127.0.0.1", self.real.port or 5432))
            self.url = self.real.set(
                host="127.0.0.1", port=self.gate.port
            ).render_as_string(hide_password=False)

    def stop(self) -> None:
        if self.gate is not None:
            self.gate.close()
            return
        self.holder = sqlite3.connect(self.real.database or "", timeout=30)
        self.holder.execute("BEGIN EXCLUSIVE")

    def start(self) -> None:
        if self.gate is not None:
            self.gate.open()
        elif self.holder is not None:
            self.holder.rollback()
            self.holder.close()
            self.holder = None

    def close(self) -> None:
        self.start()
        if self.gate is not None:
            self.gate.shut()


def test_sql_stopped_for_thirty_seconds_changes_nothing_callers_hear(
    hotline: Callable[..., Hotline], fresh_database_url: str
) -> None:
    """Callers while the call log is stopped hear word for word what callers
    heard before (a first call, then a returning caller's "same problem as
    today?"), and the log catches up once SQL is back."""
    switch = SqlSwitch(fresh_database_url)
    try:
        running = hotline(switch.url)

        def story(number: str) -> tuple[list[str], list[str]]:
            first = running.call_from(number, [Digits("4")])
            assert running.carrier.wait_idle(timeout=60.0)
            again = running.call_from(number, [Digits("1")])  # "same problem": yes
            assert running.carrier.wait_idle(timeout=60.0)
            return words(running, first), words(running, again)

        before = story("+33630099901")
        assert any("aujourd'hui" in said for said in before[1]), before[1]
        switch.stop()
        stopped_at = time.monotonic()
        during = story("+33630099902")
        place(running, 3, 0.3)
        assert running.carrier.wait_idle(timeout=60.0)
        assert during == before
        slowest = max(seconds for _, seconds in running.carrier.webhook_times)
        assert slowest < 1.0
        time.sleep(max(0.0, 30.0 - (time.monotonic() - stopped_at)))
        # SQL really was out of reach: nothing of these calls got logged.
        engine = sa.create_engine(normalise_url(fresh_database_url))
        with Session(engine) as session:
            logged = set(session.scalars(sa.select(Call.call_sid)))
        engine.dispose()
        assert logged.isdisjoint(running.placed[2:]), logged
        switch.start()
        check_nobody_dropped(running)
    finally:
        switch.close()


def words(hotline: Hotline, sid: str) -> list[str]:
    """What a caller heard outside the queue (hold announcements depend on
    timing, not on SQL)."""
    return [
        e.detail
        for e in hotline.carrier.calls[sid].transcript
        if e.kind == "say" and e.queue is None
    ]


@pytest.mark.heavy  # on a cluster of its own: CI's second pass would repeat it
def test_the_routing_clusters_master_frozen_for_three_seconds_drops_nobody(
    hotline: Callable[..., Hotline], fresh_database_url: str, tmp_path: Path
) -> None:
    """The routing state on a Redis Cluster (`ROUTING_REDIS_URL`), RQ on the
    Valkey beside it: the master that holds the routing slot stops answering
    for three seconds, as the standalone server above does."""
    with valkey_cluster(tmp_path / "cluster") as cluster:
        running = hotline(fresh_database_url, cluster.url)
        place(running, 6, 0.2)
        time.sleep(0.5)
        owner = cluster.owner_pid(Keys().events)
        os.kill(owner, signal.SIGSTOP)
        try:
            place(running, 4, 0.5)
            time.sleep(1.0)
        finally:
            os.kill(owner, signal.SIGCONT)
        place(running, 3, 0.2)
        check_nobody_dropped(running)
        assert replayed(running) > 0
        assert cluster.client.exists(Keys().agent("h0")) == 1  # it was the cluster
