"""`batchd env` and `batchd nodes`: compute environments and their nodes."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from batchd.cli.batch_connection import connect, find_env_id, without_request_id
from batchd.cli.metric import NODE_METRICS, counts
from batchd.cli.option import DataDirOpt, EndpointOpt, OutputOpt, RegionOpt
from batchd.cli.output import Format, emit, emit_attributes, err, usage

EnvArg = Annotated[str, typer.Argument(help="Compute environment id (env-…) or name")]

env_app = typer.Typer(help="Compute environments: create, inspect, scale.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(env_app, name="env", rich_help_panel="Compute environments")
    app.command("nodes", rich_help_panel="Compute environments")(nodes)


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
        usage("give either --instance-type or --cpu and --memory, not both")
    if (cpu is None) != (memory is None):
        usage("give --cpu and --memory together")
    env: dict[str, Any] = {"EnvName": name, "DesiredComputeNodeCount": nodes_count}
    if instance_type:
        env["EnvData"] = {"InstanceType": instance_type}
    elif cpu is not None:
        env["EnvData"] = {"InstanceTypeOptions": {"CPU": cpu, "Memory": memory}}
    if description is not None:
        env["EnvDescription"] = description
    with connect(endpoint, data_dir, region) as client:
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
    with connect(endpoint, data_dir, region) as client:
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
                "Nodes": counts(e["ComputeNodeMetrics"], NODE_METRICS),
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
    with connect(endpoint, data_dir, region) as client:
        described = without_request_id(
            client.call("DescribeComputeEnv", {"EnvId": find_env_id(client, env)})
        )
        if output is Format.JSON:
            emit(described, output)
            return
        attributes = {k: v for k, v in described.items() if k != "ComputeNodeSet"}
        attributes.pop("Placement")
        attributes["Zone"] = described["Placement"].get("Zone", "")
        attributes["ComputeNodeMetrics"] = counts(described["ComputeNodeMetrics"], NODE_METRICS)
        emit_attributes(attributes, output, title=f"env {described['EnvId']}")
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
    with connect(endpoint, data_dir, region) as client:
        env_id = find_env_id(client, env)
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
    with connect(endpoint, data_dir, region) as client:
        env_id = find_env_id(client, env)
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
    with connect(endpoint, data_dir, region) as client:
        described = client.call("DescribeComputeEnv", {"EnvId": find_env_id(client, env)})
        emit(described["ComputeNodeSet"], output, NODE_COLUMNS)
