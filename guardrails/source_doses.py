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
from dataclasses import dataclass, replace
from threading import Lock

from guardrails.context import (
    drug_lexicon,
    find_indications,
    may_name_one_drug,
    one_drug,
    resolve_subject,
)
from guardrails.extraction import extract
from guardrails.patient import extract_patient, facts_scope, stated_bands
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
    # the uses it is for (the sentence's, else the passage's: reference indication ids) and
    # whom, as its own clause states it ("CrCl < 30", "weight 50–100 kg", "hepatic
    # impairment"): the context a reader needs beside the dose
    indications: tuple[str, ...] = ()
    patient: str = ""
    # where the passage leaves the drug open between several ("Start at 0.1 mcg/kg/min"
    # after a sentence naming two vasopressors): each of them; ``drug`` is then ""
    candidates: tuple[str, ...] = ()

    def is_of(self, drug: str, table: ReferenceTable) -> bool:
        """Whether this may be a dose of ``drug``: its own, or one of its candidates (a class
        and its member, or one name inside another, name one drug)."""
        return any(may_name_one_drug(d, drug, table) for d in (self.drug, *self.candidates) if d)

    def describe(self) -> str:
        """ "300 mg every 24 h (po)": the amount with the interval and route it states."""
        every = f" every {self.interval_h:g} h" if self.interval_h is not None else ""
        return self.amount.describe() + every + (f" ({self.route})" if self.route else "")


def source_doses(source: SourceText, table: ReferenceTable | None = None) -> tuple[SourceDose, ...]:
    """Every dose ``source`` states with its drug, or with the drugs it leaves open where
    it names several (cached per passage and reference)."""
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
        subject = resolve_subject(source, *m.sentence, table, skip=m.set_aside)
        candidates: tuple[str, ...] = ()
        if drug is None:
            drug = one_drug(subject, table)[0] or ""  # as the guard reads an answer's dose
            if not drug:
                candidates = subject.drugs
                if not candidates:
                    continue
        words = source.text[m.sentence[0] : m.sentence[1]]
        start, end = m.span[0] - m.sentence[0], m.span[1] - m.sentence[0]
        uses = find_indications(words, table) or set(subject.indications)
        out.append(
            SourceDose(
                drug,
                m.amount,
                m.interval_h,
                m.route,
                m.span,
                m.sentence,
                tuple(sorted(uses)),
                _whom(facts_scope(words, start, end)),
                candidates,
            )
        )
    return tuple(out)


_BAND_NAMES = {"crcl_ml_min": "CrCl", "weight_kg": "weight", "age": "age", "inr": "INR"}
_BAND_UNITS = {"crcl_ml_min": " mL/min", "weight_kg": " kg", "age": "", "inr": ""}


def _whom(scope: str) -> str:
    """The patient bands and conditions a dose's own clause states, as bands."""
    words: list[str] = []
    for name, bands in stated_bands(scope).items():
        for low, high, _ in bands:
            if low == float("-inf"):
                band = f"< {high:g}"
            elif high == float("inf"):
                band = f"≥ {low:g}"
            else:
                band = f"{low:g}–{high:g}"
            words.append(f"{_BAND_NAMES.get(name, name)} {band}{_BAND_UNITS.get(name, '')}")
    facts = extract_patient(scope)
    words += [
        w
        for flag, w in (
            (facts.dialysis, "dialysis"),
            (facts.hepatic_impairment, "hepatic impairment"),
        )
        if flag
    ]
    return ", ".join(words)


def agrees_with_any(mention: DoseMention, doses: list[SourceDose]) -> bool:
    """Whether one of ``doses`` states ``mention``; a range also agrees when its two ends
    are doses the source states ("5 to 10 mg" of a source's 5, 7.5 and 10 mg by weight).
    Where the source gives the amount an interval (or route) somewhere, one of those must be
    the mention's: "180 mg twice daily" does not agree with "180 mg once daily" because the
    source also writes "180 mg" alone."""
    bare = replace(mention, interval_h=None, route=None)
    same = [dose for dose in doses if agrees(bare, dose)]
    if same:
        timed = [d.interval_h for d in same if d.interval_h is not None]
        routed = [d.route for d in same if d.route is not None]
        every = mention.interval_h
        return (every is None or not timed or any(abs(h - every) <= 0.01 for h in timed)) and (
            mention.route is None or not routed or mention.route in routed
        )
    a = mention.amount
    if a.low >= a.high:
        return False
    ends = (replace(a, high=a.low), replace(a, low=a.high))
    return all(any(agrees(replace(mention, amount=end), dose) for dose in doses) for end in ends)


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
