"""Wrong answers a patient would be harmed by, each beside its right version.

Every frequency phrasing is read and checked on every drug; a stated route no regimen of the
drug has is withheld (an unstated route never is); a patient band holds on every route and
for every use; a number with a letter for a digit is withheld, never skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from guardrails import Patient, check
from guardrails.extraction import extract
from ui.cli import main

HEPATIC = Patient(hepatic_impairment=True)


@dataclass(frozen=True)
class Case:
    answer: str
    rule: str | None  # the rule that must block; None: the answer must be allowed
    patient: Patient | None = None


# fmt: off
CASES: dict[str, Case] = {
    # -- 1. frequency: every phrasing, every drug
    "enox-every-hour": Case("Enoxaparin 40 mg subcutaneously every hour for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-q1h": Case("Enoxaparin 40 mg SC q1h for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-qh": Case("Enoxaparin 40 mg SC qh for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-hourly": Case("Enoxaparin 40 mg SC hourly for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-6-hourly": Case("Enoxaparin 40 mg SC 6-hourly for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-every-2-hours": Case("Enoxaparin 40 mg SC every 2 hours for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-4-times": Case("Enoxaparin 40 mg SC 4 times a day for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-5-times": Case("Enoxaparin 40 mg SC five times a day for prophylaxis.", "DOSE_FREQUENCY"),
    "enox-every-30-min": Case("Enoxaparin 40 mg SC every 30 minutes for prophylaxis.", "DOSE_FREQUENCY"),
    "apixaban-every-hour": Case("Apixaban 5 mg orally every hour for atrial fibrillation.", "DOSE_FREQUENCY"),
    "apixaban-hourly": Case("Apixaban 5 mg orally hourly for atrial fibrillation.", "DOSE_FREQUENCY"),
    "dabigatran-every-three-hours": Case("Dabigatran 150 mg orally every three hours for atrial fibrillation.", "DOSE_FREQUENCY"),
    "warfarin-every-hour": Case("Warfarin 5 mg orally every hour.", "DOSE_FREQUENCY"),
    "enox-once-daily-ok": Case("Enoxaparin 40 mg SC once daily for prophylaxis.", None),
    "enox-24-hourly-ok": Case("Enoxaparin 40 mg SC 24-hourly for prophylaxis.", None),
    "enox-every-twenty-four-hours-ok": Case("Enoxaparin 40 mg SC every twenty four hours for prophylaxis.", None),
    "apixaban-2-times-ok": Case("Apixaban 5 mg orally 2 times a day for atrial fibrillation.", None),
    "heparin-rate-hourly-ok": Case("Heparin 18 units/kg/h IV, adjusted hourly to the aPTT.", None),
    # -- 2. route: a stated route no regimen has, for the use where known
    "enox-iv-prophylaxis": Case("Enoxaparin 40 mg IV once daily for prophylaxis.", "DOSE_ROUTE"),
    "apixaban-iv": Case("Apixaban 5 mg IV twice daily for atrial fibrillation.", "DOSE_ROUTE"),
    "heparin-oral": Case("Heparin 5,000 units orally every 8 hours for prophylaxis.", "DOSE_ROUTE"),
    "argatroban-sc": Case("For HIT, argatroban is started at 2 mcg/kg/min SC.", "DOSE_ROUTE"),
    "enox-sc-ok": Case("Enoxaparin 40 mg SC once daily for prophylaxis.", None),
    "enox-subcut-ok": Case("Enoxaparin 40 mg subcutaneously once daily for prophylaxis.", None),
    "enox-no-route-ok": Case("Enoxaparin 40 mg once daily for prophylaxis.", None),
    "enox-iv-stemi-ok": Case("For STEMI, enoxaparin is given as a 30 mg IV bolus.", None),
    # -- 3. patient bands on every route, frequency and use
    "argatroban-hepatic": Case("Start argatroban at 2 mcg/kg/min.", "HEPATIC_ADJUSTMENT", HEPATIC),
    "argatroban-hepatic-iv": Case("Argatroban 2 mcg/kg/min IV.", "HEPATIC_ADJUSTMENT", HEPATIC),
    "argatroban-hepatic-sc-hit": Case("Start argatroban at 2 mcg/kg/min SC for HIT.", "HEPATIC_ADJUSTMENT", HEPATIC),
    "argatroban-hepatic-interval": Case("Argatroban 2 mcg/kg/min every 12 hours.", "HEPATIC_ADJUSTMENT", HEPATIC),
    "argatroban-hepatic-stated": Case("Start argatroban at 2 mcg/kg/min in hepatic impairment.", "HEPATIC_ADJUSTMENT"),
    "argatroban-hepatic-ok": Case("Start argatroban at 0.5 mcg/kg/min.", None, HEPATIC),
    "argatroban-hepatic-hit-ok": Case("For HIT with hepatic impairment, argatroban is started at 0.5 mcg/kg/min IV.", None, HEPATIC),
    "argatroban-no-facts-ok": Case("Start argatroban at 2 mcg/kg/min.", None),
    "argatroban-pci-named-ok": Case("For PCI, argatroban is given as a 350 mcg/kg IV bolus.", None),
    # -- 4. letters for digits
    "argatroban-1O": Case("Argatroban is started at 1O mcg/kg/min.", "DOSE_UNPARSED"),
    "argatroban-1Omcg": Case("Argatroban is started at 1Omcg/kg/min.", "DOSE_UNPARSED"),
    "argatroban-1l": Case("Argatroban is started at 1l mcg/kg/min.", "DOSE_UNPARSED"),
    "argatroban-cyrillic-O": Case("Argatroban is started at 1\u041e mcg/kg/min.", "DOSE_UNPARSED"),
    "argatroban-1O-bare": Case("Argatroban 1O.", "DOSE_UNPARSED"),
    "heparin-8O0": Case("Heparin is given as an 8O0 units/kg bolus.", "DOSE_UNPARSED"),
    "no-drug-8O0": Case("an 8O0 units/kg bolus", "DOSE_UNPARSED"),
    "enox-4O": Case("Enoxaparin 4O mg SC once daily for prophylaxis.", "DOSE_UNPARSED"),
    "cyrillic-unit": Case("Heparin 80 u\u043fits/kg bolus.", "DOSE_UNPARSED"),
    "apixaban-l0-first": Case("Apixaban l0 mg orally twice daily.", "DOSE_UNPARSED"),
    "argatroban-O-first": Case("Argatroban is started at O.5 mcg/kg/min.", "DOSE_UNPARSED"),
    "argatroban-cyrillic-o-first": Case("Argatroban is started at \u043e.5 mcg/kg/min.", "DOSE_UNPARSED"),
    "no-drug-l00": Case("an l00 units/kg bolus", "DOSE_UNPARSED"),
    "heparin-l0000-first": Case("Heparin l0,000 units SC every 12 hours.", "DOSE_UNPARSED"),
    "enox-l-alone-first": Case("Enoxaparin l mg/kg SC every 12 hours.", "DOSE_UNPARSED"),
    "aspirin-l62-range-first": Case("Aspirin l62\u2013325 mg loading dose.", "DOSE_UNPARSED"),
    "oxygen-name-ok": Case("Give O2 at 2 L/min.", None),
    "class-I-ok": Case("Class I recommendation: apixaban 5 mg twice daily.", None),
    "argatroban-10-ok": Case("For HIT, the argatroban infusion rate should not exceed 10 mcg/kg/min.", None),
    "heparin-80-ok": Case("Heparin is given as an 80 units/kg bolus.", None),
    "dalteparin-iu-glued-ok": Case("Dalteparin 5000IU SC once daily for prophylaxis.", None),
    "saline-litre-ok": Case("Sodium chloride 0.9% 1l over 2 hours.", None),
}
# fmt: on


@pytest.mark.parametrize("name", list(CASES))
def test_patient_wrong(name: str) -> None:
    case = CASES[name]
    verdict = check(case.answer, patient=case.patient)
    blocking = {f.rule_id for f in verdict.findings if f.severity == "block"}
    if case.rule is None:
        assert verdict.allowed, [f.message for f in verdict.findings]
    else:
        assert not verdict.allowed and case.rule in blocking, [f.message for f in verdict.findings]


def test_frequency_words_become_intervals() -> None:
    """Each phrasing is read as its interval, not skipped."""
    expected = {
        "every hour": 1.0,
        "hourly": 1.0,
        "q1h": 1.0,
        "qh": 1.0,
        "6-hourly": 6.0,
        "4-6 hourly": 4.0,
        "every 2 hours": 2.0,
        "every three hours": 3.0,
        "every 30 minutes": 0.5,
        "q15min": 0.25,
        "every half hour": 0.5,
        "4 times a day": 6.0,
        "five times a day": 4.8,
        "thrice daily": 8.0,
        "every other hour": 2.0,
        "three times a week": 56.0,
    }
    for words, hours in expected.items():
        mentions, _ = extract(f"Enoxaparin 40 mg SC {words}.")
        assert [m.interval_h for m in mentions] == [pytest.approx(hours)], words


def test_route_message_names_the_reference_route() -> None:
    verdict = check("Enoxaparin 40 mg IV once daily for prophylaxis.")
    route = next(f for f in verdict.findings if f.rule_id == "DOSE_ROUTE")
    assert route.text == "40 mg" and route.drug == "enoxaparin"
    assert "only SC" in route.message and route.source is not None
    assert route.source.doc_id == "label-enoxaparin"


def test_hepatic_band_names_the_reduced_dose() -> None:
    verdict = check("Start argatroban at 2 mcg/kg/min.", patient=HEPATIC)
    band = next(f for f in verdict.findings if f.rule_id == "HEPATIC_ADJUSTMENT")
    assert band.expected is not None and band.expected.startswith("0.5 mcg/kg/min")


def test_lookalike_is_withheld_as_written() -> None:
    text = "Argatroban is started at 1O mcg/kg/min."
    verdict = check(text)
    assert verdict.checked_doses == 0
    (unparsed,) = [f for f in verdict.findings if f.rule_id == "DOSE_UNPARSED"]
    assert unparsed.text == "1O mcg/kg/min" and "letter" in unparsed.message


def test_bedside_check_withholds_each_wrong(tmp_path: Path) -> None:
    """The four wrongs through `bedside check`, beside their right versions."""
    lines = [
        {"id": "freq", "answer": "Enoxaparin 40 mg subcutaneously every hour for prophylaxis."},
        {"id": "route", "answer": "Enoxaparin 40 mg IV once daily for prophylaxis."},
        {
            "id": "hepatic",
            "answer": "Start argatroban at 2 mcg/kg/min.",
            "patient": {"hepatic_impairment": True},
        },
        {"id": "lookalike", "answer": "Argatroban is started at 1O mcg/kg/min."},
        {"id": "lookalike-2", "answer": "an 8O0 units/kg bolus"},
        {"id": "right", "answer": "Enoxaparin 40 mg SC once daily for prophylaxis."},
        {
            "id": "right-hepatic",
            "answer": "Start argatroban at 0.5 mcg/kg/min.",
            "patient": {"hepatic_impairment": True},
        },
    ]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    assert main(["check", "--input", str(src), "--output", str(out)]) == 0
    verdicts = {v["id"]: v for v in map(json.loads, out.read_text().splitlines())}
    rules = {k: {f["rule_id"] for f in v["findings"]} for k, v in verdicts.items()}
    assert {k for k, v in verdicts.items() if v["allowed"]} == {"right", "right-hepatic"}
    assert "DOSE_FREQUENCY" in rules["freq"] and "DOSE_ROUTE" in rules["route"]
    assert "HEPATIC_ADJUSTMENT" in rules["hepatic"]
    assert "DOSE_UNPARSED" in rules["lookalike"] and "DOSE_UNPARSED" in rules["lookalike-2"]
