"""How well the knowledge-base search finds the fault behind a caller's phrase.

Loads `config/kb/` and `tests/data/kb_phrases.yaml` (phrases written as callers
say them, each with the fault it is about), prints top-1 and top-3 accuracy,
every miss with what came first, and the mean search time. Exits 1 when top-1
is under 80 % or top-3 under 95 %.

    python bench/kb_accuracy.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.harness import Figure, record  # noqa: E402
from core.yamlfile import load_yaml  # noqa: E402
from ivr.kb import SYNONYMS_FILE, load_knowledge_base  # noqa: E402
from ivr.search import KbSearch, load_synonyms  # noqa: E402

KB_FOLDER = ROOT / "config" / "kb"
PHRASES = ROOT / "tests" / "data" / "kb_phrases.yaml"
TOP1_TARGET = 0.80
TOP3_TARGET = 0.95
TIMING_ROUNDS = 20


def main() -> int:
    """Print the figures; 0 when both targets are met."""
    started = time.perf_counter()
    kb = load_knowledge_base(KB_FOLDER)
    search = KbSearch.from_kb(kb, load_synonyms(KB_FOLDER / SYNONYMS_FILE))
    build_ms = (time.perf_counter() - started) * 1000
    data, _ = load_yaml(PHRASES)
    phrases: list[tuple[str, str]] = [(p["text"], p["fault"]) for p in data["phrases"]]
    unknown = sorted({fault for _, fault in phrases if fault not in kb})
    if unknown:
        print(f"phrase set names unknown faults: {', '.join(unknown)}")
        return 2

    top1 = top3 = 0
    for text, expected in phrases:
        hits = search.search(text, limit=3)
        ids: list[str] = [hit.fault_id for hit in hits]
        if ids[:1] == [expected]:
            top1 += 1
        if expected in ids:
            top3 += 1
        if ids[:1] != [expected]:
            first = f"{ids[0]} ({hits[0].score:.2f})" if hits else "nothing"
            rank = ids.index(expected) + 1 if expected in ids else "-"
            print(f"miss: {text!r}: expected {expected} (rank {rank}), got {first}")

    timings = []
    for _ in range(TIMING_ROUNDS):
        for text, _expected in phrases:
            t0 = time.perf_counter()
            search.search(text, limit=3)
            timings.append(time.perf_counter() - t0)

    count = len(phrases)
    top1_rate, top3_rate = top1 / count, top3 / count
    print(f"knowledge base: {len(kb)} faults, index built in {build_ms:.0f} ms")
    print(f"phrases: {count}")
    print(f"top-1 accuracy: {top1_rate:.1%} ({top1}/{count}), target {TOP1_TARGET:.0%}")
    print(f"top-3 accuracy: {top3_rate:.1%} ({top3}/{count}), target {TOP3_TARGET:.0%}")
    print(
        f"search time: mean {statistics.fmean(timings) * 1e6:.0f} µs, "
        f"max {max(timings) * 1e6:.0f} µs over {len(timings)} searches"
    )
    record(
        "bench/kb_accuracy.py",
        [
            Figure(
                f"KB search top-1 ({count} phrases, tests/data/kb_phrases.yaml)",
                f"{top1_rate:.1%}",
                f">= {TOP1_TARGET:.0%}",
                top1_rate >= TOP1_TARGET,
            ),
            Figure(
                "KB search top-3",
                f"{top3_rate:.1%}",
                f">= {TOP3_TARGET:.0%}",
                top3_rate >= TOP3_TARGET,
            ),
            Figure("KB search time, mean", f"{statistics.fmean(timings) * 1e6:.0f} µs"),
        ],
    )
    return 0 if top1_rate >= TOP1_TARGET and top3_rate >= TOP3_TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
