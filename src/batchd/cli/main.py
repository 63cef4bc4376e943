"""The `batchd` command line: `serve`, and client commands for the message service."""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from batchd import settings as settings_module
from batchd.cli import (
    account_command,
    audit_command,
    deadletter_command,
    env_command,
    event_command,
    job_command,
    queue_command,
    subscription_command,
    topic_command,
)
from batchd.settings import DEFAULT_DATA_DIR, DEFAULT_PORT, Settings

console = Console(stderr=True, soft_wrap=True)


def _without_password(url: str) -> str:
    """A database URL fit to print: `scheme://user:***@host/db`."""
    return re.sub(r"^([\w+.-]+://[^:/@]*):[^@]*@", r"\1:***@", url)


def _credentials_source(settings: Settings) -> str:
    try:
        stored = settings_module.read_credentials(settings.credentials_path)
    except settings_module.SettingsError:
        stored = None
    if stored is not None and stored.secret_id == settings.secret_id:
        return str(settings.credentials_path.resolve())
    return "from BATCHD_SECRET_ID / BATCHD_SECRET_KEY"


def announce(settings: Settings) -> None:
    """What a user needs right after `batchd serve` starts."""
    host = settings.host
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: clients here use loopback
        host = "127.0.0.1"
    base = f"{settings.scheme}://{f'[{host}]' if ':' in host else host}:{settings.port}"
    credentials = _credentials_source(settings)
    lines = [
        f"[bold]batchd[/bold] serving on {escape(base)}"
        + (f" (listening on {escape(settings.host)})" if host != settings.host else ""),
        f"  credentials : {escape(credentials)}",
        f"  database    : {escape(_without_password(settings.effective_database_url))}",
        f"  CMQ API     : {escape(base)}/v2/index.php",
        f"  Batch API   : {escape(base)}/",
        f"  console     : {escape(base)}/console  (sign in with the SecretId and SecretKey)",
        f"  health      : {escape(base)}/healthz   metrics: {escape(base)}/metrics",
        "  try:",
    ]
    # What the client commands need to find this server and its key, when not the defaults.
    exports = []
    if base != f"http://127.0.0.1:{DEFAULT_PORT}":
        exports.append(f"BATCHD_ENDPOINT={base}")
    from_file = not credentials.startswith("from ")
    if from_file and settings.data_dir.resolve() != DEFAULT_DATA_DIR.resolve():
        exports.append(f"BATCHD_DATA_DIR={shlex.quote(str(settings.data_dir.resolve()))}")
    if exports:
        lines.append(f"    export {escape(' '.join(exports))}")
    if not from_file:
        lines.append("    export BATCHD_SECRET_ID=... BATCHD_SECRET_KEY=...  # the same as here")
    lines += [
        "    batchd queue create demo",
        "    batchd queue send demo 'hello'",
        "    batchd queue receive demo --wait 5",
    ]
    for line in lines:
        console.print(line, highlight=False)


def build(serve: Callable[[Settings], None]) -> typer.Typer:
    """The typer application; `serve` is supplied by the composition root."""
    app = typer.Typer(
        name="batchd",
        help="Self-hosted batch computing with a CMQ-compatible message service.\n\n"
        "Start the server with `batchd serve`; the other commands talk to it "
        "(see --endpoint and --data-dir of each).",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )

    @app.callback()
    def trust(
        ca_cert: Annotated[
            str | None,
            typer.Option(
                "--ca-cert",
                help="CA certificate (PEM) that signed an https server's certificate "
                "(BATCHD_CA_CERT). Default: the system's trust store",
            ),
        ] = None,
    ) -> None:
        if ca_cert:
            os.environ["BATCHD_CA_CERT"] = ca_cert  # read with the other client settings

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
        event_body_encoding: Annotated[
            str | None,
            typer.Option(
                help="msgBody of event messages: base64 or json (BATCHD_EVENT_BODY_ENCODING). "
                "Default: base64"
            ),
        ] = None,
        node_start_timeout: Annotated[
            float | None,
            typer.Option(
                help="Seconds a compute node's worker may take to start before its creation "
                "counts as failed (BATCHD_NODE_START_TIMEOUT). Default: 60"
            ),
        ] = None,
        tls_cert: Annotated[
            str | None,
            typer.Option(
                help="PEM certificate (chain) to serve every API and the console over HTTPS, "
                "with --tls-key (BATCHD_TLS_CERT). Default: plain HTTP"
            ),
        ] = None,
        tls_key: Annotated[
            str | None,
            typer.Option(help="The certificate's PEM private key (BATCHD_TLS_KEY)"),
        ] = None,
        no_isolate_commands: Annotated[
            bool,
            typer.Option(
                "--no-isolate-commands",
                help="Run commands as the nodes' own user, not each under a user id of its own "
                "(BATCHD_ISOLATE_COMMANDS=false). Default: isolated where batchd runs as root",
            ),
        ] = False,
        allow_open_data_dir: Annotated[
            bool,
            typer.Option(
                "--allow-open-data-dir",
                help="Serve a data directory or credentials file other users can read, with a "
                "warning (BATCHD_ALLOW_OPEN_DATA_DIR). Default: refuse to start",
            ),
        ] = False,
        rate_limit: Annotated[
            float | None,
            typer.Option(
                help="Requests per second each API key may send, with bursts of twice as many; "
                "more answer RequestLimitExceeded (CMQ: 4420) (BATCHD_RATE_LIMIT). "
                "Default: 0, no limit"
            ),
        ] = None,
        node_recreate_wait_scale: Annotated[
            float | None,
            typer.Option(
                help="Scales the waits before a node whose creation failed is replaced (600 s "
                "for the first three replacements, up to 3600 s; 0 replaces at once) "
                "(BATCHD_NODE_RECREATE_WAIT_SCALE). Default: 1"
            ),
        ] = None,
        advertise_url: Annotated[
            str | None,
            typer.Option(
                help="With --database-url postgresql…, the URL at which the other replicas "
                "reach this one (they forward it the actions only the leader can answer) "
                "(BATCHD_ADVERTISE_URL). Default: the scheme, --host and --port it listens on"
            ),
        ] = None,
        zones: Annotated[
            str | None,
            typer.Option(
                help="Where each zone's compute nodes come from: ZONE=local (batchd starts them), "
                "ZONE=cluster:module.Class (workers of a Dask cluster manager; options in "
                "batchd.toml) or ZONE=tcp://HOST:PORT (the workers of an existing Dask "
                "scheduler, attached with AttachInstances), comma-separated; * names every other "
                "zone (BATCHD_ZONES). Default: local everywhere"
            ),
        ] = None,
    ) -> None:
        """Start the batchd server in the foreground; Ctrl-C or SIGTERM stops it.

        Without BATCHD_SECRET_ID/_KEY, it creates <data dir>/credentials.json (0600) for the CLI.
        """
        try:
            settings = settings_module.load(
                {
                    "data_dir": data_dir,
                    "host": host,
                    "port": port,
                    "database_url": database_url,
                    "region": region,
                    "log_level": log_level,
                    "event_body_encoding": event_body_encoding,
                    "node_start_timeout": node_start_timeout,
                    "node_recreate_wait_scale": node_recreate_wait_scale,
                    "rate_limit": rate_limit,
                    "tls_cert": tls_cert,
                    "tls_key": tls_key,
                    "allow_open_data_dir": allow_open_data_dir or None,  # unset: env, file
                    "isolate_commands": False if no_isolate_commands else None,
                    "zones": zones,
                    "advertise_url": advertise_url,
                },
                create_credentials=True,
            )
        except settings_module.SettingsError as error:
            console.print(f"[red]batchd: {escape(str(error))}[/red]")
            raise typer.Exit(2) from None
        except OSError as error:  # e.g. the data directory cannot be created
            console.print(
                f"[red]batchd: cannot write the credentials file: {escape(str(error))}[/red]"
            )
            raise typer.Exit(2) from None
        serve(settings)

    app.add_typer(queue_command.queue_app, name="queue")
    app.add_typer(topic_command.topic_app, name="topic")
    app.add_typer(subscription_command.subscription_app, name="subscription")
    app.add_typer(deadletter_command.deadletters_app, name="deadletters")
    job_command.register(app)
    env_command.register(app)
    event_command.register(app)
    account_command.register(app)
    audit_command.register(app)
    return app
