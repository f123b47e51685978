"""Errors raised on purpose by the IVR package.

    core.errors.HotlineError
    └── IvrError
        ├── UnknownProblemTypeError   (a problem type outside PROBLEM_TYPES)
        └── MissingTranslationError   (a step asked in a language it lacks)

Malformed knowledge-base files raise `core.errors.ConfigError` (file, line,
reason), like every other configuration file.
"""

from __future__ import annotations

from core.errors import HotlineError


class IvrError(HotlineError):
    """Base of every error raised on purpose by the IVR."""


class UnknownProblemTypeError(IvrError):
    """A caller of the knowledge base named a problem type that does not exist."""

    def __init__(self, problem_type: str, *, known: tuple[str, ...]) -> None:
        self.problem_type = problem_type
        self.known = known
        super().__init__(
            f"unknown problem type {problem_type!r} (known: {', '.join(known)})"
        )


class MissingTranslationError(IvrError):
    """A step or title was asked in a language the knowledge base lacks."""

    def __init__(self, language: str, *, available: tuple[str, ...]) -> None:
        self.language = language
        self.available = available
        super().__init__(f"no text in {language!r} (available: {', '.join(available)})")
