"""Composition root and console-script entry: builds the server from Settings and runs it."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from batchd import settings as settings_module
from batchd.api import server
from batchd.api.auth import Keyring
from batchd.cli import main as cli
from batchd.mq.context import Context
from batchd.mq.service import MessageService
from batchd.settings import Settings
from batchd.store import database, migrate

log = logging.getLogger("batchd")


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def build_app(settings: Settings) -> Starlette:
    """The ASGI application with its lifespan: database, migrations, message service."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    writer, reader = database.create_engines(settings.effective_database_url)
    migrate.upgrade(writer)
    db = database.Database(writer, reader)
    service = MessageService(Context(db=db), push_timeout=settings.push_timeout)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        db.start(asyncio.get_running_loop())
        service.start()
        log.info("batchd ready", extra={"event": "ready"})
        try:
            yield
        finally:
            await service.stop()
            db.stop()
            log.info("batchd stopped", extra={"event": "stopped"})

    keyring = Keyring([settings.credential()])
    return server.build(service, keyring, settings.region, lifespan)


def serve(settings: Settings) -> None:
    configure_logging(settings.log_level)
    app = build_app(settings)
    cli.announce(settings)
    server.serve(app, settings.host, settings.port, settings.log_level)


def main() -> None:
    try:
        cli.build(serve)()
    except settings_module.SettingsError as error:
        print(f"batchd: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
