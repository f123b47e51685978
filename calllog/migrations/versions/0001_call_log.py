"""Call log: calls, call events, stream offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("call_sid", sa.String(64), primary_key=True),
        sa.Column("from_number", sa.String(32), nullable=False, server_default=""),
        sa.Column("to_number", sa.String(32), nullable=False, server_default=""),
        sa.Column("language", sa.String(8), nullable=False, server_default=""),
        sa.Column("ivr_choice", sa.String(64)),
        sa.Column("queue", sa.String(64)),
        sa.Column("priority", sa.Integer),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False, server_default="ivr"),
        sa.Column("outcome", sa.String(32)),
        sa.Column("notes", sa.Text),
        sa.Column("offers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("queued_at", sa.DateTime(timezone=True)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("talk_started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("wait_seconds", sa.Float),
        sa.Column("talk_seconds", sa.Float),
        sa.Column("end_reason", sa.String(32)),
    )
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_index("ix_calls_from_number", "calls", ["from_number"])
    op.create_index("ix_calls_queue_status", "calls", ["queue", "status"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("stream_id", sa.String(32), nullable=False, unique=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("call_sid", sa.String(64)),
        sa.Column("agent_id", sa.String(64)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_index("ix_call_events_call_sid", "call_events", ["call_sid"])
    op.create_index("ix_call_events_agent_id", "call_events", ["agent_id"])
    op.create_table(
        "stream_offsets",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_id", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stream_offsets")
    op.drop_table("call_events")
    op.drop_table("calls")
