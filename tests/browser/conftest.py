"""Browser tests use the shared Postgres fixtures (tests/postgres_fixtures.py)."""
