"""The doses a passage states, each with the drug it is about: the guideline as the reference.

``source_doses(source)`` reads every dose of a passage the way the guard reads an answer's
(``guardrails.extraction.extract``), with the drug resolved where the passage leaves it
unnamed (``guardrails.context.resolve_subject``: the unit it stands in, its list or table,
the sentences before it, the headings, the title and the document's product names). A dose
without a drug, or with several, is left out: it says nothing about any one drug.

``agrees(mention, dose)`` is what "the source states this dose" means: the same amount
(a range inside the source's, in any unit that converts, so 0.3 g is 300 mg), per kilogram
and per unit of time alike, and no interval or route that differs from one the source
states. The guard blocks a dose of a drug the reference does not cover when its cited
passages state that drug's doses and none of them agrees (``SOURCE_MISMATCH``): a unit,
interval, route or tenfold slip in a paraphrase of a source the reference cannot check.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock

from guardrails.context import drug_lexicon, resolve_subject
from guardrails.extraction import extract
from guardrails.reference import ReferenceTable, default_reference
from guardrails.types import Amount, DoseMention, Route, SourceText
from guardrails.units import convert

# how far a converted amount may differ and still be the same (rounding in conversion)
_TOLERANCE = 0.01


@dataclass(frozen=True, slots=True)
class SourceDose:
    """A dose a passage states, with the drug it is about and where it stands."""

    drug: str
    amount: Amount
    interval_h: float | None
    route: Route | None
    span: tuple[int, int]  # the amount as written, in the passage
    sentence: tuple[int, int]

    def describe(self) -> str:
        """ "300 mg every 24 h (po)": the amount with the interval and route it states."""
        every = f" every {self.interval_h:g} h" if self.interval_h is not None else ""
        return self.amount.describe() + every + (f" ({self.route})" if self.route else "")


def source_doses(source: SourceText, table: ReferenceTable | None = None) -> tuple[SourceDose, ...]:
    """Every dose ``source`` states whose drug it resolves to one drug (cached per passage
    and reference)."""
    table = table or default_reference()
    key = (source, table.digest)  # a passage read under another reference may differ
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    found = _read(source, table)
    with _LOCK:
        _CACHE[key] = found
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return found


_CACHE: OrderedDict[tuple[SourceText, str], tuple[SourceDose, ...]] = OrderedDict()
_CACHE_SIZE = 4096
_LOCK = Lock()


def _read(source: SourceText, table: ReferenceTable) -> tuple[SourceDose, ...]:
    mentions, _ = extract(source.text, drug_lexicon(table))
    out: list[SourceDose] = []
    for m in mentions:
        drug = m.drug
        if drug is None:
            subject = resolve_subject(source, *m.sentence, table, skip=m.set_aside)
            if len(subject.drugs) != 1:
                continue
            drug = subject.drugs[0]
        out.append(SourceDose(drug, m.amount, m.interval_h, m.route, m.span, m.sentence))
    return tuple(out)


def agrees(mention: DoseMention, dose: SourceDose) -> bool:
    """Whether ``mention`` states what the source's ``dose`` states (see the module doc)."""
    a, b = mention.amount, dose.amount
    if a.per_kg != b.per_kg or a.per_time != b.per_time:
        return False
    low_high = convert(a, b.unit, b.per_kg, b.per_time)
    if low_high is None:
        return False
    low, high = low_high
    if low < b.low * (1 - _TOLERANCE) or high > b.high * (1 + _TOLERANCE):
        return False
    if (
        mention.interval_h is not None
        and dose.interval_h is not None
        and abs(mention.interval_h - dose.interval_h) > 0.01
    ):
        return False
    return not (
        mention.route is not None and dose.route is not None and mention.route != dose.route
    )
