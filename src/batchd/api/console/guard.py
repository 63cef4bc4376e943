"""Every console page behind one guard: a signed-in account, CSRF-checked posts, and failures
shown as a page (or a note on the page they came from), never as a stack trace."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from batchd.api.auth import Keyring
from batchd.api.console import session
from batchd.api.console.bridge import ActionFailed, BatchActions, MessageActions, batch_refusal
from batchd.api.console.render import Views
from batchd.control.service import BatchService
from batchd.domain import errors
from batchd.domain.audit import Call
from batchd.domain.scope import Scope
from batchd.mq.service import MessageService
from batchd.store import audit

log = logging.getLogger(__name__)

BASE = "/console"
MAX_FORM_BYTES = 1024 * 1024
POST = ["POST"]


@dataclass(frozen=True, slots=True)
class Deps:
    """What the pages use: the core services and the two APIs' actions over them."""

    batch: BatchService
    messages: MessageService
    batch_actions: BatchActions
    message_actions: MessageActions
    keyring: Keyring
    region: str
    views: Views


@dataclass(frozen=True, slots=True)
class Visit:
    """One request of a signed-in user: the account and region it is scoped to."""

    request: Request
    scope: Scope
    form: FormData
    deps: Deps

    def text(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value.strip() if isinstance(value, str) else default

    def query(self, name: str, default: str = "") -> str:
        return self.request.query_params.get(name, default).strip()

    def page(self, template: str, status: int = 200, **context: Any) -> Response:
        notes, prior = session.take_flash(self.request)
        context.update(
            scope=self.scope,
            csrf=session.csrf_token(self.request),
            notes=notes,
            prior=prior,
            base=BASE,
            path=self.request.url.path,
        )
        return self.deps.views.html(template, context, status)

    def fragment(self, template: str, **context: Any) -> Response:
        context.update(scope=self.scope, csrf=session.csrf_token(self.request), base=BASE)
        return self.deps.views.html(template, context)

    def done(self, to: str, text: str) -> Response:
        """After a successful post: a note, and the page to show (303, so a reload is a GET)."""
        session.flash(self.request, "ok", text)
        return RedirectResponse(to, status_code=303)

    def refused(self, to: str, failure: ActionFailed) -> Response:
        """After a refused post: the API's code and message, and the values to fill in again."""
        values = {k: v for k, v in self.form.multi_items() if isinstance(v, str)}
        session.flash(self.request, "error", f"{failure.code}: {failure.message}", values)
        return RedirectResponse(to, status_code=303)


Handler = Callable[[Visit], Awaitable[Response]]


def error_page(
    views: Views, request: Request, status: int, title: str, code: str, message: str
) -> Response:
    signed_in = "account" in request.session
    context = {
        "title": title,
        "code": code,
        "message": message,
        "status": status,
        "base": BASE,
        "signed_in": signed_in,
        "csrf": session.csrf_token(request),
    }
    return views.html("error.html", context, status)


async def _form(deps: Deps, request: Request) -> FormData | Response:
    """A POST's form once its size and CSRF token pass, else the page that says why not."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        message = f"A form may carry at most {MAX_FORM_BYTES // 1024} KB."
        return error_page(
            deps.views, request, 413, "Too large", "RequestSizeLimitExceeded", message
        )
    form = await request.form()
    if not session.csrf_ok(request, form.get("csrf")):
        message = (
            "This form was not sent from a page of this session (it may have expired after "
            "signing out). Go back, reload the page and send it again."
        )
        return error_page(deps.views, request, 403, "Form expired", "CsrfTokenMismatch", message)
    return form


async def _run(handler: Handler, visit: Visit, back: Callable[[Visit], str] | None) -> Response:
    """The handler's page; a refusal becomes ActionFailed, or a note on `back` after a post."""
    try:
        return await handler(visit)
    except errors.BatchdError as error:  # a read straight from a service
        failure = batch_refusal(error)
    except ActionFailed as refused:
        failure = refused
    if back is None or visit.request.method != "POST":
        raise failure
    return visit.refused(back(visit), failure)


def page(
    deps: Deps,
    handler: Handler,
    *,
    fragment: bool = False,
    back: Callable[[Visit], str] | None = None,
) -> Callable[[Request], Any]:
    """The endpoint for `handler`: signs-in first, checks a POST's CSRF token, and turns any
    failure into a readable page (a fragment's failure into a bare status the poller stops at).
    A refused post with `back` shows the API's error as a note on the page `back` names."""

    async def endpoint(request: Request) -> Response:
        signed_in = session.current(request, deps.keyring)
        if signed_in is None:
            if fragment:
                return Response("signed out", status_code=401, media_type="text/plain")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{BASE}/sign-in?next={quote(target)}", status_code=303)
        try:
            form = await _form(deps, request) if request.method == "POST" else FormData()
            if isinstance(form, Response):
                return form
            recorded = (
                Call(
                    secret_id=signed_in.secret_id,
                    account=signed_in.scope.account,
                    region=signed_in.scope.region,
                    protocol="console",
                    action=f"POST {request.url.path}",
                    resource=request.url.path,
                    request_id=str(uuid.uuid4()),
                )
                if request.method == "POST"
                else None
            )
            with audit.calling(recorded):
                return await _run(handler, Visit(request, signed_in.scope, form, deps), back)
        except ActionFailed as failure:
            status = 404 if failure.not_found else 400
            if fragment:
                return Response(failure.code, status_code=status, media_type="text/plain")
            title = "Not found" if failure.not_found else "Refused"
            return error_page(deps.views, request, status, title, failure.code, failure.message)
        except Exception:
            reference = str(uuid.uuid4())
            log.exception(
                "console page failed",
                extra={"event": "console_error", "request_id": reference, "path": request.url.path},
            )
            if fragment:
                return Response("error", status_code=500, media_type="text/plain")
            return error_page(
                deps.views,
                request,
                500,
                "Something went wrong",
                "InternalError",
                f"The server could not show this page. Its log has the details under reference "
                f"{reference}; try again, and report the reference if it persists.",
            )

    return endpoint
