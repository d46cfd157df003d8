"""Number forms next to a drug: the ones that must fail closed (an Unparsed, never a
normal-looking dose), the obfuscated ones that read as the dose a clinician sees, counts of
vials, restatements, and spans in the original text's offsets."""

from __future__ import annotations

import re

import pytest

from guardrails.extraction import extract
from guardrails.types import Amount, DoseMention, Unparsed

MB = 1_000_000


def written(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : span[1]]


# ------------------------------------------------------------------ fail closed

FAIL_CLOSED = [
    ("Enoxaparin 1e309 mg/kg SC.", "1e309 mg/kg", "scientific notation", "sci-overflow"),
    ("Enoxaparin 1.5e2 mg SC.", "1.5e2 mg", "scientific notation", "sci-decimal"),
    ("Enoxaparin 1.5E+2 mg SC.", "1.5E+2 mg", "scientific notation", "sci-capital-signed"),
    ("Heparin 5e3 units IV bolus.", "5e3 units", "scientific notation", "sci-units"),
    ("Enoxaparin 0x10 mg SC.", "0x10 mg", "hexadecimal notation", "hex"),
    ("Enoxaparin -1 mg/kg SC.", "-1 mg/kg", "a negative amount", "negative-dash"),
    ("Enoxaparin \u22121 mg/kg SC.", "\u22121 mg/kg", "a negative amount", "negative-minus-sign"),
    ("Enoxaparin minus 1 mg SC.", "minus 1 mg", "a negative amount", "negative-word"),
    ("Enoxaparin (-40 mg) SC.", "-40 mg", "a negative amount", "negative-in-parentheses"),
    ("Enoxaparin dose: -1 mg/kg.", "-1 mg/kg", "a negative amount", "negative-after-colon"),
    ("Enoxaparin -1", "-1", "a negative amount", "negative-without-unit"),
    ("Enoxaparin 1^0 mg/kg SC.", "1^0 mg/kg", "an exponent or superscript", "caret"),
    (
        "Enoxaparin 1<sup>0</sup> mg/kg SC.",
        "1<sup>0</sup> mg/kg",
        "an exponent or superscript",
        "html-superscript",
    ),
    ("Heparin 10**3 units IV.", "10**3 units", "an exponent or superscript", "double-star"),
    ("Heparin 10\u00b3 units IV.", "10\u00b3 units", "an exponent or superscript", "superscript"),
    ("Enoxaparin inf mg/kg SC.", "inf mg/kg", "not a finite number", "inf"),
    ("Enoxaparin Infinity mg SC.", "Infinity mg", "not a finite number", "infinity"),
    ("Enoxaparin NaN mg/kg SC.", "NaN mg/kg", "not a finite number", "nan"),
    ("Enoxaparin \u221e mg SC.", "\u221e mg", "not a finite number", "infinity-sign"),
    ("Heparin 3/2 mg/kg IV.", "3/2 mg/kg", "a fraction or a combination strength (x/y)", "frac"),
    (
        "Enoxaparin 1 mg/kg, actually make it 10.",
        "10",
        "a corrected amount without a unit",
        "corrected-make-it",
    ),
    (
        "Enoxaparin 1 mg/kg, no wait, 10.",
        "10",
        "a corrected amount without a unit",
        "corrected-no-wait",
    ),
    (
        "Enoxaparin 1 mg/kg - sorry, I mean 1.5.",
        "1.5",
        "a corrected amount without a unit",
        "corrected-i-mean",
    ),
    (
        "Enoxaparin 1 mg/kg every 12 hours.\nNo wait, 10.",
        "10",
        "a corrected amount without a unit",
        "corrected-in-the-next-sentence",
    ),
]


@pytest.mark.parametrize(
    ("text", "span_text", "reason"),
    [c[:3] for c in FAIL_CLOSED],
    ids=[c[3] for c in FAIL_CLOSED],
)
def test_fails_closed(text: str, span_text: str, reason: str) -> None:
    mentions, unparsed = extract(text)
    assert [(u.drug, written(text, u.span), u.reason) for u in unparsed] == [
        ("enoxaparin" if "noxaparin" in text else "heparin", span_text, reason)
    ]
    # Never a normal-looking dose at the refused place.
    assert not any(
        m.span[0] < unparsed[0].span[1] and unparsed[0].span[0] < m.span[1] for m in mentions
    )


def test_a_corrected_dose_with_a_unit_is_read_and_checked() -> None:
    text = "Enoxaparin 1 mg/kg, actually make it 10 mg/kg."
    mentions, unparsed = extract(text)
    assert [(m.drug, m.amount.describe()) for m in mentions] == [
        ("enoxaparin", "1 mg/kg"),
        ("enoxaparin", "10 mg/kg"),
    ]
    assert unparsed == []


NOT_REFUSED = [
    ("Heparin 5-10 units/kg IV.", "5–10 USP_unit/kg", "range"),
    ("Heparin 5 - 10 units/kg IV.", "5–10 USP_unit/kg", "spaced-range"),
    ("Argatroban 0.5-1.2 mcg/kg/min.", "0.5–1.2 mcg/kg/min", "decimal-range"),
    ("Doxazosin 1--16 mg daily.", "1–16 mg", "markdown-en-dash-range"),
    ("- Enoxaparin 40 mg SC daily", "40 mg", "bullet"),
    ("Enoxaparin 40 mg SC daily (anti-Xa 0.5-1 units/mL).", "40 mg", "anti-xa-target"),
    ("Enoxaparin 40 mg SC, rather than heparin.", "40 mg", "rather-without-a-number"),
    ("Heparin 5000 units SC every 8-12 hours.", "5000 USP_unit", "interval-range"),
]


@pytest.mark.parametrize(
    ("text", "amount"), [c[:2] for c in NOT_REFUSED], ids=[c[2] for c in NOT_REFUSED]
)
def test_ordinary_forms_are_not_refused(text: str, amount: str) -> None:
    mentions, unparsed = extract(text)
    assert unparsed == []
    assert [m.amount.describe() for m in mentions][:1] == [amount]


# ------------------------------------------------------------------ obfuscated forms read


READ = [
    (
        "<b>Enoxaparin</b> <i>10</i> mg/kg SC",
        "enoxaparin",
        Amount(10, 10, "mg", True),
        "10</i> mg/kg",
        "html-tags",
    ),
    (
        "Enoxaparin 10&nbsp;mg/kg SC",
        "enoxaparin",
        Amount(10, 10, "mg", True),
        "10&nbsp;mg/kg",
        "nbsp",
    ),
    ("**Enoxaparin** 40 mg SC", "enoxaparin", Amount(40, 40, "mg"), "40 mg", "markdown-bold"),
    ("Enox\u200baparin 40 mg SC", "enoxaparin", Amount(40, 40, "mg"), "40 mg", "zero-width-space"),
    ("Enox\u00adaparin 40 mg SC", "enoxaparin", Amount(40, 40, "mg"), "40 mg", "soft-hyphen"),
    ("Enoxapari\u0301n 40 mg SC", "enoxaparin", Amount(40, 40, "mg"), "40 mg", "combining-accent"),
    ("\ufeffEnoxaparin 40 mg SC", "enoxaparin", Amount(40, 40, "mg"), "40 mg", "bom"),
    ("Heparin 80k units IV", "heparin", Amount(80000, 80000, "USP_unit"), "80k units", "k"),
    ("Heparin 80K units IV", "heparin", Amount(80000, 80000, "USP_unit"), "80K units", "capital-k"),
    (
        "Heparin 80 thousand units IV",
        "heparin",
        Amount(80000, 80000, "USP_unit"),
        "80 thousand units",
        "thousand",
    ),
    (
        "Heparin 1.5 million units IV",
        "heparin",
        Amount(1.5e6, 1.5e6, "USP_unit"),
        "1.5 million units",
        "million",
    ),
    (
        "Enoxaparin 1/2 mg/kg SC",
        "enoxaparin",
        Amount(0.5, 0.5, "mg", True),
        "1/2 mg/kg",
        "slash-fraction",
    ),
    (
        "Enoxaparin \u00bd mg/kg SC",
        "enoxaparin",
        Amount(0.5, 0.5, "mg", True),
        "\u00bd mg/kg",
        "vulgar-fraction",
    ),
    (
        "Enoxaparin 1\u00bd mg/kg SC",
        "enoxaparin",
        Amount(1.5, 1.5, "mg", True),
        "1\u00bd mg/kg",
        "mixed-fraction",
    ),
]


@pytest.mark.parametrize(
    ("text", "drug", "amount", "span_text"), [c[:4] for c in READ], ids=[c[4] for c in READ]
)
def test_obfuscated_forms_read_as_the_dose_shown(
    text: str, drug: str, amount: Amount, span_text: str
) -> None:
    mentions, unparsed = extract(text)
    assert unparsed == []
    assert [(m.drug, m.amount, written(text, m.span)) for m in mentions] == [
        (drug, amount, span_text)
    ]
    # The sentence is the whole text, less the markup before its first word.
    start, end = mentions[0].sentence
    assert end == len(text)
    assert text[start].lower() == drug[0]
    assert re.fullmatch(r"(?:<[a-z]+>|[*\u200b\ufeff])*", text[:start])


# ------------------------------------------------------------------ restatements, vials


@pytest.mark.parametrize(
    "text",
    [
        "Enoxaparin 1 mg/kg every 12 hours (i.e. 10 mg/kg).",
        "Enoxaparin 1 mg/kg every 12 hours (i.e., 10 mg/kg).",
        "Enoxaparin 1 mg/kg every 12 hours (e.g. 10 mg/kg).",
        "Enoxaparin 1 mg/kg every 12 hours (that is, 10 mg/kg).",
    ],
    ids=["ie", "ie-comma", "eg", "that-is"],
)
def test_a_restatement_is_a_second_mention_of_the_same_drug(text: str) -> None:
    mentions, _ = extract(text)
    assert [(m.drug, m.amount.describe(), m.interval_h) for m in mentions] == [
        ("enoxaparin", "1 mg/kg", 12.0),
        ("enoxaparin", "10 mg/kg", 12.0),
    ]
    assert {m.sentence for m in mentions} == {(0, len(text))}


VIALS = [
    ("Idarucizumab two 2.5 g vials IV.", "two 2.5 g vials", "word-count-vials-after"),
    ("Idarucizumab 2 2.5 g vials IV.", "2 2.5 g vials", "digit-count-vials-after"),
    ("Idarucizumab 2 vials of 2.5 g IV.", "2 vials of 2.5 g", "vials-of"),
    ("Idarucizumab 2 vials (2.5 g each) IV.", "2 vials (2.5 g", "vials-parenthesis"),
    ("Idarucizumab 2 x 2.5 g IV.", "2 x 2.5 g", "times"),
    ("Idarucizumab 2 \u00d7 2.5 g IV.", "2 \u00d7 2.5 g", "times-sign"),
    ("Idarucizumab 2x2.5 g IV.", "2x2.5 g", "times-unspaced"),
]


@pytest.mark.parametrize(("text", "span_text"), [c[:2] for c in VIALS], ids=[c[2] for c in VIALS])
def test_a_count_of_vials_is_the_total(text: str, span_text: str) -> None:
    mentions, unparsed = extract(text)
    assert unparsed == []
    assert [(m.drug, m.amount, m.count, written(text, m.span)) for m in mentions] == [
        ("idarucizumab", Amount(5, 5, "g"), 2.0, span_text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Idarucizumab 5 g IV.", [(Amount(5, 5, "g"), None)]),
        (
            "Idarucizumab 5 g (2 x 2.5 g vials) IV.",
            [(Amount(5, 5, "g"), None), (Amount(5, 5, "g"), 2.0)],
        ),
        ("Enoxaparin 2 x 1 mg/kg daily.", [(Amount(1, 1, "mg", True), None)]),
        ("Heparin 2 x 5000 units per day.", [(Amount(5000, 5000, "USP_unit", False, "day"), None)]),
    ],
    ids=["no-count", "total-and-its-vials", "per-kg-is-not-counted", "rate-is-not-counted"],
)
def test_only_a_fixed_strength_is_counted(
    text: str, expected: list[tuple[Amount, float | None]]
) -> None:
    assert [(m.amount, m.count) for m in extract(text)[0]] == expected


# ------------------------------------------------------------------ spans, sentences


def test_spans_and_sentences_are_offsets_into_the_original() -> None:
    text = (
        "<p><b>Bottom line:</b> use <i>enox\u200baparin</i> 1&nbsp;mg/kg SC every 12 hours.</p>"
        "<p>Heparin 80k units is not a dose.</p>"
    )
    mentions, unparsed = extract(text)
    assert unparsed == []
    assert [(m.drug, written(text, m.span)) for m in mentions] == [
        ("enoxaparin", "1&nbsp;mg/kg"),
        ("heparin", "80k units"),
    ]
    first, second = (written(text, m.sentence) for m in mentions)
    assert first.startswith("Bottom line:</b> use") and first.endswith("every 12 hours.")
    assert second == "Heparin 80k units is not a dose."


def test_unparsed_spans_are_offsets_into_the_original() -> None:
    text = "**Enoxaparin** <i>1e3</i>&nbsp;mg SC"
    _, unparsed = extract(text)
    assert [(u.drug, written(text, u.span)) for u in unparsed] == [
        ("enoxaparin", "1e3</i>&nbsp;mg")
    ]


def test_plain_text_reads_the_same_as_before_normalising() -> None:
    text = "Enoxaparin 1 mg/kg SC every 12 hours; heparin 80 units/kg IV bolus."
    mentions, _ = extract(text)
    assert [written(text, m.span) for m in mentions] == ["1 mg/kg", "80 units/kg"]


# ------------------------------------------------------------------ hostile input


def assert_in_bounds(text: str, mentions: list[DoseMention], unparsed: list[Unparsed]) -> None:
    for m in mentions:
        assert 0 <= m.sentence[0] <= m.span[0] < m.span[1] <= m.sentence[1] <= len(text)
    for u in unparsed:
        assert 0 <= u.sentence[0] <= u.span[0] < u.span[1] <= u.sentence[1] <= len(text)


@pytest.mark.parametrize(
    ("unit", "repeat"),
    [
        ("<b>enoxaparin</b> <i>1</i> mg/kg. ", MB // 34),
        ("heparin 10&nbsp;units. ", 100_000),
        ("heparin&#8203; 1e3 mg. ", MB // 24),
        ("<b>" * 100 + "heparin 5000 units. ", MB // 320),
    ],
    ids=["tags-around-doses", "100k-entities", "zero-width-and-scientific", "tag-floods"],
)
def test_hostile_markup_around_doses(unit: str, repeat: int) -> None:
    text = unit * repeat
    mentions, unparsed = extract(text)
    assert_in_bounds(text, mentions, unparsed)
    assert len(mentions) + len(unparsed) == repeat
