"""Where the compute nodes of each zone come from: the `zones` setting.

By default every zone's environments get nodes that batchd starts itself (`local`: worker
processes on this machine, one Dask cluster per environment). A zone may instead name

- an existing Dask scheduler (`tcp://host:8786`): batchd then starts no workers in that zone; the
  operator runs them against that scheduler (`dask worker ADDRESS --name NAME`, on any machine)
  and attaches them to environments (AttachInstances). Environments of such a zone share the
  scheduler and keep their work apart;
- a Dask cluster manager class (`cluster:dask_jobqueue.SLURMCluster`, with options in the file
  form): one cluster of it per environment, and batchd starts each node as one worker of it
  (a Slurm or PBS job through dask-jobqueue, a process through LocalCluster).

The setting is a table of zone → source; `*` names the source of every zone not listed:

    [zones]                              # batchd.toml
    "ap-guangzhou-3" = "tcp://10.0.0.5:8786"
    "ap-guangzhou-4" = { cluster = "dask_jobqueue.SLURMCluster", options = { cores = 1 } }
    "*" = "local"

    BATCHD_ZONES="ap-guangzhou-3=tcp://10.0.0.5:8786"   # the flag or variable form
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

LOCAL = "local"
EVERY_ZONE = "*"
SCHEDULER_SCHEMES = ("tcp://", "tls://", "ucx://", "ws://", "wss://")
CLUSTER_PREFIX = "cluster:"


class ZonesError(ValueError):
    """The zones setting is wrong; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class NodeSource:
    """The nodes of one zone: batchd's own workers (neither field), an existing scheduler's
    workers (`scheduler`), or workers of a cluster manager class (`cluster`, `options`)."""

    scheduler: str = ""
    cluster: str = ""  # "module.Class"
    options: dict[str, Any] = field(default_factory=dict)  # the class's keyword arguments

    @property
    def starts_nodes(self) -> bool:
        """batchd creates nodes here (CreateComputeEnv, ModifyComputeEnv, anonymous envs)."""
        return not self.scheduler

    @property
    def is_local(self) -> bool:
        return not self.scheduler and not self.cluster

    def __str__(self) -> str:
        if self.cluster:
            options = json.dumps(self.options, sort_keys=True, default=str)
            return f"{CLUSTER_PREFIX}{self.cluster} {options}"
        return self.scheduler or LOCAL


@dataclass(frozen=True, slots=True)
class ZoneSources:
    """The parsed setting: zone → its node source, with a default for every other zone."""

    table: tuple[tuple[str, NodeSource], ...] = ()

    def of(self, zone: str) -> NodeSource:
        by_zone = dict(self.table)
        return by_zone.get(zone) or by_zone.get(EVERY_ZONE) or NodeSource()

    @property
    def others(self) -> dict[str, NodeSource]:
        """Every source but batchd's own workers that some zone names, by its str()."""
        return {str(source): source for _, source in self.table if not source.is_local}


def parse(raw: str | Mapping[str, object]) -> ZoneSources:
    """The setting from its file form (a TOML table) or its flag form ("zone=source,…")."""
    pairs: list[tuple[str, object]] = []
    if isinstance(raw, str):
        for item in filter(None, (part.strip() for part in raw.split(","))):
            zone, sep, given = item.partition("=")
            if not sep:
                raise ZonesError(
                    f"zones: {item!r} names no source: write ZONE=local or ZONE=tcp://HOST:PORT"
                )
            pairs.append((zone.strip(), given.strip()))
    else:
        pairs = list(raw.items())
    table: dict[str, NodeSource] = {}
    for zone, source in pairs:
        if not zone:
            raise ZonesError("zones: a source names no zone: write ZONE=SOURCE, or *=SOURCE")
        if zone in table:
            raise ZonesError(f"zones: zone {zone!r} is given twice")
        table[zone] = _source(zone, source)
    return ZoneSources(tuple(table.items()))


def _source(zone: str, source: object) -> NodeSource:
    if source == LOCAL:
        return NodeSource()
    if isinstance(source, str) and source.startswith(CLUSTER_PREFIX):
        return _cluster(zone, source.removeprefix(CLUSTER_PREFIX), {})
    if isinstance(source, Mapping):
        unknown = set(source) - {"cluster", "options"}
        options = source.get("options", {})
        if unknown or not isinstance(options, Mapping):
            raise ZonesError(
                f"zones: zone {zone!r} is a table of cluster = 'module.Class' and options = "
                f"{{ … }}, not {dict(source)!r}"
            )
        return _cluster(zone, source.get("cluster"), dict(options))
    if isinstance(source, str) and source.startswith(SCHEDULER_SCHEMES):
        host = source.split("://", 1)[1]
        if host and ":" in host.rsplit("]", 1)[-1]:
            return NodeSource(scheduler=source)
    raise ZonesError(
        f"zones: the source of zone {zone!r} is {source!r}: use {LOCAL!r} (batchd starts the "
        "nodes), the address of a Dask scheduler with its port, e.g. 'tcp://10.0.0.5:8786', or "
        "a Dask cluster manager class, e.g. 'cluster:dask_jobqueue.SLURMCluster'"
    )


def _cluster(zone: str, path: object, options: dict[str, Any]) -> NodeSource:
    parts = path.split(".") if isinstance(path, str) else []
    if len(parts) < 2 or not all(part.isidentifier() for part in parts):
        raise ZonesError(
            f"zones: the cluster manager of zone {zone!r} is {path!r}: name its class with its "
            "module, e.g. 'dask_jobqueue.SLURMCluster' or 'distributed.LocalCluster'"
        )
    if not all(isinstance(name, str) and name.isidentifier() for name in options):
        raise ZonesError(f"zones: the options of zone {zone!r} must be keyword arguments")
    return NodeSource(cluster=str(path), options=options)
