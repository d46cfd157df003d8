"""Corpus sources by kind: ``KIND`` or ``KIND:PATH`` on the command line.

Each loader returns a LoadResult; ``load_sources`` merges them and reports duplicate ids
instead of merging them silently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from corpus.errors import ConfigError
from corpus.loaders.base import LoadResult, Problem


def _pack(path: Path | None) -> LoadResult:
    from corpus.loaders.pack import load_bundled_packs, load_pack

    return load_bundled_packs() if path is None else load_pack(path)


def _jsonl(path: Path | None) -> LoadResult:
    from corpus.loaders.jsonl import load_jsonl

    assert path is not None
    return load_jsonl(path)


def _openfda(path: Path | None) -> LoadResult:
    from corpus.loaders.openfda import load_openfda

    assert path is not None
    return load_openfda(path)


def _pubmed(path: Path | None) -> LoadResult:
    from corpus.loaders.pubmed import load_pubmed

    assert path is not None
    return load_pubmed(path)


def _open_medicine(path: Path | None) -> LoadResult:
    from corpus.loaders.open_medicine import load_open_medicine

    return load_open_medicine(path)


def _folder(path: Path | None) -> LoadResult:
    from corpus.loaders.folder import load_folder

    assert path is not None
    return load_folder(path)


@dataclass(frozen=True, slots=True)
class SourceKind:
    name: str
    load: Callable[[Path | None], LoadResult]
    needs_path: bool
    help: str


SOURCE_KINDS: dict[str, SourceKind] = {
    k.name: k
    for k in (
        SourceKind("pack", _pack, False, "Markdown pack directory (no path: the bundled packs)"),
        SourceKind("jsonl", _jsonl, True, "corpus JSONL file or directory of docs.jsonl"),
        SourceKind("openfda", _openfda, True, "openFDA drug-label JSON file or directory"),
        SourceKind("pubmed", _pubmed, True, "PubMed/MEDLINE XML file or directory"),
        SourceKind(
            "open-medicine", _open_medicine, False, "guidelines of the open-medicine package"
        ),
        SourceKind(
            "dir",
            _folder,
            True,
            "a protocol folder: PDF, Word, HTML and Markdown files, with an optional "
            "library.yaml (owner, status, review-by date)",
        ),
    )
}

DEFAULT_SOURCES: tuple[str, ...] = ("pack", "open-medicine")


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: str
    path: Path | None

    def __str__(self) -> str:
        return self.kind if self.path is None else f"{self.kind}:{self.path}"


def parse_source(spec: str) -> SourceSpec:
    """Parse ``KIND`` or ``KIND:PATH``; an unknown kind names the valid ones."""
    kind, _, path = spec.partition(":")
    kind = kind.strip()
    if kind not in SOURCE_KINDS:
        valid = ", ".join(SOURCE_KINDS)
        raise ConfigError(f"unknown source kind {kind!r} in {spec!r}; valid kinds: {valid}")
    if SOURCE_KINDS[kind].needs_path and not path:
        raise ConfigError(f"source kind {kind!r} needs a path: {kind}:PATH")
    return SourceSpec(kind, Path(path).expanduser() if path else None)


def load_sources(specs: Sequence[str | SourceSpec]) -> LoadResult:
    """Load every source; a repeated document id is reported and the first one kept."""
    merged = LoadResult()
    seen: dict[str, str] = {}
    for raw in specs:
        spec = raw if isinstance(raw, SourceSpec) else parse_source(raw)
        result = SOURCE_KINDS[spec.kind].load(spec.path)
        merged.problems.extend(result.problems)
        merged.notes.extend(result.notes)
        merged.files_read += result.files_read
        for doc in result.documents:
            if doc.id in seen:
                merged.problems.append(
                    Problem(
                        str(spec),
                        f"duplicate document id {doc.id!r} (first from {seen[doc.id]}); skipped",
                    )
                )
                continue
            seen[doc.id] = str(spec)
            merged.documents.append(doc)
    return merged
