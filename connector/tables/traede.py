"""TRAEDE staging tables (sql/0002_traede_staging.sql)."""

from connector.tables.spec import TableSpec, staging_columns

_MONEY_HEADER = (
    ("total_quantity", "bigint"),
    ("price_before_discount", "numeric"),
    ("discount_amount", "numeric"),
    ("discount_percentage", "numeric"),
    ("net_price", "numeric"),
    ("shipping", "numeric"),
    ("handling_fee", "numeric"),
    ("vat_amount", "numeric"),
    ("total_price_after_vat", "numeric"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)

_MONEY_LINE = (
    ("price_before_discount", "numeric"),
    ("discount_amount", "numeric"),
    ("discount_percentage", "numeric"),
    ("net_price", "numeric"),
    ("vat_amount", "numeric"),
    ("total_price", "numeric"),
    ("total_price_after_vat", "numeric"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)

TRAEDE_INVOICES = TableSpec(
    "staging.traede_invoices",
    staging_columns(
        ("id", "bigint"),
        ("invoice_number", "bigint"),
        ("status", "text"),
        ("order_type", "text"),
        ("customer_id", "bigint"),
        ("order_id", "bigint"),
        ("notes", "text"),
        ("currency", "text"),
        ("meta", "jsonb"),
        *_MONEY_HEADER,
    ),
    key=("id",),
)

TRAEDE_INVOICE_LINES = TableSpec(
    "staging.traede_invoice_lines",
    staging_columns(
        ("invoice_id", "bigint"),
        ("line_number", "integer"),
        ("product_id", "bigint"),
        ("variant_id", "bigint"),
        ("quantity", "bigint"),
        *_MONEY_LINE,
    ),
    key=("invoice_id", "line_number"),
    parent_key="invoice_id",
)

TRAEDE_CREDIT_NOTES = TableSpec(
    "staging.traede_credit_notes",
    staging_columns(
        ("id", "bigint"),
        ("credit_note_number", "bigint"),
        ("status", "text"),
        ("order_type", "text"),
        ("customer_id", "bigint"),
        ("order_id", "bigint"),
        ("order_invoice_id", "bigint"),
        ("notes", "text"),
        ("currency", "text"),
        ("meta", "jsonb"),
        *_MONEY_HEADER,
    ),
    key=("id",),
)

TRAEDE_CREDIT_NOTE_LINES = TableSpec(
    "staging.traede_credit_note_lines",
    staging_columns(
        ("credit_note_id", "bigint"),
        ("line_number", "integer"),
        ("product_id", "bigint"),
        ("variant_id", "bigint"),
        ("quantity", "bigint"),
        ("claim_type", "text"),
        ("claim_cause_id", "bigint"),
        *_MONEY_LINE,
    ),
    key=("credit_note_id", "line_number"),
    parent_key="credit_note_id",
)

TRAEDE_ACCOUNTING_ENTRIES = TableSpec(
    "staging.traede_accounting_entries",
    staging_columns(
        ("id", "bigint"),
        ("currency", "text"),
        ("amount", "numeric"),
        ("account", "bigint"),
        ("contra_account", "bigint"),
        ("date", "timestamptz"),
        ("text", "text"),
        ("created_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ),
    key=("id",),
)

ALL_TRAEDE = (
    TRAEDE_INVOICES,
    TRAEDE_INVOICE_LINES,
    TRAEDE_CREDIT_NOTES,
    TRAEDE_CREDIT_NOTE_LINES,
    TRAEDE_ACCOUNTING_ENTRIES,
)
