"""Curated text quoted with its own passage cited is right by construction: amounts that are
no drug's dose pass, a dose under a class heading resolves to the section's one member of the
class; and real errors beside them still block."""

from __future__ import annotations

import pytest

from guardrails import check
from guardrails.types import SourceText


def _blocks(sentence: str, passage: str | None = None) -> list[str]:
    source = SourceText(passage or sentence, "Guideline")
    verdict = check(f"{sentence} [1]", {1: "p"}, {"p": source})
    return [f.rule_id for f in verdict.findings if f.severity == "block"]


# Amounts of measured quantities and intakes: no dose, nothing to withhold.
NOT_DOSES = [
    ("tidal-volume", "Tidal volume 6-8 mL/kg predicted body weight"),
    (
        "tidal-volume-of",
        "Despite a tidal volume of 6 mL/kg, reduce tidal volume further to 4 mL/kg.",
    ),
    ("pbw-after", "Ventilation at 6 mL/kg PBW reduces mortality compared to 12 mL/kg PBW."),
    ("infarct-core", "NIHSS of 10 or more and infarct core < 21 mL"),
    ("mismatch-volume", "Mismatch volume ≥ 15 mL"),
    ("hematoma-volume", "Hematoma volume > 15 mL"),
    ("alcohol-after", "Women: < 20 g/day of alcohol"),
    ("sodium-after", "Optimal goal: < 1,500 mg/day sodium."),
    ("dietary-potassium", "Increase dietary potassium intake to 3,500-5,000 mg/day."),
    ("effluent", "Recommend delivering an effluent volume of 20-25 mL/kg/h for CRRT in AKI."),
    ("albuminuria", "Markers of kidney damage: albuminuria (ACR ≥ 30 mg/g), urine sediment."),
    ("peak-vo2", "Peak VO2 < 12 mL/kg/min (if exercise testing feasible)"),
    ("protein-after", "Optimize nutrition (35 kcal/kg/day, 1.2–1.5 g protein/kg/day)."),
]


@pytest.mark.parametrize(("text"), [t for _, t in NOT_DOSES], ids=[i for i, _ in NOT_DOSES])
def test_an_amount_of_a_measured_quantity_is_no_dose(text: str) -> None:
    assert _blocks(text) == []


# A drug named beside such a word keeps its amount a dose, and a wrong one blocks.
REAL_DOSES = [
    ("drug-before-pbw", "Enoxaparin 400 mg PBW subcutaneously every 12 hours."),
    ("drug-between", "Total daily intake of enoxaparin 400 mg subcutaneously."),
    ("drug-after-measure", "Tidal volume aside, give heparin 80,000 units/kg IV bolus."),
    ("unnamed-near-measure", "Give 400 mg IV now; tidal volume was 6 mL/kg."),
]


@pytest.mark.parametrize(("text"), [t for _, t in REAL_DOSES], ids=[i for i, _ in REAL_DOSES])
def test_a_drug_dose_beside_a_measure_word_is_still_checked(text: str) -> None:
    # Uncited: quoted word for word from its own passage, the dose would be that source's
    # statement (tests/guardrails/test_own_source.py); the reference judges it here.
    assert [f.rule_id for f in check(text).findings if f.severity == "block"] != []


SEPSIS = "## Septic shock\n\n### Corticosteroids\n\n- Dose: 200 mg/day IV\n"
# (id, passage, unresolved): the dose under a class heading resolves by the section's members.
CLASS_CASES = [
    ("one-member", SEPSIS + "- Agent: hydrocortisone, in divided doses.\n", False),
    ("two-members", SEPSIS + "- Agent: hydrocortisone or dexamethasone.\n", True),
    ("member-in-another-section", SEPSIS + "\n## Other\n\nHydrocortisone is used elsewhere.\n", True),
    ("no-class-word", "## Shock\n\n### Anticoagulation\n\n- Dose: 200 mg/day IV\n- Agent: hydrocortisone.\n", True),
]  # fmt: skip


@pytest.mark.parametrize(
    ("passage", "unresolved"), [c[1:] for c in CLASS_CASES], ids=[c[0] for c in CLASS_CASES]
)
def test_a_dose_under_a_class_resolves_to_the_sections_one_member(
    passage: str, unresolved: bool
) -> None:
    verdict = check("Dose: 200 mg/day IV [1]", {1: "p"}, {"p": SourceText(passage, "Guideline")})
    # The line is quoted word for word: a drug it cannot resolve is shown as the source's
    # statement, unverified (SOURCE_QUOTED), not withheld.
    found = [f.rule_id for f in verdict.findings if f.rule_id != "NOT_IN_REFERENCE"]
    assert verdict.allowed
    assert (found == ["SOURCE_QUOTED"]) if unresolved else ("SOURCE_QUOTED" not in found)


def _contraindications(sentence: str, patient: dict[str, object]) -> list[str]:
    from guardrails.patient import Patient

    source = SourceText(sentence, "Label")
    verdict = check(f"{sentence} [1]", {1: "p"}, {"p": source}, Patient(**patient))  # type: ignore[arg-type]
    return [f.rule_id for f in verdict.findings if f.rule_id == "CONTRAINDICATION"]


@pytest.mark.parametrize(
    "sentence",
    [
        "Rivaroxaban and apixaban can be reversed with andexanet alfa; give it as an IV bolus.",
        "For reversing apixaban, andexanet alfa is given as an IV bolus then an infusion.",
    ],
)
def test_the_drug_being_reversed_is_not_the_drug_given(sentence: str) -> None:
    # The agent is given to a bleeding patient, not the drug it reverses.
    assert _contraindications(sentence, {"active_bleeding": True}) == []


def test_an_instruction_to_give_the_contraindicated_drug_still_blocks() -> None:
    found = _contraindications("Continue rivaroxaban and give it daily.", {"active_bleeding": True})
    assert found == ["CONTRAINDICATION"]


def test_a_use_the_sentence_sets_aside_is_not_read_from_its_passage() -> None:
    # The passage speaks of PCI; the quoted item is for medical management "(no PCI)", and
    # the question asks about acute coronary syndromes: no indication mismatch.
    passage = (
        "- **During PCI:** 70–100 IU/kg IV bolus (weight-adjusted).\n"
        "- **Medical management (no PCI):** 60 IU/kg IV bolus (max 4,000 IU), then 12 IU/kg/h "
        "infusion (max 1,000 IU/h)."
    )
    item = "Heparin — Medical management (no PCI): 60 IU/kg IV bolus (max 4,000 IU)."
    source = SourceText(passage, "Acute coronary syndromes", ("Unfractionated Heparin (UFH)",))
    context = "NSTE-ACS for medical management, no cath planned. UFH bolus?"
    verdict = check(f"{item} [1]", {1: "p"}, {"p": source}, context=context)
    assert "INDICATION_MISMATCH" not in {f.rule_id for f in verdict.findings}
    # The PCI item itself is still read as PCI's, which the reference doses otherwise.
    pci = "Heparin — During PCI: 70–100 IU/kg IV bolus (weight-adjusted)."
    assert not check(f"{pci} [1]", {1: "p"}, {"p": source}, context=context).allowed
