"""Outcome details: the KB fault that fixed the call, the remote session used;
an index for a hotliner's own calls (their day, their calls to complete).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("fixed_by", sa.String(64)))
        batch.add_column(sa.Column("remote_session", sa.String(128)))
    op.create_index("ix_calls_agent_started", "calls", ["agent_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_agent_started", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("remote_session")
        batch.drop_column("fixed_by")
