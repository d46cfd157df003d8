"""Wall time a person waits: `bedside ask` over a built index, and `bedside serve` from an
empty home to a healthy /api/health, for this tree and a baseline tree, interleaved in one run.

    python -m bench.start_time ask --baseline-tree DIR --baseline-home DIR [--home DIR] [--runs 5]
    python -m bench.start_time serve --baseline-tree DIR [--runs 1]

``--baseline-tree`` is another Bedside source tree (e.g. ``git archive <commit>`` unpacked);
each command runs as its own process with ``PYTHONPATH`` set to its tree, so both use the
same installed packages. `ask`: both homes must hold a built default index; runs alternate
baseline, this tree (then the other way round), and the report gives the median wall and
CPU time of each. `serve`: each run starts from a new empty home (index and model files
built as a new user's first start builds them) and times `bedside serve` until
/api/health answers 200. Timings are printed, never asserted; results go to
bench/out/start_time_<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.load_test import free_port, stop_server

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
QUESTION = "What is the apixaban dose for VTE treatment?"


def _env(tree: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEDSIDE_")}
    return {**env, "PYTHONPATH": str(tree), "BEDSIDE_HOME": str(home)}


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_ask(tree: Path, home: Path, question: str) -> dict[str, float]:
    cpu0, t0 = _children_cpu_s(), time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ui.cli", "ask", question],
        cwd=tree,
        env=_env(tree, home),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return {"wall_s": time.perf_counter() - t0, "cpu_s": _children_cpu_s() - cpu0}


def time_serve(tree: Path, log: Path) -> dict[str, float]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bedside-home-") as home, log.open("w") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "ui.cli", "serve", "--port", str(port)],
            cwd=tree,
            env=_env(tree, Path(home)),
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            while True:
                if proc.poll() is not None:
                    raise SystemExit(f"`bedside serve` in {tree} exited; see {log}")
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
                    if r.status_code == 200:
                        return {"healthy_s": time.perf_counter() - t0}
                except httpx.HTTPError:
                    pass
                time.sleep(0.25)
        finally:
            stop_server(proc, timeout_s=30)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("mode", choices=["ask", "serve"])
    ap.add_argument("--baseline-tree", type=Path, required=True)
    ap.add_argument("--baseline-home", type=Path, help="`ask`: the baseline's built home")
    ap.add_argument(
        "--home", type=Path, help="`ask`: this tree's built home (default: $BEDSIDE_HOME)"
    )
    ap.add_argument("--runs", type=int, default=None, help="runs of each (ask: 5, serve: 1)")
    ap.add_argument("--question", default=QUESTION)
    ap.add_argument(
        "--skip-baseline", action="store_true", help="time this tree only (no before/after ratio)"
    )
    args = ap.parse_args(argv)
    trees = {"baseline": args.baseline_tree.resolve(), "this tree": REPO}
    if args.skip_baseline:
        del trees["baseline"]
    runs = args.runs or (5 if args.mode == "ask" else 1)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    if args.mode == "ask":
        home = args.home or Path(os.environ.get("BEDSIDE_HOME", "~/.bedside")).expanduser()
        if not args.baseline_home:
            raise SystemExit("ask needs --baseline-home (a home with the baseline's index)")
        homes = {"baseline": args.baseline_home, "this tree": home}
        for name in trees:  # warm the file cache and any per-home caches once, untimed
            time_ask(trees[name], homes[name], args.question)
    OUT.mkdir(parents=True, exist_ok=True)
    for i in range(runs):
        order = list(trees) if i % 2 == 0 else list(reversed(trees))
        for name in order:
            if args.mode == "ask":
                r = time_ask(trees[name], homes[name], args.question)
            else:
                r = time_serve(trees[name], OUT / f"start_time_serve_{name.replace(' ', '_')}.log")
            results[name].append(r)
            print(f"run {i + 1} {name}: {json.dumps(r)}", file=sys.stderr, flush=True)
    report: dict[str, Any] = {"mode": args.mode, "runs": runs, "cpu_count": os.cpu_count()}
    for name, rows in results.items():
        report[name] = {
            key: round(statistics.median(r[key] for r in rows), 2) for key in rows[0]
        } | {"all": [{k: round(v, 2) for k, v in r.items()} for r in rows]}
    key = "wall_s" if args.mode == "ask" else "healthy_s"
    if "baseline" in report:
        report["ratio_baseline_to_this"] = round(
            report["baseline"][key] / report["this tree"][key], 2
        )
    out = OUT / f"start_time_{args.mode}.json"
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
