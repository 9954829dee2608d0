"""Hand-made credit notes with amounts worked out by hand (issue 14 tests share them)."""

from datetime import date
from decimal import Decimal

from connector.emulator.unleashed_data import VENDOR_EXAMPLE_RECORD
from connector.jsontext import parse_json

D = Decimal

# Xero A: EUR, CurrencyRate 0.5634219876 (EUR per 1 NZD). Lines 100.00 + 23.45 = 123.45,
# tax 15.00 + 3.52 = 18.52, total 141.97; allocated 60.00 (a deleted 5.00 does not count),
# refunded 20.00 (a DELETED 1.00 does not count), so 61.97 remains.
#   base subtotal 123.45 / 0.5634219876 = 219.10752990...  -> 219.11
#   base tax       18.52 / 0.5634219876 =  32.87056665...  ->  32.87
#   base total    141.97 / 0.5634219876 = 251.97809656...  -> 251.98
#   base open      61.97 / 0.5634219876 = 109.98860776...  -> 109.99
XERO_A = "0b9a3c1e-1111-4a2b-9c3d-aaaaaaaaaaaa"
# Xero B: USD at 0.587215, 50.00 + 7.50 = 57.50, allocated in full (PAID).
#   base 50.00 / 0.587215 = 85.14768866... -> 85.15; 7.50 -> 12.77215329... -> 12.77;
#   57.50 -> 97.91984196... -> 97.92
XERO_B = "0b9a3c1e-2222-4a2b-9c3d-bbbbbbbbbbbb"


def ms(day: date) -> str:
    """A date-only Xero ``/Date(ms+0000)/`` value (midnight UTC)."""
    return f"/Date({(day - date(1970, 1, 1)).days * 86_400_000}+0000)/"


def xero_a() -> dict:
    return {
        "CreditNoteID": XERO_A, "CreditNoteNumber": "CN-0107", "Type": "ACCRECCREDIT",
        "Status": "AUTHORISED", "Contact": {"ContactID": "c-harbour", "Name": "Harbour Cafe"},
        "Date": ms(date(2024, 3, 1)), "LineAmountTypes": "Exclusive",
        "LineItems": [
            {"LineItemID": "li-1", "Description": "Returned mugs", "Quantity": D("2.0"),
             "UnitAmount": D("50.0000"), "TaxAmount": D("15.00"), "LineAmount": D("100.00"),
             "Tracking": [{"TrackingCategoryID": "tc-1", "TrackingOptionID": "to-1",
                           "Name": "Region", "Option": "North"}]},
            {"LineItemID": "li-2", "Description": "Freight credit", "Quantity": D("1.0"),
             "UnitAmount": D("23.4500"), "TaxAmount": D("3.52"), "LineAmount": D("23.45"),
             "Tracking": [{"TrackingCategoryID": "tc-1", "TrackingOptionID": "to-2",
                           "Name": "Region", "Option": "South"},
                          {"TrackingCategoryID": "tc-2", "TrackingOptionID": "to-3",
                           "Name": "Department", "Option": "Wholesale"}]},
        ],
        "SubTotal": D("123.45"), "TotalTax": D("18.52"), "Total": D("141.97"),
        "CurrencyCode": "EUR", "CurrencyRate": D("0.5634219876"),
        "RemainingCredit": D("61.97"),
        "Allocations": [
            {"AllocationID": "al-1", "Amount": D("60.00"), "Date": ms(date(2024, 3, 10)),
             "Invoice": {"InvoiceID": "inv-551", "InvoiceNumber": "INV-0551"}},
            {"AllocationID": "al-2", "Amount": D("5.00"), "Date": ms(date(2024, 3, 11)),
             "Invoice": {"InvoiceID": "inv-552", "InvoiceNumber": "INV-0552"}, "IsDeleted": True},
        ],
        "Payments": [
            {"PaymentID": "pay-1", "Date": ms(date(2024, 3, 12)), "Amount": D("20.00"),
             "CurrencyRate": D("0.5634219876"), "Reference": "Refund", "Status": "AUTHORISED",
             "UpdatedDateUTC": "/Date(1710244800123+1300)/"},
            {"PaymentID": "pay-2", "Date": ms(date(2024, 3, 13)), "Amount": D("1.00"),
             "Status": "DELETED"},
        ],
    }  # fmt: skip


def xero_b() -> dict:
    return {
        "CreditNoteID": XERO_B, "CreditNoteNumber": "CN-0108", "Type": "ACCRECCREDIT",
        "Status": "PAID", "Contact": {"ContactID": "c-zoe", "Name": "Café Zoë Ltd"},
        "Date": ms(date(2024, 4, 2)), "LineAmountTypes": "Exclusive",
        "LineItems": [{"LineItemID": "li-3", "LineAmount": D("50.00"), "TaxAmount": D("7.50")}],
        "SubTotal": D("50.00"), "TotalTax": D("7.50"), "Total": D("57.50"),
        "CurrencyCode": "USD", "CurrencyRate": D("0.587215"), "RemainingCredit": D("0.00"),
        "Allocations": [{"AllocationID": "al-3", "Amount": D("57.50"),
                         "Date": ms(date(2024, 4, 3)), "Invoice": {"InvoiceID": "inv-9"}}],
        "Payments": [],
    }  # fmt: skip


# Unleashed U: EUR, ExchangeRate 0.546381. Lines 100.00 (tax 15.00) and 40.00 (tax 6.00);
# Unleashed's base amounts per line 183.020/27.450 and 73.210/10.980, totals 256.230 +
# 38.430 = 294.660. Recomputing the total from the rate would give 161.00 / 0.546381 =
# 294.6661... -> 294.67: the view must show Unleashed's 294.660, not that.
def unleashed_u() -> dict:
    record = parse_json(VENDOR_EXAMPLE_RECORD)
    line = record["CreditLines"][0]
    lines = [
        {**line, "LineNumber": 1, "LineTotal": D("100.00"), "LineTax": D("15.00"),
         "BCUnitPrice": D("91.5110"), "BCLineTotal": D("183.020"), "BCLineTax": D("27.450")},
        {**line, "LineNumber": 2, "LineTotal": D("40.00"), "LineTax": D("6.00"),
         "BCUnitPrice": D("36.6045"), "BCLineTotal": D("73.210"), "BCLineTax": D("10.980")},
    ]  # fmt: skip
    record.update(
        CreditNumber="CN-00009001", CreditStatus="Completed", CreditLines=lines,
        Currency={"CurrencyCode": "EUR", "Description": "Euro"},
        ExchangeRate=D("0.546381"), SubTotal=D("140.00"), TaxTotal=D("21.00"),
        Total=D("161.00"), BCSubTotal=D("256.230"), BCTaxTotal=D("38.430"),
        BCTotal=D("294.660"),
    )  # fmt: skip
    return record
