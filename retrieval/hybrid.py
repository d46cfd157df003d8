"""Hybrid retrieval: dense (FAISS) and BM25 over the same chunks, fused by reciprocal rank.

MiniLM confuses drug names that BM25 keeps apart, and BM25 misses paraphrases that the
embedder catches. The default fusion is a convex combination of normalised scores: on the
shared sets it beat both single retrievers everywhere, where reciprocal-rank fusion fell
below dense retrieval on MedicationQA (docs/RETRIEVAL.md).
"""

from __future__ import annotations

from typing import Literal

from retrieval.embedders import Embedder
from retrieval.fusion import convex, fuse
from retrieval.settings import RetrievalSettings
from retrieval.store import IndexManifest, LoadedIndex, recheck_index
from retrieval.types import Passage

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


class HybridRetriever:
    def __init__(
        self, index: LoadedIndex, embedder: Embedder, settings: RetrievalSettings | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()

    def verify(self) -> IndexManifest:
        """Verify the served index again (a server does so on a schedule and on SIGUSR1);
        raises IndexStoreError saying what no longer matches."""
        return recheck_index(self.index)

    def _dense(self, query: str, n: int) -> list[tuple[int, float]]:
        vector = self.embedder.embed([query])[0]
        return self.index.dense.search(vector, n)

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        """Top-k passages for ``query``, best first."""
        k = k or self.settings.k
        if not query.strip():
            return []
        n = max(self.settings.candidates, k)
        dense = self._dense(query, n) if mode in ("hybrid", "dense") else []
        lexical = self.index.bm25.search(query, n) if mode in ("hybrid", "bm25") else []
        dense_at = {row: (rank, score) for rank, (row, score) in enumerate(dense, start=1)}
        bm25_at = {row: (rank, score) for rank, (row, score) in enumerate(lexical, start=1)}
        if mode == "hybrid" and self.settings.fusion == "convex":
            fused = convex(dense, lexical, self.settings.alpha)
        elif mode == "hybrid":
            fused = fuse([[r for r, _ in dense], [r for r, _ in lexical]], k=self.settings.rrf_k)
        else:
            fused = dense or lexical
        passages = []
        for rank, (row, score) in enumerate(fused[:k], start=1):
            chunk = self.index.chunks[row]
            d_rank, d_score = dense_at.get(row, (None, None))
            b_rank, b_score = bm25_at.get(row, (None, None))
            passages.append(
                Passage(
                    chunk=chunk,
                    doc=self.index.docs[chunk.doc_id],
                    score=score,
                    rank=rank,
                    dense_score=d_score,
                    dense_rank=d_rank,
                    bm25_score=b_score,
                    bm25_rank=b_rank,
                )
            )
        return passages
