"""What the IVR learnt: the earlier call it is about, the KB fault matched,
the self-help steps tried.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("previous_call_sid", sa.String(64)))
        batch.add_column(sa.Column("kb_fault", sa.String(64)))
        batch.add_column(sa.Column("selfhelp_tried", sa.String(255)))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("selfhelp_tried")
        batch.drop_column("kb_fault")
        batch.drop_column("previous_call_sid")
