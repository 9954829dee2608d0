"""Seeded, deterministic Unleashed credit notes for the emulator, plus the vendor's own example.

Amounts are exact decimals: ``SubTotal = Σ LineTotal``, ``TaxTotal = Σ LineTax`` and
``Total = SubTotal + TaxTotal``. Dates are ``/Date(ms)/`` UTC instants without an offset.

Base currency (``BC…``) fields follow the SalesOrder convention seen in real responses
(docs/apis.md §3.8): ``ExchangeRate`` with 6 decimals, base amounts with 3. The base currency
is NZD; the emulator takes the rate as foreign units per 1 NZD (``BC = amount / rate``, each
line rounded to cents, header BC totals the sums of the line values): an assumption, since
Unleashed documents no direction. The vendor's own example carries none of these fields.
"""

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from connector.sources.unleashed.contract import to_ms_date

# The JSON example of ``GET /CreditNotes`` on https://apidocs.unleashedsoftware.com/CreditNotes,
# byte for byte: no header Guid, and ``Total`` appears twice (same value) in one object.
VENDOR_EXAMPLE_RECORD: bytes = (
    b'{"CreditNumber":"CN-00000017","CreditDate":"/Date(1464739200000)/","SalesInvoiceDate":"/Da'
    b'te(1464739200000)/","RequiredDeliveryDate":"/Date(1464739200000)/","Reference":"Credit Not'
    b'e Reference","Warehouse":{"WarehouseCode":"W1","WarehouseName":"Warehouse","IsDefault":tru'
    b'e,"StreetNo":null,"AddressLine1":null,"AddressLine2":null,"City":null,"Region":null,"Count'
    b'ry":null,"PostCode":null,"PhoneNumber":null,"FaxNumber":null,"MobileNumber":null,"DDINumbe'
    b'r":null,"ContactName":"","Obsolete":false,"Guid":"79fc2520-2105-4c1f-8765-3fd8ed577130","L'
    b'astModifiedOn":"/Date(1418761704657)/"},"Customer":{"CustomerCode":"FranckBassy","Customer'
    b'Name":"Franck Bassy","CurrencyId":110,"Guid":"2284b930-6472-4350-bd34-9967fee2b245","LastM'
    b'odifiedOn":"/Date(1454970338982)/"},"CreditStatus":"Parked","Currency":{"CurrencyCode":"NZ'
    b'D","Description":"New Zealand, Dollars","Guid":"405aa117-a487-4c0c-9431-cdaf21273f04","Las'
    b'tModifiedOn":"/Date(1418761686163)/"},"Total":12.5,"InvoiceNumber":"SI-00000004/2","Refere'
    b'nceNumber":"","CreditLines":[{"LineNumber":1,"LineType":null,"Product":{"Guid":"e5a349d9-5'
    b'5d0-401b-925d-87f668c72ed1","ProductCode":"CHAIRS","ProductDescription":"These are some ch'
    b'airs"},"OrderQuantity":12,"UnitPrice":0,"CreditQuantity":2,"CreditPrice":1,"LineTotal":0,"'
    b'Comments":"","TaxRate":0.15,"LineTax":0,"XeroTaxCode":"OUTPUT2","LineTaxCode":null,"XeroSa'
    b'lesAccount":"200","Reason":"Faulty","Return":true,"Disassemble":true,"SerialNumbers":[{"Id'
    b'entifier":"35XRY0QFGS","Guid":"75ca9de7-6688-41df-a3c5-79dd4b8a8067","LastModifiedOn":"/Da'
    b'te(1710881216020)/"}],"PendingSerialNumbers":[{"Identifier":"123","CreatedOn":"/Date(17108'
    b'78709305)/"}],"PendingBatchNumbers":[{"Number":"rew","Quantity":1.0000,"ExpiryDate":"/Date'
    b'(1706140800000)/","CreatedOn":"/Date(1710878765551)/"}],"BatchNumbers":[{"Number":"wer","Q'
    b'uantity":-1.0000,"ExpiryDate":"/Date(1680220800000)/","Guid":"fb019d6b-aac2-48a3-bbac-e0e0'
    b'e455f095","LastModifiedOn":"/Date(1710878488501)/"}],"Guid":"f58539b8-6afa-4fd8-864a-3bca2'
    b'228066e","LastModifiedOn":"/Date(1465868787126)/"}],"Comments":"some comments","Total":12.'
    b'5,"TaxRate":0.15,"XeroTaxCode":"OUTPUT2","TaxTotal":2.5,"SubTotal":10.5,"Tax":{"TaxCode":"'
    b'OUTPUT2","Description":null,"TaxRate":0.15,"CanApplyToExpenses":false,"CanApplyToRevenue":'
    b'false,"Obsolete":false,"Guid":"00000000-0000-0000-0000-000000000000","LastModifiedOn":null'
    b'},"LastModifiedBy":"franck@unleashedsoftware.com","LastModifiedOn":"/Date(1465868787126)/"'
    b',"CreatedBy":"franck@unleashedsoftware.com","CreatedOn":"/Date(1465868787126)/","SalesOrde'
    b'r":{"Guid":"9ba44b00-3962-4541-9da0-6dd67b3d0794","OrderNumber":"SO-00000028"}}'
)

BASE_TIME = datetime(2024, 1, 1, tzinfo=UTC)
_CENT = Decimal("0.01")
_CUSTOMERS = (
    ("HARB01", "Harbour Cafe"),
    ("ZOE02", "Café Zoë"),
    ("OTAK03", "Ōtaki Kōwhai Ltd"),
    ("MULL04", "Müller & Söhne GmbH"),
    ("BJOR05", "Björk Ålesund AS"),
    ("TOKY06", "東京商事株式会社"),
    ("FRAN07", "Franck Bassy"),
)
_CURRENCIES = (
    ("NZD", "New Zealand, Dollars", Decimal("1.000000")),
    ("AUD", "Australia, Dollars", Decimal("0.912734")),
    ("EUR", "Euro", Decimal("0.546381")),
    ("USD", "United States of America, Dollars", Decimal("0.587215")),
)
_MILLS = Decimal("0.001")
_PRODUCTS = (
    ("MUG-01", "Stoneware mug"),
    ("CHAIRS", "These are some chairs"),
    ("COUCH2", "Two-seat couch"),
    ("GLUE", "Wood glue 250 ml"),
    ("LAMP-7", "Desk lamp, brass"),
)
_REASONS = ("Faulty", "Damaged in transit", "Wrong item", "Credit")
_USERS = ("franck@unleashedsoftware.com", "aroha@example.co.nz", "jürgen@example.de")


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _base(amount: Decimal, rate: Decimal) -> Decimal:
    """``amount`` in NZD at ``rate`` (foreign per NZD), in cents, written with 3 decimals."""
    return (amount / rate).quantize(_CENT, ROUND_HALF_UP).quantize(_MILLS)


def _ms(moment: datetime) -> str:
    return to_ms_date(moment)


def _serials(rng: random.Random, modified: datetime) -> list[dict[str, Any]]:
    return [
        {
            "Identifier": f"SN{rng.randint(10**7, 10**8 - 1)}",
            "Guid": _guid(rng),
            "LastModifiedOn": _ms(modified),
        }
    ]


def _batches(rng: random.Random, quantity: Decimal, modified: datetime) -> list[dict[str, Any]]:
    return [
        {
            "Number": f"B-{rng.randint(1, 999):03d}",
            "Quantity": quantity.quantize(Decimal("0.0001")),
            "ExpiryDate": None,
            "Guid": _guid(rng),
            "LastModifiedOn": _ms(modified),
        }
    ]


def make_record(rng: random.Random, number: int, modified: datetime) -> dict[str, Any]:
    """One credit note in the vendor's field order, with 1..4 lines."""
    code, name = rng.choice(_CUSTOMERS)
    currency, description, rate = rng.choice(_CURRENCIES)
    created = modified - timedelta(days=rng.randint(0, 20), seconds=rng.randint(0, 86_399))
    credit_day = datetime(created.year, created.month, created.day, tzinfo=UTC)
    status = rng.choice(("Parked", "Completed", "Completed"))
    tax_rate = rng.choice((Decimal("0.15"), Decimal("0.10"), Decimal("0"), Decimal("0.125")))
    lines: list[dict[str, Any]] = []
    sub_total = tax_total = Decimal("0.00")
    bc_sub_total = bc_tax_total = Decimal("0.000")
    for position in range(1, rng.randint(1, 4) + 1):
        product, text = rng.choice(_PRODUCTS)
        quantity = Decimal(rng.randint(1, 12))
        price = (Decimal(rng.randint(50, 250_000)) * _CENT).quantize(_CENT)
        line_total = (quantity * price).quantize(_CENT)
        line_tax = (line_total * tax_rate).quantize(_CENT)
        sub_total += line_total
        tax_total += line_tax
        bc_line_total, bc_line_tax = _base(line_total, rate), _base(line_tax, rate)
        bc_sub_total += bc_line_total
        bc_tax_total += bc_line_tax
        serials = _serials(rng, modified) if rng.random() < 0.3 else []
        batches = _batches(rng, quantity, modified) if rng.random() < 0.3 else []
        lines.append(
            {
                "LineNumber": position,
                "LineType": None,
                "Product": {"Guid": _guid(rng), "ProductCode": product, "ProductDescription": text},
                "OrderQuantity": quantity + rng.randint(0, 5),
                "UnitPrice": price,
                "CreditQuantity": quantity,
                "CreditPrice": price,
                "LineTotal": line_total,
                "Comments": rng.choice(("", "Returned by courier", "Kia ora — thanks")),
                "TaxRate": tax_rate,
                "LineTax": line_tax,
                "XeroTaxCode": "OUTPUT2",
                "LineTaxCode": None,
                "XeroSalesAccount": "200",
                "BCUnitPrice": (price / rate).quantize(Decimal("0.0001"), ROUND_HALF_UP),
                "BCLineTotal": bc_line_total,
                "BCLineTax": bc_line_tax,
                "Reason": rng.choice(_REASONS),
                "Return": rng.random() < 0.5,
                "Disassemble": False,
                "SerialNumbers": serials,
                "PendingSerialNumbers": [],
                "PendingBatchNumbers": [],
                "BatchNumbers": batches,
                "Guid": _guid(rng),
                "LastModifiedOn": _ms(modified),
            }
        )
    return {
        "CreditNumber": f"CN-{number:08d}",
        "CreditDate": _ms(credit_day),
        "SalesInvoiceDate": _ms(credit_day - timedelta(days=rng.randint(1, 30))),
        "RequiredDeliveryDate": _ms(credit_day + timedelta(days=rng.randint(0, 7))),
        "Reference": rng.choice(("", "Credit Note Reference", "RMA-" + str(number))),
        "Warehouse": {
            "WarehouseCode": "W1",
            "WarehouseName": "Main Warehouse",
            "IsDefault": True,
            "Guid": "79fc2520-2105-4c1f-8765-3fd8ed577130",
            "LastModifiedOn": "/Date(1418761704657)/",
        },
        "Customer": {
            "CustomerCode": code,
            "CustomerName": name,
            "CurrencyId": 110,
            "Guid": _guid(rng),
            "LastModifiedOn": _ms(created),
        },
        "CreditStatus": status,
        "Currency": {
            "CurrencyCode": currency,
            "Description": description,
            "Guid": _guid(rng),
            "LastModifiedOn": "/Date(1418761686163)/",
        },
        "ExchangeRate": rate,
        "Total": sub_total + tax_total,
        "InvoiceNumber": f"SI-{rng.randint(1, 99_999):08d}",
        "ReferenceNumber": "",
        "CreditLines": lines,
        "Comments": rng.choice(("", "some comments", "Crédit partiel")),
        "TaxRate": tax_rate,
        "XeroTaxCode": "OUTPUT2",
        "TaxTotal": tax_total,
        "SubTotal": sub_total,
        "BCSubTotal": bc_sub_total,
        "BCTaxTotal": bc_tax_total,
        "BCTotal": bc_sub_total + bc_tax_total,
        "Tax": {
            "TaxCode": "OUTPUT2",
            "Description": None,
            "TaxRate": tax_rate,
            "CanApplyToExpenses": False,
            "CanApplyToRevenue": True,
            "Obsolete": False,
            "Guid": "00000000-0000-0000-0000-000000000000",
            "LastModifiedOn": None,
        },
        "LastModifiedBy": rng.choice(_USERS),
        "LastModifiedOn": _ms(modified),
        "CreatedBy": rng.choice(_USERS),
        "CreatedOn": _ms(created),
        "SalesOrder": {"Guid": _guid(rng), "OrderNumber": f"SO-{rng.randint(1, 99_999):08d}"},
        "Guid": _guid(rng),
    }


def generate_records(seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` credit notes ``CN-00000101``.., modified at distinct times during 2024."""
    rng = random.Random(seed)
    offsets = sorted(rng.sample(range(1, 365 * 86_400), count))
    return [
        make_record(
            rng, 100 + i, BASE_TIME + timedelta(seconds=s, milliseconds=rng.randint(0, 999))
        )
        for i, s in enumerate(offsets, start=1)
    ]
