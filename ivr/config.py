"""The IVR tree as configured in `ivr.yaml`.

Nodes are named; a `menu` asks a question and maps keys or spoken words to
options, a `queue` node hands the caller to a skill queue with a priority.
Every prompt exists in every language of the hotline: a tree missing a
translation is refused at load, not discovered by a caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.validate import (
    check_keys,
    get_identifier,
    get_int,
    get_str,
    get_translations,
    require_list,
    require_mapping,
)
from core.yamlfile import Located, load_yaml
from ivr.kb import PROBLEM_TYPES, KnowledgeBase

VALID_KEYS = frozenset("0123456789")


@dataclass(frozen=True, slots=True)
class MenuOption:
    """One choice of a menu: a key, words that mean it, and where it leads."""

    key: str
    label: dict[str, str]
    keywords: dict[str, tuple[str, ...]]
    goto: str | None = None
    switch_language: str | None = None
    #: The kinds of problem whose description, understood by the triage,
    #: chooses this option (`ivr.triage`).
    problem_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MenuNode:
    id: str
    prompt: dict[str, str]
    help: dict[str, str]
    options: tuple[MenuOption, ...]

    def option_for_key(self, key: str) -> MenuOption | None:
        return next((o for o in self.options if o.key == key), None)


@dataclass(frozen=True, slots=True)
class QueueNode:
    id: str
    queue: str
    priority: int
    announce: dict[str, str]


@dataclass(frozen=True, slots=True)
class SelfHelpNode:
    """Reads a known fault's self-help steps, one at a time, asking if it worked."""

    id: str
    fault: str  # knowledge base fault id
    unresolved: str  # node to go to when the steps did not fix it
    intro: dict[str, str]


IvrNode = MenuNode | QueueNode | SelfHelpNode


@dataclass(frozen=True, slots=True)
class IvrTree:
    """The whole voice menu: a start node and named nodes."""

    start: str
    languages: tuple[str, ...]
    welcome: dict[str, str]
    goodbye: dict[str, str]
    nodes: dict[str, IvrNode]

    def node(self, node_id: str) -> IvrNode | None:
        return self.nodes.get(node_id)

    @property
    def queue_ids(self) -> set[str]:
        return {n.queue for n in self.nodes.values() if isinstance(n, QueueNode)}


def load_ivr_tree(
    path: Path,
    languages: tuple[str, ...],
    queue_ids: set[str],
    kb: KnowledgeBase | None = None,
) -> IvrTree:
    """Read and validate `ivr.yaml` against the hotline's languages and queues."""
    data, located = load_yaml(path)
    root = require_mapping(data, located, "ivr.yaml")
    check_keys(root, located, "ivr.yaml", {"start", "welcome", "nodes"}, {"goodbye"})
    nodes_raw = require_mapping(root["nodes"], located, "nodes", root, "nodes")
    nodes: dict[str, IvrNode] = {}
    for node_id, raw in nodes_raw.items():
        node_id = str(node_id)
        item = require_mapping(raw, located, f"node {node_id!r}", nodes_raw, node_id)
        nodes[node_id] = _load_node(
            node_id,
            item,
            located,
            languages,
            queue_ids,
            {str(n) for n in nodes_raw},
            kb,
        )
    start = get_identifier(root, "start", located, "ivr.yaml")
    if start not in nodes:
        raise located.error(f"start node {start!r} is not defined", root, "start")
    goodbye = (
        get_translations(root, "goodbye", located, "ivr.yaml", languages)
        if "goodbye" in root
        else {lang: "" for lang in languages}
    )
    return IvrTree(
        start=start,
        languages=languages,
        welcome=get_translations(root, "welcome", located, "ivr.yaml", languages),
        goodbye=goodbye,
        nodes=nodes,
    )


def _load_node(
    node_id: str,
    item: dict[str, Any],
    located: Located,
    languages: tuple[str, ...],
    queue_ids: set[str],
    node_ids: set[str],
    kb: KnowledgeBase | None,
) -> IvrNode:
    what = f"node {node_id!r}"
    kind = item.get("type")
    if kind == "menu":
        check_keys(item, located, what, {"type", "prompt", "options"}, {"help"})
        options_raw = require_list(
            item["options"], located, f"{what}: options", item, "options"
        )
        options: list[MenuOption] = []
        for raw in options_raw:
            opt = require_mapping(raw, located, f"{what}: an option", options_raw)
            option = _load_option(what, opt, located, languages)
            if any(o.key == option.key for o in options):
                raise located.error(
                    f"{what}: two options use the same key {option.key!r}", opt, "key"
                )
            for other in options:
                shared = set(other.problem_types) & set(option.problem_types)
                if shared:
                    raise located.error(
                        f"{what}: options {other.key!r} and {option.key!r} both "
                        f"claim problem type {sorted(shared)[0]!r}",
                        opt,
                        "problem_types",
                    )
            if option.goto is not None and option.goto not in node_ids:
                raise located.error(
                    f"{what}: option {option.key!r} goes to unknown node "
                    f"{option.goto!r}",
                    opt,
                    "goto",
                )
            options.append(option)
        if not options:
            raise located.error(f"{what}: a menu needs options", item, "options")
        help_text = (
            get_translations(item, "help", located, what, languages)
            if "help" in item
            else get_translations(item, "prompt", located, what, languages)
        )
        return MenuNode(
            id=node_id,
            prompt=get_translations(item, "prompt", located, what, languages),
            help=help_text,
            options=tuple(options),
        )
    if kind == "queue":
        check_keys(item, located, what, {"type", "queue"}, {"priority", "announce"})
        queue = get_identifier(item, "queue", located, what)
        if queue not in queue_ids:
            raise located.error(
                f"{what}: unknown queue {queue!r} (queues.yaml defines "
                f"{', '.join(sorted(queue_ids))})",
                item,
                "queue",
            )
        announce = (
            get_translations(item, "announce", located, what, languages)
            if "announce" in item
            else {lang: "" for lang in languages}
        )
        return QueueNode(
            id=node_id,
            queue=queue,
            priority=get_int(item, "priority", located, what, 0, 0, 9),
            announce=announce,
        )
    if kind == "selfhelp":
        check_keys(item, located, what, {"type", "fault", "unresolved"}, {"intro"})
        fault_id = get_str(item, "fault", located, what)
        if kb is not None:
            fault = kb.get(fault_id)
            if fault is None:
                raise located.error(
                    f"{what}: unknown knowledge base fault {fault_id!r}", item, "fault"
                )
            if not fault.self_help:
                raise located.error(
                    f"{what}: fault {fault_id!r} has no self-help steps", item, "fault"
                )
        unresolved = get_identifier(item, "unresolved", located, what)
        if unresolved not in node_ids:
            raise located.error(
                f"{what}: 'unresolved' goes to unknown node {unresolved!r}",
                item,
                "unresolved",
            )
        intro = (
            get_translations(item, "intro", located, what, languages)
            if "intro" in item
            else {lang: "" for lang in languages}
        )
        return SelfHelpNode(
            id=node_id, fault=fault_id, unresolved=unresolved, intro=intro
        )
    raise located.error(
        f"{what}: type must be 'menu', 'queue' or 'selfhelp' (got {kind!r})",
        item,
        "type",
    )


def _load_option(
    what: str, opt: dict[str, Any], located: Located, languages: tuple[str, ...]
) -> MenuOption:
    check_keys(
        opt,
        located,
        f"{what}: option",
        {"key", "label"},
        {"keywords", "goto", "switch_language", "problem_types"},
    )
    key = str(opt["key"])
    if key not in VALID_KEYS:
        raise located.error(
            f"{what}: option key must be one digit 0-9 (got {key!r}); "
            "* and # are reserved for repeat and back",
            opt,
            "key",
        )
    goto = opt.get("goto")
    switch = opt.get("switch_language")
    if (goto is None) == (switch is None):
        raise located.error(
            f"{what}: option {key!r} needs exactly one of 'goto' or 'switch_language'",
            opt,
        )
    if switch is not None and switch not in languages:
        raise located.error(
            f"{what}: option {key!r} switches to unknown language {switch!r}",
            opt,
            "switch_language",
        )
    keywords_raw = require_mapping(
        opt.get("keywords", {}), located, f"{what}: keywords", opt, "keywords"
    )
    keywords: dict[str, tuple[str, ...]] = {}
    for lang, words in keywords_raw.items():
        if lang not in languages:
            raise located.error(
                f"{what}: keywords for unknown language {lang!r}",
                keywords_raw,
                str(lang),
            )
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise located.error(
                f"{what}: keywords for {lang} must be a list of words",
                keywords_raw,
                str(lang),
            )
        keywords[str(lang)] = tuple(words)
    problem_types = opt.get("problem_types", [])
    if not isinstance(problem_types, list) or any(
        t not in PROBLEM_TYPES for t in problem_types
    ):
        raise located.error(
            f"{what}: option {key!r}: problem_types must be a list of "
            f"{', '.join(PROBLEM_TYPES)} (got {problem_types!r})",
            opt,
            "problem_types",
        )
    return MenuOption(
        problem_types=tuple(str(t) for t in problem_types),
        key=key,
        label=get_translations(
            opt, "label", located, f"{what}: option {key!r}", languages
        ),
        keywords=keywords,
        goto=str(goto) if goto is not None else None,
        switch_language=str(switch) if switch is not None else None,
    )
