-- One row per source credit note across TRAEDE, Xero and Unleashed (DESIGN.md §3, analytics).
--
-- Amounts are as the sources send them: credit notes carry positive amounts and the document
-- type gives the meaning. Sign convention of `signed_total` (seen from the business that runs
-- this warehouse):
--   direction = 'receivable' -- a credit we give a customer (TRAEDE and Unleashed credit notes,
--                               Xero ACCRECCREDIT): it reduces revenue/receivables, so it is
--                               NEGATIVE in signed_total;
--   direction = 'payable'    -- a credit a supplier gives us (Xero ACCPAYCREDIT): it reduces
--                               costs/payables, so it is POSITIVE in signed_total.
-- DELETED and VOIDED Xero credit notes are included with their status; filter on status to
-- leave them out. Dates are the document date in UTC (TRAEDE has none documented: created_at
-- is used); updated_at is each source's last-change instant.
CREATE VIEW analytics.credit_notes AS
SELECT
    'traede'::text                                   AS source,
    c.id::text                                       AS source_id,
    c.credit_note_number::text                       AS number,
    c.status                                         AS status,
    'receivable'::text                               AS direction,
    (c.created_at AT TIME ZONE 'UTC')::date          AS credit_date,
    c.currency                                       AS currency,
    c.net_price + coalesce(c.shipping, 0) + coalesce(c.handling_fee, 0) AS subtotal,
    c.vat_amount                                     AS tax,
    c.total_price_after_vat                          AS total,
    -c.total_price_after_vat                         AS signed_total,
    c.customer_id::text                              AS customer_id,
    NULL::text                                       AS customer_name,
    c.updated_at                                     AS updated_at
FROM staging.traede_credit_notes c
UNION ALL
SELECT
    'xero',
    x.credit_note_id::text,
    nullif(x.credit_note_number, ''),
    x.status,
    CASE x.type WHEN 'ACCPAYCREDIT' THEN 'payable' ELSE 'receivable' END,
    x.date,
    x.currency_code,
    x.sub_total,
    x.total_tax,
    x.total,
    CASE x.type WHEN 'ACCPAYCREDIT' THEN x.total ELSE -x.total END,
    x.contact_id,
    x.contact_name,
    x.updated_date_utc
FROM staging.xero_credit_notes x
UNION ALL
SELECT
    'unleashed',
    u.credit_number,
    u.credit_number,
    u.credit_status,
    'receivable',
    (u.credit_date AT TIME ZONE 'UTC')::date,
    u.currency_code,
    u.sub_total,
    u.tax_total,
    u.total,
    -u.total,
    u.customer_code,
    u.customer_name,
    u.last_modified_on
FROM staging.unleashed_credit_notes u;

COMMENT ON VIEW analytics.credit_notes IS
    'Credit notes of every source, one row each; signed_total < 0 for receivable credits '
    '(given to customers), > 0 for payable credits (ACCPAYCREDIT, from suppliers).';
