"""Starts and stops the hotline's processes: gunicorn (web), gunicorn (the
consoles' live feed) and the worker.

Shared by `hotline run` and the end-to-end tests, so what the tests exercise
is exactly what a user runs. Each child is a `ManagedProcess`: its own session
and process group (a Ctrl-C in the terminal reaches only `hotline run`, which
stops them in order), told to die with its parent on Linux, terminated (then
killed) as a whole group on stop: no orphans. `hotline run` supervises the
children (`cli.supervise`): `poll` reaps a dead one, `clean_up` ends what it
left behind (a SIGKILLed gunicorn master leaves workers holding the port),
`restart` starts it again with the same command and environment.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from cli.procs import PROC, process_table
from core.embedded_redis import die_with_parent, free_port
from core.errors import HotlineError


class StackError(HotlineError):
    """A hotline process did not start."""


#: Threads per web worker: webhooks, pages and the API, all short requests
#: (the consoles' feeds are served by the feed's own processes).
WEB_THREADS = 16
#: Threads of the feed's one worker: each open console holds one as long as
#: it is open, blocked on Redis nearly all the time.
FEED_THREADS = 256
#: How much lower the feed's CPU priority is (`yield_the_cpu`).
BACKGROUND_NICENESS = 10


def yield_the_cpu() -> None:
    """Make the calling process give way to the others on the CPU.

    For the consoles' feed: a caller waits on every webhook, while a pop-up a
    few milliseconds later changes nothing. On a machine with few cores a feed
    woken by an offer otherwise takes a CPU just when that call's next webhooks
    want it (`bench/console.py`: webhook p99 1.20-1.25x with 50 consoles
    open, 1.09x so). SCHED_BATCH: never preempts a running process when it
    wakes; niceness 10: a smaller share when both want the CPU, never none
    (SCHED_IDLE would starve the feed on a saturated machine). The Procfile
    does the same with `nice -n 10 chrt --batch 0`.
    """
    os.nice(BACKGROUND_NICENESS)
    if hasattr(os, "sched_setscheduler"):  # Linux
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))


WEB_APP = "web:create_app()"
FEED_APP = "web:create_feed_app()"


def gunicorn_command(
    port: int, workers: int = 2, threads: int = WEB_THREADS, app: str = WEB_APP
) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--no-control-socket",
        "--graceful-timeout",
        "5",
        "--access-logfile",
        "-",
        app,
    ]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "cli", "worker"]


def group_alive(pgid: int) -> bool:
    """Whether process group `pgid` still has a member that is not a zombie.

    Zombies are ignored where /proc tells them apart: an orphan that exited
    is its new parent's to reap and holds no port or file any more.
    """
    if not PROC.is_dir():  # pragma: no cover - not Linux
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return any(p.pgrp == pgid and p.state not in ("Z", "X") for p in process_table())


class ManagedProcess:
    """One command run as a child in a session of its own, logging to a file.

    `restart` reuses the command and the environment given here, so a
    restarted worker is the same worker. `background`: the child yields the
    CPU to the others (`yield_the_cpu`).
    """

    def __init__(
        self,
        name: str,
        command: list[str],
        env: Mapping[str, str],
        log_dir: Path,
        background: bool = False,
    ) -> None:
        self.name = name
        self.command = command
        self.env = dict(env)
        self.log_dir = log_dir
        self.background = background
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self._process

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own interpreter
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self._prepare,  # noqa: PLW1509
            )

    def _prepare(self) -> None:  # pragma: no cover - runs in the child
        die_with_parent()
        if self.background:
            yield_the_cpu()

    def poll(self) -> int | None:
        """The exit status once the process ended (reaped: no zombie), else None.

        Negative: killed by that signal, as `subprocess.Popen.returncode`.
        None as well when it was never started or was cleaned up.
        """
        return None if self._process is None else self._process.poll()

    def clean_up(self, grace: float = 3.0) -> None:
        """After the process died: forget it and end what it left in its group.

        Gunicorn workers orphaned by a killed master keep serving, and keep the
        port the next master must bind, until they notice; they get SIGTERM
        (finish the requests in hand), then SIGKILL after `grace` seconds. Call
        it soon after `poll` saw the exit: the group id is the dead leader's
        pid, which the system may hand out again once the group is empty.
        """
        process = self._process
        if process is None or process.poll() is None:
            return
        self._process = None
        self._end_group(process.pid, grace)

    @staticmethod
    def _end_group(pgid: int, grace: float) -> None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + grace
        while group_alive(pgid):
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                return
            time.sleep(0.05)

    def restart(self) -> None:
        """Start again, the same way; a process still running is stopped first."""
        if self._process is not None and self._process.poll() is None:
            self.stop()
        self.clean_up()
        self.start()

    def terminate(self) -> None:
        """Ask the whole group to stop (SIGTERM), without waiting."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        """Wait for the process until `deadline` (monotonic), then kill the group.

        The group is killed even when the leader exited in time, in case a
        member outlived it.
        """
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        if group_alive(process.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        self.wait(time.monotonic() + timeout)


class Stack:
    """The web server, the consoles' feed and the workers, with a given
    environment; the feed listens on `feed_port` (a free one when None) of
    the same host, which the web tells consoles' pages (`FEED_PORT`)."""

    def __init__(
        self,
        env: Mapping[str, str],
        port: int,
        log_dir: Path,
        *,
        workers: int = 1,
        web_workers: int = 2,
        feed_port: int | None = None,
    ) -> None:
        self.feed_port = feed_port or free_port()
        self.env = {**os.environ, **env, "FEED_PORT": str(self.feed_port)}
        self.port = port
        self.log_dir = log_dir
        self.workers = workers
        self.web_workers = web_workers
        # The web's workers add up their /metrics figures through files here
        # (prometheus-client's multiprocess mode), emptied at each start.
        metrics_dir = log_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True, exist_ok=True)
        web_env = {**self.env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
        self.children: list[ManagedProcess] = [
            ManagedProcess(
                "web", gunicorn_command(port, workers=web_workers), web_env, log_dir
            ),
            ManagedProcess(
                "feed",
                gunicorn_command(
                    self.feed_port, workers=1, threads=FEED_THREADS, app=FEED_APP
                ),
                self.env,
                log_dir,
                background=True,
            ),
            *(
                ManagedProcess(f"worker-{n}", worker_command(), self.env, log_dir)
                for n in range(workers)
            ),
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def feed_url(self) -> str:
        return f"http://127.0.0.1:{self.feed_port}"

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The children's current processes (those started and not stopped)."""
        return [c.process for c in self.children if c.process is not None]

    def start(self, timeout: float = 30.0) -> None:
        for child in self.children:
            child.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for child in self.children:
                code = child.poll()
                if code is not None:
                    self.stop()
                    raise StackError(
                        f"a hotline process ({child.name}) exited at start "
                        f"(code {code}); see the logs in {self.log_dir}"
                    )
            if all(self._answers(url) for url in (self.url, self.feed_url)):
                return
            time.sleep(0.2)
        self.stop()
        raise StackError(
            f"the web server or the consoles' feed did not answer within "
            f"{timeout}s; see {self.log_dir / 'web.log'} and "
            f"{self.log_dir / 'feed.log'}"
        )

    @staticmethod
    def _answers(url: str) -> bool:
        with contextlib.suppress(requests.RequestException):
            return requests.get(f"{url}/healthz", timeout=1).ok
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM every child's group at once, then wait; SIGKILL what stays."""
        for child in self.children:
            child.terminate()
        deadline = time.monotonic() + timeout
        for child in self.children:
            child.wait(deadline)
