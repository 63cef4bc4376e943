"""How the Batch commands call the server: a client for the region whose failures end the
command, and the reads several commands share."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer

from batchd import settings as settings_module
from batchd.cli.batch_client import BatchApiError, BatchClient
from batchd.cli.output import fail, usage
from batchd.domain.scope import canonical_region

_ENV_ID = re.compile(r"env-[a-z0-9]{8}")


def _region(flag: str | None, data_dir: Path | None) -> str:
    """--region > BATCHD_REGION > `region` of <data dir>/batchd.toml > the server default,
    by its long name (a zone is named after it)."""
    return canonical_region(_region_as_given(flag, data_dir))


def _region_as_given(flag: str | None, data_dir: Path | None) -> str:
    if flag:
        return flag
    if os.environ.get("BATCHD_REGION"):
        return os.environ["BATCHD_REGION"]
    directory = data_dir or Path(
        os.environ.get("BATCHD_DATA_DIR", str(settings_module.DEFAULT_DATA_DIR))
    )
    config_path = directory / settings_module.CONFIG_FILE
    if config_path.exists():
        try:
            region = tomllib.loads(config_path.read_text()).get("region")
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise settings_module.SettingsError(f"cannot read {config_path}: {error}") from None
        if region:
            return str(region)
    return settings_module.Settings().region


@contextmanager
def connect(
    endpoint: str | None, data_dir: Path | None, region: str | None = None
) -> Iterator[BatchClient]:
    """A client for --endpoint, --data-dir and --region: bad settings exit 2; an API error or an
    unreachable server, 1."""
    try:
        config = settings_module.load_client(endpoint, data_dir)
        client = BatchClient(
            config.endpoint,
            config.credential.secret_id,
            config.credential.secret_key,
            _region(region, data_dir),
            ca_cert=config.ca_cert,
        )
    except (settings_module.SettingsError, ValueError) as error:
        usage(str(error))
    try:
        yield client
    except BatchApiError as error:
        if not error.code:
            fail(error.message)
        elif error.code == "InternalError":
            fail(f"{error.message} ({error.code}, RequestId {error.request_id})")
        else:
            fail(f"{error.message} ({error.code})")
        raise typer.Exit(1) from None
    except httpx.HTTPError as error:
        fail(
            f"cannot reach {client.endpoint}: {str(error) or type(error).__name__}. "
            "Is `batchd serve` running? Use --endpoint (or BATCHD_ENDPOINT) to point elsewhere."
        )
        raise typer.Exit(1) from None
    finally:
        client.close()


def without_request_id(data: dict[str, Any]) -> dict[str, Any]:
    """An answer without its RequestId."""
    return {key: value for key, value in data.items() if key != "RequestId"}


def find_env_id(client: BatchClient, env: str) -> str:
    """The id of an environment given by id or by name."""
    if _ENV_ID.fullmatch(env):
        return env
    found = client.call(
        "DescribeComputeEnvs", {"Filters": [{"Name": "env-name", "Values": [env]}], "Limit": 100}
    )["ComputeEnvSet"]
    ids = [e["EnvId"] for e in found if e["EnvName"] == env]
    if not ids:
        raise BatchApiError(
            "ResourceNotFound.ComputeEnv", f"no compute environment is named {env!r}", ""
        )
    if len(ids) > 1:
        raise BatchApiError("", f"{len(ids)} environments are named {env!r}: use an id", "")
    return str(ids[0])


def describe_task(
    client: BatchClient, job_id: str, task_name: str, **params: Any
) -> dict[str, Any]:
    """DescribeTask with every matching instance (pages of 1000)."""
    first: dict[str, Any] | None = None
    instances: list[dict[str, Any]] = []
    while True:
        page = client.call(
            "DescribeTask",
            {
                "JobId": job_id,
                "TaskName": task_name,
                **params,
                "Offset": len(instances),
                "Limit": 1000,
            },
        )
        first = first or without_request_id(page)
        instances.extend(page["TaskInstanceSet"])
        if not page["TaskInstanceSet"] or len(instances) >= page["TaskInstanceTotalCount"]:
            return {**first, "TaskInstanceSet": instances}


def instance_attempts(client: BatchClient, job_id: str, task_name: str) -> dict[int, int]:
    """The attempt of every instance of a task, by index (the batchd extension action
    DescribeTaskInstanceAttempts, in pages of 1000)."""
    attempts: dict[int, int] = {}
    while True:
        page = client.call(
            "DescribeTaskInstanceAttempts",
            {"JobId": job_id, "TaskName": task_name, "Offset": len(attempts), "Limit": 1000},
        )
        for item in page["TaskInstanceAttemptSet"]:
            attempts[item["TaskInstanceIndex"]] = item["Attempt"]
        if not page["TaskInstanceAttemptSet"] or len(attempts) >= page["TotalCount"]:
            return attempts
