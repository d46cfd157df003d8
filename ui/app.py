"""One FastAPI process serves everything: the JSON API (/api/...), OpenAPI (/docs), the
Gradio chat (/chat/), gradio's web-component script (/chat/gradio.js), a host page that
embeds the chat (/widget-demo), and the library of indexed documents (/library,
/library/{doc_id}, /api/library; ``ui.library``).

    create_app(service) -> FastAPI

Middleware, outermost first: security headers (CSP frame-ancestors), body read deadline
(408), Host allowlist and forwarded headers (only from trusted proxies), CORS (allowlist,
default none), rate limit (POSTs; refused credentials), access policy (``ui.access``:
none | token | proxy, over every route but /api/health and the login form), body size
limit, and 404 for a chat API name the chat does not have. Clients never see a stack trace,
nor a host, user, socket or path from an error (``ui.security.client_message``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Generator
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from swagger_ui_bundle import swagger_ui_path

from assistant.pipeline import answer_json, event_json
from assistant.provenance import today
from assistant.types import Event
from corpus.errors import BedsideError, IndexStoreError, InputError
from ui.access import Access, AccessPolicy, HostGuard, Identity, RateLimit, RateLimiter
from ui.chat import CSS, build_chat, theme
from ui.gradio_env import gr
from ui.library import filter_entries
from ui.library_page import document_page, library_page, missing_page
from ui.security import BodyLimit, SecurityHeaders, client_message, send_json
from ui.service import (
    AskRequest,
    CheckRequest,
    FeedbackRequest,
    IndexUnavailableError,
    Service,
    bedside_version,
)
from ui.timeouts import BodyTimeout
from ui.widget import GRADIO_JS, demo_page, frontend_css

log = logging.getLogger("bedside.server")


def _validation_message(exc: RequestValidationError) -> dict[str, Any]:
    problems = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        problems.append({"field": loc, "problem": err.get("msg", "invalid")})
    first = problems[0] if problems else {"field": "body", "problem": "invalid"}
    return {"error": f"invalid request: {first['field']}: {first['problem']}", "problems": problems}


# gradio's routes that name an endpoint: /call/v2/{name}, /call/{name}[/{event}], /run/{name},
# /api/{name}. gradio answers an unknown name with a 500 (a KeyError inside); Bedside with 404.
# ?type= on the library: one source type (institution, guideline, ...); empty lists every type.
_TYPE_QUERY = Query("", alias="type", description="only documents of this source type")
_NAMED = re.compile(r"^/gradio_api/(?:call/v2|call|run|api)/([^/]*)")


class GradioNames:
    """404 for a gradio API route that names an endpoint the chat does not have."""

    def __init__(self, app: ASGIApp, mount: str, names: frozenset[str]) -> None:
        self.app = app
        self.mount = mount
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "") if scope["type"] == "http" else ""
        if path.startswith(self.mount + "/"):
            named = _NAMED.match(path[len(self.mount) :])
            if named is not None and named.group(1) not in self.names:
                await send_json(send, 404, {"error": "no such chat API endpoint"})
                return
        await self.app(scope, receive, send)


def _sse(event: Event) -> bytes:
    return f"data: {json.dumps(event_json(event), ensure_ascii=False)}\n\n".encode()


async def _event_lines(first: Event, events: Generator[Event, None, None]) -> AsyncIterator[bytes]:
    """Server-sent events, each read from ``events`` on a worker thread. When the client
    goes, the events are closed once the step under way ends: the answer slot is freed and
    the language model's request closed. An error after the first event is sent as an
    ``error`` event (no host, user or path in it) and ends the stream."""
    try:
        yield _sse(first)
        while True:
            try:
                event = await run_in_threadpool(next, events, None)
            except BedsideError as exc:
                message, ref = client_message(exc)
                yield _error_line(message, ref)
                return
            except Exception as exc:
                ref = uuid.uuid4().hex[:12]
                log.exception("unexpected error (%s)", ref, exc_info=exc)
                yield _error_line("internal error; the server log has the details", ref)
                return
            if event is None:
                return
            yield _sse(event)
    finally:
        events.close()


def _error_line(message: str, ref: str | None) -> bytes:
    body = {"event": "error", "error": message, "ref": ref}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def _who(request: Request) -> Identity:
    return Identity.from_headers(dict(request.headers))


def api_token(service: Service) -> str | None:
    name = service.assistant.settings.server.api_token_env
    return os.environ.get(name) or None


def create_app(service: Service, *, token: str | None = None) -> FastAPI:
    """The whole server for one ready ``Service``. ``token`` defaults to the value of the
    environment variable named by ``server.api_token_env``. A policy that cannot work
    (token access without a token, proxy access without a trusted proxy) is a ConfigError
    here, before anything is served."""
    server = service.assistant.settings.server
    policy = AccessPolicy.from_settings(server, token if token is not None else api_token(service))
    app = FastAPI(
        title="Bedside",
        version=bedside_version(),
        description="Cited, dose-checked answers from a curated clinical corpus. Every answer "
        "carries the dose check verdict, the review status and a disclaimer.",
        docs_url=None,  # served below from Bedside's own copy of Swagger UI
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(_validation_message(exc), status_code=422)

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=422)

    @app.exception_handler(IndexUnavailableError)
    async def index_unavailable(_: Request, exc: IndexUnavailableError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=503)

    @app.exception_handler(BedsideError)
    async def bedside_error(_: Request, exc: BedsideError) -> JSONResponse:
        message, ref = client_message(exc)  # no host, user, socket or path reaches a client
        status = 503 if isinstance(exc, IndexStoreError) else 500
        return JSONResponse({"error": message, "ref": ref}, status_code=status)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        ref = uuid.uuid4().hex[:12]
        log.exception("unexpected error (%s)", ref, exc_info=exc)
        return JSONResponse(
            {"error": "internal error; the server log has the details", "ref": ref},
            status_code=500,
        )

    @app.post(
        "/api/ask",
        summary="Ask a question: a cited, dose-checked answer",
        description="With `?stream=true` the answer is `text/event-stream`: one `data:` line "
        "of JSON per event, each statement as soon as the guard has passed it (`statement`, "
        "the bottom line first), `notice`s, and last the whole answer (`answer`, as the "
        "reply without streaming).",
        response_model=None,
    )
    def ask(request: AskRequest, http: Request, stream: bool = False) -> Any:
        if not stream:
            return answer_json(service.ask(request, _who(http), "/api/ask"))
        events = service.ask_stream(request, _who(http), "/api/ask")
        # The first event is taken here: a question refused (bad input, the index changed)
        # is answered with its status code, as without streaming.
        try:
            first = next(events)
        except StopIteration:  # pragma: no cover - a stream always ends with its answer
            raise BedsideError("the answer stream ended without an answer") from None
        return StreamingResponse(
            _event_lines(first, events),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.post("/api/check", summary="Run the dose guard alone over an answer text")
    def check(request: CheckRequest, http: Request) -> dict[str, Any]:
        return service.check(request, _who(http))

    @app.post("/api/feedback", summary="Store 👍/👎 feedback on an answer")
    def feedback(request: FeedbackRequest) -> dict[str, Any]:
        return {"id": service.record_feedback(request), "stored": True}

    @app.get("/api/health", summary="Index manifest, counts and version")
    def health() -> JSONResponse:
        body = service.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/api/library", summary="Every indexed document: status, review-by, chunks, doses")
    def library_json(q: str = "", source_type: str = _TYPE_QUERY) -> dict[str, Any]:
        day = today()
        entries = service.library(day)
        return {
            "today": day.isoformat(),
            "index_digest": service.assistant.retriever.digest,
            "total": len(entries),
            "documents": [e.to_json() for e in filter_entries(entries, q, source_type)],
        }

    @app.get("/library", include_in_schema=False)
    def library(q: str = "", source_type: str = _TYPE_QUERY) -> HTMLResponse:
        entries = service.library(today())
        shown = filter_entries(entries, q, source_type)
        return HTMLResponse(library_page(entries, shown, q, source_type))

    @app.get("/library/{doc_id:path}", include_in_schema=False)
    def library_document(doc_id: str, chunk: str = "", quote: str = "") -> HTMLResponse:
        try:
            view = service.document(doc_id)
        except KeyError:
            return HTMLResponse(missing_page(doc_id), status_code=404)
        mark = view.highlight(chunk or None, quote or None)
        return HTMLResponse(document_page(view, mark, asked=bool(chunk or quote), today=today()))

    app.mount("/docs/assets", StaticFiles(directory=swagger_ui_path), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Bedside API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},  # no call to validator.swagger.io
        )

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/chat/")

    @app.get("/widget-demo", include_in_schema=False)
    def widget_demo(request: Request) -> HTMLResponse:
        return HTMLResponse(demo_page(str(request.base_url)))

    @app.get("/chat/gradio.js", include_in_schema=False)
    def gradio_js() -> FileResponse:
        return FileResponse(GRADIO_JS, media_type="text/javascript")

    @app.get("/assets/{name}", include_in_schema=False)
    def gradio_css(name: str) -> FileResponse:
        # The web component asks for gradio's stylesheet at the origin's /assets/ (ui.widget).
        path = frontend_css(name)
        if path is None:
            raise HTTPException(404, "No such stylesheet.")
        return FileResponse(path, media_type="text/css")

    blocks = build_chat(service)
    app = gr.mount_gradio_app(
        app,
        blocks,
        path="/chat",
        server_name=server.host,
        server_port=server.port,
        footer_links=[],
        theme=theme(),
        css=CSS,
        ssr_mode=False,
        enable_monitoring=False,
        pwa=False,
        mcp_server=False,
        show_error=False,
    )
    # Added last = outermost. Starlette's CORS on the parent app also makes gradio's own
    # CORS middleware step aside, so /chat/ follows the same allowlist.
    # "predict" is the name the page itself posts to for an event run outside gradio's queue
    # (every chat event; the body names the function by index).
    names = frozenset(fn.api_name for fn in blocks.fns.values() if fn.api_name) | {"predict"}
    app.add_middleware(GradioNames, mount="/chat", names=names)
    app.add_middleware(BodyLimit, limit=server.max_body_bytes)
    refusals = RateLimiter(server.rate_limit)  # 401s per client, GET or POST
    app.add_middleware(Access, policy=policy, refusals=refusals)
    app.add_middleware(RateLimit, policy=policy, refusals=refusals)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(server.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        allow_credentials=False,
    )
    app.add_middleware(HostGuard, policy=policy)
    app.add_middleware(BodyTimeout, seconds=server.body_timeout_s)
    app.add_middleware(SecurityHeaders, frame_ancestors=server.frame_ancestors)
    return app
