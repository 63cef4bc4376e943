"""Request counters kept by the API, rendered with the rest in Prometheus text format."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


class RequestMetrics:
    def __init__(self) -> None:
        # code: CMQ's numeric code, or the Batch API's code string ("0" for success)
        self.requests: Counter[tuple[str, str, int | str]] = Counter()

    def count(self, protocol: str, action: str, code: int | str) -> None:
        self.requests[(protocol, action, code)] += 1


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
) -> str:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        label_text = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
        lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
    return "\n".join(lines) + "\n"
