"""Where the compute nodes of each zone come from: the `zones` setting.

By default every zone's environments get nodes that batchd starts itself (`local`: worker
processes on this machine, one Dask cluster per environment). A zone may instead name an existing
Dask scheduler (`tcp://host:8786`): batchd then starts no workers in that zone; the operator runs
them against that scheduler (`dask worker ADDRESS --name NAME`, on any machine) and attaches them
to environments (AttachInstances). Environments of such a zone share the scheduler and keep their
work apart.

The setting is a table of zone → source; `*` names the source of every zone not listed:

    [zones]                              # batchd.toml
    "ap-guangzhou-3" = "tcp://10.0.0.5:8786"
    "*" = "local"

    BATCHD_ZONES="ap-guangzhou-3=tcp://10.0.0.5:8786"   # the same, as a flag or variable
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LOCAL = "local"
EVERY_ZONE = "*"
SCHEDULER_SCHEMES = ("tcp://", "tls://", "ucx://", "ws://", "wss://")


class ZonesError(ValueError):
    """The zones setting is wrong; the message says what to write instead."""


@dataclass(frozen=True, slots=True)
class NodeSource:
    """The nodes of one zone: started by batchd ("" scheduler), or an existing scheduler's."""

    scheduler: str = ""

    @property
    def starts_nodes(self) -> bool:
        """batchd creates nodes here (CreateComputeEnv, ModifyComputeEnv, anonymous envs)."""
        return not self.scheduler

    def __str__(self) -> str:
        return self.scheduler or LOCAL


@dataclass(frozen=True, slots=True)
class ZoneSources:
    """The parsed setting: zone → its node source, with a default for every other zone."""

    table: tuple[tuple[str, NodeSource], ...] = ()

    def of(self, zone: str) -> NodeSource:
        by_zone = dict(self.table)
        return by_zone.get(zone) or by_zone.get(EVERY_ZONE) or NodeSource()

    @property
    def schedulers(self) -> frozenset[str]:
        """Every existing scheduler some zone names."""
        return frozenset(source.scheduler for _, source in self.table if source.scheduler)


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
    if isinstance(source, str) and source.startswith(SCHEDULER_SCHEMES):
        host = source.split("://", 1)[1]
        if host and ":" in host.rsplit("]", 1)[-1]:
            return NodeSource(scheduler=source)
    raise ZonesError(
        f"zones: the source of zone {zone!r} is {source!r}: use {LOCAL!r} (batchd starts the "
        "nodes) or the address of a Dask scheduler with its port, e.g. 'tcp://10.0.0.5:8786'"
    )
