"""Events by type and time: each hotliner's declined and missed offers of a
period are counted from the offer_rejected events (the call's row only knows
who had it last).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_call_events_type_at", "call_events", ["type", "at"])


def downgrade() -> None:
    op.drop_index("ix_call_events_type_at", table_name="call_events")
