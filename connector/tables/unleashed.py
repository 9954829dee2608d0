"""Unleashed staging tables (sql/0005_unleashed_staging.sql, base-currency columns: sql/0007).

The exchange rate and the base-currency (``BC…``) amounts were added by ``ALTER TABLE`` in 0007,
so they follow the bookkeeping columns, in the order the table holds them.
"""

from connector.tables.spec import Column, TableSpec, staging_columns

HEADER_BASE_CURRENCY = (
    Column("exchange_rate", "numeric"),
    Column("bc_sub_total", "numeric"),
    Column("bc_tax_total", "numeric"),
    Column("bc_total", "numeric"),
)
LINE_BASE_CURRENCY = (
    Column("bc_unit_price", "numeric"),
    Column("bc_line_total", "numeric"),
    Column("bc_line_tax", "numeric"),
)

UNLEASHED_CREDIT_NOTES = TableSpec(
    "staging.unleashed_credit_notes",
    staging_columns(
        ("credit_number", "text"),
        ("credit_date", "timestamptz"),
        ("sales_invoice_date", "timestamptz"),
        ("required_delivery_date", "timestamptz"),
        ("reference", "text"),
        ("credit_status", "text"),
        ("total", "numeric"),
        ("sub_total", "numeric"),
        ("tax_total", "numeric"),
        ("tax_rate", "numeric"),
        ("xero_tax_code", "text"),
        ("invoice_number", "text"),
        ("reference_number", "text"),
        ("comments", "text"),
        ("customer_code", "text"),
        ("customer_name", "text"),
        ("customer_guid", "text"),
        ("currency_code", "text"),
        ("warehouse_code", "text"),
        ("warehouse_name", "text"),
        ("sales_order_number", "text"),
        ("guid", "text"),
        ("last_modified_by", "text"),
        ("last_modified_on", "timestamptz"),
        ("created_by", "text"),
        ("created_on", "timestamptz"),
        ("warehouse", "jsonb"),
        ("customer", "jsonb"),
        ("currency", "jsonb"),
        ("tax", "jsonb"),
        ("sales_order", "jsonb"),
    )
    + HEADER_BASE_CURRENCY,
    key=("credit_number",),
)

UNLEASHED_CREDIT_NOTE_LINES = TableSpec(
    "staging.unleashed_credit_note_lines",
    staging_columns(
        ("credit_number", "text"),
        ("line_number", "integer"),
        ("source_line_number", "integer"),
        ("line_type", "text"),
        ("product_guid", "text"),
        ("product_code", "text"),
        ("product_description", "text"),
        ("order_quantity", "numeric"),
        ("unit_price", "numeric"),
        ("credit_quantity", "numeric"),
        ("credit_price", "numeric"),
        ("line_total", "numeric"),
        ("comments", "text"),
        ("tax_rate", "numeric"),
        ("line_tax", "numeric"),
        ("xero_tax_code", "text"),
        ("line_tax_code", "text"),
        ("xero_sales_account", "text"),
        ("reason", "text"),
        ("return", "boolean"),
        ("disassemble", "boolean"),
        ("serial_numbers", "jsonb"),
        ("pending_serial_numbers", "jsonb"),
        ("batch_numbers", "jsonb"),
        ("pending_batch_numbers", "jsonb"),
        ("guid", "text"),
        ("last_modified_on", "timestamptz"),
    )
    + LINE_BASE_CURRENCY,
    key=("credit_number", "line_number"),
    parent_key="credit_number",
)

ALL_UNLEASHED = (UNLEASHED_CREDIT_NOTES, UNLEASHED_CREDIT_NOTE_LINES)
