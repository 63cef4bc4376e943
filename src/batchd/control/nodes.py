"""Environments and nodes in a controller tick: start requested nodes, follow Dask membership,
replace nodes whose creation failed, tear down deleting environments.

ActionIfComputeNodeInactive=RECREATE covers nodes whose creation failed: each is replaced by a new
node, at most ResourceMaxRetryCount times per environment, after the cloud's wait (600 s for the
first three replacements, up to an hour later on) scaled by --node-recreate-wait-scale; the
waiting replacement is a SUBMITTED node with a start time, and the controller sets a timer for
it. A node that died after it was created is not replaced: its Nanny starts a fresh worker
process under the same node id and the node goes ABNORMAL → RUNNING by itself; after a batchd
restart `restart` starts it again. A node that stays ABNORMAL stays so until
TerminateComputeNode.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from batchd.compute.backend import NodeSize
from batchd.control.effects import Effects
from batchd.control.notify import Notifier
from batchd.control.record import env_event, node_event
from batchd.domain import ids
from batchd.domain import node as machine
from batchd.domain.instance import InvalidTransition
from batchd.domain.job import Env
from batchd.domain.node import Node
from batchd.domain.states import NodeState
from batchd.store.database import Tx
from batchd.store.repos import envs as repo

N = NodeState
_NODE_ID = re.compile(r"node-[a-z0-9]{8}")  # how batchd names the workers it starts


@dataclass(frozen=True, slots=True)
class CreationFailed:
    """A node creation of a task's own environment failed and no other node of it is alive
    or coming: the task's waiting attempts have nowhere to run (StateIfCreateCvmFailed)."""

    env_id: str
    job_id: str
    task_name: str


@dataclass(frozen=True, slots=True)
class Membership:
    """A node joined, left, or failed to start, as the backend saw it."""

    env_id: str
    node_id: str
    kind: str  # "joined" | "left" | "failed"
    address: str = ""
    error: str = ""


def apply_membership(
    tx: Tx,
    notifier: Notifier,
    item: Membership,
    now_ms: int,
    effects: Effects,
    recreate_wait_scale: float = 1.0,
) -> CreationFailed | None:
    """Apply what the backend saw; answers what a failed creation means for a task's own
    environment, for the controller to fail or requeue the task's waiting attempts."""
    env = repo.by_id(tx.conn, item.env_id)
    node = (
        next((n for n in repo.nodes_of(tx.conn, env) if n.node_id == item.node_id), None)
        if env is not None
        else None
    )
    if env is None or node is None:
        # A worker of a node we no longer know: stop it. A worker of another name is an
        # external one waiting for AttachInstances: it gets no work, and it is not ours to stop.
        if item.kind == "joined" and _NODE_ID.fullmatch(item.node_id):
            effects.remove_nodes.setdefault(item.env_id, []).append(item.node_id)
        return None
    try:
        if item.kind == "joined":
            _joined(tx, notifier, env, node, item.address, now_ms, effects)
        elif item.kind == "left":
            _left(tx, notifier, env, node, now_ms)
        elif node.origin == machine.USER_ATTACHED:  # not ours to replace (RECREATE)
            _attach_failed(tx, notifier, env, node, item.error, now_ms)
        else:
            return _failed(
                tx, notifier, env, node, item.error, now_ms, effects, recreate_wait_scale
            )
    except InvalidTransition:
        pass  # a late or repeated report about a node that has moved on
    return None


def _save(
    tx: Tx, notifier: Notifier, env: Env, result: tuple[Node, list[str]], now_ms: int
) -> Node:
    node, names = result
    repo.save_node(tx.conn, node)
    node_event(tx, notifier, env, node, names, now_ms)
    return node


def _joined(
    tx: Tx,
    notifier: Notifier,
    env: Env,
    node: Node,
    address: str,
    now_ms: int,
    effects: Effects,
) -> None:
    if node.state is N.DELETING:
        effects.remove_nodes.setdefault(env.env_id, []).append(node.node_id)
        return
    if node.state is N.RUNNING:  # restarted on purpose (RestartComputeNode): a new address
        if address and address != node.address:
            repo.save_node(tx.conn, dataclasses.replace(node, address=address))
        return
    if node.state is N.CREATING:
        node = _save(
            tx,
            notifier,
            env,
            machine.move(node, N.CREATED, address=address, created_ms=now_ms, reason=""),
            now_ms,
        )
        repo.finish_activity(tx.conn, node.node_id, "CREATE_COMPUTE_NODE", "SUCCEED", "", now_ms)
    _save(tx, notifier, env, machine.move(node, N.RUNNING, address=address, reason=""), now_ms)


def _left(tx: Tx, notifier: Notifier, env: Env, node: Node, now_ms: int) -> None:
    if node.state is N.DELETING:
        repo.delete_node(tx.conn, node.node_id)
        repo.finish_activity(tx.conn, node.node_id, "TERMINATE_COMPUTE_NODE", "SUCCEED", "", now_ms)
        return
    _save(
        tx,
        notifier,
        env,
        machine.move(node, N.ABNORMAL, reason="the worker process was lost"),
        now_ms,
    )


def _failed(
    tx: Tx,
    notifier: Notifier,
    env: Env,
    node: Node,
    error: str,
    now_ms: int,
    effects: Effects,
    wait_scale: float,
) -> CreationFailed | None:
    """CREATING → CREATION_FAILED; with ActionIfComputeNodeInactive=RECREATE (the only value)
    the node is replaced by a new one (→ DELETING, removed; the new one waits its turn) while
    the env's failed creations stay within ResourceMaxRetryCount, else it is kept and its
    activity says why."""
    reason = (
        f"the compute node could not be created: {error}; see the batchd log, and on a slow "
        "machine raise --node-start-timeout (BATCHD_NODE_START_TIMEOUT)"
    )
    failed = _save(tx, notifier, env, machine.move(node, N.CREATION_FAILED, reason=reason), now_ms)
    failures = repo.count_creation_failure(tx.conn, env)
    others = [
        n
        for n in repo.nodes_of(tx.conn, env)
        if n.node_id != node.node_id and n.state in machine.ALIVE
    ]
    replace = not env.deleting and failures <= env.resource_max_retry
    wait_s = machine.recreate_wait_s(failures) * wait_scale
    if replace:
        outcome = (
            f"{reason}; replaced by a new node in {wait_s:g} s ({failures} of "
            f"ResourceMaxRetryCount {env.resource_max_retry} replacements used)"
        )
    else:
        outcome = (
            f"{reason}; not replaced: ResourceMaxRetryCount {env.resource_max_retry} allows no "
            "more replacements in this environment"
        )
        if env.anonymous_job_id is None:
            outcome += (
                "; terminate the node (TerminateComputeNode) and raise DesiredComputeNodeCount "
                "(ModifyComputeEnv) to start another"
            )
    repo.finish_activity(tx.conn, node.node_id, "CREATE_COMPUTE_NODE", "FAILED", outcome, now_ms)
    if replace:
        start_deleting(
            tx, notifier, env, failed, now_ms, effects, f"RecreateComputeNode {node.node_id}"
        )
        waiting = f"replaces {node.node_id}, whose creation failed: created in {wait_s:g} s"
        request_nodes(tx, env, 1, now_ms, start_after_ms=now_ms + int(wait_s * 1000), why=waiting)
    if env.anonymous_job_id and env.anonymous_task and not others:
        return CreationFailed(env.env_id, env.anonymous_job_id, env.anonymous_task)
    return None


def request_nodes(
    tx: Tx,
    env: Env,
    count: int,
    now_ms: int,
    start_after_ms: int | None = None,
    why: str = "",
) -> None:
    """Add `count` SUBMITTED nodes to an environment, started by the first tick from
    `start_after_ms` on (the next one by default)."""
    for _ in range(count):
        node = Node(
            node_id=ids.new_node_id(),
            instance_id=ids.new_instance_id(),
            env_id=env.env_id,
            cpu=env.cpu,
            mem_gib=env.mem_gib,
            reason=why,
            start_after_ms=start_after_ms,
        )
        repo.insert_node(tx.conn, env, node, now_ms)


def start_deleting(
    tx: Tx,
    notifier: Notifier,
    env: Env,
    node: Node,
    now_ms: int,
    effects: Effects,
    cause: str,
) -> None:
    """Any → DELETING: fires COMPUTE_NODE_DELETING and asks the backend to stop the worker."""
    if node.state is N.DELETING:
        return
    deleting = _save(tx, notifier, env, machine.move(node, N.DELETING), now_ms)
    repo.add_activity(
        tx.conn, env, ids.new_activity_id(), deleting, "TERMINATE_COMPUTE_NODE", cause, now_ms
    )
    if node.state in (N.SUBMITTED, N.CREATION_FAILED):
        # No worker exists: the node is gone as soon as it is deleting.
        repo.delete_node(tx.conn, node.node_id)
        repo.finish_activity(tx.conn, node.node_id, "TERMINATE_COMPUTE_NODE", "SUCCEED", "", now_ms)
        return
    effects.remove_nodes.setdefault(env.env_id, []).append(node.node_id)


def step_env(tx: Tx, notifier: Notifier, env: Env, now_ms: int, effects: Effects) -> int | None:
    """Start requested nodes whose time has come; tear a deleting environment down. Answers
    when the next requested node is due (ms), if one still waits."""
    nodes = repo.nodes_of(tx.conn, env)
    if env.deleting:
        for node in nodes:
            start_deleting(
                tx, notifier, env, node, now_ms, effects, f"DeleteComputeEnv {env.env_id}"
            )
        if not repo.nodes_of(tx.conn, env):
            env_event(tx, notifier, env, "COMPUTE_ENV_DELETED", now_ms, deleted_ms=now_ms)
            repo.delete_env(tx.conn, env)
            effects.close_envs.append(env.env_id)
        return None
    starting = []
    due: list[int] = []
    for node in nodes:
        if node.state is N.SUBMITTED and (node.start_after_ms or 0) > now_ms:
            due.append(node.start_after_ms or 0)
        elif node.state is N.SUBMITTED:
            creating = dataclasses.replace(node, state=N.CREATING, reason="")
            repo.save_node(tx.conn, creating)
            repo.add_activity(
                tx.conn,
                env,
                ids.new_activity_id(),
                creating,
                "CREATE_COMPUTE_NODE",
                f"CreateComputeNode {node.node_id}",
                now_ms,
            )
            starting.append(NodeSize(node.node_id, node.cpu, node.mem_gib))
    if starting:
        effects.add_nodes.setdefault(env.env_id, []).extend(starting)
    return min(due, default=None)


def restart(tx: Tx, notifier: Notifier, env: Env, node: Node, now_ms: int) -> bool:
    """After batchd restarted: a node whose worker died with it is reported ABNORMAL and must be
    started again (True); SUBMITTED nodes start with the next tick anyway."""
    if node.state is N.DELETING:
        # Its worker ended with the server (or the leader) that was stopping it: it is gone.
        _left(tx, notifier, env, node, now_ms)
        return False
    if node.origin == machine.USER_ATTACHED:
        # Its worker knew the scheduler that ended with batchd; batchd does not start it.
        why = "batchd restarted: detach the instance, and attach it again once it is connected"
        if node.state in (N.CREATED, N.RUNNING):
            _save(tx, notifier, env, machine.move(node, N.ABNORMAL, reason=why), now_ms)
        elif node.state is N.CREATING:
            _attach_failed(tx, notifier, env, node, why, now_ms)
        return False
    if node.state in (N.CREATED, N.RUNNING):
        _save(tx, notifier, env, machine.move(node, N.ABNORMAL, reason="batchd restarted"), now_ms)
        return True
    return node.state in (N.CREATING, N.ABNORMAL)


# --- external workers (AttachInstances / DetachInstances) ------------------------------------


def attach(
    tx: Tx, env: Env, instance_id: str, size: tuple[int, int], now_ms: int, cause: str
) -> Node:
    """A USER_ATTACHED node for an external worker: CREATING until the backend has made the
    worker a node, then CREATED → RUNNING by membership, like a node batchd started."""
    node = Node(
        node_id=ids.new_node_id(),
        instance_id=instance_id,
        env_id=env.env_id,
        state=N.CREATING,
        cpu=size[0],
        mem_gib=size[1],
        origin=machine.USER_ATTACHED,
    )
    repo.insert_node(tx.conn, env, node, now_ms)
    repo.add_activity(
        tx.conn, env, ids.new_activity_id(), node, "CREATE_COMPUTE_NODE", cause, now_ms
    )
    return node


def _attach_failed(
    tx: Tx, notifier: Notifier, env: Env, node: Node, error: str, now_ms: int
) -> None:
    """The worker could not be made a node; DetachInstances removes the node."""
    reason = f"the instance could not be attached: {error}"
    _save(tx, notifier, env, machine.move(node, N.CREATION_FAILED, reason=reason), now_ms)
    repo.finish_activity(tx.conn, node.node_id, "CREATE_COMPUTE_NODE", "FAILED", reason, now_ms)
