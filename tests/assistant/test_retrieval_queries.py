"""Retrieval's second look: a search for what the frame reads a question to ask adds the
passages just below the cut that both searches found.

The drug and condition words here are made up: the mechanism must work for words the code
has never seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from assistant.frame import Frame, indication_name
from assistant.pipeline import (
    SECOND_LOOK_MOST,
    Assistant,
    _frame_query,
    _second_look,
)
from assistant.settings import Settings
from corpus.types import Chunk, DocumentInfo
from guardrails.reference import default_reference
from retrieval.types import Passage

DRUG = "zorblatide"
CONDITION = "glimmer fever"


def _passage(doc_id: str, n: int, rank: int, text: str = "") -> Passage:
    text = text or f"{doc_id} passage {n}"
    start = n * 1000
    chunk = Chunk(f"{doc_id}#{start}-{start + len(text)}", doc_id, text, start, start + len(text))
    return Passage(chunk, DocumentInfo(doc_id, f"{doc_id} title", "guideline"), 1.0 / rank, rank)


def _ranked(*specs: tuple[str, int]) -> list[Passage]:
    return [_passage(doc, n, rank) for rank, (doc, n) in enumerate(specs, start=1)]


# ------------------------------------------------------------------ the frame's query


def test_frame_query_keeps_drug_condition_and_the_asking_sentence_without_numbers() -> None:
    frame = Frame(intent="dose", drugs=(DRUG,), condition=CONDITION)
    query = "Found down at 0300, 82 kg, lactate 4.1. Which zorblatide regimen for glimmer fever?"
    asked = _frame_query(query, frame, default_reference())
    assert asked.startswith(f"{DRUG} {CONDITION} ")
    assert "Which zorblatide regimen for glimmer fever?" in asked
    # The patient's story and numbers are the first search's, not the second's.
    assert "Found down" not in asked
    assert not any(ch.isdigit() for ch in asked)


def test_frame_query_names_the_use_as_the_dose_reference_names_it() -> None:
    table = default_reference()
    use = table.indications[0].id
    frame = Frame(intent="dose", drugs=(DRUG,), indication=use)
    asked = _frame_query("how much 12 mg/kg?", frame, table)
    assert indication_name(use, table) in asked
    assert "12" not in asked


def test_frame_query_is_empty_when_the_frame_names_nothing() -> None:
    # No drug, use or condition: a second search would only repeat the first.
    assert _frame_query("Can I stop today?", Frame(intent="other"), default_reference()) == ""


def test_a_question_without_an_asking_sentence_is_searched_whole() -> None:
    frame = Frame(drugs=(DRUG,))
    assert _frame_query("zorblatide in glimmer fever 3 days", frame, default_reference()) == (
        f"{DRUG} zorblatide in glimmer fever days"
    )


# ------------------------------------------------------------------ merging the second look


def test_second_look_adds_only_passages_both_searches_found_in_first_search_order() -> None:
    ranked = _ranked(("a", 0), ("b", 0), ("a", 1), ("c", 0), ("d", 0), ("e", 0))
    kept = ranked[:2]
    second = [ranked[4], _passage("z", 0, 1), ranked[3]]  # e.g. d ranks above c there
    out = _second_look(kept, ranked, second)
    assert [p.chunk.id for p in out] == [p.chunk.id for p in (*kept, ranked[3], ranked[4])]
    # The kept passages keep their ranks; the added ones rank after them.
    assert [p.rank for p in out] == [1, 2, 3, 4]
    # A chunk only the second search found is not added: it never ranked for the question.
    assert all(p.doc.id != "z" for p in out)


def test_second_look_adds_at_most_its_share_and_nothing_twice() -> None:
    ranked = _ranked(*[("a", n) for n in range(12)])
    kept = ranked[:3]
    out = _second_look(kept, ranked, ranked)  # the second search agrees on everything
    assert len(out) == 3 + SECOND_LOOK_MOST
    assert len({p.chunk.id for p in out}) == len(out)
    assert [p.chunk.id for p in out[3:]] == [p.chunk.id for p in ranked[3 : 3 + SECOND_LOOK_MOST]]


def test_second_look_of_nothing_is_nothing() -> None:
    assert _second_look([], _ranked(("a", 0)), _ranked(("a", 0))) == []


# ------------------------------------------------------------------ in the pipeline


class ScriptedRetriever:
    """Answers the question's own query with one ranking and any other query with another;
    records the queries it was asked."""

    def __init__(self, first: Sequence[Passage], other: Sequence[Passage]) -> None:
        self.first, self.other = list(first), list(other)
        self.queries: list[str] = []

    def search(self, query: str, k: int | None = None, mode: str = "hybrid") -> list[Passage]:
        self.queries.append(query)
        ranking = self.first if len(self.queries) == 1 else self.other
        return ranking[: k or len(ranking)]

    def chunks_of(self, doc_id: str) -> Sequence[Chunk]:
        return ()


def _assistant(retriever: ScriptedRetriever) -> Assistant:
    return Assistant(Settings(), retriever, generator=None)  # type: ignore[arg-type]


def test_retrieval_adds_the_answering_chunk_the_frames_search_also_finds() -> None:
    settings = Settings()
    k = settings.assistant.k
    # The question's chatter puts the answering chunk just below the cut.
    ranked = _ranked(*[("chatter", n) for n in range(k)], ("answer", 0), ("noise", 0))
    answer, noise = ranked[k], ranked[k + 1]
    retriever = ScriptedRetriever(ranked, [answer])
    frame = Frame(intent="dose", drugs=(DRUG,), condition=CONDITION)
    query = "Found down, family unsure of anything, 70 kg. Zorblatide dose for glimmer fever?"
    passages = _assistant(retriever)._retrieve(query, frame)
    ids = [p.chunk.id for p in passages]
    assert answer.chunk.id in ids
    assert noise.chunk.id not in ids
    assert retriever.queries[1] == _frame_query(query, frame, default_reference())


@pytest.mark.parametrize("frame", [Frame(intent="other"), Frame(intent="choice")])
def test_retrieval_searches_once_when_the_frame_names_nothing(frame: Frame) -> None:
    ranked = _ranked(*[("doc", n) for n in range(20)])
    retriever = ScriptedRetriever(ranked, ranked)
    passages = _assistant(retriever)._retrieve("Can I stop it today?", frame)
    assert len(retriever.queries) == 1
    assert passages[0].chunk.id == ranked[0].chunk.id


def test_passages_naming_an_asked_drug_lead_when_none_of_the_found_ones_names_it() -> None:
    # The question's chatter ("starting dose ... what do we titrate to") found other drugs'
    # dosing passages; the passages naming the asked drug (a lexicon drug, in made-up text)
    # are searched by its name and lead.
    chatter = _ranked(*[("chatter", n) for n in range(8)])
    named = _passage("bp", 0, 1, "Nicardipine: start low and titrate for glimmer fever.")
    retriever = ScriptedRetriever(chatter, [named, *chatter])
    frame = Frame(intent="dose", drugs=("nicardipine",))
    passages = _assistant(retriever)._retrieve("starting dose of nicardipine?", frame)
    assert "nicardipine" in retriever.queries
    assert passages[0].chunk.id == named.chunk.id
    assert [p.rank for p in passages] == sorted(p.rank for p in passages)


def test_no_search_by_name_when_a_found_passage_names_the_drug() -> None:
    ranked = [_passage("bp", 0, 1, "Nicardipine 5 mg/h."), *_ranked(("doc", 1), ("doc", 2))]
    retriever = ScriptedRetriever(ranked, ranked)
    frame = Frame(intent="dose", drugs=("nicardipine",))
    _assistant(retriever)._retrieve("starting dose of nicardipine?", frame)
    assert "nicardipine" not in retriever.queries
