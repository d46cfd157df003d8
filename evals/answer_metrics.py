"""Answer metrics: must-have coverage, citation exactness, number grounding, abstention.

Must-have matcher: a statement counts as covered when every number in it appears in the
answer and at least 60% of its content words (stemmed, stopwords dropped) do. Blind spots:
it cannot see paraphrase ("blood thinner" for "anticoagulant"), negation ("do not give X"
covers "give X"), or which number belongs to which drug; a long answer covers more by
chance. It is a recall proxy to compare configurations, not a grade of clinical correctness.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

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


def ungrounded_numbers(statement: str, cited_texts: Iterable[str]) -> set[str]:
    allowed: set[str] = set()
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
