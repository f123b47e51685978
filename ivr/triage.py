"""One decision per caller utterance: send them on, ask one question, or menu.

A caller who describes their problem should not walk the menus: if the
knowledge base clearly knows the fault, they go straight to its self-help (or
to the queue of its kind of problem); if two places fit about as well, one
targeted question names both ("is it about your printer or your network?");
if nothing fits, the menu they are at is said again. Pure and total: any
words give one `Triage`, so the webhook never fails on odd speech.

Candidates are grouped by *place*, the node the caller would be sent to: two
faults that both end in the printer queue do not need a question.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from ivr.config import IvrTree, MenuNode, QueueNode, SelfHelpNode
from ivr.search import KbSearch, SearchHit
from ivr.tree import fold

#: Below this score the best candidate is no better than a guess: the menu
#: (one rare word matched in a keyword scores about 3).
MIN_SCORE = 1.5
#: The best place must score this many times the best one ending in another
#: queue to be taken alone; closer than that, the caller is asked which of
#: the two. A wrong specialist costs a transfer, a question a few seconds:
#: this is the smallest margin that sends nobody of the tuning set
#: (`tests/data/triage/tuning.yaml`) to a wrong specialist (1.6: 2 of 289).
MARGIN = 1.8
#: Hits looked at: enough to find the second place behind several faults of
#: the first.
DEPTH = 12


class Verdict(StrEnum):
    ROUTE = "route"  # confident: straight to `first`
    ASK = "ask"  # unsure between `first` and `second`: one question
    MENU = "menu"  # nothing fits: the menu again


@dataclass(frozen=True, slots=True)
class Place:
    """Where a candidate sends the caller, and why."""

    node: str  # a self-help node, or the node of the problem type's option
    problem_type: str
    fault: str  # the best fault behind it, noted for the hotliner
    score: float


@dataclass(frozen=True, slots=True)
class Triage:
    verdict: Verdict
    first: Place | None = None
    second: Place | None = None  # the best place ending in another queue

    @property
    def confidence(self) -> float:
        """The best place's share of the two best scores (0.5: a coin toss,
        1: nothing else fits); 0 when nothing fits."""
        if self.first is None:
            return 0.0
        other = self.second.score if self.second is not None else 0.0
        return self.first.score / (self.first.score + other)


class PlaceMap:
    """The places of one tree, each worked out once: the configuration keeps
    one per loaded tree, so a decision only looks them up."""

    __slots__ = ("tree", "_of", "_ends")

    def __init__(self, tree: IvrTree) -> None:
        self.tree = tree
        self._of: dict[tuple[str, str], str | None] = {}
        self._ends: dict[str, str] = {}

    def of(self, menu: MenuNode, fault_id: str, problem_type: str) -> str | None:
        """`place_of` from `menu`, remembered."""
        key = (menu.id, fault_id)
        if key not in self._of:
            self._of[key] = place_of(self.tree, menu, fault_id, problem_type)
        return self._of[key]

    def destination(self, node_id: str) -> str:
        """`destination`, remembered."""
        if node_id not in self._ends:
            self._ends[node_id] = destination(self.tree, node_id)
        return self._ends[node_id]


def triage(
    search: KbSearch,
    tree: PlaceMap,
    menu: MenuNode,
    speech: str,
    *,
    min_score: float = MIN_SCORE,
    margin: float = MARGIN,
) -> Triage:
    """What the caller's words at `menu` should lead to."""
    places = _places(search.search(speech, limit=DEPTH), tree, menu)
    if not places or places[0].score < min_score:
        return Triage(Verdict.MENU)
    first = places[0]
    ends = tree.destination(first.node)
    rival = next((p for p in places if tree.destination(p.node) != ends), None)
    if rival is not None and first.score < margin * rival.score:
        return Triage(Verdict.ASK, first, rival)  # which queue: one question
    near = next((p for p in places[1:] if tree.destination(p.node) == ends), None)
    if near is not None and first.score < margin * near.score:
        # The queue is clear, not the fault ("a problem with my printer"):
        # straight to the queue, no question.
        first = Place(ends, first.problem_type, first.fault, first.score)
    return Triage(Verdict.ROUTE, first, rival)


_FIRST = frozenset({"1", "un", "une", "premier", "premiere", "one", "first"})
_SECOND = frozenset({"2", "deux", "second", "seconde", "deuxieme", "two"})
_NEITHER = frozenset({"3", "trois", "ni", "aucun", "autre", "neither", "none", "other"})


def answer_between(
    search: KbSearch,
    tree: PlaceMap,
    menu: MenuNode,
    digits: str | None,
    speech: str | None,
    first: str,
    second: str,
) -> str | None:
    """The place (`first` or `second` node) the caller's answer to the one
    question picks: key 1 or 2, "the first", or words the knowledge base
    puts nearer one of the two; None for "something else" or not understood
    (the menu then asks)."""
    key = (digits or "").strip()[:1]
    if key:
        return {"1": first, "2": second}.get(key)
    words = set(fold(speech or "").split())
    if words & _NEITHER:
        return None
    if words & _FIRST and not words & _SECOND:
        return first
    if words & _SECOND and not words & _FIRST:
        return second
    scores = {
        p.node: p.score
        for p in _places(search.search(speech or "", limit=DEPTH), tree, menu)
    }
    one, two = scores.get(first, 0.0), scores.get(second, 0.0)
    if one == two:
        return None
    return first if one > two else second


def _places(hits: list[SearchHit], tree: PlaceMap, menu: MenuNode) -> list[Place]:
    """The hits' places, best first, each with its best hit's score."""
    places: dict[str, Place] = {}
    for hit in hits:
        node = tree.of(menu, hit.fault_id, hit.problem_type)
        if node is not None and node not in places:
            places[node] = Place(node, hit.problem_type, hit.fault_id, hit.score)
    return list(places.values())


def place_of(
    tree: IvrTree, menu: MenuNode, fault_id: str, problem_type: str
) -> str | None:
    """Where a caller with this fault goes: its self-help node if the tree
    reads it, else where the option for its problem type leads (from `menu`,
    else from the first menu), down to a queue when that option opens a
    sub-menu (the sub-menu would ask what the caller already said)."""
    for node in tree.nodes.values():
        if isinstance(node, SelfHelpNode) and node.fault == fault_id:
            return node.id
    start = tree.nodes[tree.start]
    for where in (menu, start):
        if not isinstance(where, MenuNode):
            continue
        for option in where.options:
            if problem_type in option.problem_types and option.goto:
                return _queue_below(tree, option.goto)
    return None


def destination(tree: IvrTree, node_id: str) -> str:
    """The queue node a caller at `node_id` ends in if self-help does not fix
    it and sub-menus are answered "other"."""
    seen: set[str] = set()
    while node_id not in seen:
        seen.add(node_id)
        node = tree.nodes.get(node_id)
        if isinstance(node, SelfHelpNode):
            node_id = node.unresolved
        elif isinstance(node, MenuNode):
            node_id = _queue_below(tree, node_id)
        else:
            return node_id
    return node_id


def _queue_below(tree: IvrTree, node_id: str) -> str:
    """`node_id` itself unless it is a menu: then the first queue its options
    reach through menus only (its "other problem" option)."""
    seen = {node_id}
    todo = deque([node_id])
    while todo:
        node = tree.nodes[todo.popleft()]
        if isinstance(node, QueueNode):
            return node.id
        if isinstance(node, MenuNode):
            for option in node.options:
                if option.goto and option.goto not in seen:
                    seen.add(option.goto)
                    todo.append(option.goto)
    return node_id
