"""Fixtures for the runner tests: InstanceSpecs rooted in tmp_path, and a one-node Dask cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import dask
import pytest
from distributed import Client, Nanny, Scheduler, SpecCluster

from batchd.compute.runner import InstanceSpec

NODE_ID = "node-abc12345"


class SpecFactory(Protocol):
    def __call__(self, **fields: Any) -> InstanceSpec: ...


@pytest.fixture
def make_spec(tmp_path: Path) -> SpecFactory:
    """InstanceSpec with sensible defaults; keyword arguments override any field."""

    def make(**fields: Any) -> InstanceSpec:
        defaults: dict[str, Any] = {
            "key": "job-abc12345/Task1/0/1",
            "job_id": "job-abc12345",
            "task_name": "Task1",
            "instance_num": 3,
            "index": 0,
            "attempt": 1,
            "env_id": "env-abc12345",
            "node_id": NODE_ID,
            "work_dir": str(tmp_path / "work" / "job-abc12345" / "Task1" / "0.1"),
            "timeout_seconds": 30.0,
        }
        if "commands" not in fields:
            defaults["command"] = "true"
        return InstanceSpec(**(defaults | fields))

    return make


LOOPBACK_ANY = "127.0.0.1:0"


@dataclass(frozen=True)
class DaskNode:
    client: Client
    address: str  # the worker's address, for client.run(..., workers=[address])


@contextlib.contextmanager
def one_node_cluster() -> Iterator[DaskNode]:
    # allowed-failures 0: a task whose worker died is not re-run by Dask; batchd retries itself.
    # dashboard_address=None would still start the HTTP server, on port 8787: ask for any
    # free loopback port instead, so two clusters (or another test run) do not collide.
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        SpecCluster(  # type: ignore[no-untyped-call]
            scheduler={
                "cls": Scheduler,
                "options": {"host": "127.0.0.1", "port": 0, "dashboard_address": LOOPBACK_ANY},
            },
            workers={
                NODE_ID: {
                    "cls": Nanny,
                    "options": {
                        "name": NODE_ID,
                        "nthreads": 1,
                        "host": "127.0.0.1",
                        "dashboard_address": LOOPBACK_ANY,
                    },
                }
            },
        ) as cluster,
        Client(cluster) as client,  # type: ignore[no-untyped-call]
    ):
        client.wait_for_workers(1, timeout=30)
        (address,) = client.scheduler_info()["workers"]
        yield DaskNode(client, address)


@pytest.fixture(scope="module")
def dask_node() -> Iterator[DaskNode]:
    """One named worker (Nanny + worker process) shared by the tests that leave it healthy."""
    with one_node_cluster() as node:
        yield node


@pytest.fixture
def disposable_dask_node() -> Iterator[DaskNode]:
    """A cluster of its own for a test that kills the worker process."""
    with one_node_cluster() as node:
        yield node
