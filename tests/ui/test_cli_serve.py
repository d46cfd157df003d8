"""`bedside serve` as a user starts it: a real process on a loopback port, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from served import free_port, healthy, wait_until

REPO = Path(__file__).resolve().parents[2]


def test_serve_builds_the_index_serves_and_stops_cleanly(
    tmp_path: Path, fixture_pack: Path
) -> None:
    port = free_port()
    env = {**os.environ, "BEDSIDE_HOME": str(tmp_path / "home"), "BEDSIDE_API_TOKEN": ""}
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--source", f"pack:{fixture_pack}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(healthy(base), proc, 120)
        health = httpx.get(f"{base}/api/health", timeout=5).json()
        assert health["index"]["counts"]["documents"] > 0
        assert httpx.get(f"{base}/chat/", timeout=10).status_code == 200
        # the first answer loads the drug lexicon: more than httpx's default 5 s on a busy box
        r = httpx.post(
            f"{base}/api/ask", json={"question": "What is the bivalirudin dose?"}, timeout=60
        )
        assert r.status_code == 200 and r.json()["disclaimer"]
        assert (tmp_path / "home" / "index" / "manifest.json").is_file()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    log = out.decode()
    assert proc.returncode == 0, log
    assert f"serving http://127.0.0.1:{port}/chat/" in log
    assert "access none" in log
    audit = (tmp_path / "home" / "audit.jsonl").read_text().splitlines()
    assert len(audit) == 1 and '"endpoint": "/api/ask"' in audit[0]
    assert "built the index" in log


def test_serve_with_token_access_and_no_token_refuses_to_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BEDSIDE_HOME": str(tmp_path / "home"),
        "BEDSIDE_API_TOKEN": "",
        "BEDSIDE_SERVER__ACCESS": "token",
    }
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", "1"]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, timeout=120)
    err = done.stderr.decode()
    assert done.returncode != 0
    assert "server.access is token but BEDSIDE_API_TOKEN is not set" in err
    assert "serving" not in err and not (tmp_path / "home" / "index").exists()


def test_serve_refuses_an_index_changed_after_its_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A same-length edit of a chunk ("should not be" -> "should now be") leaves every size
    as built; `bedside serve` and `bedside ask` name the file and answer nothing."""
    import uvicorn

    from ui.cli import main

    docs = tmp_path / "docs.jsonl"
    docs.write_text(
        '{"id": "t:hit", "title": "HIT circuits", "source_type": "guideline", "text": '
        '"In acute HIT, heparin should not be used for the dialysis circuit."}\n',
        encoding="utf-8",
    )
    index = tmp_path / "idx"
    fast = ["--preset", "fast"]
    assert main([*fast, "index", "--source", f"jsonl:{docs}", "--index-dir", str(index)]) == 0
    chunks = index / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes().replace(b"should not be", b"should now be"))
    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    monkeypatch.setattr("ui.workers.run_workers", lambda *a, **k: served.append(a))
    capsys.readouterr()

    assert main([*fast, "serve", "--index-dir", str(index)]) == 1
    assert served == []
    err = capsys.readouterr().err
    assert f"{chunks} does not match the sha256" in err and "rebuild" in err

    question = "Should heparin be used for the dialysis circuit in HIT?"
    assert main([*fast, "ask", question, "--index-dir", str(index)]) == 1
    out = capsys.readouterr()
    assert "should now be" not in out.out and f"{chunks} does not match" in out.err

    # Served from the configured home (the index is checked as current, then verified).
    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path / "home"))
    assert main([*fast, "index", "--source", f"jsonl:{docs}"]) == 0
    home_chunks = tmp_path / "home" / "index" / "chunks.jsonl"
    home_chunks.write_bytes(home_chunks.read_bytes().replace(b"should not be", b"should now be"))
    capsys.readouterr()
    assert main([*fast, "serve", "--source", f"jsonl:{docs}"]) == 1
    assert served == [] and f"{home_chunks} does not match" in capsys.readouterr().err


@pytest.mark.parametrize("when", ["serving", "starting"])
def test_workers_end_when_their_server_is_killed(
    tmp_path: Path, fixture_pack: Path, when: str
) -> None:
    """`serve --workers 2` killed outright (no chance to stop its workers), while serving or
    while its workers still start: they exit too."""
    import psutil

    port = free_port()
    env = {**os.environ, "BEDSIDE_HOME": str(tmp_path / "home"), "BEDSIDE_API_TOKEN": ""}
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--source", f"pack:{fixture_pack}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 180
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [
                p
                for p in psutil.Process(proc.pid).children(recursive=True)
                if "spawn_main" in " ".join(p.cmdline())
            ]
            if when == "starting" and len(workers) == 2:
                break
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert len(workers) == 2
    finally:
        proc.kill()
        proc.wait(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=120)
    for p in alive:
        p.kill()
    assert not alive, f"{len(alive)} worker(s) outlived their server"


def test_the_supervisor_of_workers_never_loads_the_embedding_model(
    tmp_path: Path, fixture_pack: Path
) -> None:
    """`serve --workers 2` on a new home: the index is built (with the real MiniLM runtime)
    in a child process that then ends, so the process supervising the workers never maps
    the inference runtime, while each worker does."""
    import psutil

    port = free_port()
    env = {**os.environ, "BEDSIDE_HOME": str(tmp_path / "home"), "BEDSIDE_API_TOKEN": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "serve", "--port", str(port), "--workers", "2"]
        + ["--source", f"pack:{fixture_pack}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def runtime_mapped(p: psutil.Process) -> bool:
        try:
            return any("openvino" in m.path for m in p.memory_maps())
        except (psutil.NoSuchProcess, FileNotFoundError):
            return False

    try:
        deadline = time.monotonic() + 300
        # healthy: the index is built and the child that built it has ended
        wait_until(healthy(f"http://127.0.0.1:{port}"), proc, 300)
        workers = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
            and "resource_tracker" not in " ".join(p.cmdline())
        ]
        assert len(workers) == 2
        while time.monotonic() < deadline and not all(runtime_mapped(w) for w in workers):
            time.sleep(0.5)  # the second worker may still be loading its model
        assert all(runtime_mapped(w) for w in workers)
        assert not runtime_mapped(psutil.Process(proc.pid))
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert "built the index" in err.decode()


def test_connections_to_workers_send_answers_without_waiting_for_an_ack() -> None:
    """The socket `serve --workers` shares is bound by uvicorn with protocol 0, where asyncio
    never sets TCP_NODELAY; Bedside sets it on the listening socket, and every connection
    accepted on it has it (else each answer on a kept-alive connection waits ~40 ms)."""
    import uvicorn

    from ui.workers import listening_socket

    config = uvicorn.Config("ui.workers:app_from_environment", host="127.0.0.1", port=0)
    with listening_socket(config) as server:
        server.listen()
        with socket.create_connection(server.getsockname()[:2]):
            accepted, _ = server.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_serve_refuses_a_password_in_the_dsn_as_index_does(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve --workers 2` with a password in the DSN used to start, crash-loop its workers
    and copy the DSN into every worker's environment; now it stops at once, with the message
    `bedside index` gives, naming the variable for the password and never the password."""
    from ui.cli import main

    served: list[object] = []
    monkeypatch.setattr("ui.workers.run_workers", lambda *a, **k: served.append(a))
    monkeypatch.setenv("BEDSIDE_RETRIEVAL__BACKEND", "postgres")
    monkeypatch.setenv("BEDSIDE_API_TOKEN", "")
    for dsn in (
        "postgresql://bedside:hunter2-pw@127.0.0.1:1/bedside",
        "host=127.0.0.1 port=1 dbname=bedside user=bedside password=hunter2-pw",
    ):
        monkeypatch.setenv("BEDSIDE_RETRIEVAL__POSTGRES__DSN", dsn)
        assert main(["--preset", "fast", "serve", "--workers", "2"]) == 1
        serve_err = capsys.readouterr().err
        assert main(["--preset", "fast", "index", "--backend", "postgres"]) == 1
        index_err = capsys.readouterr().err
        refusal = "error: retrieval.postgres.dsn contains a password"
        assert refusal in serve_err and "BEDSIDE_PG_PASSWORD" in serve_err
        assert serve_err.splitlines()[-1] == index_err.splitlines()[-1]
        assert "hunter2" not in serve_err and "opening the index" not in serve_err
    assert served == []


def _proc_strings(pid: int) -> tuple[dict[str, str], str]:
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(e.decode("utf-8", "replace").partition("=")[::2] for e in environ if e)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return env, cmdline


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_workers_hold_no_new_copy_of_a_secret(tmp_path: Path, fixture_pack: Path) -> None:
    """`serve --workers 2` with token access and the database and endpoint secrets in the
    operator's environment: each worker has each secret once, in the variable the operator
    set (inherited), and nowhere else: not in BEDSIDE_SERVE_SETTINGS, not in its command
    line."""
    import psutil

    secrets = {
        "BEDSIDE_API_TOKEN": "wk-token-8f3a1c9e7b2d4f6a0c5e9b1d3f7a2c4e",
        "BEDSIDE_PG_PASSWORD": "wk-pg-password-5d1e",
        "BEDSIDE_OPENAI_API_KEY": "wk-openai-key-9c7b",
    }
    port = free_port()
    env = {
        **os.environ,
        **secrets,
        "BEDSIDE_HOME": str(tmp_path / "home"),
        "BEDSIDE_SERVER__ACCESS": "token",
    }
    cmd = [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--workers", "2", "--source", f"pack:{fixture_pack}"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(healthy(f"http://127.0.0.1:{port}"), proc, 180)
        workers = [
            p
            for p in psutil.Process(proc.pid).children(recursive=True)
            if "spawn_main" in " ".join(p.cmdline())
            and "resource_tracker" not in " ".join(p.cmdline())
        ]
        assert len(workers) == 2
        for worker in workers:
            worker_env, cmdline = _proc_strings(worker.pid)
            assert "BEDSIDE_SERVE_SETTINGS" in worker_env  # the settings did reach it
            everything = "\0".join(f"{k}={v}" for k, v in worker_env.items())
            for name, value in secrets.items():
                assert worker_env[name] == value
                assert everything.count(value) == 1, name  # the inherited variable only
                assert value not in cmdline, name
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
