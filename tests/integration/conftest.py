"""Integration tests: fixtures come from tests/postgres_fixtures.py via tests/conftest.py."""
