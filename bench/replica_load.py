"""Two `bedside serve` replicas on one PostgreSQL database under load, one killed half-way.

    python -m bench.replica_load [--clients 20] [--seconds 60] [--kill-at 30] [--dsn DSN]

Starts a private PostgreSQL + pgvector server from the pgserver wheel (or uses ``--dsn``),
builds an index version of the bundled pack with the hash embedder (``--preset fast``, so
the build takes seconds), and starts two real `bedside serve` processes on different ports
with that one DSN (``server.rate_limit`` 0: every simulated client comes from 127.0.0.1).
``--clients`` threads, half on each replica, loop for ``--seconds``: each asks a question
(POST /api/ask, the anticoagulation gold set's mix of questions) and sends feedback on every
second answer (POST /api/feedback, with a comment unique to the request). At ``--kill-at``
seconds the first replica gets SIGKILL.

A client does what a load balancer does: a request that cannot reach its replica (refused,
reset, or a 5xx) is sent once to the other one, and a replica that failed that way is marked
down for that client. A user-visible error is a request that failed on every replica. At the
end the feedback rows acknowledged to the clients (HTTP 200 with an id) are compared with the
rows in ``bedside.feedback``: each acknowledged comment must be there. A feedback request cut
off by the kill after its row was committed is retried elsewhere and so may be stored twice;
those duplicates are counted, not hidden.

Figures are printed and written to ``bench/out/replica_load.json``, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.load_test import free_port, pct, request_mix, wait_healthy

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
TAG = "replica-load"


@dataclass
class Tally:
    """Every request's outcome, with the time it finished (seconds since the start)."""

    done: list[tuple[float, str, float]] = field(default_factory=list)  # (t, path, ms)
    errors: list[tuple[float, str]] = field(default_factory=list)
    failovers: list[tuple[float, str]] = field(default_factory=list)
    acked: list[str] = field(default_factory=list)  # comments of acknowledged feedback
    lock: threading.Lock = field(default_factory=threading.Lock)


def _env(dsn: str, home: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "BEDSIDE_HOME": str(home),
        "BEDSIDE_RETRIEVAL__BACKEND": "postgres",
        "BEDSIDE_RETRIEVAL__POSTGRES__DSN": dsn,
        "BEDSIDE_SERVER__RATE_LIMIT": "0",
    }
    env.pop("BEDSIDE_API_TOKEN", None)
    return env


def _server(dsn: str | None) -> tuple[str, Callable[[], None]]:
    if dsn:
        return dsn, lambda: None
    import pgserver
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    # a short path: the server's Unix socket lives in its data directory (108-byte limit)
    root = Path(tempfile.mkdtemp(prefix="bpgr"))
    server = pgserver.get_server(root, cleanup_mode="stop")
    parts: dict[str, Any] = dict(conninfo_to_dict(server.get_uri()))
    parts.pop("password", None)

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    return make_conninfo(**parts), stop


def _wait_healthy(proc: subprocess.Popen[bytes], base: str, timeout_s: float = 600) -> None:
    wait_healthy(base, proc, timeout_s)


class Client:
    """One simulated user, preferring one replica and failing over to the other."""

    def __init__(self, i: int, bases: list[str], tally: Tally, t0: float) -> None:
        self.i, self.tally, self.t0 = i, tally, t0
        self.order = bases[i % 2 :] + bases[: i % 2]  # half the clients prefer each replica
        self.down: set[str] = set()
        self.http = httpx.Client(timeout=120)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response | None:
        """The response from the first replica that gives a non-5xx answer, else None."""
        tried = 0
        for base in [b for b in self.order if b not in self.down] or self.order:
            if tried:
                with self.tally.lock:
                    self.tally.failovers.append((time.monotonic() - self.t0, path))
            tried += 1
            try:
                r = self.http.post(f"{base}{path}", json=body)
            except httpx.HTTPError:
                self.down.add(base)  # passive health check, as a load balancer's
                continue
            if r.status_code >= 500:
                self.down.add(base)
                continue
            return r
        return None

    def run(self, bodies: list[dict[str, Any]], stop_at: float) -> None:
        rng = random.Random(self.i)
        n = 0
        while time.monotonic() < stop_at:
            n += 1
            start = time.perf_counter()
            r = self.post("/api/ask", rng.choice(bodies))
            if not self._record("/api/ask", r, start) or r is None or n % 2:
                continue
            comment = f"{TAG} {self.i}-{n}"
            feedback = {"answer_id": r.json()["answer_id"], "rating": "up", "comment": comment}
            start = time.perf_counter()
            f = self.post("/api/feedback", feedback)
            if self._record("/api/feedback", f, start) and f is not None and f.json()["stored"]:
                with self.tally.lock:
                    self.tally.acked.append(comment)
        self.http.close()

    def _record(self, path: str, r: httpx.Response | None, start: float) -> bool:
        ms = (time.perf_counter() - start) * 1000
        t = time.monotonic() - self.t0
        with self.tally.lock:
            if r is not None and r.status_code == 200:
                self.tally.done.append((t, path, ms))
                return True
            why = "every replica failed" if r is None else f"HTTP {r.status_code}: {r.text[:200]}"
            self.tally.errors.append((t, f"{path}: {why}"))
            return False


def _window(tally: Tally, lo: float, hi: float) -> dict[str, Any]:
    span = hi - lo
    out: dict[str, Any] = {"seconds": round(span, 1)}
    for path in ("/api/ask", "/api/feedback"):
        ms = [m for t, p, m in tally.done if p == path and lo <= t < hi]
        out[path] = {
            "ok": len(ms),
            "rps": round(len(ms) / span, 2) if span > 0 else 0.0,
            "p50_ms": pct(ms, 0.50) if ms else None,
            "p95_ms": pct(ms, 0.95) if ms else None,
        }
    out["errors"] = sum(1 for t, _ in tally.errors if lo <= t < hi)
    out["failovers"] = sum(1 for t, _ in tally.failovers if lo <= t < hi)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--kill-at", type=float, default=30.0, help="seconds; SIGKILL replica 1")
    ap.add_argument("--dsn", default=None, help="an existing, empty database")
    ap.add_argument("--out", type=Path, default=OUT / "replica_load.json")
    args = ap.parse_args(argv)
    import psycopg

    dsn, stop_db = _server(args.dsn)
    home = Path(tempfile.mkdtemp(prefix="bedside-replicas-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        built = subprocess.run(
            [sys.executable, "-m", "ui.cli", "--preset", "fast", "index", "--source", "pack"],
            cwd=REPO,
            env=_env(dsn, home),
            capture_output=True,
            text=True,
        )
        if built.returncode != 0:
            raise SystemExit(f"the index build failed: {built.stderr[-2000:]}")
        with psycopg.connect(dsn) as conn:
            before = conn.execute("SELECT count(*) FROM bedside.feedback").fetchone()
        bases = []
        for _ in range(2):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "ui.cli", "--preset", "fast", "serve"]
                    + ["--host", "127.0.0.1", "--port", str(port)],
                    cwd=REPO,
                    env=_env(dsn, home),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        bodies = request_mix()
        for proc, base in zip(procs, bases, strict=True):
            _wait_healthy(proc, base)
            # one question each before the clock starts: the first answer loads lazy parts
            httpx.post(f"{base}/api/ask", json=bodies[0], timeout=300).raise_for_status()
        tally = Tally()
        t0 = time.monotonic()
        stop_at = t0 + args.seconds
        clients = [Client(i, bases, tally, t0) for i in range(args.clients)]
        threads = [threading.Thread(target=c.run, args=(bodies, stop_at)) for c in clients]
        for th in threads:
            th.start()
        time.sleep(max(0.0, t0 + args.kill_at - time.monotonic()))
        procs[0].send_signal(signal.SIGKILL)
        killed_at = time.monotonic() - t0
        for th in threads:
            th.join()
        elapsed = time.monotonic() - t0

        with psycopg.connect(dsn) as conn:
            rows = [
                str(r[0])
                for r in conn.execute(
                    "SELECT comment FROM bedside.feedback WHERE comment LIKE %s", (f"{TAG} %",)
                ).fetchall()
            ]
            after = conn.execute("SELECT count(*) FROM bedside.feedback").fetchone()
        stored = set(rows)
        report = {
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "clients": args.clients,
            "seconds": round(elapsed, 1),
            "replicas": 2,
            "killed": {"replica": bases[0], "at_s": round(killed_at, 1)},
            "before_kill": _window(tally, 0.0, killed_at),
            "after_kill": _window(tally, killed_at, elapsed),
            "whole_run": _window(tally, 0.0, elapsed),
            "user_errors": len(tally.errors),
            "error_examples": [e for _, e in tally.errors[:5]],
            "failovers": len(tally.failovers),
            "feedback": {
                "acknowledged": len(tally.acked),
                "rows_in_database": len(rows),
                "new_rows_in_table": int(after[0] if after else 0)
                - int(before[0] if before else 0),
                "acknowledged_missing": len(set(tally.acked) - stored),
                "stored_twice": len(rows) - len(stored),
                "stored_not_acknowledged": len(stored - set(tally.acked)),
            },
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        stop_db()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
