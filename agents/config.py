"""Hotliners as configured in `hotliners.yaml`: identity, skills, shifts.

A skill level runs from 1 (can take simple calls) to 5 (expert); the router
reads it to prefer or require a level later on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NewType

from agents.shifts import Shift, parse_shift
from core.validate import (
    check_keys,
    get_identifier,
    get_str,
    require_list,
    require_mapping,
)
from core.yamlfile import Located, load_yaml

AgentId = NewType("AgentId", str)

_ENDPOINT = re.compile(r"^(client:[A-Za-z0-9_.-]{1,64}|\+[1-9][0-9]{6,14}|sip:\S+)$")


@dataclass(frozen=True, slots=True)
class Hotliner:
    """One hotliner: how to ring them, what they can handle, when they work."""

    id: AgentId
    name: str
    endpoint: str  # client:<identity>, +E.164 number or sip: URI
    skills: dict[str, int]  # skill -> level 1..5
    shifts: tuple[Shift, ...]
    languages: tuple[str, ...]

    def has_skill(self, skill: str, level: int = 1) -> bool:
        return self.skills.get(skill, 0) >= level


def load_hotliners(
    path: Path, known_skills: set[str], languages: tuple[str, ...]
) -> dict[AgentId, Hotliner]:
    """Read and validate `hotliners.yaml`; errors name the file and line."""
    data, located = load_yaml(path)
    root = require_mapping(data, located, "hotliners.yaml")
    check_keys(root, located, "hotliners.yaml", {"hotliners"}, set())
    entries = require_list(root["hotliners"], located, "hotliners", root, "hotliners")
    result: dict[AgentId, Hotliner] = {}
    for entry in entries:
        item = require_mapping(entry, located, "a hotliner", entries)
        check_keys(
            item,
            located,
            "hotliner",
            {"id", "name", "endpoint", "skills", "shifts"},
            {"languages"},
        )
        agent_id = AgentId(get_identifier(item, "id", located, "hotliner"))
        what = f"hotliner {agent_id!r}"
        if agent_id in result:
            raise located.error(f"{what}: duplicate id", item, "id")
        endpoint = get_str(item, "endpoint", located, what)
        if not _ENDPOINT.match(endpoint):
            raise located.error(
                f"{what}: endpoint {endpoint!r} must be client:<name>, an E.164 "
                "number (+33...) or a sip: URI",
                item,
                "endpoint",
            )
        skills_raw = require_mapping(
            item["skills"], located, f"{what}: skills", item, "skills"
        )
        skills: dict[str, int] = {}
        for skill, level in skills_raw.items():
            if skill not in known_skills:
                raise located.error(
                    f"{what}: unknown skill {skill!r} (queues define: "
                    f"{', '.join(sorted(known_skills))})",
                    skills_raw,
                    str(skill),
                )
            if (
                isinstance(level, bool)
                or not isinstance(level, int)
                or not 1 <= level <= 5
            ):
                raise located.error(
                    f"{what}: skill {skill!r} level must be 1 to 5",
                    skills_raw,
                    str(skill),
                )
            skills[str(skill)] = level
        if not skills:
            raise located.error(f"{what}: needs at least one skill", item, "skills")
        shifts = read_weekly(item, "shifts", located, what) or ()
        langs_raw = item.get("languages", [languages[0]])
        langs = require_list(
            langs_raw, located, f"{what}: languages", item, "languages"
        )
        for lang in langs:
            if lang not in languages:
                raise located.error(
                    f"{what}: unknown language {lang!r}", item, "languages"
                )
        result[agent_id] = Hotliner(
            id=agent_id,
            name=get_str(item, "name", located, what),
            endpoint=endpoint,
            skills=skills,
            shifts=shifts,
            languages=tuple(langs),
        )
    return result


def read_weekly(
    mapping: dict[str, Any], key: str, located: Located, what: str
) -> tuple[Shift, ...] | None:
    """A list of weekly periods like shifts ("mon-fri 07:00-21:00"), or None.

    Shared by hotliners' shifts and queues' opening hours: one notation for
    every weekly schedule a person writes.
    """
    if key not in mapping:
        return None
    raw = require_list(mapping[key], located, f"{what}: {key}", mapping, key)
    periods: list[Shift] = []
    for text in raw:
        if not isinstance(text, str):
            raise located.error(
                f"{what}: {key} entries look like 'mon-fri 07:00-21:00'", mapping, key
            )
        try:
            periods.append(parse_shift(text))
        except ValueError as exc:
            raise located.error(f"{what}: {key}: {exc}", mapping, key) from exc
    return tuple(periods)
