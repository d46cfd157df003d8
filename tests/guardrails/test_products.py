"""Product names a corpus gives its drugs: learned only from what its documents say, read as
those drugs only in passages of documents about that product, and a wrong dose under the
product's name still blocks."""

from __future__ import annotations

import pytest

from guardrails import check
from guardrails.extraction import extract
from guardrails.products import ProductNames, product_of
from guardrails.types import SourceText

_DOCS = [
    ("Zorvex — 1. What Zorvex is and what it is used for", "Zorvex contains apixaban."),
    (
        "Blorpa — 6. Contents of the pack and other information",
        "What Blorpa contains\nThe active substances are empagliflozin and linagliptin.",
    ),
    ("Quindle (rivaroxaban)", "Quindle is used to prevent blood clots."),
    ("Wuggo — 1. What Wuggo is", "Wuggo is used together with metformin."),
    ("Apixaban — label summary", "Apixaban contains lactose."),
    ("Snark — 6. Contents", "Snark contains sodium chloride.\nThe active substance is heparin."),
    (
        "Nepsy — 2. Before you use Nepsy",
        "Tell your doctor if you take medicines containing the active substance anakinra.",
    ),
    ("Nepsy — 6. Contents", "What Nepsy contains\nThe\nactive substance is etanercept."),
    # a parenthesis that says more than drug names is no "Brand (INN)" title
    ("Clotting resistance (UFH non-responders): options", "Management options."),
    ("Copla — 6. Contents", "The active substances of Copla HCT are amlodipine and valsartan."),
]


def test_products_are_learned_only_from_what_the_corpus_says() -> None:
    names = ProductNames.learn(_DOCS)
    assert names.drugs == {
        "zorvex": ("apixaban",),
        "blorpa": ("empagliflozin", "linagliptin"),
        "quindle": ("rivaroxaban",),
        # the active substance outranks what else the product "contains"
        "snark": ("heparin",),
        # another medicine's active substance is not this one's; a line break is a space
        "nepsy": ("etanercept",),
        "copla": ("amlodipine", "valsartan"),
    }  # "Wuggo is used with metformin" says nothing of what Wuggo is; a drug is no product


@pytest.mark.parametrize(
    ("title", "product"),
    [
        ("Zorvex — 3. How to take Zorvex", "Zorvex"),
        ("Eliquis (apixaban)", "Eliquis"),
        ("Quindle: dosing", "Quindle"),
        ("A very long title of a guideline about something", None),
    ],
)
def test_a_title_opens_with_its_product(title: str, product: str | None) -> None:
    assert product_of(title) == product


_NAMES = ProductNames.learn(_DOCS)


def _passage(text: str, title: str = "Zorvex — 3. How to take Zorvex") -> SourceText:
    return SourceText(text, title, products=_NAMES.of_title(title))


def _verdict(answer: str, passage: SourceText):  # type: ignore[no-untyped-def]
    return check(f"{answer} [1]", {1: "p"}, {"p": passage})


_HOW = "How much to take\nThe usual dose of Zorvex is one 5 mg tablet twice daily."


@pytest.mark.parametrize(
    ("answer", "passage", "allowed", "drug"),
    [
        pytest.param(
            "The usual dose of Zorvex is one 5 mg tablet twice daily.",
            _passage(_HOW),
            True,
            "apixaban",
            id="the-product-is-its-drug",
        ),
        pytest.param(
            "The usual dose of Zorvex is one 50 mg tablet twice daily.",
            _passage(_HOW),
            False,
            "apixaban",
            id="a-wrong-dose-under-the-product-blocks",
        ),
        pytest.param(
            "Zorvex: one 5 mg tablet twice daily.",
            _passage(_HOW, "Blorp — 3. How to take Blorp"),
            False,
            None,
            id="another-documents-product-is-no-drug",
        ),
        pytest.param(
            "Take 5 mg twice daily.",
            _passage("Do not take Zorvex with aspirin or heparin.\nTake 5 mg twice daily."),
            True,
            "apixaban",
            id="the-product-among-drugs-named-before",
        ),
    ],
)
def test_a_product_name_is_read_as_its_drug(
    answer: str, passage: SourceText, allowed: bool, drug: str | None
) -> None:
    verdict = _verdict(answer, passage)
    assert verdict.allowed is allowed, [(f.rule_id, f.message) for f in verdict.findings]
    doses = [f for f in verdict.findings if f.drug]
    assert (doses[0].drug if doses else None) == drug


def test_an_imprint_quoted_word_for_word_is_the_sources_and_elsewhere_refused() -> None:
    text = "The tablets are round and marked with ELIQUIS 250 on one side."
    source = _passage(text, "Eliquis — 6. Contents of the pack")
    quoted = _verdict(text, source)
    assert quoted.allowed, [(f.rule_id, f.message) for f in quoted.findings]
    assert [f.rule_id for f in quoted.findings] == ["SOURCE_QUOTED"]
    changed = _verdict("The tablets are marked with ELIQUIS 250 on one side.", source)
    assert {f.rule_id for f in changed.findings if f.severity == "block"} == {"DOSE_UNPARSED"}


@pytest.mark.parametrize(
    "text",
    [
        "The usual dose is 150 IU (1.5 mg) for every kilogram of your weight once daily.",
        "Give 1.5 mg for each kilogram of body weight once daily.",
    ],
)
def test_for_every_kilogram_of_weight_is_per_kg(text: str) -> None:
    mentions, _ = extract(text)
    assert mentions and all(m.amount.per_kg for m in mentions)
