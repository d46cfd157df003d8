"""Follow-up questions resolved against the conversation.

"and in hepatic impairment?" after "What is the argatroban dose in HIT?" is searched as
"argatroban HIT and in hepatic impairment?": the drugs and indications named in earlier user
turns (most recent first) are carried into the standalone retrieval query when the new
question does not name its own. Patient facts accumulate across turns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.types import Turn
from guardrails.context import find_indications
from guardrails.extraction import find_drugs
from guardrails.patient import Patient, patient_from_conversation
from guardrails.reference import ReferenceTable, default_reference

_FOLLOW_UP = re.compile(
    r"^\s*(?:and|also|what about|how about|what if|and if|if|in|for|with|same|then|but|or)\b"
    r"|\b(?:it|its|this|that|these|those|they|them|the same)\b",
    re.IGNORECASE,
)


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    if not any(t.role == "user" for t in history):
        return False
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 6


def _terms(text: str, table: ReferenceTable) -> tuple[list[str], list[str]]:
    drugs = list(dict.fromkeys(name for _, _, name in find_drugs(text)))
    indications = [i for i in table.indications if i.id in find_indications(text, table)]
    return drugs, [i.terms[0] for i in indications]


def standalone_query(
    question: str, history: Sequence[Turn], table: ReferenceTable | None = None
) -> str:
    """The retrieval query for ``question`` in this conversation."""
    if not is_follow_up(question, history):
        return question
    table = table or default_reference()
    own_drugs, own_indications = _terms(question, table)
    carried: list[str] = []
    for turn in reversed([t for t in history if t.role == "user"]):
        drugs, indications = _terms(turn.content, table)
        if not own_drugs:
            carried.extend(d for d in drugs if d not in carried)
        if not own_indications:
            carried.extend(i for i in indications if i not in carried)
        if carried:
            break
    return " ".join([*carried, question]) if carried else question


def conversation_patient(
    question: str, history: Sequence[Turn], explicit: Patient | None
) -> Patient:
    """Patient facts from every user turn and this question; explicit facts win."""
    turns = [t.content for t in history if t.role == "user"] + [question]
    return patient_from_conversation(turns, explicit)
