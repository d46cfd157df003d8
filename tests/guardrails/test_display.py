"""display_unit: pint's unit names become the units clinicians write, and nothing else in
the text changes."""

from __future__ import annotations

import pytest

from guardrails.display import display_unit
from guardrails.types import Amount

CASES = [
    ("activity-per-kg", "80 USP_unit/kg", "80 units/kg"),
    ("activity-rate", "heparin: 18 USP_unit/kg/h matches.", "heparin: 18 units/kg/h matches."),
    ("activity-range-per-day", "20000–40000 USP_unit/day, IV", "20000–40000 units/day, IV"),
    ("activity-range-words", "5000 to 10000 USP_unit", "5000 to 10000 units"),
    ("activity-one", "1 USP_unit/kg", "1 unit/kg"),
    ("activity-alone", "a dose in USP_unit", "a dose in units"),
    ("iu-with-number", "50 international_unit/kg", "50 IU/kg"),
    ("iu-with-comma-number", "1,000 international_unit", "1,000 IU"),
    (
        "iu-alone",
        "is dosed in international_unit, not mg",
        "is dosed in international units, not mg",
    ),
    ("iu-compound-alone", "international_unit/kg", "IU/kg"),
    ("pint-long-rate", "2 microgram / kilogram / minute", "2 mcg/kg/min"),
    ("pint-long-activity", "USP_unit / kilogram / hour", "units/kg/h"),
    ("pint-plural", "0.5 milligrams", "0.5 mg"),
    ("mass-names", "1 gram, 10 milliliter, 5 microgram", "1 g, 10 mL, 5 mcg"),
    ("already-clinical", "enoxaparin 1 mg/kg every 12 hours", "enoxaparin 1 mg/kg every 12 hours"),
    ("creatinine-unit", "serum creatinine ≥ 1.5 mg/dL", "serum creatinine ≥ 1.5 mg/dL"),
    ("crcl-unit", "CrCl ≥ 30 mL/min", "CrCl ≥ 30 mL/min"),
    (
        "time-prose",
        "every 12 hours over 10 minutes for 5 days",
        "every 12 hours over 10 minutes for 5 days",
    ),
    (
        "gram-prose",
        "gram-negative cover; per gram of tissue",
        "gram-negative cover; per gram of tissue",
    ),
    ("words-containing-names", "the program and histogram", "the program and histogram"),
    ("empty", "", ""),
]


@pytest.mark.parametrize(("text", "shown"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_display_unit(text: str, shown: str) -> None:
    assert display_unit(text) == shown


def test_no_pint_name_survives_in_any_described_reference_amount() -> None:
    """Every unit the guard writes into an Amount comes out without a pint identifier."""
    from guardrails.units import DOSE_UNITS

    for unit in DOSE_UNITS:
        for per_kg in (False, True):
            for per_time in (None, "min", "h", "day"):
                text = display_unit(Amount(80, 80, unit, per_kg, per_time).describe())
                assert "_unit" not in text, text
                assert text.startswith("80 "), text


@pytest.mark.parametrize("shown", sorted({c[2] for c in CASES}))
def test_display_unit_is_idempotent(shown: str) -> None:
    """The guard may call it in its describe functions and the UI again on the result."""
    assert display_unit(shown) == shown
