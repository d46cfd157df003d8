"""Retrieval peers, measured in the same run as Bedside, on the same questions and documents.

- ``bm25``: BM25 alone (bm25s) over Bedside's own index;
- ``dense``: the embedder alone (FAISS) over Bedside's own index;
- ``llamaindex``: a naive llama-index pipeline: ``VectorStoreIndex`` (its in-memory
  ``SimpleVectorStore``) over the nodes of its default ``SentenceSplitter`` (1,024 tokens,
  200 overlap), embedded by the same embedder as Bedside.

Peers are retrieval-level: each returns ranked document ids with scores, nothing is
generated or guarded. The llama-index peer embeds its own nodes once per corpus and embedder;
the vectors are cached beside Bedside's eval indexes (``<name>.<embedder>.llamaindex``), keyed
by a hash of each node's text, so a re-run embeds nothing. No LLM is configured anywhere:
llama-index's global ``Settings.llm`` is set to its ``MockLLM`` so that nothing can resolve to a
hosted model.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from corpus.errors import BedsideError, ConfigError
from corpus.types import Document
from retrieval.embedders import Embedder
from retrieval.hybrid import HybridRetriever, Mode

PEER_NAMES: tuple[str, ...] = ("bm25", "dense", "llamaindex")
Progress = Callable[[str, int, int], None]


class PeerUnavailable(BedsideError):
    """A peer cannot run here (a package is missing); the run goes on without it."""


class Peer(Protocol):
    """Searches for ``query``; hits are (document id, score), best first, one per chunk or
    node, so a document can appear more than once."""

    name: str

    def search(self, query: str, depth: int) -> list[tuple[str, float]]: ...


def parse_peers(text: str | None) -> tuple[str, ...]:
    """``bm25,dense,llamaindex`` -> names; ``all`` -> every peer; ``none`` or "" -> none."""
    if text is None or text.strip().lower() in ("", "none"):
        return ()
    if text.strip().lower() == "all":
        return PEER_NAMES
    names = tuple(dict.fromkeys(n.strip().lower() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PEER_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown peer {', '.join(map(repr, unknown))}; valid: {', '.join(PEER_NAMES)}, "
            "all or none"
        )
    return names


class ModePeer:
    """One of Bedside's retrievers alone, over Bedside's own index."""

    def __init__(self, retriever: HybridRetriever, mode: Mode) -> None:
        self.name: str = mode
        self._retriever = retriever
        self._mode: Mode = mode

    def search(self, query: str, depth: int) -> list[tuple[str, float]]:
        hits = self._retriever.search(query, k=depth, mode=self._mode)
        return [(p.doc.id, p.score) for p in hits]


# ------------------------------------------------------------------ llama-index


def _adapter(embedder: Embedder) -> Any:
    """The run's embedder as a llama-index embedding model: the very same vectors (the same
    MiniLM weights, loaded once), and no extra package."""
    from llama_index.core.embeddings import BaseEmbedding
    from pydantic import PrivateAttr

    class BedsideEmbedding(BaseEmbedding):
        _embedder: Any = PrivateAttr()

        def __init__(self, inner: Embedder) -> None:
            super().__init__(model_name=inner.id, embed_batch_size=64)
            self._embedder = inner

        @classmethod
        def class_name(cls) -> str:
            return "BedsideEmbedding"

        def _get_query_embedding(self, query: str) -> list[float]:
            return [float(x) for x in self._embedder.embed([query])[0]]

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_query_embedding(text)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            return [[float(x) for x in row] for row in self._embedder.embed(texts)]

    return BedsideEmbedding(embedder)


class VectorCache:
    """Node vectors on disk, keyed by sha256(embedder id, node text)."""

    def __init__(self, directory: Path, embedder_id: str) -> None:
        self.directory = directory
        self.embedder_id = embedder_id
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        keys_path, vec_path = directory / "keys.json", directory / "vectors.npy"
        if keys_path.is_file() and vec_path.is_file():
            try:
                keys = json.loads(keys_path.read_text(encoding="utf-8"))
                vectors = np.load(vec_path)
            except (OSError, ValueError):
                return  # unreadable: embedded again and rewritten
            if len(keys) == len(vectors):
                self._rows = {k: i for i, k in enumerate(keys)}
                self._vectors = vectors

    def key(self, text: str) -> str:
        return hashlib.sha256(f"{self.embedder_id}\x00{text}".encode()).hexdigest()

    def get(self, text: str) -> np.ndarray | None:
        row = self._rows.get(self.key(text))
        return None if row is None else self._vectors[row]

    def save(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Keep exactly these texts' vectors (what the current corpus needs)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        keys = [self.key(t) for t in texts]
        tmp_vec = self.directory / "vectors.tmp.npy"
        np.save(tmp_vec, np.asarray(vectors, dtype=np.float32))
        os.replace(tmp_vec, self.directory / "vectors.npy")
        tmp_keys = self.directory / "keys.tmp.json"
        tmp_keys.write_text(json.dumps(keys), encoding="utf-8")
        os.replace(tmp_keys, self.directory / "keys.json")
        self._rows = {k: i for i, k in enumerate(keys)}
        self._vectors = np.asarray(vectors, dtype=np.float32)


class LlamaIndexPeer:
    """A naive llama-index pipeline over the same documents (see the module docstring)."""

    name = "llamaindex"

    def __init__(
        self,
        documents: Sequence[Document],
        embedder: Embedder,
        cache_dir: Path,
        progress: Progress | None = None,
        batch: int = 512,
    ) -> None:
        try:
            from llama_index.core import Document as LlamaDocument
            from llama_index.core import Settings, VectorStoreIndex
            from llama_index.core.llms import MockLLM
            from llama_index.core.node_parser import SentenceSplitter
            from llama_index.core.schema import MetadataMode
        except ImportError as exc:  # pragma: no cover - llama-index-core is a dependency
            raise PeerUnavailable(
                f"the llama-index peer needs llama-index-core ({exc.name} is missing): "
                "pip install -e ."
            ) from exc
        Settings.llm = MockLLM()  # nothing may resolve to a hosted LLM
        llama_docs = [
            LlamaDocument(text=d.text, id_=d.id, metadata={"title": d.title}) for d in documents
        ]
        nodes = SentenceSplitter().get_nodes_from_documents(llama_docs)
        texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        cache = VectorCache(cache_dir, embedder.id)
        vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        missing = []
        for i, text in enumerate(texts):
            cached = cache.get(text)
            if cached is None or cached.shape != (embedder.dim,):
                missing.append(i)
            else:
                vectors[i] = cached
        # Large calls: the model sorts each call's texts by length, so batches pad little.
        for start in range(0, len(missing), batch):
            rows = missing[start : start + batch]
            vectors[rows] = embedder.embed([texts[i] for i in rows], batch_size=64)
            if progress:
                progress("llamaindex", min(start + batch, len(missing)), len(missing))
        if missing or len(texts) != len(cache._rows):
            cache.save(texts, vectors)
        for node, vector in zip(nodes, vectors, strict=True):
            node.embedding = [float(x) for x in vector]
        self.nodes = len(nodes)
        self.embedded = len(missing)
        self._index = VectorStoreIndex(nodes, embed_model=_adapter(embedder), show_progress=False)
        self._retrievers: dict[int, Any] = {}

    def search(self, query: str, depth: int) -> list[tuple[str, float]]:
        retriever = self._retrievers.get(depth)
        if retriever is None:
            retriever = self._retrievers[depth] = self._index.as_retriever(similarity_top_k=depth)
        hits = retriever.retrieve(query)
        return [(str(h.node.ref_doc_id), float(h.score or 0.0)) for h in hits]


def build_peers(
    names: Sequence[str],
    retriever: HybridRetriever,
    documents: Callable[[], Sequence[Document]],
    cache_dir: Path,
    *,
    progress: Progress | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Peer]:
    """The named peers, ready to search. ``documents`` is called only when the llama-index
    peer needs the texts; a peer that cannot run is skipped with a message."""
    peers: list[Peer] = []
    for name in names:
        if name in ("bm25", "dense"):
            peers.append(ModePeer(retriever, "bm25" if name == "bm25" else "dense"))
            continue
        try:
            peer = LlamaIndexPeer(documents(), retriever.embedder, cache_dir, progress)
        except PeerUnavailable as exc:
            if log:
                log(f"peer {name} skipped: {exc}")
            continue
        if log:
            log(f"peer llamaindex: {peer.nodes} nodes ({peer.embedded} embedded, rest cached)")
        peers.append(peer)
    return peers
