"""Run the benches and write `docs/PERFORMANCE.md` from what they printed.

`make bench` runs this. Each bench runs as its own process, its output shown
as it goes; its headline figures come back through `bench.harness.record`
(JSON lines in a file named by `BENCH_SUMMARY`). Every bench runs even after
one misses a target; the exit code is 1 when any missed one or failed.

The results are kept by bench in `docs/performance.json` and the page is
rendered from it, so `--only` reruns some benches and leaves the others'
rows as they were (each row says when and on what machine it was measured).

    python bench/performance.py                       # every bench (~15 min)
    python bench/performance.py --only webhooks.py    # one, the rest kept
    python bench/performance.py --list
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.harness import SUMMARY_ENV  # noqa: E402

DOC = ROOT / "docs" / "PERFORMANCE.md"
RESULTS = ROOT / "docs" / "performance.json"


@dataclass(frozen=True)
class Bench:
    """One bench as `make bench` runs it, and why it is there."""

    script: str
    args: tuple[str, ...] = ()
    about: str = ""

    @property
    def name(self) -> str:
        return Path(self.script).name

    def command(self) -> list[str]:
        args = [*self.args]
        database_url = os.environ.get("DATABASE_URL")
        if self.name == "reports.py" and database_url:
            args += ["--database-url", database_url]
        return [sys.executable, self.script, *args]


#: In the order they run: quick accuracy checks first, whole-stack runs last.
#: The arguments keep the whole run under 15 minutes on a slow day of this
#: 2-core machine (934 s on 2026-12-04 with fidelity at 250 callers, the
#: console's 120 calls, the wallboard's 12 phases, the writer's default
#: windows and capacity holding 2,000; before that 951 and 1,009 s with
#: longer ones; 900 s at 17:29 UTC the same day with the webhook bench's
#: ladder, the wallboard's ramp, an 8 s open loop and capacity holding
#: 1,500 at 15 s a step): each window is still thousands of answers
#: (webhooks: 5 s closed loop, 8 s open loop at 200/s; the soak a minute at
#: 20 calls/s; capacity 12 s a step); the longer runs are each bench's default
#: (`docs/PERFORMANCE.md` says which command made each row; the 10-minute
#: soak and the 5,000 waiting are recorded in `docs/SCALING.md`).
BENCHES = (
    Bench("bench/kb_accuracy.py", about="KB search accuracy on known phrases"),
    Bench("bench/triage.py", about="callers understood the first time (frozen set)"),
    Bench("bench/routing.py", about="one routing decision, 10 to 100,000 waiting"),
    Bench(
        "bench/routing_groups.py",
        ("--seconds", "5"),
        about="live state by routing group on a 3-master cluster vs one slot",
    ),
    Bench(
        "bench/webhooks.py",
        ("--closed-seconds", "5", "--seconds", "8"),
        about="a signed IVR step vs a bare Flask endpoint",
    ),
    Bench(
        "bench/fidelity.py",
        ("--calls", "200"),
        about="simulated day vs Erlang C, nobody lost",
    ),
    Bench(
        "bench/console.py",
        ("--calls", "90"),
        about="50 consoles' pop-ups while calls flow",
    ),
    Bench(
        "bench/wallboard.py",
        ("--phases", "8"),
        about="50 wallboards during 20 calls/s",
    ),
    Bench(
        "bench/reports.py",
        ("--calls", "1000000", "--baseline-rounds", "1"),
        about="reports and call list on a million calls",
    ),
    Bench(
        "bench/calllog_writer.py",
        ("--seconds", "10"),
        about="the call-log writer: throughput and lag",
    ),
    Bench(
        "bench/rq_latency.py",
        ("--seconds", "10"),
        about="RQ enqueue-to-start latency under load",
    ),
    Bench(
        "bench/soak.py",
        ("--minutes", "1"),
        about="the whole flow at 20 calls/s: nothing lost, nothing growing",
    ),
    Bench(
        "bench/capacity.py",
        (
            "--step-seconds",
            "12",
            "--waiting",
            "1200",
            "--waiting-rate",
            "40",
            "--hold-seconds",
            "5",
        ),
        about="calls/s until something breaks; 1,200 callers waiting",
    ),
)


def machine() -> str:
    """CPU model and count, memory and Python: what a figure was measured on."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        memory = ""
    return (
        f"{os.cpu_count()} CPUs ({model}){memory}, Python {platform.python_version()}"
    )


def run(bench: Bench) -> dict[str, Any]:
    """Run one bench, its output shown live; its figures and verdict."""
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as summary:
        env = {**os.environ, SUMMARY_ENV: summary.name}
        print(f"== {shlex.join(bench.command()[1:])}", flush=True)
        began = time.monotonic()
        code = subprocess.call(bench.command(), cwd=ROOT, env=env)
        seconds = time.monotonic() - began
        figures = [json.loads(line) for line in summary.read().splitlines() if line]
    print(f"== {bench.name}: exit {code} after {seconds:.0f} s\n", flush=True)
    return {
        "command": "python " + shlex.join(bench.command()[1:]),
        "about": bench.about,
        "exit": code,
        "seconds": round(seconds),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "figures": figures,
    }


def verdict(figure: dict[str, Any]) -> str:
    ok = figure.get("ok")
    return "" if ok is None else ("PASS" if ok else "**FAIL**")


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(results: dict[str, dict[str, Any]]) -> str:
    """The page: one table of every headline figure, then each bench's run."""
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`bench/performance.py`) from the benches' own",
        "output: do not edit by hand. Each figure is the one its bench printed,",
        "beside the baseline it measured in the same run; the full method of each",
        "bench is in its docstring and in `bench/README.md`. Rerun one bench with",
        "`python bench/performance.py --only NAME` (the other rows are kept, with",
        "their own date).",
        "",
        "| bench | figure | measured | baseline (same run) | ratio | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    order = [b.name for b in BENCHES]
    names = sorted(results, key=lambda n: order.index(n) if n in order else 99)
    for name in names:
        result = results[name]
        if not result["figures"]:
            lines.append(
                f"| `{name}` | (no figures: exit {result['exit']}) | | | | | **FAIL** |"
            )
        for f in result["figures"]:
            lines.append(
                f"| `{name}` | {cell(f['figure'])} | {cell(f['value'])} | "
                f"{cell(f['baseline'])} | {cell(f['ratio'])} | {cell(f['target'])} | "
                f"{verdict(f)} |"
            )
    lines += ["", "## Runs", ""]
    for name in names:
        r = results[name]
        lines += [
            f"- `{r['command']}`: {r['about']}; exit {r['exit']} after"
            f" {r['seconds']} s, {r['when']}, on {r['machine']}.",
        ]
    total = sum(results[n]["seconds"] for n in names)
    lines += ["", f"All benches: {total // 60} min {total % 60} s of runs.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="e.g. webhooks.py")
    parser.add_argument("--list", action="store_true", help="list the benches")
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHES:
            print(f"{b.name:16} {b.about}")
        return 0
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    unknown = set(args.only or ()) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"no such bench: {', '.join(sorted(unknown))} (see --list)")
    results: dict[str, dict[str, Any]] = {}
    if RESULTS.exists():
        results = json.loads(RESULTS.read_text(encoding="utf-8"))
    results = {k: v for k, v in results.items() if k in {b.name for b in BENCHES}}
    began = time.monotonic()
    missed = []
    for bench in chosen:
        results[bench.name] = run(bench)
        if results[bench.name]["exit"] != 0:
            missed.append(bench.name)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
        DOC.write_text(render(results), encoding="utf-8")
    print(f"{len(chosen)} benches in {time.monotonic() - began:.0f} s; {DOC} written")
    if missed:
        print("targets missed by: " + " ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
