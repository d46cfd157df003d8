"""The dose reference (guardrails/data/*.yaml) against the anticoagulation pack it cites.

The pack is the only source of numbers: every entry's quote is an exact substring of the cited
document, and every number of the entry (dose, maxima, population thresholds, interval) is
stated in that quote.
"""

from __future__ import annotations

import math
import re
from functools import cache

import pytest

from corpus.errors import ConfigError
from corpus.loaders.pack import PACKS_DIR, load_pack
from corpus.types import Document
from guardrails.context import ancestors
from guardrails.reference import (
    Contraindication,
    DoseEntry,
    Population,
    ReferenceTable,
    load_reference,
)

PACK_DIR = PACKS_DIR / "anticoagulation"

# Drugs with a label document in the pack that states no dose for them (drug -> why).
NO_PACK_DOSE: dict[str, str] = {}

# Intervals that the pack may write as words rather than as a number of hours.
INTERVAL_WORDS: dict[float, tuple[str, ...]] = {
    24: ("once daily", "once a day", "every 24 hours"),
    12: ("twice daily", "twice a day", "every 12 hours"),
    8: ("three times daily", "every 8 hours"),
    6: ("four times daily", "every 6 hours"),
}

# A band's lower bound is the complement of another band's upper bound, and vice versa.
COMPLEMENT = {
    "crcl_lt": "crcl_ge",
    "crcl_ge": "crcl_lt",
    "weight_lt": "weight_ge",
    "weight_ge": "weight_lt",
    "age_lt": "age_ge",
    "age_ge": "age_lt",
}

# "5,000", "0.75", ".5", "15" — a number may also stand in a range such as "0.15-0.2".
_NUMBER = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d*\.\d+|\d+)")


@cache
def table() -> ReferenceTable | None:
    try:
        return load_reference()
    except ConfigError:
        return None  # test_reference_loads reports why


@cache
def documents() -> dict[str, Document]:
    result = load_pack(PACK_DIR)
    assert not result.problems, result.problems
    return {d.id: d for d in result.documents}


def numbers_in(text: str) -> list[float]:
    return [float(token.replace(",", "")) for token in _NUMBER.findall(text)]


def stated(value: float, text: str) -> bool:
    return any(math.isclose(value, n, rel_tol=1e-9) for n in numbers_in(text))


def names_drug(text: str, drug: str, ref: ReferenceTable) -> bool:
    names = next(d.names for d in ref.drugs if d.name == drug)
    return any(re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text, re.IGNORECASE) for n in names)


def related(a: str, b: str, ref: ReferenceTable) -> bool:
    return a == b or a in ancestors(b, ref) or b in ancestors(a, ref)


def threshold_grounded(entry: DoseEntry, field: str, value: float, ref: ReferenceTable) -> bool:
    """A threshold is stated in the entry's quote, or it is the edge of the adjusted band it
    complements: the standard enoxaparin dose holds at CrCl >= 30 because the label reduces
    the dose below 30 (stated in the reduced entry's quote, same drug, related indication)."""
    if stated(value, entry.cite.quote):
        return True
    other = COMPLEMENT[field]
    return any(
        g is not entry
        and g.drug == entry.drug
        and related(g.indication, entry.indication, ref)
        and getattr(g.population, other) == value
        and stated(value, g.cite.quote)
        for g in ref.doses
    )


def label_drugs(ref: ReferenceTable) -> dict[str, set[str]]:
    """Label document id -> the drugs its title names."""
    return {
        doc.id: {d.name for d in ref.drugs if names_drug(doc.title, d.name, ref)}
        for doc in documents().values()
        if doc.source_type == "label"
    }


def _entries() -> list[DoseEntry]:
    ref = table()
    return list(ref.doses) if ref else []


def _contraindications() -> list[Contraindication]:
    ref = table()
    return list(ref.contraindications) if ref else []


def _ref() -> ReferenceTable:
    ref = table()
    assert ref is not None, "the dose reference does not load"
    return ref


# ---------------------------------------------------------------------------- (a) it loads


def test_reference_loads() -> None:
    try:
        ref = load_reference()
    except ConfigError as exc:
        pytest.fail(str(exc))
    assert ref.doses and ref.contraindications and ref.indications


# ------------------------------------------------------------- (b) quotes are the pack's words


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_dose_quote_is_in_cited_document(entry: DoseEntry) -> None:
    doc = documents().get(entry.cite.doc)
    assert doc is not None, f"{entry.id}: no pack document {entry.cite.doc!r}"
    assert entry.cite.quote in doc.text, f"{entry.id}: quote is not in {doc.id}"


@pytest.mark.parametrize("contra", _contraindications(), ids=lambda c: c.id)
def test_contraindication_quote_is_in_cited_document(contra: Contraindication) -> None:
    doc = documents().get(contra.cite.doc)
    assert doc is not None, f"{contra.id}: no pack document {contra.cite.doc!r}"
    assert contra.cite.quote in doc.text, f"{contra.id}: quote is not in {doc.id}"
    ref = _ref()
    assert any(names_drug(contra.cite.quote, d, ref) for d in contra.drugs), (
        f"{contra.id}: the quote names none of {contra.drugs}"
    )


# ---------------------------------------------------------- (c) every number is in the quote


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_dose_numbers_are_in_quote(entry: DoseEntry) -> None:
    quote = entry.cite.quote
    for name in ("dose", "max_per_dose", "max_per_day"):
        spec = getattr(entry, name)
        if spec is None:
            continue
        for bound in (spec.low, spec.high):
            assert stated(bound, quote), f"{entry.id}: {name} {bound:g} is not in the quote"


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_population_thresholds_are_stated(entry: DoseEntry) -> None:
    ref = _ref()
    for field in COMPLEMENT:
        value = getattr(entry.population, field)
        if value is not None:
            assert threshold_grounded(entry, field, value, ref), (
                f"{entry.id}: {field} {value:g} is neither in the quote nor the edge of a cited band"
            )


@pytest.mark.parametrize(
    "entry", [e for e in _entries() if e.population.criteria], ids=lambda e: e.id
)
def test_criteria_thresholds_are_in_quote(entry: DoseEntry) -> None:
    """Each counted criterion is in the quote, or the entry is the complement (``at_most``) of
    a sibling whose quote states the same criteria (the standard apixaban dose)."""
    ref = _ref()
    criteria = entry.population.criteria
    assert criteria is not None
    quotes = [entry.cite.quote] + [
        g.cite.quote
        for g in ref.doses
        if g is not entry
        and g.drug == entry.drug
        and related(g.indication, entry.indication, ref)
        and g.population.criteria is not None
        and g.population.criteria.of == criteria.of
    ]
    for c in criteria.of:
        assert any(stated(c.value, q) for q in quotes), (
            f"{entry.id}: {c.fact} {c.value:g} is in no quote that states these criteria"
        )


@pytest.mark.parametrize("entry", [e for e in _entries() if e.duration], ids=lambda e: e.id)
def test_duration_is_in_quote(entry: DoseEntry) -> None:
    assert entry.duration and entry.duration in entry.cite.quote, entry.id


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_interval_is_in_quote(entry: DoseEntry) -> None:
    quote = entry.cite.quote.lower()
    for hours in entry.interval_h or []:
        words = INTERVAL_WORDS.get(hours, ())
        assert stated(hours, quote) or any(w in quote for w in words), (
            f"{entry.id}: interval {hours:g} h is not in the quote"
        )


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_quote_is_about_the_drug(entry: DoseEntry) -> None:
    ref = _ref()
    doc = documents()[entry.cite.doc]
    assert names_drug(entry.cite.quote, entry.drug, ref) or entry.drug in label_drugs(ref).get(
        doc.id, set()
    ), f"{entry.id}: neither the quote nor the label {doc.id} names {entry.drug}"


@pytest.mark.parametrize("entry", _entries(), ids=lambda e: e.id)
def test_entry_id_starts_with_drug(entry: DoseEntry) -> None:
    assert entry.id.startswith(entry.drug.replace(" ", "-") + "."), entry.id


def test_quote_number_reader() -> None:
    assert numbers_in("5,000 units, then 0.15-0.2 and .5 mg; CYP2C9") == [5000, 0.15, 0.2, 0.5]
    assert stated(18000, "should not exceed 18,000 units")
    assert not stated(1.5, "15 mg")


# ------------------------------------------------------------------------- (d) coverage


def test_every_label_names_a_known_drug() -> None:
    unnamed = sorted(doc for doc, drugs in label_drugs(_ref()).items() if not drugs)
    assert not unnamed, f"label documents whose title names no drug in drugs.yaml: {unnamed}"


def test_every_labelled_drug_has_a_dose() -> None:
    ref = _ref()
    labelled = set().union(*label_drugs(ref).values())
    missing = sorted(d for d in labelled - set(NO_PACK_DOSE) if not ref.entries_for(d))
    assert not missing, f"drugs with a pack label but no dose entry: {missing}"
    stale = sorted(d for d in NO_PACK_DOSE if ref.entries_for(d))
    assert not stale, f"NO_PACK_DOSE lists drugs that now have entries: {stale}"


# --------------------------------------------------------------- (e) every population kind


@pytest.mark.parametrize("field", sorted(Population.model_fields))
def test_population_kind_is_used(field: str) -> None:
    assert any(getattr(e.population, field) is not None for e in _ref().doses), (
        f"no dose entry uses population.{field}"
    )
