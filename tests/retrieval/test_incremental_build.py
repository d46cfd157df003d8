"""An edited document re-embeds only its own chunks; the rest keep their vectors, and the
result is the index a full build makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from corpus.chunking import ChunkingSettings
from retrieval.embedders import HashEmbedder
from retrieval.indexing import build_from_sources
from retrieval.settings import RetrievalSettings
from retrieval.store import open_index


class CountingEmbedder(HashEmbedder):
    """The hash embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def embed(self, texts, batch_size=32):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return super().embed(texts, batch_size=batch_size)


def _doc(name: str, n: int) -> str:
    parts = [f"# {name} protocol"]
    for i in range(n):
        parts += ["", f"## Part {i}", "", f"- {name} step {i}: give {i + 1} mg/kg IV."]
    return "\n".join(parts) + "\n"


def _build(folder: Path, index: Path, embedder: HashEmbedder, *, incremental: bool = True):  # type: ignore[no-untyped-def]
    return build_from_sources(
        [f"dir:{folder}"],
        index,
        embedder=embedder,
        chunking=ChunkingSettings(max_chars=200),
        retrieval=RetrievalSettings(embedder="hash"),
        incremental=incremental,
    ).manifest


def test_one_edited_document_is_the_only_one_embedded_again(tmp_path: Path) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    for name in ("alpha", "beta", "gamma"):
        (folder / f"{name}.md").write_text(_doc(name, 6), encoding="utf-8")
    index = tmp_path / "index"
    embedder = CountingEmbedder()
    first = _build(folder, index, embedder)
    assert first.embedded == first.counts.chunks == embedder.texts
    assert set(first.source_files) == {"alpha.md", "beta.md", "gamma.md"}

    (folder / "beta.md").write_text(_doc("beta", 7), encoding="utf-8")  # one part added
    embedder.texts = 0
    second = _build(folder, index, embedder)
    beta_chunks = [c for c in open_index(index, embedder).chunks if c.doc_id == "beta"]
    assert second.embedded == embedder.texts
    assert 0 < second.embedded <= len(beta_chunks) < second.counts.chunks
    assert second.source_files["alpha.md"] == first.source_files["alpha.md"]
    assert second.source_files["beta.md"] != first.source_files["beta.md"]
    assert second.documents["alpha"] == first.documents["alpha"]
    assert second.documents["beta"] != first.documents["beta"]

    # The same index a full build makes: same chunks, same vectors, same digest.
    full_dir = tmp_path / "full"
    full = _build(folder, full_dir, CountingEmbedder(), incremental=False)
    assert full.embedded == full.counts.chunks
    a, b = open_index(index, embedder), open_index(full_dir, embedder)
    assert [c.id for c in a.chunks] == [c.id for c in b.chunks]
    assert np.array_equal(a.dense.vectors(), b.dense.vectors())
    assert second.digest() == full.digest()


def test_nothing_changed_embeds_nothing_and_metadata_counts_as_a_change(tmp_path: Path) -> None:
    folder = tmp_path / "protocols"
    folder.mkdir()
    (folder / "alpha.md").write_text(_doc("alpha", 3), encoding="utf-8")
    index = tmp_path / "index"
    embedder = CountingEmbedder()
    first = _build(folder, index, embedder)
    embedder.texts = 0
    again = _build(folder, index, embedder)
    assert again.embedded == 0 == embedder.texts
    (folder / "library.yaml").write_text(
        "documents:\n  alpha.md:\n    status: approved\n    review_by: 2027-01-01\n",
        encoding="utf-8",
    )
    meta_only = _build(folder, index, embedder)
    assert meta_only.embedded == 0  # the text is the same: the vectors are kept
    assert meta_only.corpus_hash != first.corpus_hash  # but the index knows the new status
    assert open_index(index, embedder).docs["alpha"].meta["review_by"] == "2027-01-01"


def test_a_server_start_says_which_documents_changed(tmp_path: Path) -> None:
    from retrieval.indexing import ensure_index

    folder = tmp_path / "protocols"
    folder.mkdir()
    for name in ("alpha", "beta"):
        (folder / f"{name}.md").write_text(_doc(name, 2), encoding="utf-8")
    index = tmp_path / "index"
    embedder = CountingEmbedder()
    _build(folder, index, embedder)
    (folder / "beta.md").write_text(_doc("beta", 3), encoding="utf-8")
    (folder / "gamma.md").write_text(_doc("gamma", 1), encoding="utf-8")
    (folder / "alpha.md").unlink()
    report = ensure_index(
        [f"dir:{folder}"],
        index,
        embedder=embedder,
        chunking=ChunkingSettings(max_chars=200),
        retrieval=RetrievalSettings(embedder="hash"),
    )
    assert report.built
    assert report.reason == (
        "1 document(s) changed (beta); 1 document(s) added (gamma); 1 document(s) removed (alpha)"
    )
