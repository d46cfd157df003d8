"""Shared fixtures: the fixture pack, a hash-embedder index built once, ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
SHARED = Path(os.environ.get("BEDSIDE_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Never read or write the user's ~/.bedside from a test.
    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path_factory.getbasetemp() / "home"))


@pytest.fixture(scope="session")
def fixture_pack() -> Path:
    return FIXTURES / "pack"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"shared data sets not found at {data}")
    return data


@pytest.fixture(scope="session")
def hash_index(tmp_path_factory: pytest.TempPathFactory, fixture_pack: Path):  # type: ignore[no-untyped-def]
    from corpus.chunking import ChunkingSettings
    from retrieval.embedders import HashEmbedder
    from retrieval.indexing import build_from_sources
    from retrieval.settings import RetrievalSettings
    from retrieval.store import open_index

    index_dir = tmp_path_factory.mktemp("hash-index") / "index"
    build_from_sources(
        [f"pack:{fixture_pack}"],
        index_dir,
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash"),
    )
    return open_index(index_dir, HashEmbedder())


@pytest.fixture(scope="session")
def default_index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled default corpus (packs + open-medicine) indexed once with the real MiniLM:
    what `bedside ask` and `bedside serve` use on a fresh install."""
    from assistant.settings import load_settings
    from retrieval.embedders import MiniLMEmbedder
    from retrieval.indexing import ensure_index

    settings = load_settings("default")
    index_dir = tmp_path_factory.mktemp("default") / "index"
    report = ensure_index(
        settings.sources,
        index_dir,
        embedder=MiniLMEmbedder(),
        chunking=settings.corpus,
        retrieval=settings.retrieval,
    )
    assert report.built and report.problems == []
    assert report.manifest.counts.documents >= 49 + 43
    return index_dir
