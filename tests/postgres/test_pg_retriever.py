"""The PostgreSQL LiveRetriever answers what the assistant asks a retriever
(retrieval.protocols.Retriever) as the local one does, and for the version it serves."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.chunking import ChunkingSettings
from retrieval.embedders import HashEmbedder
from retrieval.hybrid import HybridRetriever
from retrieval.indexing import build_from_sources
from retrieval.postgres import Database, LiveRetriever, build_pg_from_sources
from retrieval.protocols import Retriever
from retrieval.settings import PostgresSettings, RetrievalSettings
from retrieval.store import open_index

SETTINGS = RetrievalSettings(embedder="hash")
DOCS = [
    "fixture-argatroban",
    "fixture-bivalirudin",
    "fixture-heparin-resistance",
    "fixture-warfarin",
]
# (term, cutoff) pairs for knows and closest_term: known, misspelt, unknown, short
TERMS = [
    ("argatroban", 85.0),
    ("inr", 85.0),
    ("nosuchword", 85.0),
    ("argatrobn", 85.0),
    ("warfrin", 85.0),
    ("bivalirdin", 85.0),
    ("thrmbcytopnix", 85.0),
    ("thrmbcytopnix", 80.0),
]


def _build(pg: PostgresSettings, pack: Path) -> int:
    version, _, _ = build_pg_from_sources(
        [f"pack:{pack}"],
        postgres=pg,
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=SETTINGS,
    )
    return version


@pytest.fixture()
def local(fixture_pack: Path, tmp_path: Path) -> HybridRetriever:
    build_from_sources(
        [f"pack:{fixture_pack}"],
        tmp_path / "index",
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=SETTINGS,
    )
    return HybridRetriever(open_index(tmp_path / "index", HashEmbedder()), HashEmbedder(), SETTINGS)


def test_the_live_retriever_answers_as_the_local_one(
    pg_settings: PostgresSettings, fixture_pack: Path, local: HybridRetriever
) -> None:
    _build(pg_settings, fixture_pack)
    live = LiveRetriever(Database(pg_settings), HashEmbedder(), SETTINGS)
    try:
        assert isinstance(live, Retriever)
        for term, cutoff in TERMS:
            assert live.knows(term) == local.knows(term), term
            assert live.closest_term(term, cutoff) == local.closest_term(term, cutoff), term
        assert live.closest_term("argatrobn") == "argatroban"
        for doc_id in DOCS:
            assert live.document(doc_id) == local.document(doc_id)
            assert [c.id for c in live.chunks_of(doc_id)] == [c.id for c in local.chunks_of(doc_id)]
            assert live.chunks_of(doc_id)  # every document has chunks
        # The library lists the documents the served version holds, in the local order.
        assert [d.id for d in live.documents()] == [d.id for d in local.documents()]
        assert live.documents() == tuple(local.documents())
        with pytest.raises(KeyError, match="fixture-tinzaparin"):
            live.document("fixture-tinzaparin")
        assert list(live.chunks_of("fixture-tinzaparin")) == []
        assert len(live.digest) == 16
        assert live.digest == live.index.manifest.digest()
    finally:
        live.db.close()


def test_the_live_retriever_answers_for_the_version_it_follows(
    pg_settings: PostgresSettings, fixture_pack: Path, tmp_path: Path
) -> None:
    _build(pg_settings, fixture_pack)
    live = LiveRetriever(Database(pg_settings), HashEmbedder(), SETTINGS)
    try:
        before = live.digest
        assert live.chunks_of("fixture-argatroban") and live.knows("argatroban")
        one = tmp_path / "one"
        one.mkdir()
        (one / "fixture-warfarin.md").write_text(
            (fixture_pack / "fixture-warfarin.md").read_text(encoding="utf-8"), encoding="utf-8"
        )
        v2 = _build(pg_settings, one)
        assert live.refresh() and live.version == v2
        assert live.digest != before
        assert list(live.chunks_of("fixture-argatroban")) == []
        assert not live.knows("argatroban")
        with pytest.raises(KeyError, match="fixture-argatroban"):
            live.document("fixture-argatroban")
        warfarin = live.chunks_of("fixture-warfarin")
        assert warfarin and {c.doc_id for c in warfarin} == {"fixture-warfarin"}
    finally:
        live.db.close()
