"""Staging table shapes, one module per source, and the streams that fill them.

:mod:`connector.tables.spec` defines the types; :mod:`connector.tables.registry` lists one
:class:`Stream` per (source system, resource).
"""

from connector.tables.registry import STREAMS, SYSTEMS, ChildSum, Rule, Stream, stream, streams
from connector.tables.spec import BOOKKEEPING, Column, TableSpec

__all__ = [
    "BOOKKEEPING",
    "STREAMS",
    "SYSTEMS",
    "ChildSum",
    "Column",
    "Rule",
    "Stream",
    "TableSpec",
    "stream",
    "streams",
]
