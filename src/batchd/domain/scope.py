"""Who owns a resource: an account (AppId) in a region, and the one spelling of each region."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_REGION = 64  # regions are stored in 64-character columns
_REGION = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_REGION}}}")  # e.g. ap-guangzhou

# The CMQ data flow names regions by short names (its `Region` parameter, hosts such as
# cmq-gz.public.tencenttdmq.com); API 3.0 by long ones. They are one region (tdmq-api.md §3).
CMQ_SHORT_NAMES: dict[str, str] = {
    "gz": "ap-guangzhou",
    "sh": "ap-shanghai",
    "bj": "ap-beijing",
    "cd": "ap-chengdu",
    "cq": "ap-chongqing",
    "hk": "ap-hongkong",
    "sg": "ap-singapore",
    "sgp": "ap-singapore",
    "th": "ap-bangkok",
    "bkk": "ap-bangkok",
    "in": "ap-mumbai",
    "kr": "ap-seoul",
    "jp": "ap-tokyo",
    "usw": "na-siliconvalley",
    "use": "na-ashburn",
    "ca": "na-toronto",
    "de": "eu-frankfurt",
    "fra": "eu-frankfurt",
    "shjr": "ap-shanghai-fsi",
    "szjr": "ap-shenzhen-fsi",
}


def is_region(name: str) -> bool:
    """Whether `name` can be a region: every protocol accepts the same names."""
    return _REGION.fullmatch(name) is not None


def canonical_region(name: str) -> str:
    """The name a region is stored under: a CMQ short name means its long name."""
    return CMQ_SHORT_NAMES.get(name, name)


@dataclass(frozen=True, slots=True)
class Scope:
    account: str
    region: str
