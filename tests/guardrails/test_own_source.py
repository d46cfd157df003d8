"""A dose quoted word for word from the passage it cites is that source's own statement: it
is judged against its source, not blocked by the reference's regimen for another context.
Where the reference gives it otherwise the answer carries a SOURCES_DIFFER warning that names
the reference's source and dose; a changed number, the patient's own facts and a look-alike
digit still block."""

from __future__ import annotations

import pytest

from guardrails import check
from guardrails.check import quotes
from guardrails.patient import Patient
from guardrails.types import SourceText, Verdict

# A renal-impairment section: its once-daily enoxaparin dose is the reference's dose for
# CrCl < 30 mL/min, which nothing in the quoted line says.
PASSAGE = SourceText(
    "## Dosing in renal impairment\n\n"
    "- Enoxaparin: 1 mg/kg SC once daily\n"
    "- Fondaparinux: 2.5 mg IV on day 1\n"
    "- Budesonide-formoterol 200/6 mcg, 1 inhalation twice daily\n"
    "- Argatroban is started at 1O mcg/kg/min.\n",
    "Kidney guideline",
)
QUOTE = "Enoxaparin: 1 mg/kg SC once daily"


def _check(sentence: str, patient: Patient | None = None, context: str = "") -> Verdict:
    return check(f"{sentence} [1].", {1: "p"}, {"p": PASSAGE}, patient, context)


def _rules(verdict: Verdict, severity: str) -> list[str]:
    return sorted({f.rule_id for f in verdict.by_severity(severity)})  # type: ignore[arg-type]


def test_a_verbatim_quote_the_reference_doses_otherwise_passes_with_sources_differ() -> None:
    verdict = _check(QUOTE)
    assert verdict.allowed
    (differ,) = [f for f in verdict.findings if f.rule_id == "SOURCES_DIFFER"]
    assert differ.severity == "warn"
    # It names the reference's source and the dose it gives.
    assert differ.source is not None and differ.expected
    assert differ.message.startswith(f"sources differ: {differ.source.doc_id} gives enoxaparin ")
    assert differ.expected in differ.message and "every 12 hours" in differ.expected
    assert "Kidney guideline" in differ.message


def test_the_same_line_uncited_still_blocks() -> None:
    assert _rules(check(f"{QUOTE}."), "block") == ["DOSE_FREQUENCY"]


@pytest.mark.parametrize(
    ("sentence", "rules"),
    [
        pytest.param(
            "Enoxaparin: 10 mg/kg SC once daily",
            ["DOSE_RANGE", "NUMBER_UNGROUNDED"],
            id="number-changed",
        ),
        pytest.param(
            "Enoxaparin: 1 mcg/kg SC once daily", ["DOSE_RANGE"], id="unit-changed-numbers-kept"
        ),
    ],
)
def test_a_quote_that_is_not_verbatim_blocks_as_before(sentence: str, rules: list[str]) -> None:
    verdict = _check(sentence)
    assert _rules(verdict, "block") == rules
    assert "SOURCES_DIFFER" not in _rules(verdict, "warn")
    # the dose rule is the one the sentence meets uncited
    assert set(_rules(check(f"{sentence}."), "block")) == set(rules) - {"NUMBER_UNGROUNDED"}


def test_a_quote_cut_before_its_condition_blocks_as_before() -> None:
    passage = SourceText("Enoxaparin 1 mg/kg SC once daily if CrCl is below 30 mL/min.", "Label")
    verdict = check("Enoxaparin 1 mg/kg SC once daily [1].", {1: "p"}, {"p": passage})
    assert _rules(verdict, "block") == ["DOSE_FREQUENCY"]


@pytest.mark.parametrize(
    ("patient", "context"),
    [
        pytest.param(Patient(crcl_ml_min=60), "", id="patient-fields"),
        pytest.param(None, "What enoxaparin dose for DVT with CrCl 60 mL/min?", id="question"),
    ],
)
def test_a_verbatim_quote_whose_band_excludes_the_patient_blocks(
    patient: Patient | None, context: str
) -> None:
    verdict = _check(QUOTE, patient, context)
    assert _rules(verdict, "block") == ["RENAL_ADJUSTMENT"]
    assert "CrCl 60 mL/min" in verdict.by_severity("block")[0].message


def test_a_verbatim_quote_for_the_patients_own_band_passes() -> None:
    verdict = _check(QUOTE, Patient(crcl_ml_min=20))
    assert verdict.allowed and _rules(verdict, "info") == ["DOSE_OK"]


def test_a_band_read_from_the_quote_alone_is_a_difference_of_sources() -> None:
    # No fact of the patient's: the reference's CrCl band for 60 mg of edoxaban in atrial
    # fibrillation is no fact of this patient's, and the sentence is the source's.
    passage = SourceText("**Edoxaban:** Standard dose is 60 mg once daily.", "Atrial fibrillation")
    quoted = check("**Edoxaban:** Standard dose is 60 mg once daily [1].", {1: "p"}, {"p": passage})
    assert quoted.allowed and _rules(quoted, "warn") == ["SOURCES_DIFFER"]
    reworded = check("Edoxaban standard dose: 60 mg once daily [1].", {1: "p"}, {"p": passage})
    assert _rules(reworded, "block") == ["RENAL_ADJUSTMENT"]


def test_a_verbatim_look_alike_still_blocks() -> None:
    verdict = _check("Argatroban is started at 1O mcg/kg/min")
    assert _rules(verdict, "block") == ["DOSE_UNPARSED"]
    assert "letter" in verdict.by_severity("block")[0].message


def test_a_verbatim_route_the_reference_lacks_is_a_difference_of_sources() -> None:
    assert _rules(_check("Fondaparinux: 2.5 mg IV on day 1"), "block") == []
    assert "DOSE_ROUTE" in _rules(check("Fondaparinux: 2.5 mg IV on day 1."), "block")


def test_a_verbatim_combination_strength_is_the_sources_own() -> None:
    quoted = _check("Budesonide-formoterol 200/6 mcg, 1 inhalation twice daily")
    assert quoted.allowed and "SOURCE_QUOTED" in _rules(quoted, "warn")
    changed = _check("Budesonide-formoterol 400/6 mcg, 1 inhalation twice daily")
    assert "DOSE_UNPARSED" in _rules(changed, "block")


def test_a_verbatim_dose_of_no_resolved_drug_is_shown_unverified() -> None:
    passage = SourceText("Treatment of hypoglycaemia\n\nGlucose 15–20 g is preferred.", "Diabetes")
    quoted = check("Glucose 15–20 g is preferred [1].", {1: "p"}, {"p": passage})
    assert quoted.allowed and _rules(quoted, "warn") == ["SOURCE_QUOTED"]
    reworded = check("Glucose 15–20 g is the preferred one [1].", {1: "p"}, {"p": passage})
    assert _rules(reworded, "block") == ["DOSE_UNVERIFIED"]


@pytest.mark.parametrize(
    ("sentence", "passage", "verbatim"),
    [
        pytest.param("Apixaban 5 mg twice daily", "Apixaban 5 mg twice daily.", True, id="whole"),
        pytest.param(
            "Apixaban  5 MG twice daily [3]", "Apixaban 5 mg twice daily.", True, id="normalised"
        ),
        pytest.param(
            "Standard dosing — Apixaban: 5 mg BID",
            "Standard dosing\n\n| Drug | Dose |\n|---|---|\n| Apixaban | 5 mg BID |",
            True,
            id="unit-pieces",
        ),
        pytest.param(
            "Enoxaparin 1 mg/kg once daily",
            "For CrCl below 30 mL/min, give\nenoxaparin 1 mg/kg once daily.",
            False,
            id="wrapped-line-end",
        ),
        pytest.param(
            "Enoxaparin 1 mg", "Enoxaparin 1 mg/kg every 12 hours.", False, id="cut-inside"
        ),
        pytest.param(
            "Enoxaparin 1 mg/kg once daily",
            "Enoxaparin 1 mg/kg once daily if CrCl is below 30 mL/min.",
            False,
            id="cut-before-its-condition",
        ),
        pytest.param(
            "Standard dosing — Apixaban: 2.5 mg BID",
            "Standard dosing\n\n| Drug | Dose |\n|---|---|\n| Apixaban | 5 mg BID |",
            False,
            id="unit-piece-changed",
        ),
    ],
)
def test_what_counts_as_a_verbatim_quote(sentence: str, passage: str, verbatim: bool) -> None:
    assert quotes(sentence, passage) is verbatim


def test_a_quoted_unit_of_several_sentences_is_cited_once_at_its_end() -> None:
    passage = SourceText(
        "## Edoxaban\n\n- *Dose Reduction:* Reduce to 30 mg once daily if CrCl 15–50 mL/min. "
        "(Note: it is not recommended if CrCl > 95 mL/min).\n",
        "AF guideline",
    )
    item = passage.text.split("- ", 1)[1].strip()
    quoted = check(f"{item} [1]", {1: "p"}, {"p": passage})
    assert quoted.allowed
    # the run up to the marker must be one verbatim quote: a changed word in it is not
    changed = item.replace("Reduce to", "Use")
    assert not check(f"{changed} [1]", {1: "p"}, {"p": passage}).allowed


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        pytest.param("Enoxaparin 10 mg/kg SC every 12 hours for DVT", "DOSE_RANGE", id="tenfold"),
        pytest.param("Argatroban 2 mg/kg/min IV for HIT", "DOSE_UNIT", id="mg-for-mcg"),
    ],
)
def test_a_verbatim_dose_far_above_every_reference_dose_still_blocks(line: str, rule: str) -> None:
    # no other source's regimen, but the slip the guard exists for, in the source itself
    passage = SourceText(f"{line}.", "A faulty note")
    verdict = check(f"{line} [1].", {1: "p"}, {"p": passage})
    assert _rules(verdict, "block") == [rule]
