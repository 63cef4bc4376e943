"""run_instance as a Dask task on a real worker process: placement, announcement, kill."""

from __future__ import annotations

import time
from pathlib import Path

from distributed import Client

from batchd.compute.runner import EVENT_TOPIC, InstanceResult, kill_instance, run_instance
from tests.compute.conftest import NODE_ID, DaskNode, SpecFactory
from tests.compute.procfs import live_group_members, read_pid
from tests.support import wait_until


def _running_events(client: Client, key: str) -> list[dict[str, object]]:
    return [msg for _, msg in client.get_events(EVENT_TOPIC) if msg.get("key") == key]


def test_runs_on_the_pinned_worker_and_announces_the_launch(
    dask_node: DaskNode, make_spec: SpecFactory
) -> None:
    spec = make_spec(key="job-abc12345/Task1/0/1", command="sleep 0.2; echo $BATCH_COMPUTE_NODE_ID")

    future = dask_node.client.submit(run_instance, spec, key=spec.key, pure=False)
    result: InstanceResult = future.result(timeout=30)

    assert (result.exit_code, result.reason, result.node_id) == (0, "", NODE_ID)
    assert result.stdout_tail == f"{NODE_ID}\n".encode()
    wait_until(lambda: len(_running_events(dask_node.client, spec.key)) == 1)
    (event,) = _running_events(dask_node.client, spec.key)
    assert event["state"] == "running"
    assert event["node_id"] == NODE_ID
    assert event["started_at"] == result.started_at


def test_a_command_that_ends_at_once_is_reported_by_its_end_alone(
    dask_node: DaskNode, make_spec: SpecFactory
) -> None:
    spec = make_spec(key="job-abc12345/Task1/0/4", command="true")

    result = dask_node.client.submit(run_instance, spec, key=spec.key, pure=False).result(30)

    assert (result.exit_code, result.reason) == (0, "")
    assert result.started_at is not None  # the end tells when it started
    time.sleep(0.5)
    assert _running_events(dask_node.client, spec.key) == []


def test_wrong_node_runs_nothing(
    dask_node: DaskNode, make_spec: SpecFactory, tmp_path: Path
) -> None:
    spec = make_spec(key="job-abc12345/Task1/0/2", node_id="node-other999", command="touch ran")

    result = dask_node.client.submit(run_instance, spec, key=spec.key, pure=False).result(30)

    assert (result.exit_code, result.reason, result.node_id) == (None, "WRONG_NODE", NODE_ID)
    assert result.started_at is None
    assert not Path(spec.work_dir).exists()
    assert _running_events(dask_node.client, spec.key) == []


def test_kill_instance_through_client_run(dask_node: DaskNode, make_spec: SpecFactory) -> None:
    spec = make_spec(key="job-abc12345/Task1/0/3", command="echo $$ > pgid; sleep 1000")
    client = dask_node.client
    future = client.submit(run_instance, spec, key=spec.key, pure=False)
    pgid_file = Path(spec.work_dir) / "pgid"
    wait_until(lambda: read_pid(pgid_file) is not None, timeout=30)
    wait_until(lambda: len(_running_events(client, spec.key)) == 1)

    assert client.run(kill_instance, "job-nothere0/Task1/0/1", workers=[dask_node.address]) == {
        dask_node.address: False
    }
    killed_at = time.monotonic()
    assert client.run(kill_instance, spec.key, workers=[dask_node.address]) == {
        dask_node.address: True
    }
    result: InstanceResult = future.result(timeout=10)

    assert (result.exit_code, result.reason) == (None, "TERMINATED_BY_USER")
    pgid = read_pid(pgid_file)
    assert pgid is not None
    assert live_group_members(pgid) == []
    assert time.monotonic() - killed_at < 2.0 + 0.5  # + one round trip to fetch the result
