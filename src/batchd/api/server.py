"""The Starlette application: routes for the CMQ API and operations."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import Route

from batchd.api.auth import Keyring, NonceCache
from batchd.api.cmq.endpoint import PATH, CmqEndpoint
from batchd.api.metrics import RequestMetrics
from batchd.api.ops import Ops
from batchd.mq.service import MessageService

ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


def build(
    service: MessageService,
    keyring: Keyring,
    region: str,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    metrics = RequestMetrics()
    cmq = CmqEndpoint(service, keyring, NonceCache(service.ctx.clock), metrics, region)
    ops = Ops(service, metrics)

    @asynccontextmanager
    async def no_lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield

    return Starlette(
        routes=[
            Route(PATH, cmq.handle, methods=ALL_METHODS),
            Route("/healthz", ops.healthz, methods=["GET"]),
            Route("/metrics", ops.metrics, methods=["GET"]),
        ],
        lifespan=lifespan or no_lifespan,
    )


def serve(app: Starlette, host: str, port: int, log_level: str) -> None:
    """Run until SIGTERM or SIGINT; uvicorn drains open requests and runs the lifespan exit."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        log_level=log_level.lower(),
        access_log=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=35,  # a long poll may take 30 s
    )
    # uvicorn drains and shuts down on SIGTERM, then re-raises the signal with the handler that
    # was installed before it: make that a normal exit, so a clean stop reports status 0.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.Server(config).run()


def _exit_cleanly(signum: int, _frame: object) -> None:
    raise SystemExit(0)
