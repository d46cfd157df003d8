"""The drug lexicon: every drug known (from drug-named-entity-recognition, merged with
drugs.yaml), English words kept out by data, and the reference's drugs told apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from guardrails.extraction import extract, find_drugs
from guardrails.lexicon import (
    Lexicon,
    StopList,
    drug_lexicon,
    is_reference_drug,
    load_stop_list,
    name_tokens,
    package_names,
    reference_lexicon,
)
from guardrails.reference import Drug

pytest.importorskip("drug_named_entity_recognition")

ROOT = Path(__file__).resolve().parents[2]


def names(text: str) -> list[str]:
    return [name for _, _, name in find_drugs(text, drug_lexicon())]


# ------------------------------------------------------------------ every drug


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ceftriaxone 1 g IV once daily", ["ceftriaxone"]),
        ("Tylenol 1 g", ["acetaminophen"]),
        ("paracetamol 1 g", ["acetaminophen"]),
        ("tinzaparin 175 units/kg", ["tinzaparin"]),
        ("Start amoxicillin and clarithromycin", ["amoxicillin", "clarithromycin"]),
        ("Lovenox 40 mg", ["enoxaparin"]),
        ("Liquaemin 5000 units", ["heparin"]),
        ("protamine sulfate 50 mg", ["protamine"]),
        ("Beriplex 25 units/kg", ["prothrombin complex concentrate"]),
        ("phytomenadione 10 mg", ["vitamin k"]),
        ("LMWH or low molecular weight heparin", ["lmwh", "lmwh"]),
        ("argatroben 2 mcg/kg/min", ["argatroban"]),
    ],
    ids=[
        "generic-outside-the-reference",
        "brand-to-generic",
        "international-name",
        "another-lmwh",
        "two-drugs",
        "reference-brand",
        "package-brand-of-a-reference-drug",
        "package-salt-is-the-reference-drug",
        "package-brand-of-pcc",
        "package-synonym-of-vitamin-k",
        "class-word-from-drugs-yaml",
        "fuzzy-for-reference-drugs",
    ],
)
def test_every_drug_is_found(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("insulin 10 units SC", ["insulin"]),
        ("10 units of insulin", ["insulin"]),
        ("Insulin should be held while nil by mouth.", []),
        ("more heparin", ["heparin"]),
        ("Patients with AF 2 or more risk factors", []),
        ("antibodies to PF4", []),
        ("a sulfate salt", []),
        ("the luminal surface", []),
        ("DAPT for 12 months", []),
        ("APCC 50 units/kg", []),
        ("ceftriaxome 1 g", []),
    ],
    ids=[
        "common-word-with-a-dose-after",
        "common-word-with-a-dose-before",
        "common-word-without-a-dose",
        "short-common-word-never",
        "name-with-its-own-number-dropped",
        "never-list-protein",
        "never-list-salt",
        "never-list-english-adjective",
        "never-list-abbreviation",
        "never-list-activated-pcc",
        "no-fuzzy-outside-the-reference",
    ],
)
def test_english_and_non_drugs_kept_out(text: str, expected: list[str]) -> None:
    assert names(text) == expected


def test_spans_are_offsets_into_the_text() -> None:
    text = "Give <b>Tyle\u200bnol</b> 1 g and ceftriaxone 2 g."
    assert [(text[s:e], n) for s, e, n in find_drugs(text, drug_lexicon())] == [
        ("Tyle\u200bnol", "acetaminophen"),
        ("ceftriaxone", "ceftriaxone"),
    ]


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("Ceftriaxone 1 g IV once daily", "ceftriaxone"),
        ("Tylenol 1 g", "acetaminophen"),
        ("tinzaparin 175 units/kg", "tinzaparin"),
    ],
    ids=["ceftriaxone", "tylenol", "tinzaparin"],
)
def test_extract_reads_any_drug(text: str, drug: str) -> None:
    mentions, unparsed = extract(text)
    assert [m.drug for m in mentions] == [drug]
    assert unparsed == []


def test_find_drugs_defaults_to_the_reference() -> None:
    """Callers that ask "is this a drug the guard covers" (abstention) keep that meaning."""
    assert find_drugs("Ceftriaxone 1 g and heparin") == [(20, 27, "heparin")]
    assert find_drugs("Ceftriaxone 1 g", reference_lexicon()) == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("heparin", True),
        ("Enoxaparin", True),
        ("lmwh", True),
        ("prothrombin complex concentrate", True),
        ("ceftriaxone", False),
        ("tinzaparin", False),
        ("acetaminophen", False),
        ("", False),
    ],
    ids=[
        "heparin",
        "any-case",
        "class",
        "multi-word",
        "ceftriaxone",
        "tinzaparin",
        "tylenol",
        "empty",
    ],
)
def test_is_reference_drug(name: str, expected: bool) -> None:
    assert is_reference_drug(name) is expected


def test_the_package_loads_only_when_first_needed() -> None:
    code = (
        "import sys, guardrails.extraction, guardrails.check; "
        "assert 'drug_named_entity_recognition' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ------------------------------------------------------------------ the rules, on a fake package

STOP = StopList(
    never=frozenset({("sulfate",)}),
    need_dose=frozenset({("citrate",)}),
    mesh_not_drugs=("D27", "D12.776"),
)
COMMON = frozenset({"more", "protein", "c", "goat", "milk", "iron"})
DRUGBANK: dict[str, Any] = {"drugbank_id": "DB0"}
VARIANTS = {
    "ceftriaxone": ["ceftriaxone"],
    "rocephin": ["ceftriaxone"],
    "sulfate": ["sulfates"],
    "anticoagulants": ["anticoagulants"],
    "insulin": ["insulin"],
    "more": ["pancreatic enzymes"],
    "af 2": ["furylfuramide"],
    "goat milk": ["goat milk"],
    "hctz": ["hydrochlorothiazide"],
    "citrate": ["citric acid"],
    "protamines": ["protamines"],
    "prosulf": ["protamines"],
    "protamine": ["protamines"],
    "mixture": ["heparin and warfarin kit"],
    "heparin and warfarin kit": ["heparin and warfarin kit"],
    "heparin": ["heparin and warfarin kit"],
    "warfarin": ["heparin and warfarin kit"],
}
ENTRIES: dict[str, dict[str, Any]] = {
    "ceftriaxone": DRUGBANK,
    "sulfates": DRUGBANK,
    "anticoagulants": {"mesh_tree": ["D27.505.954"]},
    "insulin": {"mesh_tree": ["D12.644.548", "D06.472"]},
    "pancreatic enzymes": DRUGBANK,
    "furylfuramide": {"mesh_tree": ["D03.383"]},
    "goat milk": DRUGBANK,
    "hydrochlorothiazide": DRUGBANK,
    "citric acid": DRUGBANK,
    "protamines": DRUGBANK,
    "heparin and warfarin kit": DRUGBANK,
}


def fake_names() -> dict[tuple[str, ...], tuple[str, bool]]:
    found = package_names(VARIANTS, ENTRIES, reference_lexicon(), STOP, COMMON)
    return {tokens: (canonical, weak) for tokens, canonical, weak in found}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("ceftriaxone", ("ceftriaxone", False)),
        ("rocephin", ("ceftriaxone", False)),
        ("sulfate", None),
        ("anticoagulants", None),
        ("insulin", ("insulin", False)),
        ("more", None),
        ("af 2", None),
        ("goat milk", ("goat milk", True)),
        ("hctz", ("hydrochlorothiazide", True)),
        ("citrate", ("citric acid", True)),
        ("prosulf", ("protamine", False)),
        ("mixture", None),
    ],
    ids=[
        "drug",
        "synonym-to-its-generic",
        "never-list",
        "mesh-class-branch-only",
        "mesh-outside-the-non-drug-branches",
        "short-common-word",
        "own-number",
        "all-common-words-is-weak",
        "short-name-is-weak",
        "need-dose-list-is-weak",
        "entry-listing-a-reference-name-is-that-drug",
        "entry-listing-two-reference-drugs-is-dropped",
    ],
)
def test_package_rules(name: str, expected: tuple[str, bool] | None) -> None:
    assert fake_names().get(name_tokens(name)) == expected


def test_drugs_yaml_wins_over_the_package() -> None:
    drug = Drug(name="heparin", names=["heparin", "UFH"])
    lexicon = Lexicon.of([drug], [(("heparin",), "heparin and warfarin kit", True)])
    assert lexicon.names[("heparin",)] == ("heparin", False)
    assert lexicon.names[("ufh",)] == ("heparin", False)


def test_every_stop_list_name_is_a_name_the_package_has() -> None:
    """Stop-list entries that the package does not have are dead data."""
    from drug_named_entity_recognition import drugs_finder

    known = {name_tokens(v) for v in drugs_finder.drug_variant_to_canonical}
    known |= {name_tokens(k) for k in drugs_finder.drug_canonical_to_data}
    stop = load_stop_list()
    assert sorted(stop.never - known) == []
    assert sorted(stop.need_dose - known) == []


@pytest.mark.parametrize(
    ("text", "drug"),
    [
        ("bival for PCI, ACT is low", "bivalirudin"),
        ("on enox 40 daily", "enoxaparin"),
        ("TXA dose for trauma?", "tranexamic acid"),
        ("vanc total daily dose?", "vancomycin"),
        ("giving TNK. Dose?", "tenecteplase"),
    ],
)
def test_clinicians_shorthand_names_the_drug(text: str, drug: str) -> None:
    assert [name for _, _, name in find_drugs(text, drug_lexicon())] == [drug]
