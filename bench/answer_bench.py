"""Answer benchmark: a full guarded extractive answer vs retrieval alone, same questions.

    python -m bench.answer_bench [--index-dir DIR] [--questions N]

``--index-dir`` is any built Bedside index (default: the configured default corpus index;
the retrieval benchmark leaves a full-size one of ../shared/data under bench/out/). Questions
are the gold set's plus, when ../shared is present, BioASQ and MedicationQA questions. The
model is warm before timing. Timings are printed, never asserted. Target: p95 ≤ 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDSIDE_SHARED_DIR", REPO.parent / "shared"))


def questions(n: int) -> list[str]:
    out = [
        json.loads(line)["question"] for line in (REPO / "evals/sets/anticoagulation.jsonl").open()
    ]
    for name in ("bioasq", "medicationqa"):
        path = SHARED / "data" / name / "questions.jsonl"
        if path.is_file():
            out += [json.loads(line)["question"] for line in path.open()][: n // 2]
    return out[:n]


def pct(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[int(0.95 * (len(ordered) - 1))]


def padded(index: Any, n: int) -> Any:
    """The same index with its chunks repeated up to ``n`` (ids made unique): search costs
    grow with the number of rows, not with their content."""
    import numpy as np

    from corpus.types import Chunk
    from retrieval.bm25 import BM25Index
    from retrieval.dense import DenseIndex
    from retrieval.store import LoadedIndex, index_text

    base = index.chunks
    vectors = index.dense._index.reconstruct_n(0, len(base))
    chunks = list(base)
    rows = []
    i = 0
    while len(chunks) < n:
        c = base[i % len(base)]
        chunks.append(
            Chunk(f"{c.id}~{len(chunks)}", c.doc_id, c.text, c.start, c.end, c.section_path)
        )
        rows.append(i % len(base))
        i += 1
    all_vectors = np.vstack([vectors, vectors[rows]]) if rows else vectors
    dense = DenseIndex.build(all_vectors, "flat")
    bm25 = BM25Index.build([index_text(index.docs[c.doc_id], c) for c in chunks])
    return LoadedIndex(index.path, index.manifest, chunks, index.docs, dense, bm25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument(
        "--pad-to",
        type=int,
        default=None,
        help="repeat the index's chunks (new ids, same vectors and text) up to N, to time a larger index",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assistant.generators import get_generator
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from retrieval.embedders import get_embedder
    from retrieval.hybrid import HybridRetriever
    from retrieval.store import open_index

    settings = load_settings(**({"index_dir": args.index_dir} if args.index_dir else {}))
    if args.index_dir:
        embedder = get_embedder(settings.retrieval.embedder, settings.models_dir)
        index = open_index(args.index_dir, embedder)
        if args.pad_to:
            index = padded(index, args.pad_to)
        retriever = HybridRetriever(index, embedder, settings.retrieval)
        assistant = Assistant(
            settings, retriever, get_generator(settings.assistant.generator, settings)
        )
    else:
        assistant = Assistant.from_settings(settings)
    qs = questions(args.questions)
    for q in qs[:5]:  # warm the model, caches and compiled patterns
        assistant.ask(q)
    embed_ms: list[float] = []
    retrieve_ms, answer_ms, abstained = [], [], 0
    for q in qs:
        t0 = time.perf_counter()
        assistant.retriever.embedder.embed([q])
        embed_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assistant.retriever.search(q, k=50)
        retrieve_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        answer = assistant.ask(q)
        answer_ms.append((time.perf_counter() - t0) * 1000)
        abstained += answer.abstained
    chunks = len(assistant.retriever.index.chunks)
    e50, e95 = pct(embed_ms)
    r50, r95 = pct(retrieve_ms)
    a50, a95 = pct(answer_ms)
    print(
        f"index: {chunks:,} chunks; {len(qs)} questions ({abstained} abstained); 2 CPU cores, model warm"
    )
    print("| stage | p50 ms | p95 ms |")
    print("|---|---|---|")
    # First, so it pays for a token length the runtime has not run yet; the stages after
    # it run that length again.
    print(f"| question embedding alone (first) | {e50:.1f} | {e95:.1f} |")
    print(f"| retrieval alone (hybrid, 50 candidates) | {r50:.1f} | {r95:.1f} |")
    print(
        f"| guarded extractive answer (retrieve, compose, check, render) | {a50:.1f} | {a95:.1f} |"
    )
    print(
        f"\nratio answer / retrieval: p50 {a50 / r50:.2f}x, p95 {a95 / r95:.2f}x; "
        f"target p95 ≤ 300 ms: {'met' if a95 <= 300 else 'NOT met'}"
    )
    import resource

    import psutil

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    now_mb = psutil.Process().memory_info().rss / 2**20
    print(f"process RSS: {now_mb:,.0f} MB now, peak {peak_mb:,.0f} MB (ru_maxrss)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
