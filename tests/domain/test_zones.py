"""The zones setting: where each zone's compute nodes come from."""

from __future__ import annotations

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
    assert flag.schedulers == {"tcp://10.0.0.5:8786"}


def test_a_star_names_the_source_of_every_zone_not_listed() -> None:
    sources = parse("*=tls://[::1]:8786,ap-guangzhou-2=local")
    assert sources.of("ap-guangzhou-9").scheduler == "tls://[::1]:8786"
    assert sources.of("ap-guangzhou-2").starts_nodes


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("ap-guangzhou-3", "names no source"),
        ("=local", "names no zone"),
        ("ap-guangzhou-3=local,ap-guangzhou-3=local", "given twice"),
        ("ap-guangzhou-3=10.0.0.5:8786", "use 'local'"),
        ("ap-guangzhou-3=tcp://10.0.0.5", "use 'local'"),
        ({"ap-guangzhou-3": 8786}, "use 'local'"),
    ],
)
def test_a_wrong_setting_says_what_to_write(raw: str | dict[str, object], says: str) -> None:
    with pytest.raises(ZonesError, match=says):
        parse(raw)
