"""The index on disk: FAISS file, BM25, chunk and document stores, and a manifest.

A build writes into a temporary sibling directory and renames it into place, so a build
killed half-way leaves the previous index untouched. The manifest records the size and
sha256 of every file (``bm25/`` included) and a root hash over the chunk lines. Loading
checks the manifest against the files and the embedder, hashes every file it reads (the
bytes hashed are the bytes parsed, for the chunk, document and FAISS files) and refuses
(IndexStoreError, naming the file) rather than serve an index changed after its build.

The index digest (``IndexManifest.digest``, stamped on answers and shown by /api/health) is
a hash of the whole manifest but its creation time: every file's sha256 enters it, so an
edit of any file that can change an answer (documents, chunks, vectors, BM25 arrays) either
fails verification or, with the manifest's hashes recomputed to match, changes the digest.
A server records the digest it verified at start and ``recheck_index`` compares the index on
disk with it again while serving.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from corpus.chunking import ChunkingSettings, chunk_documents
from corpus.errors import IndexStoreError, StaleIndexError
from corpus.loaders.folder import file_digest
from corpus.types import Chunk, Document, DocumentInfo
from retrieval.bm25 import BM25Index
from retrieval.dense import DenseIndex
from retrieval.embedders import Embedder
from retrieval.settings import RetrievalSettings

FORMAT_VERSION = 2  # 2: a sha256 per file and a root hash over the chunk lines
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
DOCUMENTS = "documents.jsonl"
DENSE = "dense.faiss"
BM25_DIR = "bm25"

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def bedside_version() -> str:
    try:
        return version("bedside")
    except PackageNotFoundError:
        return "0+unknown"


class Counts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    documents: int
    chunks: int


class FileDigest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int
    sha256: str


class IndexManifest(BaseModel):
    """What an index was built from; stamped on every answer and eval report."""

    model_config = ConfigDict(extra="forbid")

    format_version: int
    bedside_version: str
    created_at: datetime
    embedder_id: str
    embedder_dim: int
    chunking: ChunkingSettings
    dense_kind: str
    corpus_hash: str
    sources: list[str]
    counts: Counts
    # sha256 over the sha256 of each line of chunks.jsonl, in order: the chunk texts.
    chunks_root: str
    files: dict[str, FileDigest]  # path relative to the index dir -> size and sha256
    # Each document's digest (text, citation data and metadata), and the sha256 of each
    # source file a document was read from (a protocol folder's PDF, Word, HTML files).
    documents: dict[str, str] = {}
    source_files: dict[str, str] = {}
    # Of the chunks, how many were embedded by this build (the rest kept the vectors of
    # the index it replaced: their document and text had not changed).
    embedded: int | None = None

    def digest(self) -> str:
        """Short hash identifying this exact index: everything the manifest records but its
        creation time and how many vectors the build computed, the sha256 (or table root)
        of every file (table) included. Keys are sorted, so a manifest read back from a
        store that reorders them (PostgreSQL jsonb) has the digest it was built with."""
        record = self.model_dump(mode="json", exclude={"created_at", "embedded"})
        blob = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def document_digest(doc: Document) -> str:
    """A document's text, citation data and metadata (a protocol's status and review date
    are shown with every answer that cites it, so a change of them is a change)."""
    record = [
        doc.id,
        doc.title,
        doc.source_type,
        doc.organization,
        doc.year,
        doc.url,
        doc.section,
        doc.review_status,
        hashlib.sha256(doc.text.encode()).hexdigest(),
        doc.meta,
    ]
    blob = json.dumps(record, ensure_ascii=False, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def corpus_hash(documents: Sequence[Document], chunking: ChunkingSettings) -> str:
    """Content hash of the documents (``document_digest``) and the chunking settings."""
    h = hashlib.sha256(chunking.model_dump_json().encode())
    for doc in sorted(documents, key=lambda d: d.id):
        h.update(document_digest(doc).encode())
    return h.hexdigest()


def source_files(documents: Sequence[Document]) -> dict[str, str]:
    """The sha256 of each source file documents were read from, where the loader recorded
    it (``meta.file`` and ``meta.sha256``)."""
    return {
        str(d.meta["file"]): str(d.meta["sha256"])
        for d in sorted(documents, key=lambda d: d.id)
        if d.meta.get("file") and d.meta.get("sha256")
    }


def index_text(doc: DocumentInfo | Document, chunk: Chunk) -> str:
    """The text both retrievers see: the document title gives a chunk its topic."""
    return f"{doc.title}\n{chunk.text}"


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    path: Path
    manifest: IndexManifest
    chunks: list[Chunk]
    docs: dict[str, DocumentInfo]
    dense: DenseIndex
    bm25: BM25Index


# ---------------------------------------------------------------- build


def embed_all(
    embedder: Embedder, texts: Sequence[str], batch_size: int, progress: Progress | None
) -> np.ndarray:
    """Embed in length-sorted blocks (as sentence-transformers does within one call) so
    padding stays small, reporting progress per block; rows come back in input order."""
    n = len(texts)
    out = np.zeros((n, embedder.dim), dtype=np.float32)
    order = sorted(range(n), key=lambda i: -len(texts[i]))
    block = max(batch_size * 4, 1)
    for lo in range(0, n, block):
        rows = order[lo : lo + block]
        out[rows] = embedder.embed([texts[i] for i in rows], batch_size=batch_size)
        if progress:
            progress("embedding", min(lo + block, n), n)
    return out


def _write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def lines_root(data: bytes) -> str:
    """sha256 over the sha256 of each line of a JSONL file's bytes, in order."""
    sha256 = hashlib.sha256
    return sha256(
        b"".join([sha256(line).digest() for line in data.split(b"\n") if line])
    ).hexdigest()


def rows_root(rows: Iterable[Any]) -> str:
    """``lines_root`` of rows written one JSON line each, keys sorted: the same root for the
    same rows, whichever store keeps them (a database returns JSON keys in its own order)."""
    return lines_root(
        b"\n".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode() for r in rows)
    )


def chunk_row(c: Chunk) -> dict[str, Any]:
    """A chunk as the index stores it."""
    return {
        "id": c.id,
        "doc_id": c.doc_id,
        "start": c.start,
        "end": c.end,
        "section_path": list(c.section_path),
        "text": c.text,
    }


_sha256 = file_digest  # the sha256 of a file, read in 1 MiB blocks


def _digests(root: Path) -> dict[str, FileDigest]:
    return {
        p.relative_to(root).as_posix(): FileDigest(size=p.stat().st_size, sha256=_sha256(p))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tmp_sibling(final: Path, tag: str) -> Path:
    return final.with_name(f".{final.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _clean_abandoned(final: Path) -> None:
    """Remove temporary build dirs left by builds whose process is gone."""
    prefix = f".{final.name}.tmp-"
    for tmp in final.parent.glob(f"{prefix}*"):
        try:
            pid = int(tmp.name[len(prefix) :].split("-")[0])
            os.kill(pid, 0)
        except (ValueError, ProcessLookupError):
            shutil.rmtree(tmp, ignore_errors=True)
        except PermissionError:
            pass  # another user's live build


def _swap_into_place(tmp: Path, final: Path) -> None:
    old = None
    if final.exists():
        old = _tmp_sibling(final, "old")
        os.rename(final, old)
    os.rename(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _text_key(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def previous_vectors(index_dir: Path, embedder: Embedder) -> dict[bytes, np.ndarray]:
    """The vectors of an existing index keyed by the text each embeds, when it was built
    with this embedder; empty when there is no usable index (a build then embeds all)."""
    try:
        old = open_index(index_dir, embedder)
    except IndexStoreError:
        return {}
    vectors = old.dense.vectors()
    return {
        _text_key(index_text(old.docs[c.doc_id], c)): vectors[i]
        for i, c in enumerate(old.chunks)
        if c.doc_id in old.docs
    }


def chunk_and_embed(
    documents: Sequence[Document],
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    progress: Progress | None = None,
    known: dict[bytes, np.ndarray] | None = None,
) -> tuple[list[Chunk], list[str], np.ndarray, int]:
    """The chunks of ``documents``, the text each is indexed by, its vector, and how many
    vectors were computed: what every index build (a local directory or a database
    version) starts from. A text ``known`` already (an unchanged chunk of an unchanged
    document in the index being replaced) keeps its vector; only the rest are embedded."""
    chunks = chunk_documents(documents, chunking)
    by_id = {d.id: d for d in documents}
    texts = [index_text(by_id[c.doc_id], c) for c in chunks]
    if progress:
        progress("chunking", len(chunks), len(chunks))
    known = known or {}
    keys = [_text_key(t) for t in texts]
    todo = [i for i, key in enumerate(keys) if key not in known]
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, key in enumerate(keys):
        if key in known:
            vectors[i] = known[key]
    if todo:
        fresh = embed_all(embedder, [texts[i] for i in todo], retrieval.batch_size, progress)
        vectors[todo] = fresh
    elif progress:
        progress("embedding", 0, 0)
    return chunks, texts, vectors, len(todo)


def build_index(
    documents: Sequence[Document],
    index_dir: Path,
    *,
    embedder: Embedder,
    chunking: ChunkingSettings,
    retrieval: RetrievalSettings,
    sources: Sequence[str],
    progress: Progress | None = None,
    incremental: bool = True,
) -> IndexManifest:
    """Chunk, embed and index ``documents`` into ``index_dir`` (replaced atomically).

    With ``incremental`` (the default) the index being replaced lends the vectors of the
    chunks whose text (and document title) did not change, so editing one document
    re-embeds only that document's chunks; the rest of the build (BM25, the FAISS index,
    the stores) is always done over the whole corpus."""
    if not documents:
        raise IndexStoreError("no documents to index: every source was empty or unreadable")
    index_dir = index_dir.expanduser().resolve()
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    _clean_abandoned(index_dir)
    known = previous_vectors(index_dir, embedder) if incremental else {}
    chunks, texts, vectors, embedded = chunk_and_embed(
        documents, embedder, chunking, retrieval, progress, known
    )
    dense = DenseIndex.build(vectors, retrieval.dense_index, retrieval.hnsw_threshold)
    if progress:
        progress("bm25", 0, 1)
    bm25 = BM25Index.build(texts)
    if progress:
        progress("bm25", 1, 1)

    tmp = _tmp_sibling(index_dir, "tmp")
    tmp.mkdir()
    try:
        dense.save(tmp / DENSE)
        bm25.save(tmp / BM25_DIR)
        _write_jsonl(
            tmp / CHUNKS,
            [chunk_row(c) for c in chunks],
        )
        _write_jsonl(tmp / DOCUMENTS, [asdict(DocumentInfo.of(d)) for d in documents])
        files = _digests(tmp)
        manifest = IndexManifest(
            format_version=FORMAT_VERSION,
            bedside_version=bedside_version(),
            created_at=datetime.now(UTC),
            embedder_id=embedder.id,
            embedder_dim=embedder.dim,
            chunking=chunking,
            dense_kind=dense.kind,
            corpus_hash=corpus_hash(documents, chunking),
            sources=[str(s) for s in sources],
            counts=Counts(documents=len(documents), chunks=len(chunks)),
            chunks_root=lines_root((tmp / CHUNKS).read_bytes()),
            files=files,
            documents={d.id: document_digest(d) for d in sorted(documents, key=lambda d: d.id)},
            source_files=source_files(documents),
            embedded=embedded,
        )
        (tmp / MANIFEST).write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
        _swap_into_place(tmp, index_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


# ---------------------------------------------------------------- load


def _recover(index_dir: Path) -> None:
    """If a swap was interrupted between its two renames, put the old index back."""
    if index_dir.exists():
        return
    olds = sorted(
        index_dir.parent.glob(f".{index_dir.name}.old-*"), key=lambda p: p.stat().st_mtime
    )
    if olds:
        os.rename(olds[-1], index_dir)


def read_manifest(index_dir: Path) -> IndexManifest:
    index_dir = index_dir.expanduser()
    _recover(index_dir)
    path = index_dir / MANIFEST
    if not index_dir.is_dir():
        raise IndexStoreError(
            f"no index at {index_dir}: build one with `bedside index --index-dir {index_dir}`"
        )
    if not path.is_file():
        raise IndexStoreError(
            f"{path} is missing: the index is incomplete; rebuild it with `bedside index`"
        )
    try:
        manifest = IndexManifest.model_validate_json(path.read_bytes())
    except (ValidationError, ValueError) as exc:
        raise IndexStoreError(
            f"{path} is corrupt ({str(exc).splitlines()[0]}); rebuild it with `bedside index`"
        ) from exc
    if manifest.format_version != FORMAT_VERSION:
        raise StaleIndexError(
            f"{index_dir} has index format {manifest.format_version}, this Bedside reads {FORMAT_VERSION}; rebuild it"
        )
    for name, recorded in manifest.files.items():
        f = index_dir / name
        if not f.is_file() or f.stat().st_size != recorded.size:
            raise IndexStoreError(
                f"{f} is missing or has the wrong size; rebuild the index with `bedside index`"
            )
    return manifest


def check_embedder(manifest: IndexManifest, embedder: Embedder, where: Path) -> None:
    if manifest.embedder_id != embedder.id or manifest.embedder_dim != embedder.dim:
        raise StaleIndexError(
            f"index {where} was built with embedder {manifest.embedder_id} ({manifest.embedder_dim}d) "
            f"but the settings use {embedder.id} ({embedder.dim}d); rebuild it with `bedside index`"
        )


class IndexChangedError(IndexStoreError):
    """A file (or table) of an index no longer matches the hash its manifest records."""

    def __init__(self, changed: str, message: str) -> None:
        self.changed = changed  # the file's path (a table's name for the postgres backend)
        super().__init__(message)


class _Verifier:
    """Reads the files of an index and checks each against the manifest's sha256."""

    def __init__(self, index_dir: Path, manifest: IndexManifest) -> None:
        self.dir = index_dir
        self.manifest = manifest
        self.checked: set[str] = set()

    def refuse(self, name: str, what: str) -> IndexChangedError:
        return IndexChangedError(
            str(self.dir / name),
            f"{self.dir / name} {what}: the index was changed after it was built; "
            "rebuild it with `bedside index`",
        )

    def _check(self, name: str, sha256: str) -> None:
        recorded = self.manifest.files.get(name)
        if recorded is None:
            raise self.refuse(name, "is not in the manifest")
        if recorded.sha256 != sha256:
            raise self.refuse(name, "does not match the sha256 in its manifest")
        self.checked.add(name)

    def read(self, name: str) -> bytes:
        """The file's bytes, verified."""
        data = (self.dir / name).read_bytes()
        self._check(name, hashlib.sha256(data).hexdigest())
        return data

    def check_file(self, name: str) -> None:
        self._check(name, _sha256(self.dir / name))

    def check_rest(self) -> None:
        """Every file the manifest lists and no read has checked yet (bm25/)."""
        for name in sorted(set(self.manifest.files) - self.checked):
            self.check_file(name)


def _jsonl_rows(data: bytes) -> list[dict[str, Any]]:
    # "\n" only: json.dumps(ensure_ascii=False) leaves U+2028 and U+0085 inside strings.
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line.strip()]


def _verifier(index_dir: Path, embedder: Embedder | None) -> tuple[Path, IndexManifest, _Verifier]:
    """The index's resolved path, its manifest (checked against ``embedder``) and what
    verifies its files against it."""
    index_dir = index_dir.expanduser().resolve()
    manifest = read_manifest(index_dir)
    if embedder is not None:
        check_embedder(manifest, embedder, index_dir)
    return index_dir, manifest, _Verifier(index_dir, manifest)


def _verified_chunks(files: _Verifier, manifest: IndexManifest) -> bytes:
    """The chunk file's bytes, refused unless their root hash is the manifest's."""
    data = files.read(CHUNKS)
    if lines_root(data) != manifest.chunks_root:
        raise files.refuse(CHUNKS, "does not match the chunk root hash in its manifest")
    return data


def verify_index(index_dir: Path, embedder: Embedder | None = None) -> IndexManifest:
    """Check an index against its manifest without loading it (every file's sha256, the
    chunk root, the embedder): what a server checks once before its workers open it."""
    index_dir, manifest, files = _verifier(index_dir, embedder)
    try:
        _verified_chunks(files, manifest)
        files.check_rest()
    except OSError as exc:
        raise IndexStoreError(f"cannot read the index in {index_dir}: {exc}") from exc
    return manifest


def open_index(index_dir: Path, embedder: Embedder | None = None) -> LoadedIndex:
    """Load and verify an index; raises IndexStoreError/StaleIndexError with what to do."""
    index_dir, manifest, files = _verifier(index_dir, embedder)
    try:
        chunk_bytes = _verified_chunks(files, manifest)
        chunks = [
            Chunk(r["id"], r["doc_id"], r["text"], r["start"], r["end"], tuple(r["section_path"]))
            for r in _jsonl_rows(chunk_bytes)
        ]
        docs = {r["id"]: DocumentInfo(**r) for r in _jsonl_rows(files.read(DOCUMENTS))}
        # The vectors are verified, then memory-mapped so that serving processes share
        # their pages; bm25s reads its own files, verified the same way.
        files.check_file(DENSE)
        dense = DenseIndex.load(index_dir / DENSE, manifest.dense_kind)
        files.check_rest()
        bm25 = BM25Index.load(index_dir / BM25_DIR, len(chunks))
    except IndexStoreError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise IndexStoreError(
            f"index at {index_dir} cannot be read ({exc}); rebuild it with `bedside index`"
        ) from exc
    if not (
        len(chunks) == dense.size == manifest.counts.chunks
        and len(docs) == manifest.counts.documents
    ):
        raise IndexStoreError(
            f"index at {index_dir} is inconsistent (manifest {manifest.counts.chunks} chunks, "
            f"store {len(chunks)}, dense {dense.size}); rebuild it with `bedside index`"
        )
    return LoadedIndex(index_dir, manifest, chunks, docs, dense, bm25)


def no_longer_matches(changed: str, rebuild: str) -> str:
    """What a server says when the index it serves changed under it."""
    return (
        f"the index no longer matches its manifest: {changed} changed; rebuild it with "
        f"`{rebuild}` and restart `bedside serve`"
    )


def check_same_digest(served: IndexManifest, current: IndexManifest) -> None:
    """Refuse when the manifest now recorded is not the one the server verified at start:
    an index whose files were edited and whose manifest was rewritten to match verifies
    against itself, but not against the digest the server started with."""
    if current.digest() != served.digest():
        raise IndexStoreError(
            f"the index is not the one this server verified at start (digest "
            f"{served.digest()}, now {current.digest()}): its manifest was rewritten or the "
            "index rebuilt; restart `bedside serve` to verify and serve the index now there"
        )


def recheck_index(index: LoadedIndex) -> IndexManifest:
    """Verify a served index again, as ``verify_index`` does at start (every file's sha256,
    the chunk root), and check the manifest on disk is still the one ``index`` was opened
    with (same digest). Raises IndexStoreError saying what changed, the file named relative
    to the index directory (the message is shown to clients); returns the manifest."""
    try:
        current = verify_index(index.path)
    except IndexChangedError as exc:
        name = Path(exc.changed).relative_to(index.path).as_posix()
        raise IndexChangedError(name, no_longer_matches(name, "bedside index")) from exc
    except IndexStoreError as exc:
        detail = str(exc).replace(f"{index.path}{os.sep}", "").replace(str(index.path), "")
        raise IndexStoreError(f"the index no longer matches its manifest: {detail}") from exc
    check_same_digest(index.manifest, current)
    return current
