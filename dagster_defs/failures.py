"""Library errors as Dagster step failures: the error's message and exit code, retried only
when waiting can help (a transient source error or a dropped database connection).
"""

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from connector.errors import ConnectorError, DailyLimitError, TransientSourceError, WarehouseError
from connector.flows.results import SyncResult


def retryable(error: ConnectorError) -> bool:
    """Whether the step's retry policy may run it again after ``error``."""
    if isinstance(error, DailyLimitError):
        return False  # waiting minutes does not bring a daily quota back
    return isinstance(error, TransientSourceError | WarehouseError)


def failure(error: ConnectorError) -> dg.Failure:
    """The step failure that reports ``error``."""
    return dg.Failure(
        description=f"{type(error).__name__}: {error}",
        metadata={"exit_code": error.exit_code},
        allow_retries=retryable(error),
    )


@contextmanager
def typed_failure() -> Iterator[None]:
    """Turn a library error into a step failure carrying its message (retried only if transient)."""
    try:
        yield
    except ConnectorError as exc:
        raise failure(exc) from exc


def raise_for(result: SyncResult) -> None:
    """Fail the step if the run ended in an error (the flows return it rather than raise)."""
    if result.error is not None:
        raise failure(result.error) from result.error
