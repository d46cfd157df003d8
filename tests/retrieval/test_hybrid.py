"""Ranking with the deterministic hash embedder (fast) over the fixture pack, and the\nquestions the assistant asks a retriever besides search (retrieval.protocols.Retriever)."""

from dataclasses import replace

import pytest

from corpus.types import Chunk, DocumentInfo
from retrieval.embedders import HashEmbedder
from retrieval.hybrid import HybridRetriever
from retrieval.protocols import Retriever
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


# ------------------------------------------------------- what the assistant may ask


def test_the_retriever_answers_the_public_interface(retriever) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(retriever, Retriever)
    assert not isinstance(object(), Retriever)


def test_documents_lists_every_indexed_document_with_chunks(retriever) -> None:  # type: ignore[no-untyped-def]
    docs = retriever.documents()
    assert sorted(d.id for d in docs) == sorted(retriever.index.docs)
    assert len(docs) == retriever.index.manifest.counts.documents
    assert all(retriever.document(d.id) == d and retriever.chunks_of(d.id) for d in docs)


@pytest.mark.parametrize(
    ("term", "known"),
    [
        ("argatroban", True),
        ("thrombocytopenia", True),
        ("inr", True),  # an abbreviation, as the tokenizer keeps it
        ("nosuchword", False),
        ("argatrobn", False),  # a misspelling is not known, only near
        ("Argatroban", False),  # terms are asked as tokenized (lower-cased)
    ],
)
def test_knows_only_indexed_terms(retriever, term: str, known: bool) -> None:  # type: ignore[no-untyped-def]
    assert retriever.knows(term) is known


@pytest.mark.parametrize(
    ("term", "cutoff", "closest"),
    [
        ("argatrobn", 85.0, "argatroban"),  # a missing letter
        ("warfrin", 85.0, "warfarin"),
        ("bivalirdin", 85.0, "bivalirudin"),
        ("heparn", 80.0, "heparin"),
        ("argatroban", 85.0, "argatroban"),  # a known term is its own closest
        ("thrmbcytopnix", 85.0, None),  # three slips: below the default cutoff...
        ("thrmbcytopnix", 80.0, "thrombocytopenia"),  # ...within a looser one
        ("zzzzzzzz", 80.0, None),
        ("inr", 85.0, None),  # short terms are never offered
    ],
)
def test_closest_term_names_what_a_misspelling_meant(  # type: ignore[no-untyped-def]
    retriever, term: str, cutoff: float, closest: str | None
) -> None:
    assert retriever.closest_term(term, cutoff) == closest


@pytest.mark.parametrize(
    ("doc_id", "title", "chunks"),
    [
        ("fixture-argatroban", "Argatroban", 2),
        ("fixture-bivalirudin", "Bivalirudin", 3),
        ("fixture-heparin-resistance", "Heparin resistance", 2),
        ("fixture-warfarin", "Warfarin", 2),
    ],
)
def test_a_document_and_its_chunks(retriever, doc_id: str, title: str, chunks: int) -> None:  # type: ignore[no-untyped-def]
    doc = retriever.document(doc_id)
    assert isinstance(doc, DocumentInfo) and doc.id == doc_id and doc.title.startswith(title)
    found = retriever.chunks_of(doc_id)
    assert len(found) == chunks
    assert all(isinstance(c, Chunk) and c.doc_id == doc_id for c in found)
    assert [c.start for c in found] == sorted(c.start for c in found)  # text order
    # the chunks a search returns for the document are among them, and cite the same doc
    hit = retriever.search(title, k=1, mode="bm25")[0]
    assert hit.doc == doc and hit.chunk in found


def test_every_chunk_belongs_to_exactly_one_document(retriever, hash_index) -> None:  # type: ignore[no-untyped-def]
    grouped = [c for d in sorted(hash_index.docs) for c in retriever.chunks_of(d)]
    assert sorted(c.id for c in grouped) == sorted(c.id for c in hash_index.chunks)


def test_an_unknown_document_is_named_and_has_no_chunks(retriever) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError, match="no document 'fixture-tinzaparin' in the index"):
        retriever.document("fixture-tinzaparin")
    assert list(retriever.chunks_of("fixture-tinzaparin")) == []


def test_a_swapped_index_is_answered_for_at_once(retriever, hash_index) -> None:  # type: ignore[no-untyped-def]
    # A live retriever replaces ``index`` when a new version is activated: the chunks,
    # documents and digest answered are the new version's from the next call on.
    assert len(retriever.chunks_of("fixture-warfarin")) == 2
    digest = retriever.digest
    assert digest == hash_index.manifest.digest() and len(digest) == 16
    warfarin = [c for c in hash_index.chunks if c.doc_id == "fixture-warfarin"]
    manifest = hash_index.manifest.model_copy(update={"sources": ["pack:warfarin-only"]})
    retriever.index = replace(
        hash_index,
        manifest=manifest,
        chunks=warfarin[:1],
        docs={"fixture-warfarin": hash_index.docs["fixture-warfarin"]},
    )
    assert [c.id for c in retriever.chunks_of("fixture-warfarin")] == [warfarin[0].id]
    assert list(retriever.chunks_of("fixture-argatroban")) == []
    with pytest.raises(KeyError):
        retriever.document("fixture-argatroban")
    assert retriever.digest != digest
