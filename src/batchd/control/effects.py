"""What a unit of work asks the compute backend to do once it has committed."""

from __future__ import annotations

from dataclasses import dataclass, field

from batchd.compute.backend import NodeSize
from batchd.compute.runner import InstanceSpec


@dataclass(frozen=True, slots=True)
class Kill:
    """Stop an attempt; `restart_node`: then restart the node it runs on (TerminateTaskInstance
    in a named environment, batch-api.md)."""

    env_id: str
    key: str
    reason: str
    restart_node: bool = False


@dataclass
class Effects:
    open_envs: list[str] = field(default_factory=list)
    add_nodes: dict[str, list[NodeSize]] = field(default_factory=dict)
    submit: list[tuple[str, InstanceSpec]] = field(default_factory=list)
    kill: list[Kill] = field(default_factory=list)
    remove_nodes: dict[str, list[str]] = field(default_factory=dict)
    close_envs: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.open_envs,
                self.add_nodes,
                self.submit,
                self.kill,
                self.remove_nodes,
                self.close_envs,
            )
        )
