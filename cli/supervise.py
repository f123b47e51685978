"""Keeps `hotline run`'s processes alive: a dead child is reaped and restarted.

Why: `hotline run` is the whole hotline on one machine. Without a supervisor
a killed Valkey stayed a zombie with nothing to restart it, and the death of
one process (the worker) took the others down. Here each child (the embedded
Valkey, gunicorn, each worker) is polled, which reaps it as soon as it dies;
its exit is logged (which process, exit code or signal, restart count); what
it left behind is ended; and it is started again the same way (Valkey on the
same port and data folder, whose append-only file gives back the live state;
gunicorn on the same port; the worker with the same command and environment).
The others keep running: web and worker reconnect to Redis by themselves.

A crash loop must not spin: restarts wait `Backoff.first` seconds, doubling
up to `Backoff.cap`; a child that stayed up `Backoff.stable_after` seconds
starts from `first` again. After `Backoff.max_failures` failures in a row,
each soon after its start, the supervisor gives up (`SupervisorGaveUp`): the
caller stops everything and exits non-zero rather than pretend to run.

Linux tells a child to die when the *thread* that started it ends
(`core.embedded_redis.die_with_parent`): run the supervisor in the main
thread, which is also where signal handlers set the stop event.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from cli.procs import process_table
from core.errors import HotlineError

log = logging.getLogger(__name__)

#: Seconds between two looks for orphans to reap (see `become_subreaper`).
ORPHAN_INTERVAL = 1.0


class Child(Protocol):
    """A process the supervisor watches (`EmbeddedRedis`, `ManagedProcess`)."""

    @property
    def name(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def poll(self) -> int | None:
        """Exit status once dead (reaping it), else None."""
        ...

    def clean_up(self) -> None:
        """Forget the dead process and end what it left behind."""
        ...

    def restart(self) -> None:
        """Start again the same way; raise `HotlineError` or `OSError` if not."""
        ...


class SupervisorGaveUp(HotlineError):
    """A child kept failing soon after each start."""


@dataclass(frozen=True, slots=True)
class Backoff:
    """How long to wait before a restart, and when to stop trying."""

    first: float = 0.5
    factor: float = 2.0
    cap: float = 10.0
    #: A child up this long had a good run: its next failure starts over.
    stable_after: float = 30.0
    #: Failures in a row (each before `stable_after`) that end supervision.
    max_failures: int = 5


def describe_exit(code: int) -> str:
    """'was killed by SIGKILL' or 'exited with code 1', from a returncode."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"
    return f"exited with code {code}"


@dataclass(slots=True)
class _Watch:
    child: Child
    started_at: float
    pid: int | None
    delay: float
    restarts: int = 0
    failures: int = 0  # in a row, since the last stable run
    restart_at: float | None = None  # set while the child is down


class Supervisor:
    """Polls children, restarts the dead ones with backoff, reaps orphans.

    `check` does one pass and is what tests drive (with a fake clock);
    `run` loops until a stop event is set.
    """

    def __init__(
        self,
        children: Sequence[Child],
        *,
        backoff: Backoff | None = None,
        tick: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        reap_orphans: bool = False,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.tick = tick
        self._clock = clock
        self._reap_orphans = reap_orphans
        self._zombies_seen: set[int] = set()
        self._next_orphan_pass = 0.0
        now = clock()
        self._watches = [
            _Watch(child, now, child.pid, self.backoff.first) for child in children
        ]

    def restarts(self) -> dict[str, int]:
        """How many times each child was restarted, by name."""
        return {w.child.name: w.restarts for w in self._watches}

    def run(self, stop: threading.Event) -> None:
        """Supervise until `stop` is set; raises `SupervisorGaveUp`."""
        while not stop.is_set():
            self.check(stop)
            stop.wait(self.tick)

    def check(self, stop: threading.Event | None = None) -> None:
        """One pass: reap and schedule the dead, restart those whose time came."""
        for watch in self._watches:
            if stop is not None and stop.is_set():
                return  # stopping: an exit now is part of it, not a failure
            if watch.restart_at is None:
                code = watch.child.poll()
                if code is None:
                    continue
                watch.child.clean_up()
                self._failed(watch, f"(pid {watch.pid}) {describe_exit(code)}")
            elif self._clock() >= watch.restart_at:
                self._restart(watch)
        # Orphans are rare (a child died before its own children): a look at
        # /proc every ORPHAN_INTERVAL is enough and costs next to nothing.
        if self._reap_orphans and self._clock() >= self._next_orphan_pass:
            self._next_orphan_pass = self._clock() + ORPHAN_INTERVAL
            known = {w.pid for w in self._watches if w.pid is not None}
            self._zombies_seen = reap_orphans(known, self._zombies_seen)

    def _failed(self, watch: _Watch, what: str) -> None:
        now = self._clock()
        up = now - watch.started_at
        if up >= self.backoff.stable_after:
            watch.failures = 0
            watch.delay = self.backoff.first
        watch.failures += 1
        name = watch.child.name
        if watch.failures >= self.backoff.max_failures:
            log.error(
                "%s %s after %.1f s up; it failed %d times in a row, each within "
                "%g s of starting: giving up",
                name,
                what,
                up,
                watch.failures,
                self.backoff.stable_after,
            )
            raise SupervisorGaveUp(
                f"{name} failed {watch.failures} times in a row, each within "
                f"{self.backoff.stable_after:g} s of starting; not restarting it"
            )
        watch.restart_at = now + watch.delay
        log.warning(
            "%s %s after %.1f s up; restarting it in %g s (restart %d)",
            name,
            what,
            up,
            watch.delay,
            watch.restarts + 1,
        )
        watch.delay = min(watch.delay * self.backoff.factor, self.backoff.cap)

    def _restart(self, watch: _Watch) -> None:
        watch.restarts += 1
        watch.restart_at = None
        watch.started_at = self._clock()
        name = watch.child.name
        try:
            watch.child.restart()
        except (HotlineError, OSError) as exc:
            watch.pid = None
            self._failed(watch, f"could not be restarted ({exc})")
            return
        watch.pid = watch.child.pid
        log.warning(
            "%s restarted (pid %s, restart %d)", name, watch.pid, watch.restarts
        )


# Orphans ---------------------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt the orphans of our children (Linux), so `reap_orphans` can reap them.

    A SIGKILLed gunicorn master leaves its workers behind; once they exit they
    wait as zombies for their new parent, which in a container whose PID 1 does
    not reap (or when `hotline run` is PID 1) is never. As a subreaper the
    hotline adopts them and reaps them itself. Returns whether it worked.
    """
    if not sys.platform.startswith("linux"):  # pragma: no cover - not Linux
        return False
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0


def _zombie_children() -> set[int]:
    """Our children that are zombies, from /proc (empty elsewhere)."""
    me = os.getpid()
    return {p.pid for p in process_table() if p.state == "Z" and p.ppid == me}


def reap_orphans(known: Collection[int], seen_before: set[int]) -> set[int]:
    """Reap zombie children nobody else waits for; returns this pass's zombies.

    `known` are the pids a `Popen` owns (its `poll` reaps them: reaping them
    here would steal their exit status). A zombie is reaped only when it was
    already one on the previous pass (`seen_before`), so that a `Popen` in
    another thread has had its chance to wait for its own child.
    """
    zombies = _zombie_children() - set(known)
    for pid in zombies & seen_before:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return zombies - seen_before


def reap_orphans_until_none(timeout: float = 2.0) -> None:
    """At the end: reap every zombie child left (all `Popen`s were waited for)."""
    deadline = time.monotonic() + timeout
    while True:
        zombies = _zombie_children()
        for pid in zombies:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if not zombies or time.monotonic() >= deadline:
            return
        time.sleep(0.05)
