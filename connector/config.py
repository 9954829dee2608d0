"""Frozen settings built from the environment: the only module that reads ``os.environ``.

Secrets are wrapped in :class:`Secret`, whose ``repr``/``str`` never show the value, so a
settings object can be logged, put in an exception or shown in Dagster without leaking.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from connector.errors import ConfigError

TRAEDE_DEFAULT_BASE_URL = "https://api.traede.com"
XERO_DEFAULT_BASE_URL = "https://api.xero.com/api.xro/2.0"
XERO_DEFAULT_TOKEN_URL = "https://identity.xero.com/connect/token"
UNLEASHED_DEFAULT_BASE_URL = "https://api.unleashedsoftware.com"
MAX_CURSOR_OVERLAP = timedelta(days=1)


class Secret:
    """A string that does not print itself. Call :meth:`reveal` at the one place it is sent."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """Return the secret value (only for the HTTP or database layer)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('***')" if self._value else "Secret('')"

    __str__ = __repr__


def _get(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip()


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(name, "must be true or false", "Use 1/0, true/false, yes/no or on/off.")


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, "must be a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be between {lo} and {hi}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = _get(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, "must be a number") from None
    if not lo <= value <= hi:
        raise ConfigError(name, f"must be between {lo} and {hi}")
    return value


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    raw = _get(env, name, default) or default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(name, "must be an http(s) URL such as " + default)
    return raw.rstrip("/")


def _file(env: Mapping[str, str], name: str) -> str | None:
    raw = _get(env, name)
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise ConfigError(name, "is not a readable file", "Point it at a PEM CA bundle.")
    return str(path.resolve())


@dataclass(frozen=True)
class HttpSettings:
    """Transport knobs shared by every source client.

    ``ca_bundle`` (``<PREFIX>_CA_BUNDLE``) is a PEM file of extra trusted CAs, such as the one a
    corporate proxy re-signs TLS with; it is trusted in addition to the public roots. Proxies
    come from ``HTTPS_PROXY``/``NO_PROXY`` and ``SSL_CERT_FILE`` replaces the public roots: the
    HTTP library reads those standard variables itself.
    """

    timeout: float = 30.0
    max_retry_wait: float = 300.0
    max_attempts: int = 8
    verify_tls: bool = True
    ca_bundle: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str) -> "HttpSettings":
        """Read ``<PREFIX>_VERIFY_TLS``, ``<PREFIX>_CA_BUNDLE`` and ``CONNECTOR_HTTP_*`` knobs."""
        return cls(
            timeout=_float(env, "CONNECTOR_HTTP_TIMEOUT", 30.0, 1.0, 600.0),
            max_retry_wait=_float(env, "CONNECTOR_MAX_RETRY_WAIT", 300.0, 0.0, 86_400.0),
            max_attempts=_int(env, "CONNECTOR_MAX_ATTEMPTS", 8, 1, 100),
            verify_tls=_bool(env, f"{prefix}_VERIFY_TLS", True),
            ca_bundle=_file(env, f"{prefix}_CA_BUNDLE"),
        )


@dataclass(frozen=True)
class WarehouseSettings:
    """Where the staging tables live: ``DATABASE_URL`` or the embedded Postgres."""

    database_url: Secret | None
    home: Path
    batch_size: int = 2000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "WarehouseSettings":
        """Build from ``DATABASE_URL``, ``CONNECTOR_HOME`` and ``CONNECTOR_BATCH_SIZE``."""
        env = os.environ if env is None else env
        url = _get(env, "DATABASE_URL")
        if url and not url.startswith(("postgresql", "postgres")):
            raise ConfigError("DATABASE_URL", "must be a postgresql:// URL")
        home = Path(_get(env, "CONNECTOR_HOME") or ".connector").expanduser().resolve()
        return cls(
            database_url=Secret(url) if url else None,
            home=home,
            batch_size=_int(env, "CONNECTOR_BATCH_SIZE", 2000, 1, 100_000),
        )


# The note TRAEDE shows in each marked document's timeline, to TRAEDE's users: it names the
# connector and the run only, never the warehouse (host, socket path, database). ``{run_id}``
# in TRAEDE_MARK_NOTE is replaced by the run's id.
DEFAULT_MARK_NOTE = "accounting-export-connector run {run_id}"
MAX_MARK_NOTE = 500


@dataclass(frozen=True)
class TraedeSettings:
    """TRAEDE Export API settings (README, "Environment")."""

    base_url: str
    api_token: Secret
    app_key: Secret
    system_id: str
    http: HttpSettings = field(default_factory=HttpSettings)
    page_limit: int = 60
    mark_concurrency: int = 4
    mark_concurrency_max: int = 16
    mark_max_attempts: int = 5
    mark_note: str = DEFAULT_MARK_NOTE

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "TraedeSettings":
        """Build from the ``TRAEDE_*`` variables; a :class:`ConfigError` names what is missing."""
        env = os.environ if env is None else env
        missing = [
            name
            for name in ("TRAEDE_API_TOKEN", "TRAEDE_APP_KEY", "TRAEDE_SYSTEM_ID")
            if not _get(env, name)
        ]
        if missing:
            raise ConfigError(
                ", ".join(missing),
                "not set",
                "Set them to the token and app key of your TRAEDE API app and the system id "
                "this warehouse exports to (see README, Environment).",
            )
        start = _int(env, "TRAEDE_MARK_CONCURRENCY", 4, 1, 32)
        return cls(
            base_url=_url(env, "TRAEDE_BASE_URL", TRAEDE_DEFAULT_BASE_URL),
            api_token=Secret(_get(env, "TRAEDE_API_TOKEN")),
            app_key=Secret(_get(env, "TRAEDE_APP_KEY")),
            system_id=_get(env, "TRAEDE_SYSTEM_ID"),
            http=HttpSettings.from_env(env, "TRAEDE"),
            page_limit=_int(env, "TRAEDE_PAGE_LIMIT", 60, 1, 60),
            mark_concurrency=start,
            mark_concurrency_max=max(start, _int(env, "TRAEDE_MARK_CONCURRENCY_MAX", 16, 1, 64)),
            mark_max_attempts=_int(env, "TRAEDE_MARK_MAX_ATTEMPTS", 5, 1, 1000),
            mark_note=_mark_note(env),
        )


def _mark_note(env: Mapping[str, str]) -> str:
    """``TRAEDE_MARK_NOTE``: shown to TRAEDE's users in each document's timeline."""
    note = _get(env, "TRAEDE_MARK_NOTE")
    if not note:
        return DEFAULT_MARK_NOTE
    if len(note) > MAX_MARK_NOTE:
        raise ConfigError("TRAEDE_MARK_NOTE", f"must be at most {MAX_MARK_NOTE} characters")
    return note


def cursor_overlap(env: Mapping[str, str]) -> timedelta:
    """The overlap subtracted from a stored cursor: ``CONNECTOR_CURSOR_OVERLAP_MINUTES``."""
    minutes = _int(env, "CONNECTOR_CURSOR_OVERLAP_MINUTES", 10, 0, 24 * 60)
    return min(timedelta(minutes=minutes), MAX_CURSOR_OVERLAP)


@dataclass(frozen=True)
class XeroSettings:
    """Xero Accounting API settings (custom connection or multi-tenant app)."""

    base_url: str
    token_url: str
    client_id: str
    client_secret: Secret
    tenant_ids: tuple[str, ...]
    http: HttpSettings = field(default_factory=HttpSettings)
    cursor_overlap: timedelta = timedelta(minutes=10)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "XeroSettings":
        """Build from the ``XERO_*`` variables; a :class:`ConfigError` names what is missing."""
        env = os.environ if env is None else env
        missing = [n for n in ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET") if not _get(env, n)]
        if missing:
            raise ConfigError(
                ", ".join(missing),
                "not set",
                "Use the client id and secret of your Xero custom connection or app.",
            )
        tenants = tuple(t.strip() for t in _get(env, "XERO_TENANT_IDS").split(",") if t.strip())
        return cls(
            base_url=_url(env, "XERO_BASE_URL", XERO_DEFAULT_BASE_URL),
            token_url=_url(env, "XERO_TOKEN_URL", XERO_DEFAULT_TOKEN_URL),
            client_id=_get(env, "XERO_CLIENT_ID"),
            client_secret=Secret(_get(env, "XERO_CLIENT_SECRET")),
            tenant_ids=tenants,
            http=HttpSettings.from_env(env, "XERO"),
            cursor_overlap=cursor_overlap(env),
        )


@dataclass(frozen=True)
class UnleashedSettings:
    """Unleashed API settings."""

    base_url: str
    api_id: str
    api_key: Secret
    client_type: str
    http: HttpSettings = field(default_factory=HttpSettings)
    cursor_overlap: timedelta = timedelta(minutes=10)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "UnleashedSettings":
        """Build from ``UNLEASHED_*``; a :class:`ConfigError` names what is missing."""
        env = os.environ if env is None else env
        missing = [n for n in ("UNLEASHED_API_ID", "UNLEASHED_API_KEY") if not _get(env, n)]
        if missing:
            raise ConfigError(
                ", ".join(missing),
                "not set",
                "Copy them from Integration > Unleashed API Access (account owner only).",
            )
        return cls(
            base_url=_url(env, "UNLEASHED_BASE_URL", UNLEASHED_DEFAULT_BASE_URL),
            api_id=_get(env, "UNLEASHED_API_ID"),
            api_key=Secret(_get(env, "UNLEASHED_API_KEY")),
            client_type=_get(env, "UNLEASHED_CLIENT_TYPE") or "accounting-export-connector/etl",
            http=HttpSettings.from_env(env, "UNLEASHED"),
            cursor_overlap=cursor_overlap(env),
        )


SOURCE_VARIABLES = {
    "traede": ("TRAEDE_API_TOKEN", "TRAEDE_APP_KEY", "TRAEDE_SYSTEM_ID"),
    "xero": ("XERO_CLIENT_ID", "XERO_CLIENT_SECRET"),
    "unleashed": ("UNLEASHED_API_ID", "UNLEASHED_API_KEY"),
}


def source_mentioned(env: Mapping[str, str] | None, source: str) -> bool:
    """Whether any credential variable of ``source`` is set (it is meant to be configured)."""
    env = os.environ if env is None else env
    return any(_get(env, n) for n in SOURCE_VARIABLES[source])


def parse_since(value: str | None, name: str = "not_exported_since") -> datetime | None:
    """An ISO-8601 instant (CLI flag or Dagster run config) as an aware UTC datetime.

    Empty means "not given"; no zone means UTC. Raises :class:`ConfigError` naming ``name``.
    """
    if value is None or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            name, "must be ISO 8601, e.g. 2024-06-01T00:00:00Z (no zone means UTC)"
        ) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
