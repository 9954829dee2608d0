"""The client_credentials token of a Xero custom connection: fetched, cached, renewed early."""

import time
from collections.abc import Callable

import httpx

from connector.config import XeroSettings
from connector.errors import ContractError, PermanentSourceError
from connector.jsontext import parse_json
from connector.sources.retry import (
    RetryStats,
    call_with_retries,
    raise_for_status,
    transport_error,
)

SYSTEM = "xero"
CREDENTIALS_HINT = (
    "Check XERO_CLIENT_ID and XERO_CLIENT_SECRET (the client credentials of your custom "
    "connection or app); the connection may have been disconnected in Xero"
)


class AccessToken:
    """One app's bearer token (Xero docs: tokens live 30 minutes; a 401 means fetch again)."""

    def __init__(
        self,
        settings: XeroSettings,
        http: httpx.Client,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._http = http
        self._sleep = sleep
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self.stats = RetryStats()

    def invalidate(self) -> None:
        """Forget the cached token (after a 401): the next :meth:`get` fetches a new one."""
        self._token = None

    def get(self) -> str:
        """A valid access token (cached; fetched when missing or about to expire)."""
        if self._token is not None and self._clock() < self._token_expires:
            return self._token
        token, lifetime = call_with_retries(
            self._fetch,
            http=self.settings.http,
            stats=self.stats,
            sleep=self._sleep,
            what="xero token request",
        )
        # Renew a minute early (or halfway, for short-lived test tokens) so a token never
        # expires between being checked and being used.
        self._token = token
        self._token_expires = self._clock() + lifetime - min(60.0, lifetime / 2)
        return token

    def _fetch(self) -> tuple[str, float]:
        settings = self.settings
        try:
            response = self._http.post(
                settings.token_url,
                data={"grant_type": "client_credentials"},
                auth=(settings.client_id, settings.client_secret.reveal()),
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise transport_error(
                exc, system=SYSTEM, endpoint="token", method="POST", url_variable="XERO_TOKEN_URL"
            ) from exc
        if response.status_code in (400, 401, 403):
            raise PermanentSourceError(
                SYSTEM,
                "token",
                f"{response.status_code} token request refused",
                method="POST",
                url=settings.token_url,
                status=response.status_code,
                body=response.text[:200],
                hint=CREDENTIALS_HINT,
            )
        raise_for_status(response, system=SYSTEM, endpoint="token", auth_hint=CREDENTIALS_HINT)
        try:
            body = parse_json(response.content)
            token, lifetime = body["access_token"], body["expires_in"]
        except (ValueError, KeyError, TypeError) as exc:
            raise ContractError(
                SYSTEM,
                "token",
                "token response is not JSON with access_token and expires_in",
                method="POST",
                url=settings.token_url,
                status=response.status_code,
            ) from exc
        if not isinstance(token, str) or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise ContractError(SYSTEM, "token", "token response has an unusable token or expiry")
        return token, float(lifetime)
