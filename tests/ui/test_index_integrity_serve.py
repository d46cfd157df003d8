"""A live `bedside serve` (a real uvicorn process on 127.0.0.1, hash embedder) whose index is
changed under it: it verifies again on SIGUSR1 and stops answering, and a worker that
cannot verify the index at start stops the server instead of being respawned forever."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from served import free_port, healthy, wait_until

REPO = Path(__file__).resolve().parents[2]
HIT = (
    '{"id": "t:hit", "title": "HIT circuits", "source_type": "guideline", "url": '
    '"https://guidelines.example.org/hit", "review_status": "draft", "text": "In acute HIT, '
    'heparin should not be used for the dialysis circuit. Argatroban 2 mcg/kg/min is used."}\n'
)
QUESTION = "Should heparin be used for the dialysis circuit in HIT?"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "BEDSIDE_HOME": str(tmp_path / "home"),
        "BEDSIDE_API_TOKEN": "",
        **extra,
    }


@pytest.fixture
def index(tmp_path: Path) -> Path:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(HIT, encoding="utf-8")
    out = tmp_path / "idx"
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "index"]
    subprocess.run(
        [*cmd, "--source", f"jsonl:{docs}", "--index-dir", str(out)],
        cwd=REPO,
        env=_env(tmp_path),
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


@pytest.fixture
def served(tmp_path: Path, index: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`serve --index-dir` with the schedule off: only SIGUSR1 starts a verification."""
    port = free_port()
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--index-dir", str(index)],
        cwd=REPO,
        env=_env(tmp_path, BEDSIDE_RETRIEVAL__VERIFY_EVERY_S="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        up = wait_until(healthy(base), proc, 120)
        assert up, "the server did not start"
        yield base, proc
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def _verify_now(base: str, proc: subprocess.Popen[bytes], status: int) -> httpx.Response:
    """SIGUSR1, then the health answer once it has the expected status."""
    proc.send_signal(signal.SIGUSR1)
    ok = wait_until(
        lambda: httpx.get(f"{base}/api/health", timeout=5).status_code == status, proc, 30
    )
    health = httpx.get(f"{base}/api/health", timeout=5)
    assert ok, health.text
    return health


def _ask(base: str) -> httpx.Response:
    return httpx.post(f"{base}/api/ask", json={"question": QUESTION}, timeout=60)


def _rehash(index_dir: Path, name: str) -> None:
    data = (index_dir / name).read_bytes()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (index_dir / "manifest.json").write_text(json.dumps(manifest))


def test_a_served_index_changed_under_it_stops_answers_on_sigusr1(
    served: tuple[str, subprocess.Popen[bytes]], index: Path, tmp_path: Path
) -> None:
    base, proc = served
    started = httpx.get(f"{base}/api/health", timeout=5).json()
    assert started["status"] == "ok"
    assert _ask(base).status_code == 200
    saved = tmp_path / "saved"
    shutil.copytree(index, saved)

    # documents.jsonl rewritten (review status, a foreign source URL) and the manifest's
    # hashes recomputed to match: it verifies against itself, not against the start.
    docs = index / "documents.jsonl"
    row = json.loads(docs.read_text(encoding="utf-8"))
    row.update(
        review_status="REVIEWED AND APPROVED by hospital pharmacy", url="https://evil.example/"
    )
    docs.write_text(json.dumps(row) + "\n", encoding="utf-8")
    _rehash(index, "documents.jsonl")
    health = _verify_now(base, proc, 503).json()
    assert health["status"] == "index_changed"
    assert "not the one this server verified at start" in health["error"]
    assert started["index_digest"] in health["error"]
    refused = _ask(base)
    assert refused.status_code == 503
    assert "not the one this server verified at start" in refused.json()["error"]

    # put back as built: answers again
    for name in ("documents.jsonl", "manifest.json"):
        shutil.copy(saved / name, index / name)
    assert _verify_now(base, proc, 200).json()["index_digest"] == started["index_digest"]
    assert _ask(base).status_code == 200

    # a vector zeroed in the memory-mapped FAISS file changes rankings at once
    manifest = json.loads((index / "manifest.json").read_text())
    dense = index / "dense.faiss"
    n, dim = manifest["counts"]["chunks"], manifest["embedder_dim"]
    with dense.open("r+b") as fh:
        fh.seek(dense.stat().st_size - n * dim * 4)
        fh.write(bytes(dim * 4))
    health = _verify_now(base, proc, 503).json()
    message = (
        "the index no longer matches its manifest: dense.faiss changed; rebuild it with "
        "`bedside index` and restart `bedside serve`"
    )
    assert health["error"] == message and str(index) not in health["error"]
    refused = _ask(base)
    assert refused.status_code == 503 and refused.json()["error"].endswith(message)
    # the dose guard alone reads no index: it still answers
    check = httpx.post(f"{base}/api/check", json={"answer": "Give 5 mg."}, timeout=30)
    assert check.status_code == 200


def test_a_worker_that_cannot_verify_the_index_stops_the_server(
    tmp_path: Path, index: Path
) -> None:
    """`serve --workers 2`: a same-length chunk edit, then a killed worker. Its replacement
    fails verification; the server stops with its message and a non-zero status instead of
    respawning it every few seconds."""
    import psutil

    port = free_port()
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--index-dir", str(index)],
        cwd=REPO,
        env=_env(tmp_path, BEDSIDE_RETRIEVAL__VERIFY_EVERY_S="0"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        up = wait_until(healthy(base), proc, 180)
        assert up, "the server did not start"

        def workers() -> list[psutil.Process]:
            children = psutil.Process(proc.pid).children(recursive=True)
            return [p for p in children if "spawn_main" in " ".join(p.cmdline())]

        assert wait_until(lambda: len(workers()) == 2, proc, 120)
        chunks = index / "chunks.jsonl"
        chunks.write_bytes(chunks.read_bytes().replace(b"should not be", b"should now be"))
        victim = workers()[0]
        victim.kill()
        out, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    log = out.decode()
    assert proc.returncode != 0, log
    assert log.count("cannot serve:") == 1, log
    assert "chunks.jsonl does not match the sha256" in log
    assert "the server stopped rather than start it again and again" in log
