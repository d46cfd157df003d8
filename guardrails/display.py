"""Units as clinicians write them, for everything a person reads from the guard.

The guard keeps pint's canonical names (``USP_unit``, ``international_unit``, and in pint's
own formatting ``microgram / kilogram / minute``) because they convert exactly; a clinician
reads "units/kg", "IU" and "mcg/kg/min". ``display_unit`` rewrites those names inside any
text (a finding's message or expected dose) and leaves everything else as it is:

- ``USP_unit`` -> "units" ("unit" after a lone 1); ``international_unit`` -> "IU" next to a
  number or in a compound unit, "international units" where the unit stands alone;
- mass and volume names -> mcg, mg, g, kg, mL, L, but only next to a number or in a
  compound unit, so prose ("gram-negative", "per gram of tissue") is untouched;
- time names -> min, h, day only after a slash, so "every 12 hours" stays as written.

Only display text goes through here: quotes from sources are never rewritten.
"""

from __future__ import annotations

import re

__all__ = ["display_unit"]

# pint name (or an abbreviation already in use) -> how it is written. Time units are
# abbreviated only after a slash, mass and volume only in a quantity or compound unit.
_ACTIVITY = {"USP_unit": "units", "international_unit": "IU", "IU": "IU", "units": "units"}
_AMOUNT = {
    "microgram": "mcg",
    "milligram": "mg",
    "gram": "g",
    "kilogram": "kg",
    "milliliter": "mL",
    "millilitre": "mL",
    "liter": "L",
    "litre": "L",
    "mcg": "mcg",
    "mg": "mg",
    "g": "g",
    "kg": "kg",
    "mL": "mL",
}
_TIME = {"minute": "min", "hour": "h", "day": "day", "min": "min", "h": "h"}
_NAMES = {**_ACTIVITY, **_AMOUNT, **_TIME}

# Longest names first so "milligram" is never read as "gram"; a trailing "s" is pint's
# plural; a name glued to a hyphen or a letter is a different word.
_UNIT = (
    r"(?:" + "|".join(re.escape(n) for n in sorted(_NAMES, key=len, reverse=True)) + r")s?(?![\w-])"
)
_NUMBER = r"\d[\d,]*(?:\.\d+)?"
_PATTERN = re.compile(
    rf"(?<![\w.])(?P<num>{_NUMBER}(?:\s*(?:–|-|to)\s*{_NUMBER})?\s*)?"
    rf"(?P<expr>\b{_UNIT}(?:\s*/\s*{_UNIT})*)"
)
_TOKEN = re.compile(r"\s*/\s*")


def _name(token: str) -> str:
    """The registry key for a written token: pint's plural "s" dropped when that names one."""
    if token in _NAMES:
        return token
    return token[:-1] if token.endswith("s") and token[:-1] in _NAMES else token


def _rewrite(match: re.Match[str]) -> str:
    num, expr = match.group("num") or "", match.group("expr")
    tokens = [_name(t) for t in _TOKEN.split(expr)]
    first = tokens[0]
    compound = len(tokens) > 1
    if first in _TIME and not compound:
        return match.group(0)  # "every 12 hours", "over 10 minutes": prose, not a dose unit
    if first in _AMOUNT and not (num or compound):
        return match.group(0)  # "per gram of tissue": no quantity, so no abbreviation
    if first not in _ACTIVITY and first not in _AMOUNT:
        return match.group(0)  # "/h" alone, "day/week": not a dose unit expression
    words = [_NAMES[t] for t in tokens]
    if first == "international_unit" and not (num or compound):
        words[0] = "international units"
    elif first in ("USP_unit", "units") and num.strip() == "1":
        words[0] = "unit"
    return num + "/".join(words)


def display_unit(text: str) -> str:
    """``text`` with pint unit names written as clinicians write them.

    >>> display_unit("heparin: 18 USP_unit/kg/h matches the reference.")
    'heparin: 18 units/kg/h matches the reference.'
    >>> display_unit("2 microgram / kilogram / minute; dosed in international_unit")
    '2 mcg/kg/min; dosed in international units'
    """
    if not text:
        return text
    return _PATTERN.sub(_rewrite, text)
