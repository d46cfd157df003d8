"""Answer metrics: must-have coverage, citation exactness, number grounding, abstention,
yes/no/maybe agreement.

Must-have matcher: a statement counts as covered when every number in it appears in the
answer and at least 60% of its content words (stemmed, stopwords dropped) do. Blind spots:
it cannot see paraphrase ("blood thinner" for "anticoagulant"), negation ("do not give X"
covers "give X"), or which number belongs to which drug; a long answer covers more by
chance. It is a recall proxy to compare configurations, not a grade of clinical correctness.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from assistant.types import Answer, Citation, Statement
from corpus.structure import CELL_SEP, CONTEXT_SEP, LINE_SEP, PAIR_SEP, STEP_SEP
from retrieval.tokenize import tokenize

_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_MARKER = re.compile(r"\[\d+(?:\s*[,–-]\s*\d+)*\]")


def numbers(text: str) -> set[str]:
    out = set()
    for token in _NUMBER.findall(_MARKER.sub(" ", text)):
        if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", token):
            token = token.replace(",", "")
        token = token.replace(",", ".")
        if "." in token:
            token = token.rstrip("0").rstrip(".")
        out.add(token.lstrip("0") or "0")
    return out


def covers(statement: str, answer: str, share: float = 0.6) -> bool:
    """Whether ``answer`` covers one must-have ``statement`` (see the module docstring)."""
    if not numbers(statement) <= numbers(answer):
        return False
    words = {t for t in tokenize(statement) if not t[0].isdigit()}
    if not words:
        return True
    present = set(tokenize(answer))
    return len(words & present) / len(words) >= share


def must_have_coverage(must_have: Sequence[str], answer: str) -> float | None:
    if not must_have:
        return None
    return sum(covers(m, answer) for m in must_have) / len(must_have)


def ungrounded_numbers(
    statement: str, cited_texts: Iterable[str], facts: Iterable[float] = ()
) -> set[str]:
    """Numbers of ``statement`` found in none of ``cited_texts`` and none of the patient's
    own stated ``facts`` (an answer may repeat "weight 120 kg" without a passage saying it)."""
    allowed: set[str] = numbers(" ".join(f"{v:g}" for v in facts))
    for text in cited_texts:
        allowed |= numbers(text)
    return numbers(statement) - allowed


def precision_recall(predicted: Sequence[bool], actual: Sequence[bool]) -> tuple[float, float]:
    tp = sum(p and a for p, a in zip(predicted, actual, strict=True))
    fp = sum(p and not a for p, a in zip(predicted, actual, strict=True))
    fn = sum(a and not p for p, a in zip(predicted, actual, strict=True))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall


# ------------------------------------------------------------------ one answer
# The per-answer measures shared by `bedside eval` (evals/runner.py) and
# `python -m evals.answer_quality`.

_NEGATION = re.compile(
    r"\b(?:no|not|none|neither|nor|never|without|cannot|unlikely|lack|lacks|lacked|absence|"
    r"failed|fails|fail)\b|n't\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class AnswerScore:
    """What one guarded answer scores; counts, so sets can be pooled."""

    must_have: float | None  # None: the question has no must-have statements
    citations: int
    citations_exact: int  # quote is a verbatim substring of its chunk at its offsets
    numbers: int  # numbers in shown statements
    numbers_ungrounded: int  # ... not found in any passage the statement cites
    shown: int  # statements shown (bottom line included)
    label: str  # yes / no / maybe read from the answer (see yes_no_maybe)
    top_doc: str | None  # the document the bottom line cites first


def shown_statements(answer: Answer) -> list[Statement]:
    """The bottom line and the statements shown (withheld ones are not)."""
    return ([answer.bottom_line] if answer.bottom_line else []) + list(answer.statements)


JOINERS = frozenset({"", CONTEXT_SEP, CELL_SEP, PAIR_SEP, STEP_SEP, LINE_SEP})


def citation_exact(citation: Citation, chunk_text: str | None = None) -> bool:
    """The quote is non-empty and stands verbatim at its offsets in the chunk it names.

    ``chunk_text`` is that chunk as the index stores it (looked up by chunk id); without it
    the passage the answer carries is used.
    """
    text = citation.passage.chunk.text if chunk_text is None else chunk_text
    quote = citation.quote
    if citation.parts:
        # A unit quoted with its context: every piece is the chunk's own characters, joined
        # only by the structure model's fixed punctuation.
        pieces = "".join(sep + text[a:b] for a, b, sep in citation.parts)
        return (
            bool(quote.strip())
            and pieces == quote
            and all(0 <= a < b <= len(text) and sep in JOINERS for a, b, sep in citation.parts)
        )
    return bool(quote.strip()) and text[citation.quote_start : citation.quote_end] == quote


def yes_no_maybe(answer: Answer) -> str:
    """A yes/no/maybe reading of an extractive answer, for agreement with ``answer_label``.

    The extractive generator quotes sentences; it never says yes or no. The rule is simple
    on purpose: an abstention (or an answer with nothing shown) reads "maybe", a bottom line
    with a negation cue (no, not, without, failed, n't, ...) reads "no", anything else "yes".
    It misses double negatives, hedges ("may reduce") and a lead sentence that answers a
    different part of the question; read it next to the majority-class baseline.
    """
    if answer.abstained or answer.bottom_line is None:
        return "maybe"
    return "no" if _NEGATION.search(answer.bottom_line.text) else "yes"


def score_answer(
    answer: Answer,
    must_have: Sequence[str] = (),
    chunk_text: Callable[[str], str] | None = None,
) -> AnswerScore:
    """``chunk_text`` maps a chunk id to its text in the index ("" when the index has no
    such chunk), for citation exactness; without it the answer's own passages are used."""
    shown = shown_statements(answer)
    text = "\n".join(s.text for s in shown)
    by_number: dict[int, list[str]] = {}
    for c in answer.citations:
        by_number.setdefault(c.number, []).append(c.passage.chunk.text)
    total = bad = 0
    facts = answer.frame.patient.stated_values() if answer.frame is not None else ()
    for s in shown:
        cited = [t for n in s.citations for t in by_number.get(n, [])]
        total += len(numbers(s.text))
        bad += len(ungrounded_numbers(s.text, cited, facts))
    top_doc = None
    if answer.bottom_line and answer.bottom_line.citations:
        first = answer.bottom_line.citations[0]
        top_doc = next((c.passage.doc.id for c in answer.citations if c.number == first), None)
    return AnswerScore(
        must_have=must_have_coverage(must_have, text),
        citations=len(answer.citations),
        citations_exact=sum(
            citation_exact(c, chunk_text(c.passage.chunk.id) if chunk_text else None)
            for c in answer.citations
        ),
        numbers=total,
        numbers_ungrounded=bad,
        shown=len(shown),
        label=yes_no_maybe(answer),
        top_doc=top_doc,
    )
