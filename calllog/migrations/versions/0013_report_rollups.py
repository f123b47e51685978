"""Report rollups: each past day's totals per group, for fast month reports.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_rollups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("local_day", sa.String(10), nullable=False),
        sa.Column("dimension", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("thresholds", sa.String(64), nullable=False),
        sa.Column("totals", sa.JSON, nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_report_rollups_unique",
        "report_rollups",
        ["local_day", "dimension", "thresholds", "key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_report_rollups_unique", table_name="report_rollups")
    op.drop_table("report_rollups")
