"""Seeded, deterministic TRAEDE documents (APIS.md §1.8), generated on demand from (seed, index).

Document ``i`` is rebuilt from ``(seed, resource, i)`` whenever it is asked for. Amounts are
``Decimal`` with two places and add up exactly (line totals to header totals).
"""

import random
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

RESOURCES: tuple[str, ...] = ("invoices", "credit_notes", "accounting_entries")
FIRST_IDS: dict[str, int] = {
    "invoices": 100001,
    "credit_notes": 500001,
    "accounting_entries": 900001,
}

_KIND_NO = {"invoices": 1, "credit_notes": 2, "accounting_entries": 3}
_MASK = (1 << 64) - 1
_START = 1717200000  # 2024-06-01 00:00:00 UTC: document i is created about i minutes later.
_SPACING = 60
_Q2 = Decimal("0.01")
_ZERO = Decimal("0.00")
_HUNDRED = Decimal(100)

_VAT = {
    "DKK": Decimal("0.25"),
    "EUR": Decimal("0.19"),
    "SEK": Decimal("0.25"),
    "NOK": Decimal("0.25"),
    "USD": Decimal("0.00"),
    "GBP": Decimal("0.20"),
}
_CURRENCIES = ("DKK", "DKK", "DKK", "EUR", "EUR", "SEK", "NOK", "USD", "GBP")
_DISCOUNTS = tuple(Decimal(v) for v in ("0.00",) * 5 + ("5.00", "10.00", "12.50", "15.00", "25.00"))
_SHIPPING = tuple(Decimal(v) for v in ("0.00", "0.00", "49.00", "79.50", "125.00"))
_HANDLING = tuple(Decimal(v) for v in ("0.00", "0.00", "0.00", "25.00", "12.50"))
_NOTES: tuple[str | None, ...] = (
    None,
    None,
    None,
    "Levering til Åbenrå — tak!",
    "Größe 42",
    "納品書",
    "Deliver before 9:00, gate 3",
    'Customer says "urgent"',
    "",
)
_SELLERS = ("Jørgen", "Åse", "Müller", "Zoë", "山田")
_ACCOUNTS = (1010, 1100, 1200, 2100, 3000, 5820, 6000, 7200, 8100)
_ENTRY_TEXTS = (
    "Faktura {n}",
    "CN {n}",
    "Kassedifference — ærgerligt",
    "Bankgebühr",
    "振込手数料 {n}",
)


def _mix64(x: int) -> int:
    """Mix ``x`` with splitmix64 (cheap, well distributed, stable across Python versions)."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _doc_hash(seed: int, resource: str, index: int) -> int:
    return _mix64(_mix64((seed & _MASK) * 8 + _KIND_NO[resource]) ^ index)


def format_ts(epoch: int) -> str:
    """Format epoch seconds as TRAEDE's ``YYYY-MM-DD HH:MM:SS`` (UTC)."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


@dataclass(frozen=True, slots=True)
class DocMeta:
    """What ordering and filtering need, computable without building the document."""

    status: str | None
    created_at: int
    updated_at: int


def document_meta(resource: str, seed: int, index: int) -> DocMeta:
    """Return status and timestamps (epoch seconds, UTC) of generated document ``index``."""
    h = _doc_hash(seed, resource, index)
    created = _START + index * _SPACING + (h >> 8) % _SPACING
    updated = created if (h >> 16) % 2 == 0 else created + (h >> 24) % 864000
    if resource == "accounting_entries":
        return DocMeta(None, created, updated)
    return DocMeta("draft" if h % 100 < 15 else "booked", created, updated)


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randrange(low, high)).scaleb(-2)


def _line_count(rng: random.Random) -> int:
    # 1 + floor(Exp(mean 4.5)) capped at 20: mostly small documents, mean about 5.
    return min(20, 1 + int(rng.expovariate(1 / 4.5)))


def _lines(rng: random.Random, rate: Decimal, ts: str, credit: bool) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for _ in range(_line_count(rng)):
        quantity = rng.choice((1, 1, 1, 2, 2, 3, 4, 5, 6, 10, 12, 24))
        before = _money(rng, 500, 50000)
        pct = rng.choice(_DISCOUNTS)
        discount = (before * pct / _HUNDRED).quantize(_Q2, ROUND_HALF_UP)
        net = before - discount
        vat = (net * rate).quantize(_Q2, ROUND_HALF_UP)
        total = quantity * net
        line: dict[str, Any] = {
            "product_id": rng.randrange(300, 5000),
            "variant_id": rng.randrange(9000, 99000),
            "quantity": quantity,
        }
        if credit:
            line["claim_type"] = "return" if rng.random() < 0.7 else "claim"
            line["claim_cause_id"] = None if rng.random() < 0.5 else rng.randrange(1, 12)
        line.update(
            price_before_discount=before,
            discount_amount=discount,
            discount_percentage=pct,
            net_price=net,
            vat_amount=vat,
            total_price=total,
            total_price_after_vat=total + quantity * vat,
            created_at=ts,
            updated_at=ts,
        )
        lines.append(line)
    return lines


def _sales_document(resource: str, seed: int, index: int) -> dict[str, Any]:
    meta = document_meta(resource, seed, index)
    rng = random.Random(_doc_hash(seed, resource, index))
    credit = resource == "credit_notes"
    currency = rng.choice(_CURRENCIES)
    rate = _VAT[currency]
    created = format_ts(meta.created_at)
    lines = _lines(rng, rate, created, credit)
    before = sum((ln["quantity"] * ln["price_before_discount"] for ln in lines), _ZERO)
    discount = sum((ln["quantity"] * ln["discount_amount"] for ln in lines), _ZERO)
    net = sum((ln["total_price"] for ln in lines), _ZERO)
    shipping = rng.choice(_SHIPPING)
    handling = rng.choice(_HANDLING)
    vat = sum((ln["quantity"] * ln["vat_amount"] for ln in lines), _ZERO)
    vat += ((shipping + handling) * rate).quantize(_Q2, ROUND_HALF_UP)
    booked = meta.status == "booked"
    order_id = None if rng.random() < 0.2 else 700000 + rng.randrange(300000)
    doc: dict[str, Any] = {"id": FIRST_IDS[resource] + index}
    if credit:
        doc["credit_note_number"] = 40000 + index if booked else None
    else:
        doc["invoice_number"] = 10000 + index if booked else None
    doc["status"] = meta.status
    doc["order_type"] = "b2b" if rng.random() < 0.75 else "b2c"
    doc["customer_id"] = 1000 + rng.randrange(5000)
    doc["order_id"] = order_id
    if credit:
        doc["order_invoice_id"] = None if order_id is None else 100001 + rng.randrange(index + 1)
    doc["notes"] = rng.choice(_NOTES)
    doc["currency"] = currency
    doc["meta"] = (
        {}
        if rng.random() < 0.4
        else {"erp_ref": f"X-{rng.randrange(1, 999)}", "sælger": rng.choice(_SELLERS)}
    )
    doc.update(
        total_quantity=sum(ln["quantity"] for ln in lines),
        price_before_discount=before,
        discount_amount=discount,
        discount_percentage=(discount * _HUNDRED / before).quantize(_Q2, ROUND_HALF_UP),
        net_price=net,
        shipping=shipping,
        handling_fee=handling,
        vat_amount=vat,
        total_price_after_vat=net + shipping + handling + vat,
        created_at=created,
        updated_at=format_ts(meta.updated_at),
        lines=lines,
    )
    return doc


def _accounting_entry(seed: int, index: int) -> dict[str, Any]:
    meta = document_meta("accounting_entries", seed, index)
    rng = random.Random(_doc_hash(seed, "accounting_entries", index))
    amount = _money(rng, 100, 5000000)
    account, contra = rng.sample(_ACCOUNTS, 2)
    created = format_ts(meta.created_at)
    return {
        "id": FIRST_IDS["accounting_entries"] + index,
        "currency": rng.choice(_CURRENCIES),
        "amount": -amount if rng.random() < 0.35 else amount,
        "account": account,
        "contra_account": contra,
        "date": created[:10] + " 00:00:00",
        "text": rng.choice(_ENTRY_TEXTS).format(n=10000 + rng.randrange(index + 1)),
        "created_at": created,
        "updated_at": format_ts(meta.updated_at),
    }


def generate_document(resource: str, seed: int, index: int) -> dict[str, Any]:
    """Build document ``index`` (0-based) of ``resource`` for ``seed``; same inputs, same output.

    Invoices and credit notes carry their ``lines``; callers drop the key when not included.
    """
    if resource == "accounting_entries":
        return _accounting_entry(seed, index)
    if resource not in _KIND_NO:
        raise ValueError(f"unknown TRAEDE resource {resource!r}")
    return _sales_document(resource, seed, index)


def document_is_draft(resource: str, seed: int, index: int) -> bool:
    """Whether generated document ``index`` is a draft (cheaper than ``document_meta``)."""
    return resource != "accounting_entries" and _doc_hash(seed, resource, index) % 100 < 15
