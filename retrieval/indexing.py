"""From sources to a ready index: load, report problems, build, or reuse when current."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from corpus.chunking import ChunkingSettings
from corpus.errors import CorpusError, IndexStoreError
from corpus.loaders import SourceSpec, load_sources, parse_source
from corpus.loaders.base import LoadResult, Problem
from corpus.types import Document
from retrieval.embedders import Embedder
from retrieval.settings import RetrievalSettings
from retrieval.store import (
    IndexManifest,
    Progress,
    build_index,
    corpus_hash,
    document_digest,
    read_manifest,
)

Log = Callable[[str], None]


@dataclass(slots=True)
class IndexReport:
    manifest: IndexManifest
    built: bool
    reason: str
    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)


def _build(
    loaded: LoadResult,
    specs: Sequence[SourceSpec],
    index_dir: Path,
    *,
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    progress: Progress | None,
    reason: str,
    incremental: bool = True,
) -> IndexReport:
    if not loaded.documents:
        detail = "; ".join(str(p) for p in loaded.problems[:5]) or "the sources are empty"
        raise CorpusError(
            f"nothing could be read from {', '.join(map(str, specs))}: {detail}; "
            "any existing index was kept"
        )
    manifest = build_index(
        loaded.documents,
        index_dir,
        embedder=embedder,
        chunking=chunking,
        retrieval=retrieval,
        sources=[str(s) for s in specs],
        progress=progress,
        incremental=incremental,
    )
    return IndexReport(manifest, True, reason, loaded.problems, loaded.notes)


def changed_documents(before: dict[str, str], documents: Sequence[Document]) -> str:
    """What changed between an index's documents and these, said by id (a few named)."""
    now = {d.id: document_digest(d) for d in documents}
    parts = []
    for what, ids in (
        ("changed", sorted(i for i in now if i in before and before[i] != now[i])),
        ("added", sorted(set(now) - set(before))),
        ("removed", sorted(set(before) - set(now))),
    ):
        if ids:
            named = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            parts.append(f"{len(ids)} document(s) {what} ({named})")
    return "; ".join(parts) or "the corpus changed since the index was built"


def recorded_sources(index_dir: Path) -> list[str] | None:
    """The sources an existing index was built from (its manifest), or None when there is
    no readable index there."""
    try:
        return list(read_manifest(index_dir).sources)
    except IndexStoreError:
        return None


def build_from_sources(
    sources: Sequence[str],
    index_dir: Path,
    *,
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    progress: Progress | None = None,
    reason: str = "requested",
    incremental: bool = True,
) -> IndexReport:
    """Load every source, skip bad records (reported), and build the index.

    Raises CorpusError only when nothing at all could be read; the existing index is then
    left as it was.
    """
    specs = [parse_source(s) for s in sources]
    return _build(
        load_sources(specs),
        specs,
        index_dir,
        embedder=embedder,
        chunking=chunking,
        retrieval=retrieval,
        progress=progress,
        reason=reason,
        incremental=incremental,
    )


def ensure_index(
    sources: Sequence[str],
    index_dir: Path,
    *,
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    progress: Progress | None = None,
) -> IndexReport:
    """Reuse the index when it was built from exactly these documents, settings and
    embedder; otherwise rebuild it and say why. Never serves a stale index silently."""
    specs = [parse_source(s) for s in sources]
    loaded = load_sources(specs)
    try:
        manifest = read_manifest(index_dir)
    except IndexStoreError as exc:
        reason = "no index yet" if not index_dir.exists() else f"unusable index ({exc})"
    else:
        if manifest.embedder_id != embedder.id or manifest.embedder_dim != embedder.dim:
            reason = f"embedder changed ({manifest.embedder_id} -> {embedder.id})"
        elif manifest.corpus_hash != corpus_hash(loaded.documents, chunking):
            reason = "corpus or chunking changed since the index was built"
            if manifest.documents and manifest.chunking == chunking:
                reason = changed_documents(manifest.documents, loaded.documents)
        else:
            return IndexReport(manifest, False, "index is current", loaded.problems, loaded.notes)
    return _build(
        loaded,
        specs,
        index_dir,
        embedder=embedder,
        chunking=chunking,
        retrieval=retrieval,
        progress=progress,
        reason=reason,
    )
