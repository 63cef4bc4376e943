"""Pictures of time as inline SVG: a job's attempts on its nodes (each attempt a bar from launch
to end, its wait before it a thin line, coloured by outcome, retries marked, a tooltip each), and
an environment's nodes busy and idle over the last hours.

Times are milliseconds; `None` means not reached. An attempt that is still running ends `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

from batchd.api.console.render import BADGES

ROW, BAR, LABEL_W, WIDTH, AXIS = 30, 16, 150, 1000, 22
PLOT = WIDTH - LABEL_W - 16
UNPLACED = "(not placed)"


@dataclass(frozen=True, slots=True)
class Bar:
    """One attempt of one task instance."""

    node: str
    task: str
    index: int
    attempt: int
    state: str  # SUCCEED, FAILED, RUNNING…, or RETRIED for an attempt a later one replaced
    waiting_from: int | None  # created, or the previous attempt's end
    launched: int | None
    ended: int | None
    detail: str = ""


def bars_of_job(
    instances: Sequence[dict[str, object]], runs: Sequence[dict[str, object]]
) -> list[Bar]:
    """The bars of a job: `instances` as the console's job page has them (current attempts,
    times in ms; a bar starts when the command was launched), `runs` the TASK_INSTANCE_RUNNING
    bodies of its event history (earlier attempts: each ended by the launch of the next)."""
    bars: list[Bar] = []
    launches: dict[tuple[str, int], dict[int, dict[str, object]]] = {}
    for run in runs:
        key = (str(run["TaskName"]), _int(run["TaskInstanceIndex"]))
        launches.setdefault(key, {})[_int(run.get("Attempt", 1))] = run
    for i in instances:
        task, index, attempt = str(i["task"]), _int(i["index"]), _int(i["attempt"])
        earlier = launches.get((task, index), {})
        previous_end = _ms(i.get("created_ms"))
        for number in sorted(n for n in earlier if n < attempt):
            run, following = earlier[number], earlier.get(number + 1)
            ended = _iso_ms(following.get("LaunchTime")) if following else None
            bars.append(
                Bar(
                    node=str(run.get("ComputeNodeId") or UNPLACED),
                    task=task,
                    index=index,
                    attempt=number,
                    state="RETRIED",
                    waiting_from=previous_end,
                    launched=_iso_ms(run.get("RunningTime")) or _iso_ms(run.get("LaunchTime")),
                    ended=ended,
                    detail="retried: a later attempt replaced it",
                )
            )
            previous_end = ended
        bars.append(
            Bar(
                node=str(i.get("node_id") or UNPLACED),
                task=task,
                index=index,
                attempt=attempt,
                state=str(i["state"]),
                waiting_from=previous_end,
                launched=_ms(i.get("running_ms")),
                ended=_ms(i.get("ended_ms")),
                detail=str(i.get("reason") or ""),
            )
        )
    return bars


def svg(bars: Sequence[Bar], now_ms: int, title: str) -> Markup:
    """Rows by node, bars by time; empty when nothing has been launched yet."""
    placed = [bar for bar in bars if bar.launched is not None]
    if not placed:
        return Markup('<p class="hint">No instance has been launched yet.</p>')
    start = min(b.waiting_from or b.launched or now_ms for b in placed)
    end = max(b.ended or now_ms for b in placed)
    span = max(end - start, 1)
    nodes = sorted({bar.node for bar in placed})
    height = AXIS + ROW * len(nodes) + 8

    def x(ms: int) -> float:
        return LABEL_W + PLOT * (ms - start) / span

    parts = [
        _opening("timeline", title, height, _clock(start), f"{_clock(end)} (+{_duration(span)})")
    ]
    for row, node in enumerate(nodes):
        y = AXIS + row * ROW
        parts.append(
            Markup(
                '<text x="4" y="{ty}" class="tl-node">{n}</text>'
                '<line x1="{x1}" x2="{x2}" y1="{ly}" y2="{ly}" class="tl-row"/>'
            ).format(ty=y + BAR - 2, n=node, x1=LABEL_W, x2=LABEL_W + PLOT, ly=y + ROW - 4)
        )
    for bar in placed:
        y = AXIS + nodes.index(bar.node) * ROW
        launched = bar.launched or start
        ended = bar.ended or now_ms
        if bar.waiting_from is not None and bar.waiting_from < launched:
            parts.append(
                Markup(
                    '<line x1="{x1:.1f}" x2="{x2:.1f}" y1="{y}" y2="{y}" class="tl-wait">'
                    "<title>{t}</title></line>"
                ).format(
                    x1=x(bar.waiting_from),
                    x2=x(launched),
                    y=y + BAR + 4,  # under the bars: a wait may pass under another's run
                    t=f"{bar.task}[{bar.index}] attempt {bar.attempt} waited "
                    f"{_duration(launched - bar.waiting_from)}",
                )
            )
        colour = "retry" if bar.state == "RETRIED" else BADGES.get(bar.state, "none")
        live = " (running)" if bar.ended is None else ""
        tip = (
            f"{bar.task}[{bar.index}] attempt {bar.attempt}: {bar.state}{live}\n"
            f"on {bar.node}, {_clock(launched)} to {_clock(ended)} ({_duration(ended - launched)})"
            + (f"\n{bar.detail}" if bar.detail else "")
        )
        parts.append(
            Markup(
                '<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" rx="3" '
                'class="tl-bar st-{c}" data-task="{task}" data-index="{i}" data-attempt="{a}">'
                "<title>{t}</title></rect>"
            ).format(
                x=x(launched),
                y=y,
                w=max(x(ended) - x(launched), 2.0),
                h=BAR,
                c=colour,
                task=bar.task,
                i=bar.index,
                a=bar.attempt,
                t=tip,
            )
        )
        if bar.attempt > 1:
            parts.append(
                Markup('<text x="{x:.1f}" y="{y}" class="tl-attempt">{a}</text>').format(
                    x=x(launched) + 3, y=y + BAR - 4, a=f"#{bar.attempt}"
                )
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(escape(part) for part in parts)


def busy_svg(
    nodes: Sequence[str],
    runs: Sequence[tuple[str, int, int | None]],
    since_ms: int,
    now_ms: int,
    title: str,
) -> Markup:
    """A row per node over [since, now]: what ran on it (bars) and how busy it was (a share)."""
    if not nodes:
        return Markup('<p class="hint">The environment has no nodes.</p>')
    span = max(now_ms - since_ms, 1)
    height = AXIS + ROW * len(nodes) + 8

    def x(ms: int) -> float:
        return LABEL_W + PLOT * (min(max(ms, since_ms), now_ms) - since_ms) / span

    parts = [_opening("busy", title, height, _clock(since_ms), f"{_clock(now_ms)} (now)")]
    for row, node in enumerate(nodes):
        y = AXIS + row * ROW
        mine = [(start, end or now_ms) for name, start, end in runs if name == node]
        busy_ms = _covered(mine, since_ms, now_ms)
        share = f"{100 * busy_ms / span:.0f}% busy"
        parts.append(
            Markup(
                '<text x="4" y="{ty}" class="tl-node">{n}</text>'
                '<text x="4" y="{sy}" class="tl-axis">{s}</text>'
                '<line x1="{x1}" x2="{x2}" y1="{ly}" y2="{ly}" class="tl-row"/>'
            ).format(
                ty=y + 10, sy=y + 22, n=node, s=share, x1=LABEL_W, x2=LABEL_W + PLOT, ly=y + ROW - 4
            )
        )
        for start, end in mine:
            parts.append(
                Markup(
                    '<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h}" class="tl-busy" '
                    'data-node="{n}"><title>{t}</title></rect>'
                ).format(
                    x=x(start),
                    y=y,
                    w=max(x(end) - x(start), 1.0),
                    h=BAR,
                    n=node,
                    t=f"{node}: busy {_clock(start)} to {_clock(end)} ({_duration(end - start)})",
                )
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(escape(part) for part in parts)


def _opening(name: str, title: str, height: int, left: str, right: str) -> Markup:
    """The picture's start: its size, title and the times at both ends of its axis."""
    return Markup(
        '<svg class="timeline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-labelledby="{n}-title" xmlns="http://www.w3.org/2000/svg">'
        '<title id="{n}-title">{t}</title>'
        '<text x="{lx}" y="14" class="tl-axis">{a}</text>'
        '<text x="{rx}" y="14" class="tl-axis" text-anchor="end">{b}</text>'
    ).format(w=WIDTH, h=height, n=name, t=title, lx=LABEL_W, rx=LABEL_W + PLOT, a=left, b=right)


def _covered(intervals: Sequence[tuple[int, int]], since_ms: int, now_ms: int) -> int:
    """How much of [since, now] the intervals cover, overlaps counted once."""
    total, reached = 0, since_ms
    for start, end in sorted(intervals):
        start, end = max(start, reached), min(end, now_ms)
        if end > start:
            total += end - start
            reached = end
    return total


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | str) else 0


def _ms(value: object) -> int | None:
    return int(value) if isinstance(value, int) and value > 0 else None


def _iso_ms(value: object) -> int | None:
    if not isinstance(value, str) or not value:
        return None
    moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S")


def _duration(ms: int) -> str:
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
