"""Calls remember the number a caller asked to be called back on.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("callback_number", sa.String(32)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("callback_number")
