"""PHP/Laravel bracket query notation (``a[b][0][c]=v``, ``a[]=v``) parsed into nested values."""

import re
from collections.abc import Iterable
from typing import Any

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


def _segments(key: str) -> list[str]:
    """Split ``a[b][]`` into ``["a", "b", ""]``; a key with malformed brackets stays whole."""
    start = key.find("[")
    if start <= 0:
        return [key]
    rest = key[start:]
    parts = _SEGMENT.findall(rest)
    if "".join(f"[{p}]" for p in parts) != rest:
        return [key]
    return [key[:start], *parts]


def _listify(node: Any) -> Any:
    """Turn dicts whose keys are all integers into lists ordered by key, recursively."""
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def parse_brackets(items: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Parse query items in bracket notation into nested dicts and lists, as PHP does.

    ``[]`` appends (next integer key); dicts keyed only by integers become lists ordered by
    key. A later scalar replaces an earlier one, as in PHP.

    Raises:
        ValueError: a key is used both as a scalar and as a container (``a=1&a[b]=2``).
    """
    root: dict[str, Any] = {}
    for key, value in items:
        parts = _segments(key)
        node = root
        for depth, part in enumerate(parts):
            name = str(len(node)) if part == "" else part
            if depth == len(parts) - 1:
                node[name] = value
                break
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise ValueError(f"query key {key!r} mixes a value and a nested array")
            node = child
    result: dict[str, Any] = {k: _listify(v) for k, v in root.items()}
    return result
