"""The postgres backend against a real PostgreSQL + pgvector server: the same passages and
scores as the local store, atomic versioned builds, manifest checks, garbage collection."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from corpus.chunking import ChunkingSettings
from corpus.errors import ConfigError, IndexStoreError, StaleIndexError
from retrieval.embedders import HashEmbedder
from retrieval.hybrid import HybridRetriever
from retrieval.indexing import build_from_sources
from retrieval.postgres import (
    Database,
    LiveRetriever,
    active_version,
    build_pg_from_index,
    build_pg_from_sources,
    connect,
    list_versions,
    migrate,
    migration_files,
    open_pg_index,
)
from retrieval.settings import PostgresSettings, RetrievalSettings
from retrieval.store import open_index

REPO = Path(__file__).resolve().parents[2]
QUESTIONS = [
    "argatroban dose in HIT",
    "warfarin INR target",
    "bivalirudin renal impairment infusion",
    "heparin resistance antithrombin",
    "what is the dose",
]


def _build(pg: PostgresSettings, sources: list[str], **retrieval: Any) -> tuple[int, Any]:
    version, manifest, _ = build_pg_from_sources(
        sources,
        postgres=pg,
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash", **retrieval),
    )
    return version, manifest


def _tables(pg: PostgresSettings) -> set[str]:
    with connect(pg) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'bedside'"
        ).fetchall()
    return {r[0] for r in rows}


def _agree(
    same_ranking: Any,
    a: HybridRetriever,
    b: HybridRetriever,
    question: str,
    mode: Any,
    **tol: float,
) -> None:
    # FAISS and pgvector may order exact ties differently and differ in the last float digits
    same_ranking(a.search(question, k=20, mode=mode), b.search(question, k=20, mode=mode), **tol)


def test_migrations_apply_once_and_in_order(pg_settings: PostgresSettings) -> None:
    with connect(pg_settings) as conn:
        first = migrate(conn)
        again = migrate(conn)
        recorded = conn.execute("SELECT version FROM bedside.schema_migrations").fetchall()
    assert first == [name for _, name, _ in migration_files()] and first
    assert again == []
    assert sorted(r[0] for r in recorded) == [n for n, _, _ in migration_files()]


@pytest.mark.parametrize("dense", ["flat", "hnsw", "ivf"])
def test_postgres_returns_what_the_local_index_returns(
    pg_settings: PostgresSettings,
    fixture_pack: Path,
    tmp_path: Path,
    dense: str,
    same_ranking: Any,
) -> None:
    sources = [f"pack:{fixture_pack}"]
    settings = RetrievalSettings(embedder="hash", dense_index=dense)  # type: ignore[arg-type]
    build_from_sources(
        sources,
        tmp_path / "index",
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=settings,
    )
    local = HybridRetriever(
        open_index(tmp_path / "index", HashEmbedder()), HashEmbedder(), settings
    )
    _, manifest = _build(pg_settings, sources, dense_index=dense)
    db = Database(pg_settings)
    remote = HybridRetriever(open_pg_index(db, HashEmbedder()), HashEmbedder(), settings)
    assert manifest.dense_kind == f"pgvector-{dense}"
    assert manifest.corpus_hash == local.index.manifest.corpus_hash
    assert [c.id for c in remote.index.chunks] == [c.id for c in local.index.chunks]
    assert remote.index.docs == local.index.docs
    for question in QUESTIONS:
        for mode in ("dense", "bm25", "hybrid"):
            _agree(same_ranking, remote, local, question, mode, tol=1e-5)
    # the spelling helpers the pipeline asks of the lexical index
    for token in ("argatroban", "warfarin", "nosuchword", "inr"):
        assert remote.index.bm25.knows(token) == local.index.bm25.knows(token)
    for typo in ("argatrobn", "bivalirdin", "warfrin"):
        assert remote.index.bm25.near(typo) == local.index.bm25.near(typo) is not None
    db.close()


@pytest.mark.parametrize("local_kind", ["flat", "hnsw", "ivf"])
def test_a_local_index_copied_into_postgres_answers_as_it_does(
    pg_settings: PostgresSettings,
    fixture_pack: Path,
    tmp_path: Path,
    local_kind: str,
    same_ranking: Any,
) -> None:
    settings = RetrievalSettings(embedder="hash", dense_index=local_kind)  # type: ignore[arg-type]
    build_from_sources(
        [f"pack:{fixture_pack}"],
        tmp_path / "index",
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=settings,
    )
    local = HybridRetriever(
        open_index(tmp_path / "index", HashEmbedder()), HashEmbedder(), settings
    )
    flat = RetrievalSettings(embedder="hash", dense_index="flat")
    version, manifest = build_pg_from_index(
        tmp_path / "index", postgres=pg_settings, embedder=HashEmbedder(), retrieval=flat
    )
    db = Database(pg_settings)
    remote = HybridRetriever(open_pg_index(db, HashEmbedder()), HashEmbedder(), flat)
    with connect(pg_settings) as conn:
        assert active_version(conn) == version
    # what the local index says of itself is kept: embedder, chunking, corpus, sources
    m = local.index.manifest
    assert (manifest.embedder_id, manifest.embedder_dim) == (m.embedder_id, m.embedder_dim)
    assert (manifest.chunking, manifest.corpus_hash, manifest.sources) == (
        m.chunking,
        m.corpus_hash,
        m.sources,
    )
    assert manifest.counts == m.counts and manifest.dense_kind == "pgvector-flat"
    assert [c.id for c in remote.index.chunks] == [c.id for c in local.index.chunks]
    assert remote.index.docs == local.index.docs
    exact = HybridRetriever(local.index, HashEmbedder(), flat)
    for question in QUESTIONS:
        _agree(same_ranking, remote, local, question, "bm25", tol=1e-5)
        if local_kind == "flat":  # approximate local searches may miss what an exact one finds
            _agree(same_ranking, remote, exact, question, "hybrid", tol=1e-5)
        assert remote.search(question, k=5, mode="dense")
    db.close()


def test_copying_a_tampered_or_mismatched_local_index_is_refused(
    pg_settings: PostgresSettings, fixture_pack: Path, tmp_path: Path
) -> None:
    settings = RetrievalSettings(embedder="hash")
    build_from_sources(
        [f"pack:{fixture_pack}"],
        tmp_path / "index",
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=settings,
    )
    with pytest.raises(StaleIndexError):
        build_pg_from_index(
            tmp_path / "index",
            postgres=pg_settings,
            embedder=HashEmbedder(dim=128),
            retrieval=settings,
        )
    chunks = tmp_path / "index" / "chunks.jsonl"
    chunks.write_text(chunks.read_text(encoding="utf-8").replace("a", "b", 1), encoding="utf-8")
    with pytest.raises(IndexStoreError):
        build_pg_from_index(
            tmp_path / "index", postgres=pg_settings, embedder=HashEmbedder(), retrieval=settings
        )
    with connect(pg_settings) as conn:
        migrate(conn)
        assert active_version(conn) is None and list_versions(conn) == []


def test_a_new_build_switches_versions_and_old_ones_are_collected(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    sources = [f"pack:{fixture_pack}"]
    v1, _ = _build(pg_settings, sources)
    v2, _ = _build(pg_settings, sources)
    v3, _ = _build(pg_settings, sources)
    with connect(pg_settings) as conn:
        assert active_version(conn) == v3
        assert list_versions(conn) == [v2, v3]  # keep_versions = 2
    tables = _tables(pg_settings)
    assert not any(t.startswith(f"v{v1}_") for t in tables)
    assert {f"v{v3}_chunks", f"v{v3}_postings", f"v{v3}_terms", f"v{v3}_documents"} <= tables


# (stage, done) at which the build process is stopped: while embedding (nothing in the
# database yet), mid-insert (the version row, its documents and chunks written in the open
# transaction, postings not yet), and just before the switch (every table written)
KILL_POINTS = {
    "mid-embedding": ("embedding", None),
    "mid-insert": ("inserting", 2),
    "before-the-switch": ("activating", 0),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_build_killed_mid_way_leaves_the_previous_version_serving(
    pg_settings: PostgresSettings, fixture_pack: Path, tmp_path: Path, point: str
) -> None:
    stage, at = KILL_POINTS[point]
    sources = [f"pack:{fixture_pack}"]
    v1, before = _build(pg_settings, sources)
    more = tmp_path / "more"
    more.mkdir()
    for doc in fixture_pack.glob("*.md"):
        (more / doc.name).write_text(doc.read_text(encoding="utf-8") + "\nMore text.\n")
    # A second build in its own process, stopped with SIGKILL when it reports the stage.
    script = textwrap.dedent(
        f"""
        import sys, time
        from corpus.chunking import ChunkingSettings
        from retrieval.embedders import HashEmbedder
        from retrieval.postgres import build_pg_from_sources
        from retrieval.settings import PostgresSettings, RetrievalSettings

        def progress(stage, done, total):
            if stage == {stage!r} and {at!r} in (None, done):
                print("READY", flush=True)
                time.sleep(600)

        build_pg_from_sources(
            [{f"pack:{more}"!r}],
            postgres=PostgresSettings(dsn={pg_settings.dsn!r}),
            embedder=HashEmbedder(),
            chunking=ChunkingSettings(),
            retrieval=RetrievalSettings(embedder="hash"),
            progress=progress,
        )
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "READY":
        proc.kill()
        pytest.fail(f"the build did not reach {point}: {proc.communicate()[1][-2000:]}")
    # mid-build, the replicas' view is the previous version
    with connect(pg_settings) as conn:
        assert active_version(conn) == v1
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with connect(pg_settings) as conn:
        assert active_version(conn) == v1
        assert list_versions(conn) == [v1]
    assert {t.split("_")[0] for t in _tables(pg_settings) if t.startswith("v")} == {f"v{v1}"}
    db = Database(pg_settings)
    served = open_pg_index(db, HashEmbedder())
    assert served.manifest.digest() == before.digest()
    assert served.manifest.counts == before.counts
    answered = HybridRetriever(served, HashEmbedder(), RetrievalSettings(embedder="hash"))
    assert answered.search(QUESTIONS[0], k=5)
    db.close()
    # the next build is unaffected by the killed one: it becomes active beside v1 only
    v2, after = _build(pg_settings, [f"pack:{more}"])
    assert v2 > v1 and after.counts.documents == before.counts.documents
    with connect(pg_settings) as conn:
        assert active_version(conn) == v2
        assert list_versions(conn) == [v1, v2]
    assert {t.split("_")[0] for t in _tables(pg_settings) if t.startswith("v")} == {
        f"v{v1}",
        f"v{v2}",
    }


def test_a_replica_verifies_the_manifest_and_refuses_a_mismatch(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    db = Database(pg_settings)
    with pytest.raises(IndexStoreError, match="no active index.*bedside index --backend postgres"):
        open_pg_index(db, HashEmbedder())
    version, _ = _build(pg_settings, [f"pack:{fixture_pack}"])
    with pytest.raises(StaleIndexError, match="embedder hash-256-v1"):
        open_pg_index(db, HashEmbedder(dim=128))
    with connect(pg_settings) as conn:
        conn.execute(
            "UPDATE bedside.index_versions SET manifest = jsonb_set(manifest,"
            " '{counts,chunks}', '1') WHERE id = %s",
            (version,),
        )
    with pytest.raises(IndexStoreError, match="inconsistent"):
        open_pg_index(db, HashEmbedder())
    with connect(pg_settings) as conn:
        conn.execute(
            "UPDATE bedside.index_versions SET manifest = manifest - 'corpus_hash' WHERE id = %s",
            (version,),
        )
    with pytest.raises(IndexStoreError, match="corrupt manifest"):
        open_pg_index(db, HashEmbedder())
    db.close()


def test_a_chunk_edited_in_the_database_after_its_build_is_refused(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    version, _ = _build(pg_settings, [f"pack:{fixture_pack}"])
    db = Database(pg_settings)
    assert open_pg_index(db, HashEmbedder()).manifest.chunks_root
    with connect(pg_settings) as conn:
        # A same-length edit: every count and size stays as built.
        changed = conn.execute(
            f"UPDATE bedside.v{version}_chunks SET text = overlay(text placing 'X' from 1 for 1)"
            " WHERE row = 0"
        ).rowcount
    assert changed > 0
    with pytest.raises(IndexStoreError, match="chunks table does not match the root hash"):
        open_pg_index(db, HashEmbedder())
    db.close()


def test_a_live_retriever_follows_the_active_version(
    pg_settings: PostgresSettings, fixture_pack: Path, tmp_path: Path
) -> None:
    v1, _ = _build(pg_settings, [f"pack:{fixture_pack}"])
    settings = RetrievalSettings(embedder="hash")
    live = LiveRetriever(Database(pg_settings), HashEmbedder(), settings)
    assert live.version == v1 and not live.refresh()
    # a smaller corpus: one document
    one = tmp_path / "one"
    one.mkdir()
    (one / "fixture-warfarin.md").write_text(
        (fixture_pack / "fixture-warfarin.md").read_text(encoding="utf-8"), encoding="utf-8"
    )
    v2, _ = _build(pg_settings, [f"pack:{one}"])
    v3, _ = _build(pg_settings, [f"pack:{one}"])  # v1 is now collected under the retriever
    assert live.version == v1
    # a search that meets the dropped version's tables reloads the active one
    hits = live.search("warfarin INR target")
    assert live.version == v3 != v2
    assert hits and {p.doc.id for p in hits} == {"fixture-warfarin"}
    assert set(live.index.docs) == {"fixture-warfarin"}
    live.db.close()


def test_the_password_comes_from_the_environment_and_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, pg_settings: PostgresSettings
) -> None:
    secret = "s3cret-Pa55-word"
    with pytest.raises(ConfigError, match="contains a password") as found:
        connect(PostgresSettings(dsn=f"postgresql://bedside:{secret}@127.0.0.1:1/bedside"))
    assert secret not in str(found.value)
    monkeypatch.setenv("BEDSIDE_PG_PASSWORD", secret)
    with pytest.raises(IndexStoreError, match="cannot connect to PostgreSQL") as failed:
        connect(
            PostgresSettings(dsn="postgresql://bedside@127.0.0.1:1/bedside", connect_timeout_s=2)
        )
    assert secret not in str(failed.value)
    with pytest.raises(ConfigError, match="dsn is empty"):
        connect(PostgresSettings())
    # the test server trusts local connections: a password in the environment is harmless
    with connect(pg_settings) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@pytest.mark.slow
def test_with_minilm_postgres_ranks_as_the_local_index(
    pg_settings: PostgresSettings,
    fixture_pack: Path,
    tmp_path: Path,
    minilm: Any,
    same_ranking: Any,
) -> None:
    sources = [f"pack:{fixture_pack}"]
    settings = RetrievalSettings()
    build_from_sources(
        sources,
        tmp_path / "index",
        embedder=minilm,
        chunking=ChunkingSettings(),
        retrieval=settings,
    )
    build_pg_from_sources(
        sources,
        postgres=pg_settings,
        embedder=minilm,
        chunking=ChunkingSettings(),
        retrieval=settings,
    )
    local = HybridRetriever(open_index(tmp_path / "index", minilm), minilm, settings)
    db = Database(pg_settings)
    remote = HybridRetriever(open_pg_index(db, minilm), minilm, settings)
    assert remote.index.manifest.embedder_id == minilm.id
    for question in QUESTIONS:
        for mode in ("dense", "hybrid"):
            _agree(same_ranking, remote, local, question, mode)
    db.close()


def test_bedside_index_from_index_copies_a_local_index_into_a_new_version(
    pg_settings: PostgresSettings,
    fixture_pack: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ui.cli import main

    report = build_from_sources(
        [f"pack:{fixture_pack}"],
        tmp_path / "index",
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash"),
    )
    monkeypatch.setenv("BEDSIDE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("BEDSIDE_RETRIEVAL__POSTGRES__DSN", pg_settings.dsn)
    argv = ["--preset", "fast", "index", "--from-index", str(tmp_path / "index")]
    # without the postgres backend there is nowhere to copy to: said, nothing written
    assert main(argv) == 1
    assert "--backend postgres" in capsys.readouterr().err
    assert main([*argv[:3], "--backend", "postgres", *argv[3:]]) == 0
    out = capsys.readouterr().out
    assert "copied" in out and "now active" in out
    with connect(pg_settings) as conn:
        version = active_version(conn)
    db = Database(pg_settings)
    served = open_pg_index(db, HashEmbedder())
    assert served.manifest.corpus_hash == report.manifest.corpus_hash
    assert served.manifest.digest() in out and version is not None
    db.close()
