"""One :class:`Endpoint` per TRAEDE export resource: paths, root keys, mark item keys."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    """How one resource is exported and acknowledged (docs/apis.md §1.3)."""

    resource: str
    path: str
    root_key: str
    id_field: str
    has_lines: bool
    has_drafts: bool

    @property
    def export_path(self) -> str:
        """``/v10/<path>/export``."""
        return f"/v10/{self.path}/export"

    @property
    def mark_path(self) -> str:
        """``/v10/<path>/mark-as-exported`` (the docs' ``credit notes`` with a space is a typo)."""
        return f"/v10/{self.path}/mark-as-exported"


ENDPOINTS: dict[str, Endpoint] = {
    e.resource: e
    for e in (
        Endpoint("invoices", "invoices", "invoices", "invoice_id", True, True),
        Endpoint("credit_notes", "credit-notes", "credit_notes", "credit_note_id", True, True),
        Endpoint(
            "accounting_entries",
            "accounting-entries",
            "accounting_entries",
            "accounting_entry_id",
            False,
            False,
        ),
    )
}

RESOURCES: tuple[str, ...] = tuple(ENDPOINTS)

MAX_PAGE_LIMIT = 60
MAX_MARK_ITEMS = 10
