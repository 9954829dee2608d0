"""Run an ASGI app with uvicorn on 127.0.0.1: in a background thread (tests) or blocking (CLI)."""

import logging
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

logger = logging.getLogger(__name__)


def _config(
    app: ASGIApp,
    host: str,
    port: int,
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        access_log=False,
        timeout_keep_alive=30,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )


class EmulatorServer:
    """Serve ``app`` on ``host`` (default 127.0.0.1) and a free port in a daemon thread.

    Use as a context manager, or call ``start()`` and ``stop()``; ``url`` is the base URL.
    With ``ssl_certfile`` and ``ssl_keyfile`` (PEM) it serves HTTPS.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        timeout: float = 10.0,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        self.app = app
        self.host = host
        self.timeout = timeout
        self.scheme = "https" if ssl_certfile else "http"
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.port: int = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_config(app, host, self.port, ssl_certfile, ssl_keyfile))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> "EmulatorServer":
        """Start serving and wait until the port accepts connections.

        Raises:
            RuntimeError: the server did not come up within ``timeout`` seconds.
        """
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"emulator-{self.port}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"emulator server on {self.url} did not start")
            time.sleep(0.01)
        with socket.create_connection((self.host, self.port), timeout=self.timeout):
            pass
        logger.debug("emulator listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread (idempotent)."""
        if self._thread is None:
            self._socket.close()
            return
        self._server.should_exit = True
        self._thread.join(self.timeout)
        self._thread = None
        self._socket.close()

    def __enter__(self) -> "EmulatorServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(app: ASGIApp, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve ``app`` on ``host:port`` until interrupted (blocking; for the CLI)."""
    logger.info("emulator listening on http://%s:%d", host, port)
    uvicorn.Server(_config(app, host, port)).run()
