"""The bundled anticoagulation pack and its gold question set."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from corpus.loaders.pack import PACKS_DIR, load_pack
from evals.questions import load_questions

PACK = PACKS_DIR / "anticoagulation"
GOLD = Path(__file__).resolve().parents[2] / "evals" / "sets" / "anticoagulation.jsonl"
RESULT = load_pack(PACK)
DOCS = {d.id: d for d in RESULT.documents}
QUESTIONS, QUESTION_PROBLEMS = load_questions(GOLD)


def test_every_pack_file_parses_with_all_required_fields() -> None:
    # PackFrontMatter (extra="forbid") enforces every field; any problem names the file.
    assert RESULT.problems == []
    assert len(DOCS) == len(list(PACK.glob("*.md"))) >= 40


def test_every_document_is_pending_clinical_review() -> None:
    assert {d.review_status for d in DOCS.values()} == {"pending clinical review"}


@pytest.mark.parametrize("doc_id", sorted(DOCS))
def test_primary_source_reference_resolves(doc_id: str) -> None:
    doc = DOCS[doc_id]
    assert doc.url and re.match(
        r"^https://(doi\.org/10\.\d{4,9}/\S+|pubmed\.ncbi\.nlm\.nih\.gov/\d+/?|\S+\.\S+/\S*)$",
        doc.url,
    )
    if doc.meta["doi"]:
        assert re.fullmatch(r"10\.\d{4,9}/\S+", doc.meta["doi"])
    if doc.meta["pmid"]:
        assert re.fullmatch(r"\d{1,9}", doc.meta["pmid"])
    assert doc.meta["sources"] and all(len(s) > 20 for s in doc.meta["sources"])


def test_pack_covers_every_source_type_and_the_required_drugs() -> None:
    kinds = Counter(d.source_type for d in DOCS.values())
    assert kinds["guideline"] >= 5 and kinds["label"] >= 14 and kinds["research"] >= 3
    drugs = [
        "heparin",
        "enoxaparin",
        "dalteparin",
        "fondaparinux",
        "argatroban",
        "bivalirudin",
        "antithrombin",
        "protamine",
        "rivaroxaban",
        "apixaban",
        "dabigatran",
        "edoxaban",
        "warfarin",
        "danaparoid",
    ]
    label_ids = " ".join(i for i, d in DOCS.items() if d.source_type == "label")
    assert [d for d in drugs if d not in label_ids] == []


def test_gold_set_is_well_formed() -> None:
    assert QUESTION_PROBLEMS == []
    assert len(QUESTIONS) >= 60
    kinds = Counter(q.meta.get("kind") for q in QUESTIONS)
    assert sum(1 for q in QUESTIONS if q.history) >= 10, kinds
    assert sum(1 for q in QUESTIONS if q.unanswerable) >= 5, kinds


def test_every_gold_doc_id_exists_in_the_pack() -> None:
    missing = {(q.id, g) for q in QUESTIONS for g in q.gold_doc_ids if g not in DOCS}
    assert missing == set()


def test_answerable_questions_have_gold_and_must_haves() -> None:
    for q in QUESTIONS:
        if q.unanswerable:
            assert q.gold_doc_ids == [], q.id
        else:
            assert q.gold_doc_ids and q.must_have and q.reference_answer, q.id


def test_the_two_seed_questions_are_present() -> None:
    by_id = {q.id: q for q in QUESTIONS}
    assert by_id["anticoag:seed:heparin-nonresponders"].question == (
        "What are the management options for patients who are heparin (unfractionated heparin) non-responders?"
    )
    assert by_id["anticoag:seed:septic-shock-vte"].question == (
        "What is the best course of action for a patient in septic shock who experiences a thromboembolic "
        "event despite receiving LMWH thromboprophylaxis?"
    )
