"""Patient facts from text and structure, merged across turns; Cockcroft–Gault."""

from __future__ import annotations

import pytest

from guardrails.patient import Patient, PatientInput, extract_patient, patient_from_conversation


# fmt: off
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("and if CrCl is 25?", {"crcl_ml_min": 25.0}),
        ("creatinine clearance below 30 mL/min", {"crcl_ml_min": 29.5}),
        ("eGFR 40", {"egfr": 40.0}),
        ("an 80 kg man", {"weight_kg": 80.0, "sex": "male"}),
        ("weighs 62.5 kg", {"weight_kg": 62.5}),
        ("a 72-year-old woman", {"age": 72.0, "sex": "female"}),
        ("aged 80", {"age": 80.0}),
        ("serum creatinine 1.8 mg/dL", {"serum_creatinine_mg_dl": 1.8}),
        ("history of HIT", {"hit": True}),
        ("no history of HIT", {"hit": False}),
        ("heparin-induced thrombocytopenia", {"hit": True}),
        ("Child-Pugh class C cirrhosis", {"hepatic_impairment": True}),
        ("on hemodialysis", {"dialysis": True}),
        ("she is pregnant", {"pregnant": True, "sex": "female"}),
        ("platelets 45 x10^9/L", {"platelets": 45.0}),
        ("platelet count 45,000/µL", {"platelets": 45.0}),
        ("active bleeding from the GI tract", {"active_bleeding": True}),
    ],
    ids=["crcl", "crcl-below", "egfr", "weight-sex", "weight-decimal", "age-sex", "aged", "scr", "hit",
         "no-hit", "hit-spelled", "hepatic", "dialysis", "pregnant", "platelets", "platelets-per-ul", "bleeding"],
)
# fmt: on
def test_extract_patient(text: str, expected: dict[str, object]) -> None:
    patient = extract_patient(text)
    for name, value in expected.items():
        assert getattr(patient, name) == value, name
    others = {f for f in Patient.__dataclass_fields__ if f not in expected}
    assert all(getattr(patient, f) is None for f in others), patient


def test_a_per_kg_dose_is_not_a_body_weight() -> None:
    assert extract_patient("enoxaparin 1 mg/kg every 12 hours").weight_kg is None


def test_serum_creatinine_in_umol_per_litre_is_converted_with_pint() -> None:
    patient = extract_patient("creatinine 177 µmol/L")
    assert patient.serum_creatinine_mg_dl == pytest.approx(2.0, abs=0.01)


def test_cockcroft_gault_when_crcl_is_not_given() -> None:
    patient = Patient(age=80, weight_kg=60, sex="female", serum_creatinine_mg_dl=1.4)
    assert patient.crcl == pytest.approx(30.4, abs=0.1)  # (140-80)*60/(72*1.4)*0.85
    assert Patient(crcl_ml_min=55, age=80, weight_kg=60, sex="female", serum_creatinine_mg_dl=1.4).crcl == 55
    assert Patient(age=80, weight_kg=60).crcl is None


def test_facts_accumulate_across_turns_and_explicit_facts_win() -> None:
    turns = ["What is the enoxaparin dose for DVT in an 80 kg man?", "and if CrCl is 25?"]
    patient = patient_from_conversation(turns, explicit=Patient(weight_kg=82))
    assert patient.weight_kg == 82 and patient.crcl_ml_min == 25 and patient.sex == "male"
    assert patient_from_conversation(["CrCl 60", "now CrCl is 25"]).crcl_ml_min == 25


def test_patient_input_validates_ranges() -> None:
    with pytest.raises(ValueError):
        PatientInput(weight_kg=-3)
    with pytest.raises(ValueError):
        PatientInput.model_validate({"weight": 80})  # unknown field names are refused
    assert PatientInput(weight_kg=80, hit=True).to_patient() == Patient(weight_kg=80, hit=True)


def test_hostile_text_is_bounded() -> None:
    assert extract_patient("9" * 100_000).weight_kg is None
    assert extract_patient("(" * 50_000 + "CrCl 20").is_empty()  # beyond the scanned prefix


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("How often should platelets be monitored on heparin to screen for HIT?", None),
        ("What is the risk of HIT with enoxaparin?", None),
        ("What is HIT?", None),
        ("Argatroban dose for a patient with HIT", True),
        ("history of HIT", True),
        ("no HIT", False),
    ],
    ids=["screen-for", "risk-of", "what-is", "with", "history", "negated"],
)
def test_a_condition_asked_about_is_not_a_patient_fact(text: str, hit: bool | None) -> None:
    assert extract_patient(text).hit is hit
