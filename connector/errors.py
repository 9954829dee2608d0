"""The exception tree used by every layer (docs/architecture.md §6).

Constructors take fields and build the message, so callers and tests can look at attributes
instead of parsing text. Messages never carry secrets: URLs are redacted before they get here.
"""

import re
from typing import Any

_BODY_LIMIT = 500
_SECRET_QUERY = re.compile(r"(?i)(access_token|token|key|secret|signature|password)=([^&\s]+)")


def redact_url(url: str) -> str:
    """Return ``url`` with credential-looking query values replaced by ``***``."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", url)


def cut(text: str, limit: int = _BODY_LIMIT) -> str:
    """Shorten ``text`` to ``limit`` characters, marking the cut."""
    return text if len(text) <= limit else text[:limit] + "…"


class ConnectorError(Exception):
    """Base of every error this package raises on purpose."""

    exit_code = 1


class ConfigError(ConnectorError):
    """A missing or invalid setting. Names the variable, never its value."""

    exit_code = 2

    def __init__(self, variable: str, problem: str, hint: str = "") -> None:
        self.variable = variable
        self.problem = problem
        self.hint = hint
        message = f"{variable}: {problem}"
        super().__init__(f"{message}. {hint}" if hint else message)


class SourceError(ConnectorError):
    """A call to a source API failed.

    Attributes mirror what is needed to understand the failure without the secret:
    system, endpoint, method, redacted URL, HTTP status (None for network errors),
    the request id if the server sent one, and a short body excerpt.
    """

    exit_code = 3

    def __init__(
        self,
        system: str,
        endpoint: str,
        problem: str,
        *,
        method: str = "GET",
        url: str = "",
        status: int | None = None,
        request_id: str | None = None,
        body: str = "",
        hint: str = "",
    ) -> None:
        self.system = system
        self.endpoint = endpoint
        self.problem = problem
        self.method = method
        self.url = redact_url(url)
        self.status = status
        self.request_id = request_id
        self.body = cut(body)
        self.hint = hint
        parts = [f"{system}/{endpoint}: {problem}"]
        if self.url:
            parts.append(f"for {method} {self.url}")
        if request_id:
            parts.append(f"(request {request_id})")
        message = " ".join(parts)
        if self.body:
            message += f": {self.body!r}"
        if hint:
            message += f". {hint}"
        super().__init__(message)


class TransientSourceError(SourceError):
    """429, 5xx, timeouts and resets: retried by the client before it surfaces."""

    exit_code = 3

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        # Set for a failure to connect: what to raise instead before any call succeeded.
        self.unreachable: SourceError | None = None
        super().__init__(*args, **kwargs)


class SourceUnreachableError(SourceError):
    """The source cannot be reached as configured, on a client's first call.

    Connection refused, unknown host, a proxy refusing, or a certificate not trusted: a
    configuration problem far more often than an outage, so it is not retried; the message
    names the variable to check.
    """

    exit_code = 2


class RateLimitError(TransientSourceError):
    """The source throttled us; ``problem_kind`` says which limit (minute, day, concurrent)."""

    def __init__(self, *args: Any, limit: str = "", **kwargs: Any) -> None:
        self.limit = limit
        super().__init__(*args, **kwargs)


class DailyLimitError(RateLimitError):
    """A daily quota is spent: waiting is pointless, the run stops cleanly with its cursor saved."""

    exit_code = 10


class PermanentSourceError(SourceError):
    """Other 4xx and bad credentials: not retried."""

    exit_code = 4


class ContractError(SourceError):
    """The payload breaks the API contract: not JSON, a missing root key, a paging loop."""

    exit_code = 5


class IncompletePassError(ContractError):
    """An export pass ended before it received the whole backlog (a server ignoring ``page``).

    Everything received before it was loaded; the run fails (non-zero exit) saying why.
    """


class NormalizationError(ConnectorError):
    """A record cannot be turned into a staging row (used for rejects, not raised per batch)."""

    exit_code = 8

    def __init__(
        self, endpoint: str, record_id: object, field: str, value: object, why: str
    ) -> None:
        self.endpoint = endpoint
        self.record_id = record_id
        self.field = field
        self.value_excerpt = cut(repr(value), 80)
        self.why = why
        super().__init__(
            f"{endpoint} record {record_id}: {field}: {why} (got {self.value_excerpt})"
        )


class WarehouseError(ConnectorError):
    """A COPY, merge, outbox or connection failure; the psycopg error is kept as ``__cause__``."""

    exit_code = 6


class MigrationError(WarehouseError):
    """A migration could not be applied or an applied one was changed."""

    def __init__(self, filename: str, problem: str, line: int | None = None) -> None:
        self.filename = filename
        self.line = line
        where = f"{filename}" + (f" (line {line})" if line is not None else "")
        super().__init__(f"migration {where}: {problem}")


class LockHeldError(ConnectorError):
    """Another run already consumes this (source, system_id, resource)."""

    exit_code = 7

    def __init__(self, key: str, holder: str) -> None:
        self.key = key
        self.holder = holder
        super().__init__(f"{key} is being synced by another run: {holder}")
