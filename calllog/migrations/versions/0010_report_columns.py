"""Report columns: local arrival day and half hour, handle time parts, offers
declined and missed (so a report groups and sums plain columns).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (
        sa.Column("local_day", sa.String(10)),
        sa.Column("local_halfhour", sa.SmallInteger),
        sa.Column("handle_talk_seconds", sa.Float),
        sa.Column("hold_seconds", sa.Float),
        sa.Column("wrapup_seconds", sa.Float),
        sa.Column("wrapup_since", sa.DateTime(timezone=True)),
        sa.Column("declined_offers", sa.Integer, nullable=False, server_default="0"),
        sa.Column("missed_offers", sa.Integer, nullable=False, server_default="0"),
    )


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        for column in _columns():
            batch.add_column(column)
    op.create_index("ix_calls_local_day_queue", "calls", ["local_day", "queue"])
    # First-contact resolution: is a call followed by a repeat that names it?
    op.create_index("ix_calls_previous_call_sid", "calls", ["previous_call_sid"])


def downgrade() -> None:
    op.drop_index("ix_calls_previous_call_sid", table_name="calls")
    op.drop_index("ix_calls_local_day_queue", table_name="calls")
    with op.batch_alter_table("calls") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
