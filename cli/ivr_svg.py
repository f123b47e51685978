"""The IVR tree as a standalone SVG picture (`hotline ivr graph --format svg`).

A small layout engine for the tools side, not the domain: `ivr.graph` says
what the tree is (arrows, reachable nodes, captions); this module places boxes
in rows, routes arrows through lanes and writes SVG, so a tree can be looked
at without installing Graphviz or a Mermaid renderer. Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from ivr.config import IvrTree, QueueNode
from ivr.graph import (
    Edge,
    edges,
    kind_of,
    node_caption,
    reachable,
    shorten,
    targets,
    unreachable,
)
from ivr.kb import KnowledgeBase

BOX_WIDTH = 190
BOX_HEIGHT = 58
LANE_WIDTH = 22  # room for one long arrow passing through a row
COLUMN_GAP = 26
ROW_GAP = 90
MARGIN = 30
TITLE_HEIGHT = 30
_FILL = {"menu": "#fff4d6", "selfhelp": "#e6fffa", "queue": "#ebf4ff"}
_STROKE = {"menu": "#b7791f", "selfhelp": "#2c7a7b", "queue": "#2b6cb0"}
_CORNER = {"menu": 2.0, "selfhelp": 12.0, "queue": BOX_HEIGHT / 2}


def layers(tree: IvrTree) -> list[list[str]]:
    """Rows of a top-down drawing: longest path from the start, queues last.

    Arrows back up the tree (a menu option leading to an earlier menu) are
    left out of the ranking, so the start stays on top; unreachable nodes get
    a row of their own at the bottom.
    """
    order = reachable(tree)
    forward = _forward_edges(tree)
    rank = {tree.start: 0}
    for node_id in _topological(order, forward):
        for target in forward[node_id]:
            rank[target] = max(rank.get(target, 0), rank[node_id] + 1)
    queues = [n for n in order if isinstance(tree.nodes[n], QueueNode)]
    others = [rank[n] for n in order if n not in queues]
    bottom = max(others, default=-1) + 1
    for node_id in queues:
        rank[node_id] = max(rank[node_id], bottom)  # every queue leaf on one row
    rows: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    for node_id in order:
        rows[rank[node_id]].append(node_id)
    rows = [row for row in rows if row]
    lost = unreachable(tree)
    if lost:
        rows.append(lost)
    return rows


def _forward_edges(tree: IvrTree) -> dict[str, list[str]]:
    """Arrows from the start that do not go back to a node on the current path."""
    forward: dict[str, list[str]] = {n: [] for n in tree.nodes}
    on_path: set[str] = set()
    done: set[str] = set()

    def visit(node_id: str) -> None:
        on_path.add(node_id)
        for target in targets(tree.nodes[node_id]):
            if target in on_path:
                continue  # back edge
            if target not in forward[node_id]:
                forward[node_id].append(target)
            if target not in done:
                visit(target)
        on_path.discard(node_id)
        done.add(node_id)

    visit(tree.start)
    return forward


def _topological(order: list[str], forward: dict[str, list[str]]) -> list[str]:
    result: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for target in forward[node_id]:
            visit(target)
        result.append(node_id)

    for node_id in order:
        visit(node_id)
    return result[::-1]


@dataclass(frozen=True, slots=True)
class _Slot:
    """A box, or a lane a longer arrow passes through, at its place in a row."""

    x: float
    y: float
    width: float


@dataclass(frozen=True, slots=True)
class _Route:
    edge: Edge
    lanes: tuple[str, ...]  # the lane slots between source and target rows


def _layout(
    tree: IvrTree, lang: str
) -> tuple[dict[str, _Slot], list[_Route], float, float]:
    """Rows with lanes for arrows that skip rows, ordered to cross less."""
    rows = layers(tree)
    row_of = {n: r for r, row in enumerate(rows) for n in row}
    parents: dict[str, list[str]] = {n: [] for n in row_of}
    routes: list[_Route] = []
    for i, edge in enumerate(edges(tree, lang)):
        lanes: list[str] = []
        low, high = row_of[edge.source], row_of[edge.target]
        previous = edge.source
        for r in range(low + 1, high):
            lane = f"\0{i}:{r}"
            rows[r].append(lane)
            parents[lane] = [previous]
            lanes.append(lane)
            previous = lane
        if edge.source != edge.target and high > low:
            parents[edge.target].append(previous)
        routes.append(_Route(edge, tuple(lanes)))
    for upper, lower in zip(rows, rows[1:], strict=False):
        _sort_under_parents(lower, upper, parents)

    def width_of(n: str) -> float:
        return LANE_WIDTH if n.startswith("\0") else BOX_WIDTH

    row_widths = [
        sum(width_of(n) for n in row) + COLUMN_GAP * (len(row) - 1) for row in rows
    ]
    width = 2 * MARGIN + max(row_widths) + 60  # room for a language loop
    height = 2 * MARGIN + TITLE_HEIGHT + len(rows) * (BOX_HEIGHT + ROW_GAP) - ROW_GAP
    slots: dict[str, _Slot] = {}
    for r, row in enumerate(rows):
        x = (width - row_widths[r]) / 2
        y = MARGIN + TITLE_HEIGHT + r * (BOX_HEIGHT + ROW_GAP)
        for n in row:
            slots[n] = _Slot(x, y, width_of(n))
            x += width_of(n) + COLUMN_GAP
    return slots, routes, width, height


def _sort_under_parents(
    row: list[str], upper: list[str], parents: dict[str, list[str]]
) -> None:
    """Sort a row by the mean position of its parents above (fewer crossings)."""
    where = {n: i for i, n in enumerate(upper)}
    first = {n: i for i, n in enumerate(row)}

    def key(n: str) -> tuple[float, int]:
        found = [where[p] for p in parents.get(n, []) if p in where]
        mean = sum(found) / len(found) if found else float(len(where))
        return mean, first[n]

    row.sort(key=key)


def svg(tree: IvrTree, kb: KnowledgeBase, lang: str) -> str:
    """The tree as a standalone SVG picture: boxes in rows, labelled arrows."""
    slots, routes, width, height = _layout(tree, lang)
    out = [
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" '
        'font-family="sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#4a5568"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN}" font-size="14" font-weight="bold">'
        f"{escape(f'IVR tree ({lang}), start: {tree.start}')}</text>",
    ]
    out.extend(_svg_routes(routes, slots))
    lost = set(unreachable(tree))
    for node_id, node in tree.nodes.items():
        slot = slots[node_id]
        kind = kind_of(node)
        dash = ' stroke-dasharray="5 3"' if node_id in lost else ""
        stroke = "#c53030" if node_id in lost else _STROKE[kind]
        out.append(
            f'<rect x="{slot.x:.1f}" y="{slot.y:.1f}" width="{BOX_WIDTH}" '
            f'height="{BOX_HEIGHT}" rx="{_CORNER[kind]}" fill="{_FILL[kind]}" '
            f'stroke="{stroke}" stroke-width="1.5"{dash}/>'
        )
        texts = [node_id, *node_caption(node, kb, lang)][:3]
        for i, text in enumerate(texts):
            weight = ' font-weight="bold"' if i == 0 else ""
            out.append(
                f'<text x="{slot.x + BOX_WIDTH / 2:.1f}" y="{slot.y + 17 + i * 15:.1f}"'
                f' text-anchor="middle"{weight}>{escape(shorten(text, 30))}</text>'
            )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_routes(routes: list[_Route], slots: dict[str, _Slot]) -> list[str]:
    """Arrows leave a box's bottom and reach a box's top, spread along the side;
    a language switch is a loop on the menu's right side."""
    leaving: dict[str, list[_Route]] = {}
    arriving: dict[str, list[_Route]] = {}
    loops: dict[str, list[str]] = {}
    for route in routes:
        edge = route.edge
        if edge.source == edge.target:
            loops.setdefault(edge.source, []).append(edge.label)
            continue
        leaving.setdefault(edge.source, []).append(route)
        arriving.setdefault(edge.target, []).append(route)

    def first_hop(route: _Route) -> float:
        return slots[route.lanes[0] if route.lanes else route.edge.target].x

    def last_hop(route: _Route) -> float:
        return slots[route.lanes[-1] if route.lanes else route.edge.source].x

    for group in leaving.values():
        group.sort(key=first_hop)
    for group in arriving.values():
        group.sort(key=last_hop)

    def port(group: list[_Route], route: _Route, slot: _Slot) -> float:
        return slot.x + slot.width * (group.index(route) + 1) / (len(group) + 1)

    lines: list[str] = []
    labels: list[str] = []
    for route in routes:
        edge = route.edge
        if edge.source == edge.target:
            continue
        source, target = slots[edge.source], slots[edge.target]
        start = (port(leaving[edge.source], route, source), source.y + BOX_HEIGHT)
        end = (port(arriving[edge.target], route, target), target.y)
        if target.y < source.y:  # back up the tree: from the top to the bottom
            start, end = (start[0], source.y), (end[0], target.y + BOX_HEIGHT)
        points = [start]
        for lane in route.lanes:
            slot = slots[lane]
            middle = slot.x + slot.width / 2
            points += [(middle, slot.y), (middle, slot.y + BOX_HEIGHT)]
        points.append(end)
        dash = ' stroke-dasharray="6 4"' if edge.not_fixed else ""
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        lines.append(
            f'<polyline points="{path}" stroke="#4a5568" stroke-width="1.2" '
            f'fill="none"{dash} marker-end="url(#arrow)"/>'
        )
        (x1, y1), (x2, y2) = points[0], points[1]
        # Neighbouring arrows put their labels at two heights, not on each other.
        t = 0.3 if leaving[edge.source].index(route) % 2 == 0 else 0.55
        labels.append(_svg_label(x1 + (x2 - x1) * t, y1 + (y2 - y1) * t, edge.label))
    for node_id, names in loops.items():
        slot = slots[node_id]
        x0, y0, y1 = slot.x + BOX_WIDTH, slot.y + 12, slot.y + BOX_HEIGHT - 12
        lines.append(
            f'<path d="M{x0:.1f},{y0:.1f} C{x0 + 45:.1f},{y0 - 20:.1f} '
            f'{x0 + 45:.1f},{y1 + 20:.1f} {x0:.1f},{y1:.1f}" stroke="#4a5568" '
            'stroke-width="1.2" fill="none" marker-end="url(#arrow)"/>'
        )
        for i, name in enumerate(names):
            y = slot.y + BOX_HEIGHT / 2 + 4 + (i - (len(names) - 1) / 2) * 13
            labels.append(_svg_label(x0 + 40, y, name, anchor="start"))
    return lines + labels


def _svg_label(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor={quoteattr(anchor)} '
        'font-size="11" fill="#2d3748" stroke="white" stroke-width="3" '
        f'paint-order="stroke">{escape(shorten(text, 24))}</text>'
    )
