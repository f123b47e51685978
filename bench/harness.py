"""What the end-to-end benches share: a Redis to run on, percentiles, and the
tracebacks the stack's processes logged.

Imported as `bench.harness` by `bench/fidelity.py` and `bench/console.py` (run
as scripts, they put the checkout's root on `sys.path`; tests import them too).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from core.embedded_redis import EmbeddedRedis  # noqa: E402


@contextmanager
def redis_server(
    url: str | None, db: int, folder: Path
) -> Iterator[tuple[str, int | None]]:
    """A Redis URL on an empty database: our own Valkey, or a dedicated index
    (refused if not empty, flushed after); and our Valkey's pid (None: not ours)."""
    if url is None:
        embedded = EmbeddedRedis(folder / "valkey", persistent=False)
        embedded.start()
        try:
            yield embedded.url, embedded.pid
        finally:
            embedded.stop()
        return
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    dedicated = f"{base.rstrip('/')}/{db}"
    client = redis.Redis.from_url(dedicated)
    try:
        if client.dbsize():
            raise SystemExit(f"refusing to use non-empty Redis DB {db} at {base}")
        yield dedicated, None
    finally:
        client.flushdb()
        client.close()


def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (nearest rank); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def show_tracebacks(logs: Path, keep: int = 4000) -> None:
    """Print the end of every process log that holds a traceback."""
    for path in sorted(logs.glob("*.log")):
        text = path.read_text(errors="replace")
        if "Traceback" in text:
            print(f"--- {path.name} has tracebacks (last {keep} characters) ---")
            print(text[-keep:])


#: Where `record` appends each bench's headline figures (JSON lines), when
#: `bench/performance.py` runs the benches to write `docs/PERFORMANCE.md`.
SUMMARY_ENV = "BENCH_SUMMARY"


@dataclass(frozen=True)
class Figure:
    """One headline line of a bench, as `docs/PERFORMANCE.md` shows it.

    `value` and `baseline` are the figures as printed (with their unit),
    `ratio` the measured one over the baseline's ("" when a figure has no
    baseline of its own, e.g. an accuracy on frozen data), `target` what it
    must meet ("" for a figure only reported) and `ok` whether it did."""

    figure: str
    value: str
    target: str = ""
    ok: bool | None = None
    baseline: str = ""
    ratio: str = ""


def record(bench: str, figures: Sequence[Figure]) -> None:
    """Keep a bench's headline figures for `docs/PERFORMANCE.md`; the bench
    prints its full report itself. A no-op unless `BENCH_SUMMARY` names a
    file: run alone, a bench only prints."""
    path = os.environ.get(SUMMARY_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as out:
        for figure in figures:
            out.write(json.dumps({"bench": bench, **asdict(figure)}) + "\n")


def sleep_until(moment: float) -> None:
    """Sleeps until `time.monotonic()` reaches `moment` (at once if past)."""
    time.sleep(max(0.0, moment - time.monotonic()))
