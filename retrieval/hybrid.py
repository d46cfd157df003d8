"""Hybrid retrieval: dense (FAISS) and BM25 over the same chunks, fused by reciprocal rank.

MiniLM confuses drug names that BM25 keeps apart, and BM25 misses paraphrases that the
embedder catches. The default fusion is a convex combination of normalised scores: on the
shared sets it beat both single retrievers everywhere, where reciprocal-rank fusion fell
below dense retrieval on MedicationQA (docs/RETRIEVAL.md).

Besides search, a retriever answers the few questions ``retrieval.protocols.Retriever``
lists (a document, its chunks, every document, the vocabulary, the index digest), so that nothing outside
retrieval/ reads the index's BM25 or FAISS parts.
"""

from __future__ import annotations

from collections.abc import Sequence

from corpus.types import Chunk, DocumentInfo
from retrieval.embedders import Embedder
from retrieval.fusion import convex, fuse
from retrieval.settings import RetrievalSettings
from retrieval.store import IndexManifest, LoadedIndex, recheck_index
from retrieval.types import MODES, Mode, Passage

__all__ = ["MODES", "HybridRetriever", "Mode"]


class HybridRetriever:
    def __init__(
        self, index: LoadedIndex, embedder: Embedder, settings: RetrievalSettings | None = None
    ) -> None:
        self.index = index
        self.embedder = embedder
        self.settings = settings or RetrievalSettings()
        # Chunks by document, for the index they were grouped from (a LiveRetriever swaps
        # in a new version by replacing ``index``): one tuple, so a reader never sees a
        # map of one version paired with another.
        self._by_doc: tuple[LoadedIndex, dict[str, tuple[Chunk, ...]]] | None = None

    @property
    def digest(self) -> str:
        """The digest of the served index's manifest (stamped on every answer)."""
        return self.index.manifest.digest()

    def document(self, doc_id: str) -> DocumentInfo:
        """The citation data of an indexed document; KeyError naming it when there is none."""
        try:
            return self.index.docs[doc_id]
        except KeyError:
            raise KeyError(f"no document {doc_id!r} in the index") from None

    def documents(self) -> Sequence[DocumentInfo]:
        """The citation data of every indexed document, in index order (a LiveRetriever's
        are those of the version it serves)."""
        return tuple(self.index.docs.values())

    def chunks_of(self, doc_id: str) -> Sequence[Chunk]:
        """The chunks of an indexed document in the order the index holds them (text
        order); empty for an unknown document."""
        index = self.index
        grouped = self._by_doc
        if grouped is None or grouped[0] is not index:
            by_doc: dict[str, list[Chunk]] = {}
            for chunk in index.chunks:
                by_doc.setdefault(chunk.doc_id, []).append(chunk)
            grouped = (index, {d: tuple(cs) for d, cs in by_doc.items()})
            self._by_doc = grouped
        return grouped[1].get(doc_id, ())

    def knows(self, term: str) -> bool:
        """Whether any indexed chunk contains ``term`` (an already tokenized term)."""
        return self.index.bm25.knows(term)

    def closest_term(self, term: str, cutoff: float = 85.0) -> str | None:
        """The indexed term one typing slip from ``term``, else the most similar scoring at
        least ``cutoff`` (0-100); None when there is none (``BM25Index.near``)."""
        return self.index.bm25.near(term, cutoff)

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
