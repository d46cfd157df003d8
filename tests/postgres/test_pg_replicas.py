"""Stateless replicas: real `bedside serve` processes on one database answer alike, follow a
new index version without a restart, and keep answering when another replica is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
QUESTION = "What is the argatroban dose for HIT?"
VOLATILE = ("answer_id", "timings_ms")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(dsn: str, home: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BEDSIDE_HOME": str(home),
        "BEDSIDE_API_TOKEN": "",
        "BEDSIDE_RETRIEVAL__BACKEND": "postgres",
        "BEDSIDE_RETRIEVAL__POSTGRES__DSN": dsn,
        "BEDSIDE_RETRIEVAL__POSTGRES__POLL_S": "0.3",
    }


def _index(dsn: str, home: Path, source: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ui.cli", "--preset", "fast", "index", "--source", f"pack:{source}"],
        cwd=REPO,
        env=_env(dsn, home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "now active" in done.stdout
    assert "password" not in done.stderr.lower()
    return done.stdout.rsplit("index ", 1)[1].strip()  # the digest, last on the line


def _start(dsn: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", str(port)],
        cwd=REPO,
        env=_env(dsn, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return proc, f"http://127.0.0.1:{port}"


def _wait_healthy(proc: subprocess.Popen[bytes], base: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            r = httpx.get(f"{base}/api/health", timeout=2)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    err = proc.stderr.read().decode()[-3000:] if proc.stderr and proc.poll() is not None else ""
    raise AssertionError(f"replica at {base} did not become healthy: {err}")


def _ask_new(base: str, question: str, digest: str) -> dict[str, Any]:
    """The answer to ``question`` once the replica answers it from index ``digest``."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        answer = _ask(base, question)
        if answer.get("index_digest") == digest:
            return answer
        time.sleep(0.2)
    raise AssertionError(f"{base} did not answer from index {digest}")


def _ask(base: str, question: str = QUESTION) -> dict[str, Any]:
    r = httpx.post(f"{base}/api/ask", json={"question": question}, timeout=60)
    assert r.status_code == 200, r.text
    return {k: v for k, v in r.json().items() if k not in VOLATILE}


def _wait_for_digest(base: str, digest: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{base}/api/health", timeout=5).json()["index_digest"] == digest:
            return
        time.sleep(0.2)
    raise AssertionError(f"{base} did not pick up index {digest}")


@contextmanager
def _replicas(dsn: str, home: Path, n: int) -> Iterator[list[tuple[subprocess.Popen[bytes], str]]]:
    started = [_start(dsn, home / f"r{i}") for i in range(n)]
    try:
        yield started
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc, _ in started:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_replicas_on_one_database(pg_dsn: str, fixture_pack: Path, tmp_path: Path) -> None:
    first = _index(pg_dsn, tmp_path / "builder", fixture_pack)
    with _replicas(pg_dsn, tmp_path, 2) as [(a, base_a), (b, base_b)]:
        health = [_wait_healthy(a, base_a), _wait_healthy(b, base_b)]
        assert {h["index_digest"] for h in health} == {first}
        # the same question, the same answer (ids and timings aside)
        answer_a, answer_b = _ask(base_a), _ask(base_b)
        assert answer_a == answer_b and answer_a["citations"]

        # a new version (one more document) reaches both without a restart
        grown = tmp_path / "grown"
        grown.mkdir()
        for doc in fixture_pack.glob("*.md"):
            (grown / doc.name).write_text(doc.read_text(encoding="utf-8"), encoding="utf-8")
        (grown / "fixture-fondaparinux.md").write_text(
            (fixture_pack / "fixture-warfarin.md")
            .read_text(encoding="utf-8")
            .split("---\n# ")[0]
            .replace("warfarin", "fondaparinux")
            .replace("Warfarin", "Fondaparinux")
            + "---\n# Fondaparinux\n\n"
            "Fondaparinux is an option for suspected heparin-induced thrombocytopenia in "
            "stable patients with normal renal function.\n",
            encoding="utf-8",
        )
        second = _index(pg_dsn, tmp_path / "builder", grown)
        assert second != first
        for base in (base_a, base_b):
            _wait_for_digest(base, second)
        assert a.poll() is None and b.poll() is None  # same processes: no restart
        asked = "Is fondaparinux an option in heparin-induced thrombocytopenia?"
        # Each replica's worker processes pick the new version up on their own: health may
        # come from one that has while a question reaches one that has not yet.
        new_a, new_b = _ask_new(base_a, asked, second), _ask_new(base_b, asked, second)
        assert new_a == new_b
        for base in (base_a, base_b):
            counts = httpx.get(f"{base}/api/health", timeout=5).json()["index"]["counts"]
            assert counts["documents"] == len(list(grown.glob("*.md")))

        # a third replica killed while it loads, then one killed outright: the rest answer
        with _replicas(pg_dsn, tmp_path / "late", 1) as [(c, _)]:
            time.sleep(1.0)  # it is importing and opening the index now
            c.send_signal(signal.SIGKILL)
            c.wait(timeout=30)
        b.send_signal(signal.SIGKILL)
        b.wait(timeout=30)
        assert _ask(base_a, asked) == new_a
        assert _ask(base_a)["citations"]
