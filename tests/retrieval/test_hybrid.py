"""Ranking with the deterministic hash embedder (fast) over the fixture pack."""

import pytest

from retrieval.embedders import HashEmbedder
from retrieval.hybrid import HybridRetriever
from retrieval.settings import RetrievalSettings


@pytest.fixture()
def retriever(hash_index):  # type: ignore[no-untyped-def]
    return HybridRetriever(hash_index, HashEmbedder(), RetrievalSettings(embedder="hash"))


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_drug_specific_question_finds_that_drug(retriever, mode: str) -> None:  # type: ignore[no-untyped-def]
    passages = retriever.search(
        "What is the bivalirudin dose for heparin-induced thrombocytopenia?", k=3, mode=mode
    )
    assert passages[0].doc.id == "fixture-bivalirudin"
    assert [p.rank for p in passages] == [1, 2, 3]
    assert all(a.score >= b.score for a, b in zip(passages, passages[1:], strict=False))


def test_numbers_and_abbreviations_are_searchable(retriever) -> None:  # type: ignore[no-untyped-def]
    top = retriever.search("35,000 units/day", k=1, mode="bm25")[0]
    assert top.doc.id == "fixture-heparin-resistance"
    top = retriever.search("INR", k=1, mode="bm25")[0]
    assert top.doc.id == "fixture-warfarin"


def test_hybrid_records_both_ranks(retriever) -> None:  # type: ignore[no-untyped-def]
    top = retriever.search("argatroban hepatic impairment", k=1)[0]
    assert top.doc.id == "fixture-argatroban" and "Hepatic" in top.chunk.text
    assert top.dense_rank is not None and top.bm25_rank is not None
    data = top.to_json()
    assert data["chunk_id"] == top.chunk.id and data["title"].startswith("Argatroban")


def test_empty_query_returns_nothing(retriever) -> None:  # type: ignore[no-untyped-def]
    assert retriever.search("   ") == []
    assert retriever.search("zzzz qqqq", mode="bm25") == []
