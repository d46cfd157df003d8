"""The index in a shared PostgreSQL + pgvector database (``retrieval.backend = postgres``).

Every index version lives in its own tables (``bedside.v<N>_chunks`` with a pgvector column,
``v<N>_postings`` with BM25 impacts, ``v<N>_terms``, ``v<N>_documents``). A build creates,
fills and indexes them, records the manifest and moves the one active pointer in a single
transaction: a build killed at any point rolls back and the previous version keeps serving.
Versions beyond ``keep_versions`` are dropped afterwards.

Scores match the local backend: dense = inner product of unit vectors (pgvector ``<#>``
negated), lexical = the BM25 impacts bm25s computes with Bedside's tokenizer, stored per
(term, chunk) and summed in SQL for the query's terms (repeated terms count twice, as in
bm25s). Opening a version verifies its manifest against the embedder and the row counts
and refuses (IndexStoreError) rather than serve a mismatch. The password comes from the
environment variable named by ``password_env`` and is never put in a message.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import ValidationError

from corpus.chunking import ChunkingSettings
from corpus.errors import (
    ConfigError,
    CorpusError,
    IndexStoreError,
    StaleIndexError,
    UnreachableError,
)
from corpus.loaders import load_sources, parse_source
from corpus.loaders.base import Problem
from corpus.types import Chunk, Document, DocumentInfo
from retrieval.bm25 import BM25Index
from retrieval.dense import DenseIndex, choose_kind
from retrieval.embedders import Embedder
from retrieval.hybrid import HybridRetriever, Mode
from retrieval.settings import PostgresSettings, RetrievalSettings
from retrieval.store import (
    FORMAT_VERSION,
    Counts,
    FileDigest,
    IndexChangedError,
    IndexManifest,
    LoadedIndex,
    Progress,
    bedside_version,
    check_same_digest,
    chunk_and_embed,
    chunk_row,
    corpus_hash,
    no_longer_matches,
    open_index,
    rows_root,
)
from retrieval.types import Passage

SCHEMA = "bedside"


NOTIFY_CHANNEL = "bedside_index"
_LOCK_MIGRATE = 0x62656473  # advisory lock keys ("beds", "bedb")
_LOCK_BUILD = 0x62656462
_HNSW_M, _HNSW_EF_CONSTRUCTION, _EF_SEARCH, _IVF_PROBES = 16, 64, 128, 16

log = logging.getLogger("bedside.postgres")
T = TypeVar("T")


# ---------------------------------------------------------------- connections


def redacted(dsn: str) -> str:
    """The DSN as it may appear in a message: host, port, database and user only."""
    try:
        parts = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable dsn>"
    keep = ("host", "port", "dbname", "user")
    return " ".join(f"{k}={parts[k]}" for k in keep if parts.get(k))


def check_dsn(settings: PostgresSettings) -> None:
    """A ConfigError unless the DSN is set, parses, and holds no password (the password
    belongs in the variable ``password_env`` names, so no copy of it is in the settings
    that `bedside serve` hands its workers, nor in any message)."""
    if not settings.dsn:
        raise ConfigError(
            "retrieval.backend is postgres but retrieval.postgres.dsn is empty; set "
            "BEDSIDE_RETRIEVAL__POSTGRES__DSN (without the password)"
        )
    try:
        parts = conninfo_to_dict(settings.dsn)
    except psycopg.ProgrammingError as exc:
        raise ConfigError("retrieval.postgres.dsn is not a valid connection string") from exc
    if parts.get("password"):
        raise ConfigError(
            "retrieval.postgres.dsn contains a password; remove it and put it in the "
            f"environment variable {settings.password_env}"
        )


def connect(settings: PostgresSettings, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection to the configured database; the password is read from the environment."""
    check_dsn(settings)
    password = os.environ.get(settings.password_env)
    extra: dict[str, Any] = {"connect_timeout": settings.connect_timeout_s}
    if password:
        extra["password"] = password
    try:
        conn = psycopg.connect(make_conninfo(settings.dsn, **extra), autocommit=autocommit)
    except psycopg.Error as exc:
        # psycopg's message names host and user, never the password
        raise UnreachableError(
            f"cannot connect to PostgreSQL at {redacted(settings.dsn)}: "
            f"{str(exc).strip().splitlines()[0]}"
        ) from None
    return conn


def _register_vector(conn: psycopg.Connection[Any]) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


# ---------------------------------------------------------------- migrations


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, SQL) of every migration shipped with Bedside, in order."""
    out = []
    for item in resources.files("retrieval").joinpath("migrations").iterdir():
        if item.name.endswith(".sql"):
            number = int(item.name.split("_", 1)[0])
            out.append((number, item.name, item.read_text(encoding="utf-8")))
    return sorted(out)


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction, one process
    at a time; returns the names applied."""
    applied: list[str] = []
    if _pending(conn) == []:  # up to date: no DDL, so a read-only serving role is enough
        return applied
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_MIGRATE,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.schema_migrations ("
            " version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r[0] for r in conn.execute(f"SELECT version FROM {SCHEMA}.schema_migrations")}
        for number, name, text in migration_files():
            if number in done:
                continue
            conn.execute(text.encode())  # trusted SQL files shipped in the package
            conn.execute(
                f"INSERT INTO {SCHEMA}.schema_migrations (version, name) VALUES (%s, %s)",
                (number, name),
            )
            applied.append(name)
    return applied


def _pending(conn: psycopg.Connection[Any]) -> list[int]:
    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.schema_migrations",)).fetchone()
    if row is None or row[0] is None:
        return [n for n, _, _ in migration_files()]
    done = {r[0] for r in conn.execute(f"SELECT version FROM {SCHEMA}.schema_migrations")}
    return [n for n, _, _ in migration_files() if n not in done]


def _table(version: int, part: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(f"v{version}_{part}"))


# ---------------------------------------------------------------- build


def _dense_kind(retrieval: RetrievalSettings, n: int) -> str:
    return choose_kind(retrieval.dense_index, n, retrieval.hnsw_threshold)


def _postings(bm25: BM25Index, vocab: dict[str, int]) -> Iterator[tuple[str, int, float]]:
    """(term, row, impact) from bm25s' token-major score matrix."""
    scores = bm25._model.scores
    data, indices, indptr = scores["data"], scores["indices"], scores["indptr"]
    for term, tid in vocab.items():
        if tid + 1 >= len(indptr):
            continue  # bm25s' padding token "", in no chunk
        for at in range(int(indptr[tid]), int(indptr[tid + 1])):
            yield term, int(indices[at]), float(data[at])


def build_pg_index(
    documents: Sequence[Document],
    *,
    postgres: PostgresSettings,
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    sources: Sequence[str],
    progress: Progress | None = None,
) -> tuple[int, IndexManifest]:
    """Chunk, embed and index ``documents`` as a new version and activate it, all in one
    transaction; returns (version id, manifest). Old versions are collected afterwards."""
    if not documents:
        raise IndexStoreError("no documents to index: every source was empty or unreadable")
    chunks, texts, vectors, _ = chunk_and_embed(documents, embedder, chunking, retrieval, progress)
    bm25 = BM25Index.build(texts)
    return _store_version(
        postgres,
        docs=[DocumentInfo.of(d) for d in documents],
        chunks=chunks,
        vectors=vectors,
        bm25=bm25,
        embedder_id=embedder.id,
        dim=embedder.dim,
        kind=_dense_kind(retrieval, len(chunks)),
        chunking=chunking,
        corpus=corpus_hash(documents, chunking),
        sources=sources,
        progress=progress,
    )


def build_pg_from_index(
    index_dir: Path,
    *,
    postgres: PostgresSettings,
    embedder: Embedder,
    retrieval: RetrievalSettings,
    progress: Progress | None = None,
) -> tuple[int, IndexManifest]:
    """A new active version holding a local index's documents, chunks, vectors and BM25
    statistics, with no re-embedding: the local index is verified first (its manifest, every
    file's hash, the embedder against ``embedder``) and its embedder, chunking, corpus hash
    and sources are kept. The dense kind follows ``retrieval`` as for any build."""
    local = open_index(index_dir, embedder)
    m = local.manifest
    if local.dense.dim != m.embedder_dim:
        raise IndexStoreError(
            f"index at {local.path} holds {local.dense.dim}-d vectors but its manifest says "
            f"{m.embedder_dim}; rebuild it with `bedside index`"
        )
    if progress:
        progress("reading", 0, len(local.chunks))
    vectors = local.dense.vectors()
    if progress:
        progress("reading", len(local.chunks), len(local.chunks))
    return _store_version(
        postgres,
        docs=list(local.docs.values()),
        chunks=local.chunks,
        vectors=vectors,
        bm25=local.bm25,
        embedder_id=m.embedder_id,
        dim=m.embedder_dim,
        kind=_dense_kind(retrieval, len(local.chunks)),
        chunking=m.chunking,
        corpus=m.corpus_hash,
        sources=m.sources,
        progress=progress,
    )


def _store_version(
    postgres: PostgresSettings,
    *,
    docs: Sequence[DocumentInfo],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    bm25: BM25Index,
    embedder_id: str,
    dim: int,
    kind: str,
    chunking: ChunkingSettings,
    corpus: str,
    sources: Sequence[str],
    progress: Progress | None,
) -> tuple[int, IndexManifest]:
    """Write one version and activate it in one transaction; collect old versions after."""
    vocab = {str(t): int(i) for t, i in bm25._model.vocab_dict.items()}

    with connect(postgres, autocommit=True) as conn:
        migrate(conn)
        _register_vector(conn)
        with conn.transaction():
            # one build at a time; a second waits rather than interleaving its switch
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_BUILD,))
            version = _write_version(conn, docs, chunks, vectors, vocab, bm25, dim, kind, progress)
            # hashed from the rows as stored, the same way open_pg_index hashes them again
            files = _read_tables(conn, version).roots
            manifest = IndexManifest(
                format_version=FORMAT_VERSION,
                bedside_version=bedside_version(),
                created_at=datetime.now(UTC),
                embedder_id=embedder_id,
                embedder_dim=dim,
                chunking=chunking,
                dense_kind=f"pgvector-{kind}",
                corpus_hash=corpus,
                sources=[str(s) for s in sources],
                counts=Counts(documents=len(docs), chunks=len(chunks)),
                # each table's row count and the root hash over its rows stand where the
                # local store keeps each file's size and sha256
                chunks_root=files["chunks"].sha256,
                files=files,
            )
            conn.execute(
                f"UPDATE {SCHEMA}.index_versions SET manifest = %s, digest = %s,"
                " dense_kind = %s, chunks = %s, documents = %s WHERE id = %s",
                (
                    manifest.model_dump_json(),
                    manifest.digest(),
                    manifest.dense_kind,
                    len(chunks),
                    len(docs),
                    version,
                ),
            )
            if progress:  # every table is written; only the switch is left
                progress("activating", 0, 1)
            conn.execute(
                f"INSERT INTO {SCHEMA}.active_index (singleton, version_id) VALUES (true, %s)"
                " ON CONFLICT (singleton) DO UPDATE SET version_id = EXCLUDED.version_id,"
                " switched_at = now()",
                (version,),
            )
            conn.execute(f"SELECT pg_notify('{NOTIFY_CHANNEL}', %s)", (str(version),))
        if progress:
            progress("activating", 1, 1)
        collect_garbage(conn, postgres.keep_versions)
    return version, manifest


def _write_version(
    conn: psycopg.Connection[Any],
    documents: Sequence[DocumentInfo],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    vocab: dict[str, int],
    bm25: BM25Index,
    dim: int,
    kind: str,
    progress: Progress | None,
) -> int:
    row = conn.execute(
        f"INSERT INTO {SCHEMA}.index_versions (digest, dense_kind, chunks, documents, manifest)"
        " VALUES ('', '', 0, 0, '{}') RETURNING id"
    ).fetchone()
    assert row is not None
    version = int(row[0])
    docs_t, chunks_t = _table(version, "documents"), _table(version, "chunks")
    terms_t, postings_t = _table(version, "terms"), _table(version, "postings")
    conn.execute(
        sql.SQL("CREATE TABLE {} (id text PRIMARY KEY, info jsonb NOT NULL)").format(docs_t)
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (row integer PRIMARY KEY, id text NOT NULL UNIQUE,"
            " doc_id text NOT NULL, start_at integer NOT NULL, end_at integer NOT NULL,"
            " section_path text[] NOT NULL, text text NOT NULL, embedding vector({}) NOT NULL)"
        ).format(chunks_t, sql.Literal(dim))
    )
    conn.execute(
        sql.SQL("CREATE TABLE {} (term text PRIMARY KEY, df integer NOT NULL)").format(terms_t)
    )
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} (term text NOT NULL, row integer NOT NULL, score real NOT NULL)"
        ).format(postings_t)
    )
    from psycopg.types.json import Jsonb

    with conn.cursor().copy(sql.SQL("COPY {} (id, info) FROM STDIN").format(docs_t)) as copy:
        for doc in documents:
            copy.write_row((doc.id, Jsonb(asdict(doc))))
    # tables written so far, for progress (and for tests that stop a build mid-insert)
    if progress:
        progress("inserting", 1, 4)
    with conn.cursor().copy(
        sql.SQL(
            "COPY {} (row, id, doc_id, start_at, end_at, section_path, text, embedding) FROM STDIN"
        ).format(chunks_t)
    ) as copy:
        for i, c in enumerate(chunks):
            copy.write_row(
                (i, c.id, c.doc_id, c.start, c.end, list(c.section_path), c.text, vectors[i])
            )
    if progress:
        progress("inserting", 2, 4)
    df: dict[str, int] = {}
    with conn.cursor().copy(
        sql.SQL("COPY {} (term, row, score) FROM STDIN").format(postings_t)
    ) as copy:
        for term, r, impact in _postings(bm25, vocab):
            df[term] = df.get(term, 0) + 1
            copy.write_row((term, r, impact))
    if progress:
        progress("inserting", 3, 4)
    with conn.cursor().copy(sql.SQL("COPY {} (term, df) FROM STDIN").format(terms_t)) as copy:
        for term in vocab:
            copy.write_row((term, df.get(term, 0)))
    if progress:
        progress("inserting", 4, 4)
    conn.execute(sql.SQL("CREATE INDEX ON {} (term) INCLUDE (row, score)").format(postings_t))
    if kind == "hnsw":
        conn.execute(
            sql.SQL(
                "CREATE INDEX ON {} USING hnsw (embedding vector_ip_ops)"
                " WITH (m = {}, ef_construction = {})"
            ).format(chunks_t, sql.Literal(_HNSW_M), sql.Literal(_HNSW_EF_CONSTRUCTION))
        )
    elif kind == "ivf":
        lists = max(1, min(4 * int(math.sqrt(len(chunks))), len(chunks) // 39 or 1))
        conn.execute(
            sql.SQL(
                "CREATE INDEX ON {} USING ivfflat (embedding vector_ip_ops) WITH (lists = {})"
            ).format(chunks_t, sql.Literal(lists))
        )
    # flat: an exact scan, as FAISS IndexFlatIP; fastest below hnsw_threshold chunks
    conn.execute(sql.SQL("ANALYZE {}").format(chunks_t))
    conn.execute(sql.SQL("ANALYZE {}").format(postings_t))
    return version


def collect_garbage(conn: psycopg.Connection[Any], keep: int) -> list[int]:
    """Drop every version but the active one and the newest ``keep`` (active included);
    returns the ids dropped. A replica still on a dropped version reopens the active one."""
    dropped: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_BUILD,))
        active = active_version(conn)
        ids = [
            int(r[0])
            for r in conn.execute(f"SELECT id FROM {SCHEMA}.index_versions ORDER BY id DESC")
        ]
        kept = [i for i in ids if i == active][:1]
        kept += [i for i in ids if i != active][: max(0, keep - len(kept))]
        for version in ids:
            if version in kept:
                continue
            for part in ("postings", "terms", "chunks", "documents"):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_table(version, part)))
            conn.execute(f"DELETE FROM {SCHEMA}.index_versions WHERE id = %s", (version,))
            dropped.append(version)
    return dropped


def active_version(conn: psycopg.Connection[Any]) -> int | None:
    try:
        row = conn.execute(f"SELECT version_id FROM {SCHEMA}.active_index").fetchone()
    except psycopg.errors.UndefinedTable:
        return None
    return int(row[0]) if row else None


def list_versions(conn: psycopg.Connection[Any]) -> list[int]:
    return [int(r[0]) for r in conn.execute(f"SELECT id FROM {SCHEMA}.index_versions ORDER BY id")]


# ---------------------------------------------------------------- verification

# What can change an answer, table by table, in the order the roots are computed.
TABLE_PARTS = ("documents", "chunks", "terms", "postings", "embeddings")


def _sql_root(conn: psycopg.Connection[Any], version: int, part: str) -> tuple[int, str]:
    """(rows, root) of the postings or the embeddings, hashed inside the database so that
    no row crosses the wire: a sha256 per group (one term's postings, one chunk's vector)
    over the rows' text in a fixed order, then a sha256 over those. float4 and pgvector
    print the shortest text that reads back exactly, so the same rows give the same root."""
    if part == "postings":
        groups = sql.SQL(
            'SELECT p.term COLLATE "C" AS k, count(*) AS n, sha256(convert_to(string_agg('
            "p.row::text || ' ' || p.score::text, ',' ORDER BY p.row), 'UTF8')) AS h"
            " FROM {} p GROUP BY p.term"
        ).format(_table(version, "postings"))
    else:
        groups = sql.SQL(
            "SELECT c.row AS k, 1 AS n,"
            " sha256(convert_to(c.row::text || ' ' || c.embedding::text, 'UTF8')) AS h"
            " FROM {} c"
        ).format(_table(version, "chunks"))
    row = conn.execute(
        sql.SQL(
            "SELECT coalesce(sum(n), 0), encode(sha256(coalesce("
            "string_agg(h, ''::bytea ORDER BY k), ''::bytea)), 'hex') FROM ({}) t"
        ).format(groups)
    ).fetchone()
    assert row is not None
    return int(row[0]), str(row[1])


class _Tables(NamedTuple):
    """One version's rows as read, and each table's row count and root hash."""

    chunks: list[Chunk]  # in row order
    docs: list[dict[str, Any]]  # by id
    terms: list[tuple[str, int]]  # (term, df) by term
    roots: dict[str, FileDigest]


def _read_tables(conn: psycopg.Connection[Any], version: int) -> _Tables:
    """Every row that can change an answer (documents, chunk texts, terms with their
    document frequency, BM25 postings, embeddings) with each table's row count and root
    hash: computed by a build once its tables are written, and again on every open and
    recheck. The roots enter the manifest, and so its digest."""
    chunk_rows = conn.execute(
        sql.SQL(
            "SELECT row, id, doc_id, text, start_at, end_at, section_path FROM {} ORDER BY row"
        ).format(_table(version, "chunks"))
    ).fetchall()
    if any(r[0] != i for i, r in enumerate(chunk_rows)):
        raise IndexStoreError(f"index version {version} has gaps in its chunk rows; rebuild it")
    chunks = [
        Chunk(cid, doc_id, text, start, end, tuple(path))
        for _, cid, doc_id, text, start, end, path in chunk_rows
    ]
    docs_t, terms_t = _table(version, "documents"), _table(version, "terms")
    docs = sorted(
        (r[0] for r in conn.execute(sql.SQL("SELECT info FROM {}").format(docs_t))),
        key=lambda info: str(info["id"]),
    )
    terms = sorted(
        (str(t), int(df))
        for t, df in conn.execute(sql.SQL("SELECT term, df FROM {}").format(terms_t))
    )
    roots = {
        "documents": FileDigest(size=len(docs), sha256=rows_root(docs)),
        "chunks": FileDigest(size=len(chunks), sha256=rows_root(chunk_row(c) for c in chunks)),
        "terms": FileDigest(size=len(terms), sha256=rows_root(terms)),
    }
    for part in ("postings", "embeddings"):
        size, root = _sql_root(conn, version, part)
        roots[part] = FileDigest(size=size, sha256=root)
    return _Tables(chunks, docs, terms, roots)


def _manifest_row(conn: psycopg.Connection[Any], version: int, where: str) -> IndexManifest:
    """A version's manifest as stored; IndexStoreError when it is missing or unreadable."""
    found = conn.execute(
        f"SELECT manifest FROM {SCHEMA}.index_versions WHERE id = %s", (version,)
    ).fetchone()
    if found is None:
        raise IndexStoreError(f"index version {version} is not in {where}")
    try:
        return IndexManifest.model_validate(found[0])
    except ValidationError as exc:
        raise IndexStoreError(
            f"index version {version} has a corrupt manifest ({str(exc).splitlines()[0]}); "
            "rebuild it with `bedside index --backend postgres`"
        ) from exc


def _check_roots(
    manifest: IndexManifest, found: dict[str, FileDigest], version: int, where: str
) -> None:
    """Refuse, naming the table, when a table's rows are not the rows built."""
    for part in TABLE_PARTS:
        expected = manifest.files.get(part)
        if expected is None or not expected.sha256:
            raise StaleIndexError(
                f"index version {version} at {where} has no root hash for its {part} table "
                "(built by an older Bedside); rebuild it with `bedside index --backend postgres`"
            )
        if expected != found[part]:
            raise IndexChangedError(
                f"v{version}_{part}",
                f"index version {version} at {where}: its {part} table does not match the "
                "root hash in its manifest (changed after the build); rebuild it with "
                "`bedside index --backend postgres`",
            )


# ---------------------------------------------------------------- serving


class Database:
    """One connection shared by a replica's threads, reopened after a failure."""

    def __init__(self, settings: PostgresSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = connect(self.settings)
            migrate(conn)  # the vector type must exist before it is registered
            _register_vector(conn)
            conn.execute(f"SET hnsw.ef_search = {_EF_SEARCH}")
            conn.execute(f"SET ivfflat.probes = {_IVF_PROBES}")
            self._conn = conn
        return self._conn

    def run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work(connection)``, retried once on a fresh connection if the old one broke."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._connection()
                try:
                    return work(conn)
                except psycopg.OperationalError:
                    conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class PgDenseIndex(DenseIndex):
    """Dense search in one version's ``chunks`` table; (row, inner product) best first."""

    def __init__(self, db: Database, version: int, size: int, dim: int, kind: str) -> None:
        self._db, self._version, self._size, self._dim = db, version, size, dim
        self.kind = kind

    @property
    def size(self) -> int:
        return self._size

    @property
    def dim(self) -> int:
        return self._dim

    def search(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._size == 0 or k <= 0:
            return []
        vector = np.ascontiguousarray(query.reshape(-1), dtype=np.float32)
        statement = sql.SQL(
            "SELECT row, -(embedding <#> %(q)s) FROM {} ORDER BY embedding <#> %(q)s LIMIT %(k)s"
        ).format(_table(self._version, "chunks"))
        rows = self._db.run(
            lambda c: c.execute(statement, {"q": vector, "k": min(k, self._size)}).fetchall()
        )
        return [(int(r), float(s)) for r, s in rows]

    def save(self, path: Path) -> None:
        raise IndexStoreError("a postgres index version is saved by `bedside index`, not to a file")


class PgBM25Index(BM25Index):
    """BM25 over one version's ``postings``: the stored bm25s impacts of the query's terms
    summed per chunk. The vocabulary is held in memory for ``knows`` and ``near``."""

    def __init__(self, db: Database, version: int, size: int, vocab: frozenset[str]) -> None:
        self._db, self._version, self.size = db, version, size
        self._terms = vocab
        self._vocab = [t for t in vocab if len(t) >= 5]

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        from retrieval.tokenize import tokenize

        tokens = [t for t in tokenize(query) if t in self._terms]
        if not tokens or self.size == 0 or k <= 0:
            return []
        statement = sql.SQL(
            "SELECT p.row, sum(p.score::float8) AS s FROM unnest(%(t)s::text[]) AS q(term)"
            " JOIN {} p ON p.term = q.term GROUP BY p.row ORDER BY s DESC, p.row LIMIT %(k)s"
        ).format(_table(self._version, "postings"))
        rows = self._db.run(lambda c: c.execute(statement, {"t": tokens, "k": k}).fetchall())
        return [(int(r), float(s)) for r, s in rows if s > 0]

    def knows(self, token: str) -> bool:
        return token in self._terms

    def save(self, path: Path) -> None:
        raise IndexStoreError("a postgres index version is saved by `bedside index`, not to a file")


def open_pg_index(
    db: Database, embedder: Embedder | None = None, version: int | None = None
) -> LoadedIndex:
    """Load and verify the active (or the given) version; raises IndexStoreError or
    StaleIndexError with what to do."""
    where = redacted(db.settings.dsn)

    def load(conn: psycopg.Connection[Any]) -> LoadedIndex:
        migrate(conn)
        chosen = version if version is not None else active_version(conn)
        if chosen is None:
            raise IndexStoreError(
                f"no active index in PostgreSQL at {where}: build one with "
                "`bedside index --backend postgres`"
            )
        manifest = _manifest_row(conn, chosen, f"the database at {where}")
        if manifest.format_version != FORMAT_VERSION:
            raise StaleIndexError(
                f"index version {chosen} has format {manifest.format_version}, this Bedside "
                f"reads {FORMAT_VERSION}; rebuild it with `bedside index --backend postgres`"
            )
        if embedder is not None and (
            manifest.embedder_id != embedder.id or manifest.embedder_dim != embedder.dim
        ):
            raise StaleIndexError(
                f"index version {chosen} at {where} was built with embedder "
                f"{manifest.embedder_id} ({manifest.embedder_dim}d) but the settings use "
                f"{embedder.id} ({embedder.dim}d); rebuild it with `bedside index --backend postgres`"
            )
        try:
            tables = _read_tables(conn, chosen)
            dims = conn.execute(
                sql.SQL("SELECT vector_dims(embedding) FROM {} LIMIT 1").format(
                    _table(chosen, "chunks")
                )
            ).fetchone()
        except psycopg.errors.UndefinedTable as exc:
            raise IndexStoreError(
                f"index version {chosen} at {where} is incomplete ({exc}); rebuild it"
            ) from None
        # The rows read are the rows built: every table by its root hash.
        _check_roots(manifest, tables.roots, chosen, where)
        chunks = tables.chunks
        docs = {info["id"]: DocumentInfo(**info) for info in tables.docs}
        terms = frozenset(t for t, _ in tables.terms)
        if not (
            len(chunks) == manifest.counts.chunks
            and len(docs) == manifest.counts.documents
            and (dims is None or int(dims[0]) == manifest.embedder_dim)
        ):
            raise IndexStoreError(
                f"index version {chosen} at {where} is inconsistent (manifest "
                f"{manifest.counts.chunks} chunks, {manifest.counts.documents} documents; "
                f"tables {len(chunks)} chunks, {len(docs)} documents); rebuild it"
            )
        kind = manifest.dense_kind.removeprefix("pgvector-")
        dense = PgDenseIndex(db, chosen, len(chunks), manifest.embedder_dim, kind)
        bm25 = PgBM25Index(db, chosen, len(chunks), terms)
        return LoadedIndex(Path(f"postgres-v{chosen}"), manifest, chunks, docs, dense, bm25)

    with db._lock:
        conn = db._connection()
        try:
            return load(conn)
        except psycopg.Error as exc:
            db._conn = None
            conn.close()
            raise IndexStoreError(
                f"cannot read the index from PostgreSQL at {where}: "
                f"{str(exc).strip().splitlines()[0]}"
            ) from None


def recheck_pg_index(db: Database, index: LoadedIndex) -> IndexManifest:
    """Verify a served version again: its manifest row and every table's root hash, and
    that the manifest is still the one ``index`` was opened with (same digest). Raises
    IndexStoreError saying what changed; returns the manifest."""
    version = version_of(index)
    # A served index's refusal is told to clients: it names tables, never the database host.
    where = "the shared database"
    if version is None:
        raise IndexStoreError("the served index is not an index version of the shared database")

    def check(conn: psycopg.Connection[Any]) -> IndexManifest:
        manifest = _manifest_row(conn, version, where)
        _check_roots(manifest, _read_tables(conn, version).roots, version, where)
        return manifest

    rebuild = "bedside index --backend postgres"
    try:
        current = db.run(check)
    except UnreachableError:
        raise  # nothing is known to have changed: the caller logs it and checks again later
    except IndexChangedError as exc:
        raise IndexChangedError(exc.changed, no_longer_matches(exc.changed, rebuild)) from exc
    except IndexStoreError as exc:
        raise IndexStoreError(f"the index no longer matches its manifest: {exc}") from exc
    check_same_digest(index.manifest, current)
    return current


def version_of(index: LoadedIndex) -> int | None:
    """The database version an index was opened from (None for a local index)."""
    return index.dense._version if isinstance(index.dense, PgDenseIndex) else None


class LiveRetriever(HybridRetriever):
    """A retriever whose index follows the database's active version: a background thread
    polls it every ``poll_s`` seconds and swaps in a newly activated version once it has
    been loaded and verified. A version that fails verification is logged and not served;
    the one already loaded keeps answering. A search that meets a version dropped under it
    reloads the active one and runs again."""

    def __init__(
        self,
        db: Database,
        embedder: Embedder,
        settings: RetrievalSettings,
        index: LoadedIndex | None = None,
    ) -> None:
        super().__init__(index or open_pg_index(db, embedder), embedder, settings)
        self.db = db
        self._stop = threading.Event()
        self._swap = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def version(self) -> int | None:
        return version_of(self.index)

    def refresh(self) -> bool:
        """Load the active version if it differs from the one served; True when swapped."""
        with self._swap:
            active = self.db.run(active_version)
            if active is None or active == self.version:
                return False
            self.index = open_pg_index(self.db, self.embedder, active)
            log.info("now serving index version %s", active)
            return True

    def verify(self) -> IndexManifest:
        """Follow a newly activated version first (verified as it is opened), then verify
        the version served again (``recheck_pg_index``)."""
        try:
            self.refresh()
        except IndexStoreError as exc:  # as when polling: the version served stays
            log.warning("index version check failed: %s", exc)
        with self._swap:
            return recheck_pg_index(self.db, self.index)

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._poll, name="bedside-index-poll", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _poll(self) -> None:
        while not self._stop.wait(self.db.settings.poll_s):
            try:
                self.refresh()
            except Exception as exc:  # keep serving what is loaded; say why once per poll
                log.warning("index version check failed: %s", exc)

    def search(self, query: str, k: int | None = None, mode: Mode = "hybrid") -> list[Passage]:
        try:
            return super().search(query, k, mode)
        except psycopg.errors.UndefinedTable:
            self.refresh()
            return super().search(query, k, mode)


def open_live_retriever(
    retrieval: RetrievalSettings, embedder: Embedder, *, poll: bool = True
) -> LiveRetriever:
    """The postgres backend's retriever for ``open_retriever``; polls for new versions."""
    retriever = LiveRetriever(Database(retrieval.postgres), embedder, retrieval)
    if poll:
        retriever.start()
    return retriever


def build_pg_from_sources(
    sources: Sequence[str],
    *,
    postgres: PostgresSettings,
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    progress: Progress | None = None,
) -> tuple[int, IndexManifest, list[Problem]]:
    """Load every source (bad records reported, as for the local store) and build a new
    active version; raises CorpusError when nothing could be read (the active version stays)."""
    specs = [parse_source(s) for s in sources]
    loaded = load_sources(specs)
    if not loaded.documents:
        detail = "; ".join(str(p) for p in loaded.problems[:5]) or "the sources are empty"
        raise CorpusError(
            f"nothing could be read from {', '.join(map(str, specs))}: {detail}; "
            "the active index version was kept"
        )
    version, manifest = build_pg_index(
        loaded.documents,
        postgres=postgres,
        embedder=embedder,
        chunking=chunking,
        retrieval=retrieval,
        sources=[str(s) for s in specs],
        progress=progress,
    )
    return version, manifest, loaded.problems
