"""How `batchd submit --wait` follows a job: a progress bar over its task instances until it
ends, then its failed instances."""

from __future__ import annotations

import time
from typing import Any

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from batchd.cli.batch_client import BatchClient
from batchd.cli.batch_connection import describe_task, without_request_id
from batchd.cli.metric import counts
from batchd.cli.output import err

# Job states `submit --wait` stops at; FAILED_INTERRUPTED keeps nodes until terminated, but
# nothing more will run, so waiting longer would never end.
FINAL_JOB_STATES = ("SUCCEED", "FAILED", "FAILED_INTERRUPTED")
FAILED_STATES = ["FAILED", "FAILED_INTERRUPTED"]
POLL_SECONDS = 0.5


def _progress_columns() -> tuple[Any, ...]:
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


def wait(client: BatchClient, job_id: str) -> dict[str, Any]:
    """Poll DescribeJob until the job is final; a progress bar over its task instances on a
    terminal, else one line on stderr whenever the counts change."""
    with Progress(*_progress_columns(), console=err, disable=not err.is_terminal) as progress:
        bar = progress.add_task(job_id, total=None)
        last = ""
        while True:
            job = client.call("DescribeJob", {"JobId": job_id})
            metrics: dict[str, int] = job["TaskInstanceMetrics"]
            line = f"{job_id} {job['JobState']}: {counts(metrics) or 'no task instance yet'}"
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
                return without_request_id(job)
            time.sleep(POLL_SECONDS)


def failed_instances(client: BatchClient, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The failed instances of a job's failed tasks, for the report that ends `submit --wait`."""
    failed: list[dict[str, Any]] = []
    for task in job["TaskSet"]:
        if task["TaskState"] not in FAILED_STATES:
            continue
        described = describe_task(
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
