"""What the rest of Bedside may ask of a retriever, and nothing more.

The local hybrid retriever (``retrieval.hybrid.HybridRetriever``) and the PostgreSQL one
that follows the active index version (``retrieval.postgres.LiveRetriever``) both answer
it. Callers get Bedside types back (passages, chunks, document citation data, plain
strings), never the BM25 or FAISS objects behind them, so an index can change how it
stores its vocabulary or its vectors without the assistant knowing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from corpus.types import Chunk, DocumentInfo
from retrieval.types import Mode, Passage

if TYPE_CHECKING:
    from retrieval.store import IndexManifest


@runtime_checkable
class Vocabulary(Protocol):
    """The words an index holds, as ``retrieval.tokenize.tokenize`` makes them (lower-cased
    stems): whether a word is there, and which one a misspelling most likely meant."""

    def knows(self, term: str) -> bool:
        """Whether any indexed chunk contains ``term`` (an already tokenized term)."""
        ...

    def closest_term(self, term: str, cutoff: float = 85.0) -> str | None:
        """The indexed term one typing slip from ``term`` (a swapped, missing, extra or wrong
        letter), else the most similar one scoring at least ``cutoff`` (0-100); None when
        there is none. Only terms of five letters or more are offered."""
        ...


@runtime_checkable
class Retriever(Vocabulary, Protocol):
    """Search, the documents and chunks behind the passages (and the list of documents),
    the vocabulary, and what identifies and verifies the index served."""

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        """Top-k passages for ``query``, best first (``k`` defaults to the settings')."""
        ...

    def document(self, doc_id: str) -> DocumentInfo:
        """The citation data of an indexed document; KeyError naming it when there is none."""
        ...

    def chunks_of(self, doc_id: str) -> Sequence[Chunk]:
        """The chunks of an indexed document in text order; empty for an unknown document."""
        ...

    def documents(self) -> Sequence[DocumentInfo]:
        """The citation data of every indexed document, in the order the index holds them."""
        ...

    @property
    def digest(self) -> str:
        """The digest of the served index's manifest (stamped on every answer)."""
        ...

    def verify(self) -> IndexManifest:
        """Verify the served index again; raises IndexStoreError saying what no longer
        matches."""
        ...
