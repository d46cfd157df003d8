"""Related questions the corpus can answer: sections of the cited documents that the answer
did not quote, phrased as questions about that document's topic.

A related question stays on the question's frame. It comes only from a document the answer
cites (its own headings), and it keeps what was asked about: it names one of the asked
drugs or the asked use (indication or condition), and it is about no other drug. A question
whose frame names neither shares a topic word with the question instead. Candidates that
do none of this are dropped: an empty list is better than a question about something else.
The drugs and uses are read by the guard's own readers (``guardrails``), never listed here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.frame import Frame
from assistant.types import Citation
from guardrails.context import ancestors, find_indications
from guardrails.extraction import find_drugs
from guardrails.lexicon import drug_lexicon
from guardrails.reference import ReferenceTable, default_reference
from retrieval.tokenize import tokenize
from retrieval.types import Passage

_SUFFIX = re.compile(r"\s*[—–-]\s*(FDA label summary|test fixture.*|summary)$", re.IGNORECASE)
_STEP = re.compile(r"^(?:step|part)\s+\d+[a-z]?\s*[:.-]\s*", re.IGNORECASE)
_SKIP = re.compile(
    r"^(overview|introduction|summary|references?|background|contents|limitations?)$",
    re.IGNORECASE,
)
# A title's topic ends at its first colon, full stop, dash or bracket ("Heparin resistance
# (UFH non-responders): management options" is about "Heparin resistance").
_TOPIC_END = re.compile(r"\s*(?::|\.\s|\s(?:[—–-]|--)\s|\().*$")
_TOPIC_MAX = 70


def _topic(p: Passage) -> str:
    """What a passage's document is about, shortly: its title's topic, or, for a long title,
    the topic of its first heading ("Pharmacotherapy for Hypertension -- ACC/AHA 2017")."""
    for text in (p.doc.title, *p.chunk.section_path[:1]):
        topic = _TOPIC_END.sub("", _SUFFIX.sub("", text)).strip()
        if 0 < len(topic) <= _TOPIC_MAX:
            return topic
    return p.doc.title.split(":")[0].strip()


def _as_written(heading: str) -> str:
    """A heading inside a sentence: "Monitoring" -> "monitoring"; a Title Case heading, an
    acronym or a name ("BP Reduction Targets") stays as written."""
    named = any(w[:1].isupper() and not w.isupper() for w in heading.split()[1:])
    if heading[:1].isupper() and heading[1:2].islower() and not named:
        return heading[0].lower() + heading[1:]
    return heading


def _drugs(text: str) -> set[str]:
    return {name for _, _, name in find_drugs(text, drug_lexicon())}


def _uses(indications: set[str] | frozenset[str], table: ReferenceTable) -> set[str]:
    """Indication ids with their ancestors: "VTE treatment in cancer" is VTE treatment too."""
    out = set(indications)
    for i in indications:
        out |= ancestors(i, table)
    return out


def _phrase(p: Passage, heading: str) -> str:
    topic = _topic(p)
    if p.doc.source_type == "label":
        return f"What does the {topic} label say about {_as_written(heading)}?"
    return f"{topic}: {heading}?"


def on_frame(
    candidate: str, frame: Frame | None, question: str, table: ReferenceTable | None = None
) -> bool:
    """Whether a related question keeps the asked question's frame: it names an asked drug
    or the asked use and no other drug; with no drug or use in the frame, it shares a topic
    word with the question."""
    if frame is None:
        return bool(set(tokenize(candidate)) & set(tokenize(question)))
    named = _drugs(candidate)
    asked = set(frame.drugs)
    if named and asked and not named & asked:
        return False  # about another drug
    if named & asked:
        return True
    table = table or default_reference()
    uses = _uses(frame.indications, table)
    if uses and _uses(find_indications(candidate, table), table) & uses:
        return True
    subject = set(tokenize(frame.condition or "")) if frame.condition else set()
    if subject and subject <= set(tokenize(candidate)):
        return True
    if asked or uses or subject:
        return False
    return bool(set(tokenize(candidate)) & set(tokenize(question)))


def related_questions(
    passages: Sequence[Passage],
    cited: Sequence[Citation],
    frame: Frame | None = None,
    question: str = "",
    table: ReferenceTable | None = None,
    limit: int = 5,
) -> list[str]:
    """Up to ``limit`` questions from the headings of the cited documents' passages that the
    answer did not quote, each on the question's frame (``on_frame``)."""
    used = {c.passage.chunk.id for c in cited}
    cited_docs = {c.passage.doc.id for c in cited}
    out: list[str] = []
    for p in passages:
        if p.doc.id not in cited_docs or p.chunk.id in used or len(p.chunk.section_path) < 2:
            continue
        heading = _STEP.sub("", p.chunk.section_path[-1].strip().rstrip(":"))
        if not heading or _SKIP.match(heading) or len(heading) > 80:
            continue
        candidate = _phrase(p, heading)
        if candidate in out or not on_frame(candidate, frame, question, table):
            continue
        out.append(candidate)
        if len(out) >= limit:
            break
    return out
