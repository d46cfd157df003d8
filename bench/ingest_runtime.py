"""Ingestion throughput of the MiniLM runtimes on the same sample, in one process:
OpenVINO (``retrieval.embedder = minilm``, the default) vs sentence-transformers on torch
(``minilm-torch``, the earlier default).

    python -m bench.ingest_runtime [--sample-docs 2103] [--blocks 4] [--seed 0]

The sample is the retrieval bench's ingestion sample (a seeded random set of documents from
../shared/data, ~4,000 chunks). It is cut into ``--blocks`` blocks of documents; each block
is indexed with ``build_index`` (chunk, embed, FAISS, BM25, write) by both runtimes, in the
order torch, new for even blocks and new, torch for odd ones, so both see the same
machine load on average; wall time and the process's CPU time are both recorded. Both models are warm before the first block. The report gives
chunks/s per runtime over all blocks, their ratio, and the cosine similarity of the two
runtimes' vectors for the same chunks. Timings are printed, never asserted; results go to
bench/out/ingest_runtime.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"


def sample_documents(data: Path, sample_docs: int, seed: int) -> list[Any]:
    from bench.retrieval_bench import Config, load_corpus

    corpus = load_corpus(Config(data=data, out=OUT, max_docs=None, seed=seed, queries=0))
    rng = random.Random(seed + 1)  # the retrieval bench's ingestion sample
    picked = {d.id for d in rng.sample(corpus.docs, min(sample_docs, len(corpus.docs)))}
    return [d for d in corpus.docs if d.id in picked]


def main(argv: list[str] | None = None) -> int:
    from bench.retrieval_bench import quiet_libraries, shared_dir

    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--sample-docs", type=int, default=2103)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT / "ingest_runtime.json")
    args = ap.parse_args(argv)
    quiet_libraries()

    from corpus.chunking import ChunkingSettings
    from retrieval.embedders import MiniLMEmbedder, TorchMiniLMEmbedder
    from retrieval.settings import RetrievalSettings
    from retrieval.store import build_index, open_index

    docs = sample_documents(shared_dir() / "data", args.sample_docs, args.seed)
    runtimes: dict[str, Any] = {"torch": TorchMiniLMEmbedder(), "new": MiniLMEmbedder()}
    for embedder in runtimes.values():
        embedder.warm_up()
        embedder.embed(["warm up " * 50] * 64)
    seconds = dict.fromkeys(runtimes, 0.0)
    cpu_seconds = dict.fromkeys(runtimes, 0.0)
    chunks = dict.fromkeys(runtimes, 0)
    cosines: list[np.ndarray] = []
    blocks = [docs[i :: args.blocks] for i in range(args.blocks)]
    with tempfile.TemporaryDirectory(prefix="bedside-ingest-") as tmp:
        for b, block in enumerate(blocks):
            order = ["torch", "new"] if b % 2 == 0 else ["new", "torch"]
            vectors: dict[str, np.ndarray] = {}
            for name in order:
                where = Path(tmp) / f"{name}-{b}"
                t0, c0 = time.perf_counter(), time.process_time()
                manifest = build_index(
                    block,
                    where,
                    embedder=runtimes[name],
                    chunking=ChunkingSettings(),
                    retrieval=RetrievalSettings(),
                    sources=["jsonl:sample"],
                )
                seconds[name] += time.perf_counter() - t0
                cpu_seconds[name] += time.process_time() - c0
                chunks[name] += manifest.counts.chunks
                dense = open_index(where).dense
                vectors[name] = dense._index.reconstruct_n(0, dense.size)
                print(
                    f"block {b + 1}/{len(blocks)} {name}: {manifest.counts.chunks} chunks "
                    f"in {time.perf_counter() - t0:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            cosines.append((vectors["torch"] * vectors["new"]).sum(axis=1))
    rate = {name: chunks[name] / seconds[name] for name in runtimes}
    cpu_rate = {name: chunks[name] / cpu_seconds[name] for name in runtimes}
    cos = np.concatenate(cosines)
    report = {
        "documents": len(docs),
        "chunks": chunks["new"],
        "blocks": len(blocks),
        "cpu_count": os.cpu_count(),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "chunks_per_s": {k: round(v, 1) for k, v in rate.items()},
        "ratio_new_to_torch": round(rate["new"] / rate["torch"], 2),
        "cpu_seconds": {k: round(v, 1) for k, v in cpu_seconds.items()},
        "chunks_per_cpu_s": {k: round(v, 1) for k, v in cpu_rate.items()},
        "cpu_ratio_new_to_torch": round(cpu_rate["new"] / cpu_rate["torch"], 2),
        "cosine_new_vs_torch": {
            "mean": round(float(cos.mean()), 4),
            "p01": round(float(np.quantile(cos, 0.01)), 4),
            "min": round(float(cos.min()), 4),
        },
        "embedder_ids": {k: e.id for k, e in runtimes.items()},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
