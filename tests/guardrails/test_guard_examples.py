"""The dose-guard review's examples (issue 12), each as a pass and a block case.

Every case is an answer checked as the pipeline checks it: with the passages it cites (plain
text or a ``SourceText`` with title and headings), the patient and the question.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from guardrails import Patient, SourceText, check
from guardrails.reference import default_reference

PASSAGE = (
    "Enoxaparin is the preferred LMWH for DVT treatment in adults. The recommended dose for DVT "
    "treatment is 10 mg/kg given subcutaneously every 12 hours."
)
PASSAGE_OK = PASSAGE.replace("10 mg/kg", "1 mg/kg")
SECTIONED = SourceText(
    "The recommended dose is 10 mg/kg given subcutaneously every 12 hours.",
    title="Low-molecular-weight heparins in adults",
    section_path=("Enoxaparin", "Treatment of acute DVT"),
    doc_id="guide",
    chunk_id="guide#0-70",
)
SECTIONED_OK = SourceText(
    SECTIONED.text.replace("10 mg/kg", "1 mg/kg"), SECTIONED.title, SECTIONED.section_path
)
TITLED = SourceText(
    "For treatment of acute DVT the dose is 10 mg/kg subcutaneously every 12 hours.",
    title="Enoxaparin (Lovenox): dosing",
)
LABEL = (
    "For inpatient treatment of acute DVT with or without PE, enoxaparin is given 1 mg/kg "
    "subcutaneously every 12 hours or 1.5 mg/kg subcutaneously once daily."
)


@dataclass(frozen=True)
class Case:
    answer: str
    rule: str | None  # a rule that must fire (None: no block, nothing required)
    allowed: bool
    passages: dict[str, str | SourceText] | None = None
    patient: Patient | None = None
    context: str = ""
    drug: str | None = None  # the drug the deciding finding names
    drug_from: str | None = None  # how it was resolved (a prefix)
    extra: dict[str, object] = field(default_factory=dict)


def cited(passage: str | SourceText) -> dict[str, str | SourceText]:
    return {"p1": passage}


# fmt: off
CASES: dict[str, Case] = {
    # -- the drug is named in another sentence, a pronoun, a list, a table, a heading, or nowhere
    "passage-previous-sentence-block": Case(
        "The recommended dose for DVT treatment is 10 mg/kg given subcutaneously every 12 hours. [1]",
        "DOSE_RANGE", False, cited(PASSAGE), drug="enoxaparin", drug_from="cited passage: previous sentence"),
    "passage-previous-sentence-ok": Case(
        "The recommended dose for DVT treatment is 1 mg/kg given subcutaneously every 12 hours [1].",
        "DOSE_OK", True, cited(PASSAGE_OK), drug="enoxaparin", drug_from="cited passage: previous sentence"),
    "passage-with-bibliography-marker-removed": Case(
        "The recommended dose for DVT treatment is 10 mg/kg given subcutaneously every 12 hours [1].",
        "DOSE_RANGE", False, cited(PASSAGE.replace("in adults.", "in adults [12].")), drug="enoxaparin"),
    "pronoun-block": Case(
        "Enoxaparin is used for DVT treatment. It should be given at 10 mg/kg every 12 hours.",
        "DOSE_RANGE", False, drug="enoxaparin", drug_from="answer: previous sentence"),
    "pronoun-ok": Case(
        "Enoxaparin is used for DVT treatment. It should be given at 1 mg/kg every 12 hours.",
        "DOSE_OK", True, drug="enoxaparin"),
    "bullet-list-block": Case(
        "- Drug: enoxaparin\n- Indication: DVT treatment\n- Dose: 10 mg/kg every 12 hours",
        "DOSE_RANGE", False, drug="enoxaparin", drug_from="answer: bullet list"),
    "bullet-list-ok": Case(
        "- Drug: enoxaparin\n- Indication: DVT treatment\n- Dose: 1 mg/kg every 12 hours",
        "DOSE_OK", True, drug="enoxaparin", drug_from="answer: bullet list"),
    "bullet-lead-in-block": Case(
        "Enoxaparin for acute DVT:\n- 10 mg/kg every 12 hours",
        "DOSE_RANGE", False, drug="enoxaparin", drug_from="answer: bullet list"),
    "table-header-block": Case(
        "| Enoxaparin | DVT treatment |\n|---|---|\n| Dose | 10 mg/kg every 12 hours |",
        "DOSE_RANGE", False, drug="enoxaparin", drug_from="answer: table header"),
    "table-header-ok": Case(
        "| Enoxaparin | DVT treatment |\n|---|---|\n| Dose | 1 mg/kg every 12 hours |",
        "DOSE_OK", True, drug="enoxaparin", drug_from="answer: table header"),
    "heading-path-block": Case(
        "The recommended dose is 10 mg/kg given subcutaneously every 12 hours [1].",
        "DOSE_RANGE", False, cited(SECTIONED), drug="enoxaparin", drug_from="cited passage: heading"),
    "heading-path-ok": Case(
        "The recommended dose is 1 mg/kg given subcutaneously every 12 hours [1].",
        "DOSE_OK", True, cited(SECTIONED_OK), drug="enoxaparin", drug_from="cited passage: heading"),
    "title-block": Case(
        "For treatment of acute DVT the dose is 10 mg/kg subcutaneously every 12 hours [1].",
        "DOSE_RANGE", False, cited(TITLED), drug="enoxaparin", drug_from="cited passage: title"),
    "markdown-heading-in-answer": Case(
        "## Enoxaparin\nFor acute DVT the dose is 10 mg/kg every 12 hours.",
        "DOSE_RANGE", False, drug="enoxaparin", drug_from="answer: heading"),
    "no-drug-anywhere": Case(
        "The recommended dose is 10 mg/kg given subcutaneously every 12 hours.", "DOSE_UNVERIFIED", False),
    "several-drugs-before": Case(
        "Argatroban or bivalirudin is used in HIT. It is started at 2 mcg/kg/min.", "DOSE_UNVERIFIED", False),
    # -- HIT without a dose
    "hit-continue-infusion": Case(
        "Continue the heparin infusion at the current rate.", "CONTRAINDICATION", False, patient=Patient(hit=True)),
    "hit-start-enoxaparin": Case(
        "Start enoxaparin for DVT treatment.", "CONTRAINDICATION", False, patient=Patient(hit=True)),
    "hit-flushes": Case(
        "Heparin flushes 100 units/mL are fine to keep the line patent.", "CONTRAINDICATION", False,
        patient=Patient(hit=True)),
    "hit-lock-from-question": Case(
        "Heparin locks can be used for the central line.", "CONTRAINDICATION", False,
        context="patient with suspected HIT, 4Ts score 6"),
    "hit-pronoun": Case(
        "The patient is on a heparin infusion. Continue it at the current rate.", "CONTRAINDICATION", False,
        patient=Patient(hit=True)),
    "hit-stop-all-heparin-ok": Case(
        "Stop all heparin, including flushes and heparin-coated catheters.", None, True, patient=Patient(hit=True)),
    "hit-argatroban-ok": Case(
        "For HIT, start argatroban at 2 mcg/kg/min after stopping all heparin.", "DOSE_OK", True,
        patient=Patient(hit=True)),
    "no-hit-heparin-ok": Case(
        "Continue the heparin infusion at the current rate.", None, True, patient=Patient(hit=False)),
    # -- bivalirudin for HIT outside PCI: the off-label guideline rate (issue 11)
    "bivalirudin-hit-ok": Case(
        "For HIT, bivalirudin is given as a continuous IV infusion starting at 0.15 mg/kg/h without a bolus.",
        "DOSE_OK", True, drug="bivalirudin"),
    "bivalirudin-hit-short-ok": Case("bivalirudin 0.15 mg/kg/h for HIT", "DOSE_OK", True, drug="bivalirudin"),
    "bivalirudin-hit-from-question-ok": Case(
        "Bivalirudin 0.15 mg/kg/h IV, adjusted to the aPTT.", "DOSE_OK", True,
        context="What is the bivalirudin dose for heparin-induced thrombocytopenia?"),
    "bivalirudin-hit-total-for-weight-ok": Case(
        "For HIT, bivalirudin 12 mg/h IV (0.15 mg/kg/h x 80 kg).", "DOSE_OK", True, patient=Patient(weight_kg=80)),
    "bivalirudin-hit-tenfold": Case(
        "For HIT, bivalirudin is given as a continuous IV infusion starting at 1.5 mg/kg/h without a bolus.",
        "DOSE_RANGE", False, drug="bivalirudin"),
    "bivalirudin-hit-per-minute": Case(
        "For HIT, bivalirudin is given as a continuous IV infusion starting at 0.15 mg/kg/min without a bolus.",
        "DOSE_UNIT", False, drug="bivalirudin",
        extra={"message": "fits only as per hour where the reference says per hour, not per minute"}),
    "argatroban-hit-per-hour": Case(
        "For HIT, argatroban 2 mcg/kg/h IV.", "DOSE_UNIT", False, drug="argatroban",
        extra={"message": "fits only as per minute where the reference says per minute, not per hour"}),
    "bivalirudin-hit-pci-infusion": Case("bivalirudin 1.75 mg/kg/h for HIT", "DOSE_RANGE", False),
    "bivalirudin-hit-pci-bolus": Case("For HIT, bivalirudin 0.75 mg/kg IV bolus.", None, False),
    "bivalirudin-hit-outside-pci-ok": Case(
        "For HIT outside PCI, bivalirudin 0.15 mg/kg/h IV.", "DOSE_OK", True, drug="bivalirudin"),
    "bivalirudin-hit-outside-pci-pci-rate": Case(
        "For HIT outside PCI, bivalirudin 1.75 mg/kg/h IV.", "DOSE_RANGE", False, drug="bivalirudin"),
    "bivalirudin-hit-not-pci-pci-rate": Case(
        "For HIT (not PCI), bivalirudin 1.75 mg/kg/h IV.", "DOSE_RANGE", False, drug="bivalirudin"),
    "bivalirudin-pci-with-or-without-hit-ok": Case(
        "For PCI in patients with or without HIT, bivalirudin 1.75 mg/kg/h IV.", "DOSE_OK", True),
    "bivalirudin-hit-hepatic": Case(
        "bivalirudin 0.15 mg/kg/h for HIT", "HEPATIC_ADJUSTMENT", False, patient=Patient(hepatic_impairment=True)),
    "bivalirudin-hit-dialysis": Case(
        "bivalirudin 0.15 mg/kg/h for HIT", "RENAL_ADJUSTMENT", False, patient=Patient(dialysis=True)),
    # -- forms that slipped through (read by the reading layer, refused or judged here)
    "scientific": Case("For DVT treatment, enoxaparin 1e309 mg/kg every 12 hours.", "DOSE_UNPARSED", False),
    "hex": Case("For DVT treatment, enoxaparin 0x10 mg every 12 hours.", "DOSE_UNPARSED", False),
    "html-tags": Case("For DVT treatment, <b>Enoxaparin</b> <i>10</i> mg/kg every 12 hours.", None, False),
    "sup-tag": Case("For DVT treatment, enoxaparin 1<sup>0</sup> mg/kg every 12 hours.", None, False),
    "entity": Case("For DVT treatment, enoxaparin 10&nbsp;mg/kg every 12 hours.", None, False),
    "k-thousand": Case("For DVT treatment, heparin 80k units IV bolus.", None, False),
    "thousand-word": Case("For DVT treatment, heparin 80 thousand units IV bolus.", None, False),
    "fraction": Case("For DVT treatment, enoxaparin 1/2 mg/kg every 12 hours.", None, False),
    "negative": Case("For DVT treatment, enoxaparin -1 mg/kg every 12 hours.", None, False),
    "zero-width-space": Case("For DVT treatment, eno\u200bxaparin 10 mg/kg every 12 hours.", None, False),
    "soft-hyphen": Case("For DVT treatment, eno\u00adxaparin 10 mg/kg every 12 hours.", None, False),
    "combining-accent": Case("For DVT treatment, e\u0301noxaparin 10 mg/kg every 12 hours.", None, False),
    "i-e-correction": Case("For DVT treatment, enoxaparin 1 mg/kg every 12 hours (i.e. 10 mg/kg).", None, False),
    "self-correction": Case("For DVT treatment, enoxaparin 1 mg/kg every 12 hours, actually make it 10.", None, False),
    "plain-form-ok": Case("For DVT treatment, enoxaparin 1 mg/kg every 12 hours.", "DOSE_OK", True),
    # -- route and frequency
    "route-without-entry-frequency": Case(
        "For atrial fibrillation, rivaroxaban 20 mg IV every 1 hour.", "DOSE_FREQUENCY", False),
    # rivaroxaban is given by mouth only: a stated IV route is withheld, the amount and
    # interval being right changes nothing
    "route-without-entry-ok-interval": Case(
        "For atrial fibrillation, rivaroxaban 20 mg IV once daily.", "DOSE_ROUTE", False),
    "route-stated-right": Case(
        "For atrial fibrillation, rivaroxaban 20 mg orally once daily.", "DOSE_OK", True),
    # -- correct doses that were blocked
    "total-per-kg-for-stated-weight": Case(
        "For an 80 kg patient, enoxaparin 1 mg/kg every 12 hours is 80 mg per dose.", "DOSE_OK", True),
    "total-wrong-for-stated-weight": Case(
        "For an 80 kg patient, enoxaparin 1 mg/kg every 12 hours is 120 mg per dose.", None, False),
    "total-per-hour": Case("Heparin 1,800 units/h.", "DOSE_OK", True, patient=Patient(weight_kg=100),
                           context="heparin infusion for DVT treatment"),
    "total-per-hour-wrong": Case("Heparin 18,000 units/h.", None, False, patient=Patient(weight_kg=100),
                                 context="heparin infusion for DVT treatment"),
    "total-enoxaparin-100-kg": Case("Enoxaparin 100 mg SC q12h.", "DOSE_OK", True, patient=Patient(weight_kg=100)),
    "total-enoxaparin-100-kg-wrong-interval": Case(
        "Enoxaparin 100 mg SC every 8 hours.", None, False, patient=Patient(weight_kg=100)),
    "total-capped-at-stated-maximum": Case(
        "For unstable angina, dalteparin 10,000 units SC every 12 hours.", "DOSE_OK", True,
        patient=Patient(weight_kg=100)),
    "total-above-stated-maximum": Case(
        "For unstable angina, dalteparin 12,000 units SC every 12 hours.", None, False,
        patient=Patient(weight_kg=100)),
    "vials": Case("For dabigatran reversal, idarucizumab is given as two 2.5 g vials.", "DOSE_OK", True),
    "one-vial-is-half-the-dose": Case("For dabigatran reversal, idarucizumab 2.5 g IV.", None, False),
    "dose-card-grounded": Case(
        "Enoxaparin 120 mg subcutaneously every 12 hours (1 mg/kg x 120 kg) [1].", "DOSE_OK", True,
        cited(LABEL), Patient(weight_kg=120)),
    "dose-card-ungrounded-total": Case(
        "Enoxaparin 180 mg subcutaneously every 12 hours (1 mg/kg x 120 kg) [1].", None, False,
        cited(LABEL), Patient(weight_kg=120)),
    # -- indication from the passage against the question's
    "indication-from-passage-mismatch": Case(
        "The dose is 40 mg subcutaneously once daily [1].", "INDICATION_MISMATCH", False,
        cited(SourceText("The dose is 40 mg subcutaneously once daily.", "Enoxaparin",
                         ("Prophylaxis in abdominal surgery",))),
        context="What is the enoxaparin dose for DVT treatment?"),
    "indication-from-passage-matches": Case(
        "The dose is 40 mg subcutaneously once daily [1].", "DOSE_OK", True,
        cited(SourceText("The dose is 40 mg subcutaneously once daily.", "Enoxaparin",
                         ("Prophylaxis in abdominal surgery",))),
        context="What enoxaparin dose is used for prophylaxis in abdominal surgery?"),
    # -- EU-only doses are told apart, not blocked as wrong
    "eu-fondaparinux-1-5": Case(
        "In kidney disease the EU leaflet allows fondaparinux 1.5 mg once daily for VTE prophylaxis.",
        "DOSE_OK", True, extra={"message": "EU labelling"}),
    "eu-enoxaparin-20": Case(
        "For surgical prophylaxis, enoxaparin 20 mg once daily.", "DOSE_OK", True, extra={"message": "EU labelling"}),
    "eu-enoxaparin-iu": Case(
        "For treatment of acute DVT, enoxaparin 100 IU/kg every 12 hours.", "DOSE_OK", True),
    "eu-enoxaparin-iu-tenfold": Case(
        "For treatment of acute DVT, enoxaparin 1,000 IU/kg every 12 hours.", None, False),
}
# fmt: on


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_example(case: Case) -> None:
    citations = {1: "p1"} if case.passages else None
    verdict = check(case.answer, citations, case.passages, case.patient, case.context)
    shown = [(f.rule_id, f.text, f.drug, f.drug_from, f.message) for f in verdict.findings]
    assert verdict.allowed is case.allowed, shown
    if case.rule is None:
        return
    deciding = [f for f in verdict.findings if f.rule_id == case.rule]
    assert deciding, shown
    f = deciding[0]
    if case.drug:
        assert f.drug == case.drug, shown
    if case.drug_from:
        assert (f.drug_from or "").startswith(case.drug_from), shown
    if "message" in case.extra:
        assert str(case.extra["message"]) in f.message, shown


def test_recognised_drug_outside_the_reference_is_named_not_unverified() -> None:
    """Any drug is recognised (the reading layer's lexicon): a dose of one the reference does
    not cover is a warning that names it; with the question asking about another indication
    it is withheld."""
    verdict = check("Ceftriaxone 1 g IV once daily.")
    (f,) = verdict.findings
    assert (f.rule_id, f.drug, verdict.allowed) == ("NOT_IN_REFERENCE", "ceftriaxone", True), f


def test_blocked_findings_carry_a_typed_source() -> None:
    verdict = check(
        "The recommended dose for DVT treatment is 10 mg/kg given subcutaneously every 12 hours [1].",
        {1: "p1"},
        {"p1": PASSAGE},
    )
    (f,) = [f for f in verdict.findings if f.severity == "block"]
    assert f.source is not None and f.source.doc_id == "label-enoxaparin"
    assert f.source.quote in (f.citation or "")
    table = default_reference()
    assert any(f.source.quote == e.cite.quote for e in table.doses)
