"""Normalisation before reading: what each form reads as, offsets back to the original,
ordinary text left alone, and hostile input finishing with sane offsets."""

from __future__ import annotations

import pytest

from corpus.loaders.pack import load_bundled_packs
from guardrails.normalise import Normalised, fold, normalise

MB = 1_000_000

# ------------------------------------------------------------------ what it reads as

READS = [
    ("<b>Enoxaparin</b> <i>10</i> mg/kg", "Enoxaparin 10 mg/kg", "inline-tags"),
    ('<span class="dose">40 mg</span>', "40 mg", "tag-with-attributes"),
    ("1<sup>0</sup> mg/kg", "1^0 mg/kg", "sup-after-digit-is-unreadable"),
    ("1<sub>0</sub> mg/kg", "1^0 mg/kg", "sub-after-digit-is-unreadable"),
    ("1<sup>0 mg/kg", "1^0 mg/kg", "unclosed-sup"),
    ("mm<sup>3</sup>", "mm3", "sup-after-letter"),
    ("heparin<br>5000 units", "heparin\n5000 units", "br-is-a-line-break"),
    ("<td>Enoxaparin</td><td>1 mg/kg</td>", " Enoxaparin  1 mg/kg ", "table-cells"),
    ("10&nbsp;mg/kg", "10 mg/kg", "nbsp"),
    ("CrCl &lt; 30 mL/min", "CrCl < 30 mL/min", "named-entity"),
    ("&#49;&#48; mg", "10 mg", "decimal-entities"),
    ("&#x31;&#x30; mg", "10 mg", "hex-entities"),
    ("enox&#8203;aparin", "enoxaparin", "entity-of-a-zero-width-space"),
    ("1&frac12; mg", "1.5 mg", "entity-of-a-fraction"),
    ("**Enoxaparin** 1 mg/kg", "Enoxaparin 1 mg/kg", "markdown-bold"),
    ("__Enoxaparin__ 1 mg/kg", "Enoxaparin 1 mg/kg", "markdown-underscore-bold"),
    ("*Enoxaparin* 1 mg/kg", "Enoxaparin 1 mg/kg", "markdown-italic"),
    # "**" between digits may be an exponent ("10**3"): it stays, and the extractor refuses it.
    ("1**0** mg/kg", "1**0 mg/kg", "stars-between-digits-stay"),
    ("`enoxaparin` 1 mg/kg", "enoxaparin 1 mg/kg", "markdown-code"),
    ("enox\u200baparin", "enoxaparin", "zero-width-space"),
    ("enox\u200daparin", "enoxaparin", "zero-width-joiner"),
    ("enox\u00adaparin", "enoxaparin", "soft-hyphen"),
    ("\ufeffenoxaparin", "enoxaparin", "bom"),
    ("enox\u2060aparin", "enoxaparin", "word-joiner"),
    ("enoxapari\u0301n", "enoxaparin", "combining-accent"),
    ("80k units", "80000 units", "k-suffix"),
    ("80K units", "80000 units", "capital-k-suffix"),
    ("80 thousand units", "80000 units", "thousand"),
    ("1.5 million units", "1500000 units", "million"),
    ("1.5M units", "1500000 units", "m-suffix"),
    ("12-18 million units", "12000000-18000000 units", "range-of-millions"),
    ("12 million to 18 million units", "12000000 to 18000000 units", "both-ends-millions"),
    ("\u00bd mg", "0.5 mg", "vulgar-half"),
    ("1\u00bd mg", "1.5 mg", "mixed-vulgar"),
    ("\u00be mg", "0.75 mg", "vulgar-three-quarters"),
    ("1/2 mg/kg", "0.5 mg/kg", "slash-fraction"),
    ("1\u20442 mg", "0.5 mg", "fraction-slash"),
    ("2 1/2 mg", "2.5 mg", "mixed-slash-fraction"),
    ("2x2.5 g", "2 x 2.5 g", "count-against-strength"),
    ("1--16 mg", "1-16 mg", "markdown-en-dash-range"),
]


@pytest.mark.parametrize(("text", "expected"), [r[:2] for r in READS], ids=[r[2] for r in READS])
def test_reads_as(text: str, expected: str) -> None:
    assert normalise(text).text == expected


LEFT_ALONE = [
    ("Enoxaparin 1 mg/kg SC every 12 hours (CrCl < 30 mL/min: once daily).", "clinical"),
    ("Heparin 80 units/kg IV bolus \u2013 then 18 units/kg/h.", "en-dash-stays"),
    ("a * b", "spaced-star"),
    ("* first item", "bullet"),
    ("snake_case_name", "intraword-underscore"),
    ("2*2.5 g", "star-between-digits"),
    ("BP 120/80 mmHg", "blood-pressure"),
    ("sacubitril/valsartan 24/26 mg", "combination-strength"),
    ("3/2 mg", "improper-fraction"),
    ("1/2 of the dose", "fraction-not-in-a-dose-position"),
    ("an 80 kg patient", "kg-is-not-a-magnitude"),
    ("&foo; is not an entity", "unknown-entity"),
    ("CrCl <30 mL/min and a<b", "angle-brackets-not-tags"),
    ("<notatag>", "unknown-tag"),
    ("acétaminophène", "precomposed-accents"),
    ("x 10\u2079/L", "superscript-digits"),
]


@pytest.mark.parametrize("text", [r[0] for r in LEFT_ALONE], ids=[r[1] for r in LEFT_ALONE])
def test_ordinary_text_is_left_alone(text: str) -> None:
    norm = normalise(text)
    assert norm.text == text
    assert norm.origin == tuple(range(len(text) + 1))
    assert not norm.changed


def test_pack_documents_are_left_alone() -> None:
    """The pack is ordinary clinical text (its Markdown tables and headings included)."""
    changed = []
    for doc in load_bundled_packs().documents:
        for line in doc.text.splitlines():
            if "**" in line or "`" in line:
                continue  # emphasis is Markdown the chat renders, and is meant to go
            if normalise(line).text != line:
                changed.append(line)
    assert changed == []


# ------------------------------------------------------------------ offsets


@pytest.mark.parametrize(("text", "expected"), [r[:2] for r in READS], ids=[r[2] for r in READS])
def test_origin_is_monotone_and_ends_at_the_original_length(text: str, expected: str) -> None:
    norm = normalise(text)
    assert len(norm.origin) == len(norm.text) + 1
    assert norm.origin[-1] == len(text)
    assert list(norm.origin) == sorted(norm.origin)
    assert norm.changed


def test_copied_characters_map_to_themselves() -> None:
    text = "<p>**Enoxaparin**&nbsp;1\u200b mg/kg</p> and 80k units"
    norm = normalise(text)
    pieces = norm.pieces
    for i, ch in enumerate(norm.text):
        o = norm.origin[i]
        if not any(a <= o < b for a, b in pieces):
            assert text[o] == ch, (i, ch)


SPANS = [
    ("<b>Enoxaparin</b> <i>10</i> mg/kg", "Enoxaparin", "Enoxaparin", "word-inside-tags"),
    ("<b>Enoxaparin</b> <i>10</i> mg/kg", "10 mg/kg", "10</i> mg/kg", "amount-across-a-tag"),
    ("Heparin 10&nbsp;mg", "10 mg", "10&nbsp;mg", "entity-inside"),
    ("Heparin 10&nbsp;mg", "10 ", "10&nbsp;", "ends-on-an-entity"),
    ("Heparin 80k units", "80000", "80k", "whole-magnitude"),
    ("Heparin 80k units", "800", "80k", "part-of-a-replacement-is-all-of-it"),
    ("Give 1/2 mg/kg now", "0.5 mg/kg", "1/2 mg/kg", "fraction"),
    ("Give enox\u200baparin", "enoxaparin", "enox\u200baparin", "zero-width-inside"),
    ("1<sup>0</sup> mg/kg", "1^0 mg/kg", "1<sup>0</sup> mg/kg", "sup"),
]


@pytest.mark.parametrize(
    ("text", "piece", "original"), [r[:3] for r in SPANS], ids=[r[3] for r in SPANS]
)
def test_span_maps_back_to_the_original(text: str, piece: str, original: str) -> None:
    norm = normalise(text)
    start = norm.text.index(piece)
    lo, hi = norm.span(start, start + len(piece))
    assert text[lo:hi] == original


def test_empty_span_and_empty_text() -> None:
    assert normalise("") == Normalised("", (0,))
    norm = normalise("<b>x</b>")
    assert norm.span(0, 0) == (3, 3)
    assert norm.span(1, 1) == (len("<b>x</b>"), len("<b>x</b>"))


def test_pure() -> None:
    text = "<i>1</i>&amp;**x** 80k units \u00bd mg"
    assert normalise(text) == normalise(text)


def test_fold_is_same_length() -> None:
    text = "\uff18\uff10 mg \u2013 \u00a0\u2212 10\u2079 \u00bd"
    assert len(fold(text)) == len(text)
    assert fold(text).startswith("80 mg - ")


# ------------------------------------------------------------------ hostile input

HOSTILE = [
    ("<b>" * (MB // 3), "one-megabyte-of-tags"),
    ("<b " * (MB // 3), "unclosed-tags"),
    ("&nbsp;" * 100_000, "100k-entities"),
    ("&#8203;" * 100_000, "100k-zero-width-entities"),
    ("&" * MB, "ampersands"),
    ("*" * MB, "stars"),
    ("_x" * (MB // 2), "underscores"),
    ("\u200b" * MB, "zero-width-spaces"),
    ("e\u0301" * (MB // 2), "combining-marks"),
    ("1<sup>0</sup> mg " * (MB // 16), "superscripts"),
    ("80k units " * (MB // 10), "magnitudes"),
    ("1/2 mg " * (MB // 7), "fractions"),
    ("\u00bd" * MB, "vulgar-fractions"),
    ("1--" * (MB // 3), "dashes"),
]


@pytest.mark.parametrize("text", [h[0] for h in HOSTILE], ids=[h[1] for h in HOSTILE])
def test_hostile_input_finishes_with_sane_offsets(text: str) -> None:
    norm = normalise(text)
    assert len(norm.origin) == len(norm.text) + 1
    assert norm.origin[-1] == len(text)
    assert all(a <= b for a, b in zip(norm.origin, norm.origin[1:], strict=False))
    lo, hi = norm.span(0, len(norm.text)) if norm.text else (0, 0)
    assert 0 <= lo <= hi <= len(text)
