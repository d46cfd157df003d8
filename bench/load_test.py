"""Load test of `bedside serve` on loopback: N concurrent clients for a bounded time on
POST /api/ask with mixed questions (single questions, follow-ups with history, patient facts,
both audiences) from the anticoagulation gold set.

    python -m bench.load_test [--clients 20] [--seconds 60] [--index-dir DIR]
                              [--concurrency N] [--workers N]
                              [--heavy-check 4 [--check-kb 200] [--check-chars 6000]]

The server is started as its own process (`bedside serve`, 127.0.0.1 only) on the bundled
default index (built first if missing). Baseline in the same run: one client alone for
``--baseline-seconds``; the report gives the loaded latencies as ratios to it. Server RSS
is sampled before the load, during it (peak) and after, in total and per process (the
supervisor and each `--workers` process). Results go to bench/out/load_test.json.

With ``--heavy-check K``, K of the clients send POST /api/check bodies of about
``--check-kb`` kilobytes instead: a dose-dense answer of at most ``--check-chars``
characters (the server's default ``server.max_check_chars``) made of the bundled pack's
three most dose-dense sentences, each cited, and the cited documents plus further pack text
as passages. The other clients ask as before, in two phases of ``--seconds`` each: alone,
then beside the K heavy clients. The report gives /api/ask p50/p95 in both phases, their
ratio, the errors, and the check latencies.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
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
    # Every simulated client comes from 127.0.0.1: one address, so no per-client rate limit.
    env = {**os.environ, "BEDSIDE_SERVER__RATE_LIMIT": "0"}
    if concurrency:
        env["BEDSIDE_SERVER__CONCURRENCY"] = str(concurrency)
    env.pop("BEDSIDE_API_TOKEN", None)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def stop_server(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Ctrl-C, as a user stops `bedside serve`; killed if it has not ended in ``timeout_s``."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()


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


# One request: (path, JSON body, is the response a success?)
Request = tuple[str, dict[str, Any], Callable[[httpx.Response], bool]]


def ask_request(bodies: list[dict[str, Any]]) -> Callable[[random.Random], Request]:
    def make(rng: random.Random) -> Request:
        return "/api/ask", rng.choice(bodies), lambda r: bool(r.json().get("disclaimer"))

    return make


def check_request(body: dict[str, Any]) -> Callable[[random.Random], Request]:
    def make(_: random.Random) -> Request:
        return "/api/check", body, lambda r: "allowed" in r.json()

    return make


_DOSE = re.compile(r"\d\s*(?:mg|mcg|micrograms?|units?|mL|g)\b", re.I)


def heavy_check_body(kb: int, answer_chars: int, sentences: int = 3) -> dict[str, Any]:
    """A /api/check body of about ``kb`` kilobytes that the server accepts: an answer of at
    most ``answer_chars`` characters made of the bundled pack's ``sentences`` most
    dose-dense sentences (doses per character), repeated in turn until the answer is full,
    each cited, and as passages the cited documents, then the pack's other documents (copied
    under new ids when the pack is smaller) until the body reaches its size. The guard's
    time grows with the square of the doses, so this is the costly end of what
    ``server.max_check_chars`` lets through."""
    from corpus.loaders.pack import load_bundled_packs
    from corpus.text import sentence_spans

    docs = load_bundled_packs().documents
    dense: list[tuple[float, str, str]] = []
    for doc in docs:
        for s, e in sentence_spans(doc.text):
            sentence = " ".join(doc.text[s:e].split())
            doses = len(_DOSE.findall(sentence))
            if doses >= 2 and not sentence.startswith(("#", "|")):
                dense.append((doses / len(sentence), sentence, doc.id))
    dense.sort(key=lambda x: (-x[0], x[1]))
    parts: list[str] = []
    citations: dict[int, str] = {}
    used = 0
    for _, sentence, doc_id in itertools.cycle(dense[:sentences]):
        number = next((k for k, v in citations.items() if v == doc_id), len(citations) + 1)
        piece = f"{sentence} [{number}]"
        if used + len(piece) + 1 > answer_chars:
            break
        citations[number] = doc_id
        parts.append(piece)
        used += len(piece) + 1
    texts = {doc.id: doc.text for doc in docs}
    passages = {doc_id: texts[doc_id] for doc_id in citations.values()}
    body: dict[str, Any] = {
        "answer": "\n".join(parts),
        "citations": {str(k): v for k, v in citations.items()},
        "passages": passages,
    }
    size = len(json.dumps(body).encode())
    target = kb * 1000
    copy = 0
    while size < target:
        for doc in docs:
            key = doc.id if copy == 0 else f"{doc.id}~{copy}"
            if key in passages:
                continue
            text = doc.text[: max(0, target - size - len(key) - 8)]
            if not text:
                break
            passages[key] = text
            size += len(json.dumps({key: text}).encode())
            if size >= target:
                break
        copy += 1
    return body


def run_clients(
    base: str,
    clients: int,
    seconds: float,
    bodies: list[dict[str, Any]],
    heavy: int = 0,
    heavy_body: dict[str, Any] | None = None,
) -> tuple[Tally, Tally]:
    """``clients`` ask clients, plus ``heavy`` clients sending ``heavy_body`` to /api/check,
    for ``seconds``; the asks' tally and the checks' tally."""
    asks, checks = Tally(), Tally()
    stop_at = time.monotonic() + seconds

    def client(i: int, make: Callable[[random.Random], Request], tally: Tally) -> None:
        rng = random.Random(i)
        with httpx.Client(base_url=base, timeout=300) as http:
            while time.monotonic() < stop_at:
                path, body, ok = make(rng)
                t = time.perf_counter()
                try:
                    r = http.post(path, json=body)
                    ms = (time.perf_counter() - t) * 1000
                    if r.status_code == 200 and ok(r):
                        tally.add(ms, None)
                    else:
                        tally.add(None, f"{path}: HTTP {r.status_code}: {r.text[:200]}")
                except httpx.HTTPError as exc:
                    tally.add(None, f"{path}: {type(exc).__name__}: {exc}")

    jobs = [(i, ask_request(bodies), asks) for i in range(clients)]
    if heavy:
        assert heavy_body is not None
        jobs += [(clients + i, check_request(heavy_body), checks) for i in range(heavy)]
    threads = [threading.Thread(target=client, args=job) for job in jobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return asks, checks


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


def _row(label: str, r: dict[str, Any]) -> str:
    return (
        f"| {label} | {r['requests']} | {r['errors']} | {r['throughput_rps']} | {r['p50_ms']} | "
        f"{r['p95_ms']} | {r['p99_ms']} | {r['max_ms']} |"
    )


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
    ap.add_argument(
        "--heavy-check", type=int, default=0, help="clients sending large /api/check bodies"
    )
    ap.add_argument("--check-kb", type=int, default=200, help="size of a heavy check body")
    ap.add_argument(
        "--check-chars", type=int, default=6000, help="its answer's length (server.max_check_chars)"
    )
    ap.add_argument("--out", type=Path, default=OUT / "load_test.json")
    args = ap.parse_args(argv)
    if not 1 <= args.clients <= 200 or not 1 <= args.seconds <= 600:
        raise SystemExit("--clients must be 1..200 and --seconds 1..600 (the test is bounded)")
    if not 0 <= args.heavy_check < args.clients:
        raise SystemExit("--heavy-check must be 0..clients-1 (some clients must ask)")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bodies = request_mix()
    askers = args.clients - args.heavy_check
    heavy_body = heavy_check_body(args.check_kb, args.check_chars) if args.heavy_check else None
    proc = start_server(port, args.index_dir, args.concurrency, args.workers)
    try:
        t0 = time.monotonic()
        wait_healthy(base, proc)
        startup_s = round(time.monotonic() - t0, 1)
        server = psutil.Process(proc.pid)
        run_clients(base, 1, 3, bodies)  # warm up
        heavy_verdict: dict[str, Any] = {}
        if heavy_body is not None:
            r = httpx.post(f"{base}/api/check", json=heavy_body, timeout=300)
            if r.status_code != 200:
                raise SystemExit(f"the server refused the heavy check body: {r.text[:300]}")
            heavy_verdict = r.json()
        rss_before = rss_mb(server)

        baseline = summary(
            run_clients(base, 1, args.baseline_seconds, bodies)[0], args.baseline_seconds
        )

        peak = [rss_before]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.5):
                peak.append(rss_mb(server))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        loaded = summary(run_clients(base, askers, args.seconds, bodies)[0], args.seconds)
        with_heavy: dict[str, Any] = {}
        checks: dict[str, Any] = {}
        if heavy_body is not None:
            asks_tally, checks_tally = run_clients(
                base, askers, args.seconds, bodies, args.heavy_check, heavy_body
            )
            with_heavy = summary(asks_tally, args.seconds)
            checks = summary(checks_tally, args.seconds)
        sampling.set()
        sampler.join()
        rss_after = rss_mb(server)
        rss_processes = per_process_rss_mb(server)
    finally:
        stop_server(proc, timeout_s=20)

    report: dict[str, Any] = {
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
    if heavy_body is not None:
        report["heavy_check"] = {
            "clients": args.heavy_check,
            "ask_clients": askers,
            "body_bytes": len(json.dumps(heavy_body).encode()),
            "answer_chars": len(heavy_body["answer"]),
            "passages": len(heavy_body["passages"]),
            "checked_doses": heavy_verdict.get("checked_doses"),
            "findings": len(heavy_verdict.get("findings", [])),
            "asks_alone": loaded,
            "asks_with_heavy": with_heavy,
            "checks": checks,
            "ratio_ask_p50_with_heavy": round(with_heavy["p50_ms"] / loaded["p50_ms"], 2),
            "ratio_ask_p95_with_heavy": round(with_heavy["p95_ms"] / loaded["p95_ms"], 2),
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")

    print("| run | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print(_row(f"1 client, {args.baseline_seconds:g} s (baseline)", baseline))
    print(_row(f"/api/ask, {askers} clients, {args.seconds:g} s", loaded))
    errors = loaded["errors"]
    if heavy_body is not None:
        h = report["heavy_check"]
        print(_row(f"/api/ask, {askers} clients beside {args.heavy_check} heavy", with_heavy))
        print(_row(f"/api/check, {args.heavy_check} heavy clients", checks))
        print(
            f"heavy check body: {h['body_bytes']:,} bytes, answer {h['answer_chars']:,} chars, "
            f"{h['checked_doses']} doses checked, {h['passages']} passages"
        )
        print(
            f"/api/ask with the heavy clients / alone: p50 {h['ratio_ask_p50_with_heavy']}x, "
            f"p95 {h['ratio_ask_p95_with_heavy']}x"
        )
        errors += with_heavy["errors"] + checks["errors"]
    print(
        f"ratios to baseline: p50 {report['ratio_p50_to_baseline']}x, p95 "
        f"{report['ratio_p95_to_baseline']}x, throughput {report['ratio_throughput_to_baseline']}x"
    )
    rss = report["server_rss_mb"]
    print(f"server RSS MB: before {rss['before']}, peak {rss['peak']}, after {rss['after']}")
    print(f"server RSS MB per process after: {report['server_rss_mb_per_process_after']}")
    for part in (loaded, with_heavy, checks):
        for e in part.get("error_examples", []):
            print(f"error: {e}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
