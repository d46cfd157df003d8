"""Frames and dose cards read from the question alone (no index): procedures, ruled-out
uses, routes, stages, INR bands, contraindications, bands that exclude the patient, ratio
doses, and reversal agents named for a drug they do not reverse."""

from __future__ import annotations

import pytest

from assistant.cards import dose_card
from assistant.evidence import coverage, reversed_by
from assistant.frame import excluded_in, read_frame
from assistant.types import Turn
from guardrails import check
from guardrails.patient import Patient, extract_patient
from guardrails.reference import default_reference

TABLE = default_reference()


def card_for(question: str, history: list[Turn] | None = None):  # type: ignore[no-untyped-def]
    return dose_card(read_frame(question, history or [], None, TABLE), TABLE)


def test_a_procedure_named_beside_a_condition_is_the_asked_use() -> None:
    frame = read_frame(
        "What danaparoid dose is used for cardiopulmonary bypass in a patient with HIT?"
    )
    assert frame.indication == "cardiac-surgery"
    assert frame.patient.hit is True
    # The HIT regimens are not a bypass dose: no card.
    assert dose_card(frame, TABLE) is None


@pytest.mark.parametrize(
    ("text", "excluded"),
    [
        ("acute DVT in a patient who does not have cancer", {"cancer-vte"}),
        ("suspected thrombosis, HIT ruled out", set()),  # "ruled out" after: not read
        ("a patient without HIT", {"hit"}),
        ("dalteparin for cancer-associated VTE", set()),
    ],
)
def test_ruled_out_uses(text: str, excluded: set[str]) -> None:
    assert set(excluded_in(text, TABLE)) == excluded


def test_a_clot_in_a_cancer_patient_is_cancer_associated_vte() -> None:
    frame = read_frame(
        "Fragmin for a cancer patient with a new PE who weighs 100 kg, first 30 days?"
    )
    assert frame.indication == "cancer-vte" and frame.stage == "initial"
    assert frame.condition is None


def test_child_pugh_is_no_child() -> None:
    frame = read_frame("argatroban starting dose for HIT with Child-Pugh C cirrhosis?")
    assert "children" not in frame.populations
    assert frame.patient.hepatic_impairment is True


@pytest.mark.parametrize(
    ("text", "inr"),
    [
        ("INR 5", 5.0),
        ("INR of 8.2", 8.2),
        ("INR > 6", None),
        ("target INR 2 to 3", None),
        ("25 units/kg for INR 2 to < 4", None),
    ],
)
def test_inr_is_read(text: str, inr: float | None) -> None:
    assert extract_patient(text).inr == inr


def test_the_inr_band_selects_the_pcc_dose_in_the_card_and_the_guard() -> None:
    card = card_for("Warfarin, major bleed, INR 5, 80 kg: how much Kcentra to reverse it?")
    assert card is not None and "2,800 units" in card.headline.text
    ok = check("Kcentra 35 units/kg IV for warfarin reversal.", patient=Patient(inr=5))
    assert ok.allowed
    wrong = check("Kcentra 25 units/kg IV for warfarin reversal.", patient=Patient(inr=5))
    assert not wrong.allowed
    unknown = check("Kcentra 25 units/kg IV for warfarin reversal.", patient=Patient())
    assert unknown.allowed  # with the INR unknown every band stands


def test_the_named_route_and_weight_pick_the_regimen() -> None:
    card = card_for(
        "Subcutaneous unfractionated heparin for an outpatient with DVT who weighs 90 kg?"
    )
    assert card is not None
    assert "29,970 units" in card.headline.text and "22,500 units" in card.headline.text


def test_the_maintenance_stage_shows_its_steps() -> None:
    history = [
        Turn("user", "Dalteparin dose for cancer-associated VTE?"),
        Turn("assistant", "200 units/kg once daily for the first 30 days, then 150 units/kg."),
    ]
    card = card_for("and after the first month, for an 80 kg patient?", history)
    assert card is not None
    assert "12,000 units" in card.headline.text and "16,000" not in card.headline.text


def test_a_contraindicated_drug_gets_no_dose() -> None:
    card = card_for("Fondaparinux dose for prophylaxis after hip fracture surgery, CrCl 25?")
    assert card is not None and card.status == "contraindicated"
    assert "contraindicated" in card.headline.text and card.regimens == ()
    assert check(card.headline.text, patient=Patient(crcl_ml_min=25)).allowed


def test_no_band_for_the_patient_says_so_without_a_dose() -> None:
    card = card_for("dabigatran dose for PE treatment with CrCl 25?")
    assert card is not None and card.status == "no_band"
    assert "150 mg" not in card.headline.text and "CrCl ≥ 30 mL/min" in card.headline.text


def test_a_ratio_dose_is_not_carded() -> None:
    assert card_for("How do I reverse heparin with protamine, what dose?") is None


def test_reversal_agents_name_what_they_reverse() -> None:
    assert reversed_by("andexanet alfa", TABLE) == {"apixaban", "rivaroxaban"}
    frame = read_frame("Andexanet alfa dose for a patient bleeding on dabigatran?")
    cover = coverage(frame, [], TABLE)
    assert cover.status == "not_covered" and cover.drug == "andexanet alfa"
    assert "apixaban or rivaroxaban" in (cover.message or "")


def test_shorthand_with_a_drug_and_a_use_asks_for_the_dose() -> None:
    frame = read_frame("apixaban for AF in a 79 year old weighing 58 kg with creatinine 1.6")
    assert frame.intent == "dose"
    card = dose_card(frame, TABLE)
    assert card is not None and "2.5 mg orally twice daily" in card.headline.text


def test_a_turn_naming_only_a_drug_keeps_the_conversations_use() -> None:
    history = [
        Turn("user", "Suspected HIT, 4Ts score 6. What do I start?"),
        Turn("assistant", "Stop all heparin and start a non-heparin anticoagulant."),
        Turn("user", "Argatroban then. What dose? His CrCl is 18."),
        Turn("assistant", "2 mcg/kg/min."),
    ]
    frame = read_frame("and if he also has Child-Pugh C cirrhosis?", history)
    assert frame.indication == "hit" and frame.drugs == ("argatroban",)


def test_an_indication_term_asks_for_no_management() -> None:
    frame = read_frame("enoxaparin for DVT treatment in a 45 kg woman with CrCl 22")
    assert frame.intent == "dose"
    card = dose_card(frame, TABLE)
    assert card is not None and "45 mg subcutaneously once daily" in card.headline.text
    assert read_frame("What is the best treatment for HIT?").intent == "choice"


def test_breastfeeding_is_its_own_group() -> None:
    frame = read_frame("Is warfarin safe while breastfeeding?")
    assert frame.intent == "safety" and frame.populations == ("breastfeeding",)


def test_a_phase_word_in_the_dose_clause_names_its_use() -> None:
    context = "septic shock with a DVT despite enoxaparin prophylaxis: what now?"
    said = (
        "ICU studies have found subtherapeutic anti-Factor Xa levels with standard enoxaparin "
        "40 mg prophylaxis in many critically ill patients."
    )
    assert check(said, context=context).allowed
    both = (
        "Enoxaparin at CrCl < 30 mL/min is reduced to 30 mg subcutaneously once daily for "
        "prophylaxis and 1 mg/kg subcutaneously once daily for treatment."
    )
    assert check(both, patient=Patient(crcl_ml_min=20)).allowed
    wrong = "Enoxaparin 400 mg prophylaxis once daily."
    assert not check(wrong).allowed


@pytest.mark.parametrize(
    ("message", "left"),
    [
        ("how to administer denosumab Thanks in advance.", "how to administer denosumab"),
        ("what is the dose >65? Any advice is welcome, thanks.", "what is the dose >65?"),
        ("Is it safe? Kind regards, Ann", "Is it safe? Ann"),
        ("thanks", "thanks"),  # nothing else: kept as it is
    ],
)
def test_sign_offs_are_no_part_of_the_question(message: str, left: str) -> None:
    from assistant.frame import without_small_talk

    assert without_small_talk(message) == left
    assert read_frame(message).condition is None


def test_greetings_and_small_talk_leave_the_query() -> None:
    from assistant.frame import focus

    message = (
        "Good evening, this is Grace. I was at the pharmacy yesterday and nobody could really "
        "tell me. what are the milligrams for oxycodone"
    )
    assert focus(message) == "what are the milligrams for oxycodone"
    facts = "He weighs 95 kg and his CrCl is 75. Which enoxaparin dose?"
    assert focus(facts) == facts  # a patient fact is no small talk


def test_a_timing_question_is_answered_on_its_side_of_the_event() -> None:
    from assistant.evidence import analyse, fit
    from corpus.types import Chunk, DocumentInfo
    from retrieval.types import Passage

    frame = read_frame("How long before surgery should apixaban be stopped?")
    assert frame.intent == "duration" and frame.timing == ("before", "surgery")

    def fits(text: str) -> str:
        doc = DocumentInfo("doc", "Apixaban label", "label")
        chunk = Chunk(f"doc#0-{len(text)}", "doc", text, 0, len(text), ())
        passage = Passage(chunk, doc, score=1.0, rank=1)
        info = analyse(passage, TABLE)[0]
        return fit(info, text, passage, frame, TABLE, frozenset({"apixaban"}))

    after = "For prophylaxis after hip replacement, apixaban is given with the first dose 12 to 24 hours after surgery."
    before = "Apixaban is stopped at least 48 hours before surgery with a high bleeding risk."
    assert fits(after) == "off-use"
    assert fits(before) == "on"


def test_crcl_bands_read_as_ranges() -> None:
    card = card_for("Dabigatran dose for atrial fibrillation with CrCl 25 mL/min?")
    assert card is not None and "75 mg orally twice daily" in card.headline.text
    assert "CrCl 15 to < 30 mL/min" in card.headline.text


def test_regimens_chosen_by_what_the_reference_does_not_read_are_named_not_picked() -> None:
    # Asked how to reverse, the card names the low and the high regimen and what chooses
    # between them; each bolus is worded with the rate it is given at.
    card = card_for("How do I reverse apixaban in a life-threatening bleed?")
    assert card is not None
    text = card.headline.text
    assert "400 mg bolus IV at 30 mg/min" in text and "800 mg bolus IV at 30 mg/min" in text
    assert "depends on the strength of the last" in text
    assert card.lines == ()
    # Asked for the agent's dose for a patient whose last dose decides it, no card picks one:
    # the sources' own words for the choice answer.
    from assistant.evidence import as_reversal

    frame = read_frame(
        "on rivaroxaban 10 mg for post-op prophylaxis, took it 3 h ago, now bleeding. "
        "andexanet regimen?",
        [],
        None,
        TABLE,
    )
    asked = as_reversal(frame, TABLE)
    assert asked.condition is None and asked.indication is None  # not the prophylaxis use
    assert dose_card(asked, TABLE) is None
