"""Dose extraction, feature by feature: drugs, numbers, units, ranges, frequencies, routes,
phases, maxima, computed totals; numbers that are not doses; fail-closed Unparsed; and the
pack's own label doses."""

from __future__ import annotations

import re

import pytest

from corpus.loaders.pack import load_bundled_packs
from corpus.text import split_sentences
from guardrails.extraction import extract, find_drugs, fold
from guardrails.types import Amount, DoseMention


def only(text: str) -> DoseMention:
    mentions, unparsed = extract(text)
    assert unparsed == [], unparsed
    assert len(mentions) == 1, [text[m.span[0] : m.span[1]] for m in mentions]
    return mentions[0]


def written(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : span[1]]


# ------------------------------------------------------------------ drugs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Start argatroban now", ["argatroban"]),
        ("ARGATROBAN and Angiomax", ["argatroban", "bivalirudin"]),
        ("UFH or LMWH", ["heparin", "lmwh"]),
        ("low-molecular-weight heparin is an option", ["lmwh"]),
        ("low molecular weight heparin", ["lmwh"]),
        ("unfractionated heparin 5,000 units", ["heparin"]),
        ("heparin sodium", ["heparin"]),
        ("Lovenox, Clexane or Inhixa", ["enoxaparin", "enoxaparin", "enoxaparin"]),
        ("4F-PCC and Kcentra", ["prothrombin complex concentrate"] * 2),
        ("vitamin K 10 mg", ["vitamin k"]),
        ("antithrombin III", ["antithrombin"]),
        ("argatroben", ["argatroban"]),
        ("bivalirudine", ["bivalirudin"]),
        ("enoxaparine", ["enoxaparin"]),
        ("rivaroxiban", ["rivaroxaban"]),
        ("dabigatran's half-life", ["dabigatran"]),
    ],
    ids=[
        "generic",
        "case-and-brand",
        "abbreviations",
        "lmwh-hyphenated-longest-first",
        "lmwh-spaced",
        "unfractionated-is-heparin",
        "heparin-sodium",
        "brands",
        "pcc",
        "two-word-name",
        "roman-numeral",
        "misspelt-argatroben",
        "misspelt-bivalirudine",
        "misspelt-enoxaparine",
        "misspelt-rivaroxiban",
        "possessive",
    ],
)
def test_find_drugs(text: str, expected: list[str]) -> None:
    assert [name for _, _, name in find_drugs(text)] == expected


def test_find_drugs_spans_are_offsets_into_the_text() -> None:
    text = "Give low-molecular-weight heparin, not UFH."
    assert [written(text, (s, e)) for s, e, _ in find_drugs(text)] == [
        "low-molecular-weight heparin",
        "UFH",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "heparin-induced thrombocytopenia",
        "heparin induced thrombocytopenia",
        "non-heparin anticoagulants",
        "a vitamin K antagonist",
        "heparan sulfate",
        "an angioma of the liver",
        "coumarin derivatives",
        "a fragment of the clot",
        "central venous catheter",
        "protein C deficiency",
        "the warfare metaphor",
        "paranoid and agitated",
        "heparinized saline lock",
        "antithrombotic therapy",
        "prolamine",
        "argument about arguments",
        "enormous protocols",
        "thrombosis thrombocytopenia thrombin",
    ],
    ids=lambda t: t.replace(" ", "-")[:30],
)
def test_ordinary_words_are_not_drugs(text: str) -> None:
    assert find_drugs(text) == []


# ------------------------------------------------------------------ amounts and units


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("Apixaban 5 mg.", Amount(5, 5, "mg")),
        ("Apixaban 5mg.", Amount(5, 5, "mg")),
        ("Give enoxaparin 40 milligrams.", Amount(40, 40, "mg")),
        ("Argatroban 2 mcg/kg/min.", Amount(2, 2, "mcg", True, "min")),
        ("Argatroban 2 \u00b5g/kg/min.", Amount(2, 2, "mcg", True, "min")),
        ("Argatroban 2 \u03bcg/kg/min.", Amount(2, 2, "mcg", True, "min")),
        ("Argatroban 2 micrograms per kg per minute.", Amount(2, 2, "mcg", True, "min")),
        ("Idarucizumab 5 g IV.", Amount(5, 5, "g")),
        ("Heparin 5,000 units.", Amount(5000, 5000, "USP_unit")),
        ("Heparin 5000 U.", Amount(5000, 5000, "USP_unit")),
        ("Heparin 5,000 USP units.", Amount(5000, 5000, "USP_unit")),
        ("Dalteparin 5,000 IU.", Amount(5000, 5000, "international_unit")),
        ("Dalteparin 5,000 international units.", Amount(5000, 5000, "international_unit")),
        ("Heparin 10 mL.", Amount(10, 10, "mL")),
        ("Heparin 10 ml.", Amount(10, 10, "mL")),
        ("Heparin 80 units/kg.", Amount(80, 80, "USP_unit", True)),
        ("Heparin 80 units per kg.", Amount(80, 80, "USP_unit", True)),
        ("Heparin 80 units for each kg of body weight.", Amount(80, 80, "USP_unit", True)),
        ("Heparin 18 units/kg/h.", Amount(18, 18, "USP_unit", True, "h")),
        ("Heparin 18 units/kg/hr.", Amount(18, 18, "USP_unit", True, "h")),
        ("Heparin 18 units/kg per hour.", Amount(18, 18, "USP_unit", True, "h")),
        ("Heparin 1,000 units/hour.", Amount(1000, 1000, "USP_unit", False, "h")),
        ("Andexanet 4 mg/min.", Amount(4, 4, "mg", False, "min")),
        ("Andexanet 4 mg per minute.", Amount(4, 4, "mg", False, "min")),
        ("Heparin 20,000 units/day.", Amount(20000, 20000, "USP_unit", False, "day")),
        ("Heparin 20,000 units per day.", Amount(20000, 20000, "USP_unit", False, "day")),
        ("Heparin 20,000 units per 24 hours.", Amount(20000, 20000, "USP_unit", False, "day")),
        (
            "More than 35,000 units of UFH per 24 hours.",
            Amount(35000, 35000, "USP_unit", False, "day"),
        ),
        ("Apixaban \uff15 mg.", Amount(5, 5, "mg")),  # fullwidth digit
        ("Apixaban \u0665 mg.", Amount(5, 5, "mg")),  # Arabic-Indic digit
        ("Apixaban 2.5 \u338e.", Amount(2.5, 2.5, "mg")),  # squared mg
    ],
    ids=[
        "mg",
        "mg-attached",
        "milligrams",
        "mcg-kg-min",
        "micro-sign",
        "greek-mu",
        "micrograms-per-kg-per-minute",
        "g",
        "units-thousands",
        "U",
        "usp-units",
        "IU",
        "international-units",
        "mL",
        "ml",
        "units-per-kg",
        "units-per-kg-words",
        "units-for-each-kg",
        "units-kg-h",
        "units-kg-hr",
        "units-kg-per-hour",
        "units-per-hour",
        "mg-per-min",
        "mg-per-minute",
        "units-per-day",
        "units-per-day-words",
        "per-24-hours-is-per-day",
        "rate-after-of-drug",
        "fullwidth-digit",
        "arabic-indic-digit",
        "squared-unit",
    ],
)
def test_amount_and_unit(text: str, amount: Amount) -> None:
    assert only(text).amount == amount


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("Heparin 1,5 mg.", 1.5, 1.5),
        ("Heparin 12,5 mg.", 12.5, 12.5),
        ("Heparin 0,125 mg.", 0.125, 0.125),
        ("Heparin 0,15-0,2 mg/kg.", 0.15, 0.2),
        ("Heparin 1,500 units.", 1500, 1500),
        ("Heparin 10,000 units.", 10000, 10000),
        ("Heparin 1,500.5 units.", 1500.5, 1500.5),
        ("Heparin 1.500 mg.", 1.5, 1.5),
        ("Fingolimod 0\u00b75 mg once daily.", 0.5, 0.5),
        ("Fingolimod 1\u00b725 mg once daily.", 1.25, 1.25),
    ],
    ids=[
        "comma-one-digit",
        "comma-after-two-digits",
        "leading-zero-three-digits",
        "comma-range",
        "three-digits-is-thousands",
        "ten-thousand",
        "thousands-and-decimal-point",
        "dot-is-always-decimal",
        "raised-point-lancet",
        "raised-point-two-places",
    ],
)
def test_decimal_comma(text: str, low: float, high: float) -> None:
    amount = only(text).amount
    assert (amount.low, amount.high) == (low, high)


@pytest.mark.parametrize(
    ("text", "low", "high", "unit"),
    [
        ("Argatroban 0.15-0.2 mcg/kg/min.", 0.15, 0.2, "mcg"),
        ("Argatroban 0.15\u20130.2 mcg/kg/min.", 0.15, 0.2, "mcg"),
        ("Argatroban 0.15 \u2013 0.2 mcg/kg/min.", 0.15, 0.2, "mcg"),
        ("Warfarin 5 to 10 mg.", 5, 10, "mg"),
        ("Enoxaparin 0.5 to 1 mg/kg.", 0.5, 1, "mg"),
        ("Warfarin 2 mg to 5 mg.", 2, 5, "mg"),
        ("Heparin 20,000 to 40,000 units.", 20000, 40000, "USP_unit"),
        ("Warfarin between 2 and 5 mg.", 2, 5, "mg"),
        ("Warfarin 10 to 5 mg.", 5, 10, "mg"),
    ],
    ids=[
        "hyphen",
        "en-dash",
        "en-dash-spaced",
        "to",
        "to-per-kg",
        "unit-repeated",
        "thousands",
        "between-and",
        "reversed",
    ],
)
def test_range(text: str, low: float, high: float, unit: str) -> None:
    amount = only(text).amount
    assert (amount.low, amount.high, amount.unit) == (low, high, unit)


@pytest.mark.parametrize(
    ("text", "low", "unit"),
    [
        ("Warfarin two milligrams.", 2, "mg"),
        ("Heparin thirty units.", 30, "USP_unit"),
        ("Heparin five thousand units.", 5000, "USP_unit"),
        ("Heparin twenty-five units per kg.", 25, "USP_unit"),
        ("Apixaban one and a half mg.", 1.5, "mg"),
        ("Warfarin two and a half milligrams.", 2.5, "mg"),
        ("Heparin two thousand five hundred units.", 2500, "USP_unit"),
        ("Heparin a thousand units.", 1000, "USP_unit"),
    ],
    ids=[
        "two-mg",
        "thirty-units",
        "five-thousand",
        "hyphenated",
        "one-and-a-half",
        "two-and-a-half",
        "compound",
        "a-thousand",
    ],
)
def test_numbers_in_words(text: str, low: float, unit: str) -> None:
    m = only(text)
    assert (m.amount.low, m.amount.unit) == (low, unit)


def test_words_that_are_not_amounts_are_ignored() -> None:
    assert extract("One of the two patients got heparin once.") == ([], [])


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("Enoxaparin 20 or 40 mg daily.", [20, 40]),
        ("Enoxaparin 40, 50, 60 or 70 mg.", [40, 50, 60, 70]),
        ("The dose was changed from 40 to 30 mg of enoxaparin.", [40, 30]),
        ("Argatroban 0.32 \u00b1 0.25 mcg/kg/min.", [0.32]),
    ],
    ids=["or-shares-unit", "comma-list", "from-to-is-not-a-range", "mean-sd"],
)
def test_lists_share_their_unit(text: str, values: list[float]) -> None:
    mentions, unparsed = extract(text)
    assert unparsed == []
    assert [m.amount.low for m in mentions] == values
    assert {m.amount.unit for m in mentions} <= {"mg", "mcg"}


# ------------------------------------------------------------------ sentence context


@pytest.mark.parametrize(
    ("text", "interval_h"),
    [
        ("Rivaroxaban 20 mg once daily.", 24),
        ("Rivaroxaban 20 mg daily.", 24),
        ("Rivaroxaban 20 mg every 24 hours.", 24),
        ("Rivaroxaban 20 mg q24h.", 24),
        ("Rivaroxaban 20 mg QD.", 24),
        ("Rivaroxaban 20 mg once a day.", 24),
        ("Apixaban 5 mg twice daily.", 12),
        ("Apixaban 5 mg BID.", 12),
        ("Apixaban 5 mg b.i.d.", 12),
        ("Apixaban 5 mg every 12 hours.", 12),
        ("Apixaban 5 mg q12h.", 12),
        ("Apixaban 5 mg twice a day.", 12),
        ("Heparin 5,000 units three times daily.", 8),
        ("Heparin 5,000 units TID.", 8),
        ("Heparin 5,000 units every 8 hours.", 8),
        ("Heparin 5,000 units q8h.", 8),
        ("Heparin 5,000 units four times daily.", 6),
        ("Heparin 5,000 units QID.", 6),
        ("Heparin 5,000 units q6h.", 6),
        ("Heparin 5,000 units every 8 to 12 hours.", 8),
        ("Enoxaparin 30 mg once or twice daily.", 12),
        ("Heparin 20,000 units per 12 hours.", 12),
        ("Dalteparin 5,000 units the evening before surgery and then once daily.", 24),
        ("Warfarin 5 mg once weekly.", 168),
        ("Warfarin 5 mg every other day.", 48),
        ("Warfarin 5 mg every 2 weeks.", 336),
    ],
    ids=[
        "once-daily",
        "daily",
        "every-24-hours",
        "q24h",
        "QD",
        "once-a-day",
        "twice-daily",
        "BID",
        "b.i.d.",
        "every-12-hours",
        "q12h",
        "twice-a-day",
        "three-times-daily",
        "TID",
        "every-8-hours",
        "q8h",
        "four-times-daily",
        "QID",
        "q6h",
        "range-takes-the-shorter",
        "once-or-twice",
        "per-12-hours",
        "and-then-once-daily",
        "weekly",
        "every-other-day",
        "every-2-weeks",
    ],
)
def test_frequency(text: str, interval_h: float) -> None:
    m = only(text)
    assert m.interval_h == interval_h
    assert not m.single_dose


@pytest.mark.parametrize(
    ("text", "single"),
    [
        ("Idarucizumab 5 g IV once.", True),
        ("Enoxaparin as a single 30 mg IV bolus.", True),
        ("Argatroban 2 mcg/kg/min as a continuous infusion.", False),
        ("Rivaroxaban 10 mg after surgery once hemostasis is established.", False),
    ],
    ids=["once", "single", "continuous-infusion", "once-as-a-conjunction"],
)
def test_single_dose_and_continuous(text: str, single: bool) -> None:
    m = only(text)
    assert m.interval_h is None
    assert m.single_dose is single


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("Heparin 5,000 units IV.", "iv"),
        ("Heparin 5,000 units intravenous bolus.", "iv"),
        ("Heparin 5,000 units given intravenously.", "iv"),
        ("Enoxaparin 40 mg SC.", "sc"),
        ("Enoxaparin 40 mg SQ.", "sc"),
        ("Enoxaparin 40 mg subcutaneous.", "sc"),
        ("Enoxaparin 40 mg subcutaneously.", "sc"),
        ("Enoxaparin 40 mg subcut.", "sc"),
        ("Apixaban 5 mg PO.", "po"),
        ("Apixaban 5 mg orally.", "po"),
        ("Apixaban 5 mg by mouth.", "po"),
        ("Vitamin K 10 mg IM.", "im"),
        ("Enoxaparin given without an IV bolus as 0.75 mg/kg subcutaneously.", "sc"),
    ],
    ids=[
        "IV",
        "intravenous",
        "intravenously",
        "SC",
        "SQ",
        "subcutaneous",
        "subcutaneously",
        "subcut",
        "PO",
        "orally",
        "by-mouth",
        "IM",
        "negated-route-skipped",
    ],
)
def test_route(text: str, route: str) -> None:
    assert only(text).route == route


@pytest.mark.parametrize(
    ("text", "phase"),
    [
        ("Heparin 80 units/kg IV bolus.", "bolus"),
        ("An argatroban bolus of 150 mcg/kg.", "bolus"),
        ("Heparin 80 units/kg loading dose.", "loading"),
        ("A loading dose of warfarin 10 mg.", "loading"),
        ("Bivalirudin infusion of 1.75 mg/kg/h.", "infusion"),
        ("Argatroban 2 mcg/kg/min continuous infusion.", "infusion"),
        ("Danaparoid maintenance infusion of 200 units/h.", "maintenance"),
        ("Warfarin initial dose 5 mg.", "initial"),
        ("The usual warfarin starting dose is 5 mg.", "initial"),
        ("Argatroban is started at 2 mcg/kg/min.", "initial"),
        ("Start at 2 mcg/kg/min of argatroban.", "initial"),
    ],
    ids=[
        "bolus-after",
        "bolus-before",
        "loading-after",
        "loading-before",
        "infusion-before",
        "continuous",
        "maintenance",
        "initial",
        "starting-dose",
        "started-at",
        "start-at",
    ],
)
def test_phase(text: str, phase: str) -> None:
    assert only(text).phase == phase


def test_negated_phase_is_not_a_phase() -> None:
    assert only("Enoxaparin 1 mg/kg subcutaneously once daily, no bolus.").phase is None


@pytest.mark.parametrize(
    ("text", "is_max"),
    [
        ("Argatroban maximum 10 mcg/kg/min.", True),
        ("Argatroban max 10 mcg/kg/min.", True),
        ("Argatroban 10 mcg/kg/min max.", True),
        ("The argatroban rate should not exceed 10 mcg/kg/min.", True),
        ("Argatroban not to exceed 10 mcg/kg/min.", True),
        ("Dalteparin, not exceeding 18,000 units.", True),
        ("Heparin up to 10,000 units.", True),
        ("No more than 50 mg of protamine.", True),
        ("Dalteparin 120 units/kg (not more than 10,000 units).", True),
        ("Argatroban 2 mcg/kg/min for up to 4 hours.", False),
        ("Heparin not less than 150 units/kg.", False),
    ],
    ids=[
        "maximum",
        "max",
        "max-after",
        "should-not-exceed",
        "not-to-exceed",
        "not-exceeding",
        "up-to",
        "no-more-than",
        "not-more-than-in-parentheses",
        "up-to-a-duration",
        "a-minimum-is-not-a-max",
    ],
)
def test_max(text: str, is_max: bool) -> None:
    mentions, _ = extract(text)
    assert mentions[-1].is_max is is_max


def test_max_in_parentheses_inherits_route_and_frequency() -> None:
    text = "Dalteparin 120 units/kg (not more than 10,000 units) subcutaneously every 12 hours."
    per_kg, cap = extract(text)[0]
    assert (per_kg.route, per_kg.interval_h, per_kg.is_max) == ("sc", 12, False)
    assert (cap.amount.low, cap.route, cap.interval_h, cap.is_max) == (10000, "sc", 12, True)


@pytest.mark.parametrize(
    ("text", "amount", "weight", "total"),
    [
        (
            "Enoxaparin 1 mg/kg (80 mg for 80 kg) every 12 hours.",
            Amount(1, 1, "mg", True),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "Enoxaparin 1 mg/kg (80 mg for an 80 kg patient).",
            Amount(1, 1, "mg", True),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "Enoxaparin 1 mg/kg \u00d7 80 kg = 80 mg.",
            Amount(1, 1, "mg", True),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "Give 80 mg for an 80 kg patient of enoxaparin.",
            Amount(80, 80, "mg"),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "Enoxaparin 80 mg for a patient weighing 80 kg.",
            Amount(80, 80, "mg"),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "For an 80 kg patient: enoxaparin 80 mg every 12 hours.",
            Amount(80, 80, "mg"),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "For an 80-kg patient, enoxaparin 1 mg/kg (80 mg) twice daily.",
            Amount(1, 1, "mg", True),
            80,
            Amount(80, 80, "mg"),
        ),
        (
            "Enoxaparin 1 mg/kg (90 mg for 80 kg).",
            Amount(1, 1, "mg", True),
            80,
            Amount(90, 90, "mg"),
        ),
    ],
    ids=[
        "parenthesised",
        "an-80-kg-patient",
        "times-equals",
        "standalone",
        "weighing",
        "weight-first",
        "weight-first-per-kg",
        "wrong-sum-kept",
    ],
)
def test_computed_total(text: str, amount: Amount, weight: float, total: Amount) -> None:
    m = only(text)
    assert (m.amount, m.weight_kg, m.total) == (amount, weight, total)


def test_equivalent_units_in_brackets_share_per_kg_and_frequency() -> None:
    text = "Enoxaparin 4,000 IU (40 mg) once daily or 100 IU (1 mg) per kg every 12 hours."
    mentions, unparsed = extract(text)
    assert unparsed == []
    got = [(m.amount.describe(), m.interval_h) for m in mentions]
    assert got == [
        ("4000 international_unit", 24),
        ("40 mg", 24),
        ("100 international_unit/kg", 12),
        ("1 mg/kg", 12),
    ]


def test_a_list_shares_route_phase_and_frequency() -> None:
    mentions, _ = extract("Andexanet 400 mg or 800 mg IV bolus.")
    assert [(m.amount.low, m.route, m.phase) for m in mentions] == [
        (400, "iv", "bolus"),
        (800, "iv", "bolus"),
    ]


def test_each_amount_keeps_its_own_clause() -> None:
    text = (
        "For STEMI, enoxaparin is given as a single 30 mg IV bolus plus a 1 mg/kg subcutaneous "
        "dose, then 1 mg/kg subcutaneously every 12 hours (maximum 100 mg for each of the "
        "first two doses)."
    )
    got = [
        (m.amount.describe(), m.route, m.phase, m.interval_h, m.is_max) for m in extract(text)[0]
    ]
    assert got == [
        ("30 mg", "iv", "bolus", None, False),
        ("1 mg/kg", "sc", None, None, False),
        ("1 mg/kg", "sc", None, 12, False),
        ("100 mg", "sc", None, 12, True),
    ]


# ------------------------------------------------------------------ drug assignment


@pytest.mark.parametrize(
    ("text", "drugs"),
    [
        ("Apixaban 5 mg, then rivaroxaban 20 mg.", ["apixaban", "rivaroxaban"]),
        ("Give 40 mg of enoxaparin.", ["enoxaparin"]),
        ("40 mg enoxaparin daily.", ["enoxaparin"]),
        ("Take 5 mg daily.", [None]),
        (
            "Each 1 mg of protamine neutralizes about 100 USP units of heparin.",
            ["protamine"],
        ),
        (
            "Give 1 mg of protamine per 1 mg of enoxaparin, then 0.5 mg per 1 mg.",
            ["protamine", "protamine"],
        ),
        ("The idarucizumab dose for dabigatran reversal is 5 g IV.", ["idarucizumab"]),
        ("For heparin-induced thrombocytopenia, start 2 mcg/kg/min.", [None]),
        ("Heparin first; separately: 5 mg of warfarin.", ["warfarin"]),
    ],
    ids=[
        "nearest-before",
        "of-drug-after",
        "following-when-none-before",
        "no-drug",
        "neutralization-ratio-is-not-a-dose",
        "ratio-object-is-skipped",
        "drug-reversal-is-a-description",
        "hit-is-not-heparin",
        "of-wins-over-before",
    ],
)
def test_drug_assignment(text: str, drugs: list[str | None]) -> None:
    assert [m.drug for m in extract(text)[0]] == drugs


def test_amounts_in_another_sentence_do_not_take_its_drug() -> None:
    mentions, _ = extract("Argatroban is used in HIT.\nGive 2 mcg/kg/min.")
    assert [m.drug for m in mentions] == [None]


# ------------------------------------------------------------------ not doses


@pytest.mark.parametrize(
    "text",
    [
        "Enoxaparin is reduced when CrCl is below 30 mL/min.",
        "Warfarin is dosed to a target INR of 2.0 to 3.0.",
        "Stop heparin if the platelet count falls below 100,000/mm3.",
        "Stop heparin if platelets are below 100,000.",
        "Enoxaparin in patients 75 years or older.",
        "Continue enoxaparin for at least 5 days.",
        "Start rivaroxaban 12 hours after surgery.",
        "Apixaban is reduced by 50% with strong inhibitors.",
        "Heparin is adequate when the aPTT is 1.5 to 2.5 times control.",
        "Danaparoid anti-Factor Xa target 0.5 to 0.8 units/mL.",
        "Apixaban with serum creatinine 1.5 mg/dL or more.",
        "Enoxaparin in patients weighing 45 kg.",
        "Heparin 1,000 units/mL vials.",
        "Argatroban half-life is 39 to 51 minutes.",
        "The 4F-PCC dose depends on the INR.",
        "The ASH 2018 guideline on heparin.",
        "Mix the heparin bag in 250 mL of saline.",
        "The daily dalteparin dose is reduced by 2,500 units.",
        "Dabigatran at eGFR 30 mL/min/1.73 m2.",
    ],
    ids=[
        "crcl",
        "inr",
        "platelets-per-mm3",
        "platelets",
        "age",
        "duration-days",
        "hours-after-surgery",
        "percent",
        "aptt-ratio",
        "anti-xa-level",
        "creatinine-mg-dl",
        "weight",
        "concentration",
        "half-life-minutes",
        "product-name-digit",
        "year",
        "diluent-volume",
        "change-not-a-dose",
        "egfr",
    ],
)
def test_numbers_that_are_not_doses(text: str) -> None:
    assert extract(text) == ([], [])


# ------------------------------------------------------------------ fail closed


@pytest.mark.parametrize(
    ("text", "drug", "span", "reason"),
    [
        ("Argatroban 2 per kg.", "argatroban", "2 per kg", "no unit"),
        ("Argatroban 2/kg/min.", "argatroban", "2/kg/min", "no unit"),
        ("Enoxaparin 40 subcut daily.", "enoxaparin", "40", "no unit"),
        ("Give enoxaparin 40.", "enoxaparin", "40", "no unit"),
        ("Warfarin 5 daily.", "warfarin", "5", "no unit"),
        ("Heparin dose is 5000.", "heparin", "5000", "no unit"),
        ("Heparin 5000 IE subcutaneously.", "heparin", "5000", "no unit"),
        ("Heparin 1.500,5 units.", "heparin", "1.500,5", "ambiguous"),
        ("Heparin 5 000 units.", "heparin", "5 000", "ambiguous"),
        ("Enoxaparin 1 mg/m2.", "enoxaparin", "1 mg/m2", "m²"),
        ("Argatroban 2 mcg/kg/3 min.", "argatroban", "2 mcg/kg/3 min", "per 3 min"),
        ("Warfarin 5 (W5) daily.", "warfarin", "5", "no unit"),
        ("Heparin 13 (H13) units.", "heparin", "13", "no unit"),
    ],
    ids=[
        "per-kg-without-unit",
        "slash-kg-without-unit",
        "route-without-unit",
        "bare-number-after-drug",
        "frequency-without-unit",
        "dose-is-number",
        "unknown-unit",
        "mixed-separators",
        "space-grouped",
        "per-m2",
        "odd-rate",
        "echo-then-frequency",
        "echo-then-unit",
    ],
)
def test_unparsed(text: str, drug: str, span: str, reason: str) -> None:
    mentions, unparsed = extract(text)
    assert mentions == []
    assert len(unparsed) == 1
    u = unparsed[0]
    assert (u.drug, written(text, u.span), written(text, u.sentence)) == (drug, span, text)
    assert reason in u.reason


def test_unparsed_needs_a_drug() -> None:
    assert extract("Give 40 subcut daily.") == ([], [])


@pytest.mark.parametrize(
    "text",
    [
        "Groups: 72 usual care, 71 inhaled heparin, 71 saline.",
        "Apixaban for one week, then review.",
        "In the 54 heparin-treated patients, bleeding was rare.",
        "Enoxaparin: see section 4.2 of the label.",
        "Sperm express protamine 1 (P1) and protamine 2 (PRM2) proteins.",
        "The vaccine (Prevenar 13(®), Prevnar 13®) is given to children.",
    ],
    ids=[
        "count-after-comma",
        "duration-in-words",
        "patient-count",
        "section-number",
        "numbered-protein-name",
        "brand-name-with-mark",
    ],
)
def test_numbers_near_a_drug_that_are_not_doses_do_not_fail_closed(text: str) -> None:
    assert extract(text) == ([], [])


# ------------------------------------------------------------------ spans


@pytest.mark.parametrize(
    "text",
    [
        "Apixaban \uff15 mg twice daily.",
        "\uff21pixaban\u00a05\u2009mg.",  # fullwidth A, no-break and thin spaces
        "\u2018Heparin\u2019 \u2014 5\u202f000 units? No: 5,000 units.",
        "Argatroban 0.15\u20130.2 \u00b5g/kg/min.",
        "\U0001d7d3 mg of apixaban.",  # mathematical bold digit five
    ],
    ids=[
        "fullwidth-digit",
        "fullwidth-letter-and-spaces",
        "quotes-and-dashes",
        "en-dash-micro",
        "math-digit",
    ],
)
def test_spans_point_into_the_original_text(text: str) -> None:
    mentions, unparsed = extract(text)
    assert mentions
    folded = fold(text)
    assert len(folded) == len(text)
    for m in mentions:
        piece = written(text, m.span)
        assert fold(piece) == folded[m.span[0] : m.span[1]]
        assert re.search(r"(mg|units|g/kg/min)\Z", fold(piece)), piece
        assert m.sentence[0] <= m.span[0] < m.span[1] <= m.sentence[1]


def test_spans_in_a_longer_answer() -> None:
    text = (
        "For HIT, stop all heparin. Start argatroban 2 mcg/kg/min IV.\n"
        "- Enoxaparin 1 mg/kg SC q12h.\n"
        "| Drug | Dose |\n| dalteparin | 200 units/kg daily |"
    )
    mentions, unparsed = extract(text)
    assert unparsed == []
    assert [(m.drug, written(text, m.span)) for m in mentions] == [
        ("argatroban", "2 mcg/kg/min"),
        ("enoxaparin", "1 mg/kg"),
        ("dalteparin", "200 units/kg"),
    ]
    assert written(text, mentions[0].sentence) == "Start argatroban 2 mcg/kg/min IV."


def test_results_do_not_depend_on_what_came_before() -> None:
    # sentences are cached; a repeated sentence must still get its own offsets
    text = "Apixaban 5 mg twice daily. Apixaban 5 mg twice daily."
    first, second = extract(text)[0]
    assert first.span == (9, 13)
    assert second.span == (36, 40)
    assert second.sentence == (27, len(text))


# ------------------------------------------------------------------ the pack's own doses

LABELS = [d for d in load_bundled_packs().documents if d.source_type == "label"]
# A number with a dose unit that is not a concentration, clearance or lab value, nor a
# ratio or a change ("per 1 mg of enoxaparin", "reduced by 2,500 units"), which are not doses.
_DOSE_IN_SENTENCE = re.compile(
    r"(?<![\d,.])(?<!per )(?<!by )(?<!neutralizes approximately )(?<!neutralizes about )"
    r"\b\d[\d,.]*\s*(?:mg|mcg|µg|μg|g|units?|U|IU|mL)\b(?!\s*/\s*(?:min|mL|dL|L|mm3)\b)"
)


def _label_sentences(doc_text: str) -> list[str]:
    out = []
    for line in doc_text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        out.extend(line[s:e] for s, e in split_sentences(line))
    return out


def _dose_sentences(doc_text: str) -> list[str]:
    return [s for s in _label_sentences(doc_text) if _DOSE_IN_SENTENCE.search(s) and find_drugs(s)]


@pytest.mark.parametrize("doc", LABELS, ids=[d.id for d in LABELS])
def test_every_label_dose_sentence_yields_a_dose(doc) -> None:  # type: ignore[no-untyped-def]
    extract(doc.text)  # the whole document at once: no exception
    for sentence in _label_sentences(doc.text):
        extract(sentence)  # and every sentence alone
    missing = [s for s in _dose_sentences(doc.text) if not any(m.drug for m in extract(s)[0])]
    assert not missing, "\n".join(missing)


def test_the_label_check_is_not_vacuous() -> None:
    assert len(LABELS) >= 15
    assert sum(len(_dose_sentences(d.text)) for d in LABELS) >= 80


def test_label_doses_are_not_unparsed() -> None:
    # the pack states every dose with its unit, so nothing in it may fail closed
    problems = []
    for doc in LABELS:
        _, unparsed = extract(doc.text)
        problems += [f"{doc.id}: {written(doc.text, u.sentence)}" for u in unparsed]
    assert problems == []
