"""Xero Accounting API (credit notes): wire contract and client."""
