"""Compile a field spec into one straight-line extractor function (pure; a speed measure).

Normalizing is the connector's hottest loop (a load should be bounded by the API, not by us;
docs/architecture.md §2). A generic loop over ``(field, coercion, required)`` costs a call per
field; the compiled function checks the common case inline (an ``int`` in range, a finite
``Decimal``, a string without NUL, a timestamp seen before) and calls the coercion only for
anything else, so errors and their messages stay exactly those of ``common.py``.
"""

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from connector.normalize import common
from connector.normalize.common import FieldError

Coerce = Callable[..., Any]
FieldSpec = tuple[str, Coerce, bool]
Extractor = Callable[[Mapping[str, Any], str], list[Any]]

_MISSING = object()


def _fast_check(coerce: Coerce, v: str) -> str | None:
    if coerce is common.to_int:
        return f"type({v}) is int and {common.BIGINT_MIN} <= {v} <= {common.BIGINT_MAX}"
    if coerce is common.to_decimal:
        return f"type({v}) is Decimal and {v}.is_finite()"
    if coerce is common.to_text:
        return f"type({v}) is str and '\\x00' not in {v}"
    return None


def compile_extractor(fields: Sequence[FieldSpec], name: str = "extract") -> Extractor:
    """Return ``f(record, where) -> [values]`` equivalent to coercing each field in turn.

    ``where`` prefixes field names in errors (``"lines[3]."``); a missing required field
    raises :class:`FieldError` ``"is missing"``, a missing optional one gives None.
    """
    env: dict[str, Any] = {
        "MISSING": _MISSING,
        "FieldError": FieldError,
        "Decimal": Decimal,
        "ts_cache": common._TS_CACHE,
    }
    lines = [f"def {name}(record, where):", "    get = record.get"]
    out = []
    for i, (field, coerce, required) in enumerate(fields):
        v = f"v{i}"
        env[f"c{i}"] = coerce
        nullable = not required
        lines.append(f"    {v} = get({field!r}, MISSING)")
        slow = f"c{i}({v}, where + {field!r}, nullable={nullable})"
        missing = (
            f"raise FieldError(where + {field!r}, None, 'is missing')"
            if required
            else f"{v} = None"
        )
        check = _fast_check(coerce, v)
        if check is not None:
            lines += [
                f"    if not ({check}):",
                f"        if {v} is MISSING:",
                f"            {missing}",
                "        else:",
                f"            {v} = {slow}",
            ]
        elif coerce is common.to_utc:
            lines += [
                f"    hit = ts_cache.get({v}) if type({v}) is str else None",
                "    if hit is not None:",
                f"        {v} = hit",
                f"    elif {v} is MISSING:",
                f"        {missing}",
                "    else:",
                f"        {v} = {slow}",
            ]
        else:
            lines += [
                f"    if {v} is MISSING:",
                f"        {missing}",
                "    else:",
                f"        {v} = {slow}",
            ]
        out.append(v)
    lines.append(f"    return [{', '.join(out)}]")
    code = "\n".join(lines)
    exec(compile(code, f"<extractor {name}>", "exec"), env)
    extractor: Extractor = env[name]
    return extractor
