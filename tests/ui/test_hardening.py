"""The server under hostile clients: token guessing, odd Host and forwarded headers, unknown
chat API names, slow requests on raw sockets against a live server, a database outage,
file modes, and what `bedside serve` refuses before it starts."""

from __future__ import annotations

import logging
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from apps import client, service_over

from assistant.pipeline import Assistant
from assistant.settings import load_settings
from corpus.errors import ConfigError
from retrieval.postgres import connect
from retrieval.settings import PostgresSettings
from ui.access import AccessPolicy, parse_host
from ui.app import create_app
from ui.audit import AuditLog
from ui.cli import main, uvicorn_options
from ui.feedback import FeedbackStore
from ui.service import Service

LOCAL = "http://127.0.0.1"
TOKEN = "hardening-test-token-of-more-than-32-characters"
PROXY = "10.9.8.7"
BIVALIRUDIN = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Service:
    home = tmp_path_factory.mktemp("hardening-base")
    settings = load_settings("fast", home=home, sources=[f"pack:{fixture_pack}"])
    return Service(Assistant.from_settings(settings), FeedbackStore(home / "feedback.sqlite3"))


_service = service_over


_client = client


# ------------------------------------------------------------------ token guessing


def test_refused_credentials_count_toward_the_rate_limit_get_or_post(
    base: Service, tmp_path: Path
) -> None:
    app = create_app(_service(base, tmp_path, access="token", rate_limit=5), token=TOKEN)
    wrong = {"Authorization": "Bearer guess"}
    right = {"Authorization": f"Bearer {TOKEN}"}
    with _client(app) as c, _client(app, "127.0.0.2") as other:
        codes = [c.get("/chat/config", headers=wrong).status_code for _ in range(3)]
        codes += [c.post("/login", data={"token": "guess"}).status_code for _ in range(2)]
        assert codes == [401] * 5
        # At the limit: every request from that client is 429, the right token included.
        assert c.get("/chat/config", headers=wrong).status_code == 429
        limited = c.get("/chat/config", headers=right)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert c.post("/login", data={"token": TOKEN}).status_code == 429
        # Another client is not affected.
        assert other.get("/chat/config", headers=right).status_code == 200


# ------------------------------------------------------------------ the token itself


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("xQ7vPz", "shorter than 32 characters"),
        (" " + "kT4w" * 10 + " ", "whitespace"),
        ("kT4w" * 10 + "\n", "whitespace"),
    ],
    ids=["short", "spaces", "newline"],
)
def test_serve_refuses_a_weak_or_padded_token_naming_the_variable_not_the_value(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str, rule: str
) -> None:
    monkeypatch.setenv("BEDSIDE_SERVER__ACCESS", "token")
    monkeypatch.setenv("BEDSIDE_API_TOKEN", value)
    assert main(["--preset", "fast", "serve"]) == 1
    err = capsys.readouterr().err
    assert "BEDSIDE_API_TOKEN" in err and rule in err
    assert value.strip() not in err
    assert "opening the index" not in err  # refused before any work


def test_a_long_token_without_padding_is_accepted() -> None:
    settings = load_settings("fast", server={"access": "token"})
    assert AccessPolicy.from_settings(settings.server, "k" * 32).token == b"k" * 32
    with pytest.raises(ConfigError, match="shorter than 32"):
        AccessPolicy.from_settings(settings.server, "k" * 31)


# ------------------------------------------------------------------ Host and forwarding


@pytest.mark.parametrize(
    ("value", "host"),
    [
        ("localhost", "localhost"),
        ("LOCALHOST:8000", "localhost"),
        ("127.0.0.1:80", "127.0.0.1"),
        ("[::1]", "::1"),
        ("[::1]:8000", "::1"),
        ("bedside.example.org", "bedside.example.org"),
        ("[::1]evil.example", None),
        ("localhost:80@evil", None),
        ("localhost@evil", None),
        ("127.0.0.1:evil", None),
        ("localhost:99999", None),
        ("localhost:", None),
        ("[::1", None),
        ("[127.0.0.1]", None),
        ("::1", None),
        ("local host", None),
        ("", None),
    ],
)
def test_a_host_is_a_name_or_address_and_a_numeric_port_nothing_else(
    value: str, host: str | None
) -> None:
    assert parse_host(value) == host


@pytest.mark.parametrize("value", ["[::1]evil.example", "localhost:80@evil", "127.0.0.1:evil"])
def test_a_host_header_that_does_not_parse_is_400(
    base: Service, tmp_path: Path, value: str
) -> None:
    app = create_app(_service(base, tmp_path), token="")
    with _client(app) as c:
        r = c.get("/chat/config", headers={"Host": value})
        assert r.status_code == 400 and "Host" in r.json()["error"]
        assert c.get("/chat/config", headers={"Host": "[::1]:8000"}).status_code == 200


@pytest.mark.parametrize("value", ["127.0.0.1:evil", "[::1]evil.example", "localhost:80@evil"])
def test_a_forwarded_host_that_does_not_parse_is_400_not_500(
    base: Service, tmp_path: Path, value: str
) -> None:
    app = create_app(_service(base, tmp_path, trusted_proxies=[PROXY]), token="")
    with _client(app, PROXY) as c:
        r = c.get("/chat/config", headers={"X-Forwarded-Host": value})
        assert r.status_code == 400 and "X-Forwarded-Host" in r.json()["error"]
        ok = c.get("/chat/config", headers={"X-Forwarded-Host": "localhost:8443, other"})
        assert ok.status_code == 200 and ok.json()["root"].startswith("http://localhost:8443")


@pytest.mark.parametrize("peer", [PROXY, "127.0.0.1"])
def test_gradio_server_header_is_nobodys_to_set(base: Service, tmp_path: Path, peer: str) -> None:
    app = create_app(_service(base, tmp_path, trusted_proxies=[PROXY]), token="")
    with _client(app, peer) as c:
        forged = c.get("/chat/config", headers={"X-Gradio-Server": "http://evil.example"})
        assert forged.status_code == 200 and "evil.example" not in forged.text
        broken = c.get("/chat/config", headers={"X-Gradio-Server": "http://[evil"})
        assert broken.status_code == 200


# ------------------------------------------------------------------ the chat's API names


@pytest.mark.parametrize(
    "path",
    [
        "/chat/gradio_api/call/v2/nope",
        "/chat/gradio_api/call/nope",
        "/chat/gradio_api/call/v2",
        "/chat/gradio_api/run/nope",
        "/chat/gradio_api/api/nope",
    ],
)
def test_an_unknown_chat_api_name_is_404(base: Service, tmp_path: Path, path: str) -> None:
    app = create_app(_service(base, tmp_path), token="")
    with _client(app) as c:
        r = c.post(path, json={"data": []})
        assert r.status_code == 404, r.text
        assert c.get("/chat/gradio_api/call/nope/some-event").status_code == 404
        info = c.get("/chat/gradio_api/info").json()
        known = next(iter(info["named_endpoints"]))  # a real name still reaches gradio
        assert c.post(f"/chat/gradio_api/call{known}", json={"data": []}).status_code != 404


def test_the_pages_own_event_route_still_answers(base: Service, tmp_path: Path) -> None:
    """The chat page runs every event outside gradio's queue, posting to run/predict with
    the function's index: that route must reach gradio, not the unknown-name 404."""
    app = create_app(_service(base, tmp_path), token="")
    with _client(app) as c:
        config = c.get("/chat/config").json()
        ask = max(
            range(len(config["dependencies"])),
            key=lambda i: len(config["dependencies"][i]["inputs"]),
        )
        r = c.post(
            "/chat/gradio_api/run/predict",
            json={"fn_index": ask, "data": [None] * len(config["dependencies"][ask]["inputs"]),
                  "session_hash": "s1"},
        )  # fmt: skip
        assert r.status_code == 200, r.text


def test_unknown_chat_api_names_still_need_credentials(base: Service, tmp_path: Path) -> None:
    app = create_app(_service(base, tmp_path, access="token"), token=TOKEN)
    with _client(app) as c:
        assert c.post("/chat/gradio_api/call/v2/nope", json={}).status_code == 401


# ------------------------------------------------------------------ database outage


def _outage() -> None:
    """What the server meets when PostgreSQL is down: the real connect error, which names
    the socket, the database and the user."""
    connect(
        PostgresSettings(
            dsn="host=/nonexistent/pg-socket-dir dbname=beddb user=beduser",
            connect_timeout_s=1,
        )
    )


def test_a_database_outage_tells_clients_no_host_user_or_path(
    base: Service, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = _service(base, tmp_path)

    class DownStore(FeedbackStore):
        def add(self, **_: Any) -> int:
            _outage()
            return 0

    service.feedback = DownStore(tmp_path / "down.sqlite3")
    service.assistant.ask = lambda *a, **k: _outage()  # type: ignore[method-assign]
    app = create_app(service, token="")
    secret_words = ("nonexistent", "pg-socket-dir", "beddb", "beduser", "host=")
    caplog.set_level(logging.ERROR, logger="bedside.server")
    with _client(app) as c:
        for r in (
            c.post("/api/feedback", json={"answer_id": "ab12", "rating": "up"}),
            c.post("/api/ask", json={"question": BIVALIRUDIN}),
        ):
            assert r.status_code == 503, r.text
            assert not any(w in r.text for w in secret_words), r.text
            ref = r.json()["ref"]
            # The operator finds the whole error under the reference.
            assert any(ref in m and "beddb" in m for m in caplog.messages)
        info = c.get("/chat/gradio_api/info").json()
        endpoint = next(n for n in info["named_endpoints"] if n.lstrip("/").startswith("ask"))
        params = info["named_endpoints"][endpoint]["parameters"]
        data = [
            BIVALIRUDIN if p["parameter_name"] == "question" else p.get("parameter_default")
            for p in params
        ]
        event = c.post(f"/chat/gradio_api/call{endpoint}", json={"data": data}).json()
        stream = c.get(f"/chat/gradio_api/call{endpoint}/{event['event_id']}").text
        assert "event: complete" in stream and "unavailable" in stream, stream[:500]
        assert not any(w in stream for w in secret_words)


# ------------------------------------------------------------------ file modes


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) & 0o077 == 0


def test_feedback_and_audit_files_are_owner_only(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "home" / "feedback.sqlite3")
    store.add(answer_id="a", rating="up", comment="", settings_digest="s", index_digest="i")
    files = sorted((tmp_path / "home").glob("feedback.sqlite3*"))
    assert [f.name for f in files] == [
        "feedback.sqlite3",
        "feedback.sqlite3-shm",
        "feedback.sqlite3-wal",
    ]
    assert all(_private(f) for f in files), [oct(f.stat().st_mode) for f in files]
    store.close()

    old = tmp_path / "old.jsonl"
    old.write_text("")
    old.chmod(0o644)  # a log from before this rule
    from ui.access import Identity

    for path in (tmp_path / "audit" / "audit.jsonl", old):
        AuditLog(path).record(
            Identity(user=None, client="127.0.0.1"),
            "/api/ask",
            answer_id="a",
            allowed=True,
            abstained=False,
            findings=0,
            question=None,
        )
        assert _private(path), oct(path.stat().st_mode)
    assert _private(tmp_path / "audit")


def test_the_index_written_by_the_cli_is_owner_only(tmp_path: Path, fixture_pack: Path) -> None:
    index = tmp_path / "idx"
    argv = ["--preset", "fast", "index", "--source", f"pack:{fixture_pack}"]
    assert main([*argv, "--index-dir", str(index)]) == 0
    written = [index, *index.rglob("*")]
    assert len(written) > 3
    assert all(_private(p) for p in written), [
        (str(p), oct(p.stat().st_mode)) for p in written if not _private(p)
    ]


# ------------------------------------------------------------------ slow clients, live


@contextmanager
def _live(app: Any, server: Any) -> Iterator[int]:
    """The app under uvicorn with the options `bedside serve` uses; yields the port."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_level="warning", **uvicorn_options(server)
    )
    live = uvicorn.Server(config)
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not live.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield live.servers[0].sockets[0].getsockname()[1]
    finally:
        live.should_exit = True
        thread.join(timeout=10)


def _read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a socket timeout (the server kept the
    connection) fails the test. A server that closes while bytes the client sent are still
    unread resets the connection: that is its close too (what it sent before is kept)."""
    sock.settimeout(30)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except ConnectionResetError:
        pass
    return out


@pytest.fixture(scope="module")
def slow_server(base: Service, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    service = _service(
        base, tmp_path_factory.mktemp("slow"), header_timeout_s=3.0, body_timeout_s=3.0
    )
    with _live(create_app(service, token=""), service.assistant.settings.server) as port:
        yield port


def test_half_a_request_line_is_closed_after_the_header_timeout(slow_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.sendall(b"GET /api/hea")
        reply = _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408")


def test_a_connection_that_sends_nothing_is_closed(slow_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 408")


def test_half_a_second_request_on_a_kept_alive_connection_is_closed(slow_server: int) -> None:
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        first = b""
        sock.settimeout(30)
        while b'"version"' not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0")
        assert b"HTTP/1.1 408" in _read_until_closed(sock)


def test_a_trickling_body_is_cut_with_408(slow_server: int) -> None:
    body = b'{"answer": "' + b"x" * 200 + b'"}'
    head = (
        b"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", slow_server)) as sock:
        sock.sendall(head)
        sock.settimeout(0.2)
        reply = b""
        for byte in body:  # a byte every 0.2 s: 40 s for the body unless cut
            try:
                sock.sendall(bytes([byte]))
                reply += sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if reply:
                break
        reply += _read_until_closed(sock)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"server.body_timeout_s" in reply


def test_a_prompt_request_is_answered_under_the_serve_options(
    base: Service, tmp_path: Path
) -> None:
    service = _service(base, tmp_path)  # the default deadlines
    server = service.assistant.settings.server
    with (
        _live(create_app(service, token=""), server) as port,
        socket.create_connection(("127.0.0.1", port)) as sock,
    ):
        sock.sendall(
            b"POST /api/check HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 14\r\nConnection: close\r\n\r\n"
            b'{"answer": ""}'
        )
        reply = _read_until_closed(sock)
    assert reply.startswith((b"HTTP/1.1 200", b"HTTP/1.1 422")), reply[:200]
