"""A job's task graph as an inline SVG: a layered layout (sources on the left, each task one
column right of its furthest upstream task), nodes coloured by state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from batchd.api.console.render import BADGES

WIDTH, HEIGHT = 168, 48
H_GAP, V_GAP, PAD = 56, 20, 12
MAX_LABEL = 20


@dataclass(frozen=True, slots=True)
class Box:
    name: str
    state: str
    layer: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Layout:
    boxes: dict[str, Box]
    edges: list[tuple[str, str]]
    width: int
    height: int


def layers(names: Sequence[str], edges: Sequence[tuple[str, str]]) -> dict[str, int]:
    """Longest-path layering: a task sits one layer right of its furthest upstream task."""
    upstream: dict[str, list[str]] = {name: [] for name in names}
    downstream: dict[str, list[str]] = {name: [] for name in names}
    for start, end in edges:
        if start in upstream and end in upstream:
            upstream[end].append(start)
            downstream[start].append(end)
    waiting = {name: len(upstream[name]) for name in names}
    layer = dict.fromkeys(names, 0)
    ready = [name for name in names if waiting[name] == 0]
    placed = 0
    while ready:
        name = ready.pop(0)
        placed += 1
        for after in downstream[name]:
            layer[after] = max(layer[after], layer[name] + 1)
            waiting[after] -= 1
            if waiting[after] == 0:
                ready.append(after)
    if placed < len(names):  # a cycle (the core refuses them): put what is left in a last column
        last = max(layer.values(), default=0) + 1
        for name in names:
            if waiting[name] > 0:
                layer[name] = last
    return layer


def layout(tasks: Sequence[tuple[str, str]], edges: Sequence[tuple[str, str]]) -> Layout:
    """Positions of (task name, state) boxes; within a column, tasks follow the average row of
    their upstream tasks, which keeps most edges short and uncrossed."""
    names = [name for name, _ in tasks]
    states = dict(tasks)
    layer = layers(names, edges)
    columns: dict[int, list[str]] = {}
    for name in names:
        columns.setdefault(layer[name], []).append(name)
    row: dict[str, float] = {}
    upstream: dict[str, list[str]] = {name: [] for name in names}
    for start, end in edges:
        if start in upstream and end in upstream:
            upstream[end].append(start)
    for n in sorted(columns):
        column = columns[n]
        if n > 0:
            order = {name: i for i, name in enumerate(names)}
            column.sort(
                key=lambda name: (
                    sum(row[u] for u in upstream[name] if u in row)
                    / max(1, sum(1 for u in upstream[name] if u in row)),
                    order[name],
                )
            )
        for i, name in enumerate(column):
            row[name] = i
    tallest = max((len(c) for c in columns.values()), default=0)
    boxes = {}
    for n, column in columns.items():
        offset = (tallest - len(column)) * (HEIGHT + V_GAP) // 2
        for i, name in enumerate(column):
            boxes[name] = Box(
                name=name,
                state=states[name],
                layer=n,
                x=PAD + n * (WIDTH + H_GAP),
                y=PAD + offset + i * (HEIGHT + V_GAP),
            )
    kept = [(a, b) for a, b in edges if a in boxes and b in boxes]
    count = len(columns)
    width = 2 * PAD + count * WIDTH + max(0, count - 1) * H_GAP
    height = 2 * PAD + tallest * HEIGHT + max(0, tallest - 1) * V_GAP
    return Layout(boxes, kept, width, height)


def _label(name: str) -> str:
    return name if len(name) <= MAX_LABEL else name[: MAX_LABEL - 1] + "…"


def svg(tasks: Sequence[tuple[str, str]], edges: Sequence[tuple[str, str]], title: str) -> Markup:
    """The picture: each box links to its task's section of the page (`#task-NAME`)."""
    drawn = layout(tasks, edges)
    parts = [
        Markup(
            '<svg class="dag" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
            'aria-labelledby="dag-title" xmlns="http://www.w3.org/2000/svg">'
            '<title id="dag-title">{t}</title>'
            '<defs><marker id="dag-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="8" '
            'markerHeight="8" orient="auto"><path d="M0,0 L8,4 L0,8 z" class="dag-arrowhead"/>'
            "</marker></defs>"
        ).format(w=drawn.width, h=drawn.height, t=title)
    ]
    for start, end in drawn.edges:
        a, b = drawn.boxes[start], drawn.boxes[end]
        x1, y1 = a.x + WIDTH, a.y + HEIGHT // 2
        x2, y2 = b.x, b.y + HEIGHT // 2
        middle = (x1 + x2) // 2
        parts.append(
            Markup(
                '<path class="dag-edge" d="M{x1},{y1} C{m},{y1} {m},{y2} {x2},{y2}" '
                'marker-end="url(#dag-arrow)"/>'
            ).format(x1=x1, y1=y1, x2=x2, y2=y2, m=middle)
        )
    for box in drawn.boxes.values():
        parts.append(
            Markup(
                '<a href="#task-{name}" class="dag-node st-{colour}" data-task="{name}">'
                "<title>{name}: {state}</title>"
                '<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6"/>'
                '<text x="{tx}" y="{ty1}" class="dag-name">{label}</text>'
                '<text x="{tx}" y="{ty2}" class="dag-state">{state}</text></a>'
            ).format(
                name=box.name,
                colour=BADGES.get(box.state, "none"),
                state=box.state,
                label=_label(box.name),
                x=box.x,
                y=box.y,
                w=WIDTH,
                h=HEIGHT,
                tx=box.x + 12,
                ty1=box.y + 20,
                ty2=box.y + 38,
            )
        )
    parts.append(Markup("</svg>"))
    return Markup("").join(escape(part) for part in parts)
