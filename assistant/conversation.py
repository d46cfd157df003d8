"""Follow-up questions resolved against the conversation.

"and in hepatic impairment?" after "What is the argatroban dose in HIT?" is searched as
"argatroban HIT and in hepatic impairment?": the drugs and indications named in earlier user
turns (most recent first) are carried into the standalone retrieval query when the new
question does not name its own. Patient facts accumulate across turns.
"""

from __future__ import annotations

from collections.abc import Sequence

from assistant.frame import is_follow_up, query_for, read_frame
from assistant.types import Turn
from guardrails.patient import Patient, patient_from_conversation
from guardrails.reference import ReferenceTable, default_reference

__all__ = ["conversation_patient", "is_follow_up", "standalone_query"]


def standalone_query(
    question: str, history: Sequence[Turn], table: ReferenceTable | None = None
) -> str:
    """The retrieval query for ``question`` in this conversation (see assistant/frame.py)."""
    table = table or default_reference()
    return query_for(question, read_frame(question, history, None, table), table)


def conversation_patient(
    question: str, history: Sequence[Turn], explicit: Patient | None
) -> Patient:
    """Patient facts from every user turn and this question; explicit facts win."""
    turns = [t.content for t in history if t.role == "user"] + [question]
    return patient_from_conversation(turns, explicit)
