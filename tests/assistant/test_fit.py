"""How a sentence fits the question's frame: drug names as sources write them, records in
several pieces, a document's first sentence, abbreviated conditions, and messages whose
chat is not the question."""

from __future__ import annotations

import pytest

from assistant.evidence import acronym, analyse, base_name, condition_share, fit, shares_drug
from assistant.frame import focus, read_frame
from assistant.generators.extractive import candidates, one_line
from assistant.pipeline import _misspelt_drug, _spellings
from corpus.types import Chunk, DocumentInfo
from guardrails.reference import default_reference
from retrieval.types import Passage


def _passage(text: str, title: str = "Leaflet", start: int = 0) -> Passage:
    doc = DocumentInfo("doc", title, "label")
    chunk = Chunk(f"doc#{start}-{start + len(text)}", "doc", text, start, start + len(text), ())
    return Passage(chunk, doc, score=1.0, rank=1)


@pytest.mark.parametrize(
    ("about", "asked", "same"),
    [
        ("betamethasone dipropionate", "betamethasone", True),
        ("rosuvastatin calcium", "rosuvastatin", True),
        ("fentanyl patch", "fentanyl", True),
        ("warfarin", "apixaban", False),
        ("heparin sodium", "enoxaparin sodium", False),
        ("potassium chloride", "potassium citrate", False),
    ],
    ids=["ester", "salt", "form", "other-drug", "two-salts", "all-salt-words"],
)
def test_a_salt_or_form_of_a_drug_is_the_drug(about: str, asked: str, same: bool) -> None:
    assert shares_drug({about}, {asked}) is same


def test_a_name_made_only_of_salt_words_is_its_own_base() -> None:
    assert base_name("potassium chloride") == "potassium chloride"
    assert base_name("Rosuvastatin Calcium") == "rosuvastatin"


def _fit(question: str, text: str, title: str) -> str:
    table = default_reference()
    frame = read_frame(question, table=table)
    found = candidates([_passage(text, title)], frame, table)
    assert found, "the sentence should be quotable"
    return found[0].fit


@pytest.mark.parametrize(
    ("question", "text", "title", "expected"),
    [
        (
            "What is the dosage for betamethasone?",
            "Apply a thin film of Betamethasone Dipropionate Cream to the affected skin once daily.",
            "Betamethasone: Dose",
            "on",
        ),
        (
            "Is warfarin safe with other drugs?",
            "Do not use with any other drug containing aspirin unless a doctor says so.",
            "Warfarin: Interaction",
            "on",
        ),
        (
            "Is warfarin safe with other drugs?",
            "Do not use with any other drug containing aspirin unless a doctor says so.",
            "Aspirin: Interaction",
            "off-drug",
        ),
        (
            "What is the warfarin dose?",
            "The usual aspirin dose is 75 mg once daily with food.",
            "Warfarin: Dose",
            "off-drug",
        ),
    ],
    ids=[
        "salt-named-in-the-source",
        "no-dose-in-the-asked-drugs-document",
        "no-dose-in-another-drugs-document",
        "another-drugs-dose-never",
    ],
)
def test_fit_of_drugs_as_sources_name_them(
    question: str, text: str, title: str, expected: str
) -> None:
    assert _fit(question, text, title) == expected


def test_fit_reads_the_passage_a_candidate_comes_from() -> None:
    table = default_reference()
    frame = read_frame("What is the warfarin dose?", table=table)
    passage = _passage("The usual aspirin dose is 75 mg once daily with food.", "Warfarin: Dose")
    info = analyse(passage, table)[0]
    drugs = frozenset(frame.drugs)
    assert fit(info, passage.chunk.text, passage, frame, table, drugs) == "off-drug"


@pytest.mark.parametrize(
    ("text", "start", "quotable"),
    [
        ("Do not mix with\nother insulins", 0, True),
        ("store at temperature not exceeding 30°C (86°F). Do not freeze.", 0, True),
        ("NORCO® 5/325 ... NORCO® 7.5/325 ... NORCO® 10/325 …", 0, True),
        ("Do not mix with\nother insulins", 120, False),
        ("## Storage\nDo not freeze.", 0, False),
    ],
    ids=["two-lines", "lower-case-then-short", "list-of-strengths", "mid-document", "heading"],
)
def test_a_document_that_is_one_record_in_pieces_is_one_quotable_statement(
    text: str, start: int, quotable: bool
) -> None:
    infos = analyse(_passage(text, start=start), default_reference())
    if quotable:
        assert len(infos) == 1 and infos[0].quotable
        assert (infos[0].start, infos[0].end) == (0, len(text.rstrip()))
    else:
        assert not any(i.quotable for i in infos)


def test_a_record_is_said_on_one_line() -> None:
    assert one_line("Do not mix with\nother insulins") == "Do not mix with other insulins"
    assert one_line("Postmenopausal Osteoporosis\nPaget's Disease") == (
        "Postmenopausal Osteoporosis; Paget's Disease"
    )
    assert one_line("Store below 30°C.\nDo not freeze.") == "Store below 30°C. Do not freeze."


@pytest.mark.parametrize(
    ("text", "start", "quotable"),
    [
        ("It is most useful during convalescence and cools the body of fever.", 0, True),
        ("It is most useful during convalescence and cools the body of fever.", 200, False),
    ],
    ids=["document-opens-with-it", "mid-document"],
)
def test_a_documents_first_sentence_leans_on_nothing(text: str, start: int, quotable: bool) -> None:
    text = text + " Palmarosa oil is steam distilled from the grass."
    infos = analyse(_passage(text, "Palmarosa: Usage", start), default_reference())
    assert infos[0].quotable is quotable


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("amyotrophic lateral sclerosis", "ALS"),
        ("non-small cell lung cancer", "NSCLC"),
        ("chronic obstructive pulmonary disease", "COPD"),
        ("glioblastoma", None),
    ],
)
def test_acronym(phrase: str, expected: str | None) -> None:
    assert acronym(phrase) == expected


def test_a_condition_written_as_its_abbreviation_is_named() -> None:
    text = "Riluzole modestly prolongs survival in ALS."
    assert condition_share("amyotrophic lateral sclerosis", text) == 1.0
    assert condition_share("amyotrophic lateral sclerosis", "Riluzole in ALSO trials.") == 0.0


@pytest.mark.parametrize(
    ("question", "condition"),
    [
        ("Can mucinex be used with other over-the-counter or prescription medications?", None),
        ("I have had a cough for a couple of weeks, what can I take?", None),
        ("Is dicyclomine good for heartburn?", "heartburn"),
    ],
    ids=["other-medicines", "span-of-time", "a-condition"],
)
def test_what_is_no_asked_condition(question: str, condition: str | None) -> None:
    assert read_frame(question, table=default_reference()).condition == condition


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            "Good evening, this is Priya. We have been worried about this for a couple of "
            "weeks. what is formoterol",
            "what is formoterol",
        ),
        ("My patient has AF. What apixaban dose?", "My patient has AF. What apixaban dose?"),
        ("What is the dose of apixaban?", "What is the dose of apixaban?"),
    ],
    ids=["greeting-and-worry", "a-clinical-sentence-stays", "one-sentence"],
)
def test_a_short_message_is_read_without_its_chat(message: str, expected: str) -> None:
    assert focus(message) == expected


def test_the_asked_condition_is_read_from_the_asking_sentences() -> None:
    message = (
        "Hi, my name is Kwame and I hope someone can help me. We have been worried about "
        "this for a long time. what meloxicam look like Thank you so much for your time!"
    )
    assert read_frame(message, table=default_reference()).condition is None


@pytest.mark.parametrize(
    ("typed", "drug"),
    [
        ("gabaepntin", "gabapentin"),
        ("cortisnoe", "cortisone"),
        ("daizepam", "diazepam"),
        ("millgirams", None),
    ],
    ids=["swapped", "swapped-near-another-drug", "short-name", "no-drug"],
)
def test_a_misspelt_drug_is_read_as_the_drug(typed: str, drug: str | None) -> None:
    assert _misspelt_drug(typed) == drug


@pytest.mark.parametrize(
    ("condition", "text", "loose", "share"),
    [
        ("treatment of amyotrophic lateral sclerosis", "No benefit was seen in ALS.", False, 1.0),
        ("embryonic stem cells (esc) self-renewal", "Markers of ESC identity.", False, 1.0),
        ("nucleus", "Nuclear actin regulates transcription.", True, 1.0),
        ("nucleus", "Nuclear actin regulates transcription.", False, 0.0),
        ("cancer patients", "Dosed by anti-Xa level in patients.", False, 0.5),
        ("cancer patients", "Dosed by anti-Xa level in patients.", True, 0.0),
        ("mild alzheimer disease", "No delay of decline in people with mild AD.", True, 1.0),
        ("mild alzheimer disease", "No delay of decline in people with severe AD.", True, 0.0),
    ],
    ids=[
        "initials-without-care-words",
        "the-questions-own-abbreviation",
        "same-root-read-loosely",
        "same-root-not-for-a-dose",
        "care-words-count-for-a-dose",
        "care-words-left-out-loosely",
        "leading-words-then-initials",
        "leading-word-missing",
    ],
)
def test_condition_share_readings(condition: str, text: str, loose: bool, share: float) -> None:
    assert condition_share(condition, text, loose=loose) == share


def test_a_sentence_is_about_the_asked_condition_through_its_abstract() -> None:
    table = default_reference()
    frame = read_frame("Is actin present in the nucleus?", table=table)
    text = "Nuclear actin was first seen decades ago. Polymer forms were shown only recently."
    found = candidates([_passage(text, "PubMed 1")], frame, table)
    assert [c.fit for c in found] == ["on", "on"]


def test_a_dose_names_the_asked_condition_itself() -> None:
    table = default_reference()
    frame = read_frame("What was given for amyotrophic lateral sclerosis?", table=table)
    text = "A trial enrolled people with ALS. Participants received 800 mg/day for a year."
    found = candidates([_passage(text, "PubMed 2")], frame, table)
    assert [c.fit for c in found] == ["on", "off-use"]


def test_the_asked_condition_binds_doses_and_drug_questions_not_other_statements() -> None:
    """A question that names no drug is answered by the sentences the retriever found, in
    their own words ("What is the treatment for acute graft failure?" answered by an abstract on
    rejection); a dose must still name the asked condition."""
    table = default_reference()
    frame = read_frame("What is the treatment for acute graft failure?", table=table)
    assert frame.condition and not frame.drugs
    plain = _passage("Rejection is driven by donor-specific antibodies and complement.")
    info = analyse(plain, table)[0]
    assert fit(info, plain.chunk.text, plain, frame, table, frozenset()) == "on"
    dose = _passage("Prednisolone 60 mg once daily is given for asthma exacerbations.")
    info = analyse(dose, table)[0]
    assert fit(info, dose.chunk.text, dose, frame, table, frozenset()) == "off-use"


class _Vocabulary:
    """What the index knows, for the spelling reader: stems and one-slip neighbours."""

    def __init__(self, stems: set[str]) -> None:
        self.stems = stems

    def knows(self, token: str) -> bool:
        return token in self.stems

    def closest_term(self, term: str, cutoff: float = 85.0) -> str | None:
        return next((s for s in sorted(self.stems) if _one_slip(term, s)), None)


def _one_slip(a: str, b: str) -> bool:
    from assistant.pipeline import _slips

    return _slips(a, b, 1) <= 1


def test_a_slip_in_the_asked_condition_is_read_as_the_sources_spell_it() -> None:
    from retrieval.tokenize import tokenize

    corpus = "minocycline mild alzheimer disease people forget patients glioblastoma hellp"
    vocabulary = _Vocabulary(set(tokenize(corpus)))
    question = "Hello, I forgot to ask. Should minocycline be used for mild Alzheimer disesae?"
    frame = read_frame(question, table=default_reference())
    assert frame.condition == "mild alzheimer disesae"
    # Only the condition's words are respelt: "Hello" and "forgot" are words as typed, even
    # though the corpus knows "hellp" and "forget", one slip away.
    assert _spellings(question, frame, vocabulary) == (
        "Hello, I forgot to ask. Should minocycline be used for mild Alzheimer disease?"
    )


@pytest.mark.parametrize(
    ("text", "quotable"),
    [
        ("Thus, our findings uncover a fork protection function of AND-1.", True),
        ("Therefore, apixaban is preferred over warfarin in these patients.", True),
        ("Thus, it should not be used in children.", False),
        ("Hence these patients need a lower dose of the drug.", False),
    ],
    ids=["conclusion-then-claim", "conclusion-then-drug", "conclusion-then-it", "no-comma"],
)
def test_a_conclusion_word_leans_only_when_what_follows_does(text: str, quotable: bool) -> None:
    first = "Apixaban was studied in a large randomised trial of adults. "
    infos = analyse(_passage(first + text, "Results", 0), default_reference())
    assert infos[-1].quotable is quotable


@pytest.mark.parametrize(
    ("text", "title", "expected"),
    [
        # a perioperative guideline's beta-blocker passage names no anticoagulant
        (
            "Start 2 to 7 days before surgery to assess tolerability.",
            "Perioperative care",
            "off-drug",
        ),
        # the asked drug's own label: a sentence without its name still speaks of it
        (
            "Stop it at least 48 hours before surgery with a high bleeding risk.",
            "Apixaban label",
            "on",
        ),
        # another drug's label
        (
            "Rivaroxaban is stopped at least 24 hours before surgery.",
            "Rivaroxaban label",
            "off-drug",
        ),
    ],
    ids=["no-drug-anywhere", "own-label", "other-drug"],
)
def test_a_drug_question_is_answered_only_by_sentences_about_that_drug(
    text: str, title: str, expected: str
) -> None:
    """ "When should apixaban be stopped before surgery?": a sentence that names no drug
    answers it only from a passage (text, headings or title) that names apixaban."""
    assert _fit("When should apixaban be stopped before surgery?", text, title) == expected


@pytest.mark.parametrize(
    "question",
    [
        "When should rivaroxaban be stopped before surgery?",
        "How long before surgery should apixaban be stopped?",
        "When do I hold dabigatran before a procedure?",
        "Should apixaban be stopped before surgery?",
        "How many days before surgery do I stop Eliquis?",
    ],
)
def test_when_to_stop_a_drug_around_an_event_is_a_timing_question(question: str) -> None:
    frame = read_frame(question)
    assert frame.intent == "duration" and frame.timing is not None and frame.drugs


def test_child_pugh_is_no_child() -> None:
    from assistant.abstention import asked_settings

    named = [name for name, _ in asked_settings("and if he also has Child-Pugh C cirrhosis?")]
    assert "children" not in named
    assert "children" in [name for name, _ in asked_settings("argatroban dose in children?")]
