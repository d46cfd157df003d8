"""Dose units: written forms map to one pint expression; conversions come from pint and
refuse to cross dimensions (units of activity are never mg)."""

from __future__ import annotations

import pytest

from guardrails.types import Amount
from guardrails.units import DOSE_UNITS, convert, normalise_unit, registry, to_quantity


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("mg", "mg"),
        ("milligram", "mg"),
        ("milligrams", "mg"),
        ("MG", "mg"),
        ("mcg", "mcg"),
        ("\u00b5g", "mcg"),  # micro sign
        ("\u03bcg", "mcg"),  # Greek mu
        ("microgram", "mcg"),
        ("micrograms", "mcg"),
        ("g", "g"),
        ("grams", "g"),
        ("units", "USP_unit"),
        ("unit", "USP_unit"),
        ("U", "USP_unit"),
        ("USP units", "USP_unit"),
        ("USP  units", "USP_unit"),
        ("IU", "international_unit"),
        ("international units", "international_unit"),
        ("mL", "mL"),
        ("ml", "mL"),
        (" mL ", "mL"),
    ],
    ids=lambda v: repr(v),
)
def test_normalise_unit(written: str, canonical: str) -> None:
    assert normalise_unit(written) == canonical


@pytest.mark.parametrize(
    "written",
    ["kg", "mg/dL", "", "hours", "unitss", "micronit", "x" * 100, "mL/min"],
    ids=["kg", "concentration", "empty", "hours", "typo", "pint-only", "long", "clearance"],
)
def test_normalise_unit_rejects_what_is_not_a_dose_unit(written: str) -> None:
    assert normalise_unit(written) is None


@pytest.mark.parametrize("canonical", DOSE_UNITS)
def test_every_canonical_unit_parses_in_the_registry(canonical: str) -> None:
    registry().parse_units(canonical)


def test_activity_units_have_their_own_dimension() -> None:
    ureg = registry()
    usp = ureg.Quantity(1, "USP_unit")
    assert not usp.dimensionless
    assert not usp.is_compatible_with("mg")
    assert usp.is_compatible_with("international_unit")
    # pint alone reads "U" as an enzyme unit and "unit" as a micro-nit; we never let it
    assert normalise_unit("U") == "USP_unit"


def test_the_registry_is_built_once() -> None:
    assert registry() is registry()


A = Amount


@pytest.mark.parametrize(
    ("amount", "target", "per_kg", "per_time", "expected"),
    [
        (A(2, 2, "mcg", True, "min"), "mg", True, "h", (0.12, 0.12)),
        (A(0.15, 0.2, "mg", True, "h"), "mcg", True, "min", (2.5, 3.333333)),
        (A(5, 5, "g"), "mg", False, None, (5000, 5000)),
        (A(500, 500, "mcg"), "mg", False, None, (0.5, 0.5)),
        (A(5000, 10000, "USP_unit"), "international_unit", False, None, (5000, 10000)),
        (A(20000, 40000, "USP_unit", False, "day"), "USP_unit", False, "h", (833.3333, 1666.667)),
        (A(10, 10, "mL"), "mL", False, None, (10, 10)),
    ],
    ids=[
        "mcg-kg-min-to-mg-kg-h",
        "range-mg-kg-h-to-mcg-kg-min",
        "g-to-mg",
        "mcg-to-mg",
        "usp-to-iu",
        "per-day-to-per-hour",
        "ml",
    ],
)
def test_convert(
    amount: Amount,
    target: str,
    per_kg: bool,
    per_time: str | None,
    expected: tuple[float, float],
) -> None:
    result = convert(amount, target, per_kg, per_time)
    assert result == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    ("amount", "target", "per_kg", "per_time"),
    [
        (A(5000, 5000, "USP_unit"), "mg", False, None),
        (A(40, 40, "mg"), "international_unit", False, None),
        (A(1, 1, "mg", True), "mg", False, None),
        (A(80, 80, "mg"), "mg", True, None),
        (A(2, 2, "mcg", True, "min"), "mcg", True, None),
        (A(10, 10, "mL"), "mg", False, None),
        (A(1, 1, "mg"), "no such unit", False, None),
        (A(1, 1, "mg"), "mg", False, "fortnight"),
    ],
    ids=[
        "units-to-mg",
        "mg-to-iu",
        "per-kg-to-absolute",
        "absolute-to-per-kg",
        "rate-to-dose",
        "volume-to-mass",
        "unknown-target",
        "unknown-time",
    ],
)
def test_convert_refuses_different_dimensions(
    amount: Amount, target: str, per_kg: bool, per_time: str | None
) -> None:
    assert convert(amount, target, per_kg, per_time) is None


def test_to_quantity_keeps_per_kg_and_per_time() -> None:
    q = to_quantity(Amount(2, 3, "mcg", True, "min"))
    assert q.magnitude == 2
    assert q.to("mg/kg/h").magnitude == pytest.approx(0.12)
    assert not q.is_compatible_with("mcg/min")  # /kg is real, not dropped
    per_day = to_quantity(Amount(24, 24, "USP_unit", False, "day"))
    assert per_day.to("USP_unit/h").magnitude == pytest.approx(1)
