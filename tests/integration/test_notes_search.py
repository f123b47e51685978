"""The call list's words search, served by the notes' index, finds what the
plain scan finds: the words anywhere in the notes, in any case, the user's
characters as text (never FTS5 syntax, never LIKE wildcards), short words
too, and the notes as the writer last wrote them.

On the session's database (SQLite, or PostgreSQL with `DATABASE_URL`). Every
answer is also checked against the search before the index (`before_index`:
`lower(notes) LIKE '%words%'` over every call), so accents and case behave as
they did: on SQLite `lower()` leaves `É` as it is, on PostgreSQL it does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session
from support import throwaway_database

from agents.lifecycle import AgentState
from calllog.buckets import DEFAULT_TZ, local_day
from calllog.call_list import CallFilter, search
from calllog.db import alembic_config, create_db_engine, upgrade
from calllog.models import Call
from calllog.notes_search import (
    FTS_TABLE,
    FTS_TRIGGERS,
    TRGM_INDEX,
    fts_phrase,
    notes_hold,
)
from calllog.retention import anonymise_before
from calllog.writer import drain_events
from core.keys import Keys
from queues.routing import QueueRule
from queues.store import RoutingStore

DAY = "2026-11-10"
NOON = datetime(2026, 11, 10, 12, tzinfo=DEFAULT_TZ)


@pytest.fixture(scope="module")
def notes_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A call log of this module's own (each test starts with no calls)."""
    with throwaway_database(tmp_path_factory.mktemp("notes")) as url:
        upgrade(url)
        yield url


@pytest.fixture
def engine(notes_database: str) -> Iterator[Engine]:
    engine = create_db_engine(notes_database)
    with engine.begin() as conn:
        conn.execute(delete(Call))  # through the delete trigger (SQLite)
    yield engine
    engine.dispose()


def add_calls(engine: Engine, notes: dict[str, str | None]) -> None:
    """One call per sid, a minute apart on `DAY`, with these notes."""
    with Session(engine) as session:
        for i, (sid, text) in enumerate(notes.items()):
            started = (NOON + timedelta(minutes=i)).astimezone(UTC)
            session.add(
                Call(
                    call_sid=sid,
                    status="completed",
                    started_at=started,
                    local_day=local_day(started),
                    notes=text,
                )
            )
        session.commit()


def found(engine: Engine, words: str, first: str = DAY, last: str = DAY) -> set[str]:
    return {c.call_sid for c in search(engine, CallFilter(first, last, words=words))}


def before_index(engine: Engine, words: str) -> set[str]:
    """What the search found before the notes had an index: every call read."""
    with Session(engine) as session:
        return set(
            session.scalars(
                select(Call.call_sid).where(
                    func.lower(Call.notes).contains(words.lower(), autoescape=True)
                )
            )
        )


def assert_finds(engine: Engine, words: str, expected: set[str]) -> None:
    assert found(engine, words) == expected, words
    assert before_index(engine, words) == expected, words


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def assert_index_in_step(engine: Engine) -> None:
    """SQLite: the FTS index says what `calls` holds (FTS5's own check)."""
    if not is_sqlite(engine):
        return
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rank) VALUES ('integrity-check', 1)"
        )


def test_words_are_found_anywhere_in_the_notes_in_any_case(engine: Engine) -> None:
    add_calls(
        engine,
        {
            "CAnotes1": "Imprimante HP: pilote réinstallé, VPN coupé",
            "CAnotes2": "vpn ok",
            "CAnotes3": "Mot de passe Outlook réinitialisé",
            "CAnotes4": None,
            "CAnotes5": "",
        },
    )
    for words in ("vpn", "VPN", "Vpn"):
        assert_finds(engine, words, {"CAnotes1", "CAnotes2"})
    assert_finds(engine, "imprimante", {"CAnotes1"})  # at the start
    assert_finds(engine, "n coupé", {"CAnotes1"})  # at the end, across words
    assert_finds(engine, "HP: PILOTE", {"CAnotes1"})  # in the middle
    assert_finds(engine, "passe outlook", {"CAnotes3"})
    assert_finds(engine, "pilote vpn", set())  # both there, not together
    assert_finds(engine, "zorglub", set())
    # Only the period's calls, as before.
    assert found(engine, "vpn", "2026-11-11", "2026-11-12") == set()
    assert_index_in_step(engine)


def test_accents_and_case_match_as_they_did_before_the_index(engine: Engine) -> None:
    add_calls(
        engine,
        {
            "CAaccent1": "Réseau partagé inaccessible",
            "CAaccent2": "RÉSEAU PARTAGÉ",
            "CAaccent3": "le réseau wifi",
            "CAaccent4": "reseau sans accent",
            "CAaccent5": "Écran noir",
        },
    )
    for words in ("Réseau", "réseau", "RÉSEAU", "seau parta", "écran", "É", "é"):
        assert found(engine, words) == before_index(engine, words), words
    for words in ("Réseau", "réseau"):
        answer = found(engine, words)
        assert {"CAaccent1", "CAaccent3"} <= answer
        assert "CAaccent4" not in answer  # no accent is not the same word
    assert found(engine, "reseau") == {"CAaccent4"}
    if is_sqlite(engine):
        # SQLite's lower() folds ASCII only (FTS5 folds É: its answer is
        # checked by the LIKE, so "RÉSEAU" is still not "réseau").
        assert found(engine, "réseau") == {"CAaccent1", "CAaccent3"}
        assert found(engine, "RÉSEAU") == {"CAaccent1", "CAaccent3"}


#: Notes full of what FTS5 and LIKE read as syntax.
HOSTILE = {
    "CAhostile1": 'say "hi" to (NEAR) -y *z',
    "CAhostile2": "100% done, a_b ok",
    "CAhostile3": "l'écran d'accueil",
    "CAhostile4": "hi there x",
    "CAhostile5": "1000 done, axb ok",
}


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ('"hi"', {"CAhostile1"}),
        ('hi" OR "x', set()),
        ("hi OR x", set()),
        ("x OR hi", set()),
        ("hi AND there", set()),
        ("NOT hi", set()),
        ("(NEAR)", {"CAhostile1"}),
        ("near", {"CAhostile1"}),
        ("NEAR(hi x)", set()),
        ("-y *z", {"CAhostile1"}),
        ("*z", {"CAhostile1"}),
        ("hi*", set()),
        ("^hi", set()),
        ("notes:hi", set()),
        ("{notes}: hi", set()),
        ('""', set()),
        ('"', {"CAhostile1"}),
        ("100%", {"CAhostile2"}),
        ("0% d", {"CAhostile2"}),
        ("a_b", {"CAhostile2"}),
        ("%", {"CAhostile2"}),
        ("_", {"CAhostile2"}),
        ("1%0", set()),
        ("a%b", set()),
        ("l'é", {"CAhostile3"}),
        ("d'accueil", {"CAhostile3"}),
        ("'", {"CAhostile3"}),
        ("''", set()),
        ("/", set()),  # SQLAlchemy's LIKE escape character
        ("a/_b", set()),
    ],
)
def test_the_users_characters_are_text_never_syntax(
    engine: Engine, words: str, expected: set[str]
) -> None:
    add_calls(engine, HOSTILE)
    assert_finds(engine, words, expected)


def test_a_nul_in_the_words_scans_instead_of_failing(engine: Engine) -> None:
    if not is_sqlite(engine):
        pytest.skip("PostgreSQL refuses NUL in text, with or without the index")
    add_calls(engine, HOSTILE)
    assert_finds(engine, "hi\x00there", set())


def test_short_words_are_found_by_the_scan(engine: Engine) -> None:
    add_calls(
        engine,
        {
            "CAshort1": "Imprimante HP hors ligne",
            "CAshort2": "wifi ok",
            "CAshort3": "Écran",
        },
    )
    assert_finds(engine, "hp", {"CAshort1"})
    assert_finds(engine, "HP", {"CAshort1"})
    assert_finds(engine, "ok", {"CAshort2"})
    assert_finds(engine, "i", {"CAshort1", "CAshort2"})
    assert found(engine, "é") == before_index(engine, "é")


def test_the_index_narrows_words_of_three_characters_or_more(engine: Engine) -> None:
    if not is_sqlite(engine):
        pytest.skip("PostgreSQL's trigram index serves the LIKE itself")
    add_calls(engine, {"CAindexed1": "Câble réseau changé", "CAindexed2": "wifi"})
    statements: list[str] = []

    def keep(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(engine, "before_cursor_execute", keep)
    try:
        assert found(engine, "câble") == {"CAindexed1"}
        assert any("MATCH" in s for s in statements)
        statements.clear()
        assert found(engine, "wi") == {"CAindexed2"}
        assert not any("MATCH" in s for s in statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", keep)


def test_common_words_read_the_period_in_order_and_find_the_same(
    engine: Engine,
) -> None:
    if not is_sqlite(engine):
        pytest.skip("SQLite's FTS index only")
    add_calls(engine, {f"CAcommon{i}": f"vpn coupé n°{i}" for i in range(5)})
    add_calls(engine, {"CAcommonX": "écran"})
    with Session(engine) as session:
        for common in (0, 1, 100):  # common past 0, past 1; rare below 100
            conditions = notes_hold(session, "VPN COUP", common=common)
            query = select(Call.call_sid).where(*conditions)
            assert ("+calls.rowid" in str(query)) == (common < 5)
            assert set(session.scalars(query)) == {f"CAcommon{i}" for i in range(5)}


def test_the_writers_notes_are_found_and_its_corrections_replace_them(
    redis_client: redis.Redis, engine: Engine
) -> None:
    """The writer inserts the call when it starts (no notes yet), and writes
    the hotliner's notes with the outcome later, an UPDATE: the index follows
    it, a corrected outcome, and retention emptying the notes."""
    keys = Keys(prefix="notes-test")
    store = RoutingStore(redis_client, keys)
    sid = "CAwriter1"
    store.agents.set_state("alice", AgentState.AVAILABLE, [("printer", 3)])
    store.start_call(sid, "+33611111111", "+33180000000", "fr-FR")
    store.enqueue(sid, "printer", 0)
    time.sleep(0.02)
    offer = store.match([QueueRule("printer", 1, 0, 1)], 15_000)
    assert offer is not None
    store.accept(offer.offer_id, "CAleg-notes")
    store.bridge(sid)
    store.hang_up(sid, "completed", wrapup_ms=30_000)
    drain_events(redis_client, engine, keys)
    now = datetime.now(UTC)
    first, last = (local_day(now + timedelta(days=d)) for d in (-1, 1))
    assert found(engine, "zorglub", first, last) == set()

    store.record_outcome(sid, "alice", "resolved", "Pilote HP réinstallé, ZORGLUB")
    drain_events(redis_client, engine, keys)
    assert found(engine, "zorglub", first, last) == {sid}
    assert found(engine, "pilote hp", first, last) == {sid}
    assert_index_in_step(engine)

    store.record_outcome(sid, "alice", "resolved", "Câble réseau changé")
    drain_events(redis_client, engine, keys)
    assert found(engine, "zorglub", first, last) == set()
    assert found(engine, "pilote", first, last) == set()
    assert found(engine, "câble réseau", first, last) == {sid}
    assert_index_in_step(engine)

    anonymise_before(engine, now + timedelta(minutes=1))
    assert found(engine, "câble", first, last) == set()
    assert before_index(engine, "câble") == set()
    assert_index_in_step(engine)


def test_changed_and_deleted_notes_leave_the_index(engine: Engine) -> None:
    add_calls(
        engine,
        {"CAchange1": "zorglub vidé", "CAchange2": "zorglub aussi", "CAchange3": None},
    )
    with Session(engine) as session:
        row = session.get(Call, "CAchange1")
        assert row is not None
        row.notes = "plus rien"
        later = session.get(Call, "CAchange3")
        assert later is not None
        later.notes = "Zorglub, enfin"
        session.delete(session.get(Call, "CAchange2"))
        session.commit()
    assert_finds(engine, "zorglub", {"CAchange3"})
    assert_finds(engine, "plus rien", {"CAchange1"})
    assert_finds(engine, "aussi", set())
    assert_index_in_step(engine)


def test_fts_phrase_doubles_quotes_and_keeps_everything_else() -> None:
    assert fts_phrase('say "hi" OR NEAR(x)') == '"say ""hi"" OR NEAR(x)"'
    assert fts_phrase("") == '""'


def index_objects(engine: Engine) -> set[str]:
    """The notes index's tables, triggers and indexes that exist."""
    with engine.connect() as conn:
        if is_sqlite(engine):
            rows = conn.execute(
                sa.text(
                    "SELECT name FROM sqlite_master WHERE name IN "
                    "(:t, :i, :d, :u, :trgm)"
                ),
                {
                    "t": FTS_TABLE,
                    "i": FTS_TRIGGERS[0],
                    "d": FTS_TRIGGERS[1],
                    "u": FTS_TRIGGERS[2],
                    "trgm": TRGM_INDEX,
                },
            )
        else:
            rows = conn.execute(
                sa.text("SELECT indexname FROM pg_indexes WHERE indexname = :n"),
                {"n": TRGM_INDEX},
            )
        return set(rows.scalars())


def test_the_migration_indexes_the_calls_logged_before_it_and_goes_back(
    fresh_database_url: str,
) -> None:
    upgrade(fresh_database_url, "0015")
    engine = create_db_engine(fresh_database_url)
    try:
        add_calls(engine, {"CAold1": "Licence Office expirée", "CAold2": None})
        upgrade(fresh_database_url)
        made = {FTS_TABLE, *FTS_TRIGGERS} if is_sqlite(engine) else {TRGM_INDEX}
        assert index_objects(engine) == made
        assert_finds(engine, "office", {"CAold1"})
        if is_sqlite(engine):
            with engine.connect() as conn:
                rowids = conn.execute(
                    sa.text(
                        f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :phrase"
                    ),
                    {"phrase": fts_phrase("office")},
                ).all()
            assert len(rowids) == 1
        assert_index_in_step(engine)

        downgrade(fresh_database_url, "0015")
        assert index_objects(engine) == set()
        assert_finds(engine, "office", {"CAold1"})  # scanned
        add_calls(engine, {"CAold3": "office encore"})
        upgrade(fresh_database_url)
        assert index_objects(engine) == made
        assert_finds(engine, "office", {"CAold1", "CAold3"})
        assert_index_in_step(engine)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Back to `revision` (the app only ever upgrades)."""
    command.downgrade(alembic_config(url), revision)
