"""Replies of the TRAEDE emulator: heimdal-style error shapes, fault replies, dropped bodies."""

from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from connector.emulator.faults import FaultRule
from connector.emulator.json_bytes import dumps

JSON_TYPE = "application/json"
_HTML = (
    "<html><head><title>{status} Bad Gateway</title></head><body>"
    "<center><h1>{status} Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class Reply:
    """A reply before faults spoil it: full ``body`` or streamed ``chunks``."""

    status: int
    body: bytes = b""
    chunks: Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str = JSON_TYPE
    ids_marked: list[int] = field(default_factory=list)

    def materialize(self) -> bytes:
        """Return the whole body, draining ``chunks`` if streamed."""
        if self.chunks is not None:
            self.body, self.chunks = b"".join(self.chunks), None
        return self.body

    def response(self) -> Response:
        """Return the Starlette response: streamed if ``chunks`` is set, else whole."""
        if self.chunks is not None:
            return StreamingResponse(
                self.chunks, self.status, self.headers, media_type=self.media_type
            )
        return Response(self.body, self.status, self.headers, media_type=self.media_type)


def validation_error(detail: str, status: int = 422) -> Reply:
    """A heimdal-style validation error reply."""
    error = {"status": str(status), "code": 0, "title": "Validation error", "detail": detail}
    return Reply(status, dumps({"errors": [error]}))


def error_reply(status: int, message: str) -> Reply:
    """A heimdal-style ``{"status":"error","message":...}`` reply."""
    return Reply(status, dumps({"status": "error", "message": message}))


class DroppedResponse(Response):
    """Sends the headers (full Content-Length) and half the body, then gives up.

    Returning without finishing the body makes uvicorn close the connection, so the client
    sees an incomplete message (httpx: RemoteProtocolError).
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the headers and half the body, then return without finishing."""
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        half = self.body[: len(self.body) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})


def in_flight_reply(retry_after_ms: int) -> Reply:
    """The 429 of a server that already answers as many mark calls as it allows at once."""
    reply = error_reply(429, "Too Many Attempts.")
    seconds = retry_after_ms / 1000
    reply.headers["Retry-After"] = str(int(seconds)) if seconds == int(seconds) else str(seconds)
    return reply


def fault_reply(rule: FaultRule) -> Reply:
    """The reply a terminal fault rule answers with instead of the real one."""
    if rule.kind == "429":
        reply = error_reply(429, "Too Many Attempts.")
        retry_after = rule.param("retry_after", 1)
        text = str(int(retry_after)) if retry_after == int(retry_after) else str(retry_after)
        reply.headers["Retry-After"] = text
        return reply
    if rule.kind == "unauthorized":
        return error_reply(401, "Unauthenticated.")
    if rule.kind == "html":
        status = int(rule.param("status", 502))
        return Reply(status, _HTML.format(status=status).encode(), media_type="text/html")
    return error_reply(int(rule.kind), "An error occurred.")
