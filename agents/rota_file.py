"""`rota.yaml`: what supervisors change from the rota page.

Weekly shifts are written by hand in `hotliners.yaml`, with its comments;
the day-to-day changes (a sick day, a swap, an extra shift, a new weekly
pattern for someone) are made on the supervisors' rota page, which writes
them here, a file of its own that a program may rewrite without touching
anyone's comments. It is part of the configuration folder, so a change is
live in every process as soon as the file changes (`web.config_versions`),
and it can be edited by hand too:

    shifts:
      omar: ["mon-thu 14:00-22:00"]
    exceptions:
      nina: ["sick 2026-12-03", "swap 2026-12-07 with omar"]

Writes are whole-file replacements (a temporary file renamed over it), one
writer at a time per host (a lock file), so a reader never sees half a file.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agents.rota import parse_changes
from agents.shifts import parse_shift
from core.validate import check_keys, require_list, require_mapping
from core.yamlfile import Located, load_yaml

FILE = "rota.yaml"

HEADER = """\
# Written by the supervisors' rota page (/supervisor/rota); hand edits are fine.
# shifts: a hotliner's weekly shifts, replacing those of hotliners.yaml.
# exceptions: dated changes, per hotliner: "leave FIRST..LAST", "sick DAY",
#   "extra DAY HH:MM-HH:MM", "swap DAY with ID".
"""


@dataclass(frozen=True)
class RotaFile:
    """What the rota page wrote: per hotliner, dated exceptions, and weekly
    shifts that replace those of `hotliners.yaml`."""

    exceptions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shifts: dict[str, tuple[str, ...]] = field(default_factory=dict)


def read_rota(path: Path, known: set[str]) -> RotaFile:
    """The file's content (empty if it does not exist); `ConfigError` naming
    the line of an unknown hotliner or a bad entry."""
    if not path.exists():
        return RotaFile()
    data, located = load_yaml(path)
    if data is None:
        return RotaFile()
    root = require_mapping(data, located, FILE)
    check_keys(root, located, FILE, set(), {"exceptions", "shifts"})
    exceptions = _per_hotliner(root, "exceptions", located, known)
    shifts = _per_hotliner(root, "shifts", located, known)
    for name, lines in exceptions.items():
        try:
            parse_changes(lines)
        except ValueError as exc:
            table = root["exceptions"]
            raise located.error(f"exceptions: {name}: {exc}", table, name) from exc
    for name, lines in shifts.items():
        try:
            for line in lines:
                parse_shift(line)
        except ValueError as exc:
            raise located.error(f"shifts: {name}: {exc}", root["shifts"], name) from exc
    return RotaFile(exceptions, shifts)


def _per_hotliner(
    root: dict[str, Any], key: str, located: Located, known: set[str]
) -> dict[str, tuple[str, ...]]:
    table = require_mapping(root.get(key) or {}, located, key, root, key)
    result: dict[str, tuple[str, ...]] = {}
    for agent, lines in table.items():
        name = str(agent)
        if name not in known:
            raise located.error(f"{key}: unknown hotliner {name!r}", table, name)
        entries = require_list(lines, located, f"{key}: {name}", table, name)
        if not all(isinstance(line, str) for line in entries):
            raise located.error(f"{key}: {name}: entries are text", table, name)
        result[name] = tuple(entries)
    return result


def write_rota(path: Path, rota: RotaFile) -> None:
    """Replace the file with `rota` (hotliners with nothing left out)."""
    body: dict[str, Any] = {}
    for key, table in (("shifts", rota.shifts), ("exceptions", rota.exceptions)):
        kept = {agent: list(lines) for agent, lines in sorted(table.items()) if lines}
        if kept:
            body[key] = kept
    text = HEADER + (
        yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100)
        if body
        else "exceptions: {}\n"
    )
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".rota-", text=True)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """One writer of the rota file at a time on this host (read, change,
    write under it: two supervisors' changes never overwrite each other)."""
    lock = path.with_suffix(".lock")
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
