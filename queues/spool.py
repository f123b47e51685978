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

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Arguments of a journaled operation: JSON values.
Args = list[Any]


class Spool:
    """Append operations; replay them in time order once; know if any wait."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path.with_suffix(".pending")
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS ops (id INTEGER PRIMARY KEY, "
                "at_ms INTEGER NOT NULL, op TEXT NOT NULL, args TEXT NOT NULL)"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.path, timeout=5.0)) as db:
            db.execute("PRAGMA journal_mode=WAL")
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
        were applied.
        """
        applied = 0
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")  # one replayer at a time, per host
            rows = db.execute("SELECT id, at_ms, op, args FROM ops ORDER BY at_ms, id")
            for row_id, at_ms, op, raw in rows.fetchall():
                try:
                    apply(op, json.loads(raw), int(at_ms))
                except Exception as exc:  # noqa: BLE001 - sorted below
                    if is_outage(exc):
                        break
                    log.exception(
                        "dropping journaled %s %s: it cannot be applied", op, raw
                    )
                else:
                    applied += 1
                db.execute("DELETE FROM ops WHERE id = ?", (row_id,))
            left = int(db.execute("SELECT COUNT(*) FROM ops").fetchone()[0])
            if left == 0:
                self.marker.unlink(missing_ok=True)
        return applied
