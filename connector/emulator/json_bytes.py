"""JSON bytes of emulator replies: Decimals are written as exact JSON numbers (``12.50``)."""

from decimal import Decimal
from typing import Any

import orjson


def _decimal_fragment(value: Any) -> Any:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(value: Any) -> bytes:
    """Serialise to JSON bytes; Decimals are written exactly as they are (``30.0`` stays)."""
    return orjson.dumps(value, default=_decimal_fragment)
