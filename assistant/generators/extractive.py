"""The default generator: query-focused extraction of exact sentences.

Every statement is a verbatim sentence of a retrieved passage, so every citation is exact and
every number is copied, never rewritten. Sentences are scored by IDF-weighted coverage of the
question's terms, the passage's retrieval rank, and whether they name the drug asked about
(and carry a dose when a dose is asked for); maximal marginal relevance then keeps distinct
sentences, so "management options" yields several options rather than one option five times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.settings import AssistantSettings
from assistant.types import SECTION_ORDER, Citation, Draft, SectionKind, Statement, Turn
from corpus.text import sentence_spans
from guardrails.extraction import find_drugs
from retrieval.tokenize import tokenize
from retrieval.types import Passage

_DOSE_QUESTION = re.compile(
    r"\b(dose|doses|dosing|dosage|how much|mg|mcg|units?|rate|infusion|bolus|regimen)\b",
    re.IGNORECASE,
)
_HAS_AMOUNT = re.compile(r"\d\s*(?:mg|mcg|µg|μg|g|units?|IU|mL)\b", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+")
_MIN_CHARS, _MAX_CHARS = 25, 700
MAX_PER_SECTION = {"guideline": 5, "label": 4, "research": 2, "reference": 4}


@dataclass(frozen=True, slots=True)
class Candidate:
    passage: Passage
    start: int  # offsets into passage.chunk.text
    end: int
    tokens: frozenset[str]
    context: frozenset[str]  # title and section headings: what the sentence is about
    drugs: frozenset[str]
    has_amount: bool

    @property
    def text(self) -> str:
        return self.passage.chunk.text[self.start : self.end]

    @property
    def section(self) -> SectionKind:
        return self.passage.doc.source_type


@dataclass(frozen=True, slots=True)
class Scored:
    candidate: Candidate
    score: float
    coverage: float  # IDF-weighted share of the question's terms the sentence contains


_MARK = r"\[\d{1,7}(?:\s*[,\u2013-]\s*\d{1,7})*\]"
# A run of bibliography markers ("[12]", "[13-15]", "[3], [4]", "[296420][7]") after a space
# or a punctuation mark and before one: "G1P[8]" or "[1,4]benzodiazepine" are words, kept.
_REFERENCE_MARKS = re.compile(rf"(?:\s+|(?<=[.,;:)])){_MARK}(?:\s*,?\s*{_MARK})*(?=[\s.,;:)]|$)")


def without_reference_marks(sentence: str) -> str:
    """A quoted sentence without its source's own bibliography markers ("... mortality [12],
    [13-15]."): in an answer they would read as Bedside's citation markers. Brackets that
    are part of a word (genotypes, chemical names) stay, and the guard then treats them as
    citation markers (fail closed). The citation still points at the exact sentence."""
    return _REFERENCE_MARKS.sub("", sentence)


def candidates(passages: Sequence[Passage]) -> list[Candidate]:
    """Readable sentences of the passages: no headings, table rows or fragments."""
    out = []
    for p in passages:
        text = p.chunk.text
        context = frozenset(tokenize(" ".join((p.doc.title, *p.chunk.section_path))))
        for start, end in sentence_spans(text):
            line = text[start:end]
            if line.startswith(("#", "|")):
                continue
            if bullet := _BULLET.match(line):
                start += bullet.end()
            if not (_MIN_CHARS <= end - start <= _MAX_CHARS):
                continue
            sentence = text[start:end]
            out.append(
                Candidate(
                    p,
                    start,
                    end,
                    frozenset(tokenize(sentence)),
                    context,
                    frozenset(name for _, _, name in find_drugs(sentence)),
                    bool(_HAS_AMOUNT.search(sentence)),
                )
            )
    return out


def score(question: str, pool: list[Candidate]) -> list[Scored]:
    terms = set(tokenize(question))
    if not terms or not pool:
        return []
    n = len(pool)
    idf = {t: math.log(1 + n / (1 + sum(t in c.tokens for c in pool))) for t in terms}
    total = sum(idf.values())
    asked_drugs = {name for _, _, name in find_drugs(question)}
    wants_dose = bool(_DOSE_QUESTION.search(question))
    out = []
    for c in pool:
        # A term in the sentence counts fully; one only in its title or heading counts half
        # ("Supplement antithrombin ..." under "Step 4: treatment options" is an option).
        coverage = (
            sum(
                w if t in c.tokens else 0.5 * w
                for t, w in idf.items()
                if t in c.tokens or t in c.context
            )
            / total
        )
        prior = 1.0 / (1.0 + 0.15 * (c.passage.rank - 1))
        value = 0.65 * coverage + 0.25 * prior
        if asked_drugs and c.drugs & asked_drugs:
            value += 0.15
        elif asked_drugs and c.drugs and wants_dose:
            value -= 0.2  # another drug's dose answers another question
        if wants_dose and c.has_amount:
            value += 0.1
        out.append(Scored(c, value, coverage))
    return sorted(out, key=lambda s: -s.score)


def _similarity(a: Candidate, b: Candidate) -> float:
    if not a.tokens or not b.tokens:
        return 0.0
    return len(a.tokens & b.tokens) / len(a.tokens | b.tokens)


def _containment(a: Candidate, b: Candidate) -> float:
    small = min(len(a.tokens), len(b.tokens))
    return len(a.tokens & b.tokens) / small if small else 0.0


def select(
    scored: list[Scored], max_statements: int, min_coverage: float, lam: float = 0.7
) -> list[Scored]:
    """Maximal marginal relevance over sentences with enough coverage of the question."""
    pool = [s for s in scored if s.coverage >= min_coverage]
    chosen: list[Scored] = []
    per_section: dict[str, int] = {}
    seen_text: set[str] = set()
    while pool and len(chosen) < max_statements:
        best = max(
            pool,
            key=lambda s: (
                lam * s.score
                - (1 - lam)
                * max((_similarity(s.candidate, c.candidate) for c in chosen), default=0.0)
            ),
        )
        pool.remove(best)
        section = best.candidate.section
        key = " ".join(best.candidate.text.lower().split())
        if per_section.get(section, 0) >= MAX_PER_SECTION[section] or key in seen_text:
            continue
        if chosen and max(_containment(best.candidate, c.candidate) for c in chosen) >= 0.95:
            continue  # says nothing a chosen sentence does not already say
        chosen.append(best)
        seen_text.add(key)
        per_section[section] = per_section.get(section, 0) + 1
    return chosen


class ExtractiveGenerator:
    """Deterministic, offline: exact sentences with exact citations."""

    name = "extractive"

    def __init__(self, settings: AssistantSettings | None = None) -> None:
        self.settings = settings or AssistantSettings()

    def generate(
        self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = ()
    ) -> Draft:
        ranked = score(question, candidates(passages))
        chosen = select(ranked, self.settings.max_statements, self.settings.min_coverage)
        if not chosen:
            return Draft(
                (),
                (),
                None,
                self.name,
                ("no sentence of the retrieved passages covers the question",),
            )
        # The bottom line comes from the strongest evidence: a guideline sentence when one
        # answers nearly as well as the best sentence, else the best sentence.
        order = {kind: i for i, kind in enumerate(SECTION_ORDER)}
        best = max(chosen, key=lambda s: s.score)
        guideline = [
            s for s in chosen if s.candidate.section == "guideline" and s.score >= 0.9 * best.score
        ]
        lead = max(guideline, key=lambda s: s.score) if guideline else best
        rest = sorted(
            (s for s in chosen if s is not lead),
            key=lambda s: (order[s.candidate.section], -s.score),
        )
        numbers: dict[str, int] = {}
        citations: list[Citation] = []

        def statement(s: Scored) -> Statement:
            c = s.candidate
            number = numbers.setdefault(c.passage.chunk.id, len(numbers) + 1)
            citations.append(Citation(number, c.passage, c.start, c.end))
            return Statement(without_reference_marks(c.text), (number,), c.section)

        bottom = statement(lead)
        statements = tuple(statement(s) for s in rest)
        return Draft(statements, tuple(citations), bottom, self.name)
