"""Table-driven tests of every guard rule: at least one pass and one block case each."""

from __future__ import annotations

from pathlib import Path

import pytest

from guardrails.check import check
from guardrails.patient import Patient
from guardrails.reference import Drug, default_reference
from guardrails.rules import REGISTRY, RULES, rule_table

# (id, answer sentence, patient, context, rule ids that must fire, allowed)
# fmt: off
CASES = [
    # DOSE_OK / DOSE_RANGE
    ("ok-argatroban", "For HIT, argatroban is started at 2 mcg/kg/min as a continuous IV infusion.", None, "", {"DOSE_OK"}, True),
    ("ok-titrated", "For HIT, the argatroban infusion is adjusted up to 5 mcg/kg/min to reach the target aPTT.", None, "", {"DOSE_OK"}, True),
    ("range-above", "For HIT, argatroban is started at 20 mcg/kg/min as a continuous IV infusion.", None, "", {"DOSE_RANGE"}, False),
    ("range-below", "For PCI, bivalirudin is given as a 0.075 mg/kg IV bolus.", None, "", {"DOSE_RANGE"}, False),
    ("range-words", "For surgical VTE prophylaxis, fondaparinux is given twenty-five mg subcutaneously once daily.", None, "", {"DOSE_RANGE"}, False),
    ("ok-words", "For surgical VTE prophylaxis, fondaparinux is given two point five mg subcutaneously once daily.", None, "", set(), None),
    ("ok-decimal-comma", "For PCI, bivalirudin is given as a 0,75 mg/kg IV bolus.", None, "", {"DOSE_OK"}, True),
    ("range-decimal-comma", "For PCI, bivalirudin is given as a 7,5 mg/kg IV bolus.", None, "", {"DOSE_RANGE"}, False),
    ("ok-range", "For acute HIT, fondaparinux is given 5 to 10 mg subcutaneously once daily by body weight.", None, "", {"DOSE_OK"}, True),
    # DOSE_UNIT
    ("unit-mg-for-mcg", "For HIT, argatroban is started at 2 mg/kg/min as a continuous IV infusion.", None, "", {"DOSE_UNIT"}, False),
    ("unit-per-hour", "For HIT, argatroban is started at 2 mcg/kg/h as a continuous IV infusion.", None, "", {"DOSE_UNIT"}, False),
    ("ok-microgram-sign", "For HIT, argatroban is started at 2 µg/kg/min as a continuous IV infusion.", None, "", {"DOSE_OK"}, True),
    ("ok-greek-mu", "For HIT, argatroban is started at 2 μg/kg/min as a continuous IV infusion.", None, "", {"DOSE_OK"}, True),
    # DOSE_PER_KG
    ("per-kg-dropped", "For treatment of acute DVT, enoxaparin is given 1 mg subcutaneously every 12 hours.", None, "", {"DOSE_PER_KG"}, False),
    ("ok-per-kg", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously every 12 hours.", None, "", {"DOSE_OK"}, True),
    # DOSE_FREQUENCY
    ("frequency", "For VTE prophylaxis after knee replacement, enoxaparin is given 30 mg subcutaneously once daily.", None, "", {"DOSE_FREQUENCY"}, False),
    ("ok-frequency", "For VTE prophylaxis after knee replacement, enoxaparin is given 30 mg subcutaneously every 12 hours.", None, "", {"DOSE_OK"}, True),
    # DOSE_ARITHMETIC
    ("arithmetic", "For treatment of acute DVT, enoxaparin is given 1 mg/kg (100 mg for an 80 kg patient) subcutaneously every 12 hours.", None, "", {"DOSE_ARITHMETIC"}, False),
    ("ok-arithmetic", "For treatment of acute DVT, enoxaparin is given 1 mg/kg (80 mg for an 80 kg patient) subcutaneously every 12 hours.", None, "", {"DOSE_OK"}, True),
    # RENAL_ADJUSTMENT
    ("renal-missed", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously every 12 hours.", Patient(crcl_ml_min=20), "", {"RENAL_ADJUSTMENT"}, False),
    ("renal-from-question", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously every 12 hours.", None, "and if CrCl is 25?", {"RENAL_ADJUSTMENT"}, False),
    # The CrCl < 30 regimen with no reason given: blocked, named as the interval slip it looks like.
    ("reduced-dose-unprompted", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously once daily.", None, "", {"DOSE_FREQUENCY"}, False),
    ("reduced-amount-unprompted", "For PCI, bivalirudin is infused at 1 mg/kg/h after the bolus.", None, "", {"RENAL_ADJUSTMENT"}, False),
    ("ok-renal", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously once daily.", Patient(crcl_ml_min=20), "", {"DOSE_OK"}, True),
    ("ok-cockcroft-gault", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously once daily.",
     Patient(age=80, weight_kg=50, sex="female", serum_creatinine_mg_dl=2.0), "", {"DOSE_OK"}, True),
    # HEPATIC_ADJUSTMENT
    ("hepatic-missed", "For HIT, argatroban is started at 2 mcg/kg/min as a continuous IV infusion.", Patient(hepatic_impairment=True), "", {"HEPATIC_ADJUSTMENT"}, False),
    ("ok-hepatic", "In moderate or severe hepatic impairment, argatroban for HIT is started at 0.5 mcg/kg/min.", None, "", {"DOSE_OK"}, True),
    # WEIGHT_BAND
    ("weight-band", "For treatment of acute DVT, fondaparinux is given 7.5 mg subcutaneously once daily.", Patient(weight_kg=45), "", {"WEIGHT_BAND"}, False),
    ("ok-weight-band", "For treatment of acute DVT, fondaparinux is given 5 mg subcutaneously once daily.", Patient(weight_kg=45), "", {"DOSE_OK"}, True),
    # CONTRAINDICATION
    ("contra-lmwh-hit", "For treatment of acute DVT, enoxaparin is given 1 mg/kg subcutaneously every 12 hours.", Patient(hit=True), "", {"CONTRAINDICATION"}, False),
    ("contra-hit-from-question", "Start heparin 80 units/kg IV bolus for the acute PE.", None, "patient with a history of HIT and a new PE", {"CONTRAINDICATION"}, False),
    ("contra-fondaparinux-crcl", "For surgical VTE prophylaxis, fondaparinux is given 2.5 mg subcutaneously once daily.", Patient(crcl_ml_min=20), "", {"CONTRAINDICATION"}, False),
    ("ok-contra-negated", "Enoxaparin 1 mg/kg every 12 hours must not be given in HIT.", Patient(hit=True), "", set(), None),
    ("contra-hit-no-dose", "Continue the heparin infusion at the current rate.", Patient(hit=True), "", {"CONTRAINDICATION"}, False),
    ("ok-hit-stop-heparin", "Stop all heparin, including flushes, and start argatroban.", Patient(hit=True), "", set(), True),
    # DOSE_UNVERIFIED / DOSE_UNPARSED: fail closed, withheld
    ("unverified-no-drug", "The dose is 15 mg/kg IV every 12 hours.", None, "", {"DOSE_UNVERIFIED"}, False),
    ("ok-drug-from-previous-sentence", "Enoxaparin is used to treat acute DVT. It is given 1 mg/kg every 12 hours.", None, "", {"DOSE_OK"}, True),
    ("unparsed", "For HIT, argatroban 2 per kg is started.", None, "", {"DOSE_UNPARSED"}, False),
    # NO_REFERENCE (a warning: allowed, never silent)
    ("no-reference-use", "For atrial fibrillation, enoxaparin 1 mg/kg subcutaneously every 12 hours.", None, "", {"NO_REFERENCE"}, True),
    # DOSE_ROUTE: a stated route no regimen of the drug has for the use (apixaban is oral only);
    # the dose is still named as not verified for that route
    ("route", "For acute PE, apixaban 10 mg IV twice daily.", None, "", {"DOSE_ROUTE", "NO_REFERENCE"}, False),
    ("ok-route", "For acute PE, apixaban 10 mg orally twice daily.", None, "", {"DOSE_OK"}, True),
    ("ok-route-unstated", "For acute PE, apixaban 10 mg twice daily.", None, "", {"DOSE_OK"}, True),
    # frequency on every route: no IV rivaroxaban entry, and q1h is no interval it has
    ("frequency-other-route", "Rivaroxaban 20 mg IV every 1 hour for atrial fibrillation.", None, "", {"DOSE_FREQUENCY"}, False),
]
# fmt: on


@pytest.mark.parametrize(
    ("sentence", "patient", "context", "rules", "allowed"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_rule(
    sentence: str, patient: Patient | None, context: str, rules: set[str], allowed: bool | None
) -> None:
    verdict = check(sentence, patient=patient, context=context)
    fired = {f.rule_id for f in verdict.findings}
    assert rules <= fired, [(f.rule_id, f.message) for f in verdict.findings]
    if allowed is not None:
        assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]
    for f in verdict.findings:
        assert f.message and sentence[f.span[0] : f.span[1]] == f.text
        if f.severity == "block" and f.rule_id in _REFERENCE_RULES:
            assert f.expected and f.source, f  # a block says what the reference says, and where
            assert f.citation == f"{f.source.doc_id}: \u201c{f.source.quote}\u201d"


_REFERENCE_RULES = {
    "DOSE_RANGE", "DOSE_FREQUENCY", "DOSE_ROUTE", "DOSE_UNIT", "DOSE_PER_KG", "RENAL_ADJUSTMENT",
    "HEPATIC_ADJUSTMENT", "WEIGHT_BAND", "POPULATION",
}  # fmt: skip


def test_every_rule_has_a_case() -> None:
    covered = set().union(*(c[4] for c in CASES)) | {
        "NUMBER_UNGROUNDED",  # test_grounding
        "CITATION_UNKNOWN",  # test_grounding
        "POPULATION",  # test_population_rule_for_age
        "NOT_IN_REFERENCE",  # test_not_in_reference_names_the_drug
        "INDICATION_MISMATCH",  # test_issue12.py
        "SOURCES_DIFFER",  # test_own_source.py
        "SOURCE_QUOTED",  # test_own_source.py
        "STATEMENT_UNSUPPORTED",  # test_support.py
        "SOURCE_MISMATCH",  # test_source_doses.py
    }
    assert set(RULES) <= covered


QUOTE = (
    "For HIT, argatroban is started at 2 mcg/kg/min as a continuous IV infusion without a bolus."
)


@pytest.mark.parametrize(
    ("answer", "citations", "rule", "allowed"),
    [
        ("Argatroban for HIT starts at 2 mcg/kg/min [1].", {1: "p1"}, None, True),
        (
            "Argatroban for HIT starts at 2 mcg/kg/min for 14 days [1].",
            {1: "p1"},
            "NUMBER_UNGROUNDED",
            False,
        ),
        ("Argatroban for HIT starts at 2 mcg/kg/min [2].", {1: "p1"}, "CITATION_UNKNOWN", False),
        (
            "Argatroban for HIT starts at 2 mcg/kg/min [1, 2].",
            {1: "p1", 2: "p2"},
            "CITATION_UNKNOWN",
            False,
        ),
    ],
    ids=["grounded", "ungrounded-number", "unknown-marker", "one-marker-unknown"],
)
def test_grounding(answer: str, citations: dict[int, str], rule: str | None, allowed: bool) -> None:
    verdict = check(answer, citations=citations, passages={"p1": QUOTE})
    assert verdict.allowed is allowed
    if rule:
        assert rule in {f.rule_id for f in verdict.findings}


def test_population_rule_for_age() -> None:
    sentence = "For STEMI, enoxaparin is given 0.75 mg/kg subcutaneously every 12 hours."
    blocked = check(sentence, patient=Patient(age=60))
    assert "POPULATION" in {f.rule_id for f in blocked.findings} and not blocked.allowed
    assert check(sentence, patient=Patient(age=80)).allowed


def test_verdict_counts_doses_and_keeps_spans_in_order() -> None:
    text = (
        "Vancomycin 15 mg/kg IV every 12 hours. "
        "For PCI, bivalirudin is given as a 0.75 mg/kg IV bolus followed by 1.75 mg/kg/h."
    )
    verdict = check(text)
    assert verdict.checked_doses == 2
    starts = [f.span[0] for f in verdict.findings]
    assert starts == sorted(starts)


def test_not_in_reference_names_the_drug() -> None:
    """A recognised drug the reference has no entries for is a warning that names it."""
    table = default_reference()
    extra = Drug(name="vancomycin", names=["vancomycin", "Vancocin"])
    with_vancomycin = table.model_copy(update={"drugs": [*table.drugs, extra]})
    verdict = check("Vancomycin 15 mg/kg IV every 12 hours.", reference=with_vancomycin)
    (f,) = verdict.findings
    assert (f.rule_id, f.severity, f.drug) == ("NOT_IN_REFERENCE", "warn", "vancomycin")
    assert "vancomycin" in f.message and verdict.allowed


def test_registry_is_the_readme_table() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert rule_table() in readme
    assert [r.order for r in REGISTRY] == sorted(r.order for r in REGISTRY)
    assert len({r.id for r in REGISTRY}) == len(REGISTRY)


def test_every_verdict_carries_the_reference_digest() -> None:
    verdict = check("For HIT, argatroban is started at 2 mcg/kg/min.")
    assert (
        verdict.reference_digest == default_reference().digest
        and len(verdict.reference_digest) == 16
    )
    assert check("no doses here").reference_digest == verdict.reference_digest


@pytest.mark.parametrize("section", ["## Adding a drug", "## Adding a dose", "## Adding a rule"])
def test_guard_doc_says_how_to_extend(section: str) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "GUARD.md").read_text(encoding="utf-8")
    assert section in doc
