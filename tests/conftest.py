"""Shared test setup: a clean environment for every test (docs/architecture.md §7)."""

import os

import pytest

# One embedded Postgres per test run, shared by integration, chaos and browser suites.
pytest_plugins = ["tests.postgres_fixtures"]

_PREFIXES = ("CONNECTOR_", "TRAEDE_", "XERO_", "UNLEASHED_")
_NAMES = ("DATABASE_URL",)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-docs-images``: the browser test also refreshes docs/img/ (never by default)."""
    parser.addoption(
        "--update-docs-images",
        action="store_true",
        default=False,
        help="copy the Dagster UI screenshots into docs/img/ (scripts/refresh-docs-images)",
    )


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the developer's own connector settings."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES) or name in _NAMES:
            monkeypatch.delenv(name, raising=False)
