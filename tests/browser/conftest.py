"""Browser tests drive the real stack, started like the end-to-end tests do."""

from __future__ import annotations

from e2e.conftest import RunningHotline, running_hotline

__all__ = ["RunningHotline", "running_hotline"]
