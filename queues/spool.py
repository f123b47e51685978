"""A journal on local disk of what webhooks could not write while Redis was down.

Callers are not dropped when live state is unreachable: webhooks still answer
(menus come from memory, waiting callers are held by Twilio itself) and write
here what they would have changed in Redis: a call started, queued, ended, a
hotliner's leg over... When Redis answers again the journal is replayed in
time order, each entry with its own time (a caller queued during the outage
keeps the place of that moment), then emptied.

One SQLite file in the instance folder, shared by every process of a host
(SQLite serialises writers); a marker file beside it says "entries wait", so
a webhook can tell with one `stat()` whether it must keep journaling to keep
the order of what it writes.
"""

from __future__ import annotations

import fcntl
import json
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Arguments of a journaled operation: JSON values.
Args = list[Any]

#: Entries read at a time by a replay.
REPLAY_BATCH = 100
#: How long opening the journal is tried while other processes open it too (s).
OPEN_SECONDS = 10.0


class Spool:
    """Append operations; replay them in time order once; know if any wait."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path.with_suffix(".pending")
        self.lock_path = path.with_suffix(".replaying")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._create()

    def _create(self) -> None:
        """The file in WAL mode (kept by the file: once is enough) and its
        table. The processes of a host start together (gunicorn boots its
        workers at once) and SQLite answers "database is locked" at once,
        without its busy wait, to a journal mode change that meets another
        connection: that one is tried again for `OPEN_SECONDS`."""
        deadline = time.monotonic() + OPEN_SECONDS
        while True:
            try:
                with closing(sqlite3.connect(self.path, timeout=5.0)) as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    with db:
                        db.execute(
                            "CREATE TABLE IF NOT EXISTS ops (id INTEGER PRIMARY KEY, "
                            "at_ms INTEGER NOT NULL, op TEXT NOT NULL, "
                            "args TEXT NOT NULL)"
                        )
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.01, 0.05))

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=5.0)) as db:
            with db:  # one transaction, committed on success
                yield db

    def append(self, op: str, args: Args, at_ms: int) -> None:
        """Journal one operation (durable once this returns)."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO ops (at_ms, op, args) VALUES (?, ?, ?)",
                (at_ms, op, json.dumps(args)),
            )
        self.marker.touch()  # after the row: a replayer never misses it

    def pending(self) -> bool:
        """Entries wait to be replayed (by this process or another)."""
        return self.marker.exists()

    def count(self) -> int:
        with self._connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM ops").fetchone()[0])

    def replay(
        self,
        apply: Callable[[str, Args, int], None],
        is_outage: Callable[[BaseException], bool],
    ) -> int:
        """Apply every entry in time order, removing each once applied.

        Stops (keeping the rest) at the first failure `is_outage` recognises
        (Redis went away again); an entry failing otherwise is logged and
        dropped, so one bad entry never blocks the journal. Returns how many
        were applied (0 if another process of the host is replaying).

        The journal's write lock is held only to read a batch, to delete an
        entry and to see it empty, never while an entry is applied: applying
        talks to Redis and to Twilio, and webhooks journaling meanwhile must
        not wait for that (they answer Twilio within a second). Entries they
        add are later in time and are replayed in a following batch.
        """
        applied = 0
        with self._replayer() as alone:
            if not alone:
                return 0
            while True:
                with self._connect() as db:
                    rows = db.execute(
                        "SELECT id, at_ms, op, args FROM ops"
                        " ORDER BY at_ms, id LIMIT ?",
                        (REPLAY_BATCH,),
                    ).fetchall()
                if not rows:
                    if self._forget_if_empty():
                        return applied
                    continue
                for row_id, at_ms, op, raw in rows:
                    try:
                        apply(op, json.loads(raw), int(at_ms))
                    except Exception as exc:  # noqa: BLE001 - sorted below
                        if is_outage(exc):
                            return applied
                        log.exception(
                            "dropping journaled %s %s: it cannot be applied", op, raw
                        )
                    else:
                        applied += 1
                    with self._connect() as db:
                        db.execute("DELETE FROM ops WHERE id = ?", (row_id,))

    def _forget_if_empty(self) -> bool:
        """Remove the marker if no entry is left; under the write lock, so an
        entry appended meanwhile (its marker touched after its commit) is
        never left without its marker."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            if int(db.execute("SELECT COUNT(*) FROM ops").fetchone()[0]):
                return False
            self.marker.unlink(missing_ok=True)
            return True

    @contextmanager
    def _replayer(self) -> Iterator[bool]:
        """One replayer at a time per host (every web process watches):
        True if this one may replay now."""
        with self.lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
