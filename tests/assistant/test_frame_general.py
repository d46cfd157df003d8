"""The question frame reads questions from any guideline, not only the anticoagulation one.

Words the dose reference uses for its anticoagulation uses ("secondary prevention", "hip
fracture") also belong to other fields; a rate or a maximum is a dose question; the asked
condition is the disease the question is about, not a feature named beside it.
"""

from __future__ import annotations

import pytest

from assistant.frame import read_frame
from guardrails.reference import default_reference


def frame(question: str):
    return read_frame(question, [], None, default_reference())


@pytest.mark.parametrize(
    "question",
    [
        "clopidogrel for secondary prevention after ischaemic stroke - dose?",
        "atorvastatin for secondary prevention after a heart attack, what dose?",
        "alendronate after a hip fracture - what dose?",
        "vancomycin dose for a prosthetic valve endocarditis?",
    ],
    ids=["stroke", "statin", "osteoporosis", "endocarditis"],
)
def test_a_shared_term_outside_anticoagulation_names_no_use(question: str) -> None:
    assert frame(question).indications == frozenset()


@pytest.mark.parametrize(
    ("question", "indication"),
    [
        ("Secondary prevention after a second DVT: how long?", "vte-extended"),
        ("rivaroxaban for secondary prevention, what dose?", "vte-extended"),
        ("enoxaparin prophylaxis after hip fracture surgery?", "vte-prophylaxis-hip-fracture"),
        ("dalteparin dose for acutely ill medical patients?", "vte-prophylaxis-medical"),
    ],
    ids=["clot-word", "dosed-drug", "prophylaxis-word", "dosed-drug-medical"],
)
def test_a_shared_term_in_its_own_context_names_its_use(question: str, indication: str) -> None:
    assert frame(question).indication == indication


@pytest.mark.parametrize(
    "question",
    [
        "Geneva score for a suspected DVT: how many points for age over 65?",
        "Which decision rule for acute PE lets me skip the CTPA?",
        "revised Geneva criteria - does a DVT make PE likely?",
    ],
    ids=["geneva-points", "decision-rule", "criteria"],
)
def test_an_assessment_question_is_no_treatment_question(question: str) -> None:
    f = frame(question)
    assert f.indication is None
    assert "vte-treatment" not in f.indications


def test_a_clot_question_about_a_dose_still_asks_for_its_treatment() -> None:
    assert frame("Apixaban dose for a new DVT found on ultrasound?").indication == "vte-treatment"


def test_a_clot_named_beside_a_drug_dosed_for_another_use_is_no_treatment_question() -> None:
    # The idarucizumab is dosed for reversal; the DVT is why the patient took dabigatran.
    f = frame("Idarucizumab dose? Big GI bleed, he takes dabigatran 150 for a DVT last year")
    assert f.indication != "vte-treatment"


@pytest.mark.parametrize(
    "question",
    [
        "Thyroid storm, HR 160. Esmolol infusion - what rate do I start at and what's the max?",
        "Aortic dissection, labetalol drip: what's the max?",
        "Salbutamol nebs in acute asthma - how many per hour?",
        "Vasopressin for septic shock, units per minute?",
    ],
    ids=["rate-and-max", "max", "per-hour", "per-hour-2"],
)
def test_a_rate_a_maximum_or_an_amount_per_hour_is_a_dose_question(question: str) -> None:
    assert frame(question).intent == "dose"


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What is hepatorenal syndrome?", "definition"),
        ("Define refeeding syndrome", "definition"),
        ("Gout flare on allopurinol - what's the next step?", "choice"),
        ("Bronchiolitis in a 6-month-old: what are the choices?", "choice"),
        ("FIB-4 of 3.1 in NAFLD - what's the next test?", "other"),
        ("GCS 9 after a fall: what's the Marshall grade?", "definition"),
    ],
    ids=["what-is", "define", "next-step", "choices", "next-test", "what-is-the-grade"],
)
def test_a_definition_is_asked_only_by_what_is_x(question: str, intent: str) -> None:
    assert frame(question).intent == intent


@pytest.mark.parametrize(
    ("question", "condition"),
    [
        ("labetalol for pre-eclampsia - dose and frequency?", "pre-eclampsia"),
        ("prednisolone for giant cell arteritis: starting dose?", "giant cell arteritis"),
        (
            "Status epilepticus, seizing for 10 minutes with hypoxia. Lorazepam IV - dose?",
            "status epilepticus",
        ),
        ("Thyroid storm, HR 160 with delirium. Propranolol dose?", "thyroid storm"),
        ("hydrocortisone for septic shock pt - dose?", "septic shock"),
    ],
    ids=["dash-dose", "colon-dose", "feature-with", "feature-with-2", "trailing-pt"],
)
def test_the_asked_condition_is_the_disease_the_question_is_about(
    question: str, condition: str
) -> None:
    assert frame(question).condition == condition


def test_a_feature_in_the_same_clause_is_still_the_condition() -> None:
    # Nothing opens the question before the "with": the phrase after it is the condition.
    assert frame("Ceftriaxone dose for a child with meningitis?").condition == "meningitis"


@pytest.mark.parametrize(
    "question",
    [
        "A 60 kg man with hyperkalaemia and a lactate of 6: how much calcium gluconate?",
        "Burns resuscitation with lactated Ringer's - rate for a 70 kg woman?",
    ],
    ids=["lactate", "lactated-ringers"],
)
def test_lactate_is_no_breastfeeding(question: str) -> None:
    assert "breastfeeding" not in frame(question).populations


def test_a_lactating_mother_is_breastfeeding() -> None:
    assert "breastfeeding" in frame("Is sertraline safe for a lactating mother?").populations


@pytest.mark.parametrize(
    ("question", "indication"),
    [
        ("dabigatran for non-valvular AF, what dose?", "af"),
        ("edoxaban dose in non-valvular AF with CrCl 40?", "af"),
    ],
)
def test_non_joined_to_another_word_negates_only_that_word(question: str, indication: str) -> None:
    assert frame(question).indication == indication


def test_non_joined_to_the_use_still_rules_it_out() -> None:
    assert "cancer-vte" in frame("New DVT in a non-cancer patient: apixaban dose?").excluded


@pytest.mark.parametrize(
    ("question", "timing"),
    [
        ("How long before surgery should apixaban be stopped?", ("before", "surgery")),
        # A word that qualifies another is no event: the DVT was provoked by surgery.
        ("How long should anticoagulation continue after a surgery-provoked DVT?", None),
    ],
)
def test_a_timing_names_the_event_itself(question: str, timing: tuple[str, str] | None) -> None:
    from assistant.frame import timing_in

    assert timing_in(question) == timing
