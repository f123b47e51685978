"""Words in the notes found fast on SQLite: an FTS5 index of the notes by
trigrams (`calls_notes_fts`, SQLite >= 3.34) kept by triggers on `calls`. It
narrows the call list's `lower(notes) LIKE '%words%'` to the calls whose notes
hold the words' trigrams in order (`calllog/notes_search.py`), so a word nobody
wrote no longer reads the whole month. PostgreSQL has its own (0016).

A SQLite built without FTS5 or its trigram tokenizer keeps working: nothing is
made and the words search scans, as before (said in a warning).

The index holds the rowids of `calls` (external content, nothing copied): a
later migration that copies `calls` (batch mode on SQLite) drops these
triggers with the old table and renumbers its rows, so it must drop this index
first and make it again after; after a VACUUM, 'rebuild' it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
import logging

from alembic import op
from sqlalchemy.exc import OperationalError

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Every call has its row in the index, notes or not (FTS5's documented
# external-content triggers): 'rebuild' and 'integrity-check' then agree with
# what the triggers keep. `columnsize=0`: no per-row sizes (only ranking needs
# them, and the call list orders by time).
TABLE = (
    "CREATE VIRTUAL TABLE calls_notes_fts USING fts5(notes, content='calls', "
    "content_rowid='rowid', tokenize='trigram', columnsize=0)"
)
TRIGGERS = {
    "calls_notes_fts_after_insert": (
        "AFTER INSERT ON calls BEGIN "
        "INSERT INTO calls_notes_fts(rowid, notes) VALUES (new.rowid, new.notes); "
        "END"
    ),
    "calls_notes_fts_after_delete": (
        "AFTER DELETE ON calls BEGIN "
        "INSERT INTO calls_notes_fts(calls_notes_fts, rowid, notes) "
        "VALUES ('delete', old.rowid, old.notes); "
        "END"
    ),
    # The writer's outcome (and its corrections), retention's anonymising:
    # the old words leave the index, the new ones enter it.
    "calls_notes_fts_after_update": (
        "AFTER UPDATE OF notes ON calls BEGIN "
        "INSERT INTO calls_notes_fts(calls_notes_fts, rowid, notes) "
        "VALUES ('delete', old.rowid, old.notes); "
        "INSERT INTO calls_notes_fts(rowid, notes) VALUES (new.rowid, new.notes); "
        "END"
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    try:
        bind.exec_driver_sql(TABLE)
    except OperationalError as exc:  # no FTS5, or no trigram tokenizer (< 3.34)
        logging.getLogger(__name__).warning(
            "SQLite FTS5 trigram index unavailable (%s): the call list's words "
            "search will scan",
            exc.orig,
        )
        return
    for name, body in TRIGGERS.items():
        bind.exec_driver_sql(f"CREATE TRIGGER {name} {body}")
    # The calls logged so far.
    bind.exec_driver_sql(
        "INSERT INTO calls_notes_fts(calls_notes_fts) VALUES ('rebuild')"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for name in TRIGGERS:
        bind.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
    bind.exec_driver_sql("DROP TABLE IF EXISTS calls_notes_fts")
