"""The tag filters of Describe* actions: `tag-key`, `tag-value` and `tag:<key>`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def is_tag_filter(name: str) -> bool:
    return name in ("tag-key", "tag-value") or name.startswith("tag:")


def matches(tags: Sequence[Mapping[str, str]], name: str, values: Sequence[str]) -> bool:
    """Whether a resource with `tags` passes one tag filter (its values are OR-ed)."""
    if name == "tag-key":
        return any(tag.get("Key") in values for tag in tags)
    if name == "tag-value":
        return any(tag.get("Value") in values for tag in tags)
    key = name.removeprefix("tag:")
    return any(tag.get("Key") == key and tag.get("Value") in values for tag in tags)
