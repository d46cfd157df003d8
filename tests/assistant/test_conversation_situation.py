"""The situation of a conversation and the search query of its follow-ups: conditions kept
until negated, the first turn's subject kept, numbers kept beside their measures."""

from __future__ import annotations

import pytest

from assistant.conversation import standalone_query
from assistant.frame import read_frame
from assistant.situation import measures_in
from assistant.types import Turn
from guardrails.reference import default_reference


def _history(*user_turns: str) -> list[Turn]:
    out: list[Turn] = []
    for text in user_turns:
        out += [Turn("user", text), Turn("assistant", "An answer [1]")]
    return out


def test_a_condition_stated_earlier_stays_and_reaches_the_guard() -> None:
    history = _history(
        "Bivalirudin for a patient with heparin-induced thrombocytopenia, what dose?",
        "She is pregnant, 30 weeks.",
    )
    frame = read_frame("and if she goes to PCI tomorrow?", history)
    s = frame.situation
    assert {"hit", "pregnancy"} <= s.conditions
    assert "pci" in s.procedures
    assert frame.patient.hit is True and frame.patient.pregnant is True
    query = standalone_query("and if she goes to PCI tomorrow?", history)
    assert query.startswith("bivalirudin")
    assert "pregnancy" in query


def test_a_negated_condition_is_removed_and_only_then() -> None:
    history = _history(
        "Fondaparinux for a DVT in a man with active bleeding from a duodenal ulcer?",
        "What is his weight-based dose? He weighs 92 kg.",
    )
    kept = read_frame("Anything to add?", history)
    assert "active_bleeding" in kept.situation.conditions
    assert kept.patient.active_bleeding is True
    gone = read_frame("He is no longer bleeding. Can we start it now?", history)
    assert "active_bleeding" not in gone.situation.conditions
    assert "active_bleeding" in gone.situation.negated
    assert gone.patient.active_bleeding is False
    assert "active bleeding" not in standalone_query(
        "Can we start it now?",
        history[:2] + [Turn("user", "He is no longer bleeding."), Turn("assistant", "ok")],
    )


def test_hit_ruled_out_removes_hit() -> None:
    history = _history("Suspected HIT on day 6 of heparin, which anticoagulant?")
    frame = read_frame("HIT ruled out by the functional assay. Back to heparin?", history)
    assert "hit" not in frame.situation.conditions and frame.patient.hit is False


def test_the_subject_of_the_first_turn_stays_in_the_query() -> None:
    history = _history("Labetalol dose for severe hypertension in pre-eclampsia?")
    query = standalone_query("Heart rate keeps falling after each bolus", history)
    assert "labetalol" in query.lower() and "Heart rate keeps falling" in query
    frame = read_frame("Heart rate keeps falling after each bolus", history)
    assert frame.situation.subject_drugs == ("labetalol",)


def test_a_first_turn_with_no_known_drug_or_use_leaves_its_clinical_words() -> None:
    history = _history("Myxoedema coma, 70 kg, on the ward. What first?")
    query = standalone_query("temperature is down to 38.4, now what?", history)
    assert query.startswith("Myxoedema")
    assert "temperature is down to 38.4" in query


def test_a_drug_named_rather_than_another_replaces_only_that_one() -> None:
    history = _history("Switching from warfarin to apixaban in AF, when do I start?")
    frame = read_frame("What if she was on dabigatran rather than warfarin?", history)
    s = frame.situation
    assert "warfarin" not in s.drugs and {"dabigatran", "apixaban"} <= set(s.drugs)
    query = standalone_query("What if she was on dabigatran rather than warfarin?", history)
    assert query.startswith("apixaban")


def test_a_newer_value_replaces_an_older_one() -> None:
    history = _history("Dabigatran for AF, CrCl 55 mL/min: dose?", "And if CrCl is 40?")
    frame = read_frame("and if CrCl is 28?", history)
    assert frame.situation.patient.crcl_ml_min == 28


def test_a_new_question_is_not_a_follow_up() -> None:
    history = _history("What is the argatroban dose in HIT?")
    question = "What is the enoxaparin dose for acute DVT?"
    assert standalone_query(question, history) == question
    assert "hit" in read_frame(question, history).situation.conditions  # still the patient's


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Her eGFR 25 now", ["eGFR 25"]),
        ("Calculated a score of 6 today", ["score of 6"]),
        ("K 3.1 and Mg 0.6 mmol/L", ["K 3.1", "Mg 0.6 mmol/L"]),
        ("His CrCl is 38 mL/min", ["CrCl is 38 mL/min"]),
        ("lactate has come down to 2.1", ["lactate has come down to 2.1"]),
        ("PF4 pending", []),
        ("the 3", []),
    ],
)
def test_measures_in(text: str, expected: list[str]) -> None:
    assert measures_in(text) == expected


def test_a_long_message_keeps_its_numbers_in_the_query() -> None:
    # A sentence of everyday words with a number is dropped from a long message by focus;
    # the number stays in the query beside its measure.
    question = (
        "Good evening. We were at the clinic most of the afternoon and it was a long day. "
        "The doctor said the score was 6 and we did not follow. "
        "Should apixaban be stopped before his knee operation next week?"
    )
    query = standalone_query(question, [])
    assert "score was 6" in query


@pytest.mark.parametrize(
    ("question", "asked", "taking"),
    [
        # The drug the patient is on is background to the one asked about.
        (
            "septic shock still on norad after 4h, dose of hydrocortisone?",
            "hydrocortisone",
            "norepinephrine",
        ),
        ("EF 30%, HR 64 on max-tolerated bisoprolol. Add ivabradine?", "ivabradine", "bisoprolol"),
        # A drug named twice, once not as taken, is asked about.
        ("on warfarin and aspirin - INR 4?", "warfarin", None),
        # A reversal agent's question is about the drug taken as well.
        ("ICH in a pt on apixaban 10 mg bid, andexanet regimen?", "apixaban", None),
    ],
)
def test_a_drug_the_patient_already_takes_is_background(
    question: str, asked: str, taking: str | None
) -> None:
    frame = read_frame(question, [], None, default_reference())
    assert frame.drugs[0] == asked
    assert frame.taking == ((taking,) if taking else ())


@pytest.mark.parametrize(
    ("scope", "question", "contradicted"),
    [
        ("Penicillin allergy", "CAP, CURB-65 = 2, no allergies. Which antibiotics?", True),
        ("Penicillin allergy", "CAP, penicillin allergic. Which antibiotics?", False),
        ("Cancer-associated VTE", "Recurrent DVT, no cancer found - what now?", True),
    ],
)
def test_a_unit_for_a_condition_the_patient_does_not_have(
    scope: str, question: str, contradicted: bool
) -> None:
    from assistant.situation import contradicts

    frame = read_frame(question, [], None, default_reference())
    assert contradicts(scope, frame.situation) is contradicted


@pytest.mark.parametrize(
    ("text", "held", "negated"),
    [
        # A condition defined by a value is read from the value, in either direction.
        ("PE with RV strain on echo, BP 125/80 - should we lyse?", False, True),
        ("Confirmed PE, SBP 82 for the last 20 min.", True, False),
        ("MAP 60 on norad", True, False),
        ("For PE with hemodynamic compromise", True, False),
    ],
)
def test_a_condition_is_read_from_the_patients_values(text: str, held: bool, negated: bool) -> None:
    from assistant.situation import conditions_in

    h, n = conditions_in(text)
    assert ("hemodynamic_compromise" in h) is held
    assert ("hemodynamic_compromise" in n) is negated


def test_a_subject_in_everyday_words_is_kept_without_its_generic_words() -> None:
    from assistant.situation import clinical_words
    from guardrails.lexicon import common_words

    assert clinical_words("Asthma step 3 treatment?", common_words()) == ("Asthma", "step")
    # Words no everyday vocabulary has are the subject on their own.
    assert clinical_words("DKA insulin rate?", common_words()) == ("DKA",)
