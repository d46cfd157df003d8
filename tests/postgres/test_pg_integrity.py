"""Every row that can change an answer is under the manifest: documents, chunks, terms,
BM25 postings and embeddings, hashed at build and again on open and on each recheck, on a
real PostgreSQL + pgvector server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.chunking import ChunkingSettings
from corpus.errors import IndexStoreError, StaleIndexError, UnreachableError
from retrieval.embedders import HashEmbedder
from retrieval.postgres import (
    Database,
    LiveRetriever,
    build_pg_from_sources,
    connect,
    open_pg_index,
)
from retrieval.settings import PostgresSettings, RetrievalSettings
from retrieval.store import IndexChangedError

QUESTION = "argatroban dose in HIT"


def _build(pg: PostgresSettings, pack: Path) -> int:
    version, _, _ = build_pg_from_sources(
        [f"pack:{pack}"],
        postgres=pg,
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash"),
    )
    return version


def _live(pg: PostgresSettings) -> LiveRetriever:
    return LiveRetriever(Database(pg), HashEmbedder(), RetrievalSettings(embedder="hash"))


def _top(live: LiveRetriever, mode: str) -> str:
    return live.search(QUESTION, k=1, mode=mode)[0].id  # type: ignore[arg-type]


def _boost_postings(pg: PostgresSettings, version: int, row: int) -> None:
    with connect(pg) as conn:
        assert conn.execute(
            f"UPDATE bedside.v{version}_postings SET score = 1000 WHERE row = %s", (row,)
        ).rowcount


def _copy_embedding(pg: PostgresSettings, version: int, to_row: int, from_row: int) -> None:
    with connect(pg) as conn:
        conn.execute(
            f"UPDATE bedside.v{version}_chunks SET embedding ="
            f" (SELECT embedding FROM bedside.v{version}_chunks WHERE row = %s) WHERE row = %s",
            (from_row, to_row),
        )


def _last_hit(live: LiveRetriever) -> int:
    """The row of the lowest-ranked BM25 hit: the chunk a tamperer promotes."""
    last = live.search(QUESTION, k=50, mode="bm25")[-1].id
    return next(i for i, c in enumerate(live.index.chunks) if c.id == last)


@pytest.mark.parametrize("table", ["postings", "embeddings"])
def test_a_rewritten_table_is_refused_at_open_and_by_a_serving_replica(
    pg_settings: PostgresSettings, fixture_pack: Path, table: str
) -> None:
    """Rewriting BM25 impacts, or copying one chunk's embedding over another's, would rank
    the wrong chunk first after a restart: the open refuses it, naming the table, and a
    replica already serving says so on its next recheck."""
    version = _build(pg_settings, fixture_pack)
    live = _live(pg_settings)
    mode = "bm25" if table == "postings" else "dense"
    first = _top(live, mode)
    target = _last_hit(live)
    live.verify()
    if table == "postings":
        _boost_postings(pg_settings, version, target)
        # served straight from the tables: the wrong chunk now ranks first
        assert _top(live, mode) == live.index.chunks[target].id != first
    else:
        source = next(i for i, c in enumerate(live.index.chunks) if c.id == first)
        _copy_embedding(pg_settings, version, target, source)
    with pytest.raises(IndexChangedError) as caught:
        live.verify()
    assert caught.value.changed == f"v{version}_{table}"
    assert f"the index no longer matches its manifest: v{version}_{table} changed" in str(
        caught.value
    )
    assert "bedside index --backend postgres" in str(caught.value)
    # told to clients as it is: it names the table, never the database's host or user
    for part in ("host=", "user=", "dbname=", str(pg_settings.dsn)):
        assert part not in str(caught.value)
    db = Database(pg_settings)  # a restart
    with pytest.raises(IndexStoreError, match=f"its {table} table does not match the root hash"):
        open_pg_index(db, HashEmbedder())
    db.close()
    live.db.close()


def test_a_manifest_rewritten_to_match_changes_the_digest_and_a_replica_notices(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    """An edit whose new root hash is written into the manifest opens, but with another
    digest, and the replica that opened the original stops at its next recheck."""
    version = _build(pg_settings, fixture_pack)
    live = _live(pg_settings)
    served = live.index.manifest.digest()
    _boost_postings(pg_settings, version, 0)
    with connect(pg_settings) as conn:
        from retrieval.postgres import _read_tables

        roots = _read_tables(conn, version).roots
        conn.execute(
            "UPDATE bedside.index_versions SET manifest = jsonb_set(manifest,"
            " '{files,postings}', %s::jsonb) WHERE id = %s",
            (json.dumps(roots["postings"].model_dump()), version),
        )
    db = Database(pg_settings)
    assert open_pg_index(db, HashEmbedder()).manifest.digest() != served
    db.close()
    with pytest.raises(IndexStoreError, match="not the one this server verified at start"):
        live.verify()
    live.db.close()


def test_a_version_without_postings_and_embedding_hashes_must_be_rebuilt(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    version = _build(pg_settings, fixture_pack)
    with connect(pg_settings) as conn:
        conn.execute(
            "UPDATE bedside.index_versions SET manifest = jsonb_set(manifest,"
            " '{files,postings,sha256}', '\"\"') WHERE id = %s",
            (version,),
        )
    db = Database(pg_settings)
    with pytest.raises(StaleIndexError, match="no root hash for its postings table.*rebuild"):
        open_pg_index(db, HashEmbedder())
    db.close()


def test_the_manifest_records_every_table_and_its_digest_survives_jsonb(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    _, built, _ = build_pg_from_sources(
        [f"pack:{fixture_pack}"],
        postgres=pg_settings,
        embedder=HashEmbedder(),
        chunking=ChunkingSettings(),
        retrieval=RetrievalSettings(embedder="hash"),
    )
    files = built.files
    assert set(files) == {"documents", "chunks", "terms", "postings", "embeddings"}
    assert all(len(f.sha256) == 64 for f in files.values())
    assert files["embeddings"].size == built.counts.chunks and files["postings"].size > 0
    db = Database(pg_settings)
    assert open_pg_index(db, HashEmbedder()).manifest.digest() == built.digest()
    db.close()


def test_a_recheck_that_cannot_reach_the_database_is_no_changed_index(
    pg_settings: PostgresSettings, fixture_pack: Path
) -> None:
    """An outage during a recheck is an UnreachableError, not a changed index: nothing is
    known to have changed, so the server logs it and checks again later instead of refusing
    answers with the database's address in the message."""
    _build(pg_settings, fixture_pack)
    live = _live(pg_settings)
    live.verify()
    unreachable = PostgresSettings(
        dsn="host=/nonexistent/pg-socket-dir dbname=beddb user=beduser", connect_timeout_s=1
    )
    live.db.close()
    live.db = Database(unreachable)
    with pytest.raises(UnreachableError):
        live.verify()
