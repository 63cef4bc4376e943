"""Region names: a CMQ short name is its long name (tdmq-api.md §3); others stay as given."""

from __future__ import annotations

import pytest

from batchd.domain.scope import canonical_region


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("gz", "ap-guangzhou"),
        ("sh", "ap-shanghai"),
        ("sgp", "ap-singapore"),
        ("sg", "ap-singapore"),
        ("fra", "eu-frankfurt"),
        ("szjr", "ap-shenzhen-fsi"),
        ("ap-guangzhou", "ap-guangzhou"),
        ("my-own-region", "my-own-region"),
        ("GZ", "GZ"),  # short names are lower case, as the CMQ hosts spell them
    ],
)
def test_canonical_region(given: str, stored: str) -> None:
    assert canonical_region(given) == stored
