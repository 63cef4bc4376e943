"""Submit a job from a JSON editor: the SubmitJob request body, checked by the Batch API's own
model and handler, with a notification picked from the account's topics attached."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from batchd.api import json_text
from batchd.api.console.bridge import ActionFailed, batch_refusal
from batchd.api.console.guard import BASE, Deps, Visit, page
from batchd.domain import errors
from batchd.domain import events as catalogue

JOB_EVENTS = (
    catalogue.JOB_EVENTS + catalogue.TASK_EVENTS + catalogue.INSTANCE_EVENTS + catalogue.NODE_EVENTS
)
DEFAULT_EVENTS = ("JOB_SUCCEED", "JOB_FAILED")


def sample(region: str, env_id: str) -> str:
    """A small job to start from: two instances of a command, on `env_id` or a task's own
    environment when there is none."""
    task: dict[str, Any] = {
        "TaskName": "hello",
        "TaskInstanceNum": 2,
        "Application": {
            "DeliveryForm": "LOCAL",
            "Command": "echo hello from instance $BATCH_TASK_INSTANCE_INDEX",
        },
    }
    if env_id:
        task["EnvId"] = env_id
    else:
        task["ComputeEnv"] = {"EnvType": "MANAGED", "EnvData": {"InstanceType": "S5.SMALL1"}}
    body = {"Placement": {"Zone": f"{region}-1"}, "Job": {"JobName": "hello", "Tasks": [task]}}
    return json.dumps(body, indent=2)


def attach(data: dict[str, Any], topic: str, events: list[str]) -> None:
    """Add the picked notification to `Job.Notifications`; a body of another shape is left for
    the model to refuse."""
    job = data.get("Job")
    if not topic or not isinstance(job, dict):
        return
    notifications = job.setdefault("Notifications", [])
    if isinstance(notifications, list):
        notifications.append(
            {"TopicName": topic, "EventConfigs": [{"EventName": name} for name in events]}
        )


def parse(text: str) -> dict[str, Any]:
    """The editor's text as a request object, refused as the API refuses a bad JSON body."""
    try:
        data = json_text.loads(text)
    except errors.MalformedBody as error:
        raise batch_refusal(error) from None
    if not isinstance(data, dict):
        raise batch_refusal(errors.MalformedBody("The body must be a JSON object"))
    return data


async def _editor(
    visit: Visit, text: str, topic: str, events: list[str], error: ActionFailed | None
) -> Response:
    envs = await visit.deps.batch_actions("DescribeComputeEnvs", visit.scope, {"Limit": 100})
    _, topics = await visit.deps.messages.topics.page(visit.scope, "", 0, 100)
    return visit.page(
        "job_new.html",
        status=400 if error else 200,
        text=text,
        envs=envs["ComputeEnvSet"],
        topics=[t.name for t in topics],
        topic=topic,
        events=JOB_EVENTS,
        picked=set(events),
        error=error,
    )


async def editor(visit: Visit) -> Response:
    env_id = visit.query("env")
    if not env_id:
        envs = await visit.deps.batch_actions("DescribeComputeEnvs", visit.scope, {"Limit": 1})
        env_id = envs["ComputeEnvSet"][0]["EnvId"] if envs["ComputeEnvSet"] else ""
    return await _editor(visit, sample(visit.scope.region, env_id), "", list(DEFAULT_EVENTS), None)


async def submit(visit: Visit) -> Response:
    text = str(visit.form.get("request", ""))
    topic = visit.text("topic")
    events = [str(name) for name in visit.form.getlist("event")]
    try:
        data = parse(text)
        attach(data, topic, events)
        answer = await visit.deps.batch_actions("SubmitJob", visit.scope, data)
    except ActionFailed as failure:
        return await _editor(visit, text, topic, events, failure)
    job_id = answer["JobId"]
    return visit.done(f"{BASE}/jobs/{job_id}", f"Submitted {job_id}.")


def routes(deps: Deps) -> list[Route]:
    return [
        Route("/jobs/new", page(deps, editor)),
        Route("/jobs/new", page(deps, submit), methods=["POST"]),
    ]
