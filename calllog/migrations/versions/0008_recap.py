"""Recap: by which channels the caller was sent the call's recap.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("recap_sent", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("recap_sent")
