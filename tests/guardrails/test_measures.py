"""The reader of clinical measurements: patient values in questions, thresholds in
documents, and judging one against the other (guardrails/measures.py, measures.yaml)."""

from __future__ import annotations

import pytest

from guardrails.measures import (
    SEX,
    Condition,
    Measurement,
    grammar,
    judge,
    measure_named,
    read_conditions,
    read_values,
    satisfies,
)
from guardrails.patient import extract_patient

INF = None


def _values(text: str) -> list[tuple[str, float]]:
    return [(m.measure, round(m.value, 1)) for m in read_values(text)]


# fmt: off
VALUES = [
    ("K 3.1", [("potassium", 3.1)]),
    ("K+ 5.3 this morning", [("potassium", 5.3)]),
    ("serum potassium of 6.2 mEq/L", [("potassium", 6.2)]),
    ("eGFR 45", [("egfr", 45.0)]),
    ("EF 30%", [("lvef", 30.0)]),
    ("Creatinine 203 umol/L", [("creatinine", 2.3)]),
    ("creatinine 177 µmol/L", [("creatinine", 2.0)]),
    ("SCr 0.9", [("creatinine", 0.9)]),
    ("121 lb", [("weight", 54.9)]),
    ("168 lb", [("weight", 76.2)]),
    ("weighs 220 pounds", [("weight", 99.8)]),
    ("a 70 kg woman", [("weight", 70.0), (SEX, 1.0)]),
    ("86F", [("age", 86.0), (SEX, 1.0)]),
    ("71M with AF", [("age", 71.0), (SEX, 2.0)]),
    ("42M", [("age", 42.0), (SEX, 2.0)]),
    ("79-year-old F", [("age", 79.0), (SEX, 1.0)]),
    ("79 yo man", [("age", 79.0), (SEX, 2.0)]),
    ("glucose 900", [("glucose", 900.0)]),
    ("CBG 2.8 mmol/L", [("glucose", 50.4)]),
    ("TG 16 mmol/L", [("triglycerides", 1417.1)]),
    ("QRS 135 ms", [("qrs", 135.0)]),
    ("HR 64", [("heart_rate", 64.0)]),
    ("BP 230/130", [("dbp", 130.0), ("sbp", 230.0)]),
    ("SBP 195", [("sbp", 195.0)]),
    ("pH 7.18", [("ph", 7.2)]),
    ("BHB 1.1", [("bhb", 1.1)]),
    ("FIB-4 1.8", [("fib4", 1.8)]),
    ("LDL 205 mg/dL", [("ldl", 205.0)]),
    ("LDL-C 5.3 mmol/L", [("ldl", 204.9)]),
    ("A1C 7.8", [("hba1c", 7.8)]),
    ("platelets 40,000", [("platelets", 40.0)]),
    ("plt 40k", [("platelets", 40.0)]),
    ("platelets 40 x10^9/L", [("platelets", 40.0)]),
    ("CrCl ~12", [("crcl", 12.0)]),
    ("and if CrCl is 25?", [("crcl", 25.0)]),
    ("Hb 80 g/L", [("hemoglobin", 8.0)]),
    ("temperature 101.3 °F", [("temperature", 38.5)]),
    ("temp 38.5 C", [("temperature", 38.5)]),
    ("INR 8.2", [("inr", 8.2)]),
    ("she's 82 and weighs 55 kg", [("age", 82.0), ("weight", 55.0)]),
    # A number whose own unit names another measure is that measure's.
    ("he's 90 kg", [("weight", 90.0)]),
    ("eos 150 cells/uL", [("eosinophils", 150.0)]),
    ("eosinophils 0.3 x10^9/L", [("eosinophils", 300.0)]),
]
# fmt: on


@pytest.mark.parametrize(("text", "expected"), VALUES, ids=[t for t, _ in VALUES])
def test_read_values(text: str, expected: list[tuple[str, float]]) -> None:
    assert _values(text) == expected


def test_a_value_keeps_what_was_written_and_its_span() -> None:
    text = "Patient: Creatinine 203 umol/L, stable."
    (m,) = read_values(text)
    assert (m.written_value, m.written_unit, m.unit) == ("203", "umol/L", "mg/dL")
    assert text[m.start : m.end] == "Creatinine 203 umol/L"


def test_a_bare_value_is_read_in_the_unit_that_makes_it_plausible() -> None:
    assert _values("creatinine 203") == [("creatinine", 2.3)]  # µmol/L, not 203 mg/dL
    assert _values("CBG 2.8") == [("glucose", 50.4)]  # mmol/L
    assert _values("glucose 180") == [("glucose", 180.0)]  # mg/dL


def test_graded_measures_keep_their_grade() -> None:
    (cp,) = read_values("Child-Pugh C cirrhosis")
    (ny,) = read_values("NYHA III heart failure")
    assert (cp.measure, cp.value, cp.category) == ("child_pugh", 3.0, "C")
    assert (ny.measure, ny.value, ny.category) == ("nyha", 3.0, "III")


def test_sex_is_a_category() -> None:
    sexes = [
        m.category for m in read_values("86F and her husband, a 90 yo man") if m.measure == SEX
    ]
    assert sexes == ["female", "male"]


# fmt: off
NOT_VALUES = [
    "4F-PCC 50 units/kg",        # a product name is not an age and a sex
    "apixaban 30 mg",            # a dose is not a measure
    "Class III recommendation",  # not NYHA III unless NYHA is named
    "after 5 years of follow-up",  # years of follow-up are not an age
    "for 6 months",              # a duration is not a value
    "K 31",                      # implausible potassium
    "K 20 mEq",                  # a potassium dose, not a level
    "potassium for 3 days",
    "eGFR below 30",             # a band is a condition, not a value
    "CrCl 30-50 mL/min",
    "60 to 75 kg",
    "enoxaparin 1 mg/kg",
    "temp 86F, febrile",         # 86F next to a temperature word is no age
    "take 2 tablets",
    "45",
]
# fmt: on


@pytest.mark.parametrize("text", NOT_VALUES)
def test_not_a_value(text: str) -> None:
    values = [m for m in read_values(text) if m.measure != "temperature"]
    assert values == []


def test_86F_near_a_temperature_word_is_a_temperature() -> None:
    assert _values("temp 86F") == [("temperature", 30.0)]


# fmt: off
CONDITIONS = [
    ("eGFR > 30 mL/min/1.73 m²", None, ("egfr", 30, None, False, True)),
    ("serum potassium < 5.0 mEq/L", None, ("potassium", None, 5.0, True, False)),
    ("CrCl 15–50 mL/min", None, ("crcl", 15, 50, True, True)),
    ("CrCl 15-50 mL/min", None, ("crcl", 15, 50, True, True)),
    ("CrCl ≤ 50 mL/min", None, ("crcl", None, 50, True, True)),
    ("CrCl <= 50 mL/min", None, ("crcl", None, 50, True, True)),
    ("Age ≥ 80 years", None, ("age", 80, None, True, True)),
    ("Age >= 80 years", None, ("age", 80, None, True, True)),
    ("Body weight ≤ 60 kg", None, ("weight", None, 60, True, True)),
    ("Serum creatinine ≥ 1.5 mg/dL", None, ("creatinine", 1.5, None, True, True)),
    ("Serum creatinine ≥ 133 µmol/L", None, ("creatinine", 1.50, None, True, True)),
    ("K+ < 3.5 mmol/L", None, ("potassium", None, 3.5, True, False)),
    ("< 54 mg/dL (< 3.0 mmol/L)", "glucose", ("glucose", None, 54, True, False)),
    ("QRS ≥ 150 ms", None, ("qrs", 150, None, True, True)),
    ("resting heart rate ≥ 70 bpm", None, ("heart_rate", 70, None, True, True)),
    ("LVEF ≤ 35%", None, ("lvef", None, 35, True, True)),
    ("platelets < 50,000", None, ("platelets", None, 50, True, False)),
    ("LDL-C ≥ 190 mg/dL", None, ("ldl", 190, None, True, True)),
    ("if FIB-4 > 2.0", None, ("fib4", 2.0, None, False, True)),
    ("60-69 kg", None, ("weight", 60, 69, True, True)),
    ("eGFR 30-44", None, ("egfr", 30, 44, True, True)),
    ("<60 kg = 30 mg", None, ("weight", None, 60, True, False)),
    ("30–44", "egfr", ("egfr", 30, 44, True, True)),
    ("eGFR below 30", None, ("egfr", None, 30, True, False)),
    ("potassium above 5.5", None, ("potassium", 5.5, None, False, True)),
    ("CrCl less than 30 mL/min", None, ("crcl", None, 30, True, False)),
    ("weight at least 100 kg", None, ("weight", 100, None, True, True)),
    ("80 years or older", None, ("age", 80, None, True, True)),
    ("60 kg or less", None, ("weight", None, 60, True, True)),
    ("CrCl up to 50", None, ("crcl", None, 50, True, True)),
    ("eGFR between 30 and 59", None, ("egfr", 30, 59, True, True)),
    ("INR 2 to < 4", None, ("inr", 2, 4, True, False)),
    ("eGFR ≥45 and <60", None, ("egfr", 45, 60, True, False)),
    ("Child-Pugh B or C", None, ("child_pugh", 2, 3, True, True)),
    ("NYHA class II-IV", None, ("nyha", 2, 4, True, True)),
    ("TG ≥ 10 mmol/L", None, ("triglycerides", 885.7, None, True, True)),
]
# fmt: on


@pytest.mark.parametrize(
    ("text", "default", "expected"), CONDITIONS, ids=[c[0] for c in CONDITIONS]
)
def test_read_conditions(
    text: str, default: str | None, expected: tuple[str, float | None, float | None, bool, bool]
) -> None:
    (c,) = read_conditions(text, default=default)
    measure, low, high, low_inc, high_inc = expected
    assert c.measure == measure
    assert c.low == (None if low is None else pytest.approx(low, abs=0.01))
    assert c.high == (None if high is None else pytest.approx(high, abs=0.01))
    assert (c.low_inclusive, c.high_inclusive) == (low_inc, high_inc)


def test_a_condition_span_is_its_band() -> None:
    text = "Reduce the dose if CrCl 15–50 mL/min."
    (c,) = read_conditions(text)
    assert text[c.start : c.end] == "CrCl 15–50 mL/min"


def test_a_paired_measure_gives_two_conditions() -> None:
    conditions = read_conditions("BP > 180/110 mmHg")
    assert {(c.measure, c.low) for c in conditions} == {("sbp", 180.0), ("dbp", 110.0)}


@pytest.mark.parametrize(
    "text",
    ["30–44", "take 30 mg", "Class III", "after more than 5 years of follow-up", "K > 31"],
)
def test_no_condition_without_a_measure(text: str) -> None:
    assert read_conditions(text) == ()


def test_an_unknown_default_measure_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="unknown measure 'gfr'.*egfr"):
        read_conditions("30–44", default="gfr")


def test_a_table_header_names_the_measure_of_its_bare_bands() -> None:
    default = measure_named("eGFR (mL/min/1.73 m²)")
    assert default == "egfr"
    (c,) = read_conditions("30–44", default=default)
    assert (c.low, c.high) == (30, 44)


def test_judge_pairs_by_measure_across_units() -> None:
    conditions = read_conditions("Serum creatinine ≥ 1.5 mg/dL; age ≥ 80 years; weight ≤ 60 kg")
    values = read_values("86F, 121 lb, creatinine 203 umol/L")
    verdicts = {(c.measure, m.measure): ok for c, m, ok in judge(conditions, values)}
    assert verdicts == {
        ("creatinine", "creatinine"): True,
        ("age", "age"): True,
        ("weight", "weight"): True,
    }


def test_judge_says_when_a_value_is_outside_the_band() -> None:
    conditions = read_conditions("K+ < 3.5 mmol/L")
    (verdict,) = judge(conditions, read_values("K 3.5"))
    assert verdict[2] is False  # an exclusive bound excludes its edge
    (verdict,) = judge(read_conditions("K+ ≤ 3.5 mmol/L"), read_values("K 3.5"))
    assert verdict[2] is True


def test_judge_leaves_out_a_measure_the_patient_does_not_state() -> None:
    assert judge(read_conditions("eGFR > 30"), read_values("K 3.1")) == []


def test_satisfies_refuses_a_value_of_another_measure() -> None:
    c = Condition("egfr", 30.0, None, True, True, "mL/min/1.73 m²", 0, 0)
    m = Measurement("crcl", 40.0, "mL/min", "40", "", 0, 0)
    with pytest.raises(ValueError, match="crcl value cannot satisfy a egfr condition"):
        satisfies(c, m)


def test_every_unit_of_the_data_converts_to_its_canonical_unit() -> None:
    from guardrails.measures import to_canonical

    for measure in grammar().measures.values():
        for key in measure.units:
            assert to_canonical(measure, 1.0, key) is not None, (measure.id, key)


# fmt: off
PATIENT = [
    ("121 lb", {"weight_kg": pytest.approx(54.88, abs=0.01)}),
    ("86F on apixaban", {"age": 86.0, "sex": "female"}),
    ("71M", {"age": 71.0, "sex": "male"}),
    ("79-year-old F", {"age": 79.0, "sex": "female"}),
    ("79 yo man", {"age": 79.0, "sex": "male"}),
    ("Creatinine 203 umol/L", {"serum_creatinine_mg_dl": pytest.approx(2.30, abs=0.01)}),
    ("creatinine 203", {"serum_creatinine_mg_dl": pytest.approx(2.30, abs=0.01)}),
]
# fmt: on


@pytest.mark.parametrize(("text", "expected"), PATIENT, ids=[t for t, _ in PATIENT])
def test_extract_patient_uses_the_reader(text: str, expected: dict[str, object]) -> None:
    patient = extract_patient(text)
    for name, value in expected.items():
        assert getattr(patient, name) == value, name


def test_a_band_restated_in_brackets_keeps_its_second_bound() -> None:
    text = "Level 1 — Blood Glucose: < 70 mg/dL (< 3.9 mmol/L) AND ≥ 54 mg/dL (≥ 3.0 mmol/L)"
    (band,) = read_conditions(text)
    assert (band.measure, band.low, band.high) == ("glucose", 54.0, 70.0)


def test_emphasis_marks_are_no_words() -> None:
    text = "Start insulin at a glucose level of **>= 180 mg/dL (10 mmol/L)**."
    (band,) = read_conditions(text)
    assert (band.measure, band.low) == ("glucose", 180.0)
    assert text[band.start : band.end].startswith("glucose")


@pytest.mark.parametrize("written", ["body weight 70 kg", "body-weight 70 kg", "bodyweight 70 kg"])
def test_a_name_reads_the_same_with_or_without_the_space_between_its_words(written: str) -> None:
    (value,) = read_values(written)
    assert (value.measure, value.value) == ("weight", 70.0)
