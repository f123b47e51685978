"""`hotline run` supervises its children: SIGKILLed, each is restarted.

The real command runs as a subprocess in a temporary instance folder, with the
carrier simulator and nothing from the environment's Redis, SQL or Twilio. The
test finds Valkey, gunicorn and the worker among the command's children in
/proc, kills each with SIGKILL, and checks it comes back (a new pid, the same
port, the supervisor's log line) with the dead one reaped. Then two callers
dial in through the simulator's phone page API, reach one of the demo's
simulated hotliners and end `completed` in the SQL call log. SIGTERM then
stops everything: no process of this hotline is left, not even a zombie.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from support import bearer, supervisor_token, wait_for

from calllog.models import Call
from core.embedded_redis import free_port
from core.settings import DEFAULT_CONFIG_DIR

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(180),
    pytest.mark.skipif(
        not Path("/proc/self/stat").exists(), reason="finds processes in /proc"
    ),
]

ROOT = Path(__file__).resolve().parents[2]

#: Two hotliners with every skill, on shift round the clock: the demo logs
#: them in whatever the time of day.
HOTLINERS = """
hotliners:
  - id: nina
    name: "Nina Nuit-et-Jour"
    endpoint: "client:nina"
    skills: {software: 3, printer: 3, network: 3, email: 3, account: 3,
             hardware: 3, general: 3}
    shifts: ["daily 00:00-00:00"]
  - id: omar
    name: "Omar Toujours-La"
    endpoint: "client:omar"
    skills: {software: 3, printer: 3, network: 3, email: 3, account: 3,
             hardware: 3, general: 3}
    shifts: ["daily 00:00-00:00"]
"""

#: What `hotline run` must not inherit: it starts its own Valkey, SQLite and
#: simulator in the temporary instance folder.
NOT_INHERITED = (
    "REDIS_URL",
    "DATABASE_URL",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_API_BASE_URL",
    "PUBLIC_BASE_URL",
    "SECRET_KEY",
    "HOTLINE_CONFIG",
    "HOTLINE_INSTANCE",
    "HOTLINE_NUMBER",
)


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    pgid: int
    state: str
    cmdline: str


def processes() -> dict[int, Proc]:
    found: dict[int, Proc] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        found[pid] = Proc(
            pid,
            int(fields[1]),
            int(fields[2]),
            fields[0],
            cmdline.replace(b"\0", b" ").decode(),
        )
    return found


def children(parent: int) -> dict[str, int]:
    """The supervised children of `hotline run`, by kind; zombies included.

    Each leads its own process group; orphans it adopted (the workers of a
    killed gunicorn master) are in their dead leader's group.
    """
    kinds: dict[str, int] = {}
    for proc in processes().values():
        if proc.ppid != parent:
            continue
        if proc.state == "Z":
            kinds.setdefault("zombie", proc.pid)
        elif proc.pgid != proc.pid:
            kinds.setdefault("adopted", proc.pid)
            kinds.setdefault("zombie", proc.pid)
        elif "valkey-server" in proc.cmdline:
            kinds["valkey"] = proc.pid
        elif "create_feed_app" in proc.cmdline:
            kinds["feed"] = proc.pid
        elif "gunicorn" in proc.cmdline:
            kinds["web"] = proc.pid
        elif "-m cli worker" in proc.cmdline:
            kinds["worker"] = proc.pid
    return kinds


def descendants(root: int) -> set[int]:
    procs = processes()
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {p.pid for p in procs.values() if p.ppid in frontier}
        found |= frontier
    return found


def gone(pid: int) -> bool:
    """Neither running nor a zombie: reaped."""
    return not Path(f"/proc/{pid}").exists()


class HotlineRun:
    """`hotline run` as a subprocess; its output (stdout and stderr) in a file."""

    def __init__(self, tmp_path: Path) -> None:
        self.instance = tmp_path / "instance"
        config = tmp_path / "config"
        shutil.copytree(DEFAULT_CONFIG_DIR, config)
        (config / "hotliners.yaml").write_text(HOTLINERS, encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
        env.update(
            HOTLINE_INSTANCE=str(self.instance),
            HOTLINE_CONFIG=str(config),
            PYTHONUNBUFFERED="1",
        )
        self.port = free_port()
        self.feed_port = free_port()
        script = Path(sys.executable).with_name("hotline")
        command = [str(script)]
        if not script.exists():
            command = [sys.executable, "-m", "cli"]
        self.output_file = tmp_path / "hotline-run.log"
        with self.output_file.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our own command
                [
                    *command,
                    "run",
                    "--port",
                    str(self.port),
                    "--feed-port",
                    str(self.feed_port),
                    # The demo logs the hotliners in; its trickle places one
                    # call at once, then (on average) one every 100 minutes.
                    "--calls-per-minute",
                    "0.01",
                    "--time-scale",
                    "0.1",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.seen: set[int] = set()

    @property
    def output(self) -> str:
        return self.output_file.read_text(errors="replace")

    def children(self) -> dict[str, int]:
        kinds = children(self.process.pid)
        self.seen |= descendants(self.process.pid)
        return kinds

    def close(self) -> None:
        """After a failure: stop it, and kill whatever it left."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        for pid in self.seen:
            proc = processes().get(pid)
            if proc is not None and proc.state != "Z":
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def hotline_run(tmp_path: Path) -> Iterator[HotlineRun]:
    run = HotlineRun(tmp_path)
    try:
        yield run
    finally:
        run.close()
        print(f"--- hotline run output ---\n{run.output[-6000:]}")


class PhoneCall:
    """A caller using the simulator's phone page API, as a browser would."""

    def __init__(self, phone_api: str, from_number: str) -> None:
        self.base = phone_api
        response = requests.post(phone_api, json={"from": from_number}, timeout=5)
        assert response.status_code == 201, response.text
        self.sid: str = response.json()["sid"]
        self.events: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}

    def poll(self) -> dict[str, Any]:
        response = requests.get(
            f"{self.base}/{self.sid}/events",
            params={"after": len(self.events)},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        self.state = response.json()
        self.events += self.state["events"]
        return self.state

    def ended(self) -> bool:
        return not self.poll()["live"]

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e["kind"] == kind)

    def press(self, keys: str) -> None:
        """Press `keys` at the next Gather that has had no input yet."""

        def ready() -> bool:
            state = self.poll()
            return state["listening"] is not None and self.count("gather") > self.count(
                "input"
            )

        wait_for(ready, 10, f"a Gather for {keys} on {self.sid}: {self.events}")
        response = requests.post(
            f"{self.base}/{self.sid}/keys", json={"keys": keys}, timeout=5
        )
        assert response.json() == {"heard": True}, self.events


def settled(run: HotlineRun, kind: str, for_seconds: float = 2.0) -> int:
    """The pid of the child of `kind` once the same one has run `for_seconds`."""
    since: dict[int, float] = {}

    def steady() -> int | None:
        pid = run.children().get(kind)
        if pid is None:
            return None
        first_seen = since.setdefault(pid, time.monotonic())
        return pid if time.monotonic() - first_seen >= for_seconds else None

    return int(wait_for(steady, 30, f"a {kind} running for {for_seconds} s"))


def test_killed_valkey_worker_web_and_feed_are_restarted_and_calls_go_on(
    hotline_run: HotlineRun,
) -> None:
    run = hotline_run
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    wait_for(lambda: "demo: 2 simulated hotliners" in run.output, 40, "the start")
    timings["started"] = time.monotonic() - t0
    valkey_port = int(
        re.findall(r"embedded Valkey on redis://127.0.0.1:(\d+)/0", run.output)[0]
    )
    phone = re.findall(r"try the voice menu: (\S+)/phone", run.output)[0]
    first = run.children()
    assert set(first) == {"valkey", "web", "feed", "worker"}, first
    token = supervisor_token(f"sqlite:///{run.instance / 'hotline.sqlite3'}")

    # Valkey: killed, reaped, restarted on the same port with its data.
    t = time.monotonic()
    os.kill(first["valkey"], signal.SIGKILL)
    valkey = wait_for(
        lambda: (
            (k := run.children()).get("valkey") not in (None, first["valkey"])
            and k["valkey"]
        ),
        15,
        "a new Valkey",
    )
    client = redis.Redis(port=valkey_port, socket_connect_timeout=1)
    assert wait_for(client.ping, 10, "Valkey answering on its port")
    client.close()
    assert gone(first["valkey"])

    def logged_in(agent_id: str) -> bool:
        url = f"http://127.0.0.1:{run.port}/api/agents/{agent_id}"
        try:
            answer = requests.get(url, headers=bearer(token), timeout=2)
            return answer.json()["state"] != "offline"
        except (requests.RequestException, ValueError):
            return False

    # The append-only file gave the live state back: the hotliners are still in.
    assert wait_for(
        lambda: logged_in("nina") and logged_in("omar"),
        10,
        "the hotliners still logged in",
    )
    wait_for(
        lambda: f"valkey restarted (pid {valkey}, restart 1)" in run.output,
        5,
        "the restart line",
    )
    assert f"valkey (pid {first['valkey']}) was killed by SIGKILL" in run.output
    timings["valkey back"] = time.monotonic() - t

    # The worker: same. (Losing Valkey may have made it exit: the supervisor
    # restarts it after a back-off, so wait until one runs and take its pid.)
    t = time.monotonic()
    worker = settled(run, "worker")
    os.kill(worker, signal.SIGKILL)
    new_worker = wait_for(
        lambda: (
            (k := run.children()).get("worker") not in (None, worker) and k["worker"]
        ),
        15,
        "a new worker",
    )
    assert gone(worker)
    wait_for(
        lambda: f"worker-0 restarted (pid {new_worker}" in run.output,
        5,
        "the restart line",
    )
    assert f"worker-0 (pid {worker}) was killed by SIGKILL" in run.output
    timings["worker back"] = time.monotonic() - t

    # The web: its gunicorn workers are ended with it, the port bound again.
    t = time.monotonic()
    web = run.children()["web"]
    web_workers = {p.pid for p in processes().values() if p.ppid == web}
    assert web_workers
    os.kill(web, signal.SIGKILL)
    new_web = wait_for(
        lambda: (k := run.children()).get("web") not in (None, web) and k["web"],
        15,
        "a new gunicorn",
    )

    def healthy(port: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    wait_for(lambda: healthy(run.port), 20, "the web answering again")
    wait_for(
        lambda: all(gone(p) for p in web_workers | {web}),
        10,
        "the old gunicorn processes reaped",
    )
    assert f"web (pid {web}) was killed by SIGKILL" in run.output
    assert f"web restarted (pid {new_web}, restart 1)" in run.output
    timings["web back"] = time.monotonic() - t

    # The consoles' feed: the same, on its own port.
    t = time.monotonic()
    feed = run.children()["feed"]
    feed_workers = {p.pid for p in processes().values() if p.ppid == feed}
    assert feed_workers
    os.kill(feed, signal.SIGKILL)
    new_feed = wait_for(
        lambda: (k := run.children()).get("feed") not in (None, feed) and k["feed"],
        15,
        "a new feed gunicorn",
    )
    wait_for(lambda: healthy(run.feed_port), 20, "the feed answering again")
    wait_for(
        lambda: all(gone(p) for p in feed_workers | {feed}),
        10,
        "the old feed processes reaped",
    )
    assert f"feed restarted (pid {new_feed}, restart 1)" in run.output
    timings["feed back"] = time.monotonic() - t

    # Calls go on: printer problem ("2"), "other" ("4"), to the printer queue.
    t = time.monotonic()
    calls = [
        PhoneCall(f"{phone}/phone/api/calls", f"+3361999{n:04d}") for n in range(2)
    ]
    for call in calls:
        call.press("2")
    for call in calls:
        call.press("4")
    for call in calls:
        wait_for(call.ended, 30, f"the end of {call.sid}")
        assert call.state["status"] == "completed", call.events
        assert "connected" in [e["kind"] for e in call.events], call.events
    engine = create_engine(f"sqlite:///{run.instance / 'hotline.sqlite3'}")

    def logged() -> list[Call] | None:
        with Session(engine) as session:
            rows = session.scalars(
                select(Call).where(Call.call_sid.in_([c.sid for c in calls]))
            ).all()
        done = [r for r in rows if r.status == "completed" and r.outcome]
        return done if len(done) == len(calls) else None

    # The call log writer holds a Redis lock (60 s TTL) while it drains; a
    # writer killed with the lock held (the worker, or Valkey, SIGKILLed
    # mid-drain: the AOF keeps the lock) delays the log until the lock lapses.
    rows = wait_for(logged, 75, "both calls completed in the call log")
    engine.dispose()
    assert {r.queue for r in rows} == {"printer"}
    assert {r.agent_id for r in rows} <= {"nina", "omar"}
    timings["calls done"] = time.monotonic() - t

    # SIGTERM: everything stops, nothing is left.
    t = time.monotonic()
    run.children()
    seen = set(run.seen)
    run.process.send_signal(signal.SIGTERM)
    assert run.process.wait(timeout=30) == 0, run.output
    timings["stopped"] = time.monotonic() - t
    assert "hotline stopped" in run.output
    assert all(gone(pid) for pid in seen), [
        processes().get(pid) for pid in seen if not gone(pid)
    ]
    marks = (
        f"127.0.0.1:{run.port}",
        f"127.0.0.1:{run.feed_port}",
        f"127.0.0.1:{valkey_port}",
        str(run.instance),
    )
    left = [p for p in processes().values() if any(m in p.cmdline for m in marks)]
    assert left == []
    restart_lines = [
        line for line in run.output.splitlines() if "cli.supervise" in line
    ]
    print("\n".join(restart_lines))
    print(", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
