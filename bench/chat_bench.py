"""Fresh chats in a real browser against `bedside serve --workers N`: is every question
answered, and how long from Enter to the answer on screen, beside `/api/ask` for the same
questions in the same run (both after every worker has answered every question once).

    python -m bench.chat_bench [--chats 100] [--workers 2] [--index-dir DIR] [--preset NAME]

The server is started as its own process on 127.0.0.1 (the bundled default index, built first
if missing). Each chat is a new browser context (no cookies, no storage): the chat page is
loaded, one question typed and sent with Enter, and the answer waited for (it is finished when
it shows its review status, or a ⚠ notice). A chat whose answer does not arrive within
``--timeout-s``, or that shows an error, is lost. Then every question is sent once to
`/api/ask` over one kept-alive connection. Debian's Chromium (never a downloaded browser).
Results go to bench/out/chat_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load_test import free_port, stop_server, wait_healthy

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"]
QUESTIONS = (
    "What are the management options for heparin non-responders?",
    "What is the bivalirudin dose for heparin-induced thrombocytopenia?",
    "How should enoxaparin be dosed when CrCl is below 30 mL/min?",
    "What argatroban dose should be used for HIT with moderate hepatic impairment?",
    "How is dabigatran reversed before emergency surgery?",
    "What is the first-line antibiotic for community-acquired pneumonia in outpatients?",
    "How should insulin be started in diabetic ketoacidosis?",
    "When should apixaban be stopped before surgery?",
    "What is the target INR for warfarin in venous thromboembolism?",
    "How long should anticoagulation continue after a provoked pulmonary embolism?",
)
DONE_JS = (
    "n => { const b = document.querySelectorAll(\"#bedside-chat [data-testid='bot']\");"
    " return b.length >= n && /Review status:|⚠/.test(b[n - 1].innerText); }"
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def start(port: int, workers: int, index_dir: str | None, preset: str | None) -> Any:
    cmd = [sys.executable, "-m", "ui.cli"]
    if preset:
        cmd += ["--preset", preset]
    cmd += ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    if index_dir:
        cmd += ["--index-dir", index_dir]
    env = {**os.environ, "BEDSIDE_SERVER__RATE_LIMIT": "0"}
    env.pop("BEDSIDE_API_TOKEN", None)
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def chats(base: str, n: int, timeout_s: float) -> dict[str, Any]:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    lost: list[dict[str, str]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        for i in range(n):
            question = QUESTIONS[i % len(QUESTIONS)]
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
            try:
                page.goto(f"{base}/chat/", wait_until="load")
                box = page.locator("#bedside-question textarea")
                box.wait_for(timeout=60_000)
                box.fill(question)
                t0 = time.perf_counter()
                box.press("Enter")
                page.wait_for_function(DONE_JS, arg=1, timeout=timeout_s * 1000, polling=20)
                times.append((time.perf_counter() - t0) * 1000)
            except PlaywrightError as exc:
                lost.append(
                    {
                        "chat": str(i),
                        "question": question,
                        "error": str(exc).splitlines()[0][:200],
                        "console": " | ".join(errors)[:300],
                    }
                )
            finally:
                context.close()
        browser.close()
    return {"answered": len(times), "lost": lost, "enter_to_answer_ms": times}


def api(base: str, n: int) -> list[float]:
    times: list[float] = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for i in range(n):
            t0 = time.perf_counter()
            r = client.post("/api/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
            r.raise_for_status()
            times.append((time.perf_counter() - t0) * 1000)
    return times


def warm(base: str, rounds: int = 6) -> None:
    """Every question on new connections, ``rounds`` times: each worker process accepts
    some of them, so every worker has answered every question once (answers are cached per
    process) before either side is timed."""
    for _ in range(rounds):
        for question in QUESTIONS:
            httpx.post(f"{base}/api/ask", json={"question": question}, timeout=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--index-dir")
    parser.add_argument("--preset", help="settings preset (default: the default settings)")
    parser.add_argument("--timeout-s", type=float, default=60.0)
    args = parser.parse_args(argv)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(port, args.workers, args.index_dir, args.preset)
    try:
        wait_healthy(base, proc)
        warm(base)
        chat = chats(base, args.chats, args.timeout_s)
        api_ms = api(base, args.chats)
    finally:
        stop_server(proc, timeout_s=20)

    shown = chat["enter_to_answer_ms"]
    result = {
        "chats": args.chats,
        "workers": args.workers,
        "answered": chat["answered"],
        "lost": len(chat["lost"]),
        "lost_detail": chat["lost"],
        "chat_enter_to_answer_ms": {
            "p50": round(percentile(shown, 0.5), 1),
            "p95": round(percentile(shown, 0.95), 1),
            "mean": round(statistics.fmean(shown), 1) if shown else None,
        },
        "api_ask_ms": {
            "p50": round(percentile(api_ms, 0.5), 1),
            "p95": round(percentile(api_ms, 0.95), 1),
        },
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "chat_bench.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "lost_detail"}, indent=2))
    for item in chat["lost"][:10]:
        print("lost:", item, file=sys.stderr)
    return 0 if result["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
