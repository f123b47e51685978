"""The IVR tree read for whoever edits it: its arrows, what a caller can reach,
a text outline and Mermaid.

Pure functions of an `IvrTree` and its `KnowledgeBase`: no I/O, so the CLI
(`hotline ivr show`, `hotline ivr graph`) only prints or writes what they
return. A node reachable from several places is drawn once; nodes no caller
can reach are listed, because they are almost always a forgotten `goto`.
The SVG picture is laid out by the launcher's `cli/ivr_svg.py` from these
functions: no drawing engine lives in the domain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from ivr.config import IvrNode, IvrTree, MenuNode, SelfHelpNode
from ivr.kb import KnowledgeBase

#: Prompts longer than this are cut in the outline and in node labels.
PROMPT_WIDTH = 70


@dataclass(frozen=True, slots=True)
class Edge:
    """One arrow of the tree: a menu option, a self-loop, or "not fixed"."""

    source: str
    target: str
    label: str
    not_fixed: bool = False  # a self-help node's way out when the steps failed
    language_switch: bool = False  # same menu, spoken in another language


def kind_of(node: IvrNode) -> str:
    """The node's type as written in `ivr.yaml`."""
    if isinstance(node, MenuNode):
        return "menu"
    if isinstance(node, SelfHelpNode):
        return "selfhelp"
    return "queue"


def edges(tree: IvrTree, lang: str) -> list[Edge]:
    """Every arrow of the tree, in file order."""
    found: list[Edge] = []
    for node in tree.nodes.values():
        if isinstance(node, MenuNode):
            for option in node.options:
                label = f"{option.key} {option.label[lang]}"
                if option.switch_language is not None:
                    found.append(Edge(node.id, node.id, label, language_switch=True))
                elif option.goto is not None:
                    found.append(Edge(node.id, option.goto, label))
        elif isinstance(node, SelfHelpNode):
            found.append(Edge(node.id, node.unresolved, "not fixed", not_fixed=True))
    return found


def reachable(tree: IvrTree) -> list[str]:
    """Node ids a caller can reach from the start, depth first in menu order."""
    seen: list[str] = []

    def visit(node_id: str) -> None:
        if node_id in seen or node_id not in tree.nodes:
            return
        seen.append(node_id)
        for target in targets(tree.nodes[node_id]):
            visit(target)

    visit(tree.start)
    return seen


def unreachable(tree: IvrTree) -> list[str]:
    """Node ids no caller can reach, in file order."""
    reached = set(reachable(tree))
    return [node_id for node_id in tree.nodes if node_id not in reached]


def targets(node: IvrNode) -> Iterator[str]:
    """Where a node leads, in menu order: options' `goto`, then "not fixed"."""
    if isinstance(node, MenuNode):
        for option in node.options:
            if option.goto is not None:
                yield option.goto
    elif isinstance(node, SelfHelpNode):
        yield node.unresolved


def shorten(text: str, width: int = PROMPT_WIDTH) -> str:
    """One line, at most `width` characters, cut on a word with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    cut = flat[: width - 1].rsplit(" ", 1)[0] if " " in flat[:width] else ""
    return (cut or flat[: width - 1]).rstrip(" ,.;:") + "…"


# ---------------------------------------------------------------- outline


def outline(tree: IvrTree, kb: KnowledgeBase, lang: str) -> str:
    """The tree as an indented outline from the start node, in `lang`."""
    lines = [
        f"IVR tree ({lang}), {len(tree.nodes)} nodes, start: {tree.start}",
        f'welcome: "{shorten(tree.welcome[lang])}"',
        "keys at every menu: * repeats it, # goes back to the start",
        "",
    ]
    printed: set[str] = set()

    def node_lines(node_id: str, depth: int) -> None:
        pad = "  " * depth
        node = tree.nodes[node_id]
        printed.add(node_id)
        if isinstance(node, MenuNode):
            lines.append(f'{pad}[menu] {node_id}: "{shorten(node.prompt[lang])}"')
            for option in node.options:
                option_line(node, option.key, depth + 1)
        elif isinstance(node, SelfHelpNode):
            fault = kb.get(node.fault)
            title = fault.title_in(lang) if fault is not None else "(unknown fault)"
            lines.append(f'{pad}[self-help] {node_id}: {node.fault} "{title}"')
            if node.intro[lang]:
                lines.append(f'{pad}    intro: "{shorten(node.intro[lang])}"')
            steps = fault.self_help if fault is not None else ()
            for number, step in enumerate(steps, start=1):
                lines.append(f"{pad}    {number}. {step.text(lang)}")
            follow(node.unresolved, f"{pad}  not fixed -> {node.unresolved}", depth + 1)
        else:
            lines.append(
                f"{pad}[queue] {node_id}: queue {node.queue}, priority {node.priority}"
            )

    def option_line(menu: MenuNode, key: str, depth: int) -> None:
        pad = "  " * depth
        option = menu.option_for_key(key)
        assert option is not None
        words = ", ".join(option.keywords.get(lang, ()))
        details = f'"{option.label[lang]}"'
        if words:
            details += f"  keywords: {words}"
        if option.problem_types:
            details += f"  problem_types: {', '.join(option.problem_types)}"
        if option.switch_language is not None:
            lines.append(
                f"{pad}{key} -> language {option.switch_language} "
                f"(same menu)  {details}"
            )
            return
        assert option.goto is not None
        follow(option.goto, f"{pad}{key} -> {option.goto}  {details}", depth)

    def follow(target: str, line: str, depth: int) -> None:
        """The line leading to `target` (at `depth`), then `target` once."""
        if target in printed:
            lines.append(f"{line}  (→ see {target})")
            return
        lines.append(line)
        node_lines(target, depth + 1)

    node_lines(tree.start, 0)
    lost = unreachable(tree)
    if lost:
        lines.append("")
        lines.append(
            f"warning: {len(lost)} node(s) unreachable from {tree.start!r}: "
            + ", ".join(f"{n} ({kind_of(tree.nodes[n])})" for n in lost)
        )
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- Mermaid

_MERMAID_SHAPES = {
    "menu": ("{", "}"),  # rhombus: a decision
    "selfhelp": ("(", ")"),  # rounded
    "queue": ("([", "])"),  # stadium
}


def mermaid_id(node_id: str) -> str:
    """A Mermaid-safe id: letters, digits and '_' only, never a keyword (`end`)."""
    return "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)


def mermaid_text(text: str) -> str:
    """Text safe inside a double-quoted Mermaid label (entity codes for the rest)."""
    flat = " ".join(text.split())
    replaced = flat.replace("#", "#35;")
    for char, code in (('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        replaced = replaced.replace(char, code)
    return replaced


def node_caption(node: IvrNode, kb: KnowledgeBase, lang: str) -> list[str]:
    """The lines under a node's id in a drawing."""
    if isinstance(node, MenuNode):
        return [shorten(node.prompt[lang], 40)]
    if isinstance(node, SelfHelpNode):
        fault = kb.get(node.fault)
        if fault is None:
            return [node.fault]
        return [shorten(fault.title_in(lang), 40), f"{len(fault.self_help)} steps"]
    return [f"queue {node.queue}", f"priority {node.priority}"]


def mermaid(tree: IvrTree, kb: KnowledgeBase, lang: str) -> str:
    """The tree as a Mermaid flowchart: menus rhombus, self-help rounded,
    queues stadium; "not fixed" arrows dashed."""
    ids = _unique_ids(tree)
    lost = set(unreachable(tree))
    lines = ["flowchart TD", f"  %% IVR tree ({lang}), start: {tree.start}"]
    lines.append('  start(("call")) --> ' + ids[tree.start])
    for node_id, node in tree.nodes.items():
        opening, closing = _MERMAID_SHAPES[kind_of(node)]
        text = "<br/>".join(
            mermaid_text(part) for part in [node_id, *node_caption(node, kb, lang)]
        )
        lines.append(f'  {ids[node_id]}{opening}"{text}"{closing}')
    for edge in edges(tree, lang):
        arrow = "-.->" if edge.not_fixed else "-->"
        label = mermaid_text(edge.label)
        lines.append(f'  {ids[edge.source]} {arrow}|"{label}"| {ids[edge.target]}')
    lines.append("  classDef menu fill:#fff4d6,stroke:#b7791f")
    lines.append("  classDef selfhelp fill:#e6fffa,stroke:#2c7a7b")
    lines.append("  classDef queue fill:#ebf4ff,stroke:#2b6cb0")
    lines.append("  classDef unreachable stroke:#c53030,stroke-dasharray:4 3")
    for kind in ("menu", "selfhelp", "queue"):
        members = [ids[n] for n, node in tree.nodes.items() if kind_of(node) == kind]
        if members:
            lines.append(f"  class {','.join(members)} {kind}")
    if lost:
        lines.append(f"  class {','.join(ids[n] for n in lost)} unreachable")
    return "\n".join(lines) + "\n"


def _unique_ids(tree: IvrTree) -> dict[str, str]:
    """`mermaid_id` of every node, numbered when two ids sanitize alike."""
    ids: dict[str, str] = {}
    used: set[str] = set()
    for node_id in tree.nodes:
        candidate = base = mermaid_id(node_id)
        number = 2
        while candidate in used:
            candidate = f"{base}_{number}"
            number += 1
        used.add(candidate)
        ids[node_id] = candidate
    return ids
