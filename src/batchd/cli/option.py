"""The options and arguments several client commands take, with their help texts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from batchd.cli.output import Format

EndpointOpt = Annotated[
    str | None,
    typer.Option(
        "--endpoint",
        help="Server URL (BATCHD_ENDPOINT). Default: http://127.0.0.1:<BATCHD_PORT or 8910>",
    ),
]
DataDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory of the server, where `batchd serve` wrote credentials.json "
        "(BATCHD_DATA_DIR). Default: ./.batchd. Not needed with BATCHD_SECRET_ID and "
        "BATCHD_SECRET_KEY",
    ),
]
OutputOpt = Annotated[
    Format,
    typer.Option("--output", "-o", help="table (for people) or json (for scripts)"),
]
RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Region of the jobs and environments (BATCHD_REGION). Default: the server's "
        "batchd.toml in the data directory, else ap-guangzhou",
    ),
]
QueueArg = Annotated[str, typer.Argument(help="Queue name", show_default=False)]
TopicArg = Annotated[str, typer.Argument(help="Topic name", show_default=False)]
