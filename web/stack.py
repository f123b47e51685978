"""Starts and stops the hotline's processes: gunicorn (web) and the worker.

Shared by `hotline run` and the end-to-end tests, so what the tests exercise
is exactly what a user runs. Children get their own process group and are
terminated (then killed) on stop: no orphans.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from core.errors import HotlineError


class StackError(HotlineError):
    """A hotline process did not start."""


def gunicorn_command(port: int, workers: int = 2, threads: int = 4) -> list[str]:
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
        "web:create_app()",
    ]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "web.cli", "worker"]


class Stack:
    """The web server and one worker, with a given environment."""

    def __init__(
        self,
        env: Mapping[str, str],
        port: int,
        log_dir: Path,
        *,
        workers: int = 1,
        web_workers: int = 2,
    ) -> None:
        self.env = {**os.environ, **env}
        self.port = port
        self.log_dir = log_dir
        self.workers = workers
        self.web_workers = web_workers
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process

    def start(self, timeout: float = 30.0) -> None:
        self._spawn("web", gunicorn_command(self.port, workers=self.web_workers))
        for n in range(self.workers):
            self._spawn(f"worker-{n}", worker_command())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    self.stop()
                    raise StackError(
                        "a hotline process exited at start "
                        f"(code {process.returncode});"
                        f" see the logs in {self.log_dir}"
                    )
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=1).ok:
                    return
            time.sleep(0.2)
        self.stop()
        raise StackError(
            f"the web server did not answer within {timeout}s; "
            f"see {self.log_dir / 'web.log'}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        processes, self.processes = self.processes, []
        for process in processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
