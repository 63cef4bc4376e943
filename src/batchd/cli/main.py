"""The `batchd` command line: `serve`, and client commands for the message service."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from batchd import settings as settings_module
from batchd.cli import commands
from batchd.settings import DEFAULT_PORT, Settings

console = Console(stderr=True)


def announce(settings: Settings) -> None:
    """What a user needs right after `batchd serve` starts."""
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold]batchd[/bold] serving on {base}")
    if settings.credentials_path.exists():
        console.print(f"  credentials : {settings.credentials_path.resolve()}")
    else:
        console.print("  credentials : from BATCHD_SECRET_ID / BATCHD_SECRET_KEY")
    console.print(f"  database    : {settings.effective_database_url}")
    console.print(f"  CMQ API     : {base}/v2/index.php")
    console.print(f"  Batch API   : {base}/ (reserved)")
    console.print(f"  health      : {base}/healthz   metrics: {base}/metrics")
    console.print("  try:")
    console.print("    batchd queue create demo")
    console.print("    batchd queue send demo 'hello'")
    console.print("    batchd queue receive demo --wait 5")


def build(serve: Callable[[Settings], None]) -> typer.Typer:
    """The typer application; `serve` is supplied by the composition root."""
    app = typer.Typer(
        name="batchd",
        help="Self-hosted batch computing with a CMQ-compatible message service.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.command("serve")
    def serve_command(
        data_dir: Annotated[
            Path | None, typer.Option(help="Data directory (BATCHD_DATA_DIR). Default: ./.batchd")
        ] = None,
        host: Annotated[
            str | None, typer.Option(help="Address to listen on (BATCHD_HOST). Default: 127.0.0.1")
        ] = None,
        port: Annotated[
            int | None, typer.Option(help=f"Port (BATCHD_PORT). Default: {DEFAULT_PORT}")
        ] = None,
        database_url: Annotated[
            str | None,
            typer.Option(
                help="SQLAlchemy URL, e.g. postgresql+psycopg://127.0.0.1/batchd "
                "(BATCHD_DATABASE_URL). Default: SQLite in the data directory"
            ),
        ] = None,
        region: Annotated[
            str | None, typer.Option(help="Default region (BATCHD_REGION). Default: ap-guangzhou")
        ] = None,
        log_level: Annotated[
            str | None, typer.Option(help="Log level (BATCHD_LOG_LEVEL). Default: INFO")
        ] = None,
    ) -> None:
        """Start the batchd server."""
        try:
            settings = settings_module.load(
                {
                    "data_dir": data_dir,
                    "host": host,
                    "port": port,
                    "database_url": database_url,
                    "region": region,
                    "log_level": log_level,
                },
                create_credentials=True,
            )
        except settings_module.SettingsError as error:
            console.print(f"[red]batchd: {error}[/red]")
            raise typer.Exit(2) from None
        serve(settings)

    commands.register(app)
    return app
