"""When to say "the corpus does not answer this", and what to name as missing.

Three signals, measured on the gold set (docs/ASSISTANT.md): no retrieved sentence covers
enough of the question (``assistant.abstain_below``); the question names a specific term
(a drug, a disease) that no document in the index mentions at all — "What is the tinzaparin
dose?" over a corpus without tinzaparin; or the question asks about a care setting or
population (evidence.yaml ``settings``: "on ECMO", "in pregnancy") that none of the sentences
answering the rest of it speaks of — the corpus mentions ECMO only as a cause of antithrombin
deficiency, so its heparin targets are not ECMO targets. A term is specific when it is not a common English
word (not a whole word in the bundled MiniLM WordPiece vocabulary), is at least 7 letters
long, and is not two corpus words joined ("multiorgan").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from assistant.evidence import asked_settings, names_class_of
from guardrails.extraction import find_drugs
from guardrails.lexicon import common_words, drug_lexicon
from retrieval.protocols import Vocabulary
from retrieval.tokenize import tokenize

if TYPE_CHECKING:
    from assistant.frame import Frame
    from assistant.generators.extractive import Scored

_WORD = re.compile(r"[A-Za-z][A-Za-z-]{6,}")


def _known(word: str, vocabulary: Vocabulary) -> bool:
    tokens = tokenize(word)
    return bool(tokens) and all(vocabulary.knows(t) for t in tokens)


def _compound(word: str, vocabulary: Vocabulary) -> bool:
    return any(
        _known(word[:i], vocabulary) and _known(word[i:], vocabulary)
        for i in range(3, len(word) - 2)
    )


def _name_like(question: str, start: int, word: str) -> bool:
    """A capitalised word inside a sentence ("my mother Margaret") names a person or a
    place more often than a drug or a disease."""
    if not word[:1].isupper() or word.isupper():
        return False
    before = question[:start].rstrip()
    return bool(before) and before[-1] not in ".!?:\n"


def missing_terms(question: str, vocabulary: Vocabulary, frame: Frame | None = None) -> list[str]:
    """Specific terms of ``question`` that no indexed document contains (``vocabulary``:
    the index's, as its retriever answers for it).

    With a frame, only a term the question rests on counts: a drug (any drug the lexicon
    knows) or the asked condition; the rest of a consumer message (names, small talk, typing
    slips) does not make a question unanswerable. Misspellings of indexed words and
    capitalised names are never missing."""
    common = common_words()
    focus: set[str] = set()
    if frame is not None:
        focus = {w.lower() for d in frame.drugs for w in d.split()}
        if frame.condition:
            focus |= {w.lower() for w in frame.condition.split()}
    out = []
    for m in _WORD.finditer(question):
        word = m.group()
        lower = word.lower()
        if (
            lower in common
            or _known(lower, vocabulary)
            or "-" in lower
            or _compound(lower, vocabulary)
        ):
            continue
        if find_drugs(word):
            continue  # a misspelt drug the guard knows ("argatroben") is not missing
        if find_drugs(word, drug_lexicon()):
            if lower in focus or frame is None:
                out.append(word)  # a drug Bedside recognises but no source mentions
            continue
        if _name_like(question, m.start(), word):
            continue
        if frame is not None and lower not in focus:
            continue  # a word the question does not rest on (small talk, a typing slip)
        stem = (tokenize(lower) or [lower])[0]
        if vocabulary.closest_term(stem, 80.0) is not None:
            continue
        out.append(word)
    return list(dict.fromkeys(out))


def uncovered_setting(
    query: str,
    rank: Callable[[str], Sequence[Scored]],
    drugs: Sequence[str] = (),
    share: float = 0.2,
    skip: Sequence[str] = (),
) -> str | None:
    """The care setting or population ``query`` names that the evidence does not speak of.

    ``rank`` scores the on-frame sentences for a text. A setting is spoken of when a sentence
    that names it (in itself, its headings or its title) also answers the rest of the
    question (at least ``share`` of the best sentence's coverage of it, the setting's words
    left out) or names one of the asked ``drugs``. When none does, the sources answer only
    the general case, and that is not what was asked. Settings in ``skip`` are judged
    elsewhere (a dose for a population: ``evidence.coverage`` names what the sources cover)."""
    asked = set(drugs)
    for name, pattern in asked_settings(query):
        if name in skip:
            continue
        ranked = rank(pattern.sub(" ", query))
        best = max((s.coverage for s in ranked), default=0.0)
        if best <= 0:
            continue
        if not any(
            pattern.search(
                " ".join(
                    (
                        s.candidate.text,
                        *s.candidate.passage.chunk.section_path,
                        s.candidate.passage.doc.title,
                    )
                )
            )
            and (
                s.coverage >= share * best
                or s.candidate.drugs & asked
                or names_class_of(s.candidate.text, asked, s.candidate.drugs)
            )
            for s in ranked
        ):
            return name
    return None
