"""Job pages: the list with filters, a job with its task graph, instances and events, the logs
of one instance, and the terminate / retry / delete buttons."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from batchd.api.console import dag, timeline
from batchd.api.console.guard import BASE, POST, Deps, Visit, page
from batchd.domain.events import iso
from batchd.domain.states import FINAL, InstanceState

PAGE_SIZE = 20
MAX_INSTANCES = 100
MAX_EVENTS = 100
STATES = [state.value for state in InstanceState]


def job_filters(visit: Visit) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """DescribeJobs filters from the query string, and the query values to show in the form."""
    chosen = {key: visit.query(key) for key in ("state", "name", "zone", "tag")}
    filters = []
    for key, name in (("state", "job-state"), ("name", "job-name"), ("zone", "zone")):
        if chosen[key]:
            filters.append({"Name": name, "Values": [chosen[key]]})
    if chosen["tag"]:
        key, has_value, value = chosen["tag"].partition("=")
        if has_value:
            filters.append({"Name": f"tag:{key.strip()}", "Values": [value.strip()]})
        else:
            filters.append({"Name": "tag-key", "Values": [key.strip()]})
    return filters, chosen


def _page_number(visit: Visit) -> int:
    text = visit.query("page", "1")
    return max(1, int(text)) if text.isdigit() and len(text) < 7 else 1


async def _job_rows(visit: Visit) -> dict[str, Any]:
    filters, chosen = job_filters(visit)
    number = _page_number(visit)
    request: dict[str, Any] = {"Offset": (number - 1) * PAGE_SIZE, "Limit": PAGE_SIZE}
    if filters:
        request["Filters"] = filters
    answer = await visit.deps.batch_actions("DescribeJobs", visit.scope, request)
    total = int(answer["TotalCount"])
    jobs = answer["JobSet"]
    query = urlencode({k: v for k, v in chosen.items() if v})
    return {
        "jobs": jobs,
        "total": total,
        "number": number,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "chosen": chosen,
        "query": query,
        "settled": all(job["JobState"] in FINAL for job in jobs),
    }


async def job_list(visit: Visit) -> Response:
    return visit.page("jobs.html", states=STATES, **await _job_rows(visit))


async def job_rows(visit: Visit) -> Response:
    return visit.fragment("_job_rows.html", **await _job_rows(visit))


async def _job(visit: Visit, job_id: str) -> dict[str, Any]:
    actions, scope = visit.deps.batch_actions, visit.scope
    job = await actions("DescribeJob", scope, {"JobId": job_id})
    tasks = []
    timed: list[dict[str, object]] = []  # every instance's current attempt, for the timeline
    for view in job["TaskSet"]:
        _, task, found, counts, node_ids = await visit.deps.batch.jobs.task(
            scope, job_id, view["TaskName"], None, 0, MAX_INSTANCES
        )
        instances = [
            {
                "index": i.index,
                "state": i.state.value,
                "attempt": i.attempt,
                "exit_code": i.exit_code,
                "reason": i.reason,
                "detail": i.detail,
                "node_id": i.node_id,
                "node_instance": node_ids.get(i.node_id, ""),
                "created": iso(i.create_ms),
                "launched": iso(i.launch_ms),
                "running": iso(i.running_ms),
                "ended": iso(i.end_ms),
            }
            for i in found
        ]
        tasks.append(
            {"view": view, "instances": instances, "total": task.instance_num, "counts": counts}
        )
        timed += [
            {
                "task": view["TaskName"],
                "index": i.index,
                "attempt": i.attempt,
                "state": i.state.value,
                "node_id": i.node_id,
                "reason": i.reason,
                "created_ms": i.create_ms,
                "running_ms": i.running_ms,
                "ended_ms": i.end_ms,
            }
            for i in found
        ]
    total = (await actions("DescribeEvents", scope, {"OwnerId": job_id, "Limit": 0}))["TotalCount"]
    events = await actions(
        "DescribeEvents",
        scope,
        {"OwnerId": job_id, "Offset": max(0, total - MAX_EVENTS), "Limit": MAX_EVENTS},
    )
    picture = dag.svg(
        [(t["TaskName"], t["TaskState"]) for t in job["TaskSet"]],
        [(d["StartTask"], d["EndTask"]) for d in job["DependenceSet"]],
        f"Task graph of {job_id}",
    )
    runs = [
        e["Event"]["Batch"] for e in events["EventSet"] if e["EventName"] == "TASK_INSTANCE_RUNNING"
    ]
    now_ms = visit.deps.messages.ctx.now_ms()
    pictured = timeline.svg(timeline.bars_of_job(timed, runs), now_ms, f"Timeline of {job_id}")
    return {
        "job": job,
        "tasks": tasks,
        "timeline": pictured,
        "events": events["EventSet"],
        "events_total": total,
        "dag": picture,
        "settled": job["JobState"] in FINAL and not job["NextAction"],
    }


async def job_page(visit: Visit) -> Response:
    job_id = visit.request.path_params["job_id"]
    return visit.page("job.html", **await _job(visit, job_id))


async def job_live(visit: Visit) -> Response:
    job_id = visit.request.path_params["job_id"]
    return visit.fragment("_job_live.html", **await _job(visit, job_id))


def _data_uri_text(value: str) -> str:
    _, _, data = value.partition("base64,")
    return base64.b64decode(data).decode("utf-8", errors="replace")


async def logs(visit: Visit) -> Response:
    params = visit.request.path_params
    job_id, task_name, index = params["job_id"], params["task"], params["index"]
    answer = await visit.deps.batch_actions(
        "DescribeTaskLogs",
        visit.scope,
        {"JobId": job_id, "TaskName": task_name, "TaskInstanceIndexes": [index]},
    )
    found = answer["TaskInstanceLogSet"]
    entry = found[0] if found else {}
    return visit.page(
        "logs.html",
        job_id=job_id,
        task_name=task_name,
        index=index,
        found=bool(found),
        stdout=_data_uri_text(entry.get("StdoutLog", "")),
        stderr=_data_uri_text(entry.get("StderrLog", "")),
        entry=entry,
    )


async def terminate(visit: Visit) -> Response:
    job_id = visit.request.path_params["job_id"]
    await visit.deps.batch_actions("TerminateJob", visit.scope, {"JobId": job_id})
    return visit.done(f"{BASE}/jobs/{job_id}", f"Termination of {job_id} requested.")


async def retry(visit: Visit) -> Response:
    job_id = visit.request.path_params["job_id"]
    await visit.deps.batch_actions("RetryJobs", visit.scope, {"JobIds": [job_id]})
    return visit.done(
        f"{BASE}/jobs/{job_id}", f"{job_id} is retried: its failed instances run again."
    )


async def delete(visit: Visit) -> Response:
    job_id = visit.request.path_params["job_id"]
    await visit.deps.batch_actions("DeleteJob", visit.scope, {"JobId": job_id})
    return visit.done(f"{BASE}/jobs", f"{job_id} was deleted.")


async def terminate_instance(visit: Visit) -> Response:
    params = visit.request.path_params
    job_id, task_name, index = params["job_id"], params["task"], params["index"]
    await visit.deps.batch_actions(
        "TerminateTaskInstance",
        visit.scope,
        {"JobId": job_id, "TaskName": task_name, "TaskInstanceIndex": index},
    )
    return visit.done(
        f"{BASE}/jobs/{job_id}#task-{task_name}",
        f"Termination of {task_name} instance {index} requested.",
    )


async def home(visit: Visit) -> Response:
    return RedirectResponse(f"{BASE}/jobs", status_code=303)


def _back(visit: Visit) -> str:
    return f"{BASE}/jobs/{visit.request.path_params['job_id']}"


def routes(deps: Deps) -> list[Route]:
    instance = "/jobs/{job_id}/tasks/{task}/instances/{index:int}"
    return [
        Route("/", page(deps, home)),
        Route("/jobs", page(deps, job_list)),
        Route("/jobs/rows", page(deps, job_rows, fragment=True)),
        Route("/jobs/{job_id}", page(deps, job_page)),
        Route("/jobs/{job_id}/live", page(deps, job_live, fragment=True)),
        Route("/jobs/{job_id}/terminate", page(deps, terminate, back=_back), methods=POST),
        Route("/jobs/{job_id}/retry", page(deps, retry, back=_back), methods=POST),
        Route("/jobs/{job_id}/delete", page(deps, delete, back=_back), methods=POST),
        Route(f"{instance}/logs", page(deps, logs)),
        Route(f"{instance}/terminate", page(deps, terminate_instance, back=_back), methods=POST),
    ]
