"""Load test of `bedside serve` on loopback: N concurrent clients for a bounded time on
POST /api/ask with mixed questions (single questions, follow-ups with history, patient facts,
both audiences) from the anticoagulation gold set.

    python -m bench.load_test [--clients 20] [--seconds 60] [--index-dir DIR]
                              [--concurrency N] [--workers N]

The server is started as its own process (`bedside serve`, 127.0.0.1 only) on the bundled
default index (built first if missing). Baseline in the same run: one client alone for
``--baseline-seconds``; the report gives the loaded latencies as ratios to it. Server RSS
is sampled before the load, during it (peak) and after, in total and per process (the
supervisor and each `--workers` process). Results go to bench/out/load_test.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "evals" / "sets" / "anticoagulation.jsonl"
OUT = REPO / "bench" / "out"


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float | None, error: str | None) -> None:
        with self.lock:
            if error is None and ms is not None:
                self.latencies_ms.append(ms)
            else:
                self.errors.append(error or "unknown")


def request_mix(seed: int = 7) -> list[dict[str, Any]]:
    """Bodies for /api/ask: every gold question (with its history), plus variants with
    patient facts and the patient audience."""
    rng = random.Random(seed)
    bodies: list[dict[str, Any]] = []
    for line in GOLD.read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        body: dict[str, Any] = {"question": item["question"], "history": item.get("history") or []}
        bodies.append(body)
        roll = rng.random()
        if roll < 0.3:
            bodies.append({**body, "patient": {"weight_kg": rng.choice([55, 80, 120])}})
        elif roll < 0.5:
            bodies.append({**body, "patient": {"crcl_ml_min": rng.choice([20, 25, 45, 90])}})
        elif roll < 0.6:
            bodies.append({**body, "audience": "patient"})
    rng.shuffle(bodies)
    return bodies


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(proc: psutil.Process) -> float:
    total = proc.memory_info().rss
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return round(total / 2**20, 1)


def per_process_rss_mb(proc: psutil.Process) -> dict[str, float]:
    out = {f"{proc.pid} (parent)": round(proc.memory_info().rss / 2**20, 1)}
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            out[str(child.pid)] = round(child.memory_info().rss / 2**20, 1)
    return out


def start_server(
    port: int, index_dir: Path | None, concurrency: int | None, workers: int | None
) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "ui.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if index_dir:
        cmd += ["--index-dir", str(index_dir)]
    if workers:
        cmd += ["--workers", str(workers)]
    env = dict(os.environ)
    if concurrency:
        env["BEDSIDE_SERVER__CONCURRENCY"] = str(concurrency)
    env.pop("BEDSIDE_API_TOKEN", None)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def wait_healthy(base: str, proc: subprocess.Popen[bytes], timeout_s: float = 1800) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not become healthy")


def run_clients(base: str, clients: int, seconds: float, bodies: list[dict[str, Any]]) -> Tally:
    tally = Tally()
    stop_at = time.monotonic() + seconds

    def client(i: int) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=base, timeout=120) as http:
            while time.monotonic() < stop_at:
                body = rng.choice(bodies)
                t = time.perf_counter()
                try:
                    r = http.post("/api/ask", json=body)
                    ms = (time.perf_counter() - t) * 1000
                    if r.status_code == 200 and r.json().get("disclaimer"):
                        tally.add(ms, None)
                    else:
                        tally.add(None, f"HTTP {r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    tally.add(None, f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return tally


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def summary(tally: Tally, seconds: float) -> dict[str, Any]:
    lat = tally.latencies_ms
    return {
        "requests": len(lat) + len(tally.errors),
        "ok": len(lat),
        "errors": len(tally.errors),
        "error_examples": tally.errors[:5],
        "throughput_rps": round(len(lat) / seconds, 2),
        "p50_ms": pct(lat, 0.50),
        "p95_ms": pct(lat, 0.95),
        "p99_ms": pct(lat, 0.99),
        "max_ms": round(max(lat), 1) if lat else float("nan"),
        "mean_ms": round(statistics.fmean(lat), 1) if lat else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--baseline-seconds", type=float, default=15.0)
    ap.add_argument("--index-dir", type=Path, default=None)
    ap.add_argument(
        "--concurrency", type=int, default=None, help="server.concurrency (default: the setting's)"
    )
    ap.add_argument(
        "--workers", type=int, default=None, help="serve --workers (default: server.workers)"
    )
    ap.add_argument("--out", type=Path, default=OUT / "load_test.json")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        raise SystemExit("--clients must be 1..200 and --seconds 1..600 (the test is bounded)")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bodies = request_mix()
    proc = start_server(port, args.index_dir, args.concurrency, args.workers)
    try:
        t0 = time.monotonic()
        wait_healthy(base, proc)
        startup_s = round(time.monotonic() - t0, 1)
        server = psutil.Process(proc.pid)
        run_clients(base, 1, 3, bodies)  # warm up
        rss_before = rss_mb(server)

        baseline = summary(
            run_clients(base, 1, args.baseline_seconds, bodies), args.baseline_seconds
        )

        peak = [rss_before]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.5):
                peak.append(rss_mb(server))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        loaded = summary(run_clients(base, args.clients, args.seconds, bodies), args.seconds)
        sampling.set()
        sampler.join()
        rss_after = rss_mb(server)
        rss_processes = per_process_rss_mb(server)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    report = {
        "clients": args.clients,
        "seconds": args.seconds,
        "server_concurrency": args.concurrency or "default",
        "server_workers": args.workers or "default",
        "distinct_request_bodies": len(bodies),
        "startup_s": startup_s,
        "cpu_count": os.cpu_count(),
        "baseline_one_client": baseline,
        "loaded": loaded,
        "ratio_p50_to_baseline": round(loaded["p50_ms"] / baseline["p50_ms"], 2),
        "ratio_p95_to_baseline": round(loaded["p95_ms"] / baseline["p95_ms"], 2),
        "ratio_throughput_to_baseline": round(
            loaded["throughput_rps"] / baseline["throughput_rps"], 2
        ),
        "server_rss_mb": {"before": rss_before, "peak": max(peak), "after": rss_after},
        "server_rss_mb_per_process_after": rss_processes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    b, lo = baseline, loaded
    print("| run | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| 1 client, {args.baseline_seconds:g} s (baseline) | {b['requests']} | {b['errors']} | "
        f"{b['throughput_rps']} | {b['p50_ms']} | {b['p95_ms']} | {b['p99_ms']} | {b['max_ms']} |"
    )
    print(
        f"| {args.clients} clients, {args.seconds:g} s | {lo['requests']} | {lo['errors']} | "
        f"{lo['throughput_rps']} | {lo['p50_ms']} | {lo['p95_ms']} | {lo['p99_ms']} | {lo['max_ms']} |"
    )
    print(
        f"ratios to baseline: p50 {report['ratio_p50_to_baseline']}x, p95 "
        f"{report['ratio_p95_to_baseline']}x, throughput {report['ratio_throughput_to_baseline']}x"
    )
    rss = report["server_rss_mb"]
    print(f"server RSS MB: before {rss['before']}, peak {rss['peak']}, after {rss['after']}")
    print(f"server RSS MB per process after: {report['server_rss_mb_per_process_after']}")
    for e in lo["error_examples"]:
        print(f"error: {e}")
    return 0 if lo["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
