"""applicable_regimens: the reference's regimens judged and applied for one patient."""

from __future__ import annotations

import pytest

from guardrails.patient import Patient
from guardrails.reference import Criteria, Criterion, Population, default_reference
from guardrails.regimens import Regimen, applicable_regimens, assess, dose_words, excluded_by


def by_id(drug: str, indication: str | None, patient: Patient) -> dict[str, Regimen]:
    return {r.id: r for r in applicable_regimens(drug, indication, patient)}


def first_dose(r: Regimen) -> str:
    return dose_words(r.steps[0].amount)


# (id, drug, indication, patient, regimen id, status, first step's dose as given, missing)
# fmt: off
CASES = [
    ("apixaban-2-of-3-reduced", "apixaban", "af", Patient(age=82, weight_kg=55, serum_creatinine_mg_dl=1.6),
     "apixaban.af.reduced", "applies", "2.5 mg", ()),
    ("apixaban-2-of-3-standard-excluded", "apixaban", "af", Patient(age=82, weight_kg=55, serum_creatinine_mg_dl=1.6),
     "apixaban.af.bid", "excluded", "5 mg", ()),
    ("apixaban-one-criterion-standard", "apixaban", "af", Patient(age=82, weight_kg=70, serum_creatinine_mg_dl=1.0),
     "apixaban.af.bid", "applies", "5 mg", ()),
    ("apixaban-one-criterion-reduced-excluded", "apixaban", "af", Patient(age=82, weight_kg=70, serum_creatinine_mg_dl=1.0),
     "apixaban.af.reduced", "excluded", "2.5 mg", ()),
    ("apixaban-unknown", "apixaban", "af", Patient(age=82),
     "apixaban.af.reduced", "unknown", "2.5 mg", ("weight_kg", "serum_creatinine_mg_dl")),
    ("apixaban-unknown-standard", "apixaban", "af", Patient(age=82),
     "apixaban.af.bid", "unknown", "5 mg", ("weight_kg", "serum_creatinine_mg_dl")),
    ("apixaban-two-known-decide", "apixaban", "af", Patient(age=85, weight_kg=50),
     "apixaban.af.reduced", "applies", "2.5 mg", ()),
    ("enoxaparin-120-kg", "enoxaparin", "vte-treatment", Patient(weight_kg=120, crcl_ml_min=80),
     "enoxaparin.vte-treatment.q12h", "applies", "120 mg", ()),
    ("enoxaparin-crcl-25-once-daily", "enoxaparin", "vte-treatment", Patient(weight_kg=120, crcl_ml_min=25),
     "enoxaparin.vte-treatment.renal", "applies", "120 mg", ()),
    ("enoxaparin-crcl-25-q12h-excluded", "enoxaparin", "vte-treatment", Patient(weight_kg=120, crcl_ml_min=25),
     "enoxaparin.vte-treatment.q12h", "excluded", "120 mg", ()),
    ("enoxaparin-crcl-unknown", "enoxaparin", "vte-treatment", Patient(weight_kg=120),
     "enoxaparin.vte-treatment.q12h", "unknown", "120 mg", ("crcl_ml_min",)),
    ("enoxaparin-cockcroft-gault", "enoxaparin", "vte-treatment",
     Patient(age=80, weight_kg=50, sex="female", serum_creatinine_mg_dl=2.0),
     "enoxaparin.vte-treatment.renal", "applies", "50 mg", ()),
    ("enoxaparin-no-weight", "enoxaparin", "vte-treatment", Patient(crcl_ml_min=80),
     "enoxaparin.vte-treatment.q12h", "applies", "1 mg/kg", ()),
    ("enoxaparin-prophylaxis-renal", "enoxaparin", "vte-prophylaxis-hip", Patient(crcl_ml_min=20),
     "enoxaparin.vte-prophylaxis", "applies", "30 mg", ()),
    ("fondaparinux-45-kg", "fondaparinux", "vte-treatment", Patient(weight_kg=45),
     "fondaparinux.vte-treatment.lt-50kg", "applies", "5 mg", ()),
    ("fondaparinux-50-kg", "fondaparinux", "vte-treatment", Patient(weight_kg=50),
     "fondaparinux.vte-treatment.50-100kg", "applies", "7.5 mg", ()),
    ("fondaparinux-100-kg-middle-band", "fondaparinux", "vte-treatment", Patient(weight_kg=100),
     "fondaparinux.vte-treatment.50-100kg", "applies", "7.5 mg", ()),
    ("fondaparinux-100-kg-not-top-band", "fondaparinux", "vte-treatment", Patient(weight_kg=100),
     "fondaparinux.vte-treatment.gt-100kg", "excluded", "10 mg", ()),
    ("fondaparinux-101-kg", "fondaparinux", "vte-treatment", Patient(weight_kg=101),
     "fondaparinux.vte-treatment.gt-100kg", "applies", "10 mg", ()),
    ("fondaparinux-weight-unknown", "fondaparinux", "vte-treatment", Patient(),
     "fondaparinux.vte-treatment.gt-100kg", "unknown", "10 mg", ("weight_kg",)),
    ("heparin-bolus-100-kg", "heparin", "vte-treatment", Patient(weight_kg=100),
     "heparin.vte-treatment.weight-based", "applies", "8,000 units", ()),
    ("argatroban-hepatic", "argatroban", "hit", Patient(hepatic_impairment=True),
     "argatroban.hit.hepatic", "applies", "0.5 mcg/kg/min", ()),
    ("argatroban-standard-excluded-hepatic", "argatroban", "hit", Patient(hepatic_impairment=True),
     "argatroban.hit", "excluded", "2 mcg/kg/min", ()),
    ("argatroban-hepatic-unknown", "argatroban", "hit", Patient(weight_kg=70),
     "argatroban.hit", "unknown", "140 mcg/min", ("hepatic_impairment",)),
    ("enoxaparin-stemi-age-75", "enoxaparin", "stemi", Patient(age=80, crcl_ml_min=60, weight_kg=70),
     "enoxaparin.stemi.age-75", "applies", "52.5 mg", ()),
    ("enoxaparin-stemi-under-75-excluded", "enoxaparin", "stemi", Patient(age=80, crcl_ml_min=60),
     "enoxaparin.stemi", "excluded", "30 mg", ()),
    ("danaparoid-band", "danaparoid", "hit", Patient(weight_kg=70),
     "danaparoid.hit.60-75kg", "applies", "2,250 units", ()),
    ("bivalirudin-dialysis", "bivalirudin", "pci", Patient(dialysis=True, weight_kg=80),
     "bivalirudin.pci.dialysis", "applies", "60 mg", ()),
    ("bivalirudin-standard-excluded-dialysis", "bivalirudin", "pci", Patient(dialysis=True),
     "bivalirudin.pci", "excluded", "0.75 mg/kg", ()),
]
# fmt: on


@pytest.mark.parametrize(
    ("drug", "indication", "patient", "regimen", "status", "dose", "missing"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_regimen_for_patient(
    drug: str,
    indication: str,
    patient: Patient,
    regimen: str,
    status: str,
    dose: str,
    missing: tuple[str, ...],
) -> None:
    found = by_id(drug, indication, patient)
    assert regimen in found, sorted(found)
    r = found[regimen]
    assert (r.status, first_dose(r), r.missing) == (status, dose, missing), r.why
    assert r.why and r.drug == drug and r.jurisdiction == "US"


def test_steps_are_ordered_and_applied() -> None:
    r = by_id("heparin", "vte-treatment", Patient(weight_kg=100))[
        "heparin.vte-treatment.weight-based"
    ]
    assert [s.phase for s in r.steps] == ["bolus", "infusion"]
    bolus, infusion = r.steps
    assert bolus.computed == "80 units/kg x 100 kg = 8,000 units" and not bolus.capped
    assert dose_words(infusion.amount) == "1,800 units/h"
    assert bolus.entry.cite.doc == "ufh-dosing-monitoring"
    assert bolus.amount.per_kg is False and bolus.interval_h == ()


def test_enoxaparin_card_reads_as_the_assistant_prints_it() -> None:
    r = by_id("enoxaparin", "vte-treatment", Patient(weight_kg=120, crcl_ml_min=90))
    step = r["enoxaparin.vte-treatment.q12h"].steps[0]
    assert step.describe() == "120 mg SC every 12 hours (1 mg/kg x 120 kg = 120 mg)"
    assert step.interval_h == (12.0,)


@pytest.mark.parametrize(
    ("drug", "indication", "weight", "dose", "capped"),
    [
        ("dalteparin", "acs", 100, "10,000 units", True),
        ("dalteparin", "acs", 70, "8,400 units", False),
        ("dalteparin", "cancer-vte", 100, "18,000 units", True),
        ("prothrombin complex concentrate", "reversal", 120, "2,500 units", True),
        ("enoxaparin", "stemi", 120, "30 mg", False),
    ],
    ids=[
        "dalteparin-acs-cap",
        "dalteparin-acs-under-cap",
        "dalteparin-daily-cap",
        "pcc-cap",
        "bolus-fixed",
    ],
)
def test_stated_maximum_caps_the_applied_dose(
    drug: str, indication: str, weight: float, dose: str, capped: bool
) -> None:
    patient = Patient(weight_kg=weight, age=60, crcl_ml_min=90)
    first = applicable_regimens(drug, indication, patient)[0]
    step = first.steps[0]
    assert (dose_words(step.amount), step.capped) == (dose, capped), step.computed


def test_enoxaparin_stemi_first_doses_capped_later_not() -> None:
    r = by_id("enoxaparin", "stemi", Patient(weight_kg=120, age=60, crcl_ml_min=90))[
        "enoxaparin.stemi"
    ]
    assert [(s.phase, dose_words(s.amount), s.capped) for s in r.steps] == [
        ("bolus", "30 mg", False),
        ("initial", "100 mg", True),
        ("maintenance", "120 mg", False),
    ]


def test_durations_come_from_the_entry() -> None:
    r = by_id("apixaban", "vte-treatment", Patient())["apixaban.vte-treatment"]
    assert [(s.phase, s.duration) for s in r.steps] == [
        ("initial", "for the first 7 days"),
        ("maintenance", None),
    ]


def test_indication_none_gives_every_indication_and_a_class_word_its_members() -> None:
    every = applicable_regimens("enoxaparin", None, Patient())
    assert {r.indication for r in every} >= {"vte-treatment", "acs", "stemi", "vte-prophylaxis-hip"}
    lmwh = applicable_regimens("lmwh", "acs", Patient())
    assert {r.drug for r in lmwh} == {"enoxaparin", "dalteparin"}
    assert applicable_regimens("ceftriaxone", None, Patient()) == []


def test_parent_indication_covers_children() -> None:
    found = by_id("enoxaparin", "vte-prophylaxis", Patient())
    assert {"enoxaparin.vte-prophylaxis-hip.q12h", "enoxaparin.vte-prophylaxis-knee"} <= set(found)
    assert not any(r.indication == "vte-treatment" for r in found.values())


def test_statuses_are_ordered_applies_unknown_excluded() -> None:
    statuses = [r.status for r in applicable_regimens("apixaban", "af", Patient(age=82))]
    order = {"applies": 0, "unknown": 1, "excluded": 2}
    assert statuses == sorted(statuses, key=order.__getitem__) and "excluded" in statuses


def test_every_entry_is_a_step_of_some_regimen() -> None:
    table = default_reference()
    seen = {
        s.entry.id
        for drug in {e.drug for e in table.doses}
        for r in applicable_regimens(drug, None, Patient(), table)
        for s in r.steps
    }
    assert seen == {e.id for e in table.doses}


# The guard reads the same conditions: a reduced dose needs facts or words for its group.
REDUCED = Population(crcl_lt=30)
TWO_OF = Population(
    criteria=Criteria(
        at_least=2,
        of=[
            Criterion(fact="age", op=">=", value=80),
            Criterion(fact="weight_kg", op="<=", value=60),
        ],
    )
)


@pytest.mark.parametrize(
    ("pop", "patient", "evidence", "excluded"),
    [
        (REDUCED, Patient(), frozenset(), "renal"),
        (REDUCED, Patient(), frozenset({"renal"}), None),
        (REDUCED, Patient(crcl_ml_min=50), frozenset({"renal"}), "renal"),
        (REDUCED, Patient(), None, None),
        (
            Population(hepatic_impairment=True),
            Patient(hepatic_impairment=False),
            frozenset(),
            "hepatic",
        ),
        (Population(hepatic_impairment=False), Patient(), frozenset(), None),
        (TWO_OF, Patient(age=85), frozenset(), None),
        (TWO_OF, Patient(age=85, weight_kg=70), frozenset(), "population"),
        (Population(weight_lt=50), Patient(weight_kg=60), frozenset(), "weight"),
    ],
    ids=[
        "renal-no-words",
        "renal-words",
        "renal-known-wins",
        "renal-facts-only",
        "hepatic-known",
        "hepatic-standard",
        "criteria-unknown",
        "criteria-known",
        "weight-band",
    ],
)
def test_guard_exclusion(
    pop: Population, patient: Patient, evidence: frozenset[str] | None, excluded: str | None
) -> None:
    assert excluded_by(pop, patient, evidence) == excluded


def test_assess_words_the_reason() -> None:
    a = assess(TWO_OF, Patient(age=82, weight_kg=55))
    assert (
        a.status == "applies"
        and a.why == "2 of 2 criteria (at least 2 needed): age 82 (>= 80), weight 55 kg (<= 60)"
    )
    assert assess(REDUCED, Patient(crcl_ml_min=25)).why == "CrCl 25 mL/min (< 30)"
