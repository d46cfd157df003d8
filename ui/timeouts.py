"""How long a client may take to send its request: the headers (``server.header_timeout_s``,
from the first byte of a request to the end of its headers, and for a new connection from
its opening) and the body (``server.body_timeout_s``, from the end of the headers to the
body's last byte). A client that sends half a request and waits holds a connection and a
file descriptor; these deadlines give them back.

    header_timed_protocol(seconds) -> the HTTP protocol `bedside serve` gives uvicorn
    BodyTimeout(app, seconds)      -> ASGI middleware: a body still arriving is cut with 408

uvicorn times out only an idle kept-alive connection (``timeout_keep_alive``), and stops
that timer at the first byte of the next request; a new connection that sends nothing, or
half a request line, was held for ever.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ui.security import send_json

log = logging.getLogger("bedside.server")

# Written by hand: h11 has no response to send before it has read a request.
_HEADER_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n\r\n"
    b"request headers took too long\r\n"
)


class HeaderTimedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on the request line and headers."""

    def __init__(self, *args: Any, header_timeout_s: float = 10.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(
                self.header_timeout_s, self._header_timeout
            )

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing is closed too

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        # IDLE: h11 has not yet read a whole request line and headers.
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm()
        else:
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _header_timeout(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # an answer is still being written on this connection
        self.transport.write(_HEADER_TIMEOUT_RESPONSE)
        self.transport.close()


def header_timed_protocol(header_timeout_s: float) -> Any:
    """The protocol to give ``uvicorn.Config(http=...)`` (picklable, for the workers)."""
    return functools.partial(HeaderTimedH11Protocol, header_timeout_s=header_timeout_s)


class BodyTimeout:
    """A request body that has not fully arrived ``seconds`` after its headers is 408 (the
    connection is then closed); the app sees the client as gone."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        body_done = False
        started = False
        cut = False

        async def timed_receive() -> Message:
            nonlocal body_done, cut
            if cut:
                return {"type": "http.disconnect"}
            if body_done:  # later reads wait for a disconnect: no deadline on those
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                cut = True
                log.warning(
                    "request body from %s not received within %ss (server.body_timeout_s)",
                    scope["client"][0] if scope.get("client") else "unknown",
                    self.seconds,
                )
                if not started:
                    await send_json(
                        send,
                        408,
                        {"error": "request body took too long (server.body_timeout_s)"},
                        [(b"connection", b"close")],
                    )
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if cut:
                return  # the 408 was the answer
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)
