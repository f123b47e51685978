"""Call segments: each hotliner's part of a call (talk, hold, how it ended).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "call_segments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("talk_seconds", sa.Float),
        sa.Column("hold_seconds", sa.Float, nullable=False, server_default="0"),
        sa.Column("on_hold_since", sa.DateTime(timezone=True)),
        sa.Column("end_reason", sa.String(32)),
    )
    op.create_index("ix_call_segments_call_sid", "call_segments", ["call_sid"])
    op.create_index("ix_call_segments_agent_id", "call_segments", ["agent_id"])


def downgrade() -> None:
    op.drop_index("ix_call_segments_agent_id", table_name="call_segments")
    op.drop_index("ix_call_segments_call_sid", table_name="call_segments")
    op.drop_table("call_segments")
