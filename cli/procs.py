"""The process table as Linux's /proc tells it (empty elsewhere).

The supervisor reaps zombie orphans and the stack checks whether a process
group still has a live member; both read the same `stat` lines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    state: str  # "R", "S", "Z" (zombie), "X" (dead)...
    ppid: int
    pgrp: int


def process_table() -> Iterator[ProcStat]:
    """Every process /proc lists now; a process gone meanwhile is skipped."""
    if not PROC.is_dir():  # pragma: no cover - not Linux
        return
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        yield ProcStat(int(entry.name), fields[0], int(fields[1]), int(fields[2]))
