"""`batchd submit`, `jobs`, `job`, `logs`, `terminate`, `retry` and `delete`: the commands
about jobs."""

from __future__ import annotations

import base64
import binascii
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from batchd.cli import command_job, progress
from batchd.cli.batch_client import BatchClient
from batchd.cli.batch_connection import (
    connect,
    describe_task,
    find_env_id,
    instance_attempts,
    without_request_id,
)
from batchd.cli.metric import counts
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt, RegionOpt
from batchd.cli.output import Format, emit, emit_attributes, err, fail, out, usage

JobArg = Annotated[str, typer.Argument(help="Job id (job-…)", show_default=False)]
LOG_TAIL_BYTES = 2048  # DescribeTaskLogs holds the last 2 KiB of each stream
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


def _read_request(path: Path) -> dict[str, Any]:
    """The SubmitJob request a job file stands for: a `Job`, or a request with `Job` in it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        usage(f"cannot read {path}: {error}")
    try:
        data = json.loads(text)
    except ValueError as error:
        usage(f"{path} is not valid JSON: {error}")
    if not isinstance(data, dict):
        usage(f"{path} must hold a JSON object: a Job, or a SubmitJob request with a Job")
    request: dict[str, Any] = dict(data) if "Job" in data else {"Job": data}
    if not isinstance(request["Job"], dict):
        usage(f"{path}: Job must be a JSON object")
    return request


def submit(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="JSON file: the Job object of the API (Tasks, Dependences, Notifications…), "
            "or a whole SubmitJob request with Job and Placement. The legacy `notifications` "
            "spelling (topic_name, event_configs…) is accepted. Or no file and --command",
            show_default=False,
        ),
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(
            "--command",
            "-c",
            help="Run this shell command instead of a job file: one task, `main`",
            show_default=False,
        ),
    ] = None,
    instances: Annotated[
        int, typer.Option("--instances", "-n", min=1, help="With --command: TaskInstanceNum")
    ] = 1,
    env: Annotated[
        str | None,
        typer.Option(
            "--env",
            help="With --command: compute environment (id or name). Default: an anonymous one "
            "of its own (S5.SMALL1 nodes)",
            show_default=False,
        ),
    ] = None,
    retries: Annotated[
        int | None, typer.Option("--retries", min=0, help="With --command: MaxRetryCount")
    ] = None,
    timeout: Annotated[
        int | None, typer.Option("--timeout", min=1, help="With --command: Timeout (seconds)")
    ] = None,
    env_var: Annotated[
        list[str] | None,
        typer.Option("--env-var", help="With --command: NAME=value (repeatable)"),
    ] = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            help="With --command: TOPIC=EVENT[,EVENT…] (repeatable), e.g. events=JOB_SUCCEED",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="With --command: JobName. Default: command")
    ] = None,
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
    """Submit a job (a JSON file, or --command); print its JobId."""
    if (file is None) == (command is None):
        usage("give a job file or --command 'CMD', one of the two")
    with connect(endpoint, data_dir, region) as client:
        if file is not None:
            request = _read_request(file)
        else:
            assert command is not None
            request = command_job.request(
                command,
                instances=instances,
                env_id=find_env_id(client, env) if env else None,
                retries=retries,
                timeout=timeout,
                env_vars=env_var or [],
                notify=notify or [],
                name=name,
            )
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
            done = progress.wait(client, job_id)
        except KeyboardInterrupt:
            err.print(
                f"stopped waiting: job {job_id} goes on (`batchd terminate {job_id}` stops it)",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(130) from None
        failed = [] if done["JobState"] == "SUCCEED" else progress.failed_instances(client, done)
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
    with connect(endpoint, data_dir, region) as client:
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
                "Tasks": counts(j["TaskMetrics"]),
            }
            for j in found
        ]
        emit(
            rows, output, ["JobId", "JobName", "JobState", "Tasks", "Zone", "CreateTime", "EndTime"]
        )
        if total > len(found):
            err.print(f"showing {len(found)} of {total} jobs (see --limit)")


# The instance table: TaskInstanceView fields (and the attempt), shortened where the header
# says it all.
INSTANCE_COLUMNS = {
    "Index": "TaskInstanceIndex",
    "State": "TaskInstanceState",
    "Attempt": "Attempt",
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
    with connect(endpoint, data_dir, region) as client:
        described = without_request_id(client.call("DescribeJob", {"JobId": job_id}))
        tasks = [_task_with_attempts(client, job_id, t["TaskName"]) for t in described["TaskSet"]]
        if output is Format.JSON:
            emit({**described, "Tasks": tasks}, output)
            return
        emit_attributes(
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
                "Tasks": counts(described["TaskMetrics"]),
                "TaskInstances": counts(described["TaskInstanceMetrics"]),
                "Dependences": ", ".join(
                    f"{d['StartTask']} -> {d['EndTask']}" for d in described["DependenceSet"]
                ),
            },
            output,
            title=f"job {job_id}",
        )
        emit(
            [{**t, "TaskInstances": counts(t["TaskInstanceMetrics"])} for t in tasks],
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


def _task_with_attempts(client: BatchClient, job_id: str, task_name: str) -> dict[str, Any]:
    task = describe_task(client, job_id, task_name)
    attempts = instance_attempts(client, job_id, task_name)
    instances = [
        {**i, "Attempt": attempts.get(i["TaskInstanceIndex"])} for i in task["TaskInstanceSet"]
    ]
    return {**task, "TaskInstanceSet": instances}


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
    task_name: Annotated[
        str | None, typer.Argument(help="Task name. Default: every task", show_default=False)
    ] = None,
    index: Annotated[
        int | None, typer.Argument(min=0, help="Task instance index. Default: every instance")
    ] = None,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Print the stdout and stderr of a job's task instances (the last 2 KiB of each stream; a
    running instance shows its output so far)."""
    with connect(endpoint, data_dir, region) as client:
        if task_name is None:
            tasks = [
                t["TaskName"] for t in client.call("DescribeJob", {"JobId": job_id})["TaskSet"]
            ]
        else:
            tasks = [task_name]
        decoded = [
            {
                "TaskName": task,
                "TaskInstanceIndex": e["TaskInstanceIndex"],
                "Stdout": _decode_log(e.get("StdoutLog")).decode("utf-8", errors="replace"),
                "Stderr": _decode_log(e.get("StderrLog")).decode("utf-8", errors="replace"),
                **{k: v for k, v in e.items() if k not in ("StdoutLog", "StderrLog")},
            }
            for task in tasks
            for e in _task_logs(client, job_id, task, index)
        ]
    if output is Format.JSON:
        emit(decoded, output)
        return
    for entry in decoded:
        for stream in ("Stdout", "Stderr"):
            where = f"{job_id} {entry['TaskName']} [{entry['TaskInstanceIndex']}] {stream.lower()}"
            out.print(Text(f"==> {where} <==", style="bold"))
            text: str = entry[stream]
            if not text:
                out.print(Text("(empty)", style="dim"))
                continue
            out.out(text if text.endswith("\n") else text + "\n", highlight=False, end="")
            if len(text.encode()) >= LOG_TAIL_BYTES:
                out.print(Text(f"(the last {LOG_TAIL_BYTES} bytes only)", style="dim"))


def _task_logs(
    client: BatchClient, job_id: str, task_name: str, index: int | None
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"JobId": job_id, "TaskName": task_name}
    if index is not None:
        answer = client.call("DescribeTaskLogs", {**params, "TaskInstanceIndexes": [index]})
        return list(answer["TaskInstanceLogSet"])
    entries: list[dict[str, Any]] = []
    while True:
        answer = client.call("DescribeTaskLogs", {**params, "Offset": len(entries), "Limit": 10})
        entries.extend(answer["TaskInstanceLogSet"])
        if not answer["TaskInstanceLogSet"] or len(entries) >= answer["TotalCount"]:
            return entries


def terminate(
    job_id: JobArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Terminate a job: stop its running instances; it ends FAILED."""
    with connect(endpoint, data_dir, region) as client:
        client.call("TerminateJob", {"JobId": job_id})
        err.print(f"terminating job {job_id}", markup=False, highlight=False)


def retry(
    job_ids: Annotated[list[str], typer.Argument(help="FAILED jobs to retry", show_default=False)],
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Retry FAILED jobs: their failed instances run again."""
    with connect(endpoint, data_dir, region) as client:
        client.call("RetryJobs", {"JobIds": job_ids})
        err.print(f"retrying {', '.join(job_ids)}", markup=False, highlight=False)


def delete(
    job_id: JobArg,
    region: RegionOpt = None,
    endpoint: EndpointOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Delete a finished job and its records."""
    with connect(endpoint, data_dir, region) as client:
        client.call("DeleteJob", {"JobId": job_id})
        err.print(f"deleted job {job_id}", markup=False, highlight=False)
