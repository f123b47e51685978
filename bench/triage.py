"""How well the voice menu understands a caller's first words, on phrases
nobody tuned on.

Every phrase of a set (`tests/data/triage/`, written from `brief.md` without
reading the configuration) is played as a caller at the first menu of
`config/`, who says it and then answers what they are asked the way a caller
who knows their problem would: at a question naming two problems they pick
theirs (or "neither"), at a menu they press the key of their kind of problem
and, in a sub-menu, of their fault (or "other"); a self-help they go through
does not fix it. What the IVR does with the words is the webhook's own code.

Figures, overall, per language and per problem type:

- right queue: the queue the caller ends in is their problem type's queue
  (callers sent back to a menu choose it by key, paying prompts for it);
- understood first time: sent to the right place from their words (at once
  or after the one question), no menu;
- wrong specialist: ended in another specialist queue than theirs (the
  general desk is not a specialist);
- prompts: questions the caller answered before being sent to self-help or a
  queue, the first menu included (1 = understood at once);
- fault top-1 / top-3: the knowledge base's best faults for the words, on
  the phrases labelled with a fault;
- the time of one decision (search included).

The same run also plays the decision the IVR made before `ivr.triage` (the
first fault with a self-help node, else the menu's keywords, else the
problem type's option) as the baseline. `--set tuning` plays the tuning set;
the blind set is checked against its frozen SHA-256 first.

    python bench/triage.py [--set blind|tuning] [--misses]

Targets on the blind set: right queue >= 95 %, wrong specialist <= 2 %,
mean prompts <= 1.5. Exits 1 when one is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from bench.harness import Figure, record  # noqa: E402
from core.yamlfile import load_yaml  # noqa: E402
from ivr.config import IvrTree, MenuNode, QueueNode, SelfHelpNode  # noqa: E402
from ivr.kb import SYNONYMS_FILE  # noqa: E402
from ivr.search import KbSearch, load_synonyms  # noqa: E402
from ivr.tree import (  # noqa: E402
    InputKind,
    interpret,
    is_description,
    option_for_problem,
)
from ivr.triage import Verdict, triage  # noqa: E402
from web.config import HotlineConfig, load_config  # noqa: E402

SETS = ROOT / "tests" / "data" / "triage"
#: The blind set as it was frozen, before any tuning (`brief.md`).
BLIND_SHA256 = "fb897b601e110377588eca031eef255a6de104540e3c2f1a323b687846b7e7b8"
RIGHT_QUEUE_TARGET = 0.95
WRONG_SPECIALIST_TARGET = 0.02
PROMPTS_TARGET = 1.5
GENERAL_QUEUE = "general"


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    lang: str
    problem_type: str
    fault: str | None
    queue: str


@dataclass(frozen=True, slots=True)
class Walk:
    """One simulated caller: where they ended and what it cost them."""

    queue: str
    prompts: int
    first_time: bool


# A decision: the node the caller's words at the first menu send them to,
# whether it took the one question, and whether it fell back to the menu.
Decide = Callable[[HotlineConfig, MenuNode, Phrase], tuple[str | None, int]]


def load_set(name: str) -> list[Phrase]:
    path = SETS / f"{name}.yaml"
    if name == "blind":
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != BLIND_SHA256:
            raise SystemExit(f"{path} is not the frozen blind set (sha256 {digest})")
    data, _ = load_yaml(path)
    queues: dict[str, str] = data.get("queues") or {}
    if not queues:  # the tuning set names the same queues as the blind one
        blind, _ = load_yaml(SETS / "blind.yaml")
        queues = blind["queues"]
    return [
        Phrase(p["text"], p["lang"], p["type"], p.get("fault"), queues[p["type"]])
        for p in data["phrases"]
    ]


def decide_triage(
    config: HotlineConfig, menu: MenuNode, phrase: Phrase
) -> tuple[str | None, int]:
    """`ivr.triage` as `web.voice.menu` uses it: (node or None for the menu,
    questions asked beyond the first)."""
    if is_description(None, phrase.text):
        verdict = triage(
            config.search_in(phrase.lang), config.places, menu, phrase.text
        )
        if verdict.verdict is Verdict.ROUTE and verdict.first is not None:
            return verdict.first.node, 0
        if verdict.verdict is Verdict.ASK:
            assert verdict.first is not None
            assert verdict.second is not None
            named = (verdict.first, verdict.second)
            for place in named:  # "that one": their fault named...
                if phrase.fault and place.fault == phrase.fault:
                    return place.node, 1
            for place in named:  # ...or their kind of problem
                if place.problem_type == phrase.problem_type:
                    return place.node, 1
            return None, 1  # "neither": the menu
    return _keywords(config, menu, phrase), 0


#: The old decision's margin: the best fault had to score this much more than
#: the next to be taken alone.
BEFORE_MARGIN = 1.25


def described_fault(search: KbSearch, speech: str) -> str | None:
    """The old decision's fault: the best one if it stood out from the next."""
    hits = search.search(speech, limit=3)
    if not hits or search.classify(speech) is None:
        return None
    if len(hits) > 1 and hits[0].score < BEFORE_MARGIN * hits[1].score:
        return None
    return hits[0].fault_id


def selfhelp_for(tree: IvrTree, fault_id: str) -> str | None:
    """The self-help node that reads `fault_id`'s steps, if the tree has one."""
    for node in tree.nodes.values():
        if isinstance(node, SelfHelpNode) and node.fault == fault_id:
            return node.id
    return None


def decide_before(
    config: HotlineConfig, menu: MenuNode, phrase: Phrase
) -> tuple[str | None, int]:
    """The decision before `ivr.triage`: a clear fault with a self-help node,
    else the menu's keywords, else the problem type's option."""
    if is_description(None, phrase.text):
        fault = described_fault(config.search, phrase.text)
        node = selfhelp_for(config.ivr, fault) if fault else None
        if node is not None:
            return node, 0
    heard = interpret(menu, None, phrase.text, phrase.lang)
    if heard.kind is InputKind.CHOSEN and heard.option and heard.option.goto:
        return heard.option.goto, 0
    return option_for_problem(menu, config.search, phrase.text), 0


def _keywords(config: HotlineConfig, menu: MenuNode, phrase: Phrase) -> str | None:
    heard = interpret(menu, None, phrase.text, phrase.lang)
    if heard.kind is InputKind.CHOSEN and heard.option and heard.option.goto:
        return heard.option.goto
    return None


def walk(config: HotlineConfig, phrase: Phrase, decide: Decide) -> Walk:
    tree = config.ivr
    start = tree.nodes[tree.start]
    assert isinstance(start, MenuNode)
    node, asked = decide(config, start, phrase)
    prompts = 1 + asked
    first_time = node is not None
    if node is None:  # the menu again: the caller presses their key
        prompts += 1
        node = _key_for(config, start, phrase)
    queue, more = _to_queue(tree, node, phrase)
    queue_ok = queue == phrase.queue
    return Walk(queue, prompts + more, first_time and queue_ok)


def _key_for(config: HotlineConfig, start: MenuNode, phrase: Phrase) -> str:
    """Where the caller's key at the first menu leads: the option for their
    kind of problem, else the one whose queue is theirs (a tree that has no
    option for it), else the general desk."""
    for option in start.options:
        if phrase.problem_type in option.problem_types and option.goto:
            return option.goto
    for option in start.options:
        if (
            option.goto
            and _to_queue(config.ivr, option.goto, phrase)[0] == phrase.queue
        ):
            return option.goto
    for node in config.ivr.nodes.values():
        if isinstance(node, QueueNode) and node.queue == GENERAL_QUEUE:
            return node.id
    raise AssertionError(f"no key at {start.id} for {phrase.problem_type}")


def _to_queue(tree: IvrTree, node_id: str, phrase: Phrase) -> tuple[str, int]:
    """The queue a caller reaches from `node_id` (self-help not fixing it),
    and the sub-menu prompts it took."""
    prompts = 0
    for _ in range(len(tree.nodes) + 1):
        node = tree.nodes[node_id]
        if isinstance(node, QueueNode):
            return node.queue, prompts
        if isinstance(node, SelfHelpNode):
            node_id = node.unresolved
            continue
        assert isinstance(node, MenuNode)
        prompts += 1
        node_id = _choose(tree, node, phrase)
    raise AssertionError(f"no queue below {node_id}")


def _choose(tree: IvrTree, menu: MenuNode, phrase: Phrase) -> str:
    """At a sub-menu: the option of their fault's self-help, else "other"."""
    fallback = None
    for option in menu.options:
        target = tree.nodes.get(option.goto or "")
        if isinstance(target, SelfHelpNode) and target.fault == phrase.fault:
            return target.id
        if isinstance(target, QueueNode) and fallback is None:
            fallback = target.id
    if fallback is None:
        raise AssertionError(f"menu {menu.id} has no way to a queue")
    return fallback


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def report(
    config: HotlineConfig, phrases: list[Phrase], decide: Decide
) -> dict[str, Any]:
    """Print the figures of one decision over `phrases`; return the overall ones."""
    groups: dict[str, list[tuple[Phrase, Walk]]] = defaultdict(list)
    for phrase in phrases:
        result = walk(config, phrase, decide)
        groups["all"].append((phrase, result))
        groups[phrase.lang].append((phrase, result))
        groups[phrase.problem_type].append((phrase, result))
    print(
        f"  {'':16} {'n':>4} {'right q':>7} {'1st time':>8} {'wrong sp':>8} "
        f"{'prompts':>7}"
    )
    figures: dict[str, Any] = {}
    for name, rows in groups.items():
        n = len(rows)
        right = sum(1 for p, w in rows if w.queue == p.queue)
        first = sum(1 for _, w in rows if w.first_time)
        wrong = sum(1 for p, w in rows if w.queue not in (p.queue, GENERAL_QUEUE))
        prompts = statistics.fmean(w.prompts for _, w in rows)
        print(
            f"  {name:16} {n:4} {_rate(right, n):>7} {_rate(first, n):>8} "
            f"{_rate(wrong, n):>8} {prompts:7.2f}"
        )
        if name == "all":
            figures = {
                "right": right / n,
                "first": first / n,
                "wrong": wrong / n,
                "prompts": prompts,
            }
    return figures


def fault_ranks(config: HotlineConfig, phrases: list[Phrase], show: bool) -> None:
    labelled = [p for p in phrases if p.fault]
    top1 = top3 = 0
    for phrase in labelled:
        ids = [
            h.fault_id
            for h in config.search_in(phrase.lang).search(phrase.text, limit=3)
        ]
        top1 += ids[:1] == [phrase.fault]
        top3 += phrase.fault in ids
        if show and ids[:1] != [phrase.fault]:
            print(f"  miss {phrase.lang} {phrase.fault}: {phrase.text!r} -> {ids}")
    n = len(labelled)
    print(f"fault top-1 {_rate(top1, n)}  top-3 {_rate(top3, n)}  (n={n})")


def misses(config: HotlineConfig, phrases: list[Phrase]) -> None:
    for phrase in phrases:
        result = walk(config, phrase, decide_triage)
        if result.queue != phrase.queue or result.prompts > 1:
            print(
                f"  {phrase.lang} {phrase.problem_type}/{phrase.fault} -> "
                f"{result.queue} in {result.prompts}: {phrase.text!r}"
            )


def timing(config: HotlineConfig, phrases: list[Phrase]) -> None:
    """Time of one decision, beside the search as it was before (BM25 alone,
    no respelling, the French index) in the same run."""
    start = config.ivr.nodes[config.ivr.start]
    assert isinstance(start, MenuNode)
    synonyms_path = ROOT / "config" / "kb" / SYNONYMS_FILE
    plain = KbSearch.from_kb(config.kb, load_synonyms(synonyms_path), respell=False)

    def run(one: Callable[[Phrase], object]) -> tuple[float, float]:
        for phrase in phrases:  # warm the caches, as a running hotline has
            one(phrase)
        times = []
        for _ in range(5):
            for phrase in phrases:
                t0 = time.perf_counter()
                one(phrase)
                times.append(time.perf_counter() - t0)
        times.sort()
        return statistics.fmean(times) * 1e6, times[int(len(times) * 0.99)] * 1e6

    base = run(lambda p: plain.search(p.text, limit=3))
    mine = run(lambda p: triage(config.search_in(p.lang), config.places, start, p.text))
    print(
        f"decision time: mean {mine[0]:.0f} µs, p99 {mine[1]:.0f} µs; baseline "
        f"(the BM25 search as before, same run) mean {base[0]:.0f} µs, p99 "
        f"{base[1]:.0f} µs; ratio {mine[0] / base[0]:.2f}x"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="blind", choices=("blind", "tuning"))
    parser.add_argument("--misses", action="store_true", help="print every miss")
    parser.add_argument("--config", type=Path, default=ROOT / "config")
    args = parser.parse_args(argv)
    if args.misses and args.set == "blind":
        parser.error("--misses shows phrases: only on the tuning set")
    phrases = load_set(args.set)
    config = load_config(args.config)
    print(f"set: {args.set}, {len(phrases)} phrases; config: {args.config}")
    print("baseline: the IVR's decision before ivr.triage")
    before = report(config, phrases, decide_before)
    print("ivr.triage:")
    after = report(config, phrases, decide_triage)
    fault_ranks(config, phrases, args.misses)
    if args.misses:
        misses(config, phrases)
    timing(config, phrases)
    print(
        f"right queue {after['right']:.1%} (before {before['right']:.1%}, target "
        f">= {RIGHT_QUEUE_TARGET:.0%}); wrong specialist {after['wrong']:.1%} "
        f"(before {before['wrong']:.1%}, target <= {WRONG_SPECIALIST_TARGET:.0%}); "
        f"prompts {after['prompts']:.2f} (before {before['prompts']:.2f}, target "
        f"<= {PROMPTS_TARGET})"
    )
    met = (
        after["right"] >= RIGHT_QUEUE_TARGET
        and after["wrong"] <= WRONG_SPECIALIST_TARGET
        and after["prompts"] <= PROMPTS_TARGET
    )
    print("targets: " + ("MET" if met else "MISSED"))
    before_line = "the IVR's decision before ivr.triage, same set"
    record(
        "bench/triage.py",
        [
            Figure(
                f"callers sent to the right queue ({args.set} set, {len(phrases)})",
                f"{after['right']:.1%}",
                f">= {RIGHT_QUEUE_TARGET:.0%}",
                after["right"] >= RIGHT_QUEUE_TARGET,
                f"{before['right']:.1%} ({before_line})",
            ),
            Figure(
                "callers sent to a wrong specialist",
                f"{after['wrong']:.1%}",
                f"<= {WRONG_SPECIALIST_TARGET:.0%}",
                after["wrong"] <= WRONG_SPECIALIST_TARGET,
                f"{before['wrong']:.1%}",
            ),
            Figure(
                "prompts per caller",
                f"{after['prompts']:.2f}",
                f"<= {PROMPTS_TARGET}",
                after["prompts"] <= PROMPTS_TARGET,
                f"{before['prompts']:.2f}",
            ),
        ],
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
