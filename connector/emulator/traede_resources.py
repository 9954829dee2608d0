"""TRAEDE resource names as the API spells them: URL slugs, id keys and singular nouns."""

from connector.emulator.traede_data import RESOURCES

PATH_RESOURCES: dict[str, str] = {
    "invoices": "invoices",
    "credit-notes": "credit_notes",
    "accounting-entries": "accounting_entries",
}
ID_KEYS: dict[str, str] = {
    "invoices": "invoice_id",
    "credit_notes": "credit_note_id",
    "accounting_entries": "accounting_entry_id",
}
SINGULAR: dict[str, str] = {
    "invoices": "invoice",
    "credit_notes": "credit note",
    "accounting_entries": "accounting entry",
}


def resource_name(name: str) -> str:
    """Map ``credit-notes`` or ``credit_notes`` to ``credit_notes``; raises KeyError if unknown."""
    resource = PATH_RESOURCES.get(name, name)
    if resource not in RESOURCES:
        raise KeyError(name)
    return resource
