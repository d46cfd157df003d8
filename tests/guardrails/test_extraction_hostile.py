"""Hostile input: the extractor finishes and says something sane. Timing is measured in
bench/, not asserted here; every pattern in the extractor has bounded repetition, so these
inputs run in linear time and the suite's own duration bounds them."""

from __future__ import annotations

import math
import random

import pytest

from corpus.loaders.pack import load_bundled_packs
from guardrails.extraction import default_lexicon, extract, fold
from guardrails.types import DoseMention, Unparsed

MB = 1_000_000
DRUGS = {canonical for names in default_lexicon().by_first.values() for _, canonical in names}


def assert_sane(text: str, mentions: list[DoseMention], unparsed: list[Unparsed]) -> None:
    """Spans inside the text and inside their sentence; amounts finite and ordered."""
    for m in mentions:
        assert 0 <= m.sentence[0] <= m.span[0] < m.span[1] <= m.sentence[1] <= len(text)
        assert math.isfinite(m.amount.low) and math.isfinite(m.amount.high)
        assert 0 <= m.amount.low <= m.amount.high
        assert m.drug is None or m.drug in DRUGS
    for u in unparsed:
        assert 0 <= u.sentence[0] <= u.span[0] < u.span[1] <= u.sentence[1] <= len(text)
        assert u.drug in DRUGS


def test_one_megabyte_of_pack_text() -> None:
    docs = [d.text for d in load_bundled_packs().documents]
    text = "\n\n".join(docs)
    text = (text * (MB // len(text) + 1))[:MB]
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)
    one_copy = len(extract("\n\n".join(docs))[0])
    assert len(mentions) >= one_copy * (MB // len("\n\n".join(docs)))


def test_one_megabyte_of_dense_random_dose_words() -> None:
    rng = random.Random(7)
    words = [
        "heparin",
        "enoxaparin",
        "argatroben",
        "5",
        "mg",
        "1,5",
        "mg/kg",
        "0.15-0.2",
        "units/kg/h",
        "every",
        "12",
        "hours",
        "CrCl",
        "30",
        "mL/min",
        "INR",
        "2.0",
        "to",
        "3.0",
        "(",
        ")",
        ",",
        ".",
        ";",
        "twice",
        "daily",
        "IV",
        "SC",
        "the",
        "patient",
        "40",
        "subcut",
    ]
    text = " ".join(rng.choice(words) for _ in range(200_000))[:MB]
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)
    assert mentions and unparsed


@pytest.mark.parametrize(
    "text",
    [
        "heparin 5 mg " * 80_000,
        "enoxaparin 100 IU (1 mg) per kg " * 30_000,
        "heparin5mg," * 90_000,
        "\n" * MB,
        ". " * (MB // 2),
        "a" * MB,
    ],
    ids=[
        "no-sentence-breaks",
        "parentheses-repeated",
        "no-whitespace",
        "newlines",
        "periods",
        "one-word",
    ],
)
def test_one_megabyte_without_structure(text: str) -> None:
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)


def test_a_sentence_repeated_gets_every_copy() -> None:
    sentence = "Give apixaban 5 mg twice daily. "
    text = sentence * 30_000
    mentions, _ = extract(text)
    assert len(mentions) == 30_000
    assert all(text[m.span[0] : m.span[1]] == "5 mg" for m in mentions)


@pytest.mark.parametrize(
    "text",
    [
        "heparin " + "9" * 100_000 + " mg",
        "9" * 100_000,
        "heparin " + ",".join(["123"] * 30_000) + " units",
        "heparin " + "1." * 50_000 + "5 mg",
        "heparin " + "5-" * 50_000 + "mg",
        "heparin " + "5 or " * 50_000 + "6 mg",
    ],
    ids=[
        "100k-digits-then-unit",
        "100k-digits",
        "100k-thousands-groups",
        "dotted",
        "dashed",
        "or-chain",
    ],
)
def test_endless_numbers_are_not_doses(text: str) -> None:
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)
    assert all(m.amount.high < 1e9 for m in mentions)
    if text.startswith("heparin 9"):
        assert mentions == []


def test_a_long_number_next_to_a_drug_fails_closed() -> None:
    mentions, unparsed = extract("Heparin 12345678901234567890 units.")
    assert mentions == []
    assert [u.reason for u in unparsed] == ["number too long to be a dose"]


@pytest.mark.parametrize(
    "text",
    [
        "(" * 100_000 + "enoxaparin 40 mg subcutaneously" + ")" * 100_000,
        "([{" * 100_000 + "heparin 5,000 units" + "}])" * 100_000,
        "((((((((((enoxaparin (40 (mg)) (((daily)))))))))))",
        "(" * MB,
        ")(" * (MB // 2),
        "enoxaparin 1 mg/kg " + "(80 mg for 80 kg) " * 50_000,
    ],
    ids=[
        "parentheses",
        "mixed-brackets",
        "short-nesting",
        "only-open",
        "alternating",
        "totals-repeated",
    ],
)
def test_nested_punctuation(text: str) -> None:
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)
    if "enoxaparin 40 mg" in text and len(text) > 100_000:
        # the dose is found, or (if the text is cut next to it) reported: never lost silently
        assert [m.amount.low for m in mentions] == [40] or unparsed


@pytest.mark.parametrize(
    ("digit_five", "script"),
    [
        ("\uff15", "fullwidth"),
        ("\u0665", "arabic-indic"),
        ("\u06f5", "extended-arabic-indic"),
        ("\u096b", "devanagari"),
        ("\u09eb", "bengali"),
        ("\u0e55", "thai"),
        ("\U0001d7d3", "mathematical-bold"),
    ],
    ids=lambda v: v if v.isascii() else "digit",
)
def test_unicode_digits(digit_five: str, script: str) -> None:
    text = f"Apixaban {digit_five} mg twice daily; heparin {digit_five},000 units."
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)
    assert [(m.drug, m.amount.low) for m in mentions] == [("apixaban", 5), ("heparin", 5000)]
    assert text[mentions[0].span[0] : mentions[0].span[1]] == f"{digit_five} mg"


def test_superscripts_are_not_digits() -> None:
    # "10⁹/L" must not read as 109
    mentions, unparsed = extract(
        "Heparin if platelets are above 150 \u00d7 10\u2079/L, 5,000 units."
    )
    assert [m.amount.low for m in mentions] == [5000]
    assert unparsed == []


def test_many_unicode_digits() -> None:
    text = ("Apixaban \uff15 mg \u0665 mg \u096b mg. " * 20_000)[:MB]
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)
    assert {m.amount.low for m in mentions} == {5}
    assert len(fold(text)) == len(text)


@pytest.mark.parametrize(
    "text",
    [
        "\x00\x01\x02 heparin 5 mg \ufffd\ufeff",
        "\u202eheparin 5 mg\u202c",  # bidi override
        "e\u0301noxaparin 40 mg",  # combining accent
        "heparin 5 mg \U0001f489",
        "\t\r\x0b\x0c heparin\r\n5 mg",
        "",
        " ",
    ],
    ids=["control-characters", "bidi", "combining", "emoji", "odd-whitespace", "empty", "space"],
)
def test_odd_characters(text: str) -> None:
    mentions, unparsed = extract(text)
    assert_sane(text, mentions, unparsed)


def test_a_letter_for_the_only_digit_of_a_dose_is_refused() -> None:
    """A text with no digit at all is read for doses when a letter stands for one before a
    dose unit ("| l mg/kg subcutaneously once daily |"), and refused."""
    from guardrails.extraction import extract

    for text in (
        "| Treatment of acute DVT | l mg/kg subcutaneously once daily |",
        "Enoxaparin l mg/kg.",
    ):
        mentions, unparsed = extract(text)
        assert not mentions and len(unparsed) == 1, text
    assert extract("Blood group O is common; I am well.") == ([], [])


@pytest.mark.parametrize(
    "text",
    [
        "Starting dose: typically O.1-0.5 mcg/kg/min, titrated.",
        "| **Esmolol** | Beta-1 blocker | 25O--500 mcg/kg IV bolus |",
        "Phenytoin loading dose: l5-20 mg/kg IV",
    ],
)
def test_a_look_alike_opening_a_range_refuses_it(text: str) -> None:
    from guardrails.extraction import extract

    mentions, unparsed = extract(text)
    assert not mentions and len(unparsed) == 1, (mentions, unparsed)
