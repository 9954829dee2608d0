"""Seeded, deterministic Xero credit notes for the emulator, plus the vendor's example records.

``SEED_EXAMPLES`` are the two CreditNotes of Xero's own example response (shared seed 004),
kept as the exact JSON text so every value is served as the vendor wrote it. Generated records
cover both types, every status, non-ASCII names, 4-dp unit amounts, long FX rates, tracking,
allocations, payments and the date edge cases of APIS.md §2.7 (negative millis, ``/Date(0)/``,
a ``+1300`` offset on UpdatedDateUTC, several records updated within the same second).
"""

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

SEED_EXAMPLES: tuple[str, ...] = (
    '{"CreditNoteID":"249f15fa-f2a7-4acc-8769-0984103f2225","CreditNoteNumber":"CN-0005",'
    '"Payments":[{"PaymentID":"6b037c9b-2e5d-4905-84d3-eabfb3438242",'
    '"Date":"/Date(1552521600000+0000)/","Amount":2.0,"Reference":"Too much","CurrencyRate":1.0,'
    '"HasAccount":false,"HasValidationErrors":false}],'
    '"ID":"249f15fa-f2a7-4acc-8769-0984103f2225","CurrencyRate":1.0,"Type":"ACCRECCREDIT",'
    '"Reference":"US Tour","RemainingCredit":32.5,"Allocations":[],"HasAttachments":true,'
    '"Contact":{"ContactID":"430fa14a-f945-44d3-9f97-5df5e28441b8","Name":"Liam Gallagher",'
    '"Addresses":[],"Phones":[],"ContactGroups":[],"ContactPersons":[],'
    '"HasValidationErrors":false},"DateString":"2019-03-05T00:00:00",'
    '"Date":"/Date(1551744000000+0000)/","Status":"AUTHORISED","LineAmountTypes":"Exclusive",'
    '"LineItems":[],"SubTotal":30.0,"TotalTax":4.5,"Total":34.5,'
    '"UpdatedDateUTC":"/Date(1551812346157+0000)/","CurrencyCode":"NZD"}',
    '{"CreditNoteID":"f8021bd2-9a6a-4c19-8477-163da0b9290f","CreditNoteNumber":"",'
    '"Payments":[],"ID":"f8021bd2-9a6a-4c19-8477-163da0b9290f","CurrencyRate":1.0,'
    '"Type":"ACCPAYCREDIT","Reference":"","RemainingCredit":46.0,"Allocations":[],'
    '"HasAttachments":false,"Contact":{"ContactID":"430fa14a-f945-44d3-9f97-5df5e28441b8",'
    '"Name":"Liam Gallagher","Addresses":[],"Phones":[],"ContactGroups":[],'
    '"ContactPersons":[],"HasValidationErrors":false},"DateString":"2019-01-05T00:00:00",'
    '"Date":"/Date(1546646400000+0000)/","Status":"DRAFT","LineAmountTypes":"Exclusive",'
    '"LineItems":[],"SubTotal":40.0,"TotalTax":6.0,"Total":46.0,'
    '"UpdatedDateUTC":"/Date(1551812506153+0000)/","CurrencyCode":"NZD"}',
)

_STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "DELETED", "VOIDED")
_NAMES = (
    "Harbour Cafe",
    "Café Zoë Ltd",
    "Łódź Trading Sp. z o.o.",
    "Ærø Ånd Søn",
    "東京商事株式会社",
    "Müller & Söhne GmbH",
    "O'Brien Hardware",
    "Ngā Tāonga Whānau Trust",
)
_ITEMS = ("Returned mugs", "Damaged goods — refund", "Price adjustment", "Freight credit", "")
# The organisation's base currency is NZD; CurrencyRate is units of the note's currency per
# 1 NZD (Xero's "1 NZD = 0.58 USD"). The GBP rate is longer than Xero's 6 decimals on purpose:
# staging must keep whatever scale arrives.
_CURRENCIES = (
    ("NZD", Decimal("1.0")),
    ("AUD", Decimal("0.912734")),
    ("USD", Decimal("0.587215")),
    ("EUR", Decimal("0.5634219876")),
    ("GBP", Decimal("0.471183298765432101")),
)
_TRACKING = (
    ("Region", ("North", "South")),
    ("Department", ("Sales", "Wholesale")),
)
_CENT = Decimal("0.01")
_BASE_UPDATED_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms_date(millis: int, offset: str = "+0000") -> str:
    """A .NET ``/Date(ms±hhmm)/`` string."""
    return f"/Date({millis}{offset})/"


def _midnight_ms(day: date) -> int:
    return int((datetime(day.year, day.month, day.day, tzinfo=UTC) - _EPOCH).total_seconds()) * 1000


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _line(rng: random.Random, tracking_ids: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    quantity = Decimal(rng.choice(("1.0", "2.0", "2.5", "12.0", "0.3333")))
    unit = Decimal(rng.randint(1, 2_000_000)).scaleb(-4)  # 4 dp, e.g. 12.3456
    line_amount = _money(quantity * unit)
    tax = _money(line_amount * Decimal("0.15"))
    tracking = [
        {"TrackingCategoryID": cat, "TrackingOptionID": opt, "Name": name, "Option": option}
        for cat, opt, name, option in rng.sample(tracking_ids, rng.randint(0, 2))
    ]
    return {
        "LineItemID": _uuid(rng),
        "Description": rng.choice(_ITEMS),
        "Quantity": quantity,
        "UnitAmount": unit,
        "AccountCode": rng.choice(("200", "260", "400")),
        "TaxType": "OUTPUT2",
        "TaxAmount": tax,
        "LineAmount": line_amount,
        "Tracking": tracking,
    }


def generate(seed: int, tenant: str, count: int) -> list[dict[str, Any]]:
    """``count`` credit notes for ``tenant``, the same for the same ``seed`` (Decimal money)."""
    rng = random.Random(f"xero:{seed}:{tenant}")
    tracking_ids = [
        (_uuid(rng), _uuid(rng), name, option) for name, options in _TRACKING for option in options
    ]
    contacts = [(_uuid(rng), name) for name in _NAMES]
    records: list[dict[str, Any]] = []
    updated_ms = _BASE_UPDATED_MS
    for i in range(count):
        kind = "ACCRECCREDIT" if i % 3 else "ACCPAYCREDIT"
        status = _STATUSES[i % len(_STATUSES)]
        # Every fourth record shares the second of the one before (If-Modified-Since matches
        # to the second, so these test the boundary); the others are minutes apart.
        if i % 4 == 3:
            updated_ms = min(updated_ms + rng.randint(1, 400), updated_ms // 1000 * 1000 + 999)
        else:
            updated_ms += rng.randint(60_000, 900_000)
        issued = date(2024, 1, 1) + timedelta(days=rng.randint(0, 600))
        date_ms = _midnight_ms(issued)
        if i == 3:
            date_ms = -86_400_000  # 1969-12-31: negative millis seen in the wild
        elif i == 4:
            date_ms = 0  # the /Date(0+0000)/ placeholder
        lines = [_line(rng, tracking_ids) for _ in range(rng.randint(0, 3))]
        sub_total = sum((ln["LineAmount"] for ln in lines), Decimal("0.00"))
        total_tax = sum((ln["TaxAmount"] for ln in lines), Decimal("0.00"))
        total = sub_total + total_tax
        currency, rate = rng.choice(_CURRENCIES)
        contact_id, contact_name = rng.choice(contacts)
        allocations: list[dict[str, Any]] = []
        payments: list[dict[str, Any]] = []
        if status in ("AUTHORISED", "PAID") and total > 0:
            allocated = total if status == "PAID" else _money(total / 2)
            allocations.append(
                {
                    "AllocationID": _uuid(rng),
                    "Amount": allocated,
                    "Date": ms_date(date_ms + 86_400_000 * 3),
                    "Invoice": {"InvoiceID": _uuid(rng), "InvoiceNumber": f"INV-{1000 + i}"},
                }
            )
            # AUTHORISED falls on i = 2, 8, 14, ...: every other one is also partly refunded.
            if status == "AUTHORISED" and i % 4 == 2:
                payments.append(
                    {
                        "PaymentID": _uuid(rng),
                        "Date": ms_date(date_ms + 86_400_000 * 5),
                        "Amount": _money((total - allocated) / 2),
                        "Reference": "Refund",
                        "CurrencyRate": rate,
                        "HasAccount": False,
                        "HasValidationErrors": False,
                    }
                )
        remaining = total - sum((a["Amount"] for a in allocations), Decimal("0.00"))
        remaining -= sum((p["Amount"] for p in payments), Decimal("0.00"))
        credit_id = _uuid(rng)
        number = f"CN-{i + 1:04d}" if kind == "ACCRECCREDIT" or status != "DRAFT" else ""
        day = _EPOCH + timedelta(milliseconds=date_ms)
        record: dict[str, Any] = {
            "CreditNoteID": credit_id,
            "CreditNoteNumber": number,
            "Payments": payments,
            "ID": credit_id,
            "CurrencyRate": rate,
            "Type": kind,
            "Reference": rng.choice(("", "RMA 17", "Return — damaged", "US Tour")),
            "RemainingCredit": remaining,
            "Allocations": allocations,
            "HasAttachments": rng.random() < 0.3,
            "Contact": {"ContactID": contact_id, "Name": contact_name},
            "DateString": day.strftime("%Y-%m-%dT00:00:00"),
            "Date": ms_date(date_ms),
            "Status": status,
            "LineAmountTypes": "Exclusive",
            "LineItems": lines,
            "SubTotal": sub_total,
            "TotalTax": total_tax,
            "Total": total,
            # One record carries a +1300 offset: the millis still are the UTC instant.
            "UpdatedDateUTC": ms_date(updated_ms, "+1300" if i == 5 else "+0000"),
            "CurrencyCode": currency,
            "SentToContact": status in ("AUTHORISED", "PAID"),
            "HasErrors": False,
        }
        if i % 5 == 1:
            record["DueDate"] = ms_date(date_ms + 30 * 86_400_000)
        if status == "PAID":
            record["FullyPaidOnDate"] = ms_date(date_ms + 86_400_000 * 3)
        if i % 7 == 2:
            record["BrandingThemeID"] = _uuid(rng)
        records.append(record)
    return records
