"""Composition root and console-script entry: builds the server from Settings and runs it.

The server's parts (SQLAlchemy, Starlette, Dask…) are imported inside the functions that build
it, so that client commands such as `batchd queue list` start in a fraction of the time.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from batchd import private_paths
from batchd import settings as settings_module
from batchd.cli import main as cli
from batchd.settings import Settings

if TYPE_CHECKING:
    from starlette.applications import Starlette

log = logging.getLogger("batchd")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    # Dask logs a closed comm of a worker leaving during a cluster's shutdown at INFO, with a
    # whole traceback: the expected end of an environment, not an error to read.
    logging.getLogger("distributed.batched").setLevel(max(logging.WARNING, logging.root.level))


def build_app(settings: Settings) -> Starlette:
    """The ASGI application with its lifespan: database, message service, controller, Dask."""
    import asyncio
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    from batchd.api import server
    from batchd.api.auth import Keyring
    from batchd.compute.backend import ComputeBackend
    from batchd.compute.existing import ExistingSchedulerBackend
    from batchd.compute.local import LocalDaskBackend
    from batchd.compute.managed import ClusterManagerBackend
    from batchd.compute.zoned import ZonedBackend
    from batchd.control.accounts import AccountService
    from batchd.control.controller import Controller
    from batchd.control.leadership import Leadership
    from batchd.control.notify import Notifier
    from batchd.control.service import BatchService
    from batchd.mq.context import Context
    from batchd.mq.service import MessageService
    from batchd.store import database, migrate, single_writer
    from batchd.store.lease import Lease
    from batchd.store.wakeups import Hub, Listener

    private_paths.create_directory(settings.data_dir)
    # Before anything is migrated or recovered: a second server on this directory changes nothing.
    held = single_writer.acquire(
        settings.data_dir,
        f"the batchd server of pid {os.getpid()} on {settings.replica_url}",
    )
    try:
        writer, reader = database.create_engines(settings.effective_database_url)
        migrate.upgrade(writer)
    except BaseException:
        held.release()
        raise
    _prepare_isolation(settings)
    replica = _replica_name(settings)
    db = database.Database(writer, reader, Hub(replica))
    ctx = Context(db=db)
    service = MessageService(ctx, push_timeout=settings.push_timeout)
    notifier = Notifier(ctx, base64_bodies=settings.event_body_encoding == "base64")
    controller = Controller(
        ctx,
        notifier,
        settings.data_dir.resolve() / "work",
        recreate_wait_scale=settings.node_recreate_wait_scale,
        zones=settings.zones,
    )
    batch = BatchService(ctx, controller, notifier)

    credential = settings.credential()
    keyring = Keyring([])
    accounts = AccountService(ctx, credential, keyring.replace)

    def compute() -> ComputeBackend:
        """The leader's compute: its local nodes and the zones' other sources."""
        local = LocalDaskBackend(
            controller,
            host=settings.host,
            node_start_timeout=settings.node_start_timeout,
            scratch_dir=str(settings.data_dir.resolve() / "dask"),
        )
        others: dict[str, ComputeBackend] = {
            key: (
                ExistingSchedulerBackend(controller, source.scheduler, settings.node_start_timeout)
                if source.scheduler
                else ClusterManagerBackend(controller, source, settings.node_start_timeout)
            )
            for key, source in settings.zones.others.items()
        }
        return ZonedBackend(
            settings.zones, controller.zone_of, local, others, settings.isolate_commands
        )

    async def lead() -> None:
        controller.start(compute())
        service.start_leading()

    async def follow() -> None:
        backend = controller.backend
        await controller.stop()
        if backend is not None:
            await backend.close()
        await service.stop_leading()

    lease = (
        Lease(settings.effective_database_url, replica, settings.replica_url) if db.shared else None
    )
    leadership = Leadership(db, lease, lead, follow, settings.replica_url)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        db.start(loop)
        listener = None
        if db.shared:
            listener = Listener(settings.effective_database_url, db.hub, loop, replica)
            listener.start()
            await asyncio.to_thread(listener.connected.wait, 10)
        await accounts.start()
        await leadership.start()
        _settle_heap()
        log.info("batchd ready", extra={"event": "ready", "role": leadership.role})
        try:
            yield
        finally:
            ctx.signals.close()
            await leadership.stop()
            if listener is not None:
                listener.stop()
            db.stop()
            held.release()
            log.info("batchd stopped", extra={"event": "stopped"})

    app = server.build(
        service,
        keyring,
        settings.region,
        lifespan,
        batch=batch,
        console_secret=credential.secret_key,
        accounts=accounts,
        rate_limit=settings.rate_limit,
        tls=settings.tls is not None,
        leadership=leadership,
    )
    app.state.stop_polling = ctx.signals.close
    return app


def _replica_name(settings: Settings) -> str:
    """Names this process among the replicas of a shared database (in the lease, in logs)."""
    import secrets
    import socket

    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(2)}"


def _prepare_isolation(settings: Settings) -> None:
    """Open the way from the data directory to the work dirs for commands that run under ids of
    their own, or say why commands run with the server's rights."""
    from batchd.compute import isolation

    if not settings.isolate_commands:
        log.warning(
            "commands run as the nodes' own user (--no-isolate-commands): a command can read "
            "the data directory, its database and other attempts' work dirs",
            extra={"event": "isolation_off"},
        )
        return
    if not isolation.can_switch():
        log.warning(
            "batchd does not run as root, so commands run as its own user: a command can read "
            "the data directory %s, its database and other attempts' work dirs. Run batchd as "
            "root to run each command under a user id of its own",
            settings.data_dir.resolve(),
            extra={"event": "isolation_unavailable"},
        )
        return
    work_root = settings.data_dir.resolve() / "work"
    private_paths.create_directory(work_root)
    isolation.open_path_to(work_root, 2)


def _settle_heap() -> None:
    """Take what start-up built out of the garbage collector's sight.

    Modules, engines, caches and the Dask machinery live as long as the process, yet every full
    collection walks them all: measured under load, with ~200,000 objects a full collection
    stopped every thread for 35 to 120 ms, a dozen times in 10 s, and no request was answered
    meanwhile. Collected first, so no garbage of start-up is kept for ever; objects made later are
    collected as usual.
    """
    import gc

    gc.collect()
    gc.freeze()


def serve(settings: Settings) -> None:
    from batchd.api import server
    from batchd.store.single_writer import StoreInUse

    configure_logging(settings.log_level)
    private_paths.restrict_new_files()
    try:
        private_paths.require_private(
            settings.data_dir, directory=True, flag="--allow-open-data-dir"
        )
    except private_paths.OpenToOthers as error:
        if not settings.allow_open_data_dir:
            print(f"batchd: {error}", file=sys.stderr)
            sys.exit(2)
        log.warning("%s: served anyway (--allow-open-data-dir)", error)
    try:
        app = build_app(settings)
    except StoreInUse as error:
        print(f"batchd: {error}", file=sys.stderr)
        sys.exit(1)
    cli.announce(settings)
    server.serve(
        app,
        settings.host,
        settings.port,
        settings.log_level,
        app.state.stop_polling,
        settings.tls,
    )


def main() -> None:
    try:
        cli.build(serve)()
    except settings_module.SettingsError as error:
        print(f"batchd: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
