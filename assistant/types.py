"""Assistant value types.

A generator returns a ``Draft`` (text with [n] markers and the citations it used). Only
``pipeline.ask`` turns a Draft into an ``Answer``, after the guard has checked it: an
Answer cannot be built without a Verdict, so a display path that skips the guard does not
type-check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from guardrails.types import Verdict
from retrieval.types import Passage

if TYPE_CHECKING:
    from assistant.cards import DoseCard
    from assistant.evidence import Coverage
    from assistant.frame import Frame

SectionKind = Literal["institution", "guideline", "label", "research", "reference"]
Audience = Literal["clinician", "patient"]
SECTION_TITLES: dict[str, str] = {
    "institution": "From Local Protocols",
    "guideline": "From the Guidelines",
    "label": "From the FDA Drug Label",
    "research": "From the Research",
    "reference": "From Reference Sources",
}
SECTION_ORDER: tuple[SectionKind, ...] = (
    "institution",
    "guideline",
    "label",
    "research",
    "reference",
)


@dataclass(frozen=True, slots=True)
class Turn:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Citation:
    """Citation ``number`` [n] -> an exact quote of a retrieved passage."""

    number: int
    passage: Passage
    quote_start: int  # offsets into passage.chunk.text
    quote_end: int
    # A unit quoted with its context (a table row with its column headers, a list item with
    # its lead-in): each piece's offsets into passage.chunk.text and the fixed joiner before
    # it. Empty for a contiguous quote (quote_start..quote_end).
    parts: tuple[tuple[int, int, str], ...] = ()

    @property
    def page(self) -> int | None:
        """The page of a paged source (a PDF) the quote starts on; None for other sources."""
        pages = self.passage.doc.meta.get("pages")
        if not pages:
            return None
        at = self.passage.chunk.start + self.quote_start
        return int(max((p for p in pages if p[0] <= at), default=pages[0])[1])

    @property
    def quote(self) -> str:
        text = self.passage.chunk.text
        if self.parts:
            return "".join(sep + text[a:b] for a, b, sep in self.parts)
        return text[self.quote_start : self.quote_end]

    def to_json(self) -> dict[str, Any]:
        d = self.passage.doc
        return {
            "number": self.number,
            "chunk_id": self.passage.chunk.id,
            "doc_id": d.id,
            "title": d.title,
            "organization": d.organization,
            "year": d.year,
            "section": " > ".join(self.passage.chunk.section_path) or d.section,
            "source_type": d.source_type,
            "url": d.url,
            "review_status": d.review_status,
            "status": d.meta.get("status"),
            "review_by": d.meta.get("review_by"),
            "page": self.page,
            "quote": self.quote,
            "quote_start": self.quote_start,
            "quote_end": self.quote_end,
            "parts": [{"start": a, "end": b, "joiner": sep} for a, b, sep in self.parts],
        }


@dataclass(frozen=True, slots=True)
class Statement:
    """One sentence or bullet of an answer, with the citation numbers it carries."""

    text: str  # without markers
    citations: tuple[int, ...]
    section: SectionKind
    task: str = ""  # the clinical task it serves (assistant/evidence.py task ids)
    computed: bool = False  # composed by Bedside from cited reference data, not a quote
    # The writer gave no (valid) marker: Bedside cited the passage sentence that supports it.
    attributed: bool = False

    @property
    def raw(self) -> str:
        return f"{self.text} " + "".join(f"[{n}]" for n in self.citations)


@dataclass(frozen=True, slots=True)
class Draft:
    """A generator's output, before the guard."""

    statements: tuple[Statement, ...]
    citations: tuple[Citation, ...]
    bottom_line: Statement | None = None
    generator: str = ""
    notes: tuple[str, ...] = ()  # e.g. citation problems the generator found

    @property
    def raw_text(self) -> str:
        """The text the guard checks, one statement per line, with [n] markers."""
        lines = [self.bottom_line.raw] if self.bottom_line else []
        return "\n".join(lines + [s.raw for s in self.statements])


# Why a statement was withheld: no source supports it (no citation, a marker naming no
# passage given, or a cited quote that does not say it), or the dose check blocked it.
WithheldWhy = Literal["unsupported", "dose_check"]


@dataclass(frozen=True, slots=True)
class Withheld:
    """A statement the guard blocked, and what is shown instead."""

    statement: Statement
    reasons: tuple[str, ...]
    replacement: str | None  # the reference statement with its source, when there is one
    why: WithheldWhy = "dose_check"


@dataclass(frozen=True, slots=True)
class Answer:
    """A guarded, displayable answer."""

    answer_id: str
    question: str
    standalone_query: str
    audience: Audience
    verdict: Verdict  # required: no Answer without the guard
    markdown: str
    raw_text: str
    bottom_line: Statement | None
    statements: tuple[Statement, ...]  # shown (withheld ones removed)
    withheld: tuple[Withheld, ...]
    citations: tuple[Citation, ...]
    passages: tuple[Passage, ...]
    related_questions: tuple[str, ...]
    abstained: bool
    abstention_reason: str | None
    disclaimer: str
    review_status: str
    generator: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    settings_digest: str = ""
    index_digest: str = ""
    frame: Frame | None = None  # what Bedside understood the question to ask
    coverage: Coverage | None = None  # whether the corpus covers the asked drug for that use
    dose_card: DoseCard | None = None  # the regimen computed for this patient
    # Which local protocol the answer follows, drafts and overdue reviews among its sources
    source_notices: tuple[str, ...] = ()
    # What the generator said about its own draft: cut off, context fitted, markers
    # missing or attributed, fell back to extraction
    notes: tuple[str, ...] = ()
