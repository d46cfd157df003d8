"""Cross-check the doses in the pack's label summaries against real label text in ../shared.

    python -m evals.crosscheck [--out docs/PACK_CROSSCHECK.md]

The pack's ``label-*.md`` documents summarise US prescribing information in our own words and
were partly written from memory. The shared data sets hold some real label text: EU package
leaflets (``ema/docs.jsonl``, EMA ePI) and DailyMed / MedlinePlus answers
(``medicationqa/docs.jsonl``). For every label document this script

1. extracts each dose-like quantity from its sentences (bullets, paragraphs and table rows;
   headings are skipped),
2. finds the real documents about the same drug: EMA leaflets whose product name contains one
   of the drug's names in ``DRUGS``, and MedicationQA answers whose focus drug does,
3. looks the quantity up among the quantities extracted the same way from those documents,
   and writes a Markdown report: the counts, the mismatches and what was done about them,
   then per drug a table of pack quantity -> result, with the real doc id, a short quote and
   the review note. Drugs with no real text, or real text without any dose, say so.

Extraction (``extract_quantities``) is a handful of regular expressions, deterministic:

- a quantity is a number or a range (``12 to 24``, ``28-35``) directly followed by a unit:
  mg, mcg, g, units (USP units, IU and U count as units), mL, kg, seconds, minutes, hours,
  days, weeks, months, years, /mm3 and x 10^9/L; then optionally one or two "per" parts
  (``/kg``, ``/min``, ``/h``, ``/24 h``, ``/mL``, ``/50 mL``, ``/dL``, ``/m2``, written as
  ``/``, ``per`` or "for every kilogram of your weight"), so ``1.75 mg/kg/h`` and
  ``CrCl < 30 mL/min`` (read as ``30 mL/min``) are single quantities; the comparator is not
  part of the quantity;
- a frequency (once daily, twice daily, three times daily, every N hours) is attached when it
  follows the quantity within 60 characters, with no other number in between and no
  ``; ( |`` or sentence end before it; "twice a day" reads as twice daily, "once a day" and
  "each day" as once daily, and for comparison every 12 hours = twice daily, every 24 hours =
  once daily, every 8 hours = three times daily;
- a list ``30, 60 and 100 mg`` gives each number the unit of the last one;
- numbers inside a frequency ("every 12 hours") are not extracted as quantities of their own.

Normalisation before matching: ``µg``/``μg``/micrograms -> mcg; en dashes -> hyphens; a
comma followed by exactly three digits is a thousands separator (``5,000`` -> 5000), any other
comma between digits is a decimal comma (``2,5`` -> 2.5); trailing zeros go (``2.0`` -> 2);
the EU leaflets' ``100 IU (1 mg)`` pairs are read as the mg amount, so "100 IU (1 mg) for
every kilogram of your weight" is ``1 mg/kg``. Quotes in the report are the real text as
written.

A pack quantity is *found* when a real document about that drug has a quantity with the same
number (or range) and the same unit including its per parts, and, when the pack gives a
frequency, the same frequency. When the number and unit are there but never with the pack's
frequency (or with none), the result is *amount found, not its frequency*; otherwise *not
found*. Where several real occurrences match, the one with the same frequency, then the one in
a "how to take" section (EMA section 3), then the first doc id is quoted. Pack quantities are
reported once per document and display form, with the number of sentences they occur in.

Blind spots (why a human reads every row that is not plainly found; see ``REVIEW`` and
``MISMATCHES``):

- a number is matched, not a regimen: "2.5 mg" for one indication is found in a sentence
  about another indication, and a threshold is found whatever its comparator
  (``< 30 mL/min`` equals ``> 30 mL/min``);
- doses written as tablet counts ("two tablets of 5 mg twice a day" = 10 mg twice daily), in
  words ("eight hours") or as arithmetic are not recognised;
- percentages, INR values, ratios and scores are not extracted; ranges written
  "between 12 and 24" are read as two numbers; "per 1 mg of enoxaparin" and "per 0.1 mL" are
  not read as per parts;
- real documents are matched by name only: an EMA leaflet by product name, a MedicationQA
  answer by its focus drug, so a leaflet that mentions the drug in passing (Ondexxya for
  apixaban) is not used for that drug;
- the EU leaflets are patient leaflets, often for one strength only (the Xarelto and
  rivaroxaban leaflets here cover only the 2.5 mg tablet), so "not found" usually means the
  leaflet does not mention the regimen, not that the pack is wrong;
- the EU and US labels legitimately differ; a match confirms a number exists in the EU text,
  never that the US label says it.

Review notes (``REVIEW``, keyed by pack doc id and the quantity as shown in the report) and the
list of true mismatches with what was done about them (``MISMATCHES``) are data written by
the person who read the report; they are rendered into it, and a note that no longer matches
any extracted quantity is listed as stale.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from corpus.loaders.jsonl import load_jsonl
from corpus.loaders.pack import PACKS_DIR, load_pack
from corpus.text import split_sentences
from corpus.types import Document

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDSIDE_SHARED_DIR", REPO.parent / "shared"))
PACK = PACKS_DIR / "anticoagulation"
REAL_SETS = ("ema", "medicationqa")


# --- the drug table ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drug:
    """A pack label document and the names (generic, brands) its real documents go by."""

    doc_id: str
    name: str
    names: tuple[str, ...]


DRUGS: tuple[Drug, ...] = (
    Drug("label-heparin", "Unfractionated heparin", ("heparin", "heparin sodium")),
    Drug("label-enoxaparin", "Enoxaparin", ("enoxaparin", "lovenox", "inhixa", "clexane")),
    Drug("label-dalteparin", "Dalteparin", ("dalteparin", "fragmin")),
    Drug("label-fondaparinux", "Fondaparinux", ("fondaparinux", "arixtra")),
    Drug("label-argatroban", "Argatroban", ("argatroban",)),
    Drug("label-bivalirudin", "Bivalirudin", ("bivalirudin", "angiomax", "angiox")),
    Drug("label-antithrombin-human", "Antithrombin (human)", ("antithrombin", "thrombate")),
    Drug("label-antithrombin-recombinant", "Antithrombin (recombinant)", ("atryn",)),
    Drug("label-protamine", "Protamine", ("protamine",)),
    Drug("label-rivaroxaban", "Rivaroxaban", ("rivaroxaban", "xarelto")),
    Drug("label-apixaban", "Apixaban", ("apixaban", "eliquis")),
    Drug("label-dabigatran", "Dabigatran", ("dabigatran", "pradaxa")),
    Drug("label-edoxaban", "Edoxaban", ("edoxaban", "savaysa", "lixiana", "roteas")),
    # "coumadine" is how one MedicationQA focus spells Coumadin.
    Drug("label-warfarin", "Warfarin", ("warfarin", "coumadin", "coumadine", "jantoven")),
    Drug("label-danaparoid", "Danaparoid", ("danaparoid", "orgaran")),
    Drug("label-idarucizumab", "Idarucizumab", ("idarucizumab", "praxbind")),
    Drug("label-andexanet-alfa", "Andexanet alfa", ("andexanet", "andexxa", "ondexxya")),
    Drug("label-4f-pcc", "Four-factor PCC", ("kcentra", "prothrombin complex concentrate")),
)


# --- quantities --------------------------------------------------------------------------

_NUM = r"\d+(?:[.,]\d+)*"
# (pattern, canonical unit); longer spellings first so "mg" never eats "mg/dL" wrongly.
_UNITS: tuple[tuple[str, str], ...] = (
    (r"x\s*10\s*\^?\s*9\s*/\s*L", "x10^9/L"),
    (r"/\s*mm3", "/mm3"),
    (r"(?:mcg|µg|μg|micrograms?)", "mcg"),
    (r"(?:mg|milligrams?)", "mg"),
    (r"(?:g|grams?)", "g"),
    (r"(?:USP units?|international units|IU|[Uu]nits?|U)", "units"),
    (r"(?:mL|ml|millilit(?:re|er)s?)", "mL"),
    (r"(?:kg|kilograms?)", "kg"),
    (r"(?:seconds?|secs?)", "s"),
    (r"(?:minutes?|mins?)", "min"),
    (r"(?:hours?|hrs?|h)", "h"),
    (r"days?", "days"),
    (r"weeks?", "weeks"),
    (r"months?", "months"),
    (r"years?", "years"),
)
_UNIT = "|".join(f"(?:{p})" for p, _ in _UNITS)
_PER_UNITS: tuple[tuple[str, str], ...] = (
    (r"(?:kg|kilograms?)(?:\s+of\s+(?:your\s+)?(?:body\s+)?weight)?", "kg"),
    (r"(?:minutes?|min)", "min"),
    (r"(?:hours?|hr|h)", "h"),
    (r"days?", "day"),
    (r"dL", "dL"),
    (r"m2", "m2"),
    (r"(?:mL|ml)", "mL"),
    (r"L", "L"),
)
_PER_UNIT = "|".join(f"(?:{p})" for p, _ in _PER_UNITS)
_PER = rf"(?:\)?\s*(?:/|\bper\b|\bfor (?:every|each)\b)\s*(?:\d+\s*)?(?:{_PER_UNIT})(?![A-Za-z]))"
_QUANTITY = re.compile(
    rf"(?<![\d.,^/])(?:{_NUM}\s*IU\s*\(\s*)?(?P<lo>{_NUM})"
    rf"(?:\s*(?:{_UNIT})?\s*(?:-|to)\s*(?P<hi>{_NUM}))?"
    rf"\s*(?P<unit>{_UNIT})(?![A-Za-z0-9])"
    rf"(?P<per>{_PER}{{0,2}})"
)
_PER_PART = re.compile(
    rf"\)?\s*(?:/|\bper\b|\bfor (?:every|each)\b)\s*(?:(?P<n>\d+)\s*)?(?P<u>{_PER_UNIT})"
)
_LIST_BEFORE = re.compile(rf"(?<![\w.,^/])({_NUM}(?:\s*,\s*{_NUM})*)\s*,?\s*(?:and|or)\s*$")
_FREQ = re.compile(
    r"(?P<bid>\btwice[- ](?:daily|a day)\b|\btwo times a day\b|\bb\.?i\.?d\b)"
    r"|(?P<tid>\bthree times (?:daily|a day)\b)"
    r"|(?P<every>\bevery\s+(?P<e1>\d+)(?:\s*(?:-|to)\s*(?P<e2>\d+))?\s*(?:hours?|h)\b)"
    r"|(?P<qd>\bonce[- ](?:daily|a day)\b|\beach day\b|\bevery day\b|\bdaily\b|\bper day\b)",
    re.IGNORECASE,
)
_FREQ_STOP = re.compile(r"[;(|]|\.(?:\s|$)")
_SAME_LENGTH = str.maketrans({"×": "x", "–": "-", "—": "-", "\u00a0": " "})


def _canonical_unit(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for pattern, canonical in table:
        if re.fullmatch(pattern, text.strip()):
            return canonical
    raise ValueError(f"unknown unit {text!r}")  # the patterns above are the same alternatives


def normalise_number(text: str) -> str:
    """``5,000`` -> ``5000``; ``2,5`` -> ``2.5``; ``2.50`` -> ``2.5``; ``10.0`` -> ``10``."""
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", text):
        text = text.replace(",", "")
    else:
        text = text.replace(",", ".")
    if text.count(".") > 1:  # "1.2.3" is not a number we can read; keep it as written
        return text
    value = Decimal(text)
    return format(value.normalize() if value != value.to_integral() else value.to_integral(), "f")


def normalise_text(text: str) -> str:
    """Character-for-character normalisation (dashes, multiplication sign, no-break space).

    The result has the same length as ``text``, so offsets into it are offsets into ``text``.
    """
    return text.translate(_SAME_LENGTH)


def _frequency(match: re.Match[str]) -> str:
    if match.group("bid"):
        return "twice daily"
    if match.group("tid"):
        return "three times daily"
    if match.group("qd"):
        return "once daily"
    lo, hi = match.group("e1"), match.group("e2")
    return f"every {lo}-{hi} h" if hi else f"every {lo} h"


def frequency_class(frequency: str | None) -> str | None:
    """Frequencies that mean the same: every 12 h = twice daily, every 24 h = once daily."""
    return _SAME_FREQUENCY.get(frequency, frequency) if frequency else None


_SAME_FREQUENCY = {
    "every 24 h": "once daily",
    "every 12 h": "twice daily",
    "every 8 h": "three times daily",
}


def _kind(unit: str) -> str:
    base = unit.split("/", 1)[0]
    if unit in ("mL/min",):
        return "renal"
    if unit == "kg":
        return "weight"
    if base in ("s", "min", "h", "days", "weeks", "months"):
        return "time"
    if base == "years":
        return "age"
    if base in ("", "x10^9") or unit.endswith(("/mL", "/dL", "/L")) or unit == "/mm3":
        return "level"
    if unit == "mL":
        return "volume"
    return "dose"


@dataclass(frozen=True, slots=True)
class Quantity:
    """One dose-like quantity: canonical number or range, unit with per parts, frequency."""

    value: str
    unit: str
    frequency: str | None = None
    start: int = field(default=0, compare=False)
    end: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        """What is matched: number (or range) and unit, e.g. ``1 mg/kg``, ``12-24 h``."""
        return (
            f"{self.value}{self.unit}" if self.unit.startswith("/") else f"{self.value} {self.unit}"
        )

    @property
    def display(self) -> str:
        return f"{self.key} {self.frequency}" if self.frequency else self.key

    @property
    def kind(self) -> str:
        return _kind(self.unit)


def _per_parts(text: str) -> str:
    parts = []
    for m in _PER_PART.finditer(text):
        unit = _canonical_unit(m.group("u"), _PER_UNITS)
        parts.append(f"/{m.group('n')} {unit}" if m.group("n") else f"/{unit}")
    return "".join(parts)


def _frequency_after(text: str, end: int) -> str | None:
    window = text[end : end + 60]
    stop = _FREQ_STOP.search(window)
    if stop:
        window = window[: stop.start()]
    match = _FREQ.search(window)
    if match is None or re.search(r"\d", window[: match.start()]):
        return None
    return _frequency(match)


def extract_quantities(text: str) -> list[Quantity]:
    """Every dose-like quantity in ``text`` (one sentence or a short passage), in order."""
    text = normalise_text(text)
    masked = [m.span() for m in _FREQ.finditer(text) if m.group("every")]
    found: list[Quantity] = []
    for m in _QUANTITY.finditer(text):
        if any(s <= m.start() < e for s, e in masked):
            continue
        lo = normalise_number(m.group("lo"))
        value = f"{lo}-{normalise_number(m.group('hi'))}" if m.group("hi") else lo
        unit = _canonical_unit(m.group("unit"), _UNITS) + _per_parts(m.group("per"))
        freq = _frequency_after(text, m.end())
        listed = _LIST_BEFORE.search(text, 0, m.start())
        if listed and not m.group("hi"):
            for n in re.findall(_NUM, listed.group(1)):
                found.append(Quantity(normalise_number(n), unit, freq, listed.start(), m.end()))
        found.append(Quantity(value, unit, freq, m.start(), m.end()))
    return found


# --- pack and real documents -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Occurrence:
    """A quantity in context: the document, the sentence, the quantity."""

    doc_id: str
    section: str
    sentence: str
    quantity: Quantity


def pack_sentences(text: str) -> Iterable[str]:
    """Sentences of a pack document body: bullets and paragraphs split, table rows as one."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            yield " | ".join(cells)
            continue
        line = line.removeprefix("- ")
        for s, e in split_sentences(line):
            yield line[s:e]


def occurrences(doc: Document, sentences: Iterable[str]) -> list[Occurrence]:
    out = []
    for sentence in sentences:
        for q in extract_quantities(sentence):
            out.append(Occurrence(doc.id, doc.section or "", sentence, q))
    return out


def real_sentences(text: str) -> Iterable[str]:
    for line in text.splitlines():
        for s, e in split_sentences(line):
            yield line[s:e]


def _has_name(haystack: str, names: Sequence[str]) -> bool:
    hay = haystack.lower()
    return any(re.search(rf"(?<![a-z]){re.escape(n)}(?![a-z])", hay) for n in names)


def real_docs_for(drug: Drug, real: Sequence[Document]) -> list[Document]:
    """EMA leaflets by product name, MedicationQA answers by focus drug."""
    out = []
    for doc in real:
        if doc.id.startswith("ema:"):
            subject = f"{doc.meta.get('product', '')} {doc.meta.get('product_name', '')}"
        elif doc.id.startswith("medicationqa:"):
            subject = str(doc.meta.get("focus", ""))
        else:
            continue
        if _has_name(subject, drug.names):
            out.append(doc)
    return out


def quote(sentence: str, q: Quantity, width: int = 150) -> str:
    """A short quote around the quantity, one line, no pipes (it goes into a table)."""
    lo = max(0, q.start - width // 2)
    hi = min(len(sentence), max(q.end + width // 2, lo + width))
    text = sentence[lo:hi].replace("|", "/").replace("\n", " ").strip()
    return ("…" if lo > 0 else "") + text + ("…" if hi < len(sentence) else "")


# --- the check ---------------------------------------------------------------------------

FOUND = "found"
AMOUNT_ONLY = "amount found, not its frequency"
NOT_FOUND = "not found"
STATUSES = (FOUND, AMOUNT_ONLY, NOT_FOUND)


@dataclass(frozen=True, slots=True)
class Row:
    """One distinct pack quantity (as displayed) of one label document and its result."""

    doc_id: str
    quantity: Quantity
    pack_sentence: str
    pack_count: int
    status: str
    real: Occurrence | None


def _section_rank(occ: Occurrence) -> int:
    return 0 if occ.doc_id.startswith("ema:") and occ.doc_id.endswith(":3") else 1


def check_document(doc: Document, real: Sequence[Occurrence]) -> list[Row]:
    """Rows for one pack label document against the real occurrences for its drug.

    found: a real quantity has the same number and unit and, when the pack gives a
    frequency, the same frequency; amount found, not its frequency: the number and unit are
    there but never with the pack's frequency; not found: the number and unit are not there.
    """
    by_key: dict[str, list[Occurrence]] = {}
    for occ in real:
        by_key.setdefault(occ.quantity.key, []).append(occ)
    groups: dict[str, list[Occurrence]] = {}
    for occ in occurrences(doc, pack_sentences(doc.text)):
        groups.setdefault(occ.quantity.display, []).append(occ)
    rows = []
    for group in groups.values():
        q = group[0].quantity
        want = frequency_class(q.frequency)
        hits = sorted(
            by_key.get(q.key, []),
            key=lambda o: (
                frequency_class(o.quantity.frequency) != want,
                _section_rank(o),
                o.doc_id,
            ),
        )
        if not hits:
            status = NOT_FOUND
        elif want is None or frequency_class(hits[0].quantity.frequency) == want:
            status = FOUND
        else:
            status = AMOUNT_ONLY
        rows.append(
            Row(doc.id, q, group[0].sentence, len(group), status, hits[0] if hits else None)
        )
    return rows


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A true difference between a pack document and the real text, and what was done."""

    doc_id: str
    action: str  # "corrected", "explained" or "removed"
    pack: str
    real: str
    note: str


# Review notes written after reading the report, keyed by (pack doc id, quantity as shown).
# They start with the outcome: "not in leaflet" (the real text does not mention that regimen
# or number; nothing to change), "equivalent" (the same dose written another way),
# "coincidental" (the number matched in an unrelated sentence), or "explained" (a true US/EU
# difference, now stated in the pack document; see MISMATCHES).
_NOT_IN_INHIXA = "not in leaflet: the Inhixa patient leaflet does not give this number"
_INHIXA_RENAL = (
    "not in leaflet: the Inhixa leaflet says only that a smaller amount may be given with kidney "
    "problems, without a CrCl cut-off or dose"
)
_ARIXTRA_TREATMENT = (
    "not in leaflet: the Arixtra leaflet in the data is for the 1.5 mg and 2.5 mg syringes "
    "(prophylaxis); the weight-banded treatment doses are not in it"
)
_NOT_IN_ARIXTRA = "not in leaflet: the Arixtra patient leaflet does not give this number"
_XARELTO_25 = (
    "not in leaflet: the Xarelto and Rivaroxaban Viatris leaflets in the data are for the "
    "2.5 mg tablet only (coronary or peripheral artery disease, with aspirin)"
)
_DABIGATRAN_CRCL = (
    "not in leaflet: the EU dabigatran leaflets give no CrCl numbers (they say kidney function "
    "'decreased by more than half' or 'severely reduced')"
)
_DABIGATRAN_CAPSULES = (
    "not in leaflet: the EU dabigatran leaflets in the data cover adult hip and knee replacement "
    "prophylaxis and children only; the atrial fibrillation and DVT/PE doses are not in them"
)
_EDOXABAN_CRCL = (
    "not in leaflet: the EU edoxaban leaflets say 'impaired kidney function' without CrCl numbers"
)
REVIEW: dict[tuple[str, str], str] = {
    ("label-enoxaparin", "30 mg every 12 h"): (
        "explained: the Inhixa leaflet has no 30 mg every-12-hours prophylaxis (it gives 20 mg or "
        "40 mg once daily); its 30 mg is the STEMI IV bolus"
    ),
    ("label-enoxaparin", "12-24 h"): (
        "not in leaflet: Inhixa gives no postoperative start for this US regimen (its surgical "
        "doses start 2 or 12 hours before the operation)"
    ),
    ("label-enoxaparin", "72 h"): _NOT_IN_INHIXA + " (warfarin overlap)",
    ("label-enoxaparin", "5 days"): _NOT_IN_INHIXA + " (warfarin overlap)",
    ("label-enoxaparin", "7 days"): _NOT_IN_INHIXA + " (average duration in US trials)",
    ("label-enoxaparin", "30 mL/min"): _INHIXA_RENAL,
    ("label-enoxaparin", "30 mg once daily"): _INHIXA_RENAL + "; the real 30 mg is the STEMI bolus",
    ("label-enoxaparin", "1 mg/kg once daily"): _INHIXA_RENAL
    + "; the real 1 mg/kg is the twice-daily dose",
    ("label-enoxaparin", "50-80 mL/min"): _INHIXA_RENAL,
    ("label-enoxaparin", "30-50 mL/min"): _INHIXA_RENAL,
    ("label-enoxaparin", "45 kg"): _NOT_IN_INHIXA + " (it says only 'underweight or overweight')",
    ("label-enoxaparin", "57 kg"): _NOT_IN_INHIXA + " (it says only 'underweight or overweight')",
    ("label-enoxaparin", "30 kg/m2"): _NOT_IN_INHIXA
    + " (it says only 'underweight or overweight')",
    ("label-enoxaparin", "30 mg twice daily"): _NOT_IN_INHIXA
    + " (catheter timing by dose); the real 30 mg is the STEMI bolus",
    ("label-enoxaparin", "4 h"): _NOT_IN_INHIXA + " (catheter timing)",
    ("label-enoxaparin", "100000/mm3"): _NOT_IN_INHIXA + " (it mentions platelet blood tests)",
    ("label-enoxaparin", "1 mg"): _NOT_IN_INHIXA + " (protamine reversal)",
    ("label-enoxaparin", "0.5 mg"): _NOT_IN_INHIXA + " (protamine reversal)",
    ("label-enoxaparin", "2-4 h"): _NOT_IN_INHIXA + " (protamine reversal)",
    ("label-enoxaparin", "100 mg"): (
        "coincidental: the real 100 mg is the strength (100 mg per mL); the leaflet does not give "
        "the US cap of 100 mg for the first two STEMI doses"
    ),
    ("label-enoxaparin", "8 h"): (
        "coincidental: the real 8 hours is the in-use time after dilution; the protamine 8-hour "
        "window is not in the leaflet"
    ),
    ("label-fondaparinux", "6-8 h"): _NOT_IN_ARIXTRA + " (first dose after surgery)",
    ("label-fondaparinux", "5-9 days"): _NOT_IN_ARIXTRA
    + " (it says 'as long as your doctor has told you')",
    ("label-fondaparinux", "32 days"): _NOT_IN_ARIXTRA + " (hip fracture extended prophylaxis)",
    ("label-fondaparinux", "5 mg once daily"): _ARIXTRA_TREATMENT,
    ("label-fondaparinux", "50-100 kg"): _ARIXTRA_TREATMENT,
    ("label-fondaparinux", "7.5 mg once daily"): _ARIXTRA_TREATMENT,
    ("label-fondaparinux", "100 kg"): _ARIXTRA_TREATMENT,
    ("label-fondaparinux", "10 mg once daily"): _ARIXTRA_TREATMENT,
    ("label-fondaparinux", "72 h"): _NOT_IN_ARIXTRA + " (warfarin overlap)",
    ("label-fondaparinux", "5 days"): _NOT_IN_ARIXTRA + " (warfarin overlap)",
    ("label-fondaparinux", "30 mL/min"): (
        "explained: the Arixtra leaflet gives 1.5 mg once daily in kidney disease and contraindicates "
        "only very severe kidney disease, without CrCl numbers; the US label contraindicates CrCl "
        "below 30 mL/min"
    ),
    (
        "label-fondaparinux",
        "30-50 mL/min",
    ): "not in leaflet: no CrCl numbers; see the 30 mL/min row",
    ("label-fondaparinux", "100000/mm3"): _NOT_IN_ARIXTRA + " (platelet threshold)",
    ("label-fondaparinux", "17-21 h"): _NOT_IN_ARIXTRA + " (half-life)",
    ("label-rivaroxaban", "15 mg twice daily"): _XARELTO_25,
    ("label-rivaroxaban", "21 days"): _XARELTO_25,
    ("label-rivaroxaban", "20 mg once daily"): _XARELTO_25,
    ("label-rivaroxaban", "6 months"): _XARELTO_25,
    ("label-rivaroxaban", "10 mg once daily"): _XARELTO_25
    + "; the real 10 mg is only the heading of the Xarelto 10 mg leaflet, whose text is not in the data",
    ("label-rivaroxaban", "35 days"): _XARELTO_25,
    ("label-rivaroxaban", "6-10 h"): _XARELTO_25,
    ("label-rivaroxaban", "12 days"): _XARELTO_25,
    ("label-rivaroxaban", "31-39 days"): _XARELTO_25,
    ("label-rivaroxaban", "50 mL/min"): _XARELTO_25,
    ("label-rivaroxaban", "15 mg once daily"): _XARELTO_25,
    ("label-rivaroxaban", "15 mL/min"): _XARELTO_25,
    ("label-rivaroxaban", "30 mL/min"): _XARELTO_25,
    ("label-apixaban", "10 mg twice daily"): (
        "equivalent: the EU leaflet gives two 5 mg tablets twice a day for the first 7 days "
        "(= 10 mg twice daily), ema:apixaban:3; now also stated in the pack"
    ),
    ("label-apixaban", "35 days"): (
        "explained: the EU leaflet gives 32 to 38 days after hip replacement (ema:apixaban:3); "
        "the US label 35 days"
    ),
    ("label-apixaban", "12 days"): (
        "explained: the EU leaflet gives 10 to 14 days after knee replacement (ema:apixaban:3); "
        "the US label 12 days"
    ),
    ("label-dabigatran", "30 mL/min"): _DABIGATRAN_CRCL,
    ("label-dabigatran", "150 mg twice daily"): _DABIGATRAN_CAPSULES
    + "; the real 150 mg is the EU reduced prophylaxis dose of 150 mg once daily",
    ("label-dabigatran", "5-10 days"): _DABIGATRAN_CAPSULES,
    ("label-dabigatran", "15-30 mL/min"): _DABIGATRAN_CRCL,
    ("label-dabigatran", "75 mg twice daily"): _DABIGATRAN_CAPSULES
    + "; the real 75 mg is the capsule used for the EU reduced prophylaxis dose",
    ("label-dabigatran", "15 mL/min"): _DABIGATRAN_CRCL,
    ("label-dabigatran", "50 mL/min"): _DABIGATRAN_CRCL,
    ("label-dabigatran", "30-50 mL/min"): _DABIGATRAN_CRCL,
    ("label-edoxaban", "95 mL/min"): (
        "explained: the EU edoxaban leaflets do not mention the US limit above CrCl 95 mL/min"
    ),
    ("label-edoxaban", "5-10 days"): (
        "not in leaflet: the EU edoxaban leaflets do not give the lead-in parenteral anticoagulation"
    ),
    ("label-edoxaban", "15-50 mL/min"): _EDOXABAN_CRCL,
    ("label-edoxaban", "50 mL/min"): _EDOXABAN_CRCL,
    ("label-edoxaban", "15 mL/min"): _EDOXABAN_CRCL,
}

_EXPLAINED = "explained in the pack document's '## US and EU labelling' section"
MISMATCHES: tuple[Mismatch, ...] = (
    Mismatch(
        "label-apixaban",
        "explained",
        "prophylaxis 35 days after hip and 12 days after knee replacement",
        "32 to 38 days after hip and 10 to 14 days after knee replacement (ema:apixaban:3)",
        f"Durations differ between the US label and the EU leaflet; both {_EXPLAINED}.",
    ),
    Mismatch(
        "label-apixaban",
        "explained",
        "atrial fibrillation: 2.5 mg twice daily only with 2 of age 80 years or older, 60 kg or "
        "less, serum creatinine 1.5 mg/dL or more",
        "2.5 mg twice daily also for severely reduced kidney function alone (ema:apixaban:3)",
        f"EU has an extra renal criterion for the reduced dose; {_EXPLAINED}.",
    ),
    Mismatch(
        "label-fondaparinux",
        "explained",
        "contraindicated if CrCl < 30 mL/min; no 1.5 mg dose",
        "1.5 mg once daily in kidney disease; contraindicated only in very severe kidney disease "
        "(ema:arixtra:2, ema:arixtra:3)",
        f"The EU reduced 1.5 mg dose does not exist in the US label; {_EXPLAINED}.",
    ),
    Mismatch(
        "label-fondaparinux",
        "explained",
        "prophylaxis contraindicated under 50 kg",
        "weight under 50 kg is a reason for caution (ema:arixtra:2)",
        f"Contraindication (US) versus caution (EU); {_EXPLAINED}.",
    ),
    Mismatch(
        "label-enoxaparin",
        "explained",
        "hip or knee replacement prophylaxis 30 mg every 12 hours",
        "surgical prophylaxis 20 mg or 40 mg once daily, first dose 2 or 12 hours before "
        "surgery (ema:inhixa:3)",
        f"The US 30 mg every-12-hours regimen has no EU counterpart; {_EXPLAINED}.",
    ),
    Mismatch(
        "label-dabigatran",
        "explained",
        "hip replacement prophylaxis: 110 mg then 220 mg once daily; no reduced dose",
        "reduced prophylaxis dose 150 mg once daily (kidney function decreased by more than half, "
        "75 years or older, amiodarone, quinidine or verapamil); knee replacement 10 days "
        "(ema:pradaxa:3, ema:dabigatran:3)",
        f"The EU reduced dose and knee indication are not in the US label; {_EXPLAINED}.",
    ),
    Mismatch(
        "label-edoxaban",
        "explained",
        "atrial fibrillation: 30 mg once daily only for CrCl 15 to 50 mL/min; not above CrCl "
        "95 mL/min",
        "30 mg once daily also for 60 kg or lower and P-gp inhibitors, for every indication; no "
        "CrCl 95 mL/min limit (ema:lixiana:4, ema:roteas:4)",
        f"Dose-reduction criteria differ by indication; {_EXPLAINED}.",
    ),
    Mismatch(
        "label-andexanet-alfa",
        "explained",
        "unknown last dose counts as the higher dose; unknown timing as < 8 hours",
        "no dose recommendation when the strength or timing of the last dose is unknown "
        "(ema:ondexxya:6)",
        f"The US table's 'unknown' rows have no EU counterpart; {_EXPLAINED}.",
    ),
)


# --- report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrugResult:
    """A drug's pack document, its real documents, and the rows when there is anything to check."""

    drug: Drug
    doc: Document | None
    real_ids: tuple[str, ...]
    real_quantities: int
    rows: tuple[Row, ...]
    pack_quantities: int

    @property
    def checked(self) -> bool:
        return self.real_quantities > 0


def run(pack: Sequence[Document], real: Sequence[Document]) -> list[DrugResult]:
    """Cross-check every drug in ``DRUGS`` (its pack label document) against ``real``."""
    labels = {d.id: d for d in pack if d.source_type == "label"}
    results = []
    for drug in DRUGS:
        doc = labels.get(drug.doc_id)
        docs = real_docs_for(drug, real)
        real_occ = [o for d in docs for o in occurrences(d, real_sentences(d.text))]
        rows = tuple(check_document(doc, real_occ)) if doc else ()
        results.append(
            DrugResult(
                drug,
                doc,
                tuple(d.id for d in docs),
                len(real_occ),
                rows if real_occ else (),
                len(rows),
            )
        )
    return results


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def _trim(text: str, width: int = 110) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _counts(rows: Iterable[Row]) -> dict[str, int]:
    rows = list(rows)
    return {s: sum(r.status == s for r in rows) for s in STATUSES}


def _real_label(res: DrugResult) -> str:
    if not res.real_ids:
        return "none"
    kinds = sorted(
        {"EMA leaflet" if i.startswith("ema:") else "MedicationQA" for i in res.real_ids}
    )
    return " + ".join(kinds) + ("" if res.checked else " (no doses)")


def to_markdown(results: Sequence[DrugResult], stamps: dict[str, str]) -> str:
    """The cross-check report (deterministic: same pack and data, same bytes)."""
    rows = [r for res in results for r in res.rows]
    total = _counts(rows)
    keys = {(r.doc_id, r.quantity.display) for r in rows}
    flagged = [r for r in rows if r.status != FOUND]
    reviewed = sum((r.doc_id, r.quantity.display) in REVIEW for r in flagged)
    actions = {
        a: sum(m.action == a for m in MISMATCHES) for a in ("corrected", "explained", "removed")
    }
    checked = [res for res in results if res.checked]
    lines = [
        "# Pack label summaries cross-checked against real label text",
        "",
        "Generated by `python -m evals.crosscheck --out docs/PACK_CROSSCHECK.md`; how quantities are",
        "extracted and matched, and the blind spots, are in the docstring of `evals/crosscheck.py`.",
        "Real text: "
        + ", ".join(f"`../shared/data/{k}/docs.jsonl` (sha256 {v})" for k, v in stamps.items())
        + ".",
        "",
        "The real text is EU package leaflets (EMA ePI) and MedicationQA answers (DailyMed or",
        "MedlinePlus excerpts), while the pack summarises US labels: a number missing from an EU",
        "patient leaflet is not an error by itself. Every row that is not a plain match was read;",
        "its review note says why it differs and what, if anything, was changed in the pack.",
        "",
        "## Summary",
        "",
        f"- Label documents: {len(results)}; checked against real text with doses: {len(checked)}; "
        f"real text without any dose: {sum(bool(r.real_ids) and not r.checked for r in results)}; "
        f"no real text: {sum(not r.real_ids for r in results)}.",
        f"- Pack quantities checked (distinct per document): {len(rows)}.",
        f"- Found: {total[FOUND]}; amount found but not with the pack's frequency: "
        f"{total[AMOUNT_ONLY]}; not found: {total[NOT_FOUND]}.",
        f"- Rows not plainly found that carry a review note: {reviewed} of {len(flagged)}.",
        f"- True mismatches between pack and real text: {len(MISMATCHES)} (corrected in the pack: "
        f"{actions['corrected']}; explained in the pack: {actions['explained']}; number removed: "
        f"{actions['removed']}).",
        "",
        "| drug | pack doc | real text | pack quantities | found | amount only | not found |",
        "|---|---|---|---|---|---|---|",
    ]
    for res in results:
        c = _counts(res.rows)
        cells = " | ".join(str(c[s]) for s in STATUSES) if res.checked else "– | – | –"
        lines.append(
            f"| {res.drug.name} | `{res.drug.doc_id}` | {_real_label(res)} "
            f"| {res.pack_quantities} | {cells} |"
        )
    if MISMATCHES:
        lines += [
            "",
            "## Mismatches and what was done",
            "",
            "| pack doc | action | pack (US label) | real text | note |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| `{m.doc_id}` | {m.action} | {_cell(m.pack)} | {_cell(m.real)} | {_cell(m.note)} |"
            for m in MISMATCHES
        ]
    for res in results:
        lines += ["", f"## {res.drug.name} (`{res.drug.doc_id}`)", ""]
        if res.doc is None:
            lines.append("The pack has no document with this id.")
            continue
        if not res.real_ids:
            lines.append(
                "No real text available: no EMA leaflet or MedicationQA answer is about "
                f"{', '.join(res.drug.names)}. The {res.pack_quantities} pack quantities are "
                "unchecked here."
            )
            continue
        ids = ", ".join(f"`{i}`" for i in res.real_ids)
        if not res.checked:
            lines.append(
                f"Real text exists ({ids}) but holds no dose-like quantity, so the "
                f"{res.pack_quantities} pack quantities are unchecked here."
            )
            continue
        lines += [
            f"Real documents: {ids}.",
            "",
            "| pack quantity (×sentences) | pack sentence | result | real doc | real text | review |",
            "|---|---|---|---|---|---|",
        ]
        for r in res.rows:
            times = f" (×{r.pack_count})" if r.pack_count > 1 else ""
            real_id = f"`{r.real.doc_id}`" if r.real else ""
            real_q = _cell(quote(r.real.sentence, r.real.quantity)) if r.real else ""
            note = _cell(REVIEW.get((r.doc_id, r.quantity.display), ""))
            lines.append(
                f"| {r.quantity.display}{times} | {_cell(_trim(r.pack_sentence))} | {r.status} "
                f"| {real_id} | {real_q} | {note} |"
            )
        mine = [m for m in MISMATCHES if m.doc_id == res.drug.doc_id]
        if mine:
            lines.append("")
            lines += [f"- Mismatch, {m.action}: {m.note}" for m in mine]
    stale = sorted(k for k in REVIEW if k not in keys)
    if stale:
        lines += ["", "## Stale review notes", ""]
        lines += [
            f"- `{d}` / {q}: no such checked quantity in the pack any more." for d, q in stale
        ]
    return "\n".join(lines) + "\n"


def load_real(data_dir: Path) -> list[Document]:
    docs: list[Document] = []
    for name in REAL_SETS:
        result = load_jsonl(data_dir / name / "docs.jsonl")
        for problem in result.problems[:5]:
            print(f"warning: {problem}", file=sys.stderr)
        docs.extend(result.documents)
    return docs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    args = parser.parse_args(argv)
    data_dir = SHARED / "data"
    missing = [n for n in REAL_SETS if not (data_dir / n / "docs.jsonl").is_file()]
    if missing:
        print(
            f"shared data not found ({', '.join(missing)} under {data_dir}); nothing to "
            "cross-check. Set BEDSIDE_SHARED_DIR to the folder that holds data/.",
            file=sys.stderr,
        )
        return 0
    pack = load_pack(PACK)
    for problem in pack.problems:
        print(f"warning: {problem}", file=sys.stderr)
    stamps = {n: _sha(data_dir / n / "docs.jsonl") for n in REAL_SETS}
    report = to_markdown(run(pack.documents, load_real(data_dir)), stamps)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(report, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
