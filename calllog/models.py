"""Tables of the call log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Call(Base):
    """One phone call to the hotline, from the first ring to the outcome."""

    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_number: Mapped[str] = mapped_column(String(32), default="")
    to_number: Mapped[str] = mapped_column(String(32), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    ivr_choice: Mapped[str | None] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ivr")
    outcome: Mapped[str | None] = mapped_column(String(32))
    notes: Mapped[str | None] = mapped_column(Text)
    offers: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    talk_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    wait_seconds: Mapped[float | None] = mapped_column()
    talk_seconds: Mapped[float | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(32))
    callback_number: Mapped[str | None] = mapped_column(String(32))
    recording_url: Mapped[str | None] = mapped_column(String(512))
    previous_call_sid: Mapped[str | None] = mapped_column(String(64))
    kb_fault: Mapped[str | None] = mapped_column(String(64))
    selfhelp_tried: Mapped[str | None] = mapped_column(String(255))
    fixed_by: Mapped[str | None] = mapped_column(String(64))  # KB fault that fixed it
    remote_session: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_from_number", "from_number"),
        Index("ix_calls_queue_status", "queue", "status"),
        Index("ix_calls_agent_started", "agent_id", "started_at"),
    )


class CallEvent(Base):
    """One state change, as appended to the Redis stream; `stream_id` is unique."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    stream_id: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    agent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class StreamOffset(Base):
    """How far the writer has applied a stream; committed with the rows."""

    __tablename__ = "stream_offsets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[str] = mapped_column(String(32))
