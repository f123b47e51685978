"""The root of the hotline's error hierarchy.

    HotlineError
    ├── SettingsError          (core.settings: bad environment values)
    ├── ConfigError            (core.yamlfile / config loaders: file, line, reason)
    ├── ivr.errors.IvrError
    ├── queues.errors.QueueError
    └── simulator.errors.SimulatorError

Every error the product raises on purpose derives from `HotlineError`, so the
edges (voice webhooks, CLI) can turn them into safe TwiML or a clear message.
"""

from __future__ import annotations


class HotlineError(Exception):
    """Base of every error raised on purpose by the hotline."""


class SettingsError(HotlineError):
    """One or more environment variables hold values the hotline cannot use."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid settings:\n  " + "\n  ".join(problems))


class ConfigError(HotlineError):
    """A configuration file is malformed; says which file, which line, and why."""

    def __init__(self, reason: str, *, path: str, line: int | None = None) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")
