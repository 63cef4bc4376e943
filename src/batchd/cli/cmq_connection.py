"""How the message-service commands call the server: a CMQ client whose failures end the
command, and lists read page by page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer

from batchd import settings as settings_module
from batchd.cli.client import CmqClient, CmqError
from batchd.cli.output import fail


@contextmanager
def connect(endpoint: str | None, data_dir: Path | None) -> Iterator[CmqClient]:
    """A client for --endpoint and --data-dir: bad settings exit 2; a CMQ error or an
    unreachable server, 1."""
    try:
        config = settings_module.load_client(endpoint, data_dir)
        client = CmqClient(
            config.endpoint,
            config.credential.secret_id,
            config.credential.secret_key,
            ca_cert=config.ca_cert,
        )
    except (settings_module.SettingsError, ValueError) as error:
        fail(str(error))
        raise typer.Exit(2) from None
    try:
        yield client
    except CmqError as error:
        fail(error.message if error.code == -1 else f"{error.message} (code {error.code})")
        raise typer.Exit(1) from None
    except httpx.HTTPError as error:
        fail(
            f"cannot reach {client.endpoint}: {str(error) or type(error).__name__}. "
            "Is `batchd serve` running? Use --endpoint (or BATCHD_ENDPOINT) to point elsewhere."
        )
        raise typer.Exit(1) from None
    finally:
        client.close()


def paged(client: CmqClient, action: str, key: str, params: dict[str, Any]) -> list[Any]:
    """Every item of a list action, 50 per request."""
    items: list[Any] = []
    while True:
        data = client.call(action, {**params, "offset": len(items), "limit": 50})
        batch = data[key]
        items.extend(batch)
        if not batch or len(items) >= data["totalCount"]:
            return items
