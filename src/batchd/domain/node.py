"""The compute-node state machine (batch-api.md §4.7) and node sizing from instance types."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from batchd.domain.instance import InvalidTransition
from batchd.domain.states import NodeState

N = NodeState

# ResourceOrigin: a node batchd started, or an external Dask worker attached by AttachInstances.
# DesiredComputeNodeCount counts only BATCH_CREATED nodes: attached ones come and go by request.
BATCH_CREATED = "BATCH_CREATED"
USER_ATTACHED = "USER_ATTACHED"


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    node_id: str
    instance_id: str  # ins-xxxxxxxx: the node's "machine"
    env_id: str
    state: NodeState = N.SUBMITTED
    cpu: int = 1
    mem_gib: int = 1
    address: str = ""  # the Dask worker address once registered
    reason: str = ""
    created_ms: int | None = None  # ResourceCreatedTime: when the worker came up
    origin: str = BATCH_CREATED
    start_after_ms: int | None = None  # a replacement waits until then before it is created


Result = tuple[Node, list[str]]

_EVENTS = {
    N.CREATED: "COMPUTE_NODE_CREATED",
    N.CREATION_FAILED: "COMPUTE_NODE_CREATION_FAILED",
    N.RUNNING: "COMPUTE_NODE_RUNNING",
    N.ABNORMAL: "COMPUTE_NODE_ABNORMAL",
    N.DELETING: "COMPUTE_NODE_DELETING",
}
_ALLOWED: dict[NodeState, frozenset[NodeState]] = {
    N.CREATING: frozenset({N.SUBMITTED}),
    N.CREATED: frozenset({N.CREATING}),
    N.CREATION_FAILED: frozenset({N.SUBMITTED, N.CREATING}),
    N.RUNNING: frozenset({N.CREATED, N.ABNORMAL}),
    N.ABNORMAL: frozenset({N.CREATED, N.RUNNING}),
    N.DELETING: frozenset(set(N) - {N.DELETING}),
}


def move(node: Node, to: NodeState, **changes: object) -> Result:
    """Move `node` to `to`, applying `changes`; returns the event the move fires."""
    if node.state not in _ALLOWED.get(to, frozenset()):
        raise InvalidTransition("compute node", node.state, f"move to {to}")
    updated = dataclasses.replace(node, state=to, **changes)  # type: ignore[arg-type]
    event = _EVENTS.get(to)
    return updated, [event] if event else []


# How long the cloud waits before replacing a node whose creation failed, by the replacement's
# number (batch-api.md, Task.ResourceMaxRetryCount): (last replacement of the band, seconds).
_RECREATE_WAITS = ((3, 600), (10, 900), (50, 1800))
_RECREATE_WAIT_AFTER = 3600


def recreate_wait_s(replacement: int) -> int:
    """Seconds to wait before the `replacement`-th new node (1-based) is created."""
    for last, seconds in _RECREATE_WAITS:
        if replacement <= last:
            return seconds
    return _RECREATE_WAIT_AFTER


def counts_as_desired(node: Node) -> bool:
    """Whether `node` is one of the env's DesiredComputeNodeCount (attached ones are not)."""
    return node.origin == BATCH_CREATED


TERMINABLE = frozenset({N.CREATED, N.CREATION_FAILED, N.RUNNING, N.ABNORMAL})
# Nodes that run work or may yet run it (an ABNORMAL node's Nanny restarts its worker).
ALIVE = frozenset({N.SUBMITTED, N.CREATING, N.CREATED, N.RUNNING, N.ABNORMAL})
# StateReason of the task instances that a failed node creation hits (batch-api.md §4.6).
CREATION_FAILED_REASON = "COMPUTE_NODE_CREATION_FAILED"

_SIZES = {"SMALL": 1, "MEDIUM": 2, "LARGE": 4}
_TYPE = re.compile(r"[A-Z0-9]+\.(?:(?P<n>\d+)XLARGE|(?P<size>SMALL|MEDIUM|LARGE))(?P<mem>\d+)")


def size_of_instance_type(instance_type: str) -> tuple[int, int] | None:
    """(cores, GiB) from a cloud instance type name (`S5.MEDIUM4` → 2, 4), or None."""
    match = _TYPE.fullmatch(instance_type.upper())
    if match is None:
        return None
    cores = 4 * int(match["n"]) if match["n"] else _SIZES[match["size"]]
    return cores, int(match["mem"])
