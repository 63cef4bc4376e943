"""The compute-node machine's pure parts: the waits before replacing a failed creation."""

from __future__ import annotations

import pytest

from batchd.domain import node


@pytest.mark.parametrize(
    ("replacement", "seconds"),
    [(1, 600), (3, 600), (4, 900), (10, 900), (11, 1800), (50, 1800), (51, 3600), (100, 3600)],
)
def test_replacements_wait_as_the_cloud_does(replacement: int, seconds: int) -> None:
    assert node.recreate_wait_s(replacement) == seconds
