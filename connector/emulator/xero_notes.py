"""Stored Xero credit notes: the parsed record, its served JSON text and ``unitdp`` rendering."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.emulator.json_bytes import dumps


def updated_ms(record: dict[str, Any]) -> int:
    """The millis of a record's ``UpdatedDateUTC`` (the offset is display only)."""
    text = str(record.get("UpdatedDateUTC", "/Date(0)/"))
    digits = text[len("/Date(") :].split(")")[0]
    for sign in ("+", "-"):
        if sign in digits[1:]:
            digits = digits[0] + digits[1:].split(sign)[0]
    return int(digits)


@dataclass
class StoredNote:
    """One credit note: the parsed record and the exact JSON text served for it."""

    doc: dict[str, Any]
    text: bytes

    @property
    def credit_note_id(self) -> str:
        """The record's CreditNoteID."""
        return str(self.doc["CreditNoteID"])

    @property
    def updated_ms(self) -> int:
        """UpdatedDateUTC as epoch millis."""
        return updated_ms(self.doc)

    def render(self, unitdp: int) -> bytes:
        """The record's JSON, with ``UnitAmount`` rounded to ``unitdp`` places when needed."""
        quantum = Decimal(1).scaleb(-unitdp)
        lines = self.doc.get("LineItems") or []
        needs = [
            ln
            for ln in lines
            if isinstance(ln, dict)
            and isinstance(ln.get("UnitAmount"), Decimal)
            and ln["UnitAmount"] != ln["UnitAmount"].quantize(quantum, rounding=ROUND_HALF_UP)
        ]
        if not needs:
            return self.text
        doc = dict(self.doc)
        doc["LineItems"] = [
            {**ln, "UnitAmount": ln["UnitAmount"].quantize(quantum, rounding=ROUND_HALF_UP)}
            if isinstance(ln, dict) and isinstance(ln.get("UnitAmount"), Decimal)
            else ln
            for ln in lines
        ]
        return dumps(doc)
