"""Xero staging tables (sql/0004_xero_staging.sql; allocations, payments, tracking: sql/0007)."""

from connector.tables.spec import TableSpec, staging_columns

XERO_CREDIT_NOTES = TableSpec(
    "staging.xero_credit_notes",
    staging_columns(
        ("credit_note_id", "uuid"),
        ("tenant_id", "text"),
        ("credit_note_number", "text"),
        ("type", "text"),
        ("status", "text"),
        ("contact_id", "text"),
        ("contact_name", "text"),
        ("date", "date"),
        ("due_date", "date"),
        ("line_amount_types", "text"),
        ("sub_total", "numeric"),
        ("total_tax", "numeric"),
        ("total", "numeric"),
        ("cis_deduction", "numeric"),
        ("cis_rate", "numeric"),
        ("updated_date_utc", "timestamptz"),
        ("currency_code", "text"),
        ("currency_rate", "numeric"),
        ("fully_paid_on_date", "date"),
        ("reference", "text"),
        ("sent_to_contact", "boolean"),
        ("remaining_credit", "numeric"),
        ("applied_amount", "numeric"),
        ("branding_theme_id", "text"),
        ("has_attachments", "boolean"),
        ("has_errors", "boolean"),
        ("status_attribute_string", "text"),
        ("contact", "jsonb"),
        ("allocations", "jsonb"),
        ("payments", "jsonb"),
    ),
    key=("credit_note_id",),
)

XERO_CREDIT_NOTE_LINES = TableSpec(
    "staging.xero_credit_note_lines",
    staging_columns(
        ("credit_note_id", "uuid"),
        ("line_number", "integer"),
        ("line_item_id", "text"),
        ("description", "text"),
        ("quantity", "numeric"),
        ("unit_amount", "numeric"),
        ("item_code", "text"),
        ("account_code", "text"),
        ("account_id", "text"),
        ("tax_type", "text"),
        ("tax_amount", "numeric"),
        ("line_amount", "numeric"),
        ("discount_rate", "numeric"),
        ("discount_amount", "numeric"),
        ("tracking", "jsonb"),
        ("item", "jsonb"),
    ),
    key=("credit_note_id", "line_number"),
    parent_key="credit_note_id",
)

# One row per Tracking entry of a line item (Xero allows at most two per line).
XERO_CREDIT_NOTE_LINE_TRACKING = TableSpec(
    "staging.xero_credit_note_line_tracking",
    staging_columns(
        ("credit_note_id", "uuid"),
        ("line_number", "integer"),
        ("position", "integer"),
        ("tracking_category_id", "text"),
        ("tracking_option_id", "text"),
        ("name", "text"),
        ("option", "text"),
    ),
    key=("credit_note_id", "line_number", "position"),
    parent_key="credit_note_id",
)

# One row per element of the header's Allocations array (docs/apis.md §2.8, Allocation).
XERO_CREDIT_NOTE_ALLOCATIONS = TableSpec(
    "staging.xero_credit_note_allocations",
    staging_columns(
        ("credit_note_id", "uuid"),
        ("position", "integer"),
        ("allocation_id", "text"),
        ("amount", "numeric"),
        ("date", "date"),
        ("invoice_id", "text"),
        ("invoice_number", "text"),
        ("is_deleted", "boolean"),
    ),
    key=("credit_note_id", "position"),
    parent_key="credit_note_id",
)

# One row per element of the header's Payments array (refunds of the credit, §2.8 Payment).
XERO_CREDIT_NOTE_PAYMENTS = TableSpec(
    "staging.xero_credit_note_payments",
    staging_columns(
        ("credit_note_id", "uuid"),
        ("position", "integer"),
        ("payment_id", "text"),
        ("date", "date"),
        ("amount", "numeric"),
        ("bank_amount", "numeric"),
        ("currency_rate", "numeric"),
        ("reference", "text"),
        ("status", "text"),
        ("payment_type", "text"),
        ("is_reconciled", "boolean"),
        ("updated_date_utc", "timestamptz"),
    ),
    key=("credit_note_id", "position"),
    parent_key="credit_note_id",
)

# Child tables in load order: tracking rows reference their line, so lines come first.
XERO_CHILDREN = (
    XERO_CREDIT_NOTE_LINES,
    XERO_CREDIT_NOTE_LINE_TRACKING,
    XERO_CREDIT_NOTE_ALLOCATIONS,
    XERO_CREDIT_NOTE_PAYMENTS,
)

ALL_XERO = (XERO_CREDIT_NOTES, *XERO_CHILDREN)
