"""Reports and the call list on a month of calls: p95 against targets.

Fills a throw-away call log with `--calls` generated calls over 30 local days
(Paris; queues, hotliners, answered, abandoned, short abandons, voicemail,
self-service, transfers, repeats), then times, `--rounds` times each:

- a month's report by queue, and by half hour (`calllog.reports.report`);
- call-list searches (`calllog.call_list.search`, 50 newest): no filter, by
  queue, hotliner, status, and one caller's number; words in the notes
  (one common, one nobody wrote: the whole month read).

Past days are rolled up first (what the worker keeps doing every quarter of
an hour; timed). The
baseline, in the same sitting, timed `--baseline-rounds` times each (3: it is
up to a thousand times slower, and its p95 of 3 is its slowest; no untimed
warm-up run before them, see `timed`): the words
search without the notes' index only (SQLite's FTS table and its triggers,
PostgreSQL's trigram index: the search as it was before them), then the
reports from every call (no rollup), and the searches after dropping every
index they use (`ix_calls_started_at`, `ix_calls_from_number`,
`ix_calls_agent_started`, `ix_calls_local_day_queue`, the notes' index).
Targets: report p95 < 1 s, search p95 < 200 ms.

The calls are written in one transaction on an engine of their own, without
waiting for the disk (SQLite `synchronous=OFF`, a big page cache: a throw-away
database); SQLite's notes index is made once after, from every call, as
migration 0017 makes it for an existing call log, instead of by its triggers a
million times.

    python bench/reports.py                                   # SQLite, 20,000 calls
    python bench/reports.py --calls 1000000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/postgres

With `--database-url` (PostgreSQL) a database `hotline_bench_<hex>` is
created on that server and dropped at the end; without, SQLite in a
temporary folder. Exits 1 naming every target missed.
"""

from __future__ import annotations

import argparse
import functools
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.harness import Figure, record  # noqa: E402
from calllog.buckets import DEFAULT_TZ, half_hour, local_day  # noqa: E402
from calllog.call_list import CallFilter, search  # noqa: E402
from calllog.db import create_db_engine, upgrade  # noqa: E402
from calllog.models import Call  # noqa: E402
from calllog.notes_search import FTS_TABLE, FTS_TRIGGERS, TRGM_INDEX  # noqa: E402
from calllog.reports import report, roll_up_days  # noqa: E402

QUEUES = ("software", "printer", "network", "email", "account", "hardware", "general")
AGENTS = tuple(f"agent{i:02d}" for i in range(40))
THRESHOLDS = dict.fromkeys(QUEUES, 20)
FIRST_DAY = datetime(2026, 11, 2, tzinfo=DEFAULT_TZ)
DAYS = 30
REPORT_TARGET_S = 1.0
SEARCH_TARGET_S = 0.2
INDEXES = (
    "ix_calls_local_day_queue",
    "ix_calls_started_at",
    "ix_calls_from_number",
    "ix_calls_agent_started",
)
#: The fill's page cache (SQLite, KiB): the indexes of a million calls stay in
#: memory while they are written in random order.
FILL_CACHE_KIB = 1_000_000


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.sqlite3"
        return
    name = f"hotline_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: What hotliners' notes are made of (the words search reads them).
NOTE_WORDS = (
    "imprimante pilote réinstallé redémarrage wifi box vpn outlook mot de passe "
    "réinitialisé compte verrouillé licence office écran clavier souris lecteur "
    "réseau partage teams mise à jour windows certificat proxy câble"
).split()


def generated_calls(count: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Calls spread over the month's working hours, the mix of a help desk."""
    numbers = [f"+336{rng.randrange(10**8):08d}" for _ in range(max(100, count // 20))]
    for i in range(count):
        day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        started = (
            day + timedelta(seconds=rng.randrange(7 * 3600, 21 * 3600))
        ).astimezone(UTC)
        roll = rng.random()
        queue = rng.choice(QUEUES)
        row: dict[str, Any] = {
            "call_sid": f"CA{i:032d}",
            "from_number": rng.choice(numbers),
            "to_number": "+33180000000",
            "language": "fr-FR",
            "started_at": started,
            "local_day": local_day(started),
            "local_halfhour": half_hour(started),
            "offers": 0,
            "transfers": 0,
            "declined_offers": 0,
            "missed_offers": 0,
        }
        if roll < 0.05:
            row |= {"status": "self_served", "outcome": "self_service_resolved"}
        elif roll < 0.08:
            row |= {"status": "abandoned", "outcome": "abandoned_in_ivr"}
        else:
            wait = rng.expovariate(1 / 40)
            row |= {
                "queue": queue,
                "ivr_choice": queue,
                "queued_at": started + timedelta(seconds=30),
                "wait_seconds": round(wait, 3),
                "offers": 1,
            }
            if roll < 0.20:
                row |= {"status": "abandoned", "outcome": "abandoned"}
            elif roll < 0.23:
                row |= {"status": "voicemail", "outcome": "voicemail"}
            else:
                row |= {
                    "status": "completed",
                    "agent_id": rng.choice(AGENTS),
                    "answered_at": started + timedelta(seconds=30 + wait),
                    "handle_talk_seconds": round(rng.expovariate(1 / 300), 3),
                    "hold_seconds": 0.0,
                    "wrapup_seconds": round(rng.uniform(10, 90), 3),
                    "outcome": rng.choice(
                        (
                            "resolved",
                            "resolved",
                            "resolved",
                            "remote_takeover",
                            "escalated",
                            "not_resolved",
                        )
                    ),
                    "transfers": 1 if rng.random() < 0.05 else 0,
                    "notes": " ".join(rng.sample(NOTE_WORDS, 6)),
                }
        if rng.random() < 0.05 and i:
            row["previous_call_sid"] = f"CA{rng.randrange(i):032d}"
        yield row


def fill(url: str, count: int, rng: random.Random) -> float:
    """Write `count` generated calls; the seconds it took, notes index made."""
    started = time.perf_counter()
    # An engine of its own: the measured one keeps the call log's settings.
    engine = create_db_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    columns = {c.name for c in Call.__table__.columns}
    try:
        with engine.begin() as conn:
            triggers: list[str] = []
            if sqlite:
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
                conn.exec_driver_sql(f"PRAGMA cache_size=-{FILL_CACHE_KIB}")
                # The notes index's triggers, kept to be made again after.
                triggers = list(
                    conn.execute(
                        sa.select(sa.column("sql"))
                        .select_from(sa.table("sqlite_master"))
                        .where(sa.column("name").in_(FTS_TRIGGERS))
                    ).scalars()
                )
                for name in FTS_TRIGGERS:
                    conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
            batch: list[dict[str, Any]] = []
            for row in generated_calls(count, rng):
                batch.append({k: row.get(k) for k in columns})
                if len(batch) == 10_000:
                    conn.execute(sa.insert(Call), batch)
                    batch = []
            if batch:
                conn.execute(sa.insert(Call), batch)
            for sql in triggers:
                conn.exec_driver_sql(sql)
            if triggers:
                conn.exec_driver_sql(
                    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')"
                )
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()
    return time.perf_counter() - started


def drop_notes_index(engine: sa.Engine) -> None:
    """The words search as it was before its index: SQLite's FTS table and
    its triggers (migration 0017), PostgreSQL's trigram index (0016)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            for name in FTS_TRIGGERS:
                conn.execute(sa.text(f"DROP TRIGGER IF EXISTS {name}"))
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {FTS_TABLE}"))
        else:
            conn.execute(sa.text(f"DROP INDEX IF EXISTS {TRGM_INDEX}"))
        conn.execute(sa.text("ANALYZE"))


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.95 + 0.5) - 1)]


def timed(action: Callable[[], object], rounds: int, *, warm: bool) -> list[float]:
    """`rounds` timings of `action`, after one untimed run when `warm` (the
    caches of a running server). The baseline's queries go without it: each
    reads the whole month, which the fill, the rollup and the queries before
    left in the OS's cache, and a run of seconds is not moved by a statement
    prepared anew (a warm-up there cost a quarter of the baseline's time)."""
    if warm:
        action()
    out = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        out.append(time.perf_counter() - started)
    return out


def reports_p95(
    engine: sa.Engine, rounds: int, *, rollups: bool, warm: bool = True
) -> dict[str, float]:
    first = local_day(FIRST_DAY)
    last = local_day(FIRST_DAY + timedelta(days=DAYS - 1))
    return {
        f"report by {label}": p95(
            timed(
                functools.partial(
                    report, engine, first, last, by, THRESHOLDS, rollups=rollups
                ),
                rounds,
                warm=warm,
            )
        )
        for label, by in (("queue", "queue"), ("half hour", "halfhour"))
    }


def search_p95(
    engine: sa.Engine, rounds: int, *, warm: bool = True
) -> dict[str, float]:
    first = local_day(FIRST_DAY)
    last = local_day(FIRST_DAY + timedelta(days=DAYS - 1))
    with engine.connect() as conn:
        number = conn.execute(sa.text("SELECT from_number FROM calls LIMIT 1")).scalar()
    filters = [
        CallFilter(first, last),
        CallFilter(first, last, queue="network"),
        CallFilter(first, last, agent="agent07"),
        CallFilter(first, last, status="abandoned"),
        CallFilter(first, last, number=str(number)),
    ]
    searches: list[float] = []
    for flt in filters:
        searches += timed(functools.partial(search, engine, flt), rounds, warm=warm)
    return {"call-list search": p95(searches)} | words_p95(engine, rounds, warm=warm)


def words_p95(engine: sa.Engine, rounds: int, *, warm: bool = True) -> dict[str, float]:
    """A common word stops at the 50 newest; without the notes' index, a word
    nobody wrote reads the whole month."""
    first = local_day(FIRST_DAY)
    last = local_day(FIRST_DAY + timedelta(days=DAYS - 1))
    words = [
        CallFilter(first, last, words="vpn"),
        CallFilter(first, last, words="zorglub"),
    ]
    in_notes: list[float] = []
    for flt in words:
        in_notes += timed(functools.partial(search, engine, flt), rounds, warm=warm)
    return {"words-in-notes search": p95(in_notes)}


def main() -> int:
    began = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument(
        "--baseline-rounds",
        type=int,
        default=3,
        help="rounds of each baseline (reports from every call, no index)",
    )
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with database(args.database_url) as url:
        upgrade(url)
        seconds = fill(url, args.calls, rng)
        engine = create_db_engine(url)
        try:
            kind = engine.dialect.name
            print(
                f"{args.calls:,} calls over {DAYS} days in {kind}, "
                f"written in {seconds:.1f} s (notes index included)"
            )
            started = time.perf_counter()
            rows = roll_up_days(engine, THRESHOLDS)
            print(
                "past days rolled up (the worker's quarter-hourly job): "
                f"{rows} rows in {time.perf_counter() - started:.1f} s"
            )
            indexed = reports_p95(engine, args.rounds, rollups=True)
            indexed |= search_p95(engine, args.rounds)
            drop_notes_index(engine)
            unindexed_words = words_p95(engine, args.baseline_rounds, warm=False)
            bare = reports_p95(engine, args.baseline_rounds, rollups=False, warm=False)
            with engine.begin() as conn:
                for name in INDEXES:
                    conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
                conn.execute(sa.text("ANALYZE"))
            bare |= search_p95(engine, args.baseline_rounds, warm=False)
        finally:
            engine.dispose()
    missed = []
    figures = []
    print(
        f"p95 over {args.rounds} rounds; baseline, same sitting, over "
        f"{args.baseline_rounds} rounds: reports from every call (no rollup), "
        "searches without the indexes"
    )
    for name, value in indexed.items():
        target = SEARCH_TARGET_S if "search" in name else REPORT_TARGET_S
        ok = value < target
        if not ok:
            missed.append(name)
        print(
            f"  {name:<20} {value * 1000:8.1f} ms  (target < {target * 1000:.0f} ms: "
            f"{'PASS' if ok else 'FAIL'})  baseline {bare[name] * 1000:8.1f} ms, "
            f"{bare[name] / value if value else 0:.1f}x"
        )
        baseline = f"{bare[name] * 1000:.1f} ms without rollups or indexes"
        if name in unindexed_words:
            notes_only = unindexed_words[name]
            print(
                f"  {'':<20} without the notes index only (the other indexes "
                f"kept): {notes_only * 1000:.1f} ms, "
                f"{notes_only / value if value else 0:.1f}x"
            )
            baseline += f"; {notes_only * 1000:.1f} ms without the notes index only"
        figures.append(
            Figure(
                f"{name}: p95 on {args.calls:,} calls",
                f"{value * 1000:.1f} ms",
                f"< {target * 1000:.0f} ms",
                ok,
                baseline,
                f"{value / bare[name]:.2f}x" if bare[name] else "",
            )
        )
    record("bench/reports.py", figures)
    print(f"{time.perf_counter() - began:.0f} s in all")
    if missed:
        print("missed: " + ", ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
