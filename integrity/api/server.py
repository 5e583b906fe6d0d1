"""The HTTP edge's time and size limits, and `integrity serve`'s uvicorn configuration.

uvicorn alone bounds neither how long a client may take to send its request headers (a client
that sends nothing, or one byte every few seconds, holds a connection for ever) nor how long a
request body may stall. Here:
- `HeaderTimeoutProtocol` (uvicorn's h11 protocol) answers 408 and closes a connection whose
  request line and headers have not all arrived `api_header_timeout_s` after its first byte
  (or after the connection opened);
- `RequestBodyGuard` (ASGI middleware) refuses a body whose next chunk takes longer than
  `api_body_idle_timeout_s`, or that is not complete within `api_body_timeout_s` (408), or that
  is over the route's byte cap (413, checked on Content-Length before reading and while
  reading): the upload webhook's `webhook_max_body_bytes`, `api_max_body_bytes` elsewhere.
Both answer the API's error body naming the field.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.supervisors import Multiprocess

from integrity.api.errors import RequestRefused
from integrity.config import Settings

logger = logging.getLogger(__name__)

UPLOAD_PATH = "/v1/deliveries"  # the one route whose body cap is the webhook's
DEFAULT_HEADER_TIMEOUT_S = 10.0  # when a uvicorn Config without our field builds the protocol
# The rest of a refused body is never read: the connection is closed after the answer.
CLOSE = {"connection": "close"}


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestBodyGuard:
    """Per request: a byte cap, a wait cap between body chunks and a cap on the whole body."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        idle_timeout_s: float,
        total_timeout_s: float,
        max_bytes: int,
        upload_max_bytes: int,
    ) -> None:
        self.app = app
        self.idle_timeout_s = idle_timeout_s
        self.total_timeout_s = total_timeout_s
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.upload_max_bytes if scope["path"] == UPLOAD_PATH else self.max_bytes
        declared = _declared_length(scope)
        if declared is not None and declared > cap:
            await _send_error(send, 413, "body", f"{declared} bytes, over the {cap}-byte limit")
            return
        deadline = time.monotonic() + self.total_timeout_s
        received = 0
        finished = False

        async def guarded_receive() -> Message:
            nonlocal received, finished
            if finished:  # after the body: only the disconnect notice, which may come late
                return await receive()
            remaining = deadline - time.monotonic()
            wait_s = min(self.idle_timeout_s, remaining)
            try:
                if wait_s <= 0:
                    raise TimeoutError
                async with asyncio.timeout(wait_s):
                    message = await receive()
            except TimeoutError:
                why = (
                    f"not complete within {self.total_timeout_s:g} s"
                    if remaining <= self.idle_timeout_s
                    else f"no body data for {self.idle_timeout_s:g} s"
                )
                raise RequestRefused(408, "body", why, CLOSE) from None
            if message["type"] != "http.request":
                finished = True
                return message
            received += len(message.get("body", b""))
            if received > cap:
                raise RequestRefused(413, "body", f"larger than the {cap}-byte limit", CLOSE)
            finished = not message.get("more_body", False)
            return message

        await self.app(scope, guarded_receive, send)


async def _send_error(send: Send, status: int, field: str, message: str) -> None:
    body = json.dumps({"detail": message, "field": field}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _raw_error(status: int, reason: str, field: str, message: str) -> bytes:
    """A whole HTTP/1.1 response, for a connection on which h11 has seen no request yet."""
    body = json.dumps({"detail": message, "field": field}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's line and headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = float(
            getattr(self.config, "header_timeout_s", DEFAULT_HEADER_TIMEOUT_S)
        )
        self.header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        if self.header_timer is None and self._awaiting_headers():
            self._arm_header_timer()  # the first bytes of the next request on this connection
        super().data_received(data)
        if not self._awaiting_headers():
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self.header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _headers_too_slow(self) -> None:
        self.header_timer = None
        if self.transport.is_closing() or not self._awaiting_headers():
            return
        if self.cycle is None or self.cycle.response_complete:
            message = f"request headers not complete within {self.header_timeout_s:g} s"
            self.transport.write(_raw_error(408, "Request Timeout", "headers", message))
        self.transport.close()


class ServerConfig(uvicorn.Config):
    """uvicorn's Config plus the header deadline (pickled as is to each worker process)."""

    def __init__(self, *args: Any, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s


def server_config(settings: Settings, *, host: str, port: int, workers: int) -> ServerConfig:
    """The uvicorn configuration `integrity serve` runs with, limits taken from `settings`."""
    app: Any
    if workers > 1:
        app = "integrity.api:create_app"  # each worker process builds its own app
    else:
        from integrity.api import create_app

        app = create_app(settings)
    return ServerConfig(
        app,
        factory=workers > 1,
        host=host,
        port=port,
        workers=workers,
        http=HeaderTimeoutProtocol,
        header_timeout_s=settings.api_header_timeout_s,
        timeout_keep_alive=settings.api_keep_alive_timeout_s,
        h11_max_incomplete_event_size=settings.api_max_header_bytes,
        proxy_headers=True,
        forwarded_allow_ips=settings.api_forwarded_allow_ips,
        timeout_worker_healthcheck=settings.api_worker_healthcheck_timeout_s,
    )


def run_server(config: ServerConfig) -> bool:
    """Serve until stopped; False when the server never started (the port is taken, say)."""
    server = uvicorn.Server(config=config)
    if config.workers > 1:
        Multiprocess(config, sockets=[config.bind_socket()]).run()
        return True
    server.run()
    return server.started
