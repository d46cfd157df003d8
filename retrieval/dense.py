"""FAISS inner-product index over unit vectors. Raw FAISS ids (row positions) and
distances stay in here; callers get (row, score) pairs with higher = better."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

DenseKind = Literal["auto", "flat", "hnsw", "ivf"]


def choose_kind(kind: DenseKind, n: int, hnsw_threshold: int) -> str:
    if kind != "auto":
        return kind
    return "hnsw" if n >= hnsw_threshold else "flat"


class DenseIndex:
    def __init__(self, index: faiss.Index, kind: str) -> None:
        self._index = index
        self.kind = kind

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @classmethod
    def build(
        cls, vectors: np.ndarray, kind: DenseKind = "auto", hnsw_threshold: int = 250_000
    ) -> DenseIndex:
        n, dim = vectors.shape
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # bulk work (train, add) may use every core
        chosen = choose_kind(kind, n, hnsw_threshold)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index: faiss.Index
        if chosen == "flat":
            index = faiss.IndexFlatIP(dim)
        elif chosen == "hnsw":
            hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 80
            hnsw.hnsw.efSearch = 128
            index = hnsw
        elif chosen == "ivf":
            nlist = max(1, min(4 * int(math.sqrt(n)), n // 39 or 1))
            quantizer = faiss.IndexFlatIP(dim)
            ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
            ivf.train(vectors)
            ivf.nprobe = min(nlist, 16)
            index = ivf
        else:
            raise ValueError(f"unknown dense index kind {chosen!r}")
        if n:
            index.add(vectors)
        return cls(index, chosen)

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self.size == 0 or k <= 0:
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        # One query is faster on one thread (4.4 vs 9.3 ms at 71k rows on 2 cores, docs/BENCH.md)
        faiss.omp_set_num_threads(1)
        scores, rows = self._index.search(q, min(k, self.size))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def vectors(self) -> np.ndarray:
        """Every stored vector, in row order (FAISS flat, HNSW and IVF storage keep them
        whole), e.g. to move an index to another store without embedding again."""
        if self.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.kind == "ivf":
            faiss.extract_index_ivf(self._index).make_direct_map()
        return np.asarray(self._index.reconstruct_n(0, self.size), dtype=np.float32)

    def save(self, path: Path) -> None:
        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path, kind: str) -> DenseIndex:
        # A flat index is memory-mapped, not copied: the pages come from the OS file cache
        # and are shared by every process serving the same index (`serve --workers`).
        flags = faiss.IO_FLAG_MMAP_IFC if kind == "flat" else 0
        return cls._tuned(faiss.read_index(str(path), flags), kind)

    @classmethod
    def from_bytes(cls, data: bytes, kind: str) -> DenseIndex:
        """The index from a file's bytes (already verified by the caller)."""
        return cls._tuned(faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8)), kind)

    @classmethod
    def _tuned(cls, index: faiss.Index, kind: str) -> DenseIndex:
        if kind == "hnsw":
            faiss.ParameterSpace().set_index_parameter(index, "efSearch", 128)
        elif kind == "ivf":
            ivf = faiss.extract_index_ivf(index)
            ivf.nprobe = min(ivf.nlist, 16)
        return cls(index, kind)
