"""What retrieval hands on: a chunk, its document's citation data, and its scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from corpus.types import Chunk, DocumentInfo

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[str, ...] = ("hybrid", "dense", "bm25")


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk. ``score`` is the fused score (higher is better); the per-retriever
    scores and 1-based ranks are kept for inspection (None where a retriever missed it)."""

    chunk: Chunk
    doc: DocumentInfo
    score: float
    rank: int
    dense_score: float | None = None
    dense_rank: int | None = None
    bm25_score: float | None = None
    bm25_rank: int | None = None

    @property
    def id(self) -> str:
        return self.chunk.id

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form used by ``bedside ask --json``, the API and the evals."""
        return {
            "rank": self.rank,
            "chunk_id": self.chunk.id,
            "doc_id": self.doc.id,
            "title": self.doc.title,
            "organization": self.doc.organization,
            "year": self.doc.year,
            "source_type": self.doc.source_type,
            "section": " > ".join(self.chunk.section_path) or self.doc.section,
            "url": self.doc.url,
            "review_status": self.doc.review_status,
            "score": round(self.score, 6),
            "dense_score": None if self.dense_score is None else round(self.dense_score, 6),
            "dense_rank": self.dense_rank,
            "bm25_score": None if self.bm25_score is None else round(self.bm25_score, 6),
            "bm25_rank": self.bm25_rank,
            "start": self.chunk.start,
            "end": self.chunk.end,
            "text": self.chunk.text,
        }
