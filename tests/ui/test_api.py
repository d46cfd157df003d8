"""The server's JSON API and its security, in process (FastAPI's TestClient) over the
fixture pack with the hash embedder."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.pipeline import Assistant
from assistant.settings import Settings, load_settings
from ui.app import create_app
from ui.feedback import FeedbackStore
from ui.service import Service

INTRANET = "https://intranet.example"
EVIL = "https://evil.example"
BIVALIRUDIN = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
LOCAL = "http://127.0.0.1"  # a Host in the default server.allowed_hosts
API_TOKEN = "s3cret-token-long-enough-for-the-length-rule"


def _settings(home: Path, pack: Path, **server: Any) -> Settings:
    return load_settings(
        "fast",
        home=home,
        sources=[f"pack:{pack}"],
        server={"cors_origins": [INTRANET], "frame_ancestors": ["'self'", INTRANET], **server},
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Service:
    home = tmp_path_factory.mktemp("api-home")
    assistant = Assistant.from_settings(_settings(home, fixture_pack))
    return Service(assistant, FeedbackStore(home / "feedback.sqlite3"))


@pytest.fixture(scope="module")
def client(service: Service) -> Iterator[TestClient]:
    with TestClient(
        create_app(service, token=""), base_url=LOCAL, raise_server_exceptions=False
    ) as c:
        yield c


@pytest.fixture(scope="module")
def locked(
    service: Service, tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path
) -> Iterator[TestClient]:
    home = tmp_path_factory.mktemp("locked-home")
    settings = _settings(home, fixture_pack, access="token")
    token_service = Service(
        Assistant(settings, service.assistant.retriever, service.assistant.generator),
        FeedbackStore(home / "feedback.sqlite3"),
    )
    with TestClient(create_app(token_service, token=API_TOKEN), base_url=LOCAL) as c:
        yield c


# ------------------------------------------------------------------ answers


def test_ask_returns_a_guarded_cited_answer(client: TestClient) -> None:
    r = client.post("/api/ask", json={"question": BIVALIRUDIN})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["citations"] and all(c["quote"] for c in body["citations"])
    assert set(body["verdict"]) == {"allowed", "checked_doses", "findings"}
    assert body["disclaimer"].startswith("Bedside is for healthcare professionals")
    assert body["review_status"]
    assert isinstance(body["related_questions"], list)
    assert body["settings_digest"] and body["index_digest"]


def test_ask_takes_history_patient_and_audience(client: TestClient) -> None:
    r = client.post(
        "/api/ask",
        json={
            "question": "and in hepatic impairment?",
            "history": [{"role": "user", "content": "What is the argatroban dose in HIT?"}],
            "patient": {"weight_kg": 80, "hepatic_impairment": True},
            "audience": "patient",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert "argatroban" in body["standalone_query"].lower()
    assert body["audience"] == "patient"
    assert body["disclaimer"].startswith("This is general information")


def test_check_runs_the_guard_alone(client: TestClient) -> None:
    r = client.post(
        "/api/check",
        json={"answer": "Give bivalirudin 15 mg/kg/h IV for HIT.", "question": "HIT"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["allowed"] is False
    assert any(f["severity"] == "block" for f in body["findings"])


def test_health_reports_the_index(client: TestClient) -> None:
    body = client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["index"]["counts"]["chunks"] > 0
    assert body["version"] and body["index_digest"]


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/api/ask", "/api/check", "/api/health", "/api/feedback"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "question"),
        ({"question": 12}, "question"),
        ({"question": "x?", "audience": "robot"}, "audience"),
        ({"question": "x?", "unknown": 1}, "unknown"),
        ({"question": "x?", "patient": {"weight_kg": -3}}, "patient.weight_kg"),
        ({"question": "x?", "history": [{"role": "system", "content": "hi"}]}, "history.0.role"),
        ({"question": "x?", "patient": {"weight_kg": True}}, "patient.weight_kg"),
    ],
    ids=[
        "missing",
        "wrong-type",
        "audience",
        "extra-field",
        "negative-weight",
        "history-role",
        "bool-weight",
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    r = client.post("/api/ask", json=body)
    assert r.status_code == 422
    assert field in r.json()["error"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("question", "words"),
    [("   ", "empty"), ("🙂🙂", "no letters"), ("x" * 5000, "limit")],
    ids=["whitespace", "emoji", "too-long"],
)
def test_unanswerable_questions_are_422_with_a_clear_message(
    client: TestClient, question: str, words: str
) -> None:
    r = client.post("/api/ask", json={"question": question})
    assert r.status_code == 422
    assert words in r.json()["error"]


@pytest.mark.parametrize(
    "raw", [b'{"question": "heparin\\ud800 dose?"}', b'{"question": "heparin\\u0000 dose?"}']
)
def test_text_that_is_not_valid_is_422_naming_where(client: TestClient, raw: bytes) -> None:
    r = client.post("/api/ask", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert "at character 8" in r.json()["error"]
    assert "Traceback" not in r.text


def test_malformed_json_is_422(client: TestClient) -> None:
    r = client.post("/api/ask", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert "Traceback" not in r.text


def test_an_unexpected_failure_is_500_without_a_stack_trace(
    client: TestClient, service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(service.assistant, "ask", broken)
    r = client.post("/api/ask", json={"question": BIVALIRUDIN})
    assert r.status_code == 500
    assert "secret internal detail" not in r.text and "Traceback" not in r.text
    assert r.json()["ref"]


# ------------------------------------------------------------------ security


def test_a_1_mb_body_is_413(client: TestClient) -> None:
    big = json.dumps({"question": "x" * 1_000_000})
    r = client.post("/api/ask", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert "server.max_body_bytes" in r.json()["error"]


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": "'
        for _ in range(64):
            yield b"x" * 16_384
        yield b'"}'

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_a_chunked_body_within_the_limit_is_answered(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"question": '
        yield json.dumps(BIVALIRUDIN).encode() + b"}"

    r = client.post("/api/ask", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_TOKEN}],
    ids=["missing", "wrong", "no-scheme"],
)
def test_the_api_needs_the_token_when_one_is_set(
    locked: TestClient, headers: dict[str, str]
) -> None:
    for path, body in (("/api/ask", {"question": BIVALIRUDIN}), ("/api/check", {"answer": "x"})):
        r = locked.post(path, json=body, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")


def test_the_right_token_is_accepted_and_health_stays_open(locked: TestClient) -> None:
    ok = locked.post(
        "/api/ask",
        json={"question": BIVALIRUDIN},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert ok.status_code == 200
    assert locked.get("/api/health").status_code == 200


@pytest.mark.parametrize("path", ["/api/health", "/chat/config", "/chat/", "/widget-demo"])
def test_a_disallowed_origin_gets_no_cors_allow_header(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options(path, headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in pre.headers


def test_a_disallowed_origin_cannot_post_a_question(client: TestClient) -> None:
    pre = client.options(
        "/api/ask",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert "access-control-allow-origin" not in pre.headers
    r = client.post("/api/ask", json={"question": BIVALIRUDIN}, headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize("path", ["/api/health", "/chat/config"])
def test_an_allowlisted_origin_gets_cors(client: TestClient, path: str) -> None:
    r = client.get(path, headers={"Origin": INTRANET})
    assert r.headers["access-control-allow-origin"] == INTRANET


@pytest.mark.parametrize("path", ["/chat/", "/api/health", "/docs", "/widget-demo"])
def test_framing_is_limited_to_the_allowlist(client: TestClient, path: str) -> None:
    csp = client.get(path).headers["content-security-policy"]
    assert csp == f"frame-ancestors 'self' {INTRANET}"


def test_the_default_allows_framing_only_by_the_same_origin(
    tmp_path: Path, fixture_pack: Path
) -> None:
    settings = load_settings("fast", home=tmp_path, sources=[f"pack:{fixture_pack}"])
    assert settings.server.frame_ancestors == ["'self'"]
    assert settings.server.cors_origins == []


# ------------------------------------------------------------------ widget and feedback


def test_gradio_js_is_served_locally_with_its_assets(client: TestClient) -> None:
    js = client.get("/chat/gradio.js")
    assert js.status_code == 200
    assert "javascript" in js.headers["content-type"]
    target = js.text.split('"')[1]  # import("./assets/index-….js")
    assert client.get(f"/chat/{target.removeprefix('./')}").status_code == 200


def test_the_widget_demo_page_embeds_both_ways(client: TestClient) -> None:
    page = client.get("/widget-demo").text
    assert "<gradio-app" in page and "/chat/gradio.js" in page
    assert "<iframe" in page and "/chat/" in page


def test_feedback_is_stored_without_the_question_by_default(
    client: TestClient, service: Service
) -> None:
    r = client.post(
        "/api/feedback",
        json={"answer_id": "ab12", "rating": "down", "comment": "dose missing", "question": "q?"},
    )
    assert r.status_code == 200, r.text
    row = service.feedback.rows()[-1]
    assert (row.answer_id, row.rating, row.comment, row.question) == (
        "ab12",
        "down",
        "dose missing",
        None,
    )
    assert row.settings_digest == service.assistant.settings.digest()
    with sqlite3.connect(service.feedback.path) as db:
        assert db.execute(
            "SELECT count(*) FROM feedback WHERE question IS NOT NULL"
        ).fetchone() == (0,)


def test_feedback_keeps_the_question_when_the_deployment_opts_in(
    tmp_path: Path, fixture_pack: Path, service: Service
) -> None:
    settings = _settings(tmp_path, fixture_pack, feedback_store_questions=True)
    opted = Service(
        Assistant(settings, service.assistant.retriever, service.assistant.generator),
        FeedbackStore(tmp_path / "fb.sqlite3"),
    )
    with TestClient(create_app(opted, token=""), base_url=LOCAL) as c:
        r = c.post("/api/feedback", json={"answer_id": "cd34", "rating": "up", "question": "q?"})
    assert r.status_code == 200
    assert opted.feedback.rows()[-1].question == "q?"


def test_feedback_rejects_a_bad_rating(client: TestClient) -> None:
    r = client.post("/api/feedback", json={"answer_id": "ab12", "rating": "meh"})
    assert r.status_code == 422
    assert "rating" in r.json()["error"]
