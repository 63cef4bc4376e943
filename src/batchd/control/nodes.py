"""Environments and nodes in a controller tick: start requested nodes, follow Dask membership,
tear down deleting environments."""

from __future__ import annotations

import dataclasses
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


@dataclass(frozen=True, slots=True)
class Membership:
    """A node joined, left, or failed to start, as the backend saw it."""

    env_id: str
    node_id: str
    kind: str  # "joined" | "left" | "failed"
    address: str = ""
    error: str = ""


def apply_membership(
    tx: Tx, notifier: Notifier, item: Membership, now_ms: int, effects: Effects
) -> None:
    env = repo.by_id(tx.conn, item.env_id)
    node = (
        next((n for n in repo.nodes_of(tx.conn, env) if n.node_id == item.node_id), None)
        if env is not None
        else None
    )
    if env is None or node is None:
        if item.kind == "joined":  # a worker of a node we no longer know: stop it
            effects.remove_nodes.setdefault(item.env_id, []).append(item.node_id)
        return
    try:
        if item.kind == "joined":
            _joined(tx, notifier, env, node, item.address, now_ms, effects)
        elif item.kind == "left":
            _left(tx, notifier, env, node, now_ms)
        else:
            _failed(tx, notifier, env, node, item.error, now_ms)
    except InvalidTransition:
        pass  # a late or repeated report about a node that has moved on


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


def _failed(tx: Tx, notifier: Notifier, env: Env, node: Node, error: str, now_ms: int) -> None:
    _save(tx, notifier, env, machine.move(node, N.CREATION_FAILED, reason=error), now_ms)
    repo.finish_activity(tx.conn, node.node_id, "CREATE_COMPUTE_NODE", "FAILED", error, now_ms)


def request_nodes(tx: Tx, env: Env, count: int, now_ms: int) -> None:
    """Add `count` SUBMITTED nodes to an environment (started by the next tick)."""
    for _ in range(count):
        node = Node(
            node_id=ids.new_node_id(),
            instance_id=ids.new_instance_id(),
            env_id=env.env_id,
            cpu=env.cpu,
            mem_gib=env.mem_gib,
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


def step_env(tx: Tx, notifier: Notifier, env: Env, now_ms: int, effects: Effects) -> None:
    """Start requested nodes; tear a deleting environment down."""
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
        return
    starting = []
    for node in nodes:
        if node.state is N.SUBMITTED:
            creating = dataclasses.replace(node, state=N.CREATING)
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


def restart(tx: Tx, notifier: Notifier, env: Env, node: Node, now_ms: int) -> bool:
    """After batchd restarted: a node whose worker died with it is reported ABNORMAL and must be
    started again (True); SUBMITTED nodes start with the next tick anyway."""
    if node.state in (N.CREATED, N.RUNNING):
        _save(tx, notifier, env, machine.move(node, N.ABNORMAL, reason="batchd restarted"), now_ms)
        return True
    return node.state in (N.CREATING, N.ABNORMAL)
