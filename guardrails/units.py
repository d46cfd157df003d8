"""Dose units: one pint registry for Bedside, and the bridge from written units to it.

Every conversion factor comes from pint. Written units ("µg", "units", "IU") are first
mapped to a canonical pint expression by ``normalise_unit``; raw text never reaches pint,
because pint reads "U" as an enzyme unit and "unit" as a micro-nit.

Activity units (heparin "units", IU) get their own dimension, so 5,000 units never
converts to mg. ``USP_unit`` equals ``international_unit``: the USP heparin unit was
harmonised with the WHO international unit in 2009, and US labels write the anti-Xa IU of
LMWHs, antithrombin and PCC as plain "units".
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from guardrails.types import Amount

if TYPE_CHECKING:
    import pint

# Canonical expressions used in Amount.unit and the reference table.
MASS_UNITS = ("mg", "mcg", "g")
ACTIVITY_UNITS = ("USP_unit", "international_unit")
VOLUME_UNITS = ("mL",)
DOSE_UNITS = MASS_UNITS + ACTIVITY_UNITS + VOLUME_UNITS

_PER_TIME = {"min": "minute", "h": "hour", "day": "day"}

_DEFINITIONS = (
    "international_unit = [biological_activity] = IU",
    "USP_unit = international_unit",
    # pint reads "mcg" through its "mc-" prefix; say it outright so it never depends on that.
    "mcg = microgram",
)

# Written unit (lower case, inner whitespace collapsed) -> canonical pint expression.
_WRITTEN: dict[str, str] = {
    **dict.fromkeys(["mg", "mgs", "milligram", "milligrams", "milligramme", "milligrammes"], "mg"),
    **dict.fromkeys(
        ["mcg", "\u03bcg", "ug", "microgram", "micrograms", "microgramme", "microgrammes"], "mcg"
    ),
    **dict.fromkeys(["g", "gm", "gram", "grams", "gramme", "grammes"], "g"),
    **dict.fromkeys(["unit", "units", "u", "usp unit", "usp units", "usp u"], "USP_unit"),
    **dict.fromkeys(
        ["iu", "international unit", "international units", "i.u."], "international_unit"
    ),
    **dict.fromkeys(["ml", "milliliter", "milliliters", "millilitre", "millilitres", "cc"], "mL"),
}
_SPACES = re.compile(r"\s+")


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The process-wide registry with Bedside's units, built on first use (pint is imported
    here: a question whose doses are all in the reference's own units never needs it)."""
    import pint

    ureg: pint.UnitRegistry = pint.UnitRegistry()
    for definition in _DEFINITIONS:
        ureg.define(definition)
    return ureg


def normalise_unit(text: str) -> str | None:
    """The canonical pint expression for a written dose unit, or None if it is not one.

    >>> normalise_unit("µg"), normalise_unit("USP units"), normalise_unit("mL")
    ('mcg', 'USP_unit', 'mL')
    """
    if len(text) > 40:
        return None
    # The micro sign (U+00B5) and the Greek mu (U+03BC) look alike; both mean micro.
    key = _SPACES.sub(" ", text.strip()).replace("\u00b5", "\u03bc").lower()
    return _WRITTEN.get(key)


def _expression(unit: str, per_kg: bool, per_time: str | None) -> str:
    expr = unit
    if per_kg:
        expr += " / kilogram"
    if per_time:
        expr += f" / {_PER_TIME[per_time]}"
    return expr


def to_quantity(amount: Amount) -> pint.Quantity:
    """``amount.low`` as a pint quantity, with /kg and /time as real dimensions."""
    ureg = registry()
    return ureg.Quantity(amount.low, _expression(amount.unit, amount.per_kg, amount.per_time))


def convert(
    amount: Amount, target_unit: str, per_kg: bool, per_time: str | None
) -> tuple[float, float] | None:
    """``amount``'s low and high in ``target_unit`` [/kg] [/per_time], or None when the
    dimensions differ (mg vs units, per kg vs absolute, a rate vs a dose) or a unit is
    unknown."""
    factor = conversion_factor(
        _expression(amount.unit, amount.per_kg, amount.per_time)
        if _known_time(amount.per_time)
        else "",
        _expression(target_unit, per_kg, per_time) if _known_time(per_time) else "",
    )
    if factor is None:
        return None
    return amount.low * factor, amount.high * factor


def _known_time(per_time: str | None) -> bool:
    return per_time is None or per_time in _PER_TIME


@lru_cache(maxsize=4096)
def conversion_factor(source: str, target: str) -> float | None:
    """How many ``target`` one ``source`` is (pint), or None when they do not convert.
    Cached: the guard converts the same few unit pairs over and over."""
    if not source or not target:
        return None
    if source == target and source.split(" / ")[0] in DOSE_UNITS:
        return 1.0  # one of Bedside's own units (defined above) to itself
    import pint

    ureg = registry()
    try:
        return float(
            ureg.Quantity(1.0, ureg.parse_units(source)).to(ureg.parse_units(target)).magnitude
        )
    except (pint.errors.PintError, AttributeError, TypeError, ValueError):
        # AttributeError/TypeError: pint's parser on expressions that are not units at all
        return None
