"""ASGI middleware for the server: body size limit, and the headers that decide who may
frame the chat; and what a client is told when a request fails (``client_message``: never
a host, socket, user or path). Who may call the server at all is ``ui.access``.

CORS itself is Starlette's CORSMiddleware on the parent app (see ``ui.app``): gradio's own
CORS handling steps aside when the parent app configures CORS.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corpus.errors import BedsideError, InputError, StorageError

log = logging.getLogger("bedside.server")
UNAVAILABLE = (
    "the server could not answer: its index or database is unavailable; the server log has "
    "the details"
)


def client_message(exc: BedsideError) -> tuple[str, str | None]:
    """What a client may read about a failed request, and the reference under which the
    whole error is logged here. Only a question's own problem (InputError) and a record
    that could not be stored (StorageError, written for clients) and an error marked
    ``client_safe`` (the index refused by its re-verification) are told as they are; any
    other error (a database outage names its host, user and socket; a bad index its path)
    is logged with a reference and told in general words."""
    if isinstance(exc, InputError) or getattr(exc, "client_safe", False):
        return str(exc), None
    ref = uuid.uuid4().hex[:12]
    log.error("request failed (ref %s): %s: %s", ref, type(exc).__name__, exc)
    if isinstance(exc, StorageError):
        return str(exc), ref
    return UNAVAILABLE, ref


async def send_body(
    send: Send,
    status: int,
    content_type: bytes,
    payload: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A whole response from middleware, never cached."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def send_json(
    send: Send, status: int, body: dict[str, str], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send_body(send, status, b"application/json", json.dumps(body).encode(), headers)


async def send_html(
    send: Send, status: int, page: str, headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    await send_body(send, status, b"text/html; charset=utf-8", page.encode(), headers)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not the client sent a
    Content-Length (a chunked body is counted as it arrives, before the app sees it)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = {"error": f"request body larger than {self.limit} bytes (server.max_body_bytes)"}
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_json(send, 400, {"error": "invalid Content-Length header"})
                return
            if declared > self.limit:
                await send_json(send, 413, too_big)
                return
            await self.app(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # No Content-Length: read the whole body first, within the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await send_json(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class SecurityHeaders:
    """``Content-Security-Policy: frame-ancestors`` from the allowlist on every response,
    plus no MIME sniffing and no referrer leaving the hospital network."""

    def __init__(self, app: ASGIApp, frame_ancestors: Sequence[str]) -> None:
        self.app = app
        ancestors = " ".join(frame_ancestors) or "'none'"
        self.headers = [
            (b"content-security-policy", f"frame-ancestors {ancestors}".encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {h[0] for h in self.headers}
                kept = [h for h in message.get("headers", []) if h[0].lower() not in names]
                message = {**message, "headers": kept + self.headers}
            await send(message)

        await self.app(scope, receive, with_headers)
