"""Accounting export connector: TRAEDE, Xero and Unleashed documents into Postgres staging."""
