"""Related questions keep the asked question's frame and come from the cited documents."""

from __future__ import annotations

from assistant.frame import read_frame
from assistant.related import related_questions
from assistant.types import Citation
from corpus.types import Chunk, DocumentInfo
from retrieval.types import Passage


def _passage(doc_id: str, title: str, kind: str, *path: str, n: int = 0) -> Passage:
    doc = DocumentInfo(id=doc_id, title=title, source_type=kind)  # type: ignore[arg-type]
    text = f"Text of {path[-1]}."
    chunk = Chunk(Chunk.make_id(doc_id, n, n + len(text)), doc_id, text, n, n + len(text), path)
    return Passage(chunk, doc, 1.0, n)


BIVA = "bivalirudin-label"
BIVA_TITLE = "Bivalirudin (Angiomax) — FDA label summary"
HIT_TITLE = "Heparin-induced thrombocytopenia: treatment of acute HIT (a guideline)"
CITED = [
    _passage(BIVA, BIVA_TITLE, "label", BIVA_TITLE, "Dosage: HIT", n=0),
    _passage("hit-guideline", HIT_TITLE, "guideline", HIT_TITLE, "Choosing an agent", n=0),
]
OTHERS = {
    # Another section of a cited label: on the asked drug.
    "label-section": _passage(BIVA, BIVA_TITLE, "label", BIVA_TITLE, "Monitoring", n=100),
    # Another section of a cited guideline on the asked use.
    "guideline-section": _passage(
        "hit-guideline", HIT_TITLE, "guideline", HIT_TITLE, "Platelet count recovery", n=100
    ),
    # Retrieved but not cited: another drug's label (the asked use in its heading).
    "other-drug": _passage(
        "argatroban-label",
        "Argatroban — FDA label summary",
        "label",
        "Argatroban — FDA label summary",
        "Dosage: heparin-induced thrombocytopenia",
    ),
    # Retrieved but not cited: a document on another topic.
    "off-topic": _passage(
        "af-guideline", "Atrial fibrillation guideline", "guideline", "AF", "Rate control"
    ),
}
QUESTION = "What is the bivalirudin dose for heparin-induced thrombocytopenia?"


def _cited() -> list[Citation]:
    return [Citation(i + 1, p, 0, 4) for i, p in enumerate(CITED)]


def test_related_questions_come_from_cited_documents_on_the_frame() -> None:
    frame = read_frame(QUESTION)
    related = related_questions([*CITED, *OTHERS.values()], _cited(), frame, QUESTION)
    assert related == [
        "What does the Bivalirudin label say about monitoring?",
        "Heparin-induced thrombocytopenia: Platelet count recovery?",
    ]


def test_a_cited_document_section_about_another_drug_is_dropped() -> None:
    # The cited guideline's section names another drug and not the asked one.
    other = _passage(
        "hit-guideline", HIT_TITLE, "guideline", HIT_TITLE, "Argatroban in liver disease", n=200
    )
    frame = read_frame(QUESTION)
    assert related_questions([*CITED, other], _cited(), frame, QUESTION) == []


def test_a_cited_document_off_the_asked_use_is_dropped() -> None:
    """A cited document about something else (neither the asked drug nor the asked use)."""
    tia = "Transient ischemic attack: early management"
    cited = [*CITED, _passage("tia", tia, "guideline", tia, "Imaging", n=0)]
    more = _passage("tia", tia, "guideline", tia, "Blood pressure targets", n=100)
    citations = [Citation(i + 1, p, 0, 4) for i, p in enumerate(cited)]
    frame = read_frame(QUESTION)
    assert related_questions([*cited, more], citations, frame, QUESTION) == []


def test_without_a_drug_or_use_the_question_words_decide() -> None:
    question = "How is chronic cough assessed?"
    title = "Chronic cough in adults: assessment"
    cited = [_passage("cough", title, "guideline", title, "History", n=0)]
    same = _passage("cough", title, "guideline", title, "Red flags", n=100)
    citations = [Citation(1, cited[0], 0, 4)]
    frame = read_frame(question)
    assert frame.drugs == () and not frame.indications
    assert related_questions([*cited, same], citations, frame, question) == [
        "Chronic cough in adults: Red flags?"
    ]
