"""Bundled pack format: one Markdown file per document, YAML front matter first.

The front matter names the primary source (url, DOI or PMID) and the review status; the
body is the document text. See docs/PACK.md for the format.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from corpus.loaders.base import LoadResult, Problem
from corpus.types import Document, SourceType
from corpus.yamlio import load_yaml

PACKS_DIR = Path(__file__).resolve().parent.parent / "packs"
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*\r?\n", re.DOTALL)
_IGNORED = {"README.md"}


class PackFrontMatter(BaseModel):
    """Front matter of a pack document; every field is required unless marked optional."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="slug; equals the file name")
    title: str = Field(min_length=1)
    source_type: SourceType
    organization: str = Field(min_length=1)
    year: int = Field(ge=1900, le=2100)
    url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    doi: str | None = Field(default=None, pattern=r"^10\.\d{4,9}/\S+$")
    pmid: str | None = Field(default=None, pattern=r"^\d{1,9}$")
    sources: list[str] = Field(min_length=1)
    review_status: str = Field(min_length=1)
    last_reviewed: date
    license: str = Field(min_length=1)

    @model_validator(mode="after")
    def _has_primary_source(self) -> PackFrontMatter:
        if not (self.url or self.doi or self.pmid):
            raise ValueError("needs a primary source reference: url, doi or pmid")
        return self

    def resolved_url(self) -> str:
        if self.url:
            return self.url
        if self.doi:
            return f"https://doi.org/{self.doi}"
        return f"https://pubmed.ncbi.nlm.nih.gov/{self.pmid}/"


def parse_pack_file(path: Path) -> Document:
    """Parse one pack document; raises RecordError-like ValueError text via load_pack."""
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise ValueError("binary file, not Markdown text")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text (byte {exc.start})") from exc
    match = _FRONT.match(text)
    if not match:
        raise ValueError("missing YAML front matter (a '---' block at the top)")
    try:
        data = load_yaml(match.group(1))
    except yaml.YAMLError as exc:
        raise ValueError(f"front matter is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("front matter must be a mapping of fields")
    fm = PackFrontMatter.model_validate(data)
    if fm.id != path.stem:
        raise ValueError(f"id {fm.id!r} must equal the file name {path.stem!r}")
    body = text[match.end() :].strip("\n")
    if not body.strip():
        raise ValueError("document body is empty")
    return Document(
        id=fm.id,
        title=fm.title,
        text=body,
        source_type=fm.source_type,
        organization=fm.organization,
        year=fm.year,
        url=fm.resolved_url(),
        license=fm.license,
        section=None,
        review_status=fm.review_status,
        meta={
            "doi": fm.doi,
            "pmid": fm.pmid,
            "sources": list(fm.sources),
            "last_reviewed": fm.last_reviewed.isoformat(),
            "file": path.name,
        },
    )


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "front matter"
        parts.append(f"field {loc!r}: {err['msg']}")
    return "; ".join(parts)


def load_pack(path: Path) -> LoadResult:
    """Load every ``*.md`` document of a pack directory (or one file)."""
    result = LoadResult()
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name not in _IGNORED)
    else:
        result.problems.append(Problem(str(path), "pack directory does not exist"))
        return result
    for file in files:
        if file.name.startswith((".", "_")):
            continue
        result.files_read += 1
        if file.suffix != ".md":
            result.problems.append(Problem(str(file), "not a Markdown (.md) file; skipped"))
            continue
        try:
            result.documents.append(parse_pack_file(file))
        except ValidationError as exc:
            result.problems.append(Problem(str(file), _validation_message(exc)))
        except (ValueError, OSError) as exc:
            result.problems.append(Problem(str(file), str(exc)))
    return result


def load_bundled_packs() -> LoadResult:
    """All packs shipped inside the installed ``corpus`` package."""
    result = LoadResult()
    for pack in sorted(p for p in PACKS_DIR.iterdir() if p.is_dir()) if PACKS_DIR.exists() else []:
        result.extend(load_pack(pack))
    return result
