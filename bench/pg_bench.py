"""The postgres backend against the local store on one corpus, and pgvector HNSW at size.

    python -m bench.pg_bench [--docs FILE.jsonl] [--questions FILE.jsonl] [--synthetic N]
                             [--dsn DSN] [--out bench/out]

1. Embeds the corpus once with the configured embedder (MiniLM by default) and builds both
   stores from those same vectors: the build times compare the stores, not the embedder.
2. Quality: recall@10 and nDCG@10 (documents, first hit per document) of dense, lexical and
   hybrid retrieval for the local store, the postgres backend (BM25 impacts in a table), and
   Postgres full-text search (``ts_rank`` over ``to_tsvector('english')``) in the lexical
   slot, fused the same way.
3. Latency of a hybrid, dense-only and BM25-only search (query vectors precomputed, so only
   the stores are timed), p50/p95 over the question set, local vs postgres, one client.
4. pgvector HNSW (m=16, ef_construction=64, ef_search=128) over N synthetic unit vectors:
   build time, index size per vector, query p50/p95 and recall@10 against an exact scan.

    python -m bench.pg_bench --scale [--scale-dim 384] [--scale-questions 500]

instead runs at the full shared size: every ``<shared>/data/*/docs.jsonl`` in one index,
the hash embedder (latency does not depend on which vectors), both stores built in this
run with the dense kind chosen by the same rule (``retrieval.dense_index``), then the
hybrid search latency of each over a fixed sample of every set's questions (query vectors
computed outside the timing, as above).

Without --dsn a private server is started from the pgserver wheel. Figures are printed and
written to ``<out>/pg_bench.json``, never asserted.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDSIDE_SHARED_DIR", REPO.parent / "shared")) / "data"
K = 10


class CachedEmbedder:
    """Returns vectors computed once by the real embedder (same id and dimension)."""

    def __init__(self, inner: Any, texts: Sequence[str]) -> None:
        self.id, self.dim = inner.id, inner.dim
        start = time.perf_counter()
        unique = list(dict.fromkeys(texts))
        vectors = inner.embed(unique, batch_size=64)
        self.seconds = time.perf_counter() - start
        self._by_text = dict(zip(unique, vectors, strict=True))

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        return np.stack([self._by_text[t] for t in texts]).astype(np.float32)


def _percentiles(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p95_ms": round(float(np.percentile(a, 95)), 2),
    }


def _quality(
    search: Callable[[str], list[tuple[str, float]]], questions: Sequence[dict[str, Any]]
) -> dict[str, float]:
    from evals.metrics import dedupe_scored, gains, mean, ndcg_at_k, recall_at_k

    recalls, ndcgs = [], []
    for q in questions:
        hits = dedupe_scored(search(q["question"]))[:K]
        ranked = [d for d, _ in hits]
        recalls.append(recall_at_k(ranked, q["gold_doc_ids"], K))
        ndcgs.append(ndcg_at_k(ranked, gains(q["gold_doc_ids"]), K, [s for _, s in hits]))
    return {"recall@10": round(mean(recalls), 4), "ndcg@10": round(mean(ndcgs), 4)}


def _server(dsn: str | None) -> tuple[str, Callable[[], None]]:
    if dsn:
        return dsn, lambda: None
    import pgserver
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    root = Path(tempfile.mkdtemp(prefix="bpgb"))
    server = pgserver.get_server(root, cleanup_mode="stop")
    parts = conninfo_to_dict(server.get_uri())
    parts.pop("password", None)

    def stop() -> None:
        server.cleanup()
        shutil.rmtree(root, ignore_errors=True)

    return make_conninfo(**parts), stop


def corpus_run(
    dsn: str, docs: Path, questions_file: Path, embedder_name: str, out: Path
) -> dict[str, Any]:
    from corpus.chunking import ChunkingSettings, chunk_documents
    from corpus.loaders import load_sources, parse_source
    from retrieval.embedders import get_embedder
    from retrieval.fusion import convex
    from retrieval.hybrid import HybridRetriever
    from retrieval.postgres import Database, _table, build_pg_index, connect, open_pg_index
    from retrieval.settings import PostgresSettings, RetrievalSettings
    from retrieval.store import build_index, index_text, open_index

    questions = [
        json.loads(line)
        for line in questions_file.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    documents = load_sources([parse_source(f"jsonl:{docs}")]).documents
    chunking = ChunkingSettings()
    chunks = chunk_documents(documents, chunking)
    by_id = {d.id: d for d in documents}
    texts = [index_text(by_id[c.doc_id], c) for c in chunks]
    real = get_embedder(embedder_name)
    embedder = CachedEmbedder(real, texts + [q["question"] for q in questions])
    settings = RetrievalSettings(embedder=embedder_name)
    pg = PostgresSettings(dsn=dsn)
    result: dict[str, Any] = {
        "corpus": str(docs.name),
        "documents": len(documents),
        "chunks": len(chunks),
        "questions": len(questions),
        "embedder": real.id,
        "embedding_s": round(embedder.seconds, 1),
    }

    start = time.perf_counter()
    build_index(
        documents,
        out / "local-index",
        embedder=embedder,
        chunking=chunking,
        retrieval=settings,
        sources=[str(docs)],
    )
    result["build_local_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    version, _ = build_pg_index(
        documents,
        postgres=pg,
        embedder=embedder,
        chunking=chunking,
        retrieval=settings,
        sources=[str(docs)],
    )
    result["build_postgres_s"] = round(time.perf_counter() - start, 2)

    local = HybridRetriever(open_index(out / "local-index", embedder), embedder, settings)
    db = Database(pg)
    remote = HybridRetriever(open_pg_index(db, embedder), embedder, settings)

    # Postgres full-text search over the same index text, for the lexical comparison
    with connect(pg) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_fts")
        conn.execute("CREATE TABLE bench_fts (row int PRIMARY KEY, body text, tsv tsvector)")
        with conn.cursor().copy("COPY bench_fts (row, body) FROM STDIN") as copy:
            for i, t in enumerate(texts):
                copy.write_row((i, t))
        conn.execute("UPDATE bench_fts SET tsv = to_tsvector('english', body)")
        conn.execute("CREATE INDEX ON bench_fts USING gin (tsv)")
        conn.execute("ANALYZE bench_fts")
    fts_sql = (
        "WITH q AS (SELECT to_tsquery('english', coalesce(string_agg(quote_literal(l), ' | '), ''))"
        " AS q FROM unnest(tsvector_to_array(to_tsvector('english', %(t)s))) AS l)"
        " SELECT row, ts_rank(tsv, q.q) FROM bench_fts, q WHERE tsv @@ q.q"
        " ORDER BY 2 DESC, row LIMIT %(k)s"
    )

    def fts(question: str, n: int) -> list[tuple[int, float]]:
        return db.run(
            lambda c: [
                (int(r), float(s))
                for r, s in c.execute(fts_sql, {"t": question, "k": n}).fetchall()
            ]
        )

    def as_docs(retriever: HybridRetriever, mode: Any) -> Callable[[str], list[tuple[str, float]]]:
        return lambda q: [
            (p.doc.id, p.score) for p in retriever.search(q, k=settings.candidates, mode=mode)
        ]

    def fts_docs(hybrid: bool) -> Callable[[str], list[tuple[str, float]]]:
        def search(q: str) -> list[tuple[str, float]]:
            lexical = fts(q, settings.candidates)
            fused = (
                convex(remote._dense(q, settings.candidates), lexical, settings.alpha)
                if hybrid
                else lexical
            )
            return [(remote.index.chunks[r].doc_id, s) for r, s in fused]

        return search

    result["quality"] = {
        f"{name}/{mode}": _quality(as_docs(r, mode), questions)
        for name, r in (("local", local), ("postgres", remote))
        for mode in ("dense", "bm25", "hybrid")
    }
    result["quality"]["postgres-fts/lexical"] = _quality(fts_docs(False), questions)
    result["quality"]["postgres-fts/hybrid"] = _quality(fts_docs(True), questions)

    latency: dict[str, Any] = {}
    for name, r in (("local", local), ("postgres", remote)):
        for q in questions:  # one full pass first: caches, buffers and the connection warm
            r.search(q["question"])
        for mode in ("hybrid", "dense", "bm25"):
            ms = []
            for q in questions:
                start = time.perf_counter()
                r.search(q["question"], mode=mode)  # type: ignore[arg-type]
                ms.append((time.perf_counter() - start) * 1000)
            latency[f"{name}/{mode}"] = _percentiles(ms)
    ms = []
    for q in questions[:100]:
        start = time.perf_counter()
        real.embed([q["question"]])
        ms.append((time.perf_counter() - start) * 1000)
    latency["query_embedding"] = _percentiles(ms)
    result["latency"] = latency
    with connect(pg) as conn:
        result["postgres_bytes"] = {
            part: int(
                conn.execute(
                    "SELECT pg_total_relation_size(%s)", (_table(version, part).as_string(conn),)
                ).fetchone()[0]
            )  # type: ignore[index]
            for part in ("chunks", "postings", "terms", "documents")
        }
    db.close()
    return result


def scale_run(
    dsn: str, dim: int, n_questions: int, out: Path, dense: str = "auto"
) -> dict[str, Any]:
    import random

    from corpus.chunking import ChunkingSettings
    from corpus.loaders import load_sources, parse_source
    from retrieval.embedders import HashEmbedder
    from retrieval.hybrid import HybridRetriever
    from retrieval.postgres import Database, build_pg_index, open_pg_index
    from retrieval.settings import PostgresSettings, RetrievalSettings
    from retrieval.store import build_index, open_index

    files = sorted(SHARED.glob("*/docs.jsonl"))
    loaded = load_sources([parse_source(f"jsonl:{f}") for f in files])
    documents = loaded.documents
    questions = [
        json.loads(line)["question"]
        for f in sorted(SHARED.glob("*/questions.jsonl"))
        for line in f.read_text(encoding="utf-8").split("\n")  # not splitlines: U+2028 in text
        if line.strip()
    ]
    questions = random.Random(7).sample(questions, min(n_questions, len(questions)))
    hashed = HashEmbedder(dim)
    query_vectors = dict(zip(questions, hashed.embed(questions), strict=True))

    class Embedder:  # the hash embedder; query vectors come from a table, outside the timing
        id, dim = hashed.id, hashed.dim

        def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
            if all(t in query_vectors for t in texts):
                return np.stack([query_vectors[t] for t in texts])
            return hashed.embed(texts, batch_size)

    embedder = Embedder()
    settings = RetrievalSettings(embedder="hash", dense_index=dense)  # type: ignore[arg-type]
    chunking = ChunkingSettings()
    sources = [str(f.relative_to(SHARED)) for f in files]
    start = time.perf_counter()
    build_index(
        documents,
        out / "scale-index",
        embedder=embedder,
        chunking=chunking,
        retrieval=settings,
        sources=sources,
    )
    build_local_s = time.perf_counter() - start
    start = time.perf_counter()
    build_pg_index(
        documents,
        postgres=PostgresSettings(dsn=dsn),
        embedder=embedder,
        chunking=chunking,
        retrieval=settings,
        sources=sources,
    )
    build_pg_s = time.perf_counter() - start
    local = HybridRetriever(open_index(out / "scale-index", embedder), embedder, settings)
    db = Database(PostgresSettings(dsn=dsn))
    remote = HybridRetriever(open_pg_index(db, embedder), embedder, settings)
    result: dict[str, Any] = {
        "sets": sources,
        "documents": len(documents),
        "chunks": len(local.index.chunks),
        "embedder": hashed.id,
        "questions": len(questions),
        "dense_kind": {"local": local.index.manifest.dense_kind},
        "build_s": {
            "local (embedding included)": round(build_local_s, 1),
            "postgres (embedding included)": round(build_pg_s, 1),
        },
    }
    result["dense_kind"]["postgres"] = remote.index.manifest.dense_kind
    latency: dict[str, Any] = {}
    for name, r in (("local", local), ("postgres", remote)):
        for q in questions:  # one full pass first: caches, buffers and the connection warm
            r.search(q)
        for mode in ("hybrid", "dense", "bm25"):
            ms = []
            for q in questions:
                start = time.perf_counter()
                r.search(q, mode=mode)
                ms.append((time.perf_counter() - start) * 1000)
            latency[f"{name}/{mode}"] = _percentiles(ms)
    result["latency"] = latency
    db.close()
    shutil.rmtree(out / "scale-index", ignore_errors=True)
    return result


def hnsw_run(dsn: str, n: int, dim: int, queries: int) -> dict[str, Any]:
    import psycopg
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(7)
    # clustered, not uniform, vectors: closer to text embeddings, and fair to HNSW
    centres = rng.normal(size=(256, dim)).astype(np.float32)
    data = centres[rng.integers(0, 256, n)] + 0.6 * rng.normal(size=(n, dim)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    qs = data[rng.choice(n, queries, replace=False)] + 0.05 * rng.normal(
        size=(queries, dim)
    ).astype(np.float32)
    qs /= np.linalg.norm(qs, axis=1, keepdims=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        register_vector(conn)
        conn.execute("DROP TABLE IF EXISTS bench_hnsw")
        conn.execute(f"CREATE TABLE bench_hnsw (id int PRIMARY KEY, v vector({dim}))")
        start = time.perf_counter()
        with conn.cursor().copy("COPY bench_hnsw (id, v) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int4", "vector"])
            for i in range(n):
                copy.write_row((i, data[i]))
        load_s = time.perf_counter() - start
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute(f"SET max_parallel_maintenance_workers = {max(1, (os.cpu_count() or 2) - 1)}")
        start = time.perf_counter()
        conn.execute(
            "CREATE INDEX bench_hnsw_v ON bench_hnsw USING hnsw (v vector_ip_ops) WITH (m = 16, ef_construction = 64)"
        )
        build_s = time.perf_counter() - start
        index_bytes = int(conn.execute("SELECT pg_relation_size('bench_hnsw_v')").fetchone()[0])  # type: ignore[index]
        table_bytes = int(
            conn.execute(
                "SELECT pg_total_relation_size('bench_hnsw') - pg_relation_size('bench_hnsw_v')"
            ).fetchone()[0]
        )  # type: ignore[index]
        conn.execute("SET hnsw.ef_search = 128")
        sql = "SELECT id FROM bench_hnsw ORDER BY v <#> %s LIMIT 10"
        for q in qs[:10]:
            conn.execute(sql, (q,)).fetchall()
        ms, recalls = [], []
        for q in qs:
            start = time.perf_counter()
            got = [r[0] for r in conn.execute(sql, (q,)).fetchall()]
            ms.append((time.perf_counter() - start) * 1000)
            exact = np.argsort(-(data @ q))[:10]
            recalls.append(len(set(got) & set(exact.tolist())) / 10)
        conn.execute("DROP TABLE bench_hnsw")
    return {
        "vectors": n,
        "dim": dim,
        "copy_s": round(load_s, 1),
        "hnsw_build_s": round(build_s, 1),
        "hnsw_index_bytes": index_bytes,
        "hnsw_bytes_per_vector": round(index_bytes / n, 1),
        "table_bytes": table_bytes,
        "recall@10_vs_exact": round(float(np.mean(recalls)), 4),
        **_percentiles(ms),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, default=SHARED / "medicationqa" / "docs.jsonl")
    parser.add_argument(
        "--questions", type=Path, default=SHARED / "medicationqa" / "questions.jsonl"
    )
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument(
        "--synthetic", type=int, default=100_000, help="vectors for the HNSW run (0: skip)"
    )
    parser.add_argument(
        "--dsn", default=None, help="an existing database (default: a private pgserver)"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out")
    parser.add_argument(
        "--scale", action="store_true", help="every shared set in one index, hash vectors"
    )
    parser.add_argument("--scale-dim", type=int, default=384)
    parser.add_argument("--scale-questions", type=int, default=500)
    parser.add_argument(
        "--scale-dense", default="auto", help="retrieval.dense_index for --scale (auto: by size)"
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    dsn, stop = _server(args.dsn)
    if args.scale:
        try:
            scale = {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "scale": scale_run(
                    dsn, args.scale_dim, args.scale_questions, args.out, args.scale_dense
                ),
            }
        finally:
            stop()
        print(json.dumps(scale, indent=2))
        name = (
            "pg_scale.json" if args.scale_dense == "auto" else f"pg_scale_{args.scale_dense}.json"
        )
        (args.out / name).write_text(json.dumps(scale, indent=2) + "\n", "utf-8")
        return 0
    try:
        report: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "corpus": corpus_run(dsn, args.docs, args.questions, args.embedder, args.out),
        }
        print(json.dumps(report["corpus"], indent=2), flush=True)
        if args.synthetic:
            report["hnsw"] = hnsw_run(dsn, args.synthetic, 384, 200)
            print(json.dumps(report["hnsw"], indent=2))
    finally:
        stop()
    (args.out / "pg_bench.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
