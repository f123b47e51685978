"""A hotliner's skills as a supervisor set them today, over `hotliners.yaml`.

A supervisor may widen or narrow what someone takes (a newcomer on printers
only this week, an expert lent to the network queue during an incident)
without editing the roster. The change lives with the hotliner's live state
(field `skills` of their Redis hash, `skill:level,skill:level`) until it is
put back: every place that derives queue memberships from skills reads
`effective` so that a state change never quietly undoes it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from agents.config import Hotliner

#: Skill levels, as in `hotliners.yaml`.
LEVELS = range(1, 6)


class BadSkills(ValueError):
    """Skills a supervisor asked for that the hotline does not know."""


def parse(text: str) -> dict[str, int]:
    """`printer:3,email:2` -> {"printer": 3, "email": 2} ('' -> {})."""
    skills: dict[str, int] = {}
    for part in filter(None, text.split(",")):
        skill, _, level = part.partition(":")
        skills[skill] = int(level)
    return skills


def format_skills(skills: Mapping[str, int]) -> str:
    return ",".join(f"{skill}:{level}" for skill, level in sorted(skills.items()))


def checked(raw: object, known: set[str]) -> dict[str, int]:
    """Skills from a request: a mapping of known skills to levels 1 to 5, at
    least one (a hotliner who may take nothing is set offline instead)."""
    if not isinstance(raw, dict) or not raw:
        raise BadSkills("skills must be an object of skill: level, at least one")
    skills: dict[str, int] = {}
    for skill, level in raw.items():
        if skill not in known:
            raise BadSkills(
                f"unknown skill {skill!r} (known: {', '.join(sorted(known))})"
            )
        if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
            raise BadSkills(f"the level of {skill!r} must be a whole number 1 to 5")
        skills[skill] = level
    return skills


def overridden(live: Mapping[str, str]) -> dict[str, int] | None:
    """The skills a supervisor set (None: those of the roster)."""
    text = live.get("skills", "")
    return parse(text) if text else None


def effective(hotliner: Hotliner, live: Mapping[str, str]) -> Hotliner:
    """The hotliner with the skills they have today."""
    skills = overridden(live)
    return hotliner if skills is None else with_skills(hotliner, skills)


def with_skills(hotliner: Hotliner, skills: dict[str, int]) -> Hotliner:
    return dataclasses.replace(hotliner, skills=skills)
