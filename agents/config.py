"""Hotliners as configured in `hotliners.yaml`: identity, skills, shifts.

A skill level runs from 1 (can take simple calls) to 5 (expert); the router
reads it to prefer or require a level later on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NewType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from agents.rota import Changes, parse_changes
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


#: Above every caller priority (0-9): an on-call rule without `min_priority`.
NO_PRIORITY = 10


@dataclass(frozen=True, slots=True)
class OnCallRule:
    """What rings a level-2 specialist on call (nights, weekends): callers
    of their skills' queues at `min_priority` or above, or any of them while
    a major incident is announced (`incident`). Never ordinary calls."""

    min_priority: int = NO_PRIORITY
    incident: bool = False

    def accepts(self, priority: int, incident_now: bool) -> bool:
        return priority >= self.min_priority or (self.incident and incident_now)


@dataclass(frozen=True, slots=True)
class Hotliner:
    """One hotliner: how to ring them, what they can handle, when they work."""

    id: AgentId
    name: str
    endpoint: str  # client:<identity>, +E.164 number or sip: URI
    skills: dict[str, int]  # skill -> level 1..5
    shifts: tuple[Shift, ...]
    languages: tuple[str, ...]
    # The rota beyond the weekly shifts (`agents.rota`): where they work from
    # (None: the hotline's timezone), dated exceptions, public holidays.
    timezone: ZoneInfo | None = None
    changes: Changes = Changes()  # both lists below, parsed
    on_holidays: bool = False
    exceptions: tuple[str, ...] = ()  # as written in hotliners.yaml
    # Weekly shifts as hotliners.yaml has them, when the rota page replaced
    # them (`shifts` is then the page's); None: not replaced.
    configured_shifts: tuple[Shift, ...] | None = None
    added_exceptions: tuple[str, ...] = ()  # from rota.yaml (the rota page)
    # A specialist on call: logged in by the rota during their shifts (no
    # console: rung on their phone), offered only what the rule lets through.
    on_call: OnCallRule | None = None

    def has_skill(self, skill: str, level: int = 1) -> bool:
        return self.skills.get(skill, 0) >= level


@dataclass(frozen=True, slots=True)
class OnCall:
    """Someone outside the hotline a call can be passed on to: an on-call
    engineer's mobile, a provider's support line (`on_call` in
    `hotliners.yaml`). The hotliner introduces the call, then leaves."""

    id: str
    name: str
    number: str  # E.164 or sip: URI
    hours: tuple[Shift, ...]  # when they take calls; empty: any time


def load_on_call(path: Path) -> dict[str, OnCall]:
    """The `on_call` list of `hotliners.yaml` (none: an empty directory)."""
    data, located = load_yaml(path)
    root = require_mapping(data, located, "hotliners.yaml")
    if "on_call" not in root:
        return {}
    entries = require_list(root["on_call"], located, "on_call", root, "on_call")
    result: dict[str, OnCall] = {}
    for entry in entries:
        item = require_mapping(entry, located, "an on-call entry", entries)
        check_keys(item, located, "on_call entry", {"id", "name", "number"}, {"hours"})
        ident = get_identifier(item, "id", located, "on_call entry")
        what = f"on_call {ident!r}"
        if ident in result:
            raise located.error(f"{what}: duplicate id", item, "id")
        number = get_str(item, "number", located, what)
        if not _ENDPOINT.match(number) or number.startswith("client:"):
            raise located.error(
                f"{what}: number {number!r} must be an E.164 number (+33...) "
                "or a sip: URI",
                item,
                "number",
            )
        result[ident] = OnCall(
            id=ident,
            name=get_str(item, "name", located, what),
            number=number,
            hours=read_weekly(item, "hours", located, what) or (),
        )
    return result


def load_hotliners(
    path: Path,
    known_skills: set[str],
    languages: tuple[str, ...],
    added: Mapping[str, tuple[str, ...]] | None = None,
    weekly: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[AgentId, Hotliner]:
    """Read and validate `hotliners.yaml`, with the exceptions `added` and the
    `weekly` shifts replacing theirs from `rota.yaml` (`agents.rota_file`);
    errors name the file and line."""
    added = added or {}
    weekly = weekly or {}
    data, located = load_yaml(path)
    root = require_mapping(data, located, "hotliners.yaml")
    check_keys(root, located, "hotliners.yaml", {"hotliners"}, {"on_call"})
    entries = require_list(root["hotliners"], located, "hotliners", root, "hotliners")
    result: dict[AgentId, Hotliner] = {}
    items: dict[AgentId, dict[str, Any]] = {}
    for entry in entries:
        item = require_mapping(entry, located, "a hotliner", entries)
        check_keys(
            item,
            located,
            "hotliner",
            {"id", "name", "endpoint", "skills", "shifts"},
            {"languages", "timezone", "exceptions", "on_holidays", "on_call"},
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
        configured_shifts = None
        if agent_id in weekly:  # checked line by line by read_rota
            configured_shifts = shifts
            shifts = tuple(parse_shift(line) for line in weekly[agent_id])
        langs_raw = item.get("languages", [languages[0]])
        langs = require_list(
            langs_raw, located, f"{what}: languages", item, "languages"
        )
        for lang in langs:
            if lang not in languages:
                raise located.error(
                    f"{what}: unknown language {lang!r}", item, "languages"
                )
        on_holidays = item.get("on_holidays", False)
        if not isinstance(on_holidays, bool):
            raise located.error(
                f"{what}: on_holidays is true or false", item, "on_holidays"
            )
        items[agent_id] = item
        result[agent_id] = Hotliner(
            id=agent_id,
            name=get_str(item, "name", located, what),
            endpoint=endpoint,
            skills=skills,
            shifts=shifts,
            languages=tuple(langs),
            timezone=_timezone(item, located, what),
            changes=_changes(item, located, what, added.get(agent_id, ())),
            exceptions=_lines(item),
            added_exceptions=added.get(agent_id, ()),
            configured_shifts=configured_shifts,
            on_holidays=on_holidays,
            on_call=_on_call_rule(item, located, what),
        )
    for agent_id, hotliner in result.items():
        for day, other in hotliner.changes.swaps.items():
            if other not in result or other == agent_id:
                raise located.error(
                    f"hotliner {agent_id!r}: swap {day} with {other!r}: "
                    "no such other hotliner",
                    items[agent_id],
                    "exceptions",
                )
    return result


def _on_call_rule(
    item: dict[str, Any], located: Located, what: str
) -> OnCallRule | None:
    if "on_call" not in item:
        return None
    rule = require_mapping(
        item["on_call"], located, f"{what}: on_call", item, "on_call"
    )
    check_keys(rule, located, f"{what}: on_call", set(), {"min_priority", "incident"})
    floor = rule.get("min_priority", NO_PRIORITY)
    if "min_priority" in rule and (
        isinstance(floor, bool) or not isinstance(floor, int) or not 0 <= floor <= 9
    ):
        raise located.error(
            f"{what}: on_call: min_priority is a caller priority, 0 to 9",
            rule,
            "min_priority",
        )
    incident = rule.get("incident", False)
    if not isinstance(incident, bool):
        raise located.error(
            f"{what}: on_call: incident is true or false", rule, "incident"
        )
    if floor == NO_PRIORITY and not incident:
        raise located.error(
            f"{what}: on_call needs min_priority or incident: true (what rings them)",
            item,
            "on_call",
        )
    return OnCallRule(min_priority=floor, incident=incident)


def _timezone(item: dict[str, Any], located: Located, what: str) -> ZoneInfo | None:
    if "timezone" not in item:
        return None
    name = get_str(item, "timezone", located, what)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise located.error(
            f"{what}: unknown timezone {name!r} (like Europe/Paris)", item, "timezone"
        ) from exc


def _lines(item: dict[str, Any]) -> tuple[str, ...]:
    """The exceptions as written (checked by `_changes` first)."""
    return tuple(item.get("exceptions") or ())


def _changes(
    item: dict[str, Any], located: Located, what: str, added: tuple[str, ...]
) -> Changes:
    if "exceptions" not in item:
        if not added:
            return Changes()
        try:
            return parse_changes(added)
        except ValueError as exc:  # read_rota checked each on its own
            raise located.error(f"{what}: rota.yaml: {exc}", item, "id") from exc
    raw = require_list(
        item["exceptions"], located, f"{what}: exceptions", item, "exceptions"
    )
    if not all(isinstance(entry, str) for entry in raw):
        raise located.error(
            f"{what}: exceptions are text like 'sick 2026-12-03'", item, "exceptions"
        )
    try:
        return parse_changes([*raw, *added])
    except ValueError as exc:
        raise located.error(f"{what}: {exc}", item, "exceptions") from exc


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
