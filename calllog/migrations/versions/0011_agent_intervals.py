"""Agent intervals: each hotliner's time in each state (occupancy, time in
state, break reasons).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_intervals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("call_sid", sa.String(64)),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("seconds", sa.Float),
        sa.Column("local_day", sa.String(10), nullable=False),
    )
    op.create_index(
        "ix_agent_intervals_agent_open", "agent_intervals", ["agent_id", "ended_at"]
    )
    op.create_index(
        "ix_agent_intervals_day_agent", "agent_intervals", ["local_day", "agent_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_agent_intervals_day_agent", table_name="agent_intervals")
    op.drop_index("ix_agent_intervals_agent_open", table_name="agent_intervals")
    op.drop_table("agent_intervals")
