-- Schemas of the warehouse (DESIGN.md §3): staging tables, connector bookkeeping, analytics views.
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS connector;
CREATE SCHEMA IF NOT EXISTS analytics;
