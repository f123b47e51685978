"""Words in the notes: what the call list's `words` filter matches, and the
index that finds it without reading every call of the period.

The match is one, on every database: the notes hold the words as they are, in
any case (`lower(notes) LIKE '%words%'`; `%` and `_` are characters, not
wildcards). An index only narrows which calls are read, never what matches:

- PostgreSQL: `ix_calls_notes_trgm` (migration 0016, `pg_trgm`) serves that
  LIKE itself;
- SQLite: `calls_notes_fts` (migration 0017), an FTS5 index of the notes by
  trigrams kept by triggers on `calls`. Notes that hold the words hold the
  words' trigrams in order (case folded character by character), so the
  phrase of those trigrams finds every call the LIKE finds, and a few more the
  LIKE then leaves out (FTS5 folds `É` to `é`, SQLite's `lower()` does not).

Words of fewer than 3 characters have no trigram: they scan, as before.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, TextClause, func, literal_column, text
from sqlalchemy.orm import Session

from calllog.models import Call

#: SQLite: the FTS5 table of the notes and the triggers that keep it
#: (migration 0017).
FTS_TABLE = "calls_notes_fts"
FTS_TRIGGERS = (
    "calls_notes_fts_after_insert",
    "calls_notes_fts_after_delete",
    "calls_notes_fts_after_update",
)
#: PostgreSQL: the trigram index of `lower(notes)` (migration 0016).
TRGM_INDEX = "ix_calls_notes_trgm"
#: The shortest words an index of trigrams can find.
MIN_INDEXED = 3
#: Past this many calls holding the words (at any time), the words are common:
#: the search reads the period newest first, as without the index, skipping
#: the calls the index says do not hold them, and stops at the page's last.
#: Up to it, the search reads only the calls that hold the words, by rowid,
#: and sorts them (~5 µs a call).
COMMON = 5_000

_HOLDING = text(
    "SELECT rowid FROM calls_notes_fts WHERE calls_notes_fts MATCH :phrase LIMIT :most"
)
_HOLDING_ANY = (
    "+calls.rowid IN (SELECT rowid FROM calls_notes_fts "
    "WHERE calls_notes_fts MATCH :notes_phrase)"
)
_HAS_INDEX = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name")


def notes_hold(
    session: Session, words: str, *, common: int = COMMON
) -> list[ColumnElement[bool] | TextClause]:
    """The conditions on `Call` for notes that hold `words` in any case.

    `session`: where the search runs (SQLite: is the index there, how many
    calls hold the words); `common`: see `COMMON`."""
    wanted = words.lower()
    hold = func.lower(Call.notes).contains(wanted, autoescape=True)
    if not _is_indexed(session, wanted):
        return [hold]
    phrase = fts_phrase(wanted)
    holding = session.scalars(_HOLDING, {"phrase": phrase, "most": common + 1}).all()
    if len(holding) <= common:
        return [literal_column("calls.rowid").in_(holding), hold]
    # `+`: SQLite must not look up each of the many calls that hold the words
    # (and sort them all); it reads the period in order and checks each
    # call's rowid against the index's answer, kept once.
    narrowed = text(_HOLDING_ANY).bindparams(notes_phrase=phrase)
    return [narrowed, hold]


def fts_phrase(words: str) -> str:
    """`words` as one FTS5 string: every character is text, nothing is syntax
    (`"` doubled; `AND`, `NEAR`, `*`, `-`, `(`, `:` stay words).

    >>> fts_phrase('say "hi" OR NEAR(x)')
    '"say ""hi"" OR NEAR(x)"'
    """
    return '"' + words.replace('"', '""') + '"'


def _is_indexed(session: Session, wanted: str) -> bool:
    """Whether SQLite's FTS index can narrow this search: 3 characters or more,
    no NUL (FTS5's query syntax ends a string there), and the index made (a
    SQLite without the trigram tokenizer has none; the bench drops it)."""
    if len(wanted) < MIN_INDEXED or "\x00" in wanted:
        return False
    if session.get_bind().dialect.name != "sqlite":
        return False
    return session.scalar(_HAS_INDEX, {"name": FTS_TABLE}) is not None
