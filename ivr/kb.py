"""The knowledge base of known faults: what callers report and how to fix it.

Hotliners rule out the simplest causes first, using a database of known
faults and remedies (DOMAIN.md). Each fault carries French caller phrases for
search, voice-friendly self-help steps the IVR reads aloud (in every configured
language), and detailed steps for the hotliner's console.

The files live in `config/kb/`, one per problem type; `synonyms.yaml` in the
same folder is the search's vocabulary and is read by `ivr.search`. Every
malformed file is refused with `file:line: reason` before the hotline starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, NewType

from core.errors import ConfigError
from core.validate import (
    check_keys,
    get_string_list,
    require_mapping,
    require_translations,
)
from core.yamlfile import Located, load_yaml
from ivr.errors import MissingTranslationError, UnknownProblemTypeError

FaultId = NewType("FaultId", str)

SYNONYMS_FILE = "synonyms.yaml"
DEFAULT_LANGUAGES: tuple[str, ...] = ("fr-FR", "en-US")

_FAULT_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FILE_KEYS = frozenset({"problem_type", "faults"})
_FAULT_REQUIRED = frozenset(
    {"id", "title", "symptoms", "keywords", "level", "agent_steps"}
)
_FAULT_OPTIONAL = frozenset({"self_help", "search"})


class ProblemType(StrEnum):
    """The IVR menu's problem types; a plain string compares equal to its member."""

    SOFTWARE = "software"
    LICENCE = "licence"
    PRINTER = "printer"
    NETWORK = "network"
    REMOTE_ACCESS = "remote_access"
    FILES = "files"
    EMAIL = "email"
    ACCOUNT = "account"
    AUTHENTICATION = "authentication"
    HARDWARE = "hardware"
    TELEPHONY = "telephony"
    MOBILE = "mobile"


class Level(StrEnum):
    """Who can fix a fault: the hotliner (L1) or a level-2 engineer (L2)."""

    L1 = "L1"
    L2 = "L2"


PROBLEM_TYPES: tuple[ProblemType, ...] = tuple(ProblemType)


@dataclass(frozen=True, slots=True)
class Step:
    """One short action, in every configured language."""

    texts: Mapping[str, str]

    def text(self, language: str) -> str:
        """The step in `language` (a BCP 47 tag such as `fr-FR`)."""
        try:
            return self.texts[language]
        except KeyError:
            raise MissingTranslationError(
                language, available=tuple(self.texts)
            ) from None


@dataclass(frozen=True, slots=True)
class Fault:
    """A known fault: how callers describe it, who fixes it, and how."""

    id: FaultId
    problem_type: ProblemType
    title: Mapping[str, str]
    symptoms: tuple[str, ...]
    keywords: tuple[str, ...]
    level: Level
    self_help: tuple[Step, ...]
    agent_steps: tuple[str, ...]
    #: Words and phrases callers use for it in languages other than French
    #: (whose `symptoms` and `keywords` are above): language -> texts.
    search: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def title_in(self, language: str) -> str:
        """The title in `language`."""
        try:
            return self.title[language]
        except KeyError:
            raise MissingTranslationError(
                language, available=tuple(self.title)
            ) from None


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    """Every known fault, by id, in file order."""

    faults: Mapping[FaultId, Fault]
    languages: tuple[str, ...] = DEFAULT_LANGUAGES

    def get(self, fault_id: str) -> Fault | None:
        """The fault with this id, or None."""
        return self.faults.get(FaultId(fault_id))

    def for_problem_type(self, problem_type: str) -> tuple[Fault, ...]:
        """The faults of one problem type, in file order."""
        wanted = parse_problem_type(problem_type)
        return tuple(f for f in self.faults.values() if f.problem_type is wanted)

    def __iter__(self) -> Iterator[Fault]:
        return iter(self.faults.values())

    def __len__(self) -> int:
        return len(self.faults)

    def __contains__(self, fault_id: object) -> bool:
        return fault_id in self.faults


def parse_problem_type(value: str) -> ProblemType:
    """The `ProblemType` named `value`; `UnknownProblemTypeError` otherwise."""
    try:
        return ProblemType(value)
    except ValueError:
        raise UnknownProblemTypeError(value, known=PROBLEM_TYPES) from None


def load_knowledge_base(
    folder: Path, languages: tuple[str, ...] = DEFAULT_LANGUAGES
) -> KnowledgeBase:
    """Read every `*.yaml` of `folder` (but the synonyms) into a `KnowledgeBase`.

    Raises `ConfigError` naming the file and line of the first problem found.
    """
    if not languages:
        raise ValueError("at least one language is needed")
    paths = sorted(
        p for p in folder.glob("*.yaml") if p.is_file() and p.name != SYNONYMS_FILE
    )
    if not paths:
        raise ConfigError("no knowledge-base file (*.yaml) found", path=str(folder))
    faults: dict[FaultId, Fault] = {}
    first_seen: dict[FaultId, str] = {}
    for path in paths:
        data, located = load_yaml(path)
        for fault, where in _read_file(data, located, languages):
            if fault.id in faults:
                raise located.error(
                    f"duplicate fault id {fault.id!r} (first defined at "
                    f"{first_seen[fault.id]})",
                    where,
                    "id",
                )
            faults[fault.id] = fault
            first_seen[fault.id] = f"{path}:{located.line_of(where, 'id')}"
    return KnowledgeBase(faults=faults, languages=languages)


def _read_file(
    data: Any, located: Located, languages: tuple[str, ...]
) -> Iterator[tuple[Fault, dict[str, Any]]]:
    """Yield each fault of one file with the mapping it came from."""
    if not isinstance(data, dict):
        raise ConfigError(
            "a knowledge-base file must be a mapping with 'problem_type' and 'faults'",
            path=located.path,
            line=located.line_of(data) or 1,
        )
    check_keys(data, located, "file", _FILE_KEYS, frozenset())
    raw_type = data["problem_type"]
    if not isinstance(raw_type, str) or raw_type not in PROBLEM_TYPES:
        known = ", ".join(PROBLEM_TYPES)
        raise located.error(
            f"unknown problem type {raw_type!r} (known: {known})",
            data,
            "problem_type",
        )
    problem_type = ProblemType(raw_type)
    raw_faults = data["faults"]
    if not isinstance(raw_faults, list) or not raw_faults:
        raise located.error("'faults' must be a non-empty list", data, "faults")
    seen: set[str] = set()
    for raw in raw_faults:
        if not isinstance(raw, dict):
            raise located.error("each fault must be a mapping", raw_faults)
        fault = _read_fault(raw, located, problem_type, languages)
        if fault.id in seen:
            raise located.error(f"duplicate fault id {fault.id!r}", raw, "id")
        seen.add(fault.id)
        yield fault, raw


def _read_fault(
    raw: dict[str, Any],
    located: Located,
    problem_type: ProblemType,
    languages: tuple[str, ...],
) -> Fault:
    check_keys(raw, located, "fault", _FAULT_REQUIRED, _FAULT_OPTIONAL)
    fault_id = raw["id"]
    if not isinstance(fault_id, str) or not _FAULT_ID.match(fault_id):
        raise located.error(
            f"fault id must be lowercase letters, digits and '-' (got {fault_id!r})",
            raw,
            "id",
        )
    what = f"fault {fault_id!r}"
    level = raw["level"]
    if not isinstance(level, str) or level not in tuple(Level):
        known = ", ".join(Level)
        raise located.error(
            f"{what}: unknown level {level!r} (known: {known})", raw, "level"
        )
    raw_steps = raw.get("self_help", [])
    if raw_steps is None:
        raw_steps = []
    if not isinstance(raw_steps, list):
        raise located.error(f"{what}: 'self_help' must be a list", raw, "self_help")
    steps = []
    for item in raw_steps:
        if not isinstance(item, dict):
            raise located.error(
                f"{what}: each self-help step must be a mapping of language to text",
                raw_steps,
            )
        texts = require_translations(item, located, f"{what} self-help step", languages)
        steps.append(Step(texts=texts))
    search: dict[str, tuple[str, ...]] = {}
    raw_search = raw.get("search") or {}
    if not isinstance(raw_search, dict):
        raise located.error(
            f"{what}: 'search' must map a language to a list of words", raw, "search"
        )
    for lang in raw_search:
        if lang not in languages:
            raise located.error(
                f"{what}: 'search' names unknown language {lang!r}", raw_search, lang
            )
        search[str(lang)] = get_string_list(raw_search, lang, located, what)
    return Fault(
        search=search,
        id=FaultId(fault_id),
        problem_type=problem_type,
        title=require_translations(
            require_mapping(raw["title"], located, f"{what}: 'title'", raw, "title"),
            located,
            f"{what} title",
            languages,
        ),
        symptoms=get_string_list(raw, "symptoms", located, what),
        keywords=get_string_list(raw, "keywords", located, what),
        level=Level(level),
        self_help=tuple(steps),
        agent_steps=get_string_list(raw, "agent_steps", located, what),
    )
