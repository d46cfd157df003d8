"""What Bedside knows: the documents of the served index as the people who keep them check
them, and one document read back section by section.

    library_entries(retriever, today) -> list[LibraryEntry]
    document_view(retriever, doc_id) -> DocumentView

Everything is read from the index through the retriever's interface (``documents``,
``document``, ``chunks_of``), so the library shows what answers are drawn from, not what a
source folder holds now. A document's status is its ``meta["status"]`` (a protocol folder's
draft | approved | retired) or else its ``review_status`` (packs, open-medicine); its
review-by date is ``meta["review_by"]``, and a date that is past (or cannot be read) marks
it overdue. Dose statements are the sentences of its chunks in which the guard's own
extraction (``guardrails.extraction.extract``) finds a dose, or a number next to a drug it
cannot read as one: what the guard would check if an answer quoted them.

A document's sections are its chunks grouped by heading path in text order: the text the
index holds, so a section reads as indexed. A chunk opens with the heading lines it stands
under; those are the section's path, so a section's text starts after them
(``body_start``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from assistant.provenance import overdue_since, review_by
from corpus.loaders.converted import page_at
from corpus.types import Chunk, DocumentInfo
from guardrails.extraction import extract
from retrieval.protocols import Retriever

# The source type of a hospital's own protocols (``corpus.loaders.folder``), listed first.
LOCAL_TYPE = "institution"
# The longest quote looked for in a document (a cited unit is a sentence, a row, an item).
MAX_QUOTE_CHARS = 2000
# The Markdown heading lines (and blank lines) a chunk opens with.
_LEADING_HEADINGS = re.compile(r"(?:[ \t]*(?:#{1,6}[ \t][^\n]*)?\n)*")


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    """One indexed document as the library lists it."""

    doc_id: str
    title: str
    organisation: str | None
    year: int | None
    source_type: str
    status: str | None
    review_by: str | None  # the review-by date as recorded (ISO when it could be read)
    overdue: bool  # the review-by date is past, or recorded but unreadable (fail closed)
    chunks: int
    dose_statements: int

    def to_json(self) -> dict[str, Any]:
        return {
            "doc_id": self.doc_id,
            "title": self.title,
            "organisation": self.organisation,
            "year": self.year,
            "source_type": self.source_type,
            "status": self.status,
            "review_by": self.review_by,
            "overdue": self.overdue,
            "chunks": self.chunks,
            "dose_statements": self.dose_statements,
        }


def document_status(doc: DocumentInfo) -> str | None:
    """A protocol's recorded status, else the document's review status."""
    status = doc.meta.get("status")
    return str(status) if status else doc.review_status


def review_state(doc: DocumentInfo, today: date) -> tuple[str | None, bool]:
    """The review-by date as recorded (ISO when it could be read) and whether it is past;
    a date recorded that cannot be read counts as past (fail closed)."""
    written = doc.meta.get("review_by")
    if not written:
        return None, False
    due = review_by(doc)
    if due is None:  # recorded but not a date: nobody can say it is still in review
        return str(written), True
    return due.isoformat(), overdue_since(doc, today) is not None


def dose_statements(texts: Iterable[str]) -> int:
    """The sentences of ``texts`` that state a dose, as the guard reads them: a dose it
    extracts, or a number next to a drug that it cannot read as one."""
    count = 0
    for text in texts:
        mentions, unparsed = extract(text)
        count += len({m.sentence for m in mentions} | {u.sentence for u in unparsed})
    return count


def library_entries(retriever: Retriever, today: date) -> list[LibraryEntry]:
    """Every document of the served index with its status, review-by date (overdue against
    ``today``), chunk count and dose statements: the hospital's own protocols first, then
    by title (``listing_order``)."""
    entries = []
    for doc in retriever.documents():
        chunks = retriever.chunks_of(doc.id)
        due, overdue = review_state(doc, today)
        entries.append(
            LibraryEntry(
                doc_id=doc.id,
                title=doc.title,
                organisation=doc.organization,
                year=doc.year,
                source_type=doc.source_type,
                status=document_status(doc),
                review_by=due,
                overdue=overdue,
                chunks=len(chunks),
                dose_statements=dose_statements(c.text for c in chunks),
            )
        )
    return sorted(entries, key=listing_order)


def listing_order(entry: LibraryEntry) -> tuple[bool, str, str]:
    """Local protocols (source type ``institution``) before every other document, then by
    title (case-insensitive), then by id: the ones a hospital wrote are the ones it looks
    for first."""
    return (entry.source_type != LOCAL_TYPE, entry.title.casefold(), entry.doc_id)


def source_types(entries: Iterable[LibraryEntry]) -> list[str]:
    """The source types the entries hold, local protocols first, then alphabetical."""
    return sorted({e.source_type for e in entries}, key=lambda t: (t != LOCAL_TYPE, t))


def filter_entries(
    entries: Sequence[LibraryEntry], query: str, source_type: str = ""
) -> list[LibraryEntry]:
    """The entries of ``source_type`` (every type when empty) whose title, id, organisation,
    type or status contains every word of ``query`` (case-insensitive); all of them for an
    empty query."""
    if source_type:
        entries = [e for e in entries if e.source_type == source_type]
    words = query.lower().split()
    if not words:
        return list(entries)

    def haystack(e: LibraryEntry) -> str:
        fields = (e.title, e.doc_id, e.organisation, e.source_type, e.status, e.review_by)
        return " ".join(f for f in fields if f).lower() + (" overdue" if e.overdue else "")

    return [e for e in entries if all(w in haystack(e) for w in words)]


# ------------------------------------------------------------------ one document


def body_start(text: str) -> int:
    """Where a chunk's text starts after the heading lines (and blank lines) it opens with;
    0 when it opens with text."""
    at = _LEADING_HEADINGS.match(text)
    end = at.end() if at else 0
    return end if end < len(text) else 0  # a chunk that is all heading stays as it is


@dataclass(frozen=True, slots=True)
class Section:
    """A run of a document's chunks under one heading path, in text order."""

    path: tuple[str, ...]
    chunks: tuple[Chunk, ...]

    @property
    def text(self) -> str:
        """The section's text as indexed, without the heading lines its path names."""
        return "\n\n".join(c.text[body_start(c.text) :] for c in self.chunks)


@dataclass(frozen=True, slots=True)
class Highlight:
    """A passage to mark: ``chunk.text[start:end]``, on ``page`` of the file when known."""

    chunk: Chunk
    start: int
    end: int
    page: int | None


@dataclass(frozen=True, slots=True)
class DocumentView:
    """A document read back from its chunks: citation data and sections in text order."""

    doc: DocumentInfo
    sections: tuple[Section, ...]

    @property
    def text_by_section(self) -> dict[str, str]:
        """Heading path (joined by " > ") -> its text; a path met again later adds on."""
        out: dict[str, str] = {}
        for s in self.sections:
            key = " > ".join(s.path)
            out[key] = f"{out[key]}\n\n{s.text}" if key in out else s.text
        return out

    def page_of(self, offset: int) -> int | None:
        """The file page holding ``offset`` of the document's text (paged files only)."""
        pages = self.doc.meta.get("pages") or ()
        return page_at(pages, offset)

    def highlight(self, chunk_id: str | None = None, quote: str | None = None) -> Highlight | None:
        """The cited passage: ``quote`` inside the chunk ``chunk_id`` (the whole chunk when
        no quote is given or it is not found there: its text after its headings), else the first place the document
        states ``quote`` (whitespace may differ). None when neither can be found."""
        chunks = [c for s in self.sections for c in s.chunks]
        quote = (quote or "").strip()[:MAX_QUOTE_CHARS] or None
        if chunk_id is not None:
            found = next((c for c in chunks if c.id == chunk_id), None)
            if found is not None:
                span = _find(found.text, quote) if quote else None
                start, end = span or (body_start(found.text), len(found.text))
                return Highlight(found, start, end, self.page_of(found.start + start))
        if quote:
            for c in chunks:
                span = _find(c.text, quote)
                if span is not None:
                    return Highlight(c, *span, self.page_of(c.start + span[0]))
        return None


def _find(text: str, quote: str) -> tuple[int, int] | None:
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    words = quote.split()
    if not words:
        return None
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (m.start(), m.end()) if m else None


def document_view(retriever: Retriever, doc_id: str) -> DocumentView:
    """The document ``doc_id`` as indexed; KeyError naming it when the index has none."""
    doc = retriever.document(doc_id)
    sections: list[Section] = []
    run: list[Chunk] = []
    for chunk in retriever.chunks_of(doc_id):
        if run and chunk.section_path != run[-1].section_path:
            sections.append(Section(run[-1].section_path, tuple(run)))
            run = []
        run.append(chunk)
    if run:
        sections.append(Section(run[-1].section_path, tuple(run)))
    return DocumentView(doc, tuple(sections))
