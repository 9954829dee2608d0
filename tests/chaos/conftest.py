"""The chaos suites use the integration fixtures: a fresh migrated database per test."""

from tests.integration.conftest import db, pg_server_url, pg_template, pg_url, warehouse  # noqa: F401
