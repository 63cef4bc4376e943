"""Client commands of the Batch API: jobs (submit, watch, logs…) and compute environments."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from batchd import settings as settings_module
from batchd.cli.batch_client import BatchApiError, BatchClient
from batchd.cli.commands import DataDirOpt, EndpointOpt, OutputOpt
from batchd.cli.output import Format, emit, err, fail, out

RegionOpt = Annotated[
    str | None,
    typer.Option(
        "--region",
        help="Region of the jobs and environments (BATCHD_REGION). Default: the server's "
        "batchd.toml in the data directory, else ap-guangzhou",
    ),
]
JobArg = Annotated[str, typer.Argument(help="Job id (job-…)", show_default=False)]
EnvArg = Annotated[str, typer.Argument(help="Compute environment id (env-…) or name")]

# TaskMetrics / TaskInstanceMetrics keys and the states they count, in lifecycle order.
METRICS = (
    ("SubmittedCount", "SUBMITTED"),
    ("PendingCount", "PENDING"),
    ("RunnableCount", "RUNNABLE"),
    ("StartingCount", "STARTING"),
    ("RunningCount", "RUNNING"),
    ("SucceedCount", "SUCCEED"),
    ("FailedInterruptedCount", "FAILED_INTERRUPTED"),
    ("FailedCount", "FAILED"),
)
NODE_METRICS = (
    ("SubmittedCount", "SUBMITTED"),
    ("CreatingCount", "CREATING"),
    ("CreationFailedCount", "CREATION_FAILED"),
    ("CreatedCount", "CREATED"),
    ("RunningCount", "RUNNING"),
    ("AbnormalCount", "ABNORMAL"),
    ("DeletingCount", "DELETING"),
)
# Job states `submit --wait` stops at; FAILED_INTERRUPTED keeps nodes until terminated, but
# nothing more will run, so waiting longer would never end.
FINAL_JOB_STATES = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
FAILED_STATES = ["FAILED", "FAILED_INTERRUPTED"]
POLL_SECONDS = 0.5
LOG_TAIL_BYTES = 2048  # DescribeTaskLogs holds the last 2 KiB of each stream
_ENV_ID = re.compile(r"env-[a-z0-9]{8}")
_DATA_URI = re.compile(r"data:[^,]*;base64,", re.IGNORECASE)


def register(app: typer.Typer) -> None:
    for name, command in (
        ("submit", submit),
        ("jobs", jobs),
        ("job", job),
        ("logs", logs),
        ("terminate", terminate),
        ("retry", retry),
        ("delete", delete),
    ):
        app.command(name, rich_help_panel="Batch jobs")(command)
    app.add_typer(env_app, name="env", rich_help_panel="Compute environments")
    app.command("nodes", rich_help_panel="Compute environments")(nodes)


env_app = typer.Typer(help="Compute environments: create, inspect, scale.", no_args_is_help=True)


# --- plumbing --------------------------------------------------------------------------------


def _usage(message: str) -> NoReturn:
    fail(message)
    raise typer.Exit(2)


def _region(flag: str | None, data_dir: Path | None) -> str:
    """--region > BATCHD_REGION > `region` of <data dir>/batchd.toml > the server default."""
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
def _client(
    endpoint: str | None, data_dir: Path | None, region: str | None = None
) -> Iterator[BatchClient]:
    try:
        config = settings_module.load_client(endpoint, data_dir)
        client = BatchClient(
            config.endpoint,
            config.credential.secret_id,
            config.credential.secret_key,
            _region(region, data_dir),
        )
    except (settings_module.SettingsError, ValueError) as error:
        _usage(str(error))
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


def _answer(data: dict[str, Any]) -> dict[str, Any]:
    """An answer without its RequestId."""
    return {key: value for key, value in data.items() if key != "RequestId"}


def _counts(metrics: dict[str, int], names: tuple[tuple[str, str], ...] = METRICS) -> str:
    """`RUNNING 1 SUCCEED 2`: the states that have any."""
    return " ".join(f"{state} {metrics[key]}" for key, state in names if metrics.get(key))


def _attributes(data: dict[str, Any], output: Format, title: str = "") -> None:
    emit([{"attribute": k, "value": v} for k, v in data.items()], output, title=title)


def _env_id(client: BatchClient, env: str) -> str:
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


def _task(client: BatchClient, job_id: str, task_name: str, **params: Any) -> dict[str, Any]:
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
        first = first or _answer(page)
        instances.extend(page["TaskInstanceSet"])
        if not page["TaskInstanceSet"] or len(instances) >= page["TaskInstanceTotalCount"]:
            return {**first, "TaskInstanceSet": instances}


# --- jobs ------------------------------------------------------------------------------------


def _read_request(path: Path) -> dict[str, Any]:
    """The SubmitJob request a job file stands for: a `Job`, or a request with `Job` in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        _usage(f"cannot read {path}: {error}")
    try:
        data = json.loads(text)
    except ValueError as error:
        _usage(f"{path} is not valid JSON: {error}")
    if not isinstance(data, dict):
        _usage(f"{path} must hold a JSON object: a Job, or a SubmitJob request with a Job")
    request: dict[str, Any] = dict(data) if "Job" in data else {"Job": data}
    if not isinstance(request["Job"], dict):
        _usage(f"{path}: Job must be a JSON object")
    return request


def _progress_columns() -> tuple[Any, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def _wait(client: BatchClient, job_id: str) -> dict[str, Any]:
    """Poll DescribeJob until the job is final; a progress bar over its task instances on a
    terminal, else one line on stderr whenever the counts change."""
    with Progress(*_progress_columns(), console=err, disable=not err.is_terminal) as progress:
        bar = progress.add_task(job_id, total=None)
        last = ""
        while True:
            job = client.call("DescribeJob", {"JobId": job_id})
            metrics: dict[str, int] = job["TaskInstanceMetrics"]
            line = f"{job_id} {job['JobState']}: {_counts(metrics) or 'no task instance yet'}"
            progress.update(
                bar,
                description=escape(line),
                total=sum(metrics.values()) or None,
                completed=sum(metrics.get(k, 0) for k in ("SucceedCount", "FailedCount")),
            )
            if not err.is_terminal and line != last:
                err.print(line, markup=False, highlight=False)
            last = line
            if job["JobState"] in FINAL_JOB_STATES and not job["NextAction"]:
                return _answer(job)
            time.sleep(POLL_SECONDS)


def _failed_instances(client: BatchClient, job: dict[str, Any]) -> list[dict[str, Any]]:
    failed: list[dict[str, Any]] = []
    for task in job["TaskSet"]:
        if task["TaskState"] not in FAILED_STATES:
            continue
        described = _task(
            client,
            job["JobId"],
            task["TaskName"],
            Filters=[{"Name": "task-instance-state", "Values": FAILED_STATES}],
        )
        failed.extend(
            {
                "TaskName": task["TaskName"],
                "TaskInstanceIndex": i["TaskInstanceIndex"],
                "TaskInstanceState": i["TaskInstanceState"],
                "ExitCode": i["ExitCode"],
                "StateReason": i["StateReason"],
            }
            for i in described["TaskInstanceSet"]
        )
    return failed


def submit(
    file: Annotated[
        Path,
        typer.Argument(
            help="JSON file: the Job object of the API (Tasks, Dependences, Notifications…), "
            "or a whole SubmitJob request with Job and Placement. The legacy `notifications` "
            "spelling (topic_name, event_configs…) is accepted",
            show_default=False,
        ),
    ],
    zone: Annotated[
        str | None, typer.Option(help="Placement zone. Default: the file's, else <region>-1")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Follow the job until it ends; exit 0 if it SUCCEED, 1 if it FAILED",
        ),
    ] = False,
    client_token: Annotated[
        str | None, typer.Option(help="Idempotency token: a repeat returns the first JobId")
    ] = None,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Submit a job; print its JobId."""
    request = _read_request(file)
    with _client(endpoint, data_dir, region) as client:
        placement = request.get("Placement")
        placement = dict(placement) if isinstance(placement, dict) else {}
        if zone or "Zone" not in placement:
            placement["Zone"] = zone or f"{client.region}-1"
        request["Placement"] = placement
        if client_token is not None:
            request["ClientToken"] = client_token
        job_id = str(client.call("SubmitJob", request)["JobId"])
        if not wait:
            if output is Format.JSON:
                emit({"JobId": job_id}, output)
            else:
                out.out(job_id, highlight=False)
            return
        if output is Format.TABLE:
            out.out(job_id, highlight=False)
        try:
            done = _wait(client, job_id)
        except KeyboardInterrupt:
            err.print(
                f"stopped waiting: job {job_id} goes on (`batchd terminate {job_id}` stops it)",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(130) from None
        failed = [] if done["JobState"] == "SUCCEED" else _failed_instances(client, done)
        if output is Format.JSON:
            emit({**done, "FailedTaskInstances": failed}, output)
        elif done["JobState"] == "SUCCEED":
            err.print(f"job {job_id} SUCCEED", markup=False, highlight=False)
        else:
            fail(f"job {job_id} {done['JobState']}: {done['StateReason'] or 'no reason given'}")
            for i in failed:
                exit_code = "-" if i["ExitCode"] is None else i["ExitCode"]
                err.print(
                    f"  task {i['TaskName']} instance {i['TaskInstanceIndex']}: "
                    f"{i['TaskInstanceState']}, ExitCode {exit_code}, "
                    f"StateReason {i['StateReason'] or '-'}",
                    markup=False,
                    highlight=False,
                )
        if done["JobState"] != "SUCCEED":
            raise typer.Exit(1)


def jobs(
    state: Annotated[
        list[str] | None,
        typer.Option(help="Only jobs in this state, e.g. RUNNING, FAILED (repeatable)"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only jobs of this JobName")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many, newest first")] = 20,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List jobs, newest first."""
    filters: list[dict[str, Any]] = []
    if state:
        filters.append({"Name": "job-state", "Values": [s.upper() for s in state]})
    if name:
        filters.append({"Name": "job-name", "Values": [name]})
    with _client(endpoint, data_dir, region) as client:
        found: list[dict[str, Any]] = []
        while True:
            page = client.call(
                "DescribeJobs",
                {
                    **({"Filters": filters} if filters else {}),
                    "Offset": len(found),
                    "Limit": min(100, limit - len(found)),
                },
            )
            found.extend(page["JobSet"])
            total = int(page["TotalCount"])
            if not page["JobSet"] or len(found) >= min(limit, total):
                break
        if output is Format.JSON:
            emit(found, output)
            return
        rows = [
            {
                **j,
                "Zone": j["Placement"].get("Zone", ""),
                "Tasks": _counts(j["TaskMetrics"]),
            }
            for j in found
        ]
        emit(
            rows, output, ["JobId", "JobName", "JobState", "Tasks", "Zone", "CreateTime", "EndTime"]
        )
        if total > len(found):
            err.print(f"showing {len(found)} of {total} jobs (see --limit)")


# The instance table: TaskInstanceView fields, shortened where the header says it all.
INSTANCE_COLUMNS = {
    "Index": "TaskInstanceIndex",
    "State": "TaskInstanceState",
    "ExitCode": "ExitCode",
    "StateReason": "StateReason",
    "ComputeNodeInstanceId": "ComputeNodeInstanceId",
    "CreateTime": "CreateTime",
    "LaunchTime": "LaunchTime",
    "RunningTime": "RunningTime",
    "EndTime": "EndTime",
}


def job(
    job_id: JobArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show a job: its state, its tasks, and each task's instances."""
    with _client(endpoint, data_dir, region) as client:
        described = _answer(client.call("DescribeJob", {"JobId": job_id}))
        tasks = [_task(client, job_id, t["TaskName"]) for t in described["TaskSet"]]
        if output is Format.JSON:
            emit({**described, "Tasks": tasks}, output)
            return
        _attributes(
            {
                "JobId": described["JobId"],
                "JobName": described["JobName"],
                "JobState": described["JobState"],
                "StateReason": described["StateReason"],
                "NextAction": described["NextAction"],
                "Zone": described["Zone"],
                "Priority": described["Priority"],
                "CreateTime": described["CreateTime"],
                "EndTime": described["EndTime"],
                "Tasks": _counts(described["TaskMetrics"]),
                "TaskInstances": _counts(described["TaskInstanceMetrics"]),
                "Dependences": ", ".join(
                    f"{d['StartTask']} -> {d['EndTask']}" for d in described["DependenceSet"]
                ),
            },
            output,
            title=f"job {job_id}",
        )
        emit(
            [{**t, "TaskInstances": _counts(t["TaskInstanceMetrics"])} for t in tasks],
            output,
            ["TaskName", "TaskState", "TaskInstances", "CreateTime", "EndTime"],
            title="tasks",
        )
        for t in tasks:
            rows = [
                {shown: i.get(field) for shown, field in INSTANCE_COLUMNS.items()}
                for i in t["TaskInstanceSet"]
            ]
            emit(rows, output, list(INSTANCE_COLUMNS), title=f"task {t['TaskName']}")


def _decode_log(value: str | None) -> bytes:
    """A log field: a `data:…;base64,` URI (what batchd sends) or plain Base64."""
    if not value:
        return b""
    match = _DATA_URI.match(value)
    payload = value[match.end() :] if match else value
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()


def logs(
    job_id: JobArg,
    task_name: Annotated[str, typer.Argument(help="Task name", show_default=False)],
    index: Annotated[
        int | None, typer.Argument(min=0, help="Task instance index. Default: every instance")
    ] = None,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Print the stdout and stderr of a task's instances (the last 2 KiB of each stream; a
    running instance shows its output so far)."""
    with _client(endpoint, data_dir, region) as client:
        entries: list[dict[str, Any]] = []
        params: dict[str, Any] = {"JobId": job_id, "TaskName": task_name}
        if index is not None:
            answer = client.call("DescribeTaskLogs", {**params, "TaskInstanceIndexes": [index]})
            entries = answer["TaskInstanceLogSet"]
        else:
            while True:
                answer = client.call(
                    "DescribeTaskLogs", {**params, "Offset": len(entries), "Limit": 10}
                )
                entries.extend(answer["TaskInstanceLogSet"])
                if not answer["TaskInstanceLogSet"] or len(entries) >= answer["TotalCount"]:
                    break
    decoded = [
        {
            "TaskInstanceIndex": e["TaskInstanceIndex"],
            "Stdout": _decode_log(e.get("StdoutLog")).decode("utf-8", errors="replace"),
            "Stderr": _decode_log(e.get("StderrLog")).decode("utf-8", errors="replace"),
            **{k: v for k, v in e.items() if k not in ("StdoutLog", "StderrLog")},
        }
        for e in entries
    ]
    if output is Format.JSON:
        emit(decoded, output)
        return
    for entry in decoded:
        for stream in ("Stdout", "Stderr"):
            where = f"{job_id} {task_name} [{entry['TaskInstanceIndex']}] {stream.lower()}"
            out.print(Text(f"==> {where} <==", style="bold"))
            text: str = entry[stream]
            if not text:
                out.print(Text("(empty)", style="dim"))
                continue
            out.out(text if text.endswith("\n") else text + "\n", highlight=False, end="")
            if len(text.encode()) >= LOG_TAIL_BYTES:
                out.print(Text(f"(the last {LOG_TAIL_BYTES} bytes only)", style="dim"))


def terminate(
    job_id: JobArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Terminate a job: stop its running instances; it ends FAILED."""
    with _client(endpoint, data_dir, region) as client:
        client.call("TerminateJob", {"JobId": job_id})
        err.print(f"terminating job {job_id}", markup=False, highlight=False)


def retry(
    job_ids: Annotated[list[str], typer.Argument(help="FAILED jobs to retry", show_default=False)],
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Retry FAILED jobs: their failed instances run again."""
    with _client(endpoint, data_dir, region) as client:
        client.call("RetryJobs", {"JobIds": job_ids})
        err.print(f"retrying {', '.join(job_ids)}", markup=False, highlight=False)


def delete(
    job_id: JobArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete a finished job and its records."""
    with _client(endpoint, data_dir, region) as client:
        client.call("DeleteJob", {"JobId": job_id})
        err.print(f"deleted job {job_id}", markup=False, highlight=False)


# --- compute environments ----------------------------------------------------------------------

NODE_COLUMNS = [
    "ComputeNodeId",
    "ComputeNodeState",
    "ComputeNodeInstanceId",
    "Cpu",
    "Mem",
    "TaskInstanceNumAvailable",
    "ResourceOrigin",
]


@env_app.command("create")
def env_create(
    name: Annotated[str, typer.Argument(help="Environment name", show_default=False)],
    nodes_count: Annotated[
        int, typer.Option("--nodes", min=0, help="Compute nodes to start", show_default=False)
    ],
    instance_type: Annotated[
        str | None, typer.Option(help="Node size by cloud name, e.g. S5.MEDIUM4 (2 cores, 4 GiB)")
    ] = None,
    cpu: Annotated[int | None, typer.Option(min=1, help="Node cores (with --memory)")] = None,
    memory: Annotated[int | None, typer.Option(min=1, help="Node GiB (with --cpu)")] = None,
    zone: Annotated[str | None, typer.Option(help="Placement zone. Default: <region>-1")] = None,
    description: Annotated[str | None, typer.Option(help="EnvDescription")] = None,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Create a compute environment of --nodes nodes."""
    if instance_type and (cpu is not None or memory is not None):
        _usage("give either --instance-type or --cpu and --memory, not both")
    if (cpu is None) != (memory is None):
        _usage("give --cpu and --memory together")
    env: dict[str, Any] = {"EnvName": name, "DesiredComputeNodeCount": nodes_count}
    if instance_type:
        env["EnvData"] = {"InstanceType": instance_type}
    elif cpu is not None:
        env["EnvData"] = {"InstanceTypeOptions": {"CPU": cpu, "Memory": memory}}
    if description is not None:
        env["EnvDescription"] = description
    with _client(endpoint, data_dir, region) as client:
        answer = client.call(
            "CreateComputeEnv",
            {"ComputeEnv": env, "Placement": {"Zone": zone or f"{client.region}-1"}},
        )
        emit({"EnvName": name, "EnvId": answer["EnvId"]}, output)


@env_app.command("list")
def env_list(
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List compute environments."""
    with _client(endpoint, data_dir, region) as client:
        found: list[dict[str, Any]] = []
        while True:
            page = client.call("DescribeComputeEnvs", {"Offset": len(found), "Limit": 100})
            found.extend(page["ComputeEnvSet"])
            if not page["ComputeEnvSet"] or len(found) >= page["TotalCount"]:
                break
        if output is Format.JSON:
            emit(found, output)
            return
        rows = [
            {
                **e,
                "Zone": e["Placement"].get("Zone", ""),
                "Nodes": _counts(e["ComputeNodeMetrics"], NODE_METRICS),
            }
            for e in found
        ]
        emit(
            rows,
            output,
            ["EnvId", "EnvName", "DesiredComputeNodeCount", "Nodes", "NextAction", "Zone"],
        )


@env_app.command("show")
def env_show(
    env: EnvArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Show an environment's attributes and its nodes.

    SchedulerAddress is where an external Dask worker connects to be attached (AttachInstances):
    `dask worker SCHEDULER_ADDRESS --name NAME --nthreads 1 --no-dashboard`, then attach NAME.
    """
    with _client(endpoint, data_dir, region) as client:
        described = _answer(client.call("DescribeComputeEnv", {"EnvId": _env_id(client, env)}))
        if output is Format.JSON:
            emit(described, output)
            return
        attributes = {k: v for k, v in described.items() if k != "ComputeNodeSet"}
        attributes.pop("Placement")
        attributes["Zone"] = described["Placement"].get("Zone", "")
        attributes["ComputeNodeMetrics"] = _counts(described["ComputeNodeMetrics"], NODE_METRICS)
        _attributes(attributes, output, title=f"env {described['EnvId']}")
        emit(described["ComputeNodeSet"], output, NODE_COLUMNS, title="nodes")


@env_app.command("scale")
def env_scale(
    env: EnvArg,
    count: Annotated[int, typer.Argument(min=0, help="Desired number of compute nodes")],
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Set the desired number of nodes (idle nodes go first when scaling down)."""
    with _client(endpoint, data_dir, region) as client:
        env_id = _env_id(client, env)
        client.call("ModifyComputeEnv", {"EnvId": env_id, "DesiredComputeNodeCount": count})
        err.print(f"env {env_id}: {count} compute nodes desired", markup=False, highlight=False)


@env_app.command("delete")
def env_delete(
    env: EnvArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete an environment: its nodes stop, then it is removed."""
    with _client(endpoint, data_dir, region) as client:
        env_id = _env_id(client, env)
        client.call("DeleteComputeEnv", {"EnvId": env_id})
        err.print(f"deleting env {env_id}", markup=False, highlight=False)


def nodes(
    env: EnvArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List the compute nodes of an environment."""
    with _client(endpoint, data_dir, region) as client:
        described = client.call("DescribeComputeEnv", {"EnvId": _env_id(client, env)})
        emit(described["ComputeNodeSet"], output, NODE_COLUMNS)
