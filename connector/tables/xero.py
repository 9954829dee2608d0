"""Xero staging tables (sql/0004_xero_staging.sql)."""

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

ALL_XERO = (XERO_CREDIT_NOTES, XERO_CREDIT_NOTE_LINES)
