"""Who calls: the organisation's directory of caller numbers, if it has one.

An IT help desk serves known people; with their number in `callers.yaml`
the hotliner greets them by name and sees their site or department before
picking up. Optional: without the file, callers are numbers.

    callers:
      "+33612345678": "Jeanne Dupont — Comptabilité, Lyon"
"""

from __future__ import annotations

import re
from pathlib import Path

from core.validate import check_keys, require_mapping
from core.yamlfile import load_yaml

FILE = "callers.yaml"
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
MAX_NAME = 120


def load_directory(folder: Path) -> dict[str, str]:
    """Number -> name from `callers.yaml` (empty without the file)."""
    path = folder / FILE
    if not path.exists():
        return {}
    data, located = load_yaml(path)
    root = require_mapping(data, located, FILE)
    check_keys(root, located, FILE, {"callers"}, set())
    entries = require_mapping(root["callers"], located, "callers", root, "callers")
    directory: dict[str, str] = {}
    for number, name in entries.items():
        if not isinstance(number, str) or not _NUMBER.match(number):
            raise located.error(
                f"callers: {number!r} must be a phone number in quotes, "
                'like "+33612345678"',
                entries,
                str(number),
            )
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise located.error(
                f"callers: the name of {number} must be text of at most "
                f"{MAX_NAME} characters",
                entries,
                number,
            )
        directory[number] = name.strip()
    return directory
