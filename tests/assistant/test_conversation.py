"""Follow-up resolution, abstention terms, and the extractive generator on its own."""

from __future__ import annotations

import pytest

from assistant.abstention import missing_terms
from assistant.conversation import conversation_patient, is_follow_up, standalone_query
from assistant.generators.extractive import ExtractiveGenerator
from assistant.types import Turn
from corpus.types import Chunk, DocumentInfo
from evals.answer_metrics import citation_exact
from retrieval.bm25 import BM25Index
from retrieval.types import Passage

HISTORY = [
    Turn("user", "What is the argatroban dose in HIT?"),
    Turn("assistant", "2 mcg/kg/min [1]"),
]


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        (
            "and in hepatic impairment?",
            "argatroban heparin-induced thrombocytopenia and in hepatic impairment?",
        ),
        ("what if CrCl is 20?", "argatroban heparin-induced thrombocytopenia what if CrCl is 20?"),
        (
            "What is the enoxaparin dose for acute DVT?",
            "What is the enoxaparin dose for acute DVT?",
        ),
    ],
    ids=["and-in", "what-if", "new-topic"],
)
def test_standalone_query(question: str, expected: str) -> None:
    assert standalone_query(question, HISTORY) == expected


def test_first_question_is_never_a_follow_up() -> None:
    assert not is_follow_up("and in hepatic impairment?", [])


def test_patient_facts_accumulate_over_user_turns_only() -> None:
    history = [Turn("user", "80 kg man with a DVT"), Turn("assistant", "For a 50 kg patient ...")]
    patient = conversation_patient("and if CrCl is 25?", history, None)
    assert patient.weight_kg == 80 and patient.crcl_ml_min == 25


class _Vocabulary:
    """The vocabulary of a BM25 index over ``texts``, answered as a retriever answers it."""

    def __init__(self, texts: list[str]) -> None:
        self._bm25 = BM25Index.build(texts)

    def knows(self, term: str) -> bool:
        return self._bm25.knows(term)

    def closest_term(self, term: str, cutoff: float = 85.0) -> str | None:
        return self._bm25.near(term, cutoff)


def test_missing_terms_names_specific_words_no_document_contains() -> None:
    vocabulary = _Vocabulary(
        ["Argatroban 2 mcg/kg/min for HIT.", "Multi-organ failure and organ support."]
    )
    assert missing_terms("What is the tinzaparin dose?", vocabulary) == ["tinzaparin"]
    assert missing_terms("What is the argatroben dose?", vocabulary) == []  # a misspelt known drug
    assert (
        missing_terms("dose in multiorgan failure for a woman", vocabulary) == []
    )  # compound; common word


def _passage(doc_id: str, kind: str, text: str, rank: int, heading: str = "Dosage") -> Passage:
    doc = DocumentInfo(doc_id, f"{doc_id} title", kind)  # type: ignore[arg-type]
    chunk = Chunk(f"{doc_id}#0-{len(text)}", doc_id, text, 0, len(text), (heading,))
    return Passage(chunk, doc, score=1.0 / rank, rank=rank)


def test_extractive_answer_quotes_distinct_sentences_and_cites_each() -> None:
    passages = [
        _passage(
            "guide",
            "guideline",
            "Options for heparin resistance include anti-Xa monitoring. Options for heparin resistance "
            "include anti-Xa monitoring instead of the aPTT. Antithrombin supplementation is an option "
            "for heparin resistance when antithrombin is low.",
            1,
            "Management options",
        ),
        _passage(
            "label",
            "label",
            "Switch to argatroban for heparin resistance when HIT is suspected.",
            2,
        ),
        _passage("other", "research", "Knee arthroscopy outcomes in athletes.", 3, "Results"),
    ]
    draft = ExtractiveGenerator().generate("management options for heparin resistance", passages)
    texts = [
        s.text for s in ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
    ]
    assert draft.bottom_line is not None and draft.bottom_line.section == "guideline"
    assert not any("Knee arthroscopy" in t for t in texts)  # irrelevant sentence left out
    assert sum("anti-Xa monitoring" in t for t in texts) == 1  # near-duplicates collapse
    assert any("Antithrombin supplementation" in t for t in texts)
    for c in draft.citations:
        assert citation_exact(c)


def test_a_quoted_sentence_loses_its_sources_own_reference_markers() -> None:
    text = (
        "Heparin resistance is treated with antithrombin supplementation [12], [13-15]. "
        "Argatroban is an option for heparin resistance [296420][7]."
    )
    passages = [_passage("review", "research", text, 1, "Management")]
    draft = ExtractiveGenerator().generate("heparin resistance treatment options", passages)
    parts = ([draft.bottom_line] if draft.bottom_line else []) + list(draft.statements)
    assert parts
    for s in parts:
        assert "[" not in s.text
    assert all(c.quote in text and "[" in c.quote for c in draft.citations)
    assert "[296420]" not in draft.raw_text and "[12]" not in draft.raw_text


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Mortality fell [12], [13-15].", "Mortality fell."),
        (
            "Seen in CMV retinitis [296420], [296780], and colitis.",
            "Seen in CMV retinitis, and colitis.",
        ),
        ("Argatroban is an option [296420][7].", "Argatroban is an option."),
        ("It reaches the brain,[2] and the liver.", "It reaches the brain, and the liver."),
        (
            "Genotypes G1P[8], G2P[4] and G9P[8] were found.",
            "Genotypes G1P[8], G2P[4] and G9P[8] were found.",
        ),
        (
            "8-chloro-triazolo[4,3-a][1,4]benzodiazepine",
            "8-chloro-triazolo[4,3-a][1,4]benzodiazepine",
        ),
        ("Give 5,000 units [1] (see [2]).", "Give 5,000 units (see)."),
    ],
    ids=[
        "list",
        "comma-run",
        "adjacent",
        "after-comma",
        "genotype",
        "chemical-name",
        "parenthesis",
    ],
)
def test_reference_marks_are_removed_but_bracketed_words_stay(sentence: str, expected: str) -> None:
    from assistant.generators.extractive import without_reference_marks

    assert without_reference_marks(sentence) == expected


def test_the_answer_leads_with_the_first_documents_sentence_that_answers() -> None:
    # The second document's sentence repeats the question's words and scores more than twice
    # as high; the retriever's first document answers it too, and leads.
    passages = [
        _passage("first", "reference", "Lansoprazole capsules contain 15 mg or 30 mg.", 1),
        _passage(
            "second",
            "reference",
            "How long before a meal should lansoprazole be taken depends on how long before "
            "the meal the stomach makes acid.",
            2,
        ),
    ]
    question = "how long before a meal should lansoprazole be taken"
    draft = ExtractiveGenerator().generate(question, passages)
    assert draft.bottom_line is not None
    lead = draft.citations[draft.bottom_line.citations[0] - 1]
    assert lead.passage.doc.id == "first"


def test_documents_the_retriever_tied_are_told_apart_by_their_best_sentence() -> None:
    from dataclasses import replace

    # One document found by its words, one by its meaning, at the same fused score.
    first = _passage("first", "reference", "Lansoprazole comes as capsules for adults.", 1)
    second = _passage(
        "second", "reference", "Take lansoprazole once a day before a meal in the morning.", 2
    )
    question = "when should lansoprazole be taken before a meal"
    for score, leads in ((1.0, "second"), (0.9, "first")):
        passages = [first, replace(second, score=score)]
        draft = ExtractiveGenerator().generate(question, passages)
        assert draft.bottom_line is not None
        lead = draft.citations[draft.bottom_line.citations[0] - 1]
        assert lead.passage.doc.id == leads


def test_the_best_sentence_leads_when_the_first_document_has_none_that_answers() -> None:
    passages = [
        _passage("first", "reference", "Knee arthroscopy outcomes in athletes were good.", 1),
        _passage("second", "reference", "Take lansoprazole once a day before a meal.", 2),
    ]
    draft = ExtractiveGenerator().generate("when should lansoprazole be taken", passages)
    assert draft.bottom_line is not None
    lead = draft.citations[draft.bottom_line.citations[0] - 1]
    assert lead.passage.doc.id == "second"


@pytest.mark.parametrize(
    ("text", "quotable"),
    [
        ("It is best to take magnesium supplements with a meal.", True),
        ("Stool softener", True),
        ("Magnesium citrate is a laxative. It is best taken with a meal.", False),
    ],
    ids=["one-record-leaning", "one-record-short", "leans-on-the-sentence-before"],
)
def test_a_document_that_is_one_short_record_is_quotable_as_it_stands(
    text: str, quotable: bool
) -> None:
    from assistant.evidence import analyse
    from guardrails.reference import default_reference

    infos = analyse(_passage("mag", "reference", text, 1, "Usage"), default_reference())
    assert infos[-1].quotable is quotable
