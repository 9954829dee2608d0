"""Browser-test fixtures: the integration suite's real Postgres (a fresh database per test).

Re-exported rather than listed in ``pytest_plugins`` (allowed only in the root conftest).
"""

from tests.integration.conftest import (  # noqa: F401
    db,
    pg_server_url,
    pg_template,
    pg_url,
    warehouse,
)
