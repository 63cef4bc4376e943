"""The one Settings object: flag > BATCHD_* environment > data-dir file > default."""

from __future__ import annotations

import importlib.util
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from batchd import private_paths
from batchd.domain import account
from batchd.domain.account import Credential
from batchd.domain.scope import canonical_region
from batchd.domain.zones import ZonesError, ZoneSources
from batchd.domain.zones import parse as parse_zones

CREDENTIALS_FILE = "credentials.json"
CONFIG_FILE = "batchd.toml"
DEFAULT_PORT = 8910
DEFAULT_DATA_DIR = Path(".batchd")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(Exception):
    """A setting is wrong; the message names it and the fix."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    database_url: str = ""  # empty: SQLite file in the data directory
    region: str = "ap-guangzhou"
    app_id: str = ""
    secret_id: str = ""
    secret_key: str = field(default="", repr=False)
    log_level: str = "INFO"
    push_timeout: float = 15.0
    event_body_encoding: str = "base64"  # msgBody of event messages: base64 | json (events.md §4.1)
    node_start_timeout: float = 60.0  # s a node may take to start before CREATION_FAILED
    # Multiplies the cloud's waits before replacing a node whose creation failed (600-3600 s).
    node_recreate_wait_scale: float = 1.0
    zones: ZoneSources = field(default_factory=ZoneSources)  # where nodes come from
    rate_limit: float = 0.0  # requests per second each API key may send; 0: no limit
    allow_open_data_dir: bool = False  # serve a data directory others can read (with a warning)
    isolate_commands: bool = True  # each command under a user id of its own (as root)
    tls_cert: str = ""  # PEM certificate (chain) file: serve HTTPS with tls_key
    tls_key: str = field(default="", repr=False)  # its private key file
    advertise_url: str = ""  # how other replicas reach this one; "": scheme://host:port

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'batchd.db'}"

    @property
    def tls(self) -> tuple[str, str] | None:
        """(certificate file, key file) when serving HTTPS."""
        return (self.tls_cert, self.tls_key) if self.tls_cert else None

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert else "http"

    @property
    def replica_url(self) -> str:
        """Where the other replicas of a shared database reach this one."""
        if self.advertise_url:
            return self.advertise_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"{self.scheme}://{f'[{host}]' if ':' in host else host}:{self.port}"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / CREDENTIALS_FILE

    def credential(self) -> Credential:
        return Credential(app_id=self.app_id, secret_id=self.secret_id, secret_key=self.secret_key)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'secret_key' else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"Settings({shown})"


DEFAULT_APP_ID = "1250000000"
EVENT_BODY_ENCODINGS = ("base64", "json")


def _env_name(name: str) -> str:
    return "BATCHD_APPID" if name == "app_id" else f"BATCHD_{name.upper()}"


def _convert(name: str, raw: object) -> object:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    try:
        if kind == "int":
            return int(str(raw))
        if kind == "bool":
            return _boolean(name, raw)
        if kind == "float":
            return float(str(raw))
        if kind == "Path":
            return Path(str(raw))
        if name == "region":
            return canonical_region(str(raw))
        if kind == "ZoneSources":
            return _installed(parse_zones(raw if isinstance(raw, Mapping) else str(raw)))
    except ZonesError as error:
        raise SettingsError(f"{error} ({_env_name(name)})") from None
    except ValueError:
        raise SettingsError(
            f"setting {name} ({_env_name(name)}) must be a number, got {raw!r}"
        ) from None
    return str(raw)


def _boolean(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"setting {name} ({_env_name(name)}) must be true or false, got {raw!r}")


def _installed(zones: ZoneSources) -> ZoneSources:
    """Fail at start, not at the first environment, when a cluster manager is not installed."""
    for source in zones.others.values():
        module = source.cluster.rpartition(".")[0]
        if source.cluster and importlib.util.find_spec(module.split(".")[0]) is None:
            raise ZonesError(
                f"zones: the cluster manager {source.cluster} cannot be imported: install "
                f"{module.split('.')[0]} where batchd runs (e.g. pip install dask-jobqueue)"
            )
    return zones


def load(
    flags: Mapping[str, object | None],
    environ: Mapping[str, str] | None = None,
    *,
    create_credentials: bool = False,
) -> Settings:
    """Resolve every setting; with `create_credentials`, write a credentials file if none exists."""
    environ = os.environ if environ is None else environ
    names = [f.name for f in fields(Settings)]
    values: dict[str, object] = {}
    for name in names:
        if flags.get(name) is not None:
            values[name] = _convert(name, flags[name])
        elif _env_name(name) in environ:
            values[name] = _convert(name, environ[_env_name(name)])
    data_dir = Path(str(values.get("data_dir", DEFAULT_DATA_DIR)))
    config_path = data_dir / CONFIG_FILE
    if config_path.exists():
        try:
            from_file = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"{config_path} is not valid TOML: {error}") from None
        for name, raw in from_file.items():
            if name not in names:
                raise SettingsError(f"{config_path}: unknown setting {name!r}")
            values.setdefault(name, _convert(name, raw))
    settings = Settings(**values)  # type: ignore[arg-type]
    if not 0 < settings.port < 65536:
        raise SettingsError(f"port {settings.port} is out of range: use --port 1-65535")
    if settings.log_level.upper() not in LOG_LEVELS:
        raise SettingsError(
            f"log level {settings.log_level!r} (BATCHD_LOG_LEVEL) is unknown: "
            f"use one of {', '.join(LOG_LEVELS)}"
        )
    if settings.event_body_encoding not in EVENT_BODY_ENCODINGS:
        raise SettingsError(
            f"event body encoding {settings.event_body_encoding!r} (BATCHD_EVENT_BODY_ENCODING) "
            f"is unknown: use {' or '.join(EVENT_BODY_ENCODINGS)}"
        )
    if not settings.node_start_timeout > 0:
        raise SettingsError(
            f"node start timeout {settings.node_start_timeout} (BATCHD_NODE_START_TIMEOUT) must be "
            "a positive number of seconds, e.g. --node-start-timeout 60"
        )
    if not settings.node_recreate_wait_scale >= 0:
        raise SettingsError(
            f"node recreate wait scale {settings.node_recreate_wait_scale} "
            "(BATCHD_NODE_RECREATE_WAIT_SCALE) must be a number >= 0, e.g. "
            "--node-recreate-wait-scale 0.1 to wait 60 s instead of 600 s"
        )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise SettingsError(
            "give --tls-cert and --tls-key together (BATCHD_TLS_CERT, BATCHD_TLS_KEY): the "
            "certificate and its private key, both PEM files"
        )
    for name, path in (("--tls-cert", settings.tls_cert), ("--tls-key", settings.tls_key)):
        if path and not os.access(path, os.R_OK):
            raise SettingsError(f"{name} {path}: no readable file there")
    if not settings.rate_limit >= 0:
        raise SettingsError(
            f"rate limit {settings.rate_limit} (BATCHD_RATE_LIMIT) must be a number of requests "
            "per second >= 0 (0: no limit), e.g. --rate-limit 200"
        )
    if settings.database_url and "://" not in settings.database_url:
        raise SettingsError(
            f"database URL {settings.database_url!r} (BATCHD_DATABASE_URL) is not a URL: "
            "use e.g. postgresql+psycopg://user@host/db, or leave it unset for SQLite"
        )
    return _with_credentials(settings, create_credentials)


def _with_credentials(settings: Settings, create: bool) -> Settings:
    given = [settings.app_id, settings.secret_id, settings.secret_key]
    if settings.secret_id and settings.secret_key:
        return replace(settings, app_id=settings.app_id or DEFAULT_APP_ID)
    if any(given[1:]) and not all(given[1:]):
        raise SettingsError(
            "set both BATCHD_SECRET_ID and BATCHD_SECRET_KEY, "
            "or neither to use the credentials file"
        )
    stored = read_credentials(settings.credentials_path, settings.allow_open_data_dir)
    if stored is None:
        if not create:
            raise SettingsError(
                f"no credentials: {settings.credentials_path} does not exist; "
                "start `batchd serve` once, or set BATCHD_SECRET_ID and BATCHD_SECRET_KEY"
            )
        stored = account.new_credential(account.new_app_id())
        write_credentials(settings.credentials_path, stored)
    return replace(
        settings,
        app_id=settings.app_id or stored.app_id,
        secret_id=settings.secret_id or stored.secret_id,
        secret_key=settings.secret_key or stored.secret_key,
    )


def read_credentials(path: Path, allow_open: bool = False) -> Credential | None:
    """The credentials file's key; one that others can read is refused unless `allow_open`."""
    if not path.exists():
        return None
    try:
        private_paths.require_private(path, directory=False)
    except private_paths.OpenToOthers as error:
        if not allow_open:
            raise SettingsError(str(error)) from None
    try:
        data = json.loads(path.read_text())
        return Credential(
            app_id=str(data["AppId"]), secret_id=data["SecretId"], secret_key=data["SecretKey"]
        )
    except (ValueError, KeyError, TypeError):
        raise SettingsError(
            f"{path} is not a batchd credentials file: delete it to have a new one created"
        ) from None


def write_credentials(path: Path, credential: Credential) -> None:
    private_paths.create_directory(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(
            {
                "AppId": credential.app_id,
                "SecretId": credential.secret_id,
                "SecretKey": credential.secret_key,
            },
            handle,
            indent=2,
        )
        handle.write("\n")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientSettings:
    """Where the CLI finds the server and which key it signs with."""

    endpoint: str
    credential: Credential
    ca_cert: str | None = None  # trust this CA for https endpoints (else the system's store)


def load_client(
    endpoint: str | None, data_dir: Path | None, environ: Mapping[str, str] | None = None
) -> ClientSettings:
    """Endpoint: flag > BATCHD_ENDPOINT > local port; key: environment > credentials file."""
    environ = os.environ if environ is None else environ
    directory = data_dir or Path(environ.get("BATCHD_DATA_DIR", str(DEFAULT_DATA_DIR)))
    resolved = endpoint or environ.get("BATCHD_ENDPOINT")
    if not resolved:
        resolved = _local_endpoint(directory, environ)
    secret_id = environ.get("BATCHD_SECRET_ID", "")
    secret_key = environ.get("BATCHD_SECRET_KEY", "")
    if bool(secret_id) != bool(secret_key):
        raise SettingsError(
            "set both BATCHD_SECRET_ID and BATCHD_SECRET_KEY, "
            "or neither to use the credentials file"
        )
    if secret_id and secret_key:
        credential = Credential(
            app_id=environ.get("BATCHD_APPID", DEFAULT_APP_ID),
            secret_id=secret_id,
            secret_key=secret_key,
        )
    else:
        stored = read_credentials(directory / CREDENTIALS_FILE)
        if stored is None:
            raise SettingsError(
                f"no credentials found in {directory / CREDENTIALS_FILE}: start the server with "
                "`batchd serve` (or `make run`) first, pass --data-dir, or set BATCHD_SECRET_ID "
                "and BATCHD_SECRET_KEY"
            )
        credential = stored
    ca_cert = environ.get("BATCHD_CA_CERT") or None
    if ca_cert and not os.access(ca_cert, os.R_OK):
        raise SettingsError(f"BATCHD_CA_CERT {ca_cert}: no readable file there")
    return ClientSettings(endpoint=resolved, credential=credential, ca_cert=ca_cert)


def _local_endpoint(data_dir: Path, environ: Mapping[str, str]) -> str:
    """The server `batchd serve` would start here: BATCHD_HOST/PORT > batchd.toml > default."""
    from_file: dict[str, object] = {}
    config_path = data_dir / CONFIG_FILE
    if config_path.exists():
        try:
            from_file = tomllib.loads(config_path.read_text())
        except tomllib.TOMLDecodeError as error:
            raise SettingsError(f"{config_path} is not valid TOML: {error}") from None
    port = _convert("port", environ.get("BATCHD_PORT", from_file.get("port", DEFAULT_PORT)))
    assert isinstance(port, int)
    if not 0 < port < 65536:
        raise SettingsError(f"port {port} (BATCHD_PORT) is out of range: use 1-65535")
    host = str(environ.get("BATCHD_HOST", from_file.get("host", "127.0.0.1")))
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: reach it on loopback
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if environ.get("BATCHD_TLS_CERT") or from_file.get("tls_cert") else "http"
    return f"{scheme}://{host}:{port}"
