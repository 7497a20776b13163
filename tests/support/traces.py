"""Reading the trees ``billing trace --json`` prints."""

from __future__ import annotations

from typing import Any


def find_span(node: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The first span called ``name`` in the tree under ``node``, following children and linked traces."""
    if node["name"] == name:
        return node
    for child in (*node["children"], *node["linked"]):
        found = find_span(child, name)
        if found is not None:
            return found
    return None
