"""The chaos suites use the shared Postgres fixtures (tests/postgres_fixtures.py)."""
