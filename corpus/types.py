"""Corpus value types: a Document as loaded, a Chunk as indexed.

Values crossing package boundaries are frozen dataclasses; anything parsed from disk is
validated by pydantic in the loaders first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

# "institution": the hospital's own protocols and order sets (a ``dir:`` source).
SourceType = Literal["institution", "guideline", "label", "research", "reference"]
SOURCE_TYPES: tuple[str, ...] = ("institution", "guideline", "label", "research", "reference")
# The order in which source types take precedence when more than one answers (the
# ``corpus.priority`` setting's default): the hospital's own protocols first.
DEFAULT_PRIORITY: tuple[SourceType, ...] = (
    "institution",
    "guideline",
    "label",
    "research",
    "reference",
)


@dataclass(frozen=True, slots=True)
class Document:
    """One source text: a pack document, a label section, an abstract, a guideline."""

    id: str
    title: str
    text: str
    source_type: SourceType
    organization: str | None = None
    year: int | None = None
    url: str | None = None
    license: str | None = None
    section: str | None = None
    review_status: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A contiguous span of a document's text: ``doc.text[start:end] == chunk.text``."""

    id: str
    doc_id: str
    text: str
    start: int
    end: int
    section_path: tuple[str, ...] = ()

    @staticmethod
    def make_id(doc_id: str, start: int, end: int) -> str:
        return f"{doc_id}#{start}-{end}"


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A document's citation metadata without its text (what an index keeps per document)."""

    id: str
    title: str
    source_type: SourceType
    organization: str | None = None
    year: int | None = None
    url: str | None = None
    license: str | None = None
    section: str | None = None
    review_status: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @staticmethod
    def of(doc: Document) -> DocumentInfo:
        return DocumentInfo(
            id=doc.id,
            title=doc.title,
            source_type=doc.source_type,
            organization=doc.organization,
            year=doc.year,
            url=doc.url,
            license=doc.license,
            section=doc.section,
            review_status=doc.review_status,
            meta=doc.meta,
        )
