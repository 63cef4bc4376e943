"""Compute environment pages: the list, create (with notifications), scale, delete, and an
environment's nodes, activity log and events."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from batchd.api.console import timeline
from batchd.api.console.guard import BASE, POST, Deps, Visit, page
from batchd.domain import events as catalogue

PAGE_SIZE = 20
MAX_ACTIVITIES = 50
MAX_EVENTS = 50
ENV_EVENTS = catalogue.ENV_EVENTS + catalogue.NODE_EVENTS
INSTANCE_TYPES = ("S5.SMALL1", "S5.SMALL2", "S5.MEDIUM2", "S5.MEDIUM4", "S5.LARGE8", "S5.2XLARGE16")


def number(text: str) -> int | str:
    """A form's number as the API gets it: digits become an integer, anything else stays text
    for the request model to refuse with its own message."""
    return int(text) if text.isdigit() and len(text) < 10 else text


async def env_list(visit: Visit) -> Response:
    text = visit.query("page", "1")
    current = max(1, int(text)) if text.isdigit() and len(text) < 7 else 1
    answer = await visit.deps.batch_actions(
        "DescribeComputeEnvs",
        visit.scope,
        {"Offset": (current - 1) * PAGE_SIZE, "Limit": PAGE_SIZE},
    )
    total = int(answer["TotalCount"])
    return visit.page(
        "envs.html",
        envs=answer["ComputeEnvSet"],
        total=total,
        number=current,
        pages=max(1, -(-total // PAGE_SIZE)),
        query="",
    )


async def env_form(visit: Visit) -> Response:
    _, topics = await visit.deps.messages.topics.page(visit.scope, "", 0, 100)
    return visit.page(
        "env_new.html",
        topics=[t.name for t in topics],
        events=ENV_EVENTS,
        instance_types=INSTANCE_TYPES,
    )


def create_request(visit: Visit) -> dict[str, Any]:
    """The CreateComputeEnv request the form describes."""
    env: dict[str, Any] = {
        "EnvName": visit.text("name"),
        "DesiredComputeNodeCount": number(visit.text("desired", "1")),
        "EnvData": {"InstanceType": visit.text("instance_type")},
    }
    if visit.text("description"):
        env["EnvDescription"] = visit.text("description")
    topic = visit.text("topic")
    if topic:
        picked = [str(name) for name in visit.form.getlist("event")]
        env["Notifications"] = [
            {"TopicName": topic, "EventConfigs": [{"EventName": name} for name in picked]}
        ]
    return {"ComputeEnv": env, "Placement": {"Zone": visit.text("zone")}}


async def create(visit: Visit) -> Response:
    answer = await visit.deps.batch_actions("CreateComputeEnv", visit.scope, create_request(visit))
    env_id = answer["EnvId"]
    return visit.done(f"{BASE}/envs/{env_id}", f"Created {env_id}; its nodes are starting.")


BUSY_WINDOW_MS = 3 * 3600 * 1000  # what the environment page pictures: the last three hours


async def _env(visit: Visit, env_id: str) -> dict[str, Any]:
    actions, scope = visit.deps.batch_actions, visit.scope
    env = await actions("DescribeComputeEnv", scope, {"EnvId": env_id})
    first = await actions("DescribeComputeEnvActivities", scope, {"EnvId": env_id, "Limit": 0})
    total = int(first["TotalCount"])
    activities = await actions(
        "DescribeComputeEnvActivities",
        scope,
        {"EnvId": env_id, "Offset": max(0, total - MAX_ACTIVITIES), "Limit": MAX_ACTIVITIES},
    )
    events_total = (await actions("DescribeEvents", scope, {"OwnerId": env_id, "Limit": 0}))[
        "TotalCount"
    ]
    events = await actions(
        "DescribeEvents",
        scope,
        {"OwnerId": env_id, "Offset": max(0, events_total - MAX_EVENTS), "Limit": MAX_EVENTS},
    )
    now_ms = visit.deps.messages.ctx.now_ms()
    since_ms = now_ms - BUSY_WINDOW_MS
    runs = await visit.deps.batch.envs.busy(scope, env_id, since_ms)
    nodes = [node["ComputeNodeId"] for node in env["ComputeNodeSet"]]
    nodes += sorted({node for node, _, _ in runs} - set(nodes))  # ran here, since deleted
    busy = timeline.busy_svg(
        nodes, runs, since_ms, now_ms, f"Busy and idle time of {env_id}'s nodes"
    )
    return {
        "env": env,
        "busy": busy,
        "activities": list(reversed(activities["ActivitySet"])),
        "activities_total": total,
        "events": list(reversed(events["EventSet"])),
        "events_total": events_total,
    }


async def env_page(visit: Visit) -> Response:
    return visit.page("env.html", **await _env(visit, visit.request.path_params["env_id"]))


async def env_live(visit: Visit) -> Response:
    return visit.fragment(
        "_env_live.html", **await _env(visit, visit.request.path_params["env_id"])
    )


async def scale(visit: Visit) -> Response:
    env_id = visit.request.path_params["env_id"]
    desired = number(visit.text("desired"))
    await visit.deps.batch_actions(
        "ModifyComputeEnv", visit.scope, {"EnvId": env_id, "DesiredComputeNodeCount": desired}
    )
    return visit.done(f"{BASE}/envs/{env_id}", f"{env_id} now wants {desired} nodes.")


async def delete(visit: Visit) -> Response:
    env_id = visit.request.path_params["env_id"]
    await visit.deps.batch_actions("DeleteComputeEnv", visit.scope, {"EnvId": env_id})
    return visit.done(f"{BASE}/envs", f"{env_id} is being deleted: its nodes are stopping.")


async def terminate_node(visit: Visit) -> Response:
    env_id = visit.request.path_params["env_id"]
    node_id = visit.request.path_params["node_id"]
    await visit.deps.batch_actions(
        "TerminateComputeNode", visit.scope, {"EnvId": env_id, "ComputeNodeId": node_id}
    )
    return visit.done(f"{BASE}/envs/{env_id}", f"Node {node_id} is terminating.")


def _back(visit: Visit) -> str:
    return f"{BASE}/envs/{visit.request.path_params['env_id']}"


def routes(deps: Deps) -> list[Route]:
    return [
        Route("/envs", page(deps, env_list)),
        Route("/envs/new", page(deps, env_form)),
        Route("/envs/new", page(deps, create, back=lambda _: f"{BASE}/envs/new"), methods=POST),
        Route("/envs/{env_id}", page(deps, env_page)),
        Route("/envs/{env_id}/live", page(deps, env_live, fragment=True)),
        Route("/envs/{env_id}/scale", page(deps, scale, back=_back), methods=POST),
        Route("/envs/{env_id}/delete", page(deps, delete, back=_back), methods=POST),
        Route(
            "/envs/{env_id}/nodes/{node_id}/terminate",
            page(deps, terminate_node, back=_back),
            methods=POST,
        ),
    ]
