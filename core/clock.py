"""One source of wall-clock time, so tests and the simulator can reason about it.

Redis scores and the call log store epoch milliseconds: integers compare
exactly, survive Lua (doubles hold integers up to 2**53), and need no timezone.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """Current wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def from_ms(ms: int) -> datetime:
    """An aware UTC datetime for epoch milliseconds (for SQL and display)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def utcnow() -> datetime:
    """Current time as an aware UTC datetime."""
    return datetime.now(tz=UTC)
