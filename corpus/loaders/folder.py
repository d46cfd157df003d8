"""A hospital's protocol folder as a corpus source: ``dir:PATH``.

Every supported file under PATH (PDF, Word ``.docx``, HTML, Markdown, plain text) is read
into the structure model's Markdown by its reader (``corpus.loaders.converted``). What the
file does not say — who owns it, whether it is approved, when it must be reviewed again —
comes from an optional ``library.yaml`` in PATH (docs/CORPUS.md):

```yaml
defaults:                       # optional: applies to every file
  organisation: Example Hospital
documents:
  anticoagulation/heparin-infusion.pdf:   # path relative to PATH
    title: Unfractionated heparin infusion
    owner: Pharmacy and Therapeutics Committee
    status: approved            # draft | approved | retired
    approved: 2025-03-01
    review_by: 2027-03-01
    jurisdiction: Example Health Board
```

A retired document is not indexed. A file that has no status (its own or the folder's
default) is a draft (its approval is not recorded): it is indexed and marked, and used
only where drafts are allowed (``corpus.allow_drafts``). A library.yaml that cannot be
read (bad YAML, an unknown field, a date that is no date) stops the whole folder with an
error naming the file and the field: the index already built is kept. The status, owner, dates, file name, file digest and
pages travel in ``Document.meta`` (``ProtocolMeta``), so answers and the library read them
from the index.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus.errors import CorpusError
from corpus.loaders.base import LoadResult, Problem
from corpus.loaders.converted import Converted, UnreadableFileError
from corpus.types import Document, SourceType

LIBRARY_FILE = "library.yaml"
Status = Literal["draft", "approved", "retired"]
STATUSES: tuple[str, ...] = ("draft", "approved", "retired")


def _read_markdown(path: Path) -> Converted:
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise UnreadableFileError(path, "binary file, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFileError(path, f"not UTF-8 text (byte {exc.start})") from exc
    title = next((m.group(1).strip() for m in re.finditer(r"^#{1,6}[ \t]+(.+)$", text, re.M)), None)
    return Converted(text=text.replace("\r\n", "\n").strip("\n"), title=title)


def _read_pdf(path: Path) -> Converted:
    from corpus.loaders.pdf import read_pdf

    return read_pdf(path)


def _read_docx(path: Path) -> Converted:
    from corpus.loaders.docx import read_docx

    return read_docx(path)


def _read_html(path: Path) -> Converted:
    from corpus.loaders.html import read_html

    return read_html(path)


READERS: dict[str, Callable[[Path], Converted]] = {
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".html": _read_html,
    ".htm": _read_html,
    ".md": _read_markdown,
    ".markdown": _read_markdown,
    ".txt": _read_markdown,
}


class LibraryEntry(BaseModel):
    """What library.yaml says of one file (or, under ``defaults``, of every file)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    title: str | None = Field(default=None, min_length=1)
    organisation: str | None = Field(default=None, min_length=1)
    owner: str | None = Field(default=None, min_length=1)
    status: Status | None = None
    approved: date | None = None
    review_by: date | None = None
    jurisdiction: str | None = Field(default=None, min_length=1)
    source_type: SourceType | None = None
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class Library(BaseModel):
    """The whole ``library.yaml``."""

    model_config = ConfigDict(extra="forbid")

    defaults: LibraryEntry = Field(default_factory=LibraryEntry)
    documents: dict[str, LibraryEntry] = Field(default_factory=dict)


class ProtocolMeta(BaseModel):
    """The ``meta`` of a protocol document: what the library page, the answer's notices
    and the incremental build read back from the index."""

    model_config = ConfigDict(extra="forbid")

    file: str
    sha256: str
    status: Status
    status_recorded: bool
    owner: str | None = None
    approved: date | None = None
    review_by: date | None = None
    jurisdiction: str | None = None
    pages: list[list[int]] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def read_library(folder: Path) -> Library:
    """``library.yaml`` of a folder (an empty Library when there is none); a malformed file
    raises ValueError naming the file and the field."""
    path = folder / LIBRARY_FILE
    if not path.is_file():
        return Library()
    try:
        # Every value read as written (no YAML dates or numbers): the model parses them,
        # so a date that is no date is named with its field.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if isinstance(data, dict):
        # A key written with nothing under it ("defaults:", "documents:", a file named
        # with no fields) says nothing.
        data = {k: v for k, v in data.items() if v != ""}
        if isinstance(data.get("documents"), dict):
            data["documents"] = {f: ({} if v == "" else v) for f, v in data["documents"].items()}
    try:
        return Library.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "file"
        raise ValueError(f"{path}: field {loc!r}: {err['msg']}") from exc


def _slug(relative: str) -> str:
    stem = relative.rsplit(".", 1)[0] if "." in relative.rsplit("/", 1)[-1] else relative
    return re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "document"


def _merged(defaults: LibraryEntry, own: LibraryEntry | None) -> LibraryEntry:
    data = defaults.model_dump(exclude_none=True, exclude={"id", "title", "url"})
    if own is not None:
        data.update(own.model_dump(exclude_none=True))
    return LibraryEntry.model_validate(data)


def _review_status(entry: LibraryEntry, recorded: bool) -> str:
    if not recorded:
        return "draft: approval not recorded in library.yaml"
    if entry.status == "draft":
        return "draft: not yet approved"
    who = f" by {entry.owner}" if entry.owner else ""
    when = f" on {entry.approved.isoformat()}" if entry.approved else ""
    return f"approved{who}{when}"


def supported(path: Path) -> bool:
    return path.suffix.lower() in READERS and not path.name.startswith((".", "~$"))


def folder_files(folder: Path) -> list[Path]:
    """The files under ``folder`` a ``dir:`` source reads, in path order."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and supported(p)
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


def file_digest(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def load_folder(folder: Path) -> LoadResult:
    """Every supported file under ``folder`` as a Document of the institution's own
    content; a file that cannot be read is reported (named) and skipped, never indexed
    empty."""
    result = LoadResult()
    if not folder.is_dir():
        result.problems.append(Problem(str(folder), "protocol folder does not exist"))
        return result
    try:
        library = read_library(folder)
    except ValueError as exc:
        # Fail closed: without its library the folder's statuses are unknown (a retired
        # protocol would be indexed, an approved one marked a draft), so nothing of it is
        # read and the index already built is kept.
        raise CorpusError(f"{exc}; fix it and index again (the existing index was kept)") from exc
    files = folder_files(folder)
    named = {p.relative_to(folder).as_posix(): p for p in files}
    for missing in sorted(set(library.documents) - set(named)):
        result.problems.append(
            Problem(str(folder / LIBRARY_FILE), f"names {missing!r}, which is not in the folder")
        )
    ids: dict[str, str] = {}
    for relative, path in named.items():
        result.files_read += 1
        own = library.documents.get(relative)
        entry = _merged(library.defaults, own)
        recorded = entry.status is not None  # its own, or the folder's default
        status: Status = entry.status if recorded and entry.status else "draft"
        if status == "retired":
            result.problems.append(Problem(str(path), "retired in library.yaml: not indexed"))
            continue
        try:
            converted = READERS[path.suffix.lower()](path)
        except UnreadableFileError as exc:
            result.problems.append(Problem(str(path), exc.detail))
            continue
        except OSError as exc:
            result.problems.append(Problem(str(path), f"cannot be read: {exc}"))
            continue
        if not converted.text.strip():
            result.problems.append(Problem(str(path), "no text could be read; not indexed"))
            continue
        doc_id = (own.id if own and own.id else None) or _slug(relative)
        if doc_id in ids:
            result.problems.append(
                Problem(str(path), f"document id {doc_id!r} is also {ids[doc_id]!r}; skipped")
            )
            continue
        ids[doc_id] = relative
        for note in converted.notes:
            result.problems.append(Problem(str(path), note))
        if not recorded:
            result.notes.append(
                Problem(
                    str(path),
                    "no status in library.yaml: indexed as a draft, quoted only where "
                    "corpus.allow_drafts is set (give it a status to use it)",
                )
            )
        when = entry.approved or converted.modified or converted.created
        meta = ProtocolMeta(
            file=relative,
            sha256=file_digest(path),
            status=status,
            status_recorded=recorded,
            owner=entry.owner,
            approved=entry.approved,
            review_by=entry.review_by,
            jurisdiction=entry.jurisdiction,
            pages=[[a, b] for a, b in converted.pages],
            notes=list(converted.notes),
        )
        result.documents.append(
            Document(
                id=doc_id,
                title=entry.title or converted.title or path.stem,
                text=converted.text,
                source_type=entry.source_type or "institution",
                organization=entry.organisation,
                year=when.year if when else None,
                url=entry.url,
                license=None,
                section=None,
                review_status=_review_status(entry, recorded),
                meta=meta.model_dump(mode="json"),
            )
        )
    return result
