"""The index on disk: round trip, verification, atomic replacement, recovery."""

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from corpus.chunking import ChunkingSettings
from corpus.errors import CorpusError, IndexStoreError, StaleIndexError
from retrieval.embedders import HashEmbedder
from retrieval.indexing import build_from_sources, ensure_index
from retrieval.settings import RetrievalSettings
from retrieval.store import IndexChangedError, open_index, read_manifest, recheck_index

SETTINGS = {
    "embedder": HashEmbedder(),
    "chunking": ChunkingSettings(),
    "retrieval": RetrievalSettings(embedder="hash"),
}


def _build(sources: list[str], index_dir: Path, **kw: object):  # type: ignore[no-untyped-def]
    return build_from_sources(sources, index_dir, **{**SETTINGS, **kw})  # type: ignore[arg-type]


def test_round_trip_keeps_chunks_documents_and_manifest(tmp_path: Path, fixture_pack: Path) -> None:
    report = _build([f"pack:{fixture_pack}"], tmp_path / "idx")
    index = open_index(tmp_path / "idx", HashEmbedder())
    m = index.manifest
    assert m.counts.documents == 4 and m.counts.chunks == len(index.chunks) == index.dense.size
    assert m.embedder_id == "hash-256-v1" and m.dense_kind == "flat"
    assert m.digest() == report.manifest.digest()
    for chunk in index.chunks:
        assert chunk.doc_id in index.docs


def test_hnsw_and_ivf_indexes_round_trip(tmp_path: Path, fixture_pack: Path) -> None:
    for kind in ("hnsw", "ivf"):
        _build(
            [f"pack:{fixture_pack}"],
            tmp_path / kind,
            retrieval=RetrievalSettings(embedder="hash", dense_index=kind),
        )
        index = open_index(tmp_path / kind, HashEmbedder())
        assert index.manifest.dense_kind == kind
        row, _ = index.dense.search(HashEmbedder().embed([index.chunks[0].text])[0], 1)[0]
        assert row == 0


def test_missing_index_dir_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="no index at .*`bedside index"):
        open_index(tmp_path / "absent")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_corrupted_manifest_is_reported(tmp_path: Path, fixture_pack: Path, damage: str) -> None:
    _build([f"pack:{fixture_pack}"], tmp_path / "idx")
    manifest = tmp_path / "idx" / "manifest.json"
    if damage == "truncate":
        manifest.write_text(manifest.read_text()[:40])
    elif damage == "garbage":
        manifest.write_bytes(b"\x00\xff not json")
    else:
        manifest.unlink()
    with pytest.raises(IndexStoreError, match="rebuild"):
        open_index(tmp_path / "idx")


def test_a_damaged_data_file_is_detected(tmp_path: Path, fixture_pack: Path) -> None:
    _build([f"pack:{fixture_pack}"], tmp_path / "idx")
    with (tmp_path / "idx" / "chunks.jsonl").open("a") as fh:
        fh.write('{"id": "extra"}\n')
    with pytest.raises(IndexStoreError, match="wrong size"):
        open_index(tmp_path / "idx")


def test_embedder_mismatch_is_refused(tmp_path: Path, fixture_pack: Path) -> None:
    _build([f"pack:{fixture_pack}"], tmp_path / "idx")
    with pytest.raises(StaleIndexError, match="built with embedder hash-256-v1"):
        open_index(tmp_path / "idx", HashEmbedder(dim=128))


def test_interrupted_build_leaves_the_previous_index_intact(
    tmp_path: Path, fixture_pack: Path
) -> None:
    first = _build([f"pack:{fixture_pack}"], tmp_path / "idx").manifest

    def killed(stage: str, done: int, total: int) -> None:
        if stage == "embedding":
            raise KeyboardInterrupt  # what Ctrl-C does half-way through a build

    with pytest.raises(KeyboardInterrupt):
        _build(
            [f"pack:{fixture_pack}"],
            tmp_path / "idx",
            chunking=ChunkingSettings(max_chars=300),
            progress=killed,
        )
    index = open_index(tmp_path / "idx", HashEmbedder())
    assert index.manifest.digest() == first.digest()
    assert [p.name for p in tmp_path.iterdir()] == ["idx"]  # no temporary directories left


def test_a_swap_cut_between_its_two_renames_is_recovered(
    tmp_path: Path, fixture_pack: Path
) -> None:
    first = _build([f"pack:{fixture_pack}"], tmp_path / "idx").manifest
    os.rename(tmp_path / "idx", tmp_path / ".idx.old-123-abc")  # the state a kill could leave
    assert read_manifest(tmp_path / "idx").digest() == first.digest()


def test_abandoned_temporary_build_dirs_are_cleaned(tmp_path: Path, fixture_pack: Path) -> None:
    stale = tmp_path / ".idx.tmp-999999999-deadbeef"
    stale.mkdir()
    (stale / "dense.faiss").write_bytes(b"partial")
    _build([f"pack:{fixture_pack}"], tmp_path / "idx")
    assert not stale.exists()


def test_nothing_readable_keeps_the_existing_index(tmp_path: Path, fixture_pack: Path) -> None:
    first = _build([f"pack:{fixture_pack}"], tmp_path / "idx").manifest
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    with pytest.raises(CorpusError, match=r"nothing could be read .*bad\.jsonl:1: not valid JSON"):
        _build([f"jsonl:{bad}"], tmp_path / "idx")
    assert open_index(tmp_path / "idx").manifest.digest() == first.digest()


def test_ensure_index_reuses_a_current_index_and_rebuilds_a_stale_one(tmp_path: Path) -> None:
    corpus = tmp_path / "docs.jsonl"
    rec = {"id": "a", "title": "Heparin", "text": "Heparin 5000 units SC.", "source_type": "label"}
    corpus.write_text(json.dumps(rec) + "\n")
    sources = [f"jsonl:{corpus}"]
    assert ensure_index(sources, tmp_path / "idx", **SETTINGS).built  # type: ignore[arg-type]
    again = ensure_index(sources, tmp_path / "idx", **SETTINGS)  # type: ignore[arg-type]
    assert not again.built and again.reason == "index is current"
    rec["text"] = "Heparin 7500 units SC."
    corpus.write_text(json.dumps(rec) + "\n")
    changed = ensure_index(sources, tmp_path / "idx", **SETTINGS)  # type: ignore[arg-type]
    assert changed.built and changed.reason == "1 document(s) changed (a)"
    assert "7500" in open_index(tmp_path / "idx").chunks[0].text


def test_a_live_build_of_a_hyphenated_index_is_not_cleaned(
    tmp_path: Path, fixture_pack: Path
) -> None:
    live = tmp_path / f".my-index.tmp-{os.getpid()}-cafe"
    live.mkdir()
    dead = tmp_path / ".my-index.tmp-999999999-dead"
    dead.mkdir()
    _build([f"pack:{fixture_pack}"], tmp_path / "my-index")
    assert live.exists() and not dead.exists()


# ------------------------------------------------------------------ tampering

HIT = (
    '{"id": "t:hit", "title": "HIT circuits", "source_type": "guideline", "text": '
    '"In acute HIT requiring renal replacement therapy, heparin should not be used for the '
    'circuit or for catheter locks.\\nCitrate locks are used instead."}\n'
    '{"id": "t:other", "title": "Argatroban", "source_type": "label", "text": '
    '"For HIT, the argatroban infusion rate should not exceed 10 mcg/kg/min."}\n'
)


@pytest.fixture()
def hit_index(tmp_path: Path) -> Path:
    docs = tmp_path / "docs.jsonl"
    docs.write_text(HIT, encoding="utf-8")
    _build([f"jsonl:{docs}"], tmp_path / "idx")
    return tmp_path / "idx"


def _flip_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def test_line_separators_inside_a_chunk_round_trip(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    text = "Heparin\u2028is given IV.\x85Monitor the aPTT.\u2029Check platelets."
    docs.write_text(
        json.dumps({"id": "t:sep", "title": "Sep", "source_type": "label", "text": text}) + "\n",
        encoding="utf-8",
    )
    _build([f"jsonl:{docs}"], tmp_path / "idx")
    index = open_index(tmp_path / "idx", HashEmbedder())
    assert "\u2028" in (tmp_path / "idx" / "chunks.jsonl").read_text(encoding="utf-8")
    assert "".join(c.text for c in index.chunks).count("aPTT") == 1


def test_the_manifest_records_a_sha256_for_every_file(hit_index: Path) -> None:
    m = read_manifest(hit_index)
    on_disk = {p.relative_to(hit_index).as_posix() for p in hit_index.rglob("*") if p.is_file()}
    assert set(m.files) == on_disk - {"manifest.json"}
    assert any(name.startswith("bm25/") and name.endswith(".npy") for name in m.files)
    assert all(len(f.sha256) == 64 for f in m.files.values()) and len(m.chunks_root) == 64


def test_a_same_length_edit_of_a_chunk_is_refused(hit_index: Path) -> None:
    chunks = hit_index / "chunks.jsonl"
    text = chunks.read_text(encoding="utf-8")
    assert "should not be used" in text
    chunks.write_text(text.replace("should not be used", "should now be used"), encoding="utf-8")
    with pytest.raises(IndexStoreError, match=r"chunks\.jsonl does not match the sha256"):
        open_index(hit_index, HashEmbedder())


def test_an_edit_that_rewrites_the_file_hash_is_caught_by_the_chunk_root(
    hit_index: Path,
) -> None:
    import hashlib

    chunks = hit_index / "chunks.jsonl"
    data = chunks.read_bytes().replace(b"should not be used", b"should now be used")
    chunks.write_bytes(data)
    manifest = json.loads((hit_index / "manifest.json").read_text())
    manifest["files"]["chunks.jsonl"]["sha256"] = hashlib.sha256(data).hexdigest()
    (hit_index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexStoreError, match=r"chunks\.jsonl does not match the chunk root"):
        open_index(hit_index, HashEmbedder())


@pytest.mark.parametrize("name", ["dense.faiss", "bm25/*.npy", "documents.jsonl"])
def test_a_flipped_byte_is_refused_naming_the_file(hit_index: Path, name: str) -> None:
    target = sorted(hit_index.glob(name))[0]
    _flip_byte(target, target.stat().st_size // 2)
    with pytest.raises(IndexStoreError, match=re.escape(str(target)) + " does not match"):
        open_index(hit_index, HashEmbedder())


def test_an_index_without_hashes_must_be_rebuilt(hit_index: Path) -> None:
    manifest = json.loads((hit_index / "manifest.json").read_text())
    manifest["format_version"] = 1
    (hit_index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StaleIndexError, match="rebuild"):
        open_index(hit_index, HashEmbedder())


# ---------------------------------------------------------------- the digest covers content


def _rehash(index_dir: Path, name: str) -> None:
    """Record a file's new size and sha256 in the manifest, as someone hiding an edit would
    (and the chunk root, for chunks.jsonl)."""
    import hashlib

    from retrieval.store import lines_root

    data = (index_dir / name).read_bytes()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    if name == "chunks.jsonl":
        manifest["chunks_root"] = lines_root(data)
    (index_dir / "manifest.json").write_text(json.dumps(manifest))


def zero_first_vector(index_dir: Path) -> None:
    """Zero row 0 of a flat FAISS file in place (the vectors are its last rows x dim x 4
    bytes), so a process that memory-maps it sees the change."""
    manifest = json.loads((index_dir / "manifest.json").read_text())
    dense = index_dir / "dense.faiss"
    n, dim = manifest["counts"]["chunks"], manifest["embedder_dim"]
    with dense.open("r+b") as fh:
        fh.seek(dense.stat().st_size - n * dim * 4)
        fh.write(bytes(dim * 4))


def _retitle_review(index_dir: Path) -> None:
    docs = index_dir / "documents.jsonl"
    rows = [json.loads(line) for line in docs.read_text(encoding="utf-8").splitlines()]
    rows[0]["review_status"] = "REVIEWED AND APPROVED by hospital pharmacy"
    rows[0]["url"] = "https://evil.example/dose"
    docs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _zero_bm25(index_dir: Path) -> None:
    data = sorted(index_dir.glob("bm25/data*.npy"))[0]
    raw = bytearray(data.read_bytes())
    raw[-4:] = bytes(4)  # the last impact, a float32
    data.write_bytes(bytes(raw))


def _edit_chunk(index_dir: Path) -> None:
    chunks = index_dir / "chunks.jsonl"
    chunks.write_bytes(chunks.read_bytes().replace(b"should not be", b"should now be"))


@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("documents.jsonl", _retitle_review),
        ("dense.faiss", zero_first_vector),
        ("bm25/data.csc.index.npy", _zero_bm25),
        ("chunks.jsonl", _edit_chunk),
    ],
)
def test_an_edit_hidden_by_recomputed_hashes_changes_the_index_digest(
    hit_index: Path, name: str, edit: Any
) -> None:
    """Every file that can change an answer enters the digest: an edit whose new sha256 is
    written into the manifest verifies, but it is no longer the index that was built."""
    built = open_index(hit_index, HashEmbedder())
    edit(hit_index)
    with pytest.raises(IndexStoreError, match=re.escape(str(hit_index / name))):
        open_index(hit_index, HashEmbedder())
    _rehash(hit_index, name)
    edited = open_index(hit_index, HashEmbedder())
    assert edited.manifest.digest() != built.manifest.digest()
    with pytest.raises(IndexStoreError, match="not the one this server verified at start"):
        recheck_index(built)


def test_recheck_names_the_file_changed_under_a_served_index(hit_index: Path) -> None:
    served = open_index(hit_index, HashEmbedder())
    assert recheck_index(served).digest() == served.manifest.digest()
    before = served.dense.search(HashEmbedder().embed([served.chunks[0].text])[0], 1)
    zero_first_vector(hit_index)
    # memory-mapped: the served vectors changed at once, and the recheck says so
    assert served.dense.search(HashEmbedder().embed([served.chunks[0].text])[0], 1) != before
    with pytest.raises(IndexChangedError) as caught:
        recheck_index(served)
    # named within the index, not by the server's path: clients are shown this message
    assert caught.value.changed == "dense.faiss"
    assert str(caught.value) == (
        "the index no longer matches its manifest: dense.faiss changed; rebuild it with "
        "`bedside index` and restart `bedside serve`"
    )


def test_recheck_reports_a_missing_manifest(hit_index: Path) -> None:
    served = open_index(hit_index, HashEmbedder())
    (hit_index / "manifest.json").unlink()
    with pytest.raises(IndexStoreError, match="no longer matches its manifest: .*missing") as e:
        recheck_index(served)
    assert str(hit_index) not in str(e.value)
