"""The console as one ASGI application, mounted by the server at /console."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from batchd.api.auth import Keyring
from batchd.api.console import envs, jobs, queues, session, submit, topics
from batchd.api.console.bridge import BatchActions, MessageActions
from batchd.api.console.guard import BASE, Deps, error_page
from batchd.api.console.render import Views
from batchd.api.tc3.dispatch import Handler
from batchd.control.service import BatchService
from batchd.mq.service import MessageService

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def build(
    *,
    batch: BatchService,
    messages: MessageService,
    batch_handlers: Mapping[str, tuple[type[BaseModel], Handler]],
    keyring: Keyring,
    region: str,
    api_secret: str,
    https_only: bool = False,
) -> Starlette:
    """The console's routes behind a signed session cookie (scoped to /console, HttpOnly,
    SameSite=Lax, and Secure when served over HTTPS: `https_only`). `batch_handlers` are the
    Batch API's (`tc3.handlers.build`); `api_secret` is the server's API key, from which the
    cookie key is derived."""
    views = Views()
    deps = Deps(
        batch=batch,
        messages=messages,
        batch_actions=BatchActions(batch_handlers),
        message_actions=MessageActions(messages),
        keyring=keyring,
        region=region,
        views=views,
    )

    async def sign_in_form(request: Request) -> Response:
        if session.current(request, deps.keyring) is not None:
            return RedirectResponse(_next(request), status_code=303)
        return views.html("sign_in.html", _sign_in_context(request, deps.region, ""))

    async def sign_in(request: Request) -> Response:
        form = await request.form()
        if not session.csrf_ok(request, form.get("csrf")):
            context = _sign_in_context(request, deps.region, "The form expired: sign in again.")
            return views.html("sign_in.html", context, 403)
        problem = session.sign_in(
            request,
            deps.keyring,
            str(form.get("secret_id", "")),
            str(form.get("secret_key", "")),
            str(form.get("region", "")).strip() or deps.region,
        )
        if problem is not None:
            context = _sign_in_context(request, str(form.get("region", deps.region)), problem)
            context["secret_id"] = str(form.get("secret_id", ""))
            return views.html("sign_in.html", context, 401)
        return RedirectResponse(_next(request), status_code=303)

    async def sign_out(request: Request) -> Response:
        form = await request.form()
        if session.csrf_ok(request, form.get("csrf")):
            session.sign_out(request)
        return RedirectResponse(f"{BASE}/sign-in", status_code=303)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        if status == 404:
            return error_page(
                views, request, 404, "Not found", "NotFound", "There is no console page here."
            )
        if status == 405:
            message = "This address does not take that kind of request."
            return error_page(views, request, 405, "Not allowed", "MethodNotAllowed", message)
        return error_page(views, request, status, "Refused", str(status), "The request failed.")

    async def internal_error(request: Request, exc: Exception) -> Response:
        # Pages catch their own failures (guard.page); this is for the sign-in routes.
        log.error("console request failed", exc_info=exc, extra={"event": "console_error"})
        message = "The server could not answer this request; the details are in its log."
        return error_page(views, request, 500, "Something went wrong", "InternalError", message)

    routes: list[BaseRoute] = [
        Route("/sign-in", sign_in_form),
        Route("/sign-in", sign_in, methods=["POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        *submit.routes(deps),
        *jobs.routes(deps),
        *envs.routes(deps),
        *topics.routes(deps),
        *queues.routes(deps),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=session.signing_key(api_secret),
            session_cookie=session.COOKIE,
            max_age=session.MAX_AGE_S,
            path=BASE,
            same_site="lax",
            https_only=https_only,
        )
    ]
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )


def _next(request: Request) -> str:
    """Where to go after signing in: a console page named by `next`, else the jobs."""
    target = request.query_params.get("next", "")
    if target.startswith(f"{BASE}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{BASE}/jobs"


def _sign_in_context(request: Request, region: str, problem: str) -> dict[str, object]:
    return {
        "csrf": session.csrf_token(request),
        "region": region,
        "problem": problem,
        "secret_id": "",
        "base": BASE,
        "next": request.query_params.get("next", ""),
    }
