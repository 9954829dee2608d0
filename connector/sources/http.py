"""The one place an HTTP connection pool is built, and the lifecycle every client shares.

Timeouts, TLS verification and the user agent are the same for the three sources; only the
base URL, pool size and default headers differ. Keeping the construction here means a transport
concern (a CA bundle, a proxy) is decided once for every client.

Behind a corporate proxy: ``trust_env`` makes httpx honour ``HTTPS_PROXY``, ``NO_PROXY`` and
``SSL_CERT_FILE``/``SSL_CERT_DIR``; ``<SOURCE>_CA_BUNDLE`` adds a CA (the proxy's, which re-signs
TLS) to the public roots for that source only.
"""

import ssl
from collections.abc import Mapping
from typing import Self

import certifi
import httpx

from connector.config import HttpSettings

USER_AGENT = "accounting-export-connector/0.1"


def build_http_client(
    http: HttpSettings,
    *,
    base_url: str = "",
    transport: httpx.BaseTransport | None = None,
    max_connections: int = 4,
    headers: Mapping[str, str] | None = None,
) -> httpx.Client:
    """A pooled ``httpx.Client`` with the connector's timeouts, TLS policy and user agent."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(http.timeout, connect=min(10.0, http.timeout)),
        verify=tls_verification(http),
        trust_env=True,
        transport=transport,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})},
    )


def tls_verification(http: HttpSettings) -> ssl.SSLContext | bool:
    """How the client verifies TLS: off, the public roots plus ``ca_bundle``, or the default.

    The default (True) is httpx's: ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi.
    """
    if not http.verify_tls:
        return False
    if http.ca_bundle is None:
        return True
    context = ssl.create_default_context(cafile=certifi.where())
    context.load_verify_locations(cafile=http.ca_bundle)
    return context


class PooledClient:
    """Closes its ``_http`` pool on :meth:`close` or at the end of a ``with`` block."""

    _http: httpx.Client

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
