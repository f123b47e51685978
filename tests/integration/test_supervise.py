"""The supervisor `hotline run` uses, on real processes and on a fake clock.

Real children: a killed one is reaped and restarted with the same command, a
crash loop backs off and gives up, a killed Valkey comes back on the same port
with its append-only data. Fake children and clock: the backoff doubles to its
cap and starts over after a stable run. `check` is driven from the test's
thread, as `run` does from `hotline run`'s main thread.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from cli.stack import ManagedProcess
from cli.supervise import Backoff, Supervisor, SupervisorGaveUp, describe_exit
from core.embedded_redis import EmbeddedRedis

pytestmark = pytest.mark.timeout(60)


def _reaped(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists() if Path("/proc").is_dir() else True


def _until(supervisor: Supervisor, done: object, timeout: float = 10.0) -> None:
    assert callable(done)
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "timed out"
        supervisor.check()
        time.sleep(0.02)


def test_describe_exit_names_the_signal_or_the_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"
    assert describe_exit(-200) == "was killed by signal 200"


def test_a_killed_child_is_reaped_logged_and_started_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sleeper = ManagedProcess(
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        dict(os.environ),
        tmp_path,
    )
    sleeper.start()
    other = ManagedProcess(
        "other",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        dict(os.environ),
        tmp_path,
    )
    other.start()
    first, other_pid = sleeper.pid, other.pid
    assert first is not None
    assert other_pid is not None
    supervisor = Supervisor([sleeper, other], backoff=Backoff(first=0.05))
    try:
        caplog.set_level(logging.INFO, logger="cli.supervise")
        os.kill(first, signal.SIGKILL)
        _until(supervisor, lambda: sleeper.pid not in (None, first))
        assert _reaped(first)
        assert supervisor.restarts() == {"sleeper": 1, "other": 0}
        assert other.pid == other_pid
        assert other.poll() is None
        assert sleeper.command[-1] == "import time; time.sleep(60)"
        messages = [r.getMessage() for r in caplog.records]
        assert any(
            m.startswith(f"sleeper (pid {first}) was killed by SIGKILL after")
            and m.endswith("restarting it in 0.05 s (restart 1)")
            for m in messages
        ), messages
        assert f"sleeper restarted (pid {sleeper.pid}, restart 1)" in messages
    finally:
        sleeper.stop()
        other.stop()


def test_a_crash_loop_backs_off_then_gives_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crasher = ManagedProcess(
        "crasher", [sys.executable, "-c", "raise SystemExit(3)"], os.environ, tmp_path
    )
    crasher.start()
    supervisor = Supervisor(
        [crasher], backoff=Backoff(first=0.01, factor=2, cap=0.04, max_failures=4)
    )
    caplog.set_level(logging.INFO, logger="cli.supervise")
    started = time.monotonic()
    with pytest.raises(SupervisorGaveUp, match="crasher failed 4 times in a row"):
        _until(supervisor, lambda: False)
    assert time.monotonic() - started < 10
    assert supervisor.restarts() == {"crasher": 3}
    warnings = [r.getMessage() for r in caplog.records if "exited" in r.getMessage()]
    assert [w.split("restarting it in ")[-1] for w in warnings[:3]] == [
        "0.01 s (restart 1)",
        "0.02 s (restart 2)",
        "0.04 s (restart 3)",
    ]
    assert "exited with code 3" in warnings[-1]
    assert "giving up" in warnings[-1]
    assert crasher.poll() is None
    assert crasher.pid is None


class FakeChild:
    """Dies when told; `restart` succeeds or raises as scripted."""

    name = "fake"

    def __init__(self) -> None:
        self.pid: int | None = 100
        self.code: int | None = None
        self.fail_restart = False

    def poll(self) -> int | None:
        return self.code

    def clean_up(self) -> None:
        self.pid = None
        self.code = None

    def restart(self) -> None:
        if self.fail_restart:
            raise OSError("no such file")
        self.pid = 200


def test_the_delay_doubles_to_its_cap_and_starts_over_after_a_stable_run() -> None:
    now = [0.0]
    child = FakeChild()
    supervisor = Supervisor(
        [child],
        backoff=Backoff(first=1, factor=2, cap=3, stable_after=30, max_failures=9),
        clock=lambda: now[0],
    )

    def crash_and_restart() -> float:
        """Seconds the supervisor waited before restarting the child."""
        child.code = -9
        supervisor.check()
        crashed = now[0]
        while child.pid is None:
            now[0] += 0.5
            supervisor.check()
        return now[0] - crashed

    assert [crash_and_restart() for _ in range(4)] == [1, 2, 3, 3]
    now[0] += 30  # a good run
    assert crash_and_restart() == 1
    child.fail_restart = True
    child.code = -9
    supervisor.check()
    now[0] += 2.0
    supervisor.check()  # the restart fails: counted, tried again later
    assert child.pid is None
    child.fail_restart = False
    now[0] += 10
    supervisor.check()
    assert child.pid == 200
    assert supervisor.restarts() == {"fake": 7}


def test_a_stop_in_progress_is_not_a_failure() -> None:
    child = FakeChild()
    child.code = 0
    supervisor = Supervisor([child])
    stopping = threading.Event()
    stopping.set()
    supervisor.check(stopping)
    assert child.pid == 100  # neither cleaned up nor restarted


def test_a_killed_valkey_comes_back_on_its_port_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        client.set("waiting", "CA1")
        client.close()
        first = server.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        supervisor = Supervisor([server], backoff=Backoff(first=0.05))
        _until(supervisor, lambda: server.pid not in (None, first))
        assert _reaped(first)
        client = redis.Redis.from_url(server.url)
        assert client.get("waiting") == b"CA1"
        client.close()
    finally:
        server.stop()
