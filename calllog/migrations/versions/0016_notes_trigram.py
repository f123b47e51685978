"""Words in the notes found fast on PostgreSQL: a trigram index on the
lowercased notes (`pg_trgm`, a trusted extension since PostgreSQL 13), which
serves `lower(notes) LIKE '%words%'` of the call list. SQLite has no such
index and scans; its call logs are small.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""
import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    try:
        # A server without the extension (or a role that may not create it)
        # keeps working: the words search then scans, as on SQLite.
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DBAPIError:
        logging.getLogger(__name__).warning(
            "pg_trgm unavailable: the call list's words search will scan"
        )
        return
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_calls_notes_trgm ON calls "
        "USING gin (lower(notes) gin_trgm_ops)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_calls_notes_trgm")
