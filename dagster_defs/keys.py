"""Asset keys, groups and pools, all derived from a stream's (system, resource).

Users rely on these names: ``traede/invoices`` and its mark step ``traede/invoices_marked``,
``xero/credit_notes``, ``unleashed/credit_notes``, ``analytics/credit_notes``.
"""

import dagster as dg

from connector.tables.registry import Stream

ANALYTICS_KEY = dg.AssetKey(["analytics", "credit_notes"])


def asset_key(stream: Stream) -> dg.AssetKey:
    """Key of the staging asset of ``stream``: ``<system>/<resource>``."""
    return dg.AssetKey([stream.system, stream.resource])


def mark_key(stream: Stream) -> dg.AssetKey:
    """Key of the mark step that follows the staging asset of ``stream``."""
    if not stream.marks:
        raise ValueError(f"{stream.name} has no mark step")
    return dg.AssetKey([stream.system, f"{stream.resource}_marked"])


def group(stream: Stream) -> str:
    """Asset group of ``stream``: its source system (a job per system selects it)."""
    return stream.system


def pool(stream: Stream) -> str:
    """Concurrency pool shared by the load and mark steps of ``stream``."""
    return f"{stream.system}_{stream.resource}"


def words(names: tuple[str, ...]) -> str:
    """``("invoices", "credit_notes")`` as prose: ``invoices and credit notes``."""
    spoken = [n.replace("_", " ") for n in names]
    return spoken[0] if len(spoken) == 1 else ", ".join(spoken[:-1]) + " and " + spoken[-1]
