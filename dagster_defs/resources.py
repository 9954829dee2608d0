"""Dagster resources: plain fields that build the library's settings objects at run time.

The deployed definitions pass ``dg.EnvVar(NAME)`` to the secret fields (``definitions.py``):
Dagster resolves them in the run worker and never writes the value into run config or
metadata. Every other field is optional: left unset, it falls back to the environment variable
of README (Environment), read through ``dg.EnvVar(NAME).get_value()`` when a step starts (never
at import, so the UI loads without any secret and shows none). Validation is the library's own
(``connector.config``): a missing variable raises :class:`connector.errors.ConfigError` naming
every missing variable, which fails the step with that message.

Tests pass literals to the same fields.
"""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import dagster as dg

from connector.config import TraedeSettings, UnleashedSettings, WarehouseSettings, XeroSettings
from connector.warehouse import Warehouse

# Shared transport knobs every source reads (connector.config.HttpSettings).
_HTTP_VARS = ("CONNECTOR_HTTP_TIMEOUT", "CONNECTOR_MAX_RETRY_WAIT", "CONNECTOR_MAX_ATTEMPTS")


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def _number(value: int | None) -> str | None:
    return None if value is None else str(value)


def environment(given: Mapping[str, str | None], *extra: str) -> dict[str, str]:
    """Variables for a ``from_env`` call: explicit field values first, else the environment.

    Only the names in ``given`` and ``extra`` are read, at call time.
    """
    env: dict[str, str] = {}
    for name in (*given, *extra):
        value = given.get(name)
        if value is None:
            value = dg.EnvVar(name).get_value()
        if value is not None:
            env[name] = value
    return env


class TraedeApiResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """TRAEDE Export API credentials and the system id this warehouse exports to."""

    base_url: str | None = None
    api_token: str | None = None
    app_key: str | None = None
    system_id: str | None = None
    mark_concurrency: int | None = None
    verify_tls: bool | None = None

    def settings(self) -> TraedeSettings:
        """Validated settings; raises ConfigError naming any missing ``TRAEDE_*`` variable."""
        given = {
            "TRAEDE_BASE_URL": self.base_url,
            "TRAEDE_API_TOKEN": self.api_token,
            "TRAEDE_APP_KEY": self.app_key,
            "TRAEDE_SYSTEM_ID": self.system_id,
            "TRAEDE_MARK_CONCURRENCY": _number(self.mark_concurrency),
            "TRAEDE_VERIFY_TLS": _flag(self.verify_tls),
        }
        return TraedeSettings.from_env(
            environment(given, "TRAEDE_PAGE_LIMIT", "TRAEDE_CA_BUNDLE", *_HTTP_VARS)
        )


class XeroApiResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Xero custom connection (or app) credentials and the tenants to read."""

    base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    tenant_ids: str | None = None  # comma-separated, as XERO_TENANT_IDS
    verify_tls: bool | None = None

    def settings(self) -> XeroSettings:
        """Validated settings; raises ConfigError naming any missing ``XERO_*`` variable."""
        given = {
            "XERO_BASE_URL": self.base_url,
            "XERO_TOKEN_URL": self.token_url,
            "XERO_CLIENT_ID": self.client_id,
            "XERO_CLIENT_SECRET": self.client_secret,
            "XERO_TENANT_IDS": self.tenant_ids,
            "XERO_VERIFY_TLS": _flag(self.verify_tls),
        }
        return XeroSettings.from_env(
            environment(given, "CONNECTOR_CURSOR_OVERLAP_MINUTES", "XERO_CA_BUNDLE", *_HTTP_VARS)
        )


class UnleashedApiResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Unleashed API id and key."""

    base_url: str | None = None
    api_id: str | None = None
    api_key: str | None = None
    client_type: str | None = None
    verify_tls: bool | None = None

    def settings(self) -> UnleashedSettings:
        """Validated settings; raises ConfigError naming any missing ``UNLEASHED_*`` variable."""
        given = {
            "UNLEASHED_BASE_URL": self.base_url,
            "UNLEASHED_API_ID": self.api_id,
            "UNLEASHED_API_KEY": self.api_key,
            "UNLEASHED_CLIENT_TYPE": self.client_type,
            "UNLEASHED_VERIFY_TLS": _flag(self.verify_tls),
        }
        return UnleashedSettings.from_env(
            environment(
                given, "CONNECTOR_CURSOR_OVERLAP_MINUTES", "UNLEASHED_CA_BUNDLE", *_HTTP_VARS
            )
        )


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The warehouse: ``DATABASE_URL``, else the embedded Postgres in ``connector_home``."""

    database_url: str | None = None
    connector_home: str | None = None
    batch_size: int | None = None

    def settings(self) -> WarehouseSettings:
        """Validated settings; raises ConfigError for a malformed ``DATABASE_URL``."""
        given = {
            "DATABASE_URL": self.database_url,
            "CONNECTOR_HOME": self.connector_home,
            "CONNECTOR_BATCH_SIZE": _number(self.batch_size),
        }
        return WarehouseSettings.from_env(environment(given))

    @contextmanager
    def open(self) -> Iterator[Warehouse]:
        """A :class:`Warehouse` for one step; pooled connections are closed afterwards."""
        warehouse = Warehouse(self.settings())
        try:
            yield warehouse
        finally:
            warehouse.dispose()
