"""The Starlette application: routes for the CMQ API, the Batch API, the console and operations."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import FrameType
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from batchd.api.auth import NONCE_MEMORY_SECONDS, Keyring, NonceCache, RateLimiter
from batchd.api.cmq.endpoint import PATH, CmqEndpoint
from batchd.api.console import app as console_app
from batchd.api.leader_forward import LeaderForward
from batchd.api.metrics import RequestMetrics
from batchd.api.ops import Ops
from batchd.api.tc3 import handlers
from batchd.api.tc3.actions import batch_api
from batchd.api.tc3.dispatch import METHODS as TC3_METHODS
from batchd.api.tc3.dispatch import Tc3Endpoint
from batchd.api.tdmq.api import tdmq_api
from batchd.control.accounts import AccountService
from batchd.control.audit_trail import AuditTrail
from batchd.control.leadership import Leadership
from batchd.control.service import BatchService
from batchd.control.templates import TemplateService
from batchd.mq.service import MessageService
from batchd.store import request_memory

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
# An idle client connection stays open this long (uvicorn's default is 5 s): the CMQ SDK reuses
# one connection and fails with BrokenPipeError when the server has closed it meanwhile.
KEEP_ALIVE_SECONDS = 75


def build(
    service: MessageService,
    keyring: Keyring,
    region: str,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    batch: BatchService | None = None,
    console_secret: str | None = None,
    accounts: AccountService | None = None,
    rate_limit: float = 0.0,
    tls: bool = False,
    leadership: Leadership | None = None,
) -> Starlette:
    """The routes of every surface; the console (at /console) needs the batch service and
    `console_secret`, the API secret its session key is derived from."""
    metrics = RequestMetrics()
    limiter = RateLimiter(rate_limit)  # one bucket per key, whichever protocol it signs
    # What replicas of a PostgreSQL database share: seen nonces, key usage (None on SQLite).
    shared = request_memory.for_database(service.ctx.db, NONCE_MEMORY_SECONDS, service.ctx.clock)
    nonces = NonceCache(service.ctx.clock, shared=shared)
    cmq = CmqEndpoint(service, keyring, nonces, metrics, region, limiter)
    ops = Ops(
        service,
        metrics,
        keyring,
        accounts.is_admin if accounts is not None else None,
        leadership,
    )
    routes: list[BaseRoute] = [
        Route(PATH, cmq, methods=ALL_METHODS),
        Route("/healthz", ops.healthz, methods=["GET"]),
        Route("/metrics", ops.metrics, methods=["GET"]),
    ]
    if batch is not None:
        account_services = (
            None if accounts is None else (accounts, AuditTrail(service.ctx, accounts))
        )
        actions = handlers.build(batch, TemplateService(service.ctx), account_services)
        apis = [batch_api(actions), tdmq_api(service)]
        tc3 = Tc3Endpoint(
            keyring,
            apis,
            metrics,
            region,
            service.ctx.clock,
            limiter,
            LeaderForward(leadership) if leadership is not None else None,
        )
        routes.append(Route("/", tc3.handle, methods=TC3_METHODS))
        if console_secret is not None:
            console = console_app.build(
                batch=batch,
                messages=service,
                batch_handlers=actions,
                keyring=keyring,
                region=region,
                api_secret=console_secret,
                https_only=tls,
            )
            routes.append(Mount("/console", app=console))

    @asynccontextmanager
    async def no_lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield

    @asynccontextmanager
    async def sharing(app: Starlette) -> AsyncIterator[None]:
        async with (lifespan or no_lifespan)(app):
            if shared is None:
                yield
                return
            exchanging = asyncio.ensure_future(limiter.share(shared))
            try:
                yield
            finally:
                exchanging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await exchanging
                await shared.close()

    return _Service(routes=routes, lifespan=sharing, fast_paths={PATH: cmq})


class _Service(Starlette):
    """Starlette, with the busiest path (CMQ's) answered before its routing and middleware."""

    def __init__(self, *, fast_paths: dict[str, ASGIApp], **options: Any) -> None:
        super().__init__(**options)
        self._fast_paths = fast_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (fast := self._fast_paths.get(scope["path"])):
            scope["app"] = self
            await fast(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def serve(
    app: Starlette,
    host: str,
    port: int,
    log_level: str,
    on_exit: Callable[[], None],
    tls: tuple[str, str] | None = None,
) -> None:
    """Run until SIGTERM or SIGINT; uvicorn drains open requests and runs the lifespan exit.
    With `tls` (certificate file, key file), every surface is served over HTTPS only.

    `on_exit` runs on the event loop as soon as the stop is requested, before the drain, so that
    long polls can answer at once instead of holding the stop for up to 30 s.
    """
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            with contextlib.suppress(RuntimeError):  # no loop yet: nothing is polling
                asyncio.get_running_loop().call_soon_threadsafe(on_exit)
            super().handle_exit(sig, frame)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level.lower(),
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        timeout_graceful_shutdown=35,  # a long poll may take 30 s
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
    )
    # uvicorn drains and shuts down on SIGTERM, then re-raises the signal with the handler that
    # was installed before it: make that a normal exit, so a clean stop reports status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    Server(config).run()


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)
