"""Question-embedding latency next to a busy neighbour process, at 2 and 1 torch threads.

    python -m bench.embed_contention [--queries N] [--out bench/out]

Embeds one question at a time with the bundled MiniLM, calling the sentence-transformers
model directly with torch set to {default (2 on the bench machine), 1} threads, and also
through ``MiniLMEmbedder.embed`` (which picks its own thread count), each with no
neighbour, with a pure-Python spinner on one core, and with an index build (MiniLM batch
encoding at the default thread count) running in another process. Nothing is read from
../shared; timings are printed and written to ``<out>/embed_contention.json``, never asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import argparse
import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.retrieval_bench import REPO, ForeignCPU, pct, quiet_libraries, say, wait_quiet

QUESTIONS = (
    "What is the dose of argatroban in heparin-induced thrombocytopenia?",
    "Is metformin safe in chronic kidney disease?",
    "What are the side effects of amiodarone?",
    "How is community-acquired pneumonia treated in adults?",
    "Can I take ibuprofen while breastfeeding?",
    "What causes Marfan syndrome?",
    "Which genes are associated with long QT syndrome?",
    "How should warfarin be reversed before urgent surgery?",
    "What is the first-line treatment for anaphylaxis?",
    "Does vitamin D supplementation reduce fractures in older adults?",
)
PASSAGE = (
    "Argatroban is a direct thrombin inhibitor used for prophylaxis or treatment of "
    "thrombosis in adults with heparin-induced thrombocytopenia. The initial dose is "
    "2 mcg/kg/min as a continuous infusion, adjusted to keep the aPTT at 1.5 to 3 times "
    "the baseline value, not exceeding 100 seconds, and not exceeding 10 mcg/kg/min. "
) * 2


def _spin(stop: Any) -> None:
    """One pure-Python thread: keeps one core busy."""
    while not stop.is_set():
        for _ in range(100_000):
            pass


def _index_build(stop: Any) -> None:
    """What `bedside index` does: MiniLM batch encoding at torch's default thread count."""
    quiet_libraries()
    from retrieval.embedders import _load_minilm

    model = _load_minilm()
    texts = [f"{PASSAGE} ({i})" for i in range(64)]
    while not stop.is_set():
        model.encode(texts, batch_size=64, show_progress_bar=False)


NEIGHBOURS: dict[str, Callable[[Any], None] | None] = {
    "none": None,
    "python spinner, 1 core": _spin,
    "index build (MiniLM batches)": _index_build,
}


def measure(embed: Callable[[str], Any], queries: Sequence[str]) -> dict[str, float]:
    for q in queries[:5]:
        embed(q)
    lat = []
    for q in queries:
        t = time.perf_counter()
        embed(q)
        lat.append((time.perf_counter() - t) * 1000)
    return pct(lat)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.embed_contention", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--queries", type=int, default=100, help="questions embedded per condition")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    args = p.parse_args(argv)
    quiet_libraries()
    import torch

    from retrieval.embedders import MiniLMEmbedder, _load_minilm

    queries = [f"{QUESTIONS[i % len(QUESTIONS)]} ({i})" for i in range(args.queries)]
    model = _load_minilm()
    embedder = MiniLMEmbedder()
    default = torch.get_num_threads()

    def raw(threads: int) -> Callable[[str], Any]:
        def embed(q: str) -> Any:
            torch.set_num_threads(threads)
            return model.encode([q], normalize_embeddings=True, show_progress_bar=False)

        return embed

    callers: dict[str, Callable[[str], Any]] = {
        f"encode, torch {default} threads": raw(default),
        "encode, torch 1 thread": raw(1),
        "MiniLMEmbedder.embed (own policy)": lambda q: embedder.embed([q]),
    }
    ctx = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    for neighbour, target in NEIGHBOURS.items():
        wait_quiet(600)
        stop = ctx.Event()
        proc = ctx.Process(target=target, args=(stop,), daemon=True) if target else None
        if proc:
            proc.start()
            time.sleep(8 if target is _index_build else 1)  # let it load the model
        for caller, embed in callers.items():
            meter = ForeignCPU()  # the neighbour is a separate process: it counts here
            stats = measure(embed, queries)
            row = {
                "caller": caller,
                "neighbour": neighbour,
                "foreign_cpu_pct": meter.pct(),
                **stats,
            }
            rows.append(row)
            say(
                f"{caller:36} neighbour {neighbour:30} p50 {stats['p50_ms']:7.1f} ms, "
                f"p95 {stats['p95_ms']:7.1f} ms (other CPU {row['foreign_cpu_pct']:.0f}%)"
            )
        if proc:
            stop.set()
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
    torch.set_num_threads(default)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "embed_contention.json").write_text(
        json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=2) + "\n", encoding="utf-8"
    )
    say("\n| question embedded by | neighbour | p50 ms | p95 ms |\n|---|---|---|---|")
    for r in rows:
        say(f"| {r['caller']} | {r['neighbour']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
