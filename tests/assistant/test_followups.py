"""A follow-up asks about what its turn adds: its own new words weigh above the subject it
carries, the unit the last answer quoted gives way to one that says more, a new condition
keeps no earlier dose intent and is searched by its name, and a drug named "rather than"
another takes its place in the frame."""

from __future__ import annotations

import pytest

from assistant.frame import query_for, read_frame
from assistant.generators import extractive
from assistant.generators.extractive import candidates, score
from assistant.types import Turn
from corpus.types import Chunk, DocumentInfo
from guardrails.reference import default_reference
from retrieval.tokenize import tokenize
from retrieval.types import Passage

DOSE = "Phenobarbital is given as a 20 mg/kg IV loading dose in status epilepticus."
ADJUSTED = "If respiratory depression occurs, give phenobarbital at 10 mg/kg instead."
TEXT = f"## Phenobarbital in status epilepticus\n\n{DOSE} {ADJUSTED}\n"


def _passage(text: str = TEXT) -> Passage:
    doc = DocumentInfo("seizures", "Status epilepticus guideline", "guideline")
    chunk = Chunk(f"seizures#0-{len(text)}", "seizures", text, 0, len(text), ("Phenobarbital",))
    return Passage(chunk, doc, score=1.0, rank=1)


def _ranked(question: str, history: list[Turn], text: str = TEXT) -> list[str]:
    table = default_reference()
    frame = read_frame(question, history, None, table)
    pool = [c for c in candidates([_passage(text)], frame, table) if c.fit == "on"]
    return [s.candidate.text for s in score(query_for(question, frame, table), pool, frame)]


def _conversation(first: str, answer: str) -> list[Turn]:
    return [Turn("user", first), Turn("assistant", answer)]


def test_the_turn_s_new_words_are_kept_apart_from_what_was_said() -> None:
    history = _conversation("Phenobarbital dose in status epilepticus?", DOSE)
    s = read_frame("respiratory depression after each dose", history).situation
    assert set(tokenize("respiratory depression")) <= set(s.turn_words)
    assert not set(tokenize("phenobarbital dose status epilepticus")) & set(s.turn_words)
    assert s.answered == DOSE


def test_a_follow_up_leads_with_the_unit_its_new_fact_asks_for() -> None:
    history = _conversation("Phenobarbital dose in status epilepticus?", DOSE)
    assert _ranked("Phenobarbital dose in status epilepticus?", [])[0] == DOSE
    assert _ranked("respiratory depression after each dose", history)[0] == ADJUSTED


def test_without_the_follow_up_weighting_the_carried_subject_wins_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The test above is about the weighting: without it the old answer is repeated.
    monkeypatch.setattr(extractive, "FOLLOW_UP_WEIGHT", 0.0)
    monkeypatch.setattr(extractive, "REPEAT_WEIGHT", 0.0)
    history = _conversation("Phenobarbital dose in status epilepticus?", DOSE)
    assert _ranked("respiratory depression after each dose", history)[0] == DOSE


def test_the_answered_unit_still_leads_when_nothing_else_answers() -> None:
    text = f"## Phenobarbital in status epilepticus\n\n{DOSE}\n"
    history = _conversation("Phenobarbital dose in status epilepticus?", DOSE)
    assert _ranked("and the dose again?", history, text) == [DOSE]


def test_a_new_condition_is_named_for_the_search_and_asks_no_dose() -> None:
    history = _conversation(
        "Tinzaparin dose for a DVT in a 70 kg woman?", "Tinzaparin 175 units/kg once daily."
    )
    frame = read_frame(
        "Update: she is now actively bleeding from a gastric ulcer. Do we still give it?",
        history,
    )
    assert frame.situation.turn_conditions == frozenset({"active_bleeding"})
    assert frame.intent != "dose"
    news = frame.situation.turn_news()
    assert "tinzaparin" in news and "active bleeding" in news
    # Said again, the condition is no longer news.
    later = read_frame(
        "What about her weight?",
        [*history, Turn("user", "She is actively bleeding."), Turn("assistant", "Stop it.")],
    )
    assert later.situation.turn_conditions == frozenset()
    assert later.situation.turn_news() == ""


def test_a_drug_named_rather_than_another_replaces_it_in_the_frame() -> None:
    history = _conversation(
        "Switching a patient from ramipril to sacubitril/valsartan, how?", "Stop ramipril."
    )
    frame = read_frame("What if she was on candesartan rather than ramipril?", history)
    assert "ramipril" not in frame.drugs
    assert "candesartan" in frame.drugs
    assert "sacubitril" in frame.drugs
