"""Tables of the call log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, Integer, SmallInteger, String, Text
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
    # Passed on from one queue to another (cold transfers), each in the events.
    transfers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    recap_sent: Mapped[str | None] = mapped_column(String(16))  # 'sms,email'...
    # For reports (calllog.reports): the arrival's local day and half hour
    # (calllog.buckets), and the parts of the handle time, every hotliner's.
    local_day: Mapped[str | None] = mapped_column(String(10))
    local_halfhour: Mapped[int | None] = mapped_column(SmallInteger)
    handle_talk_seconds: Mapped[float | None] = mapped_column()  # hold included
    hold_seconds: Mapped[float | None] = mapped_column()
    wrapup_seconds: Mapped[float | None] = mapped_column()
    wrapup_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    declined_offers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    missed_offers: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Personal data removed after the retention period (calllog.retention).
    anonymised_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_from_number", "from_number"),
        Index("ix_calls_queue_status", "queue", "status"),
        Index("ix_calls_agent_started", "agent_id", "started_at"),
        Index("ix_calls_local_day_queue", "local_day", "queue"),
        Index("ix_calls_previous_call_sid", "previous_call_sid"),
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

    __table_args__ = (Index("ix_call_events_type_at", "type", "at"),)


class CallSegment(Base):
    """One hotliner's part of a call: from when they talked with the caller
    to when the call ended or they passed it on, with the time on hold. A
    transferred call has one per hotliner, so handle time splits by who."""

    __tablename__ = "call_segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    talk_seconds: Mapped[float | None] = mapped_column()  # hold included
    hold_seconds: Mapped[float] = mapped_column(default=0.0, server_default="0")
    on_hold_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_reason: Mapped[str | None] = mapped_column(String(32))  # completed...


class StreamOffset(Base):
    """How far the writer has applied a stream; committed with the rows."""

    __tablename__ = "stream_offsets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_id: Mapped[str] = mapped_column(String(32))


class AgentInterval(Base):
    """A hotliner in one state from `started_at` to `ended_at` (open while
    it lasts); `local_day` is its start's, for reports (occupancy)."""

    __tablename__ = "agent_intervals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    call_sid: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column()
    local_day: Mapped[str] = mapped_column(String(10))

    __table_args__ = (
        Index("ix_agent_intervals_agent_open", "agent_id", "ended_at"),
        Index("ix_agent_intervals_day_agent", "local_day", "agent_id"),
    )


class ReportRollup(Base):
    """A closed day's report totals for one group (`calllog.reports`): the
    sums of `Totals` as JSON, so a month's report adds a few thousand rows
    instead of reading every call. `thresholds` says with which service
    level thresholds `answered_in_sl` was counted."""

    __tablename__ = "report_rollups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    local_day: Mapped[str] = mapped_column(String(10))
    dimension: Mapped[str] = mapped_column(String(16))  # queue, agent...
    key: Mapped[str] = mapped_column(String(64))  # '' for "no group"
    thresholds: Mapped[str] = mapped_column(String(64))
    totals: Mapped[dict[str, Any]] = mapped_column(JSON)
    made_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index(
            "ix_report_rollups_unique",
            "local_day",
            "dimension",
            "thresholds",
            "key",
            unique=True,
        ),
    )
