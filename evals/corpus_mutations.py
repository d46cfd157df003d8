"""Mutation testing of the dose guard over curated corpus text: every allowed dose unit of an
index, broken one way at a time and checked again with its own chunk cited.

    python -m evals.corpus_mutations [--source SPEC ...] [--preset fast] [--limit-units N]
                                     [--seed S] [--out FILE.md] [--json FILE]

``evals.mutations`` breaks the anticoagulation pack's dose reference; this tool breaks the
rest of the curated content. The units are ``evals.corpus_doses``'s: every structure unit of
the index (sentence, list item, table row, flowchart branch, or a plain sentence of text no
whole unit covers) in which the guard's extraction finds a dose, quoted verbatim with its
own chunk cited and no patient. Those quotes are the controls: each is right by
construction, so a withheld one is a false positive. Each allowed unit is then broken, one
mutation at a time, and the mutated text is checked as the quote was (the answer is the
mutated text with " [1]", citation 1 = the unit's chunk, with its title, heading path and
the product names the corpus gives its document). The mutations work on the unit's first
dose as ``guardrails.extraction.extract`` reads it:

- ``x10`` / ``div10``: the amount's number(s) times or divided by ten, inside the amount's
  span only ("2.5 to 5 mg" -> "25 to 50 mg"; not the 24 of "per 24 hours");
- ``unit_swap``: the amount's unit word: mg -> mcg, g and units; mcg/micrograms -> mg;
  g -> mg; units/IU -> mg;
- ``drop_per_kg``: "/kg", "per kg", "per kilogram (body weight)" removed;
- ``per_time``: /h <-> /min, per hour <-> per minute;
- ``frequency``: the frequency written after the dose (else the last one before it): once
  daily <-> twice daily, every 12 <-> every 24 hours, every 8 -> every 12 hours,
  q12h <-> q24h, three times daily -> once daily;
- ``route``: the route written after the dose (else the last one before it):
  intravenous(ly)/IV <-> oral(ly)/by mouth, subcutaneous(ly) -> intravenous(ly);
- ``lookalike``: a digit of the amount as a look-alike letter (0 -> O, 1 -> l, 0 -> the
  Cyrillic о);
- ``drug_swap_in_passage``: where the unit names its dose's drug and its chunk names another
  drug (``guardrails.context.drugs_in``), the unit's name of its drug becomes the chunk's
  name of the other (each other drug, the first three in chunk order; a drug whose name
  holds the other's, "insulin" and "insulin glargine", is the same drug).

A mutant is *equivalent* (listed, not scored) when the mutation changes nothing the
extractor reads (the doses, their drug, amount, interval and route, the drugs named and the
numbers it could not read are the same), or when every dose it reads differently is stated
elsewhere in the same chunk for the same drug: the same amount (in a unit that converts), or
for ``frequency`` / ``route`` the same interval or route, or for a drug swap the same amount
of the other drug. A dose's drug is the one the extractor gives it, else the chunk's only
drug. This is decided from the text, never from the guard's verdict. A mutant is *detected*
when the verdict is not allowed.

The report (``--out`` Markdown, ``--json``) gives the controls and, per mutation family, per
domain (the source the document came from) and per unit kind: mutants, equivalent, scored,
detected, rate and the block rules that fired; then every missed mutant, every equivalent
one and every withheld control. ``--limit-units N`` checks a sample of N dose units drawn
with ``--seed`` (the same N and seed draw the same units). The index is found as
``evals.corpus_doses`` finds it. The rates are benchmark figures (docs/GUARD_MUTATIONS.md),
never test assertions.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from corpus.errors import BedsideError
from corpus.types import Chunk, Document, DocumentInfo
from evals.corpus_doses import (
    Corpus,
    DocumentUnits,
    QuotedUnit,
    _source_text,
    add_corpus_arguments,
    check_unit,
    chunk_units,
    open_corpus,
    states_dose,
)
from evals.mutations import Edit, amount_numbers, div10, per_h_min, x10
from guardrails import check
from guardrails.context import drug_hits, drugs_in, may_name_one_drug
from guardrails.extraction import extract
from guardrails.products import ProductNames
from guardrails.reference import ReferenceTable, default_reference
from guardrails.types import Amount, DoseMention, Verdict
from guardrails.units import convert

Log = Callable[[str], None]

FAMILIES = (
    "x10",
    "div10",
    "unit_swap",
    "drop_per_kg",
    "per_time",
    "frequency",
    "route",
    "lookalike",
    "drug_swap_in_passage",
)
UNIT_KINDS = ("table_row", "list_item", "sentence", "flow_branch", "plain_sentence")
TARGET_DETECTION = 0.995
TARGET_FALSE_POSITIVES = 0.005
SWAPS_PER_UNIT = 3  # other drugs of the chunk a unit's drug is swapped for, at most


# ------------------------------------------------------------------ mutations


def _replace(text: str, start: int, end: int, new: str) -> Edit:
    return Edit(text[:start] + new + text[end:], f"{text[start:end]} -> {new or '(none)'}")


def _as_written(word: str, new: str) -> str:
    """``new`` in the case ``word`` is written in (MG -> MCG, Orally -> Intravenously)."""
    if word.isupper() and len(word) > 1 and new.islower():
        return new.upper()
    if word[:1].isupper() and not word.isupper():
        return new[:1].upper() + new[1:]
    return new


# the unit word of an amount and what it becomes, by mutation
_UNIT_WORD = re.compile(
    r"\b(?:milligrams?|micrograms?|grams?|mg|mcg|g|international units?|units?|IU)\b"
    r"|[\u00b5\u03bc]g\b",
    re.IGNORECASE,
)
_UNIT_SWAPS: dict[str, tuple[str, ...]] = {
    "mg": ("mcg", "g", "units"),
    "milligram": ("microgram", "gram", "units"),
    "milligrams": ("micrograms", "grams", "units"),
    "mcg": ("mg",),
    "\u00b5g": ("mg",),
    "\u03bcg": ("mg",),
    "microgram": ("milligram",),
    "micrograms": ("milligrams",),
    "g": ("mg",),
    "gram": ("milligram",),
    "grams": ("milligrams",),
    "unit": ("mg",),
    "units": ("mg",),
    "iu": ("mg",),
    "international unit": ("mg",),
    "international units": ("mg",),
}


def unit_swaps(text: str, mention: DoseMention) -> list[Edit]:
    """The amount's unit word (the first after its first number) swapped, one edit a swap."""
    nums = amount_numbers(text, mention)
    if not nums:
        return []
    m = _UNIT_WORD.search(text, nums[0].end(), mention.span[1])
    if m is None:
        return []
    word = m.group(0)
    return [
        _replace(text, m.start(), m.end(), _as_written(word, new))
        for new in _UNIT_SWAPS.get(word.lower(), ())
    ]


_PER_KG = re.compile(
    r"(?:\s?/\s?kg|\s+per\s+(?:kg|kilogram))(?:\s+(?:of\s+)?body[\s-]?weight|\s+bw)?\b",
    re.IGNORECASE,
)


def drop_per_kg(text: str, mention: DoseMention) -> Edit | None:
    """ "/kg", "per kg" or "per kilogram (body weight)" of a per-kg amount removed (the
    match starts inside the amount's span)."""
    if not mention.amount.per_kg:
        return None
    start, end = mention.span
    for m in _PER_KG.finditer(text, start):
        if m.start() >= end:
            break
        return _replace(text, m.start(), m.end(), "")
    return None


def per_time(text: str, mention: DoseMention) -> Edit | None:
    return per_h_min(text, mention)


# A written frequency and what it becomes. Longest first.
FREQUENCIES: tuple[tuple[str, str], ...] = (
    (r"three times (?:daily|a day)", "once daily"),
    (r"once daily", "twice daily"),
    (r"once a day", "twice a day"),
    (r"twice daily", "once daily"),
    (r"twice a day", "once a day"),
    (r"every 12 hours", "every 24 hours"),
    (r"every 24 hours", "every 12 hours"),
    (r"every 8 hours", "every 12 hours"),
    (r"q12h", "q24h"),
    (r"q24h", "q12h"),
)
# A written route and what it becomes. Longest first.
ROUTES: tuple[tuple[str, str], ...] = (
    (r"intravenously", "orally"),
    (r"intravenous", "oral"),
    (r"(?-i:IV)", "orally"),  # in capitals only: "iv" is a roman numeral too
    (r"orally", "intravenously"),
    (r"by mouth", "intravenously"),
    (r"oral", "intravenous"),
    (r"subcutaneously", "intravenously"),
    (r"subcutaneous", "intravenous"),
)


def _alternation(table: Sequence[tuple[str, str]], flags: int = re.IGNORECASE) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<w{i}>\\b{p}\\b)" for i, (p, _) in enumerate(table)), flags)


_FREQUENCY = _alternation(FREQUENCIES)
_ROUTE = _alternation(ROUTES)


def _phrase_near(
    text: str,
    mention: DoseMention,
    others: Sequence[DoseMention],
    patterns: Sequence[re.Pattern[str]],
    table: Sequence[tuple[str, str]],
) -> Edit | None:
    """The phrase of ``table`` written after the dose (before the next one), else the last
    one before it (after the previous one), rewritten."""
    start, end = mention.span
    nxt = min((o.span[0] for o in others if o.span[0] >= end), default=len(text))
    prev = max((o.span[1] for o in others if o.span[1] <= start), default=0)
    after = sorted(
        (m for p in patterns for m in p.finditer(text, end, nxt)), key=lambda m: m.start()
    )
    before = sorted(
        (m for p in patterns for m in p.finditer(text, prev, start)), key=lambda m: m.start()
    )
    found = after[0] if after else (before[-1] if before else None)
    if found is None:
        return None
    new = table[int((found.lastgroup or "w0")[1:])][1]
    return _replace(text, found.start(), found.end(), _as_written(found.group(0), new))


def frequency(text: str, mention: DoseMention, others: Sequence[DoseMention]) -> Edit | None:
    return _phrase_near(text, mention, others, (_FREQUENCY,), FREQUENCIES)


def route(text: str, mention: DoseMention, others: Sequence[DoseMention]) -> Edit | None:
    return _phrase_near(text, mention, others, (_ROUTE,), ROUTES)


LOOKALIKES: tuple[tuple[str, str], ...] = (("0", "O"), ("1", "l"), ("0", "\u043e"))


def lookalikes(text: str, mention: DoseMention) -> list[Edit]:
    """The amount's first number with one digit written as a look-alike letter."""
    nums = amount_numbers(text, mention)
    if not nums:
        return []
    m = nums[0]
    out = []
    for digit, letter in LOOKALIKES:
        at = m.group(0).find(digit)
        if at >= 0:
            pos = m.start() + at
            edit = _replace(text, pos, pos + 1, letter)
            out.append(Edit(edit.text, f"{m.group(0)} -> {edit.text[m.start() : m.end()]}"))
    return out


def drug_swaps_in_passage(
    text: str, mention: DoseMention, chunk_text: str, table: ReferenceTable
) -> list[Edit]:
    """The unit's names of its dose's drug replaced by the chunk's name of each other drug
    the chunk names (the first ``SWAPS_PER_UNIT``)."""
    own = mention.drug
    if own is None:
        return []
    hits = [h for h in drug_hits(text, table) if h[2] == own]
    if not hits:
        return []
    written: dict[str, str] = {}
    for s, e, name in drug_hits(chunk_text, table):
        if not may_name_one_drug(own, name, table):
            # one name inside the other ("gentamicins", "insulin glargine") or a class and its
            # member ("LMWH", "enoxaparin") may name the same drug: no swap
            written.setdefault(name, chunk_text[s:e])
    out = []
    for other, name in list(written.items())[:SWAPS_PER_UNIT]:
        pieces, pos = [], 0
        for s, e, _ in hits:
            pieces += [text[pos:s], name]
            pos = e
        out.append(Edit("".join(pieces) + text[pos:], f"{own} -> {other}", other))
    return out


# ------------------------------------------------------------------ equivalence


_Reading = tuple[object, ...]


def _reading(m: DoseMention) -> _Reading:
    return (m.drug, m.amount, m.interval_h, m.route, m.phase, m.is_max, m.single_dose, m.count)


@dataclass(frozen=True, slots=True)
class Reading:
    """What the extractor reads in a text: its doses, the drugs it names, the numbers next
    to a drug it cannot read."""

    doses: tuple[DoseMention, ...]
    drugs: tuple[str, ...]
    unparsed: tuple[tuple[str, str], ...]

    @staticmethod
    def of(text: str, table: ReferenceTable) -> Reading:
        mentions, unparsed = extract(text)
        return Reading(
            tuple(mentions),
            drugs_in(text, table),
            tuple((u.drug, text[u.span[0] : u.span[1]]) for u in unparsed),
        )

    def key(self) -> tuple[object, ...]:
        return (tuple(_reading(m) for m in self.doses), self.drugs, self.unparsed)


def _same_amount(a: Amount, b: Amount) -> bool:
    if a == b:
        return True
    got = convert(a, b.unit, b.per_kg, b.per_time)
    return got is not None and all(
        abs(x - y) <= 1e-6 * max(abs(y), 1.0) for x, y in zip(got, (b.low, b.high), strict=True)
    )


def _drug_of(m: DoseMention, chunk_drugs: tuple[str, ...]) -> str | None:
    if m.drug is not None:
        return m.drug
    return chunk_drugs[0] if len(chunk_drugs) == 1 else None


def equivalence(
    family: str,
    original: Reading,
    mutated: Reading,
    chunk: Reading,
) -> str | None:
    """Why the mutant still says what its chunk says (None: it does not; it is scored)."""
    if mutated.key() == original.key():
        return "the extractor reads the same"
    if mutated.unparsed != original.unparsed and len(mutated.unparsed) > len(original.unparsed):
        return None  # a number it cannot read is new: nothing in the chunk states that
    left = Counter(_reading(m) for m in original.doses)
    changed = []
    for m in mutated.doses:
        r = _reading(m)
        if left[r] > 0:
            left[r] -= 1
        else:
            changed.append(m)
    if not changed:
        return None  # a dose went unread: the chunk states what was there, not its absence
    why = []
    for m in changed:
        drug = _drug_of(m, chunk.drugs)
        for c in chunk.doses:
            if _drug_of(c, chunk.drugs) != drug:
                continue
            if family == "frequency":
                same = m.interval_h is not None and c.interval_h == m.interval_h
            elif family == "route":
                same = m.route is not None and c.route == m.route
            else:
                same = _same_amount(m.amount, c.amount)
            if same:
                why.append(_stated(family, m, drug))
                break
        else:
            return None
    return "; ".join(why)


def _stated(family: str, m: DoseMention, drug: str | None) -> str:
    whose = f"for {drug}" if drug else "with no drug named"
    if family == "frequency":
        return f"the chunk states every {m.interval_h:g} h {whose}"
    if family == "route":
        return f"the chunk states the {m.route} route {whose}"
    return f"the chunk states {m.amount.describe()} {whose}"


# ------------------------------------------------------------------ the units


@dataclass(frozen=True, slots=True)
class DoseUnit:
    """A unit of a chunk that states a dose, with where it stands."""

    domain: str
    doc: DocumentInfo
    chunk: Chunk
    unit: QuotedUnit
    doc_text: str


def dose_units(corpus: Corpus) -> list[DoseUnit]:
    """Every dose-stating unit of the corpus, in index order (as ``evals.corpus_doses``)."""
    by_doc: dict[str, list[Chunk]] = defaultdict(list)
    for c in corpus.chunks:
        by_doc[c.doc_id].append(c)
    out = []
    for doc_id, chunks in by_doc.items():
        doc: Document = corpus.documents[doc_id]
        info = DocumentInfo.of(doc)
        doc_units = DocumentUnits.of(doc.text)
        for chunk in sorted(chunks, key=lambda c: c.start):
            for unit in chunk_units(doc.text, chunk, doc_units):
                if states_dose(doc.text[unit.span[0] : unit.span[1]]):
                    out.append(DoseUnit(corpus.domains[doc_id], info, chunk, unit, doc.text))
    return out


def sample(units: Sequence[DoseUnit], limit: int | None, seed: int) -> list[DoseUnit]:
    """``limit`` units drawn with ``seed``, kept in index order (all of them without one)."""
    if limit is None or limit >= len(units):
        return list(units)
    picked = sorted(random.Random(seed).sample(range(len(units)), limit))
    return [units[i] for i in picked]


# ------------------------------------------------------------------ running


@dataclass(frozen=True, slots=True)
class MutantResult:
    """One mutant of one unit and the guard's verdict on it."""

    domain: str
    doc_id: str
    chunk_id: str
    kind: str  # the unit's kind
    family: str
    original: str  # the unit as written
    text: str  # the mutated unit
    note: str  # what changed
    equivalent: str | None
    allowed: bool
    rule_ids: tuple[str, ...]  # the block rules that fired, sorted, each once
    findings: tuple[str, ...]  # every finding: "RULE (severity): message"

    @property
    def scored(self) -> bool:
        return self.equivalent is None

    @property
    def detected(self) -> bool:
        return not self.allowed


def mutants_of(text: str, chunk_text: str, table: ReferenceTable) -> list[tuple[str, Edit]]:
    """Every mutant of a unit's text, (family, edit), each text at most once per family."""
    mentions, _ = extract(text)
    if not mentions:
        return []
    first = mentions[0]
    others = mentions[1:]
    named = next((m for m in mentions if m.drug is not None), None)
    made: list[tuple[str, Edit | None]] = [
        ("x10", x10(text, first)),
        ("div10", div10(text, first)),
        *(("unit_swap", e) for e in unit_swaps(text, first)),
        ("drop_per_kg", drop_per_kg(text, first)),
        ("per_time", per_time(text, first)),
        ("frequency", frequency(text, first, others)),
        ("route", route(text, first, others)),
        *(("lookalike", e) for e in lookalikes(text, first)),
        *(
            ("drug_swap_in_passage", e)
            for e in (drug_swaps_in_passage(text, named, chunk_text, table) if named else [])
        ),
    ]
    seen: set[tuple[str, str]] = set()
    out = []
    for family, edit in made:
        if edit is None or edit.text == text or (family, edit.text) in seen:
            continue
        seen.add((family, edit.text))
        out.append((family, edit))
    return out


def check_mutant(
    unit: DoseUnit, text: str, table: ReferenceTable, products: ProductNames
) -> Verdict:
    """The guard's verdict on ``text`` answered in the unit's place, its chunk cited."""
    from retrieval.types import Passage

    passage = Passage(unit.chunk, unit.doc, score=1.0, rank=1)
    return check(
        f"{text} [1]",
        {1: unit.chunk.id},
        {unit.chunk.id: _source_text(passage, products)},
        None,
        "",
        table,
    )


@dataclass(frozen=True, slots=True)
class Control:
    """A unit quoted as written: right by construction."""

    domain: str
    doc_id: str
    chunk_id: str
    kind: str
    text: str
    allowed: bool
    rule_ids: tuple[str, ...]
    messages: tuple[str, ...]


def run(
    corpus: Corpus,
    reference: ReferenceTable | None = None,
    limit_units: int | None = None,
    seed: int = 0,
    progress: Log | None = None,
) -> tuple[list[Control], list[MutantResult]]:
    """Check the (sampled) dose units as quoted, then every mutant of each allowed one."""
    table = reference or default_reference()
    products = ProductNames.learn(((d.title, d.text) for d in corpus.documents.values()), table)
    units = sample(dose_units(corpus), limit_units, seed)
    controls: list[Control] = []
    results: list[MutantResult] = []
    chunk_readings: dict[str, Reading] = {}
    for n, u in enumerate(units, start=1):
        quoted = check_unit(u.domain, u.doc, u.chunk, u.unit, u.doc_text, table, products)
        controls.append(
            Control(
                u.domain,
                u.doc.id,
                u.chunk.id,
                u.unit.kind,
                quoted.text,
                quoted.allowed,
                quoted.rule_ids,
                quoted.messages,
            )
        )
        if progress and n % 250 == 0:
            progress(f"{n}/{len(units)} units, {len(results)} mutants")
        if not quoted.allowed:
            continue
        text = quoted.text
        chunk = chunk_readings.get(u.chunk.id)
        if chunk is None:
            chunk = chunk_readings[u.chunk.id] = Reading.of(u.chunk.text, table)
        original = Reading.of(text, table)
        for family, edit in mutants_of(text, u.chunk.text, table):
            why = equivalence(family, original, Reading.of(edit.text, table), chunk)
            verdict = check_mutant(u, edit.text, table, products)
            results.append(
                MutantResult(
                    domain=u.domain,
                    doc_id=u.doc.id,
                    chunk_id=u.chunk.id,
                    kind=u.unit.kind,
                    family=family,
                    original=text,
                    text=edit.text,
                    note=edit.note,
                    equivalent=why,
                    allowed=verdict.allowed,
                    rule_ids=tuple(sorted({f.rule_id for f in verdict.by_severity("block")})),
                    findings=tuple(
                        f"{f.rule_id} ({f.severity}): {f.message}" for f in verdict.findings
                    ),
                )
            )
    return controls, results


# ------------------------------------------------------------------ the summary


@dataclass(slots=True)
class Tally:
    mutants: int = 0
    equivalent: int = 0
    scored: int = 0
    detected: int = 0
    rules: Counter[str] | None = None

    def add(self, r: MutantResult) -> None:
        self.mutants += 1
        if not r.scored:
            self.equivalent += 1
            return
        self.scored += 1
        if r.detected:
            self.detected += 1
            if self.rules is None:
                self.rules = Counter()
            self.rules.update(r.rule_ids)

    def as_json(self) -> dict[str, Any]:
        rules = self.rules or Counter()
        return {
            "mutants": self.mutants,
            "equivalent": self.equivalent,
            "scored": self.scored,
            "detected": self.detected,
            "missed": self.scored - self.detected,
            "rate": round(self.detected / self.scored, 4) if self.scored else None,
            "blocking_rules": dict(sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))),
        }


def _tally(results: Iterable[MutantResult], key: Callable[[MutantResult], str]) -> dict[str, Tally]:
    out: dict[str, Tally] = defaultdict(Tally)
    for r in results:
        out[key(r)].add(r)
    return out


def summarise(
    controls: Sequence[Control], results: Sequence[MutantResult], order: Sequence[str] = ()
) -> dict[str, Any]:
    """Controls and mutants per family, per domain and per unit kind, and overall."""

    def ordered(tallies: dict[str, Tally], first: Sequence[str]) -> dict[str, Any]:
        names = [n for n in first if n in tallies] + sorted(set(tallies) - set(first))
        return {n: tallies[n].as_json() for n in names}

    total = Tally()
    for r in results:
        total.add(r)
    by_domain: dict[str, list[Control]] = defaultdict(list)
    for c in controls:
        by_domain[c.domain].append(c)

    def control_row(cs: Sequence[Control]) -> dict[str, Any]:
        withheld = sum(not c.allowed for c in cs)
        rules = Counter(r for c in cs if not c.allowed for r in c.rule_ids)
        return {
            "units": len(cs),
            "withheld": withheld,
            "share": round(withheld / len(cs), 4) if cs else None,
            "by_rule": dict(sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))),
        }

    return {
        "controls": {
            **{d: control_row(cs) for d, cs in sorted(by_domain.items())},
            "all": control_row(controls),
        },
        "families": ordered(_tally(results, lambda r: r.family), FAMILIES),
        "domains": ordered(_tally(results, lambda r: r.domain), order),
        "kinds": ordered(_tally(results, lambda r: r.kind), UNIT_KINDS),
        "all": total.as_json(),
    }


# ------------------------------------------------------------------ reports


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{100 * share:.1f}%"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rules(rules: dict[str, int]) -> str:
    return ", ".join(f"{r} {n}" for r, n in rules.items()) or "–"


def _table(title: str, rows: dict[str, Any], total: dict[str, Any]) -> list[str]:
    lines = [
        f"| {title} | mutants | equivalent | scored | detected | missed | rate | blocking rules |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, t in [*rows.items(), ("**all**", total)]:
        lines.append(
            f"| {name} | {t['mutants']} | {t['equivalent']} | {t['scored']} | {t['detected']} "
            f"| {t['missed']} | {_pct(t['rate'])} | {_rules(t['blocking_rules'])} |"
        )
    return lines


def to_markdown(
    meta: dict[str, Any],
    summary: dict[str, Any],
    controls: Sequence[Control],
    results: Sequence[MutantResult],
) -> str:
    index = meta["index"]
    total, fp = summary["all"], summary["controls"]["all"]
    drawn = (
        f"a sample of {meta['limit_units']} dose units (seed {meta['seed']})"
        if meta["limit_units"]
        else "every dose unit"
    )
    lines = [
        "# Dose guard mutations over curated corpus text",
        "",
        f"Index `{index['digest']}` ({', '.join(index['sources'])}; {index['documents']} "
        f"documents, {index['chunks']} chunks), {drawn}; dose reference "
        f"`{meta['reference_digest']}`. Made by `{meta['command']}`.",
        "",
        f"- Detection: **{_pct(total['rate'])}** ({total['detected']} of {total['scored']} "
        f"scored mutants; {total['equivalent']} equivalent of {total['mutants']}; target >= "
        f"{100 * TARGET_DETECTION:.1f}%).",
        f"- False positives: **{_pct(fp['share'])}** ({fp['withheld']} of {fp['units']} dose "
        f"units quoted as written withheld; target <= {100 * TARGET_FALSE_POSITIVES:.1f}%).",
        "",
        "## Controls",
        "",
        "| domain | dose units | withheld | share | by rule |",
        "|---|---:|---:|---:|---|",
    ]
    for name, c in summary["controls"].items():
        lines.append(
            f"| {name} | {c['units']} | {c['withheld']} | {_pct(c['share'])} "
            f"| {_rules(c['by_rule'])} |"
        )
    lines += ["", "## By mutation family", ""]
    lines += _table("family", summary["families"], total)
    lines += ["", "## By domain", ""]
    lines += _table("domain", summary["domains"], total)
    lines += ["", "## By unit kind", ""]
    lines += _table("unit kind", summary["kinds"], total)
    missed = [r for r in results if r.scored and not r.detected]
    lines += ["", f"## Missed mutants ({len(missed)})", ""]
    lines += _mutant_rows(missed, "guard's findings", lambda r: "; ".join(r.findings) or "none")
    equivalent = [r for r in results if not r.scored]
    lines += ["", f"## Equivalent mutants ({len(equivalent)})", ""]
    lines += _mutant_rows(
        equivalent,
        "why equivalent; guard",
        lambda r: (
            f"{r.equivalent}; " + ("allowed" if r.allowed else f"blocked: {', '.join(r.rule_ids)}")
        ),
    )
    withheld = [c for c in controls if not c.allowed]
    lines += ["", f"## Withheld controls ({len(withheld)})", ""]
    if withheld:
        lines += ["| domain | chunk | unit | text | findings |", "|---|---|---|---|---|"]
        lines += [
            f"| {c.domain} | `{c.chunk_id}` | {c.kind} | {_cell(c.text)} "
            f"| {_cell(' / '.join(c.messages))} |"
            for c in withheld
        ]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _mutant_rows(
    rows: Sequence[MutantResult], last: str, cell: Callable[[MutantResult], str]
) -> list[str]:
    if not rows:
        return ["None."]
    return [
        f"| family | domain | chunk | unit | change | mutated text | {last} |",
        "|---|---|---|---|---|---|---|",
    ] + [
        f"| {r.family} | {r.domain} | `{r.chunk_id}` | {r.kind} | {_cell(r.note)} "
        f"| {_cell(r.text)} | {_cell(cell(r))} |"
        for r in rows
    ]


def to_json(
    meta: dict[str, Any],
    summary: dict[str, Any],
    controls: Sequence[Control],
    results: Sequence[MutantResult],
) -> dict[str, Any]:
    return {
        **meta,
        **summary,
        "withheld_controls": [asdict(c) for c in controls if not c.allowed],
        "missed": [asdict(r) for r in results if r.scored and not r.detected],
        "equivalent": [asdict(r) for r in results if not r.scored],
    }


# ------------------------------------------------------------------ command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.corpus_mutations", description=(__doc__ or "").splitlines()[0]
    )
    add_corpus_arguments(parser)
    parser.add_argument(
        "--limit-units",
        type=int,
        default=None,
        metavar="N",
        help="check a sample of N dose units (drawn with --seed)",
    )
    parser.add_argument("--seed", type=int, default=0, help="the sample's seed (default 0)")
    parser.add_argument("--out", type=Path, default=None, help="write the report as Markdown")
    parser.add_argument("--json", type=Path, default=None, help="write the result as JSON")
    return parser


def _stderr(message: str) -> None:
    print(f"bedside: {message}", file=sys.stderr, flush=True)


def _command(argv: Sequence[str]) -> str:
    return " ".join(["python -m evals.corpus_mutations", *argv])


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.limit_units is not None and args.limit_units < 1:
        build_parser().error(
            f"--limit-units must be a whole number of 1 or more, got {args.limit_units}"
        )
    t0 = time.perf_counter()
    try:
        corpus = open_corpus(args.preset, args.index_dir, args.source or (), _stderr)
    except BedsideError as exc:
        print(f"bedside: {exc}", file=sys.stderr)
        return 2
    table = default_reference()
    controls, results = run(corpus, table, args.limit_units, args.seed, _stderr)
    summary = summarise(controls, results, corpus.index["sources"])
    meta = {
        "command": _command(sys.argv[1:] if argv is None else argv),
        "index": corpus.index,
        "reference_digest": table.digest,
        "limit_units": args.limit_units,
        "seed": args.seed,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    total, fp = summary["all"], summary["controls"]["all"]
    for name, t in summary["families"].items():
        print(
            f"{name}: {t['detected']} of {t['scored']} detected ({_pct(t['rate'])}), "
            f"{t['equivalent']} equivalent"
        )
    print(
        f"all: {total['detected']} of {total['scored']} detected ({_pct(total['rate'])}); "
        f"false positives {fp['withheld']} of {fp['units']} ({_pct(fp['share'])}); "
        f"{meta['wall_s']} s"
    )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(to_markdown(meta, summary, controls, results), encoding="utf-8")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(to_json(meta, summary, controls, results), ensure_ascii=False, indent=2)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
