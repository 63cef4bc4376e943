"""A compute node is one Dask worker of its environment's node size (batch-api.md: the size
becomes the worker's nthreads and memory limit), running one instance at a time."""

from __future__ import annotations

from typing import Any

from distributed import Client

from tests.batch.conftest import BatchApi
from tests.batch.test_attach import call

GIB = 1024**3


def _workers(batch: BatchApi, env_id: str) -> list[dict[str, Any]]:
    address = call(batch, "DescribeComputeEnv", {"EnvId": env_id})["SchedulerAddress"]
    with Client(address, timeout=10) as client:  # type: ignore[no-untyped-call]
        return list(client.scheduler_info(n_workers=-1)["workers"].values())


def test_a_node_is_a_worker_of_its_instance_type_s_size(batch: BatchApi) -> None:
    by_type = batch.env(nodes=1, name="medium", EnvData={"InstanceType": "S5.MEDIUM4"})
    by_options = batch.env(
        nodes=1, name="custom", EnvData={"InstanceTypeOptions": {"CPU": 3, "Memory": 2}}
    )
    for env_id, cores, gib in ((by_type, 2, 4), (by_options, 3, 2)):
        (node,) = batch("DescribeComputeEnv", {"EnvId": env_id})["ComputeNodeSet"]
        assert (node["Cpu"], node["Mem"]) == (cores, gib)
        (worker,) = _workers(batch, env_id)
        assert worker["name"] == node["ComputeNodeId"]
        assert (worker["nthreads"], worker["memory_limit"]) == (cores, gib * GIB)
        assert worker["resources"]["slot"] == 1  # one instance (or pack) at a time
