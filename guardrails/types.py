"""Guard value types: what was found in an answer, and the verdict on it.

A blocked answer is a Verdict with block findings, never an exception.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["block", "warn", "info"]
SEVERITIES: tuple[str, ...] = ("block", "warn", "info")
Route = Literal["iv", "sc", "po", "im"]
Phase = Literal["bolus", "infusion", "maintenance", "loading", "initial"]


@dataclass(frozen=True, slots=True)
class Amount:
    """A dose amount as written, normalised: ``low``–``high`` of ``unit`` (a pint unit
    expression such as ``"mg"``, ``"microgram"``, ``"USP_unit"``), optionally per kg of body
    weight and per unit of time (a rate)."""

    low: float
    high: float
    unit: str
    per_kg: bool = False
    per_time: Literal["min", "h", "day"] | None = None

    def describe(self) -> str:
        value = f"{self.low:g}" if self.low == self.high else f"{self.low:g}–{self.high:g}"
        suffix = ("/kg" if self.per_kg else "") + (f"/{self.per_time}" if self.per_time else "")
        return f"{value} {self.unit}{suffix}"


@dataclass(frozen=True, slots=True)
class DoseMention:
    """One dose stated in an answer, with everything the sentence says about it."""

    drug: str | None  # canonical generic name, None when no known drug is near
    amount: Amount
    span: tuple[int, int]  # the amount as written, offsets into the checked text
    sentence: tuple[int, int]  # the sentence it stands in
    interval_h: float | None = None  # hours between doses: q12h and BID -> 12, once daily -> 24
    route: Route | None = None
    phase: Phase | None = None
    is_max: bool = False  # "maximum", "not exceeding", "up to"
    weight_kg: float | None = None  # "80 mg for an 80 kg patient": the weight it was computed for
    total: Amount | None = None  # ... and the computed total as written
    single_dose: bool = False  # "once", "a single 30 mg bolus": one dose, so no interval
    count: float | None = None  # "two 2.5 g vials": amount is count x the strength written
    # Drugs named with their own amounts in other cells of the table row ("| Examplamab
    # <= 10 mg | 400 mg IV |"), nearest first: what the patient took, not this amount's drug
    # (``drug`` is then None); the caller reads the drug from the table's headers, caption or
    # headings, and takes the first of these only where those name none.
    set_aside: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Unparsed:
    """A number next to a known drug that could not be read as a dose (fail closed)."""

    drug: str
    span: tuple[int, int]
    sentence: tuple[int, int]
    reason: str


@dataclass(frozen=True, slots=True)
class SourceText:
    """A passage with what it stands under: the guard resolves a sentence's drug, indication
    and phase from what precedes it here, then the heading path, then the title."""

    text: str
    title: str = ""
    section_path: tuple[str, ...] = ()
    doc_id: str = ""
    chunk_id: str = ""
    # the product names its document goes by, each with the drugs the corpus says it is
    # (``guardrails.products``): "Vafseo" -> ("vadadustat",)
    products: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class Subject:
    """What a stretch of text is about, and where that was read."""

    drugs: tuple[str, ...]  # canonical names, nearest first; empty when none was found
    indications: frozenset[str]
    phase: Phase | None
    how: str  # "sentence", "bullet list", "table header", "previous sentence", "heading", ...


@dataclass(frozen=True, slots=True)
class Source:
    """Where the expected value of a finding is stated: a pack document and its exact words
    (chunk_id when the guard knows the passage)."""

    doc_id: str
    quote: str
    chunk_id: str = ""

    def to_json(self) -> dict[str, str]:
        return {"doc_id": self.doc_id, "chunk_id": self.chunk_id, "quote": self.quote}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem (or note) about a span of the checked text."""

    rule_id: str
    severity: Severity
    span: tuple[int, int]
    text: str  # the span's text
    message: str  # for a clinician: what is wrong and what the reference says
    expected: str | None = None  # e.g. "2 mcg/kg/min (max 10 mcg/kg/min)"
    citation: str | None = None  # transition: 'doc: “quote”'; read ``source`` instead
    sentence: tuple[int, int] | None = None
    source: Source | None = None  # the pack document and words that state the expected value
    drug: str | None = None  # the drug the finding is about, as resolved
    drug_from: str | None = None  # how it was resolved: "sentence", "previous sentence", ...

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "span": {"start": self.span[0], "end": self.span[1], "text": self.text},
            "message": self.message,
            "expected": self.expected,
            "citation": self.citation,
        }

    def to_json_full(self) -> dict[str, Any]:
        """``to_json`` with the typed source and the resolved drug (and how it was found)."""
        return {
            **self.to_json(),
            "source": self.source.to_json() if self.source else None,
            "drug": self.drug,
            "drug_from": self.drug_from,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The guard's decision: ``allowed`` is False iff any finding blocks."""

    findings: tuple[Finding, ...] = ()
    checked_doses: int = 0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def reference_digest(self) -> str:
        """The digest of the dose reference this verdict was judged by."""
        return str(self.meta.get("reference_digest", ""))

    @property
    def allowed(self) -> bool:
        return not any(f.severity == "block" for f in self.findings)

    def by_severity(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity == severity]
