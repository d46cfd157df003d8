"""What verifying an index costs when it is opened, at full size (~71k chunks).

    python -m bench.verify_bench [--out bench/out/verify] [--rounds 5] [--rebuild]

Builds (once, then reuses) an index of MedQuAD + BioASQ + EMA + PubMedQA from
../shared/data with ``build_index`` and the hash embedder at MiniLM's 384 dimensions, so
every file has the size it has with MiniLM (flat FAISS: rows x 384 x 4 bytes). Then, with
the files in the page cache as on a server's restart, it times per round:

- ``open_index``: read, verify (sha256 of every file, the chunk root) and load;
- the same loads without verification (parse both JSONL files, read the FAISS file, load
  BM25), as ``open_index`` did before the hashes;
- the verification alone: the same sha256 over every file and the chunk-line root.

Rounds interleave the three, so other load on the machine falls on all of them alike.

Timings are printed and written to ``<out>/verify_bench.json``, never asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.retrieval_bench import SOURCES, shared_dir
from corpus.chunking import ChunkingSettings
from corpus.loaders.jsonl import load_jsonl
from corpus.types import Chunk, DocumentInfo
from retrieval.bm25 import BM25Index
from retrieval.dense import DenseIndex
from retrieval.embedders import HashEmbedder
from retrieval.settings import RetrievalSettings
from retrieval.store import (
    BM25_DIR,
    CHUNKS,
    DENSE,
    DOCUMENTS,
    lines_root,
    open_index,
    read_manifest,
)

DIM = 384  # MiniLM's


def build(index_dir: Path) -> None:
    from retrieval.store import build_index

    data = shared_dir() / "data"
    documents = []
    for source in SOURCES:
        loaded = load_jsonl(data / source / "docs.jsonl")
        documents += loaded.documents
    t = time.perf_counter()
    build_index(
        documents,
        index_dir,
        embedder=HashEmbedder(DIM),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash"),
        sources=[f"jsonl:{data / s / 'docs.jsonl'}" for s in SOURCES],
    )
    print(f"built {index_dir} in {time.perf_counter() - t:.1f} s")


def verify_only(index_dir: Path) -> float:
    """The hashing open_index does, on its own: sha256 of every file and the chunk root."""
    manifest = read_manifest(index_dir)
    t = time.perf_counter()
    for name, recorded in manifest.files.items():
        data = (index_dir / name).read_bytes()
        if hashlib.sha256(data).hexdigest() != recorded.sha256:
            raise SystemExit(f"{index_dir / name} does not match its manifest")
        if name == CHUNKS and lines_root(data) != manifest.chunks_root:
            raise SystemExit(f"{index_dir / name} does not match the chunk root")
    return time.perf_counter() - t


def _rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def load_unverified(index_dir: Path) -> float:
    """open_index as it was before the hashes: the same objects, no sha256."""
    manifest = read_manifest(index_dir)
    t = time.perf_counter()
    chunks = [
        Chunk(r["id"], r["doc_id"], r["text"], r["start"], r["end"], tuple(r["section_path"]))
        for r in _rows(index_dir / CHUNKS)
    ]
    docs = {r["id"]: DocumentInfo(**r) for r in _rows(index_dir / DOCUMENTS)}
    DenseIndex.load(index_dir / DENSE, manifest.dense_kind)
    BM25Index.load(index_dir / BM25_DIR, len(chunks))
    del docs
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/out/verify"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rebuild", action="store_true", help="build the index again")
    args = parser.parse_args()
    index_dir = args.out / "index"
    if args.rebuild or not (index_dir / "manifest.json").is_file():
        build(index_dir)
    manifest = read_manifest(index_dir)
    sizes = {name: f.size for name, f in manifest.files.items()}
    open_index(index_dir, HashEmbedder(DIM))  # warm the page cache
    opens, plain, verifies = [], [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        index = open_index(index_dir, HashEmbedder(DIM))
        opens.append(time.perf_counter() - t)
        del index
        plain.append(load_unverified(index_dir))
        verifies.append(verify_only(index_dir))
    report = {
        "chunks": manifest.counts.chunks,
        "documents": manifest.counts.documents,
        "bytes_verified": sum(sizes.values()),
        "files": sizes,
        "open_index_s": [round(x, 3) for x in opens],
        "unverified_load_s": [round(x, 3) for x in plain],
        "verify_s": [round(x, 3) for x in verifies],
        "open_index_median_s": round(statistics.median(opens), 3),
        "unverified_load_median_s": round(statistics.median(plain), 3),
        "verify_median_s": round(statistics.median(verifies), 3),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "verify_bench.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"{report['chunks']:,} chunks, {report['bytes_verified'] / 1e6:.0f} MB in "
        f"{len(sizes)} files: open_index median {report['open_index_median_s']:.2f} s "
        f"(rounds {report['open_index_s']}); the same loads unverified "
        f"{report['unverified_load_median_s']:.2f} s (rounds {report['unverified_load_s']}); "
        f"verification alone {report['verify_median_s']:.2f} s (rounds {report['verify_s']})"
    )


if __name__ == "__main__":
    main()
