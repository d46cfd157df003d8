"""The "doses only for …" refusal fires only where it is true: a dose the question asks
for in its own words, for the drug it asks about, for a group the question does not rule out.
A reversal agent named beside a drug it reverses is asked for that reversal."""

from __future__ import annotations

import pytest

from assistant.evidence import asked_settings, coverage, reversed_by
from assistant.frame import read_frame
from guardrails.patient import extract_patient
from guardrails.reference import default_reference

TABLE = default_reference()


def frame(question: str):
    return read_frame(question, [], None, default_reference())


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("PE, CrCl ~12, not on dialysis.", "crcl_ml_min", 12.0),
        ("CrCl approx 40 mL/min", "crcl_ml_min", 40.0),
        ("plt ~40 today", "platelets", 40.0),
        ("eGFR about 25", "egfr", 25.0),
    ],
)
def test_an_approximate_value_is_still_the_patients(text: str, field: str, value: float) -> None:
    assert getattr(extract_patient(text), field) == value


def test_a_band_a_sentence_states_is_no_patient_value() -> None:
    facts = extract_patient("Give 25 units/kg for INR 2 to < 4 and stop if CrCl < 30 mL/min.")
    assert facts.inr is None
    assert facts.crcl_ml_min is None or facts.crcl_ml_min < 30


@pytest.mark.parametrize(
    "question",
    ["PE, CrCl 12, not on dialysis. Rivaroxaban dose?", "no dialysis; dose of enoxaparin?"],
)
def test_a_group_the_question_rules_out_is_not_asked(question: str) -> None:
    assert "dialysis" not in frame(question).populations
    assert all(name != "dialysis" for name, _ in asked_settings(question))


def test_a_group_the_question_names_is_asked() -> None:
    assert "dialysis" in frame("Enoxaparin dose for DVT in a patient on dialysis?").populations


def test_the_drug_a_reversal_entry_describes_is_reversed() -> None:
    # "For warfarin-associated major bleeding ... vitamin K 5 to 10 mg": vitamin K reverses
    # warfarin, though "warfarin-associated" is no warfarin dose.
    assert "warfarin" in reversed_by("vitamin k", default_reference())


def test_an_agent_named_with_a_drug_it_reverses_is_asked_for_the_reversal() -> None:
    f = frame(
        "on rivaroxaban 10 mg for post-op prophylaxis, took it 3 h ago, now bleeding. "
        "andexanet regimen?"
    )
    result = coverage(f, [], default_reference())
    assert result.status == "covered"
    assert result.drug == "andexanet alfa"


def test_an_agent_named_with_a_drug_it_does_not_reverse_is_not_covered() -> None:
    result = coverage(frame("idarucizumab dose to reverse rivaroxaban?"), [], default_reference())
    assert result.status == "not_covered"
    assert "not for reversing rivaroxaban" in (result.message or "")


def test_shorthand_that_asks_no_dose_in_its_words_is_never_refused() -> None:
    f = frame("Pooled data: thrombosis rate on rivaroxaban for acute HIT?")
    assert not f.explicit_intent
    assert coverage(f, [], default_reference()).status == "covered"


def test_a_lactate_is_no_setting_and_breastfeeding_is_its_own() -> None:
    assert asked_settings("Septic shock, lactate 4.2 mmol/L: fluids?") == []
    names = [name for name, _ in asked_settings("She is breastfeeding. Still apixaban?")]
    assert names == ["breastfeeding"]


def test_a_source_on_renal_replacement_therapy_speaks_of_its_continuous_forms() -> None:
    (name, pattern), *_ = asked_settings("HIT in a patient on CVVH: circuit anticoagulant?")
    assert name == "continuous renal replacement therapy"
    assert pattern.search("Use a non-heparin anticoagulant during RRT.")


@pytest.mark.parametrize(
    ("question", "listed"),
    [
        ("typical prophylactic doses of enox, dalteparin and SC heparin?", True),
        ("PE, CrCl 28. LMWH or UFH to start?", True),
        ("DVT in Child-Pugh B - edoxaban ok after the heparin lead-in?", False),
        ("AF, CrCl 42, just started dronedarone. Dabigatran dose?", False),
    ],
)
def test_drugs_named_side_by_side_are_a_list(question: str, listed: bool) -> None:
    from assistant.pipeline import lists_drugs

    assert lists_drugs(question) is listed


def _pool(*texts: str):
    from assistant.evidence import sentences_of, shared_contexts
    from corpus.types import Chunk, DocumentInfo
    from retrieval.types import Passage

    passages = []
    for i, text in enumerate(texts):
        doc = DocumentInfo(f"doc{i}", f"Guideline {i}", "guideline")
        chunk = Chunk(f"doc{i}#0-{len(text)}", doc.id, text, 0, len(text), ("Dosing",))
        passages.append(Passage(chunk, doc, score=1.0, rank=i + 1))
    return sentences_of(passages, shared_contexts(default_reference()))


def test_a_dose_that_names_no_use_is_no_other_use() -> None:
    # The only dose of the drug says nothing of its use: Bedside cannot say the sources
    # give it "only for" another use.
    f = frame("What is the enoxaparin dose for PCI?")
    assert f.explicit_intent and f.indication
    pool = _pool("Enoxaparin is given 40 mg subcutaneously once daily.")
    assert coverage(f, pool, default_reference()).status == "covered"
    # A dose stated for another use is one.
    other = _pool("For VTE prophylaxis after hip replacement, enoxaparin is 40 mg once daily.")
    assert coverage(f, other, default_reference()).status == "not_covered"


@pytest.mark.parametrize(
    ("question", "gone"),
    [
        (
            "Rivaroxaban bleed, no andexanet in the hospital. What else can we use?",
            "andexanet alfa",
        ),
        ("HIT and argatroban is unavailable here: which anticoagulant?", "argatroban"),
    ],
)
def test_a_drug_the_question_says_is_not_to_be_had_is_out_of_play(question: str, gone: str) -> None:
    f = frame(question)
    assert gone in f.ruled_out and gone not in f.drugs
    assert gone not in f.situation.drugs


def test_ruling_out_a_reversal_agent_asks_for_another_reversal() -> None:
    from assistant.evidence import as_reversal, reversal_agents

    f = as_reversal(frame("Rivaroxaban bleed, no andexanet in the hospital. What else?"), TABLE)
    assert f.intent == "reversal"
    assert "andexanet alfa" not in reversal_agents(f, TABLE)


def test_stopping_a_drug_does_not_rule_it_out() -> None:
    f = frame("Stopped warfarin 3 days ago. When can we operate?")
    assert f.drugs == ("warfarin",) and f.ruled_out == ()


@pytest.mark.parametrize(
    ("question", "total"),
    [
        (
            "alteplase dose for stroke, 60 kg?",
            "For this patient (60 kg): 54 mg (0.9 mg/kg × 60 kg).",
        ),
        (
            "alteplase dose for stroke, 120 kg?",
            "For this patient (120 kg): 90 mg (0.9 mg/kg × 120 kg, capped at the stated maximum).",
        ),
        ("alteplase dose for stroke, 220 lb?", "For this patient (99.8 kg): 89.8 mg"),
    ],
)
def test_a_weight_based_quote_is_worked_out_for_the_patient(question: str, total: str) -> None:
    from assistant.pipeline import _with_total
    from assistant.types import Draft, Statement
    from guardrails import check
    from guardrails.types import SourceText

    quote = "Dose: 0.9 mg/kg (maximum total dose: 90 mg)."
    draft = Draft((), (), Statement(quote, (1,), "guideline"))
    f = frame(question)
    worked = _with_total(draft, f)
    assert worked.bottom_line is not None and worked.bottom_line.text.startswith(total)
    assert worked.statements[0].text == quote  # the quote follows the total
    # The guard verifies the product and lets it through.
    verdict = check(
        f"{worked.bottom_line.raw} {quote} [1]",
        {1: "p"},
        {"p": SourceText(quote, "Alteplase for acute ischaemic stroke")},
        f.patient,
    )
    assert verdict.allowed, [x.message for x in verdict.findings]


def test_a_bolus_and_a_rate_per_kg_are_both_worked_out_and_checked() -> None:
    from assistant.pipeline import _with_total
    from assistant.types import Draft, Statement
    from guardrails import check
    from guardrails.types import SourceText

    quote = (
        "Medical management (no PCI): 60 IU/kg IV bolus (max 4,000 IU), then 12 IU/kg/h "
        "infusion (max 1,000 IU/h)."
    )
    draft = Draft((), (), Statement(quote, (1,), "guideline"))
    f = frame("NSTE-ACS, no cath planned, 95 kg. UFH bolus and infusion?")
    worked = _with_total(draft, f)
    assert worked.bottom_line is not None
    assert worked.bottom_line.text == (
        "For this patient (95 kg): 4,000 units (60 units/kg × 95 kg, capped at the stated "
        "maximum); then 1,000 units/h (12 units/kg/h × 95 kg, capped at the stated maximum)."
    )
    source = SourceText(quote, "Acute coronary syndromes", ("Unfractionated Heparin (UFH)",))
    # Each line as the answer shows it, cited.
    answer = f"{worked.bottom_line.raw} [1]\n{quote} [1]"
    verdict = check(answer, {1: "p"}, {"p": source}, f.patient)
    assert verdict.allowed, [x.message for x in verdict.findings]
    # A rate worked out wrong is withheld.
    wrong = answer.replace("1,000 units/h", "1,400 units/h")
    assert not check(wrong, {1: "p"}, {"p": source}, f.patient).allowed


def test_a_table_row_for_the_asked_use_covers_it() -> None:
    # The dose for the asked use stands in a table row under a heading that names the use;
    # the row is quoted as a unit, so the use is covered though the raw row is no sentence.
    from assistant.evidence import sentences_of, shared_contexts
    from corpus.types import Chunk, DocumentInfo
    from retrieval.types import Passage

    f = frame("Nicardipine dose for hypertensive emergency?")
    assert f.explicit_intent and f.condition
    other = _pool("For acute stroke, nicardipine is started at 5 mg/h IV.")
    row = (
        "| Agent | Starting Dose |\n|---|---|\n| **Nicardipine** | 5 mg/hr IV, up by 2.5 mg/hr |\n"
    )
    doc = DocumentInfo("bp", "Blood pressure guideline", "guideline")
    chunk = Chunk(
        f"bp#0-{len(row)}", doc.id, row, 0, len(row), ("IV Agents for Hypertensive Emergency",)
    )
    table = sentences_of([Passage(chunk, doc, 1.0, 2)], shared_contexts(TABLE))
    assert coverage(f, other, TABLE).status == "not_covered"
    assert coverage(f, [*other, *table], TABLE).status == "covered"
