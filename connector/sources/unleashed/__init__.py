"""Unleashed Software API: credit notes over HMAC-signed, path-paged GET requests."""

from connector.sources.unleashed.client import UnleashedClient
from connector.sources.unleashed.contract import build_query, sign

__all__ = ["UnleashedClient", "build_query", "sign"]
