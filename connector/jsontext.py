"""JSON text in and out: parsing with exact numbers, and writing values back exactly.

Pure. ``parse_json`` keeps numbers exact (``Decimal``), turns ``NaN``/``Infinity`` tokens into
:class:`NonFinite` and flags keys repeated with different values, so normalization can reject
the one record instead of failing the page.
"""

import json
from decimal import Decimal
from typing import Any

import orjson


class NonFinite:
    """A ``NaN``/``Infinity`` token met while parsing; kept so the one record can be rejected."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return self.token


class DuplicateKeys:
    """Marker key added to an object whose JSON repeated a key with *different* values."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<duplicate keys>"


DUPLICATE = DuplicateKeys()


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[Any, Any]:
    obj: dict[Any, Any] = dict(pairs)
    if len(obj) != len(pairs):
        seen: dict[str, Any] = {}
        clashes = []
        for key, value in pairs:
            if key in seen and seen[key] != value:
                clashes.append(key)
            seen[key] = value
        if clashes:
            obj[DUPLICATE] = sorted(set(clashes))
    return obj


def parse_json(body: bytes | str) -> Any:
    """Parse JSON with numbers as ``Decimal``/``int`` (never float).

    ``NaN``/``Infinity`` become :class:`NonFinite` and keys repeated with different values are
    flagged under :data:`DUPLICATE`, so normalization can reject just that record; keys repeated
    with the same value (the Unleashed example's ``Total``) are accepted, last one wins.

    Raises:
        ValueError: the text is not JSON (``json.JSONDecodeError``) or nests too deeply.
    """
    try:
        return json.loads(
            body, parse_float=Decimal, parse_constant=NonFinite, object_pairs_hook=_pairs_hook
        )
    except RecursionError:
        raise TooDeepError("JSON nests too deeply for the recursive parser") from None


class TooDeepError(ValueError):
    """The text nests deeper than the recursive parser allows; an iterative parser is needed."""


def decimal_fragment(obj: Any) -> Any:
    """Orjson ``default``: a finite Decimal as its exact digits; anything else is refused."""
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise TypeError("non-finite number")
        return orjson.Fragment(str(obj))
    if isinstance(obj, NonFinite):
        raise TypeError(f"non-finite number {obj.token}")
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def raw_text(record: Any) -> str:
    """The record as JSON text for ``connector.rejects.raw_payload``; always storable as text.

    Numbers stay exact; NUL characters come out escaped; text that is not valid Unicode falls
    back to an ASCII-escaped dump.
    """

    def fallback(obj: Any) -> Any:
        if isinstance(obj, Decimal | NonFinite):
            return orjson.Fragment(str(obj))
        return repr(obj)

    try:
        cleaned = _without_markers(record)
        try:
            return orjson.dumps(cleaned, default=fallback).decode()
        except (TypeError, orjson.JSONEncodeError):
            return json.dumps(cleaned, ensure_ascii=True, default=str)
    except RecursionError:
        doc_id = record.get("id") if isinstance(record, dict) else None
        return json.dumps(
            {"id": doc_id if isinstance(doc_id, int | str) else None,
             "_unstorable": "the record nests too deeply to keep a copy"}
        )  # fmt: skip


def _without_markers(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _without_markers(v) for k, v in obj.items() if not isinstance(k, DuplicateKeys)}
    if isinstance(obj, list):
        return [_without_markers(v) for v in obj]
    return obj
