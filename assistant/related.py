"""Related questions the corpus can answer: sections of the retrieved documents that the
answer did not quote, phrased as questions about that document's topic."""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Citation
from retrieval.types import Passage

_SUFFIX = re.compile(r"\s*[—–-]\s*(FDA label summary|test fixture.*|summary)$", re.IGNORECASE)
_STEP = re.compile(r"^(?:step|part)\s+\d+[a-z]?\s*[:.-]\s*", re.IGNORECASE)
_SKIP = re.compile(
    r"^(overview|introduction|summary|references?|background|contents)$", re.IGNORECASE
)


def _topic(title: str) -> str:
    topic = _SUFFIX.sub("", title.split(":")[0]).strip()
    return re.sub(r"\s*\((?:[^()]*)\)\s*$", "", topic) or title


def related_questions(
    passages: Sequence[Passage], cited: Sequence[Citation], limit: int = 5
) -> list[str]:
    used = {c.passage.chunk.id for c in cited}
    out: list[str] = []
    for p in passages:
        if p.chunk.id in used or len(p.chunk.section_path) < 2:
            continue
        heading = _STEP.sub("", p.chunk.section_path[-1].strip().rstrip(":"))
        if _SKIP.match(heading) or len(heading) > 80:
            continue
        topic = _topic(p.doc.title)
        if p.doc.source_type == "label":
            question = f"What does the {topic} label say about {heading[0].lower() + heading[1:]}?"
        else:
            question = f"{topic}: {heading[0].lower() + heading[1:]}?"
        if question not in out:
            out.append(question)
        if len(out) >= limit:
            break
    return out
