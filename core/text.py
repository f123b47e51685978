"""Values read back from Redis, as text.

The Redis clients keep bytes (RQ needs them); every value the hotline reads
back is turned into `str` here, one way, wherever it is read.
"""

from __future__ import annotations


def as_text(value: bytes | str | int | float) -> str:
    """A Redis reply value as text (bytes are UTF-8)."""
    return value.decode() if isinstance(value, bytes) else str(value)
