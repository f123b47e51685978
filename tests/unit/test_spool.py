"""The journal of writes made while Redis was down: order, durability, replay."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from queues.spool import Args, Spool


class Down(Exception):
    """Stands for Redis failing again in the middle of a replay."""


def test_entries_replay_in_time_order_then_the_journal_is_empty(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    assert not spool.pending()
    spool.append("enqueue", ["CA2", "email", 0], 2_000)
    spool.append("start_call", ["CA1"], 1_000)
    spool.append("enqueue", ["CA1", "email", 0], 1_500)
    assert spool.pending()
    assert Spool(tmp_path / "spool.sqlite3").count() == 3  # on disk, for all
    seen: list[tuple[str, Args, int]] = []
    assert (
        spool.replay(
            lambda op, args, at: seen.append((op, args, at)),
            lambda exc: isinstance(exc, Down),
        )
        == 3
    )
    assert [(op, args[0], at) for op, args, at in seen] == [
        ("start_call", "CA1", 1_000),
        ("enqueue", "CA1", 1_500),
        ("enqueue", "CA2", 2_000),
    ]
    assert not spool.pending()
    assert spool.count() == 0


def test_a_replay_interrupted_by_an_outage_keeps_the_rest_in_order(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    for n in range(4):
        spool.append("note_call", [f"CA{n}"], 1_000 + n)

    def apply(op: str, args: Args, at: int) -> None:
        if args[0] == "CA2":
            raise Down

    assert spool.replay(apply, lambda exc: isinstance(exc, Down)) == 2
    assert spool.pending()
    seen: list[str] = []
    spool.replay(lambda op, args, at: seen.append(args[0]), lambda exc: False)
    assert seen == ["CA2", "CA3"]


def test_an_entry_that_cannot_be_applied_is_dropped_not_blocking(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.append("enqueue", ["CAbad"], 1)
    spool.append("enqueue", ["CAgood"], 2)
    seen: list[str] = []

    def apply(op: str, args: Args, at: int) -> None:
        if args[0] == "CAbad":
            raise KeyError("no such queue")
        seen.append(args[0])

    assert spool.replay(apply, lambda exc: isinstance(exc, Down)) == 1
    assert seen == ["CAgood"]
    assert not spool.pending()
    assert "dropping journaled enqueue" in caplog.text


def test_a_webhook_journals_while_a_replay_applies_and_its_entry_is_replayed_too(
    tmp_path: Path,
) -> None:
    """Applying an entry talks to Redis and Twilio; a webhook journaling in
    that moment must not wait for it (the old replay held the journal's write
    lock throughout: this append failed with "database is locked")."""
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.append("start_call", ["CA1"], 1_000)
    webhook = Spool(tmp_path / "spool.sqlite3")  # another process's handle
    seen: list[str] = []

    def apply(op: str, args: Args, at: int) -> None:
        seen.append(args[0])
        if args[0] == "CA1":
            webhook.append("start_call", ["CA2"], 2_000)

    assert spool.replay(apply, lambda exc: isinstance(exc, Down)) == 2
    assert seen == ["CA1", "CA2"]
    assert not spool.pending()


def test_one_replayer_at_a_time_per_host(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3")
    spool.append("start_call", ["CA1"], 1_000)
    other = Spool(tmp_path / "spool.sqlite3")
    inner: list[int] = []

    def apply(op: str, args: Args, at: int) -> None:
        inner.append(other.replay(lambda *_: None, lambda exc: False))

    assert spool.replay(apply, lambda exc: isinstance(exc, Down)) == 1
    assert inner == [0]  # the second replayer stood back
    assert not spool.pending()


def _open_together(path: str, barrier: Any, errors: Any) -> None:
    barrier.wait()
    try:
        Spool(Path(path)).append("call_started", ["CA1"], 1)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(exc).__name__}: {exc}")


def test_processes_that_start_together_all_open_a_new_spool(tmp_path: Path) -> None:
    """Gunicorn boots its workers at once: each opens the host's journal. The
    first ones made it (WAL) while the others set WAL too and were told
    "database is locked" at once (no busy wait for that), and the worker
    failed to boot."""
    context = multiprocessing.get_context("fork")
    errors = context.Queue()
    for attempt in range(6):
        path = tmp_path / f"spool-{attempt}.sqlite3"
        barrier = context.Barrier(8)
        workers = [
            context.Process(target=_open_together, args=(str(path), barrier, errors))
            for _ in range(8)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        found = []
        while not errors.empty():
            found.append(errors.get())
        assert found == []
        assert Spool(path).count() == 8
