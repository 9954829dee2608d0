"""Warehouse tables as pandas DataFrames, read through the SQLAlchemy engine.

pandas and SQLAlchemy have this one job in the connector: the small, read-only views people
look at (the preview of a staging table in Dagster's asset metadata, the failing documents of a
check). Loading never goes through pandas: rows stream to COPY as tuples, so memory stays
bounded by the batch (docs/architecture.md §4, invariant 8).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from connector.tables.spec import BOOKKEEPING, TableSpec

if TYPE_CHECKING:
    import pandas as pd

CELL_CHARS = 40


def preview_frame(engine: sa.Engine, spec: TableSpec, limit: int = 5) -> "pd.DataFrame":
    """The first ``limit`` rows of a staging table by key, without the bookkeeping columns."""
    import pandas as pd  # only the Dagster process and notebooks pay for pandas at start-up

    quote = engine.dialect.identifier_preparer.quote
    columns = [c for c in spec.column_names if c not in BOOKKEEPING]
    query = sa.text(
        f"SELECT {', '.join(map(quote, columns))} "
        f"FROM {quote(spec.schema)}.{quote(spec.table)} "
        f"ORDER BY {', '.join(map(quote, spec.key))} LIMIT :limit"
    )
    with engine.connect() as conn:
        return pd.read_sql_query(query, conn, params={"limit": limit})


def frame_markdown(frame: "pd.DataFrame", cell_chars: int = CELL_CHARS) -> str:
    """``frame`` as a markdown table, each cell cut to ``cell_chars`` (``_no rows_`` if empty)."""
    if frame.empty:
        return "_no rows_"

    def cut(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= cell_chars else text[: cell_chars - 1] + "…"

    return str(frame.astype(object).map(cut).to_markdown(index=False))


def rows_markdown(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows already read (e.g. the breaks of a check) as a markdown table, values as text.

    Decimals are shown with their own scale (``str``), never through a float.
    """
    import pandas as pd

    frame = pd.DataFrame([[None if v is None else str(v) for v in row] for row in rows])
    if not frame.empty:
        frame.columns = list(columns)
    return frame_markdown(frame, cell_chars=60)
