"""The service's re-verification of the index it serves: what /api/ask, /api/health and the
chat say while it fails, the schedule, and SIGUSR1 (in process; tests/ui/
test_index_integrity_serve.py does the same against a live server)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.pipeline import Assistant
from assistant.settings import Settings, load_settings
from corpus.errors import ConfigError
from ui.app import create_app
from ui.chat import build_chat
from ui.feedback import FeedbackStore
from ui.service import Service

LOCAL = "http://127.0.0.1"
QUESTION = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"
CHANGED = (
    "the index no longer matches its manifest: dense.faiss changed; rebuild it with "
    "`bedside index` and restart `bedside serve`"
)


def _settings(home: Path, pack: Path, **retrieval: Any) -> Settings:
    return load_settings(
        "fast", home=home, sources=[f"pack:{pack}"], retrieval={"embedder": "hash", **retrieval}
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path) -> Path:
    home = tmp_path_factory.mktemp("verify-home")
    Assistant.from_settings(_settings(home, fixture_pack))
    return home / "index"


@pytest.fixture
def service(tmp_path: Path, fixture_pack: Path, built: Path) -> Service:
    """A service over its own copy of the built index (the tests change its files)."""
    shutil.copytree(built, tmp_path / "index")
    settings = _settings(tmp_path, fixture_pack).model_copy(
        update={"index_dir": tmp_path / "index"}
    )
    assistant = Assistant.from_settings(settings, refresh=False)
    return Service(assistant, FeedbackStore(tmp_path / "feedback.sqlite3"))


@pytest.fixture
def client(service: Service) -> Iterator[TestClient]:
    app = create_app(service, token="")
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        yield c


def _zero_first_vector(index_dir: Path) -> None:
    manifest = json.loads((index_dir / "manifest.json").read_text())
    dense = index_dir / "dense.faiss"
    n, dim = manifest["counts"]["chunks"], manifest["embedder_dim"]
    with dense.open("r+b") as fh:
        fh.seek(dense.stat().st_size - n * dim * 4)
        fh.write(bytes(dim * 4))


def _chat_ask(service: Service) -> Callable[..., tuple[Any, ...]]:
    blocks = build_chat(service)
    return next(f.fn for f in blocks.fns.values() if getattr(f.fn, "__name__", "") == "ask")


def _eventually(check: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def test_a_changed_index_refuses_answers_until_it_matches_again(
    service: Service, client: TestClient, tmp_path: Path
) -> None:
    index = service.assistant.retriever.index.path
    saved = tmp_path / "dense.faiss"
    shutil.copy(index / "dense.faiss", saved)
    assert service.verify_index() is None
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200

    _zero_first_vector(index)
    assert service.verify_index() == CHANGED
    refused = client.post("/api/ask", json={"question": QUESTION})
    assert refused.status_code == 503
    assert refused.json() == {"error": f"Bedside is not answering: {CHANGED}"}
    health = client.get("/api/health")
    assert health.status_code == 503
    assert health.json()["status"] == "index_changed" and health.json()["error"] == CHANGED
    ask = _chat_ask(service)
    messages = ask(QUESTION, [], [], "clinician", "", "", False, False, "", None, "",
                   SimpleNamespace(headers={}))[0]  # fmt: skip
    shown = messages[-1]["content"].replace("\\`", "`")  # the chat escapes Markdown
    assert shown == f"⚠ Bedside is not answering: {CHANGED}"
    assert client.post("/api/check", json={"answer": "Give 5 mg."}).status_code == 200

    # written back as built: the next verification passes and answers are served again
    with (index / "dense.faiss").open("r+b") as fh:
        fh.write(saved.read_bytes())
    assert service.verify_index() is None
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.post("/api/ask", json={"question": QUESTION}).status_code == 200


def test_the_schedule_verifies_without_being_asked(service: Service) -> None:
    service.start_verifying(every_s=0.1)
    assert service.index_error is None
    _zero_first_vector(service.assistant.retriever.index.path)
    assert _eventually(lambda: service.index_error == CHANGED)


def test_sigusr1_asks_for_a_verification_now(service: Service) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        service.start_verifying(every_s=0)  # the schedule off: only the signal verifies
        _zero_first_vector(service.assistant.retriever.index.path)
        assert not _eventually(lambda: service.index_error is not None, seconds=0.5)
        os.kill(os.getpid(), signal.SIGUSR1)
        assert _eventually(lambda: service.index_error == CHANGED)
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_the_schedule_is_a_documented_setting_outside_the_settings_digest(
    tmp_path: Path, fixture_pack: Path
) -> None:
    default = _settings(tmp_path, fixture_pack)
    assert default.retrieval.verify_every_s == 120
    assert _settings(tmp_path, fixture_pack, verify_every_s=0).digest() == default.digest()
    with pytest.raises(ConfigError, match="verify_every_s"):
        _settings(tmp_path, fixture_pack, verify_every_s=-1)


def test_a_check_that_cannot_run_keeps_the_state_and_the_schedule(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verification that cannot run at all (the database is down: not an index error)
    changes nothing known about the index: answers go on, the failure is not shown to
    clients as a changed index, and the next scheduled check still runs."""
    calls: list[int] = []

    def unreachable() -> None:
        calls.append(1)
        raise OSError("connection to server on socket /run/pg/.s.PGSQL.5432 failed")

    monkeypatch.setattr(service.assistant.retriever, "verify", unreachable)
    assert service.verify_index() is None
    assert service.index_error is None
    service.start_verifying(every_s=0.05)
    deadline = time.monotonic() + 10
    while len(calls) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(calls) >= 3  # the verifying thread outlived the failures
