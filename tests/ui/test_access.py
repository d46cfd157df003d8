"""Who may reach the server (``ui.access``), in process with FastAPI's TestClient over the
fixture pack with the hash embedder.

Every route is listed from the app itself (the API, /docs, /widget-demo and every route of
the mounted gradio app), so a route gradio adds in a new release is covered without
editing this file: deny by default, open only where ``OPEN`` says.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apps import client, service_over
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from assistant.pipeline import Assistant
from assistant.settings import load_settings
from corpus.errors import ConfigError
from ui.access import AccessPolicy
from ui.app import create_app
from ui.cli import main
from ui.feedback import FeedbackStore
from ui.service import Service

LOCAL = "http://127.0.0.1"
TOKEN = "t0ken-for-tests-long-enough-to-be-accepted"
PROXY = "10.9.8.7"  # the authenticating proxy's address
STRANGER = "10.1.1.1"
BIVALIRUDIN = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
# Open without credentials in every mode (method, path).
OPEN = {("GET", "/api/health")}
# gradio streams that never end on their own: they are checked for refusal, not answered.
ENDLESS = {"/chat/gradio_api/heartbeat/{session_hash}", "/chat/gradio_api/dev/reload"}
UPLOADS = re.compile(r"/(upload|upload_progress|process_recording)(/|$)")


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Service:
    home = tmp_path_factory.mktemp("access-base")
    settings = load_settings("fast", home=home, sources=[f"pack:{fixture_pack}"])
    return Service(Assistant.from_settings(settings), FeedbackStore(home / "feedback.sqlite3"))


def _service(base: Service, home: Path, **server: Any) -> Service:
    return service_over(base, home, **{"rate_limit": 0, **server})


def _app(base: Service, home: Path, mode: str, **server: Any) -> tuple[FastAPI, Service]:
    if mode == "proxy":
        server = {"trusted_proxies": [PROXY], **server}
    service = _service(base, home, access=mode, **server)
    return create_app(service, token=TOKEN if mode == "token" else ""), service


_client = client


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, into mounts and included routers. A kind of
    route this does not know fails the test rather than going unchecked."""
    for route in routes:
        if isinstance(route, Mount):
            inner = list(route.routes)
            if inner:
                yield from _walk(inner, prefix + route.path)
            else:  # static files
                yield ("GET", prefix + route.path + "/{file}")
        elif hasattr(route, "original_router"):  # FastAPI's included router
            ctx = route.include_context  # type: ignore[attr-defined]
            yield from _walk(route.original_router.routes, prefix + ctx.prefix)  # type: ignore[attr-defined]
        elif isinstance(route, WebSocketRoute):
            yield ("WS", prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted(route.methods or ()):
                yield (method, prefix + route.path)
        else:
            raise AssertionError(f"unknown kind of route: {route!r}")


def _url(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", template)


def _request(c: TestClient, method: str, template: str, **kw: Any) -> Any:
    if method == "WS":
        raise AssertionError("websocket routes need their own check")
    body = {"json": {}} if method == "POST" else {}
    return c.request(method, _url(template), **body, **kw)


@pytest.fixture(scope="module")
def apps(base: Service, tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    return {
        mode: _app(base, tmp_path_factory.mktemp(f"home-{mode}"), mode)[0]
        for mode in ("none", "token", "proxy")
    }


@pytest.fixture(scope="module")
def routes(apps: dict[str, FastAPI]) -> list[tuple[str, str]]:
    found = sorted(set(_walk(apps["none"].routes)))
    paths = {p for _, p in found}
    # The walk reaches into the mounted chat: gradio's API, queue, upload and file routes.
    assert {
        "/api/ask",
        "/api/check",
        "/api/feedback",
        "/docs",
        "/openapi.json",
        "/widget-demo",
        "/chat/config",
        "/chat/gradio_api/call/{api_name}",
        "/chat/gradio_api/call/{api_name}/{event_id}",
        "/chat/gradio_api/queue/join",
        "/chat/gradio_api/upload",
        "/chat/gradio_api/info",
    } <= paths, paths
    assert any(p.startswith("/chat/gradio_api/file=") for p in paths)
    assert set(_walk(apps["token"].routes)) == set(found)
    return found


# ------------------------------------------------------------------ every route


def _denied(mode: str, r: Any) -> bool:
    """The refusal ``ui.access`` sends (not a 401/403 of gradio's own)."""
    if mode == "token":
        return r.status_code == 401 and r.headers.get("www-authenticate", "").startswith("Bearer")
    if r.request.method == "HEAD":  # no body to tell; the GET of the same path has one
        return r.status_code in (401, 403)
    return r.status_code in (401, 403) and "proxy" in r.json().get("error", "")


@pytest.mark.parametrize("mode", ["token", "proxy"])
def test_every_route_is_refused_without_credentials(
    apps: dict[str, FastAPI], routes: list[tuple[str, str]], mode: str
) -> None:
    checked = 0
    for peer in (PROXY, STRANGER) if mode == "proxy" else ("127.0.0.1",):
        with _client(apps[mode], peer) as c:
            for method, path in routes:
                if (method, path) in OPEN or method == "WS":
                    continue
                r = _request(c, method, path)
                if UPLOADS.search(path):
                    assert r.status_code == 403, (method, path)
                    continue
                assert _denied(mode, r), (peer, method, path, r.status_code, r.text[:200])
                checked += 1
            assert c.get("/api/health").status_code == 200
            # Paths no route serves are refused the same way (deny by default).
            assert _denied(mode, c.get("/no-such-page"))
    assert checked >= 80


@pytest.mark.parametrize("mode", ["token", "proxy"])
def test_with_credentials_every_route_answers_as_with_no_access_control(
    apps: dict[str, FastAPI], routes: list[tuple[str, str]], mode: str
) -> None:
    creds = {"Authorization": f"Bearer {TOKEN}"} if mode == "token" else {"X-Forwarded-User": "ann"}
    peer = PROXY if mode == "proxy" else "127.0.0.1"
    with _client(apps["none"]) as open_, _client(apps[mode], peer, headers=creds) as closed:
        for method, path in routes:
            if method == "WS" or path in ENDLESS:
                continue
            a = _request(open_, method, path)
            b = _request(closed, method, path)
            if method != "HEAD":  # (a HEAD has no body to tell; its status is compared)
                assert not _denied(mode, b), (method, path, b.status_code, b.text[:200])
            assert a.status_code == b.status_code, (method, path, a.text[:200], b.text[:200])


@pytest.mark.parametrize("mode", ["none", "token", "proxy"])
def test_uploads_are_refused_in_every_mode(apps: dict[str, FastAPI], mode: str) -> None:
    creds = {"Authorization": f"Bearer {TOKEN}"} if mode == "token" else {"X-Forwarded-User": "ann"}
    peer = PROXY if mode == "proxy" else "127.0.0.1"
    with _client(apps[mode], peer, headers=creds) as c:
        r = c.post("/chat/gradio_api/upload", files={"files": ("a.html", b"<script>1</script>")})
        assert r.status_code == 403
        assert "uploads are off" in r.json()["error"]
        assert c.get("/chat/gradio_api/upload_progress?upload_id=x").status_code == 403


# ------------------------------------------------------------------ the chat's own API


def _call_ask(c: TestClient, **kw: Any) -> Any:
    info = c.get("/chat/gradio_api/info", **kw).json()
    endpoint = next(n for n in info["named_endpoints"] if n.lstrip("/").startswith("ask"))
    params = info["named_endpoints"][endpoint]["parameters"]
    data: list[Any] = []
    for p in params:
        default = p.get("parameter_default")
        data.append(BIVALIRUDIN if p["parameter_name"] == "question" else default)
    return c.post(f"/chat/gradio_api/call{endpoint}", json={"data": data}, **kw), endpoint


def test_gradio_call_needs_the_token_and_answers_with_it(apps: dict[str, FastAPI]) -> None:
    with _client(apps["token"]) as c:
        assert c.post("/chat/gradio_api/call/ask", json={"data": []}).status_code == 401
        assert c.get("/chat/gradio_api/info").status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        r, endpoint = _call_ask(c, headers=auth)
        assert r.status_code == 200, r.text
        event = r.json()["event_id"]
        assert c.get(f"/chat/gradio_api/call{endpoint}/{event}").status_code == 401
        stream = c.get(f"/chat/gradio_api/call{endpoint}/{event}", headers=auth)
        assert stream.status_code == 200
        assert "event: complete" in stream.text, stream.text[:500]
        assert "Review status" in stream.text


# ------------------------------------------------------------------ the login form


def test_a_browser_signs_in_with_the_form_and_gets_a_strict_session_cookie(
    apps: dict[str, FastAPI],
) -> None:
    with _client(apps["token"]) as c:
        page = c.get("/chat/", headers={"Accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fchat%2F"
        form = c.get(page.headers["location"])
        assert form.status_code == 200 and 'name="token"' in form.text
        assert 'value="/chat/"' in form.text

        wrong = c.post("/login", data={"token": "nope", "next": "/chat/"})
        assert wrong.status_code == 401 and "not right" in wrong.text
        assert "set-cookie" not in wrong.headers

        ok = c.post("/login", data={"token": TOKEN, "next": "/chat/"})
        assert ok.status_code == 303 and ok.headers["location"] == "/chat/"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        session = cookie.split(";")[0]
        signed = {"Cookie": session}
        assert c.get("/chat/config", headers=signed).status_code == 200
        assert c.get("/chat/gradio_api/info", headers=signed).status_code == 200

        name, _, value = session.partition("=")
        expiry, _, mac = value.partition(".")
        forged = {"Cookie": f"{name}={int(expiry) + 999}.{mac}"}
        assert c.get("/chat/config", headers=forged).status_code == 401

        out = c.get("/logout")
        assert "Max-Age=0" in out.headers["set-cookie"]


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "https://evil.example/", "/\\evil", "/chat/\r\nSet-Cookie: a=b"],
    ids=["scheme-relative", "absolute", "backslash", "header-injection"],
)
def test_login_never_redirects_off_the_server(apps: dict[str, FastAPI], target: str) -> None:
    with _client(apps["token"]) as c:
        r = c.post("/login", data={"token": TOKEN, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/chat/"


def test_an_expired_session_is_refused() -> None:
    settings = load_settings("fast", server={"access": "token", "session_hours": 1})
    policy = AccessPolicy.from_settings(settings.server, TOKEN)
    session = policy.new_session(now=1000.0)
    assert policy.session_valid(session, now=1000.0 + 3599)
    assert not policy.session_valid(session, now=1000.0 + 3601)
    other = AccessPolicy.from_settings(settings.server, "another-token-just-as-long-as-the-first")
    assert not other.session_valid(session, now=1000.0)


# ------------------------------------------------------------------ proxy


def test_proxy_user_is_believed_only_from_the_proxy(base: Service, tmp_path: Path) -> None:
    app, service = _app(base, tmp_path, "proxy", proxy_user_header="X-Auth-Request-Email")
    header = {"X-Auth-Request-Email": "ann@hospital.example"}
    with _client(app, STRANGER) as c:
        r = c.post("/api/ask", json={"question": BIVALIRUDIN}, headers=header)
        assert r.status_code == 403
    with _client(app, PROXY) as c:
        assert c.post("/api/ask", json={"question": BIVALIRUDIN}).status_code == 401
        r = c.post(
            "/api/ask",
            json={"question": BIVALIRUDIN},
            headers={**header, "X-Forwarded-For": "192.168.4.20"},
        )
        assert r.status_code == 200, r.text
    line = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert line["user"] == "ann@hospital.example"
    assert line["client"] == "192.168.4.20"
    assert line["answer_id"] == r.json()["answer_id"]


def test_a_proxy_user_name_in_utf8_is_audited_as_written(base: Service, tmp_path: Path) -> None:
    app, _ = _app(base, tmp_path, "proxy")
    with _client(app, PROXY) as c:
        r = c.post(
            "/api/ask",
            json={"question": BIVALIRUDIN},
            headers={"X-Forwarded-User": "Zoë Müller".encode()},
        )
        assert r.status_code == 200
        assert c.get("/chat/config", headers={"X-Forwarded-User": "a\x01b"}).status_code == 401
    line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert line["user"] == "Zoë Müller"


# ------------------------------------------------------------------ Host and forwarding


@pytest.mark.parametrize("path", ["/chat/config", "/widget-demo", "/api/health", "/docs"])
def test_a_host_not_allowlisted_is_400(apps: dict[str, FastAPI], path: str) -> None:
    with _client(apps["none"]) as c:
        r = c.get(path, headers={"Host": "evil.example"})
        assert r.status_code == 400
        assert "evil.example" not in r.text


def test_forwarded_headers_from_anyone_but_a_trusted_proxy_are_ignored(
    base: Service, tmp_path: Path
) -> None:
    app, _ = _app(base, tmp_path, "none")
    forged = {
        "X-Forwarded-Host": "evil.example",
        "X-Forwarded-For": "203.0.113.9",
        "X-Bedside-User": "mallory",
        "X-Bedside-Client": "198.51.100.1",
    }
    with _client(app) as c:
        config = c.get("/chat/config", headers=forged)
        assert config.status_code == 200
        assert "evil.example" not in config.text
        assert "evil.example" not in c.get("/widget-demo", headers=forged).text
        assert c.post("/api/ask", json={"question": BIVALIRUDIN}, headers=forged).status_code == 200
    line = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert (line["client"], line["user"]) == ("127.0.0.1", None)


def test_a_trusted_proxy_may_forward_the_client_but_not_a_foreign_host(
    base: Service, tmp_path: Path
) -> None:
    app, _ = _app(
        base, tmp_path, "none", trusted_proxies=[PROXY], allowed_hosts=["bedside.example"]
    )
    with _client(app, PROXY, headers={"Host": "bedside.example"}) as c:
        r = c.get("/chat/config", headers={"X-Forwarded-Host": "evil.example"})
        assert r.status_code == 400
        ok = c.post(
            "/api/ask",
            json={"question": BIVALIRUDIN},
            headers={"X-Forwarded-For": "evil, 198.51.100.7", "X-Forwarded-Proto": "https"},
        )
        assert ok.status_code == 200
        root = c.get(
            "/chat/config",
            headers={"X-Forwarded-Host": "bedside.example", "X-Forwarded-Proto": "https"},
        ).json()["root"]
        assert root.startswith("https://bedside.example")
    line = json.loads((tmp_path / "audit.jsonl").read_text().splitlines()[-1])
    assert line["client"] == "198.51.100.7"


# ------------------------------------------------------------------ cost limits


def test_the_rate_limit_is_429_per_client(base: Service, tmp_path: Path) -> None:
    app, _ = _app(base, tmp_path, "none", rate_limit=3)
    with _client(app) as c, _client(app, "127.0.0.2") as other:
        codes = [c.post("/api/check", json={"answer": "x"}).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert c.post("/api/check", json={"answer": "x"}).headers["retry-after"] == "60"
        assert other.post("/api/check", json={"answer": "x"}).status_code == 200
        assert c.get("/api/health").status_code == 200  # reading is not limited


def test_a_long_check_is_refused_before_it_runs(base: Service, tmp_path: Path) -> None:
    app, _ = _app(base, tmp_path, "none", max_check_chars=1000)
    with _client(app) as c:
        r = c.post("/api/check", json={"answer": "Give heparin 5000 units. " * 60})
        assert r.status_code == 422
        assert "server.max_check_chars" in r.json()["error"]
        assert c.post("/api/check", json={"answer": "Give heparin 5000 units. " * 40}).is_success


def test_the_default_check_limit_refuses_the_reported_216_kb_answer(
    apps: dict[str, FastAPI],
) -> None:
    answer = "Give heparin 5000 units IV bolus then 18 units/kg/h [1]. " * 3800
    assert len(answer.encode()) > 216_000
    with _client(apps["none"]) as c:
        r = c.post("/api/check", json={"answer": answer})
    assert r.status_code in (413, 422)


def test_a_check_waits_for_a_free_answer_slot(base: Service, tmp_path: Path) -> None:
    app, service = _app(base, tmp_path, "none")
    done = threading.Event()
    with _client(app) as c:

        def check() -> None:
            c.post("/api/check", json={"answer": "Give bivalirudin 0.15 mg/kg/h."})
            done.set()

        with contextlib.ExitStack() as busy:
            for _ in range(service.assistant.settings.server.concurrency):
                busy.enter_context(service._slots)  # every answer slot is taken
            worker = threading.Thread(target=check, daemon=True)
            worker.start()
            assert not done.wait(1.0), "the check ran while every slot was taken"
        assert done.wait(30)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"answer": "heparin\\ud800 5000 units"}',
        b'{"answer": "heparin\\u0000 5000 units"}',
        b'{"answer": "x", "patient": {"weight_kg": true}}',
    ],
    ids=["lone-surrogate", "nul", "bool-as-number"],
)
def test_check_refuses_text_that_is_not_valid(apps: dict[str, FastAPI], raw: bytes) -> None:
    with _client(apps["none"]) as c:
        r = c.post("/api/check", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
        assert "answer" in r.json()["error"] or "patient" in r.json()["error"]


# ------------------------------------------------------------------ health, feedback, audit


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_health_shows_no_paths(apps: dict[str, FastAPI], fixture_pack: Path) -> None:
    with _client(apps["token"]) as c:
        body = c.get("/api/health").json()
    assert body["index"]["sources"] == [f"pack:{fixture_pack.name}"]
    for text in _strings(body):
        assert not os.path.isabs(text) and str(fixture_pack.parent) not in text, text


def test_feedback_after_the_store_is_deleted_is_kept_in_a_new_store(
    base: Service, tmp_path: Path
) -> None:
    app, service = _app(base, tmp_path, "none")
    with _client(app) as c:
        first = c.post("/api/feedback", json={"answer_id": "ab12", "rating": "up"})
        assert first.status_code == 200
        for f in tmp_path.glob("feedback.sqlite3*"):
            f.unlink()
        r = c.post("/api/feedback", json={"answer_id": "cd34", "rating": "down"})
        assert r.status_code == 200 and r.json()["stored"] is True
    assert (tmp_path / "feedback.sqlite3").is_file()
    assert [row.answer_id for row in FeedbackStore(tmp_path / "feedback.sqlite3").rows()] == [
        "cd34"
    ]


def test_feedback_that_cannot_be_stored_is_a_500_not_stored_true(
    base: Service, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    app, service = _app(base, home, "none")
    with _client(app) as c:
        shutil.rmtree(home)
        home.write_text("not a directory any more")
        r = c.post("/api/feedback", json={"answer_id": "ab12", "rating": "up"})
    assert r.status_code == 500
    assert "stored" not in r.json() and "could not be stored" in r.json()["error"]


def test_every_answer_and_check_writes_an_audit_line(base: Service, tmp_path: Path) -> None:
    app, service = _app(base, tmp_path, "none")
    with _client(app) as c:
        answer = c.post("/api/ask", json={"question": BIVALIRUDIN}).json()
        c.post("/api/check", json={"answer": "Give bivalirudin 15 mg/kg/h IV for HIT."})
        r, endpoint = _call_ask(c)
        c.get(f"/chat/gradio_api/call{endpoint}/{r.json()['event_id']}")
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [x["endpoint"] for x in lines] == ["/api/ask", "/api/check", "chat"]
    ask, check, chat = lines
    assert ask["answer_id"] == answer["answer_id"]
    assert ask["allowed"] == answer["verdict"]["allowed"]
    assert ask["client"] == "127.0.0.1" and ask["user"] is None
    assert check["allowed"] is False and check["findings"] >= 1
    assert chat["answer_id"] and chat["client"] == "127.0.0.1"
    assert all(x["question"] is None for x in lines)
    assert all(re.match(r"\d{4}-\d\d-\d\dT", x["time"]) for x in lines)


def test_the_audit_keeps_the_question_only_when_asked_to(base: Service, tmp_path: Path) -> None:
    app, _ = _app(base, tmp_path, "none", audit_store_questions=True)
    with _client(app) as c:
        assert c.post("/api/ask", json={"question": BIVALIRUDIN}).status_code == 200
    line = json.loads((tmp_path / "audit.jsonl").read_text())
    assert line["question"] == BIVALIRUDIN


def test_no_answer_without_its_audit_line(base: Service, tmp_path: Path) -> None:
    app, _ = _app(base, tmp_path, "none")
    (tmp_path / "audit.jsonl").mkdir()  # the log cannot be opened for writing
    with _client(app) as c:
        r = c.post("/api/ask", json={"question": BIVALIRUDIN})
    assert r.status_code == 500
    assert "citations" not in r.text and "audit log" in r.json()["error"]


# ------------------------------------------------------------------ configuration


@pytest.mark.parametrize(
    ("server", "token", "words"),
    [
        ({"access": "token"}, None, "BEDSIDE_API_TOKEN is not set"),
        ({"access": "none"}, "secret", "would protect nothing"),
        ({"access": "proxy"}, None, "trusted_proxies is empty"),
        ({"access": "proxy", "trusted_proxies": ["nginx"]}, None, "not an IP address"),
    ],
    ids=["token-without-token", "token-with-none", "proxy-without-proxy", "bad-proxy"],
)
def test_a_policy_that_cannot_work_is_refused(
    base: Service, tmp_path: Path, server: dict[str, Any], token: str | None, words: str
) -> None:
    service = _service(base, tmp_path, **server)
    with pytest.raises(ConfigError, match=words):
        create_app(service, token=token or "")


def test_serve_refuses_an_open_network_address_without_access_control(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BEDSIDE_API_TOKEN", raising=False)
    assert main(["--preset", "fast", "serve", "--host", "0.0.0.0"]) != 0
    err = capsys.readouterr().err
    assert "server.access is none" in err and "BEDSIDE_SERVER__ACCESS=token" in err
    assert "opening the index" not in err  # refused before any work
