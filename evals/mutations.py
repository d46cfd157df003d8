"""Mutation testing of the dose guard: break correct dose sentences and count what it blocks.

    python -m evals.mutations [--out docs/GUARD_MUTATIONS.md] [--json FILE]

Correct sentences come from two places:

- every dose entry's quote in ``guardrails/data/doses.yaml``, line by line (a "- " bullet
  mark dropped); a table row is read with its header, found in the cited pack document
  ("Body weight: < 50 kg, Fondaparinux dose: 5 mg subcutaneously once daily."), with the
  entry's drug in front when neither names it;
- the sentences of the gold set's reference answers (``evals/sets/anticoagulation.jsonl``)
  that state a dose of a known drug.

Each is checked unmutated, with its own text as context (a gold sentence: its question and
the earlier turns); a blocked unmutated sentence is a false positive. The doses the
reference states for the indication the sentence (else its context) names are then broken
one way at a time, and the whole sentence is checked again:

- ``x10`` / ``div10``: every number of the amount times or divided by ten;
- ``decimal_shift``: a written decimal point moves one place right (0.75 -> 7.5, the tenfold
  overdose of a misread point); a whole number gets a point before its last digit (40 -> 4.0,
  5,000 -> 500.0, a trailing zero read the other way). Either way the value changes;
- ``mg_mcg`` (mg <-> mcg, milligram <-> microgram), ``per_h_min`` (/h <-> /min, per hour <->
  per minute), ``drop_per_kg`` (the "/kg" or "per kg" goes), where the dose writes one;
- ``frequency``: the frequency written after the dose (else the last one before it), by
  ``FREQUENCIES``: once daily -> every 12 hours, twice daily -> once daily, every 12 hours ->
  once daily, every 8 -> every 12 hours, q12h <-> q24h;
- ``drug_swap``: every name of the drug -> another drug of its class in drugs.yaml that has
  dose entries (for any indication);
- ``contraindicated_patient``: the same sentence for a patient the drug must not get
  (contraindications.yaml: HIT for heparins and 4F-PCC, CrCl 20 mL/min for fondaparinux,
  active bleeding, pregnancy for warfarin);
- ``weight_band`` / ``renal_band``: the same sentence for a patient outside the weight band
  of an entry its dose matches (5 kg below a lower bound, 10 kg above an upper one: 45 kg for
  50-100 kg), or with CrCl 20 mL/min for a CrCl >= 30 entry that has a reduced sibling below
  30 mL/min;
- ``arithmetic``: "(N mg for an 80 kg patient)" right after a per-kg dose, N 1.5 times the
  right total; the right total is an unmutated control that must not be blocked.

A mutant is *detected* when the verdict is not allowed. It is *equivalent* when the broken
text still states what the reference allows, judged from the data, not by the rules under
test: every dose the extractor reads differently after the change must fit a dose entry of
its drug (amount, unit, per kg, rate, interval, route) for an indication the sentence or its
context names, in a population the sentence states (its own small patterns read CrCl,
weight, age, dialysis and hepatic impairment). A patient change is equivalent when the
sentence names its own band ("with CrCl above 30 mL/min", "50 to 100 kg": it says whom the
dose is for), when other entries that admit the patient allow every dose, or when the
sentence already says not to give the drug. Equivalent mutants are listed and not scored.
The review's families (issue 12: the drug named in another sentence, a pronoun, a list or a
table; obfuscated text; magnitude words; fractions; negatives; route x frequency; indication
swap; contraindications without a dose; computed totals; patient criteria; vials) are made by
``evals/mutation_families.py`` from the sentences above that the guard allows, and from the
reference's regimens applied to six patient profiles (``guardrails.regimens``): those applied
doses are correct sentences too, checked with their patient. Family controls are correct
texts and count as false positives when blocked.

Every mutant runs twice: reference rules only, and with a citation (the marker " [1]" before
the final stop, citations {1: id}, passages {id: the quote or reference answer the sentence
came from}), where numeric grounding catches most number changes on its own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from corpus.loaders.pack import PACKS_DIR, load_pack
from corpus.text import split_sentences
from evals.questions import load_questions
from guardrails.check import check
from guardrails.extraction import extract, find_drugs
from guardrails.patient import Patient
from guardrails.reference import DoseEntry, DoseSpec, Population, ReferenceTable, default_reference
from guardrails.types import Amount, DoseMention, Verdict

if TYPE_CHECKING:
    from evals.mutation_families import Paraphrase
from guardrails.units import convert

GOLD = Path(__file__).resolve().parent / "sets" / "anticoagulation.jsonl"
PACK_DIR = PACKS_DIR / "anticoagulation"
COMMAND = "python -m evals.mutations --out docs/GUARD_MUTATIONS.md"
TARGET_DETECTION = 0.995
TARGET_FALSE_POSITIVES = 0.005
WEIGHT_KG = 80.0  # the patient of the arithmetic mutation
RENAL_CRCL = 20.0  # the patient of the renal_band mutation

FAMILY_KINDS = (
    "pronoun_drug",
    "cross_sentence_drug",
    "bullet_drug",
    "table_drug",
    "no_drug",
    "obfuscated",
    "magnitude_words",
    "fractions",
    "negatives",
    "route_frequency",
    "indication_swap",
    "hit_without_dose",
    "computed_total",
    "patient_criteria",
    "vials",
)  # evals/mutation_families.py
TEXT_KINDS = ("x10", "div10", "decimal_shift", "mg_mcg", "per_h_min", "drop_per_kg")
KINDS = (
    *TEXT_KINDS,
    "frequency",
    "drug_swap",
    "contraindicated_patient",
    "weight_band",
    "renal_band",
    "arithmetic",
    *FAMILY_KINDS,
)


# ------------------------------------------------------------------ sentences


@dataclass(frozen=True, slots=True)
class Sentence:
    """A correct dose sentence, where it came from, and what it is checked with."""

    text: str
    context: str
    source: str  # "doses.yaml enoxaparin.acs.q12h" or "gold anticoag:006"
    passage_id: str  # the passage a citation marker points to
    passage: str  # its text: the whole quote, or the whole reference answer
    patient: Patient | None = None  # the patient it is correct for (patient-applied doses)


def _cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


_RULE_ROW = re.compile(r"\|?(?:\s*:?-{3,}:?\s*\|)+\s*")


def table_row(line: str, doc_text: str) -> str | None:
    """A Markdown table row read with its header ("Body weight: < 50 kg, Fondaparinux dose:
    5 mg subcutaneously once daily"), or None when ``line`` is no data row of a table in
    ``doc_text``."""
    cells = _cells(line)
    lines = doc_text.splitlines()
    for i, row in enumerate(lines):
        if "|" not in row or _cells(row) != cells:
            continue
        k = i
        while k > 0 and not _RULE_ROW.fullmatch(lines[k]):
            k -= 1
        if k <= 0 or k == i:
            return None
        header = _cells(lines[k - 1])
        return ", ".join(f"{h}: {c}" for h, c in zip(header, cells, strict=False) if c)
    return None


def _display(drug: str) -> str:
    return drug[:1].upper() + drug[1:]


def dose_sentences(table: ReferenceTable) -> list[Sentence]:
    """The lines of every dose entry's quote that state a dose."""
    docs = {d.id: d.text for d in load_pack(PACK_DIR).documents}
    seen: set[str] = set()
    out: list[Sentence] = []
    for entry in table.doses:
        for raw in entry.cite.quote.split("\n"):
            line = raw.strip().removeprefix("- ")
            if "|" in line:
                row = table_row(line, docs.get(entry.cite.doc, ""))
                if row is None:
                    continue
                line = (row if find_drugs(row) else f"{_display(entry.drug)} \u2014 {row}") + "."
            if not line or line in seen or not extract(line)[0]:
                continue
            seen.add(line)
            out.append(Sentence(line, line, f"doses.yaml {entry.id}", entry.id, entry.cite.quote))
    return out


def gold_sentences(path: Path = GOLD) -> list[Sentence]:
    """Reference-answer sentences that state a dose of a known drug."""
    questions, problems = load_questions(path)
    if problems:
        raise ValueError(f"{problems[0].where}: {problems[0].message}")
    out: list[Sentence] = []
    for q in questions:
        answer = q.reference_answer or ""
        context = "\n".join([*(t.content for t in q.history), q.question])
        for line in answer.splitlines():
            for start, end in split_sentences(line):
                text = line[start:end]
                if any(m.drug for m in extract(text)[0]):
                    out.append(Sentence(text, context, f"gold {q.id}", q.id, answer))
    return out


# ------------------------------------------------------------------ text mutations


@dataclass(frozen=True, slots=True)
class Edit:
    """A sentence with one thing changed."""

    text: str
    note: str  # what changed: "40 mg -> 400 mg"
    drug: str | None = None  # the drug a swap put in


_NUM = re.compile(r"(?<![\w.,])(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?!\d)")
_PER_BEFORE = re.compile(r"(?:/|\bper)\s*\Z", re.IGNORECASE)


def amount_numbers(text: str, mention: DoseMention) -> list[re.Match[str]]:
    """The numbers of a dose as written (not the 24 of "per 24 hours")."""
    start, end = mention.span
    return [
        m for m in _NUM.finditer(text, start, end) if not _PER_BEFORE.search(text, start, m.start())
    ]


def _fmt(value: Decimal) -> str:
    """A number as the pack writes it: thousands grouped, no trailing zeros."""
    value = value.normalize()
    return f"{value:,f}" if abs(value) >= 1000 else f"{value:f}"


def _value(token: str) -> Decimal:
    return Decimal(token.replace(",", ""))


def shift_point(token: str) -> str:
    """0.75 -> 7.5 and 2.5 -> 25 (a written point moves right); 40 -> 4.0 and 5,000 -> 500.0
    (a whole number gets a point before its last digit)."""
    digits = token.replace(",", "")
    if "." in digits:
        whole, frac = digits.split(".")
        moved = f"{whole}{frac[:1]}.{frac[1:]}" if frac[1:] else f"{whole}{frac[:1]}"
        return _fmt(Decimal(moved))
    head, last = digits[:-1], digits[-1]
    return f"{_fmt(Decimal(head)) if head else '0'}.{last}"


def _renumber(text: str, mention: DoseMention, change: Callable[[str], str]) -> Edit | None:
    nums = amount_numbers(text, mention)
    if not nums:
        return None
    pieces, pos = [], 0
    for m in nums:
        pieces += [text[pos : m.start()], change(m.group(0))]
        pos = m.end()
    mutated = "".join(pieces) + text[pos:]
    start, end = mention.span
    now = mutated[start : end + len(mutated) - len(text)]
    return Edit(mutated, f"{text[start:end]} -> {now}")


def x10(text: str, mention: DoseMention) -> Edit | None:
    return _renumber(text, mention, lambda t: _fmt(_value(t) * 10))


def div10(text: str, mention: DoseMention) -> Edit | None:
    return _renumber(text, mention, lambda t: _fmt(_value(t) / 10))


def decimal_shift(text: str, mention: DoseMention) -> Edit | None:
    return _renumber(text, mention, shift_point)


def _swap_in_span(
    text: str, mention: DoseMention, pattern: re.Pattern[str], swap: Callable[[str], str]
) -> Edit | None:
    m = pattern.search(text, *mention.span)
    if m is None:
        return None
    new = swap(m.group(0))
    return Edit(text[: m.start()] + new + text[m.end() :], f"{m.group(0)} -> {new or '(none)'}")


_MASS = re.compile(r"\b(?:milligrams?|micrograms?|mg|mcg)\b|[\u00b5\u03bc]g\b", re.IGNORECASE)
_MASS_SWAP = {
    "mg": "mcg",
    "mcg": "mg",
    "milligram": "microgram",
    "milligrams": "micrograms",
    "microgram": "milligram",
    "micrograms": "milligrams",
}


def mg_mcg(text: str, mention: DoseMention) -> Edit | None:
    if mention.amount.unit not in ("mg", "mcg"):
        return None
    return _swap_in_span(text, mention, _MASS, lambda w: _MASS_SWAP.get(w.lower(), "mg"))


_RATE = re.compile(
    r"/\s?(?:hours?|hrs?|h|minutes?|mins?|min)\b|\bper\s+(?:hour|minute)\b", re.IGNORECASE
)


def per_h_min(text: str, mention: DoseMention) -> Edit | None:
    hourly = mention.amount.per_time == "h"
    if mention.amount.per_time not in ("h", "min"):
        return None

    def swap(written: str) -> str:
        if written.lower().startswith("per"):
            return "per minute" if hourly else "per hour"
        return "/min" if hourly else "/h"

    return _swap_in_span(text, mention, _RATE, swap)


_PER_KG = re.compile(r"\s?/\s?kg\b|\s+per\s+(?:kg|kilogram)\b", re.IGNORECASE)


def drop_per_kg(text: str, mention: DoseMention) -> Edit | None:
    if not mention.amount.per_kg:
        return None
    return _swap_in_span(text, mention, _PER_KG, lambda _: "")


# A written frequency and what it becomes (None: left alone). Longest first.
FREQUENCIES: tuple[tuple[str, str | None], ...] = (
    (r"once or twice (?:daily|a day)", None),
    (r"once daily", "every 12 hours"),
    (r"once a day", "every 12 hours"),
    (r"twice daily", "once daily"),
    (r"twice a day", "once a day"),
    (r"three times daily", "once daily"),
    (r"every 8 to 12 hours", "once daily"),
    (r"every 4 to 6 hours", "every 12 hours"),
    (r"every 12 hours", "once daily"),
    (r"every 24 hours", "every 12 hours"),
    (r"every 8 hours", "every 12 hours"),
    (r"every 6 hours", "every 12 hours"),
    (r"q12h", "q24h"),
    (r"q24h", "q12h"),
    (r"q8h", "q12h"),
    (r"BID", "once daily"),
    (r"daily", "every 12 hours"),
)
_FREQUENCY = re.compile(
    "|".join(f"(?P<f{i}>\\b{p}\\b)" for i, (p, _) in enumerate(FREQUENCIES)), re.IGNORECASE
)


def frequency(text: str, mention: DoseMention, others: Sequence[DoseMention] = ()) -> Edit | None:
    """The frequency written after the dose (before the next one), else the last one before
    it (after the previous one), rewritten by ``FREQUENCIES``. A stated maximum has none."""
    if mention.interval_h is None or mention.is_max:
        return None
    start, end = mention.span
    nxt = min((o.span[0] for o in others if o.span[0] >= end), default=len(text))
    prev = max((o.span[1] for o in others if o.span[1] <= start), default=0)
    found = _FREQUENCY.search(text, end, nxt)
    if found is None:
        before = list(_FREQUENCY.finditer(text, prev, start))
        found = before[-1] if before else None
    if found is None:
        return None
    written = FREQUENCIES[int((found.lastgroup or "f0")[1:])][1]
    if written is None:
        return None
    return Edit(
        text[: found.start()] + written + text[found.end() :], f"{found.group(0)} -> {written}"
    )


def drug_swaps(text: str, mention: DoseMention, table: ReferenceTable) -> list[Edit]:
    """The drug's names replaced by each other drug of its class that has dose entries."""
    me = next((d for d in table.drugs if d.name == mention.drug), None)
    if me is None or me.drug_class is None:
        return []
    hits = [h for h in find_drugs(text) if h[2] == me.name]
    out = []
    for other in table.drugs:
        if other.drug_class != me.drug_class or other.name == me.name:
            continue
        if not table.entries_for(other.name):
            continue
        pieces, pos = [], 0
        for s, e, _ in hits:
            pieces += [text[pos:s], _display(other.name) if text[s].isupper() else other.name]
            pos = e
        out.append(Edit("".join(pieces) + text[pos:], f"{me.name} -> {other.name}", other.name))
    return out


_UNIT_WORD = {
    "mg": "mg",
    "mcg": "mcg",
    "g": "g",
    "USP_unit": "units",
    "international_unit": "units",
}


def arithmetic(text: str, mention: DoseMention, factor: float) -> Edit | None:
    """ "(N mg for an 80 kg patient)" right after a per-kg dose, N = factor x the right total
    (factor 1: the control)."""
    a = mention.amount
    start, end = mention.span
    if not a.per_kg or mention.total is not None or a.unit not in _UNIT_WORD:
        return None
    if not re.search(r"kg|kilogram", text[start:end], re.IGNORECASE):
        return None  # the unit is written once for a list ("0.75 or 1 mg/kg"): not here
    weight, times = Decimal(repr(WEIGHT_KG)), Decimal(repr(factor))
    low, high = (Decimal(repr(v)) * weight * times for v in (a.low, a.high))
    total = _fmt(low) + ("" if low == high else f" to {_fmt(high)}")
    rate = f"/{a.per_time}" if a.per_time else ""
    note = f"({total} {_UNIT_WORD[a.unit]}{rate} for an {WEIGHT_KG:g} kg patient)"
    return Edit(f"{text[:end]} {note}{text[end:]}", f"+ {note}")


# ------------------------------------------------------------------ what a sentence states

# Read here with small patterns of their own, not the guard's, so that equivalence is judged
# apart from the rules under test.
_BELOW = r"(?:<|\u2264|below|under|less than|lower than|younger than)"
_ABOVE = r"(?:>|\u2265|above|over|more than|greater than|older than)"
_OR_LESS = r"(?P<or>\s+or\s+(?:less|lower|below|more|higher|above|older|younger))?"
_CRCL_TEXT = re.compile(
    rf"\b(?:CrCl|CLcr|creatinine clearance)\b[^.;\d]{{0,20}}?(?P<cmp>{_BELOW}|{_ABOVE})?"
    rf"\s*(?P<x>\d+(?:\.\d+)?)(?:\s*(?:to|-)\s*\d+(?:\.\d+)?)?(?:\s*mL/min)?{_OR_LESS}",
    re.IGNORECASE,
)
_WEIGHT_TEXT = re.compile(
    rf"(?P<cmp>{_BELOW}|{_ABOVE})?\s*(?<![\w./])(?P<x>\d{{1,3}}(?:\.\d+)?)"
    rf"(?:\s*(?:to|-)\s*\d{{1,3}}(?:\.\d+)?)?\s?(?:kg|kilograms?)\b(?!\s*/){_OR_LESS}",
    re.IGNORECASE,
)
_AGE_TEXT = re.compile(
    rf"(?P<cmp>{_BELOW}|{_ABOVE})?\s*\b(?P<x>\d{{2,3}})\s?(?:years?|yrs?)\b(?:\s+old)?{_OR_LESS}",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"\b(?:without|no|not|non)\b[\w\s-]{0,20}\Z", re.IGNORECASE)
_RENAL = re.compile(r"\b(?:CrCl|CLcr|creatinine clearance|renal|kidney)\b", re.IGNORECASE)
_DIALYSIS = re.compile(r"\b(?:dialysis|hemodialysis|haemodialysis)\b", re.IGNORECASE)
_HEPATIC = re.compile(r"\b(?:hepatic|liver|Child-Pugh|cirrhosis)\b", re.IGNORECASE)
_WARNING = re.compile(
    r"\b(?:contraindicat\w*|avoid\w*|do not|must not|should not|never|stop\w*|discontinu\w*|"
    r"not recommended)\b(?!\s+(?:be\s+)?exceed)",
    re.IGNORECASE,
)


def _inside(m: re.Match[str]) -> float:
    """A value inside the band a match states: below 30 -> 29, above 30 -> 31, 60 kg or less
    -> 59, 15 to 30 -> 15, 75 years or older -> 75."""
    x = float(m.group("x"))
    words = f"{m.group('cmp') or ''} {m.group('or') or ''}".lower()
    if re.search(r"<|\u2264|below|under|less|lower|younger", words):
        return x - 1
    if re.search(r">|\u2265|above|over|more than|greater|older than", words):
        return x + 1
    return x


def _flag(pattern: re.Pattern[str], text: str) -> bool | None:
    m = pattern.search(text)
    if m is None:
        return None
    return not _NEGATED.search(text, max(0, m.start() - 30), m.start())


def stated_patient(text: str, patient: Patient | None = None) -> Patient:
    """The facts ``text`` states; ``patient``'s own facts win."""
    facts: dict[str, object] = {}
    for name, pattern in (
        ("crcl_ml_min", _CRCL_TEXT),
        ("weight_kg", _WEIGHT_TEXT),
        ("age", _AGE_TEXT),
    ):
        if m := pattern.search(text):
            facts[name] = _inside(m)
    for name, pattern in (("dialysis", _DIALYSIS), ("hepatic_impairment", _HEPATIC)):
        if (flag := _flag(pattern, text)) is not None:
            facts[name] = flag
    stated = Patient(**facts)  # type: ignore[arg-type]
    return stated.merged(patient) if patient else stated


def warning(text: str, drug: str, table: ReferenceTable) -> str | None:
    """The warning word when ``text`` says not to give ``drug`` (named in the same clause just
    before or just after the word), else None."""
    me = next((d for d in table.drugs if d.name == drug), None)
    names = [drug, *(me.names if me else [])]
    if me and me.drug_class in ("heparin", "lmwh"):
        names.append("heparin")
    name = re.compile("|".join(rf"\b{re.escape(n)}\b" for n in names), re.IGNORECASE)
    for w in _WARNING.finditer(text):
        before = re.split(r"[,;:()]", text[max(0, w.start() - 80) : w.start()])[-1]
        after = re.split(r"[,;:()]", text[w.end() : w.end() + 40])[0]
        if name.search(before) or name.search(after):
            return w.group(0)
    return None


def named_indications(text: str, table: ReferenceTable) -> set[str]:
    """Indication ids whose terms ``text`` contains (terms in capitals case-sensitively)."""
    out = set()
    for ind in table.indications:
        for term in ind.terms:
            flags = 0 if term.isupper() else re.IGNORECASE
            if re.search(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, flags):
                out.add(ind.id)
                break
    return out


def _lineage(ind: str, table: ReferenceTable) -> set[str]:
    parents = {i.id: i.parent for i in table.indications}
    out, cur = {ind}, parents.get(ind)
    while cur and cur not in out:
        out.add(cur)
        cur = parents.get(cur)
    return out


def _related(a: str, b: str, table: ReferenceTable) -> bool:
    return a in _lineage(b, table) or b in _lineage(a, table)


def _in_indication(entry: DoseEntry, named: set[str], table: ReferenceTable) -> bool:
    return not named or any(_related(entry.indication, n, table) for n in named)


def population_holds(pop: Population, text: str, patient: Patient | None = None) -> bool:
    """Whether the patient, else the text, puts a dose in this population: a reduced-dose
    group (CrCl below a cut-off, dialysis, hepatic impairment) must be stated; a stated fact
    outside a weight or age band excludes it (an unstated one does not, as in the guard)."""
    p = stated_patient(text, patient)
    crcl = p.crcl_ml_min
    if pop.crcl_lt is not None and (
        crcl >= pop.crcl_lt if crcl is not None else not _RENAL.search(text)
    ):
        return False
    if pop.crcl_ge is not None and crcl is not None and crcl < pop.crcl_ge:
        return False
    if pop.dialysis is not None and bool(p.dialysis) != pop.dialysis:
        return False
    if pop.hepatic_impairment is not None and bool(p.hepatic_impairment) != pop.hepatic_impairment:
        return False
    for value, lt, ge in (
        (p.weight_kg, pop.weight_lt, pop.weight_ge),
        (p.age, pop.age_lt, pop.age_ge),
    ):
        if lt is None and ge is None:
            continue
        if value is None:
            continue  # like the guard: a band excludes only on a stated fact
        if (lt is not None and value >= lt) or (ge is not None and value < ge):
            return False
    if pop.criteria is not None:
        # Counted criteria (apixaban AF: two of three) exclude only on stated facts.
        values = {
            "age": p.age,
            "weight_kg": p.weight_kg,
            "crcl_ml_min": p.crcl_ml_min,
            "serum_creatinine_mg_dl": p.serum_creatinine_mg_dl,
        }
        known = [(c, values.get(c.fact)) for c in pop.criteria.of]
        met = sum(1 for c, v in known if v is not None and _OPS[c.op](v, c.value))
        unknown = sum(1 for _, v in known if v is None)
        if pop.criteria.at_least is not None and met + unknown < pop.criteria.at_least:
            return False
        if pop.criteria.at_most is not None and met > pop.criteria.at_most:
            return False
    return True


_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _fits(amount: Amount, spec: DoseSpec) -> bool:
    got = convert(amount, spec.unit, spec.per_kg, spec.per_time)
    return got is not None and spec.low * 0.999 <= got[0] and got[1] <= spec.high * 1.001


def _dose_fits(amount: Amount, entry: DoseEntry, is_max: bool) -> bool:
    if is_max:  # a stated maximum is a stated ceiling, or the top of the dose
        tops = [c for c in (entry.max_per_dose, entry.max_per_day) if c] + [entry.dose]
        return any(
            (got := convert(amount, c.unit, c.per_kg, c.per_time)) is not None
            and abs(got[1] - c.high) <= c.high * 0.001
            for c in tops
        )
    if _fits(amount, entry.dose):
        return True
    top, d = entry.max_per_dose, entry.dose
    if (
        top
        and d.per_time
        and (top.unit, top.per_kg, top.per_time) == (d.unit, d.per_kg, d.per_time)
    ):
        return _fits(amount, d.model_copy(update={"high": max(d.high, top.high)}))  # titrated
    return False


def _drugs_for(drug: str, table: ReferenceTable) -> list[str]:
    """A drug with entries, or every member of the class a class word ("LMWH") names."""
    if table.entries_for(drug):
        return [drug]
    cls = next((d.drug_class for d in table.drugs if d.name == drug), None)
    return [d.name for d in table.drugs if cls and d.drug_class == cls and d.name != drug]


def dose_entries(
    m: DoseMention, named: set[str], table: ReferenceTable, strict: bool = False
) -> list[DoseEntry]:
    """Entries of the mention's drug for a named indication (any, if none is named) whose
    dose, interval and route fit it; population not considered. ``strict``: a repeated dose
    does not fit a single-dose entry (one with no interval that is not a rate)."""
    out = []
    for name in _drugs_for(m.drug or "", table):
        for e in table.entries_for(name):
            if not _in_indication(e, named, table) or (m.route and e.route and m.route != e.route):
                continue
            if not _dose_fits(m.amount, e, m.is_max):
                continue
            if not m.is_max and m.interval_h is not None:
                if e.interval_h and not any(abs(m.interval_h - h) < 0.01 for h in e.interval_h):
                    continue
                if strict and not e.interval_h and e.dose.per_time is None:
                    continue
            out.append(e)
    return out


def _named(sentence: Sentence, text: str, table: ReferenceTable) -> set[str]:
    return named_indications(text, table) or named_indications(sentence.context, table)


def _reading(m: DoseMention) -> tuple[object, ...]:
    return (m.drug, m.amount, m.interval_h, m.is_max, m.route)


def _spec_words(e: DoseEntry) -> str:
    d = e.dose
    value = f"{d.low:g}" if d.low == d.high else f"{d.low:g}-{d.high:g}"
    unit = _UNIT_WORD.get(d.unit, d.unit)
    words = f"{value} {unit}{'/kg' if d.per_kg else ''}{f'/{d.per_time}' if d.per_time else ''}"
    if e.interval_h:
        words += " every " + " or ".join(f"{h:g}" for h in e.interval_h) + " h"
    return words


def equivalence(sentence: Sentence, mutated: str, table: ReferenceTable) -> str | None:
    """Why a mutated sentence still states only doses the reference allows, else None. Each
    dose the extractor reads differently from the original must fit an entry; a change the
    extractor does not see, or a dose it reads without a drug, is not equivalent."""
    old, new = extract(sentence.text)[0], extract(mutated)[0]
    if len(old) != len(new):
        return None
    changed = [n for o, n in zip(old, new, strict=True) if _reading(o) != _reading(n)]
    if not changed:
        return None
    named = _named(sentence, mutated, table)
    where = f"{mutated} {sentence.context}"
    reasons = []
    for n in changed:
        fits = [
            e
            for e in dose_entries(n, named, table, strict=True)
            if population_holds(e.population, where)
        ]
        if n.drug is None or not fits:
            return None
        reasons.append(f"states {fits[0].id} ({_spec_words(fits[0])})")
    return "; ".join(reasons)


# ------------------------------------------------------------------ patient mutations

_CONTRAINDICATED: dict[str, Patient] = {
    "hit": Patient(hit=True),
    "crcl_lt_30": Patient(crcl_ml_min=20),
    "active_bleeding": Patient(active_bleeding=True),
    "pregnancy": Patient(pregnant=True),
    "dialysis": Patient(dialysis=True),
}


def contraindicated_patients(
    mentions: Iterable[DoseMention], table: ReferenceTable
) -> list[tuple[str, Patient, list[str]]]:
    """(what, patient, drugs) for each kind of contraindication of a drug the sentence doses."""
    dosed = {m.drug for m in mentions if m.drug}
    out: list[tuple[str, Patient, list[str]]] = []
    for when in dict.fromkeys(c.when for c in table.contraindications):
        drugs = sorted(
            dosed & {d for c in table.contraindications if c.when == when for d in c.drugs}
        )
        if drugs:
            out.append((f"{when} ({', '.join(drugs)})", _CONTRAINDICATED[when], drugs))
    return out


def _outside(pop: Population) -> float | None:
    """A body weight outside the entry's weight band: 5 kg below a lower bound, 10 kg above an
    upper one."""
    if pop.weight_ge is not None:
        return pop.weight_ge - 5
    if pop.weight_lt is not None:
        return pop.weight_lt + 10
    if pop.criteria is not None and pop.criteria.at_least == len(pop.criteria.of):
        for c in pop.criteria.of:  # every criterion must hold: breaking one is outside
            if c.fact == "weight_kg":
                return c.value - 5 if c.op in (">", ">=") else c.value + 10
    return None


def _has_renal_sibling(entry: DoseEntry, table: ReferenceTable) -> bool:
    return any(
        g is not entry
        and g.drug == entry.drug
        and g.phase == entry.phase
        and _related(g.indication, entry.indication, table)
        and g.population.crcl_lt is not None
        and g.population.crcl_lt > RENAL_CRCL
        and (g.population.crcl_ge is None or g.population.crcl_ge <= RENAL_CRCL)
        for g in table.doses
    )


def band_patients(
    sentence: Sentence, mentions: Sequence[DoseMention], table: ReferenceTable
) -> list[tuple[str, str, Patient]]:
    """(kind, what, patient): a patient outside each weight band, and one with CrCl 20, for
    the banded entries the sentence's doses match."""
    out: list[tuple[str, str, Patient]] = []
    named = _named(sentence, sentence.text, table)
    renal = False
    for m in mentions:
        for e in dose_entries(m, named, table):
            weight = _outside(e.population)
            if weight is not None:
                out.append(
                    ("weight_band", f"{weight:g} kg, outside {e.id}", Patient(weight_kg=weight))
                )
            ge = e.population.crcl_ge
            if not renal and ge is not None and ge >= 30 and _has_renal_sibling(e, table):
                renal = True
                what = f"CrCl {RENAL_CRCL:g}, below {e.id}"
                out.append(("renal_band", what, Patient(crcl_ml_min=RENAL_CRCL)))
    return out


def band_equivalence(
    sentence: Sentence,
    mentions: Sequence[DoseMention],
    kind: str,
    patient: Patient,
    table: ReferenceTable,
) -> str | None:
    """A patient outside the band changes nothing when the sentence names its own band (it
    says whom the dose is for), or when entries that admit this patient allow every dose."""
    own = (_WEIGHT_TEXT if kind == "weight_band" else _CRCL_TEXT).search(sentence.text)
    if own:
        return f"the sentence states its own band ({own.group(0).strip()!r})"
    named = _named(sentence, sentence.text, table)
    where = f"{sentence.text} {sentence.context}"
    reasons = []
    for m in mentions:
        fits = [
            e
            for e in dose_entries(m, named, table)
            if population_holds(e.population, where, patient)
        ]
        if not fits:
            return None
        reasons.append(fits[0].id)
    return (
        f"also allowed for this patient by {', '.join(sorted(set(reasons)))}" if reasons else None
    )


def contraindication_equivalence(text: str, drugs: list[str], table: ReferenceTable) -> str | None:
    """Equivalent when the sentence already says not to give each drug the patient must not
    get."""
    words = [warning(text, d, table) for d in drugs]
    if all(words):
        return f"the sentence already says not to give it ({', '.join(sorted({str(w) for w in words}))})"
    return None


# ------------------------------------------------------------------ running


@dataclass(frozen=True, slots=True)
class Mutant:
    kind: str  # a mutation type, or "original"
    sentence: Sentence
    text: str
    note: str
    patient: Patient | None = None
    equivalent: str | None = None  # why it still states what the reference allows
    control: bool = False  # an arithmetic control: a correct total, must not be blocked


@dataclass(frozen=True, slots=True)
class Outcome:
    mutant: Mutant
    ref: Verdict  # reference rules only
    cit: Verdict  # with a citation to the sentence's own passage

    def blocked(self, mode: str) -> bool:
        return not (self.ref if mode == "ref" else self.cit).allowed


def cited(text: str) -> str:
    """The marker before the final stop, where an answer puts it ("... once daily [1].");
    after the stop it would be a sentence of its own, and the dose sentence uncited."""
    body = text.rstrip()
    if body and body[-1] in ".!?":
        return f"{body[:-1]} [1]{body[-1]}"
    return f"{body} [1]"


def run_one(mutant: Mutant) -> Outcome:
    s = mutant.sentence
    patient = mutant.patient or s.patient
    ref = check(mutant.text, patient=patient, context=s.context)
    cit = check(
        cited(mutant.text),
        citations={1: s.passage_id},
        passages={s.passage_id: s.passage},
        patient=patient,
        context=s.context,
    )
    return Outcome(mutant, ref, cit)


_TEXT_MUTATIONS: dict[str, Callable[[str, DoseMention], Edit | None]] = {
    "x10": x10,
    "div10": div10,
    "decimal_shift": decimal_shift,
    "mg_mcg": mg_mcg,
    "per_h_min": per_h_min,
    "drop_per_kg": drop_per_kg,
}


def split_doses(
    sentence: Sentence, table: ReferenceTable
) -> tuple[list[DoseMention], list[DoseMention]]:
    """The sentence's doses of a known drug that the reference states for the indication the
    sentence (else its context) names, and the others (a threshold such as "more than 35,000
    units per day", a trial arm, an indication the reference does not cover). Only the first
    are broken: a broken dose can only be judged against a dose the reference states."""
    named = _named(sentence, sentence.text, table)
    stated: list[DoseMention] = []
    other: list[DoseMention] = []
    for m in extract(sentence.text)[0]:
        if m.drug is not None:
            (stated if dose_entries(m, named, table) else other).append(m)
    return stated, other


def mutants_of(sentence: Sentence, table: ReferenceTable) -> list[Mutant]:
    """Every mutant of one sentence, each text at most once per mutation type."""
    text = sentence.text
    doses, others = split_doses(sentence, table)
    every = [*doses, *others]
    out: list[Mutant] = []
    seen: set[tuple[str, str, Patient | None, bool]] = set()

    def add(kind: str, mutant: Mutant) -> None:
        key = (kind, mutant.text, mutant.patient, mutant.control)
        if key not in seen:
            seen.add(key)
            out.append(mutant)

    def add_text(kind: str, edit: Edit | None) -> None:
        if edit is not None and edit.text != text:
            reason = equivalence(sentence, edit.text, table)
            add(kind, Mutant(kind, sentence, edit.text, edit.note, equivalent=reason))

    for m in doses:
        for kind, mutate in _TEXT_MUTATIONS.items():
            add_text(kind, mutate(text, m))
        add_text("frequency", frequency(text, m, [o for o in every if o is not m]))
        for edit in drug_swaps(text, m, table):
            add_text("drug_swap", edit)
        for factor, control in ((1.5, False), (1.0, True)):
            total = arithmetic(text, m, factor)
            if total is not None:
                mutant = Mutant("arithmetic", sentence, total.text, total.note, control=control)
                add("arithmetic", mutant)
    for what, patient, drugs in contraindicated_patients(every, table):
        reason = contraindication_equivalence(text, drugs, table)
        kind = "contraindicated_patient"
        add(kind, Mutant(kind, sentence, text, what, patient, reason))
    for kind, what, patient in band_patients(sentence, doses, table):
        reason = band_equivalence(sentence, doses, kind, patient, table)
        add(kind, Mutant(kind, sentence, text, what, patient, reason))
    return out


@dataclass
class Report:
    sentences: list[Sentence]
    originals: list[Outcome]
    outcomes: list[Outcome] = field(default_factory=list)
    not_broken: list[tuple[Sentence, str]] = field(default_factory=list)  # (sentence, dose)
    # generated paraphrases cited to their source sentence, each with its verdict
    paraphrases: list[tuple[Paraphrase, Verdict]] = field(default_factory=list)

    def controls(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.mutant.control]

    def false_positives(self, mode: str = "ref") -> list[Outcome]:
        """Blocked unmutated sentences, and (reference rules only) blocked controls: with a
        citation, a control's new total is rightly ungrounded."""
        pool = self.originals + (self.controls() if mode == "ref" else [])
        return [o for o in pool if o.blocked(mode)]

    def fp_rate(self, mode: str = "ref") -> float:
        pool = len(self.originals) + (len(self.controls()) if mode == "ref" else 0)
        return len(self.false_positives(mode)) / pool if pool else 0.0

    def mutants(self, kind: str | None = None) -> list[Outcome]:
        return [
            o
            for o in self.outcomes
            if not o.mutant.control and (kind is None or o.mutant.kind == kind)
        ]

    def scored(self, kind: str | None = None) -> list[Outcome]:
        return [o for o in self.mutants(kind) if o.mutant.equivalent is None]

    def detection(self, mode: str = "ref", kind: str | None = None) -> float:
        pool = self.scored(kind)
        return sum(o.blocked(mode) for o in pool) / len(pool) if pool else 1.0

    def missed(self, mode: str = "ref") -> list[Outcome]:
        return [o for o in self.scored() if not o.blocked(mode)]


def run(table: ReferenceTable | None = None, gold: Path = GOLD) -> Report:
    from evals.mutation_families import build, paraphrases

    table = table or default_reference()
    base = dose_sentences(table) + gold_sentences(gold)
    originals = [run_one(Mutant("original", s, s.text, "")) for s in base]
    # The new families start from sentences the guard allows (a blocked one stays blocked).
    allowed = [o.mutant.sentence for o in originals if not o.blocked("ref")]
    extra, families = build(allowed, table)
    originals += [run_one(Mutant("original", s, s.text, "")) for s in extra]
    report = Report(base + extra, originals)
    for mutant in families.controls + families.mutants:
        report.outcomes.append(run_one(mutant))
    for original in originals:
        sentence = original.mutant.sentence
        if original.blocked("ref"):
            continue  # its mutants would be blocked for the original's sake
        if sentence not in base:
            continue  # the new families' sentences carry their own mutants
        for m in split_doses(sentence, table)[1]:
            report.not_broken.append((sentence, f"{m.drug} {sentence.text[m.span[0] : m.span[1]]}"))
        for mutant in mutants_of(sentence, table):
            report.outcomes.append(run_one(mutant))
    report.paraphrases = [(p, run_paraphrase(p)) for p in paraphrases(allowed)]
    return report


def run_paraphrase(p: Paraphrase) -> Verdict:
    """A writing generator's statement cited to the source sentence it paraphrases."""
    s = p.sentence
    return check(
        cited(p.text),
        citations={1: s.passage_id},
        passages={s.passage_id: s.text},
        patient=s.patient,
        context=s.context,
        own_words=(p.text,),
    )


def paraphrase_rows(report: Report) -> list[str]:
    """Per family: statements, withheld, share, and the share withheld by the support check."""
    from evals.mutation_families import PARAPHRASE_CONTROLS, PARAPHRASE_MUTANTS

    rows = [
        "| family | mutant or control | statements | withheld | share | by STATEMENT_UNSUPPORTED |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kind in (*PARAPHRASE_MUTANTS, *PARAPHRASE_CONTROLS):
        got = [v for p, v in report.paraphrases if p.kind == kind]
        blocked = [v for v in got if not v.allowed]
        by_rule = [v for v in got if "STATEMENT_UNSUPPORTED" in _blocking(v)]
        role = "control" if kind in PARAPHRASE_CONTROLS else "mutant"
        rows.append(
            f"| {kind} | {role} | {len(got)} | {len(blocked)} | "
            f"{_pct(len(blocked) / len(got) if got else 0.0)} | {len(by_rule)} |"
        )
    return rows


def paraphrase_rates(report: Report) -> tuple[float, float]:
    """(share of paraphrase mutants withheld, share of controls withheld)."""
    mutants = [v for p, v in report.paraphrases if not p.control]
    controls = [v for p, v in report.paraphrases if p.control]
    caught = sum(not v.allowed for v in mutants) / len(mutants) if mutants else 1.0
    false = sum(not v.allowed for v in controls) / len(controls) if controls else 0.0
    return caught, false


# ------------------------------------------------------------------ report


def _blocking(v: Verdict) -> list[str]:
    return sorted({f.rule_id for f in v.findings if f.severity == "block"})


def _findings(v: Verdict) -> str:
    shown = [f for f in v.findings if f.severity != "info"] or list(v.findings)
    return "; ".join(f"{f.rule_id} ({f.severity}): {f.message}" for f in shown) or "none"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _who(p: Patient | None) -> str:
    return p.describe() if p else ""


def _quote(text: str) -> str:
    return f"\u201c{text}\u201d"


def _type_rows(report: Report) -> list[str]:
    rows = []
    for kind in KINDS:
        every = report.mutants(kind)
        if not every:
            continue
        pool = [o for o in every if o.mutant.equivalent is None]
        cells = [kind]
        cells += [str(len(every)), str(len(every) - len(pool)), str(len(pool))]
        for mode in ("ref", "cit"):
            det = sum(o.blocked(mode) for o in pool)
            cells += [str(det), str(len(pool) - det), _pct(det / len(pool)) if pool else "-"]
        for mode in ("ref", "cit"):
            counts = Counter(r for o in pool for r in _blocking(o.ref if mode == "ref" else o.cit))
            cells.append(", ".join(f"{r} {n}" for r, n in counts.most_common()) or "-")
        rows.append("| " + " | ".join(cells) + " |")
    scored = report.scored()
    every = report.mutants()
    cells = ["**all scored**", str(len(every)), str(len(every) - len(scored)), str(len(scored))]
    for mode in ("ref", "cit"):
        det = sum(o.blocked(mode) for o in scored)
        cells += [str(det), str(len(scored) - det), f"**{_pct(report.detection(mode))}**"]
    rows.append("| " + " | ".join(cells) + " | | |")
    return rows


def to_markdown(report: Report) -> str:
    n_dose = sum(s.source.startswith("doses.yaml") for s in report.sentences)
    n_applied = sum(s.patient is not None for s in report.sentences)
    n_gold = sum(s.source.startswith("gold") for s in report.sentences)
    scored, missed = report.scored(), report.missed("ref")
    lines = [
        "# Guard mutation testing",
        "",
        f"Made by `{COMMAND}` from `evals/mutations.py`; its docstring says how each mutation",
        "is made and how equivalence is judged. Correct dose sentences are broken one way at a",
        "time and checked again by `guardrails.check`; a mutant is *detected* when the verdict is",
        "not allowed. *ref*: reference rules only (no citations). *cit*: the sentence cites the",
        "quote or reference answer it came from, so numeric grounding (`NUMBER_UNGROUNDED`) applies",
        "too. Equivalent mutants still state a dose the reference allows; they are listed below",
        "and not scored.",
        "",
        "## Summary",
        "",
        f"- Correct sentences: {len(report.sentences)} ({n_dose} from dose-entry quotes and the "
        f"idarucizumab vials, {n_gold} from gold reference answers, {n_applied} patient-applied "
        f"regimen doses with computed totals), plus {len(report.controls())} controls (correct "
        "texts of the arithmetic and review families: the drug named in another sentence, a "
        "list or a table; obfuscated names; round thousands; no HIT). Mutants: "
        f"{len(report.mutants())}.",
        f"- Detection, reference rules only: **{_pct(report.detection('ref'))}** "
        f"({len(scored) - len(missed)} of {len(scored)} scored; target >= "
        f"{_pct(TARGET_DETECTION)}). With citations: **{_pct(report.detection('cit'))}**.",
        f"- False positives, reference rules only: **{_pct(report.fp_rate('ref'))}** "
        f"({len(report.false_positives('ref'))} of {len(report.originals)} unmutated sentences "
        f"and {len(report.controls())} controls; target <= "
        f"{_pct(TARGET_FALSE_POSITIVES)}). With citations, unmutated sentences only: "
        f"{_pct(report.fp_rate('cit'))}.",
        "",
        "## Detection by mutation type",
        "",
        "The first twelve types break the reference's own sentences (this module's docstring);",
        "the review's families below them (`pronoun_drug` to `vials`) are made by",
        "`evals/mutation_families.py`, whose docstring says how each is made.",
        "",
        "| mutation | mutants | equivalent | scored | detected (ref) | missed (ref) | rate (ref) "
        "| detected (cit) | missed (cit) | rate (cit) | blocking rules (ref) | blocking rules (cit) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *_type_rows(report),
        "",
        "Reading the table: a sentence that names its own band (\u201c50 to 100 kg | 7.5 mg\u201d,",
        "\u201cwith CrCl above 30 mL/min\u201d) says whom its dose is for, and the guard lets that",
        "speak for the dose, so a patient outside the band changes nothing the text says: most",
        "`weight_band` and many `renal_band` mutants are equivalent for that reason. A dose the",
        "reference gives the drug for other indications but not for the one named is answered",
        "with a `NO_REFERENCE` warning by design; a dose it gives the drug nowhere is judged",
        "against all of the drug's entries and blocked.",
        "",
        "## False positives",
        "",
    ]
    fps = report.false_positives("ref")
    lines += [
        f"- {f'{o.mutant.kind} control' if o.mutant.control else 'unmutated'}, "
        f"{o.mutant.sentence.source}: {_quote(o.mutant.text)} \u2014 {_findings(o.ref)}"
        for o in fps
    ] or ["None: every unmutated sentence and control is allowed."]
    cit_only = [o for o in report.false_positives("cit") if o not in fps]
    if cit_only:
        lines += ["", "Blocked only with citations:"]
        lines += [
            f"- {o.mutant.sentence.source}: {_quote(o.mutant.text)} \u2014 {_findings(o.cit)}"
            for o in cit_only
        ]
    lines += [
        "",
        "## Missed mutants (reference rules only)",
        "",
        *(
            [
                f"- **{o.mutant.kind}** ({o.mutant.note})"
                + (f" for a patient with {_who(o.mutant.patient)}" if o.mutant.patient else "")
                + f", {o.mutant.sentence.source}: {_quote(o.mutant.text)} \u2014 {_findings(o.ref)}"
                + f"; with citations: {'blocked' if o.blocked('cit') else 'also missed'}"
                for o in missed
            ]
            or ["None."]
        ),
        "",
        f"Missed with citations: {len(report.missed('cit'))}.",
        *[
            f"- {o.mutant.kind} ({o.mutant.note}), {o.mutant.sentence.source}: {_quote(o.mutant.text)}"
            for o in report.missed("cit")
        ],
        "",
        "## Doses not broken",
        "",
        "Doses of a known drug that the reference does not state for the indication the sentence",
        "names: thresholds, trial arms, indications the reference does not cover. The guard",
        "answers them with `NO_REFERENCE` or judges them against the entries it has; breaking",
        "them would test nothing the reference decides. Contraindicated-patient mutants still",
        "cover their sentences.",
        "",
        *(
            [f"- {s.source}: {dose} in {_quote(s.text)}" for s, dose in report.not_broken]
            or ["None."]
        ),
        "",
        "## Equivalent mutants",
        "",
        "With the guard's verdict (reference rules only) for each.",
        "",
        "| mutation | change | source | why equivalent | guard |",
        "|---|---|---|---|---|",
    ]
    for o in report.mutants():
        m = o.mutant
        if m.equivalent is None:
            continue
        change = m.note + (f" ({_who(m.patient)})" if m.patient else "")
        verdict = f"blocked: {', '.join(_blocking(o.ref))}" if o.blocked("ref") else "allowed"
        lines.append(
            f"| {m.kind} | {_cell(change)} | {_cell(m.sentence.source)} | {_cell(m.equivalent)} "
            f"| {verdict} |"
        )
    caught, false = paraphrase_rates(report)
    lines += [
        "",
        "## Generated paraphrases (statement support check)",
        "",
        "A writing generator's sentence cited to the source sentence it paraphrases, checked",
        "with `check(..., own_words=...)` so that `guardrails/support.py` holds it to that",
        "sentence. Mutants change one meaning (a band's comparator flipped, a negation dropped",
        "or added, a population swapped or added, increase and decrease swapped, a unit",
        'changed); controls change none (the verbatim sentence, its clauses reordered, "The',
        'guideline says ...", an article dropped). Built from the correct sentences the',
        "reference rules allow, each edit where it applies (`evals/mutation_families.py`).",
        f"Mutants withheld: **{_pct(caught)}** (target >= 99%); controls withheld: "
        f"**{_pct(false)}** (target <= 1%).",
        "",
        *paraphrase_rows(report),
    ]
    lines += ["", "## Sentences", ""]
    lines += [f"- {s.source}: {_quote(s.text)}" for s in report.sentences]
    return "\n".join(lines) + "\n"


def to_json(report: Report) -> dict[str, object]:
    def outcome(o: Outcome) -> dict[str, object]:
        m = o.mutant
        return {
            "kind": m.kind,
            "source": m.sentence.source,
            "text": m.text,
            "note": m.note,
            "patient": _who(m.patient),
            "equivalent": m.equivalent,
            "control": m.control,
            "blocked_ref": o.blocked("ref"),
            "blocked_cit": o.blocked("cit"),
            "rules_ref": _blocking(o.ref),
            "rules_cit": _blocking(o.cit),
        }

    return {
        "command": COMMAND,
        "detection_ref": report.detection("ref"),
        "detection_cit": report.detection("cit"),
        "false_positive_rate_ref": report.fp_rate("ref"),
        "false_positive_rate_cit": report.fp_rate("cit"),
        "originals": [outcome(o) for o in report.originals],
        "mutants": [outcome(o) for o in report.outcomes],
        "paraphrases": [
            {
                "kind": p.kind,
                "source": p.sentence.source,
                "text": p.text,
                "control": p.control,
                "blocked": not v.allowed,
                "rules": _blocking(v),
            }
            for p, v in report.paraphrases
        ],
    }


def meets_targets(report: Report) -> bool:
    return (
        report.detection("ref") >= TARGET_DETECTION
        and report.fp_rate("ref") <= TARGET_FALSE_POSITIVES
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m evals.mutations", description="Mutation testing of the dose guard."
    )
    parser.add_argument("--out", type=Path, help="also write the Markdown report to this file")
    parser.add_argument("--json", type=Path, help="write every outcome as JSON to this file")
    args = parser.parse_args(argv)
    report = run()
    markdown = to_markdown(report)
    sys.stdout.write(markdown)
    if args.out:
        args.out.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(to_json(report), indent=1), encoding="utf-8")
    return 0 if meets_targets(report) else 1


if __name__ == "__main__":
    raise SystemExit(main())
