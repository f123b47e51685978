"""Twilio-shaped resource identifiers: a two-letter prefix and 32 hex digits."""

from __future__ import annotations

import uuid


def new_sid(prefix: str) -> str:
    """A fresh SID such as `CA` + 32 hex digits (apps may check the shape)."""
    return prefix + uuid.uuid4().hex
