"""Every number in a dose sentence of a label summary carries its unit.

A bare "2 per kg" or "give 40 subcutaneously" is a defect: a reader (and the dose guard)
cannot tell mg from mcg or units. Numbers that are not amounts are allowed where the words
say what they are: INR values, scores, ratios, classes, years.
"""

from __future__ import annotations

import re

import pytest

from corpus.loaders.pack import load_bundled_packs
from corpus.text import split_sentences

UNITS = (
    r"mg|mcg|µg|μg|micrograms?|milligrams?|g|grams?|units?|U|IU|international units|mL|ml|L|"
    r"kg|mmol|mEq|%|hours?|hrs?|h|minutes?|mins?|min|days?|weeks?|months?|years?|seconds?|sec|s|"
    r"times|x|×|fold|doses?|mm3|µL|microliters?|mm|cm|m2|lbs?|USP units|x ?10\^?9/L|×10\^?9/L|vials?|tablets?"
)
_NUMBER = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)*)")
_RANGE = re.compile(r"\s*(?:-|–|to|or|and|/)\s*(?=\d)")
_UNIT_AFTER = re.compile(
    rf"\s*(?:{UNITS})(?![A-Za-z])|\s*/\s*(?:mm3|µL|L|kg|min|h|day)\b|\s*[-–]?\s*(?:hour|minute|day|week|month|year)\b"
)
_ATTACHED = re.compile(rf"(?:{UNITS})(?![A-Za-z])")
_UNITLESS_BEFORE = re.compile(
    r"(score|ratio|divisor|class|grade|stage|step|type|phase|factor|Child-Pugh|aged?|ACT|level|trial|times|×|x|÷|"
    r"days?|weeks?|months?|years?|hours?)"
    r"(?:\s+(?:of|is|was|between|from|target|range|below|above|at|to|<|>|≤|≥|=))*\s*[(]?$",
    re.IGNORECASE,
)
_DOSE_WORDS = re.compile(
    r"\b(dose|dosed|dosing|bolus|infusion|given|administer\w*|start\w*|initiat\w*|maintenance|mg|mcg|units)\b|/kg",
    re.IGNORECASE,
)

LABELS = [d for d in load_bundled_packs().documents if d.source_type == "label"]


def unitless_numbers(sentence: str) -> list[str]:
    """Numbers in ``sentence`` with no unit after them and no word saying what they are."""
    bad = []
    pos = 0
    while match := _NUMBER.search(sentence, pos):
        end = pos = match.end()
        attached = _ATTACHED.match(sentence, end)
        if end < len(sentence) and sentence[end].isalpha():
            continue  # "4Ts", "12h": part of a word, or a unit written on
        if attached and attached.start() == end:
            continue
        value = match.group(1).replace(",", "")
        if re.fullmatch(r"(19|20)\d\d", value):
            continue  # a year
        rest = end
        while (rng := _RANGE.match(sentence, rest)) and (nxt := _NUMBER.match(sentence, rng.end())):
            rest = pos = nxt.end()  # a range "2.0 to 3.0" is one quantity
        if _UNIT_AFTER.match(sentence, rest):
            continue
        before = sentence[max(0, match.start() - 40) : match.start()]
        if _UNITLESS_BEFORE.search(before) or "INR" in before:
            continue
        bad.append(match.group(1))
    return bad


@pytest.mark.parametrize(
    ("sentence", "bad"),
    [
        ("Give 2 per kg every 12 hours.", ["2"]),
        ("Enoxaparin 40 subcutaneously once daily.", ["40"]),
        ("Give 1 mg/kg every 12 hours.", []),
        ("Start 0.15 to 0.2 mg/kg/h.", []),
        ("Target INR 2.0 to 3.0.", []),
        ("Below 100,000/mm3 stop.", []),
        ("Dose 5,000 units.", []),
    ],
    ids=["per-kg-bare", "no-unit", "mg-kg", "range", "inr", "per-mm3", "thousands"],
)
def test_the_checker_itself(sentence: str, bad: list[str]) -> None:
    assert unitless_numbers(sentence) == bad


@pytest.mark.parametrize("doc", LABELS, ids=[d.id for d in LABELS])
def test_every_number_in_a_label_dose_sentence_has_a_unit(doc) -> None:  # type: ignore[no-untyped-def]
    problems = []
    for line in doc.text.splitlines():
        if line.lstrip().startswith(("#", "|")):
            continue
        for s, e in split_sentences(line):
            sentence = line[s:e]
            if _DOSE_WORDS.search(sentence):
                bad = unitless_numbers(sentence)
                if bad:
                    problems.append(f"{bad} in: {sentence}")
    assert not problems, "\n".join(problems)
