"""The zones setting: where each zone's compute nodes come from."""

from __future__ import annotations

from typing import Any

import pytest

from batchd.domain.zones import NodeSource, ZonesError, ZoneSources, parse


def test_every_zone_is_local_by_default() -> None:
    assert ZoneSources().of("ap-guangzhou-2") == NodeSource()
    assert NodeSource().starts_nodes


def test_the_flag_form_and_the_file_form_say_the_same() -> None:
    flag = parse("ap-guangzhou-3 = tcp://10.0.0.5:8786, * = local")
    table = parse({"ap-guangzhou-3": "tcp://10.0.0.5:8786", "*": "local"})
    assert flag == table
    assert flag.of("ap-guangzhou-3") == NodeSource(scheduler="tcp://10.0.0.5:8786")
    assert not flag.of("ap-guangzhou-3").starts_nodes
    assert flag.of("ap-shanghai-1").starts_nodes
    assert list(flag.others) == ["tcp://10.0.0.5:8786"]


def test_a_star_names_the_source_of_every_zone_not_listed() -> None:
    sources = parse("*=tls://[::1]:8786,ap-guangzhou-2=local")
    assert sources.of("ap-guangzhou-9").scheduler == "tls://[::1]:8786"
    assert sources.of("ap-guangzhou-2").starts_nodes


def test_a_cluster_manager_is_named_by_its_class_with_options_in_the_file_form() -> None:
    table = parse(
        {
            "ap-guangzhou-4": {"cluster": "dask_jobqueue.SLURMCluster", "options": {"cores": 1}},
            "ap-guangzhou-5": "cluster:distributed.LocalCluster",
        }
    )
    slurm = table.of("ap-guangzhou-4")
    assert (slurm.cluster, slurm.options, slurm.starts_nodes) == (
        "dask_jobqueue.SLURMCluster",
        {"cores": 1},
        True,
    )
    assert table.of("ap-guangzhou-5").cluster == "distributed.LocalCluster"
    assert not slurm.is_local
    assert len(table.others) == 2


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("ap-guangzhou-3", "names no source"),
        ("=local", "names no zone"),
        ("ap-guangzhou-3=local,ap-guangzhou-3=local", "given twice"),
        ("ap-guangzhou-3=10.0.0.5:8786", "use 'local'"),
        ("ap-guangzhou-3=tcp://10.0.0.5", "use 'local'"),
        ({"ap-guangzhou-3": 8786}, "use 'local'"),
        ("ap-guangzhou-4=cluster:SLURMCluster", "name its class with its module"),
        ({"ap-guangzhou-4": {"cluster": "a.B", "size": 2}}, "a table of cluster"),
        ({"ap-guangzhou-4": {"cluster": "a.B", "options": {"1x": 2}}}, "keyword arguments"),
    ],
)
def test_a_wrong_setting_says_what_to_write(raw: str | dict[str, Any], says: str) -> None:
    with pytest.raises(ZonesError, match=says):
        parse(raw)
