"""Who may reach the server, decided in one place for every route (the JSON API, /docs,
/openapi.json, /widget-demo, and the whole mounted chat with gradio's API, queue and file
routes).

    AccessPolicy.from_settings(server, token) -> AccessPolicy   (refuses a bad configuration)

Three ASGI middlewares apply it, outermost first (``ui.app`` adds them):

- ``HostGuard``: the Host header must be a host name, an IPv4 address or a bracketed IPv6
  address with an optional numeric port, and in ``server.allowed_hosts`` (else 400);
  X-Forwarded-For/-Proto/-Host are believed only from ``server.trusted_proxies`` and are
  removed from anyone else's request before the app (or gradio) can read them; a forwarded
  host that does not parse is 400, and gradio's own X-Gradio-Server is removed from every
  request.
- ``RateLimit``: at most ``server.rate_limit`` POSTs a minute per client address (429), and
  as many refused credentials (401, GET or POST alike): a client guessing the token is 429
  for everything after that many tries in a minute.
- ``Access``: deny by default. Open to all: ``/api/health`` and the login form. Everything
  else needs, by ``server.access``: nothing (``none``), the bearer token or a session cookie
  set by the login form (``token``), or the user header from a trusted proxy (``proxy``).
  Uploads are refused in every mode: the chat has no upload component. The request then
  carries who made it (``x-bedside-user``, ``x-bedside-client``) for the audit log; a
  client cannot set those itself.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, quote

from starlette.types import ASGIApp, Receive, Scope, Send

from assistant.settings import ServerSettings
from corpus.errors import ConfigError
from ui.security import send_html, send_json

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

OPEN_PATHS = frozenset({"/api/health"})
LOGIN_PATH = "/login"
LOGOUT_PATH = "/logout"
COOKIE = "bedside_session"
USER_HEADER = b"x-bedside-user"
CLIENT_HEADER = b"x-bedside-client"
# gradio's routes that take files from the browser; the chat has no upload component.
UPLOAD_SEGMENTS = frozenset({"upload", "upload_progress", "process_recording"})
FORWARDED_HEADERS = frozenset(
    {
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-forwarded-port",
        b"x-forwarded-prefix",
        b"x-real-ip",
    }
)
# gradio builds its public address from this header when present: nobody may set it.
ALWAYS_REMOVED = frozenset({b"x-gradio-server"})
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_USER_CHARS = 256
MIN_TOKEN_CHARS = 32
# RFC 3986 host: a reg-name (letters, digits, '-', '.', '_', '~'; no percent-encoding or
# sub-delims), an IPv4 address, or an IPv6 address in brackets; then an optional port.
_REG_NAME = re.compile(r"[a-z0-9._~-]+")
_PORT = re.compile(r"[0-9]{1,5}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a request: the signed-in user (proxy access) and the client address."""

    user: str | None
    client: str

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> Identity:
        """Read what ``Access`` put on the request (header names in lower case)."""
        user = headers.get(USER_HEADER.decode()) or None
        if user is not None:  # written as UTF-8; HTTP libraries read headers as Latin-1
            user = user.encode("latin-1", "replace").decode("utf-8", "replace")
        return cls(user=user, client=headers.get(CLIENT_HEADER.decode(), "unknown"))


def parse_networks(values: Sequence[str], setting: str) -> tuple[Network, ...]:
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"{setting}: {value!r} is not an IP address or network (e.g. 10.0.0.5, "
                "10.0.0.0/24, ::1)"
            ) from None
    return tuple(out)


def parse_host(value: str) -> str | None:
    """The host of a Host (or X-Forwarded-Host) value, lower case and without brackets or
    port; None when the value is anything but ``host[:port]`` (RFC 3986 reg-name, IPv4, or
    [IPv6]; port digits only, at most 65535)."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1 :]
        try:
            if end < 0 or not isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
                return None
        except ValueError:
            return None
    else:
        host, colon, port = value.partition(":")
        rest = colon + port
        if not _REG_NAME.fullmatch(host):
            return None
    if rest:
        port = rest[1:]
        if not rest.startswith(":") or not _PORT.fullmatch(port) or int(port) > 65535:
            return None
    return host


def check_token(token: str, variable: str) -> None:
    """A ConfigError naming the rule and the variable (never the value) when the token is
    too short to resist guessing or has surrounding whitespace (which a browser's form and
    a client's header lose, so nobody could sign in)."""
    if token != token.strip():
        raise ConfigError(
            f"{variable} starts or ends with whitespace, which no client sends back: set it "
            "without the surrounding spaces or newline"
        )
    if len(token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"{variable} is shorter than {MIN_TOKEN_CHARS} characters, which can be guessed: "
            "set it to a long random value (e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'`)"
        )


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    mode: Literal["none", "token", "proxy"]
    token: bytes | None
    user_header: bytes
    trusted_proxies: tuple[Network, ...]
    allowed_hosts: tuple[str, ...]
    session_seconds: int
    rate_limit: int

    @classmethod
    def from_settings(cls, server: ServerSettings, token: str | None) -> AccessPolicy:
        """The policy, or a ConfigError that says what to set: token access with no token,
        a token with access none (it would protect nothing), proxy access with no proxy."""
        proxies = parse_networks(server.trusted_proxies, "server.trusted_proxies")
        if server.access == "token" and not token:
            raise ConfigError(
                f"server.access is token but {server.api_token_env} is not set: set it to a "
                "long random value (e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        if server.access != "token" and token:
            raise ConfigError(
                f"{server.api_token_env} is set but server.access is {server.access}, so the "
                "token would protect nothing: set BEDSIDE_SERVER__ACCESS=token, or unset "
                f"{server.api_token_env}"
            )
        if server.access == "proxy" and not proxies:
            raise ConfigError(
                "server.access is proxy but server.trusted_proxies is empty: list the address "
                "of the authenticating proxy (e.g. BEDSIDE_SERVER__TRUSTED_PROXIES="
                "'[\"127.0.0.1\"]')"
            )
        if token:
            check_token(token, server.api_token_env)
        if not server.allowed_hosts:
            raise ConfigError("server.allowed_hosts is empty: no request could be served")
        return cls(
            mode=server.access,
            token=token.encode() if token else None,
            user_header=server.proxy_user_header.lower().encode(),
            trusted_proxies=proxies,
            allowed_hosts=tuple(h.lower() for h in server.allowed_hosts),
            session_seconds=int(server.session_hours * 3600),
            rate_limit=server.rate_limit,
        )

    def trusts(self, address: str | None) -> bool:
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)

    def host_allowed(self, host: str) -> bool:
        for allowed in self.allowed_hosts:
            if allowed == "*" or host == allowed:
                return True
            if allowed.startswith("*.") and host.endswith(allowed[1:]):
                return True
        return False

    # A browser session is "<expiry>.<mac>", keyed by the token itself: a new token ends
    # every session, and no session state lives in the server.
    def _mac(self, expiry: str) -> str:
        assert self.token is not None
        key = hmac.new(self.token, b"bedside-session", hashlib.sha256).digest()
        return hmac.new(key, expiry.encode(), hashlib.sha256).hexdigest()

    def new_session(self, now: float) -> str:
        expiry = str(int(now) + self.session_seconds)
        return f"{expiry}.{self._mac(expiry)}"

    def session_valid(self, value: str, now: float) -> bool:
        if self.token is None:
            return False
        expiry, _, mac = value.partition(".")
        if not expiry.isdigit() or int(expiry) < now:
            return False
        return hmac.compare_digest(mac, self._mac(expiry))

    def token_valid(self, given: bytes) -> bool:
        return self.token is not None and hmac.compare_digest(given, self.token)


async def _redirect(send: Send, location: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode()),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse_websocket(send: Send) -> None:
    await send({"type": "websocket.close", "code": 1008})


class HostGuard:
    """Host allowlist, and X-Forwarded-* only from a trusted proxy."""

    def __init__(self, app: ASGIApp, policy: AccessPolicy) -> None:
        self.app = app
        self.policy = policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in ALWAYS_REMOVED]
        found = dict(headers)
        host = parse_host(found.get(b"host", b"").decode("latin-1"))
        if host is None or not self.policy.host_allowed(host):
            if scope["type"] == "websocket":
                await _refuse_websocket(send)
            else:
                await send_json(send, 400, {"error": "invalid Host header (server.allowed_hosts)"})
            return
        peer = scope["client"][0] if scope.get("client") else None
        scope = dict(scope)
        if self.policy.trusts(peer):
            forwarded_host = found.get(b"x-forwarded-host")
            if forwarded_host is not None:
                first = forwarded_host.decode("latin-1").split(",")[0].strip()
                named = parse_host(first)
                if named is None or not self.policy.host_allowed(named):
                    await send_json(
                        send, 400, {"error": "invalid X-Forwarded-Host (server.allowed_hosts)"}
                    )
                    return
                # Only the first, checked value goes on (gradio reads the first).
                headers = [(k, v) for k, v in headers if k.lower() != b"x-forwarded-host"]
                headers.append((b"x-forwarded-host", first.lower().encode("latin-1")))
            client = self._forwarded_client(found.get(b"x-forwarded-for"))
            if client is not None:
                port = scope["client"][1] if scope.get("client") else 0
                scope["client"] = (client, port)
            proto = found.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
            if proto in ("http", "https"):
                scope["scheme"] = (
                    proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
                )
            scope["headers"] = headers
        else:
            scope["headers"] = [(k, v) for k, v in headers if k.lower() not in FORWARDED_HEADERS]
        scope["bedside.peer"] = peer
        await self.app(scope, receive, send)

    def _forwarded_client(self, value: bytes | None) -> str | None:
        """The right-most address that is not one of our proxies (the left part of the
        header is whatever the client wrote)."""
        if not value:
            return None
        hops = [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return None
            if not self.policy.trusts(hop):
                return hop
        return hops[0] if hops else None


class RateLimiter:
    """A sliding one-minute window of counted events per client; thread-safe."""

    def __init__(self, per_minute: int, window_s: float = 60.0) -> None:
        self.per_minute = per_minute
        self.window_s = window_s
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def allow(self, client: str, now: float) -> bool:
        """Count one event unless the client is at the limit (then False)."""
        if self.per_minute <= 0:
            return True
        with self._lock:
            times = self._recent(client, now)
            if len(times) >= self.per_minute:
                return False
            times.append(now)
            if len(self._seen) > 10_000:  # forget idle clients
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]
            return True

    def exhausted(self, client: str, now: float) -> bool:
        """Whether the client is at the limit, counting nothing."""
        if self.per_minute <= 0:
            return False
        with self._lock:
            return len(self._recent(client, now)) >= self.per_minute


def _client(scope: Scope) -> str:
    return str(scope["client"][0]) if scope.get("client") else "unknown"


async def _too_many(send: Send) -> None:
    await send_json(
        send,
        429,
        {"error": "too many requests from this client (server.rate_limit a minute)"},
        [(b"retry-after", b"60")],
    )


class RateLimit:
    """At most ``server.rate_limit`` POSTs a minute per client, and as many refused
    credentials (counted by ``Access`` in ``refusals``): a client at that second limit is
    429 for every request, GET or POST, right token or not, until the minute has passed."""

    def __init__(
        self,
        app: ASGIApp,
        policy: AccessPolicy,
        refusals: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.posts = RateLimiter(policy.rate_limit)
        self.refusals = refusals or RateLimiter(policy.rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            now = time.monotonic()
            client = _client(scope)
            refused = self.refusals.exhausted(client, now)
            if not refused and scope["type"] == "http" and scope["method"] == "POST":
                refused = not self.posts.allow(client, now)
            if refused:
                if scope["type"] == "websocket":
                    await _refuse_websocket(send)
                else:
                    await _too_many(send)
                return
        await self.app(scope, receive, send)


def _login_page(next_path: str, problem: str = "") -> str:
    warning = f'<p class="problem" role="alert">{html.escape(problem)}</p>' if problem else ""
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bedside: sign in</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 420px; margin: 10vh auto; padding: 16px; }}
label, input, button {{ display: block; width: 100%; box-sizing: border-box; }}
input {{ margin: 8px 0 16px; padding: 8px; font-size: 1rem; }}
button {{ padding: 8px; font-size: 1rem; }}
.problem {{ color: #a00; }}
</style>
</head>
<body>
<h1>Bedside</h1>
<p>This server needs its access token.</p>
{warning}
<form method="post" action="{LOGIN_PATH}" id="bedside-login">
<input type="hidden" name="next" value="{html.escape(next_path)}">
<label for="bedside-token">Access token</label>
<input id="bedside-token" name="token" type="password" autocomplete="current-password" required>
<button type="submit" id="bedside-sign-in">Sign in</button>
</form>
</body>
</html>
"""


def _safe_next(value: str) -> str:
    """Only a path on this server: never an address elsewhere (no open redirect)."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and value.isprintable():
        return value
    return "/chat/"


def _cookies(headers: dict[bytes, bytes]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in headers.get(b"cookie", b"").decode("latin-1").split(";"):
        name, _, value = part.strip().partition("=")
        if name and name not in out:
            out[name] = value
    return out


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Access:
    """Deny by default; see the module docstring. Each 401 is counted in ``refusals``
    (shared with ``RateLimit``), so guesses of the token are bounded, over GET as over POST."""

    def __init__(
        self, app: ASGIApp, policy: AccessPolicy, refusals: RateLimiter | None = None
    ) -> None:
        self.app = app
        self.policy = policy
        self.refusals = refusals or RateLimiter(policy.rate_limit)

    def _count_refusal(self, scope: Scope) -> None:
        self.refusals.allow(_client(scope), time.monotonic())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        http = scope["type"] == "http"
        headers = dict(scope["headers"])
        if any(seg in UPLOAD_SEGMENTS for seg in path.split("/")):
            if http:
                await send_json(send, 403, {"error": "uploads are off on this server"})
            else:
                await _refuse_websocket(send)
            return
        if http and path in (LOGIN_PATH, LOGOUT_PATH) and self.policy.mode == "token":
            await self._login(scope, receive, send, headers)
            return
        user: str | None = None
        if self.policy.mode == "none" or (http and scope["method"] == "GET" and path in OPEN_PATHS):
            allowed = True
        elif self.policy.mode == "token":
            allowed = self._token_ok(headers)
        else:
            if not self.policy.trusts(scope.get("bedside.peer")):
                await self._deny(scope, send, 403, "requests must come through the sign-in proxy")
                return
            raw = headers.get(self.policy.user_header, b"").decode("utf-8", "replace").strip()
            allowed = bool(raw) and len(raw) <= MAX_USER_CHARS and raw.isprintable()
            user = raw if allowed else None
        if not allowed:
            self._count_refusal(scope)
            await self._deny(scope, send, 401, "")
            return
        client = _client(scope)
        kept = [(k, v) for k, v in scope["headers"] if k not in (USER_HEADER, CLIENT_HEADER)]
        kept.append((CLIENT_HEADER, client.encode("latin-1", "replace")))
        if user is not None:
            kept.append((USER_HEADER, user.encode("utf-8")))
        await self.app({**scope, "headers": kept}, receive, send)

    def _token_ok(self, headers: dict[bytes, bytes]) -> bool:
        scheme, _, value = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() == b"bearer" and self.policy.token_valid(value.strip()):
            return True
        session = _cookies(headers).get(COOKIE)
        return bool(session) and self.policy.session_valid(session or "", time.time())

    async def _deny(self, scope: Scope, send: Send, status: int, message: str) -> None:
        if scope["type"] == "websocket":
            await _refuse_websocket(send)
            return
        headers = dict(scope["headers"])
        wants_page = scope["method"] == "GET" and b"text/html" in headers.get(b"accept", b"")
        if self.policy.mode == "token" and wants_page:
            target = scope.get("path", "/")
            if scope.get("query_string"):
                target += "?" + scope["query_string"].decode("latin-1")
            await _redirect(send, f"{LOGIN_PATH}?next={quote(target, safe='')}")
            return
        if self.policy.mode == "token":
            await send_json(
                send,
                status,
                {"error": "missing or wrong bearer token (Authorization: Bearer <token>)"},
                [(b"www-authenticate", b'Bearer realm="bedside"')],
            )
            return
        await send_json(
            send, status, {"error": message or "sign in through the proxy: no user header"}
        )

    async def _login(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        secure = b"; Secure" if scope.get("scheme") == "https" else b""
        if scope["path"] == LOGOUT_PATH:
            gone = COOKIE.encode() + b"=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + secure
            await _redirect(send, LOGIN_PATH, [(b"set-cookie", gone)])
            return
        if scope["method"] in ("GET", "HEAD"):
            await send_html(send, 200, _login_page(_safe_next(query.get("next", [""])[0])))
            return
        if scope["method"] != "POST":
            await send_json(send, 405, {"error": "use GET or POST"})
            return
        body = await _read_body(receive, 8192)
        if body is None:
            await send_json(send, 413, {"error": "login form too large"})
            return
        form = parse_qs(body.decode("utf-8", "replace"))
        next_path = _safe_next(form.get("next", [""])[0])
        given = form.get("token", [""])[0].strip().encode()
        if not self.policy.token_valid(given):
            self._count_refusal(scope)
            await send_html(send, 401, _login_page(next_path, "That token is not right."))
            return
        session = self.policy.new_session(time.time())
        cookie = (
            f"{COOKIE}={session}; Path=/; Max-Age={self.policy.session_seconds}; "
            "HttpOnly; SameSite=Strict"
        ).encode() + secure
        await _redirect(send, next_path, [(b"set-cookie", cookie)])
