"""Jinja2 templates of the console, and the filters they use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.responses import HTMLResponse

from batchd.api.console import bodies
from batchd.domain.events import iso
from batchd.domain.states import FINAL

TEMPLATES = Path(__file__).parent / "templates"
HEADERS = {
    # Everything the pages use is served from here: no inline script, no third-party origin.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

BADGES = {
    # state -> badge colour class; the DAG uses the same classes
    "SUBMITTED": "wait",
    "PENDING": "wait",
    "RUNNABLE": "wait",
    "STARTING": "run",
    "RUNNING": "run",
    "SUCCEED": "ok",
    "FAILED": "bad",
    "FAILED_INTERRUPTED": "warn",
    "CREATING": "wait",
    "CREATED": "run",
    "CREATION_FAILED": "bad",
    "ABNORMAL": "warn",
    "DELETING": "wait",
}


def badge_class(state: object) -> str:
    return f"badge st-{BADGES.get(str(state), 'none')}"


def badge(state: object) -> Markup:
    text = str(state or "—")
    return Markup('<span class="{}">{}</span>').format(badge_class(state), text)


def when(value: object) -> str:
    """An API time (`2024-05-01T10:00:00Z`) for reading (pages say once that times are UTC),
    `—` when not reached."""
    if not value:
        return "—"
    return str(value).replace("T", " ").removesuffix("Z")


def clock(value: object) -> Markup:
    """The time of day of an API time, the full date and time on hover (tables stay narrow)."""
    if not value:
        return Markup("—")
    text = str(value)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(text, when(text), text[11:19])


def ms_when(ms: int | None) -> str:
    return when(iso(ms))


def is_final(state: object) -> bool:
    return str(state) in FINAL


class Views:
    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            badge=badge,
            when=when,
            clock=clock,
            ms_when=ms_when,
            badge_class=badge_class,
            about=bodies.about,
        )
        self.env.tests["final"] = is_final

    def html(self, template: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        text = self.env.get_template(template).render(context)
        return HTMLResponse(text, status_code=status, headers=HEADERS)
