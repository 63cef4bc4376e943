"""Which URIs a file mapping may name (batch-api.md §4.8): local paths and ``file://`` both
ways, ``http(s)://`` only to read from. One rule for the requests, refused when submitted, and
for the nodes' staging.
"""

from __future__ import annotations

import re
from typing import Literal

# input: a mapping's source; package: PackagePath; output: where a file is copied to
# (OutputMappings, RedirectInfo); local: a path on the node (an input's destination,
# RedirectLocalInfo).
Direction = Literal["input", "package", "output", "local"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_READ_ONLY = ("http", "https")
_WHAT = {
    "input": "an input's source",
    "package": "a package",
    "output": "a destination",
    "local": "a path on the compute node",
}


def has_scheme(uri: str) -> bool:
    """Whether `uri` is a URL (`scheme://…`) rather than a plain path."""
    return _SCHEME.match(uri) is not None


def scheme_of(uri: str) -> str:
    """The URI's scheme, lower case; "file" for a plain path."""
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else "file"


def refusal(uri: str, direction: Direction) -> str | None:
    """Why `uri` cannot serve as `direction`, or None when it can."""
    scheme = scheme_of(uri)
    readable = direction in ("input", "package")
    if scheme == "file" or (readable and scheme in _READ_ONLY):
        return None
    supported = "a local path or a file:// URL" + (", or http(s)://" if readable else "")
    return f"unsupported URI scheme '{scheme}://' in {uri}: {_WHAT[direction]} is {supported}"
