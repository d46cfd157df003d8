"""Dose extraction: every dose an answer states, with the drug, route, frequency and phase
the sentence gives it, and every number next to a drug that cannot be read (fail closed).

How a sentence is read:

- The text is first folded character by character (unicode digits to ASCII, NFKC where it
  stays one character, dashes to "-") and then normalised (guardrails/normalise.py: HTML
  tags and entities, Markdown marks, invisible characters and combining marks go;
  "80k units", "1/2 mg" and "2x2.5 g" are read as written numbers). Every span returned
  is an offset into the original text.
- Drugs are whole-word, case-insensitive matches of the lexicon's names, longest first
  ("low-molecular-weight heparin" is the class, not heparin): by default every drug
  (guardrails/lexicon.py: the reference's drugs, then the drug-named-entity-recognition
  package's), with conservative fuzzy matches for misspellings of the reference's own
  drugs ("argatroben"). A name that is a common English word counts only with a dose
  written next to it ("insulin 10 units").
- An amount is a number (digits or words) or a range, then a dose unit (mass, USP or
  international units, mL), then optional /kg and /time. Numbers with any other unit
  (mL/min, kg, hours, %, mg/dL, /mm3) are not doses and are skipped. A count of a
  strength ("two 2.5 g vials", "2 vials of 2.5 g", "2 x 2.5 g") is one amount, the
  total, with ``count`` set.
- Numbers: "5,000" is five thousand; a decimal comma is read only where it cannot be a
  thousands separator: a comma followed by one or two digits ("1,5 mg"), or any digits
  after a leading zero ("0,125 mg"). "1,500" is always 1500. Mixed or space-grouped
  numbers ("1.500,5", "5 000") are ambiguous: next to a dose unit they are Unparsed.
- Forms no dose is written in are Unparsed, never read: scientific and hexadecimal
  notation ("1e309 mg/kg", "0x10 mg"), negative amounts ("-1 mg/kg", "minus 1 mg"),
  exponents and superscripts ("1^0 mg/kg", "10³ units"), infinities and NaN, a fraction
  or combination strength normalise did not read ("3/2 mg", "24/26 mg"), and a bare
  number that corrects a dose ("1 mg/kg, actually make it 10"; "No wait, 10." after a
  sentence naming the drug). A number with a letter that looks like a digit inside or
  right after its digits ("1O mcg/kg/min", "8O0 units/kg", "1l mg") is Unparsed next to a
  drug, and with a dose unit after it wherever it stands.
- Frequency is read in every way it is written: "q12h", "qh", "q15min", "every 2 hours",
  "every hour", "hourly", "6-hourly", "every 30 minutes", "4 times a day" (any count),
  "twice daily", "BID", "once weekly", "every other day".
- Ratios, changes and diluents are not doses: "per 1 mg of enoxaparin", "neutralizes
  100 units of heparin", "reduced by 2,500 units", "in 250 mL".
- Each amount takes the drug named just before it in the sentence ("of heparin" right
  after it wins; a drug named only inside a ratio does not count), else the one after
  it. Route, frequency and phase are the nearest keywords within the amount's clause
  ("without a bolus" does not count); a list ("400 mg or 800 mg IV bolus") shares them,
  and an amount in parentheses inherits them from the amount it annotates, so a
  restatement ("1 mg/kg every 12 hours (i.e. 10 mg/kg)") is a second dose of the drug.
- A number next to a drug that looks like a dose but has no readable unit ("enoxaparin
  40 subcut", "argatroban 2 per kg", "5 000 units", "1 mg/m2") is an Unparsed.
- A line break ends a sentence; no sentence ends inside parentheses; a "sentence" over
  2,000 characters is cut at whitespace. Every pattern has bounded repetition, so hostile
  input stays linear, and repeated sentences are read once (cached).
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

from corpus.text import split_sentences
from guardrails.lexicon import (
    DrugHit,
    Lexicon,
    drug_lexicon,
    graded_names,
    name_tokens,
    reference_lexicon,
)
from guardrails.measures import grammar as measures_grammar
from guardrails.measures import name_id
from guardrails.normalise import fold, normalise_changed
from guardrails.reference import Drug
from guardrails.types import Amount, DoseMention, Phase, Route, Unparsed
from guardrails.units import normalise_unit

__all__ = ["DrugHit", "Lexicon", "default_lexicon", "extract", "find_drugs", "fold"]

PerTime = Literal["min", "h", "day"]

# ------------------------------------------------------------------ drugs

_WORD = re.compile(r"[^\W_]+")
# Words after a drug name that make it a description, not the drug: "heparin-induced".
_NOT_THE_DRUG_AFTER = re.compile(
    r"[ \t\-]{1,2}(?:induced|associated|antagonists?|resistan(?:t|ce)|dependent|like|free|"
    r"reversal|overdose|toxicity|"
    r"naive|na\u00efve|pf4|antibod(?:y|ies)|receptors?|agonists?|signal(?:l?ing)?)\b"
    r"|-[0-9]{1,2}(?![0-9.,])",  # "interleukin-6", "dopamine-1 agonist": another substance
    re.IGNORECASE,
)
# Words before a drug name that make it a description: "non-heparin", and the drug an agent
# reverses ("idarucizumab reverses dabigatran at a dose of 5 g": the 5 g is idarucizumab).
_NOT_THE_DRUG_BEFORE = re.compile(
    r"\bnon[ \t\-]{1,2}\Z"
    r"|\b(?:revers|neutrali[sz]|antagoni[sz])(?:es|ed|ing|e)?[ \t]{1,3}(?:the[ \t]{1,3})?\Z",
    re.IGNORECASE,
)
# A dose written next to a name that needs one ("insulin 10 units", "81 mg aspirin").
_DOSE_AFTER = re.compile(
    r"[ \t]{0,3}[(:,=]?[ \t]{0,2}"
    r"(?:(?:at|of|a|an|the|dose|is|given|starting|initial)[ \t]{1,3}){0,3}[0-9][0-9.,]{0,12}",
    re.IGNORECASE,
)
_DOSE_BEFORE = re.compile(
    r"(?<![\w.,])[0-9][0-9.,]{0,12}(?P<unit>[ \t]{0,2}-?[ \t]?[A-Za-z\u03bc.]{1,20})"
    r"(?:/[A-Za-z]{1,3}){0,2}[ \t]{1,3}(?:of[ \t]{1,3})?(?:the[ \t]{1,3})?\Z",
)


def default_lexicon() -> Lexicon:
    """The lexicon ``find_drugs`` uses by default: the reference's drugs only."""
    return reference_lexicon()


def _lexicon(drugs: Sequence[Drug] | Lexicon | None, default: Lexicon | None = None) -> Lexicon:
    if drugs is None:
        return default or reference_lexicon()
    if isinstance(drugs, Lexicon):
        return drugs
    return Lexicon.of(drugs)


def _is_description(text: str, start: int, end: int) -> bool:
    return bool(
        _NOT_THE_DRUG_AFTER.match(text, end)
        or _NOT_THE_DRUG_BEFORE.search(text, max(0, start - 20), start)
    )


def _dose_next_to(text: str, start: int, end: int) -> bool:
    """Whether a dose is written right after (or before) the name at [start, end)."""
    after = _DOSE_AFTER.match(text, end)
    if after and _BASE_UNIT.match(text, after.end()):
        return True
    head = max(0, start - 40)
    before = _DOSE_BEFORE.search(text[head:start])
    return bool(before and _BASE_UNIT.match(text, head + before.start("unit")))


def _find_drugs(
    text: str, words: list[re.Match[str]], lexicon: Lexicon, descriptions: bool = False
) -> list[DrugHit]:
    """Drugs named in ``text`` (folded and normalised): not descriptions ("heparin-induced")
    unless asked for, and names that need a dose next to them only where one is."""
    return [
        (s, e, canonical)
        for s, e, canonical, weak in lexicon.hits(text, words)
        if (descriptions or not _is_description(text, s, e))
        and (not weak or _dose_next_to(text, s, e))
    ]


def find_drugs(
    text: str, drugs: Sequence[Drug] | Lexicon | None = None, *, descriptions: bool = False
) -> list[DrugHit]:
    """Drug mentions in ``text`` as (start, end, canonical name), in order; spans are
    offsets into ``text`` (read after ``normalise``: "<b>enox\u200baparin</b>" is found).

    ``drugs`` defaults to the reference's drug list (guardrails/data/drugs.yaml); pass
    ``guardrails.lexicon.drug_lexicon()`` to find every drug. ``descriptions`` keeps names
    used as descriptions ("warfarin-associated bleeding"), which are not the drug dosed.
    """
    folded = fold(text)
    norm = normalise_changed(folded)
    read = folded if norm is None else norm.text
    hits = _find_drugs(read, list(_WORD.finditer(read)), _lexicon(drugs), descriptions)
    if norm is None:
        return hits
    return [(*norm.span(s, e), canonical) for s, e, canonical in hits]


# ------------------------------------------------------------------ numbers


@dataclass(frozen=True, slots=True)
class _Number:
    start: int
    end: int
    value: float | None  # None: a format that cannot be read safely ("1.500,5", "5 000")
    word: bool = False
    problem: str = ""  # why value is None
    # A form no dose is written in (1e3, 0x10, -1, 1^0, 3/2): refused even without a unit
    # when it stands next to a drug.
    hostile: bool = False
    lookalike: bool = False  # a letter for a digit: "1O", "8O0", "1l"


_SUPERSCRIPTS = "\u00b9\u00b2\u00b3\u2070\u2074-\u2079"
_NUMBER = re.compile(
    # The lookahead on the first character lets the scan skip ahead.
    r"(?=[0-9.])(?<![\w.,/\u2044])(?:"
    r"(?P<sci>[0-9]{1,9}(?:\.[0-9]{1,9})?[eE][+-]?[0-9]{1,4})"  # 1e309, 1.5e2
    r"|(?P<hex>0[xX][0-9a-fA-F]{1,16})"  # 0x10
    r"|(?P<exp>[0-9]{1,9}(?:\.[0-9]{1,6})?"  # 1^0 (a superscript), 10**3, 10³
    rf"(?:[ \t]?(?:\^|\*\*)[ \t]?[-+]?[0-9]{{1,4}}|[{_SUPERSCRIPTS}]{{1,4}}))"
    r"|(?P<frac>[0-9]{1,3}[/\u2044][0-9]{1,3})"  # 3/2: a fraction normalise did not read
    r"|(?P<thou>[1-9][0-9]{0,2}(?:,[0-9]{3}){1,4}(?:\.[0-9]{1,6})?)"  # 5,000 / 1,500.5
    r"|0,(?P<zero>[0-9]{1,6})"  # 0,125: a leading zero is never a thousands group
    r"|(?P<amb>[0-9]{1,3}(?:\.[0-9]{3}){1,4},[0-9]{1,6}|[1-9][0-9]{0,2}(?: [0-9]{3}){1,3})"
    r"|(?P<long>[0-9]{10,})"  # no dose has ten digits
    r"|(?P<int>[0-9]{1,9})(?:\.(?P<dot>[0-9]{1,6})|,(?P<comma>[0-9]{1,2}))?"  # 1,5 = 1.5
    r"|\.(?P<bare>[0-9]{1,6})"  # ".5": a naked decimal, still 0.5
    r")(?![0-9]|[.,][0-9])"
)

_ONES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen")
_SMALL = {w: float(i) for i, w in enumerate((*_ONES, *_TEENS, "eighteen", "nineteen"))}
_DECADES = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_TENS = {w: float(10 * (i + 2)) for i, w in enumerate(_DECADES)}
_NUMBER_WORDS = sorted([*_SMALL, *_TENS, "hundred", "thousand", "half"], key=len, reverse=True)
_W = "|".join(_NUMBER_WORDS)
_WORD_NUMBER = re.compile(
    rf"\b(?:a[ \t\-]{{1,3}})?(?:{_W})"
    rf"(?:[ \t\-]{{1,3}}(?:and[ \t\-]{{1,3}})?(?:a[ \t\-]{{1,3}})?(?:{_W})){{0,6}}\b",
    re.IGNORECASE,
)
_HAS_NUMBER = re.compile(rf"[0-9]|\b(?:{_W}|inf|infinity|nan)\b|\u221e", re.IGNORECASE)
# A cheap test that a sentence may hold a dose unit at all.
_UNIT_HINT = re.compile(
    r"[0-9\s\-](?:mgs?|mcg|\u03bcg|ug|g|gm|grams?|units?|u|iu|i\.u\.|usp|international|ml|cc|"
    r"millilit\w*|milligram\w*|microgram\w*)\b|[\u338e\u338d\u3396]",
    re.IGNORECASE,
)


_HOSTILE = {
    "sci": "scientific notation",
    "hex": "hexadecimal notation",
    "exp": "an exponent or superscript",
    "frac": "a fraction or a combination strength (x/y)",
}
_COURSE = "a total over several days is a course, not one dose"
_AMBIGUOUS = "ambiguous number format"
_PER_AREA = "doses per m² are not supported"
_NO_UNIT = "no unit after the number"
# Amounts whose digits are the source's own but that are no one dose to compare: a
# combination strength ("budesonide-formoterol 200/6 mcg"), a course total, a number grouped
# by spaces or dots ("10 000 IU", which a source may write, though "10 000" might be two
# numbers), a dose per m² of body surface, and a number next to a drug with no unit the
# guard reads (a tablet's imprint "IRESSA 250", a schedule's day "Farydak 1", "20 nanograms
# per kilogram"). A verbatim quote of the passage it cites states them as that source does
# (guardrails.check); anywhere else they are refused like every other unreadable amount.
QUOTABLE_UNPARSED = frozenset({_HOSTILE["frac"], _COURSE, _AMBIGUOUS, _PER_AREA, _NO_UNIT})
_NOT_FINITE_WORDS = frozenset({"inf", "infinity", "nan"})
_NOT_FINITE = re.compile(
    r"(?=[+\-iInN\u221e])(?:(?<![\w.])[+-]?(?:inf(?:inity)?|nan)(?![\w])|\u221e)", re.IGNORECASE
)
# "-1 mg/kg", "minus 1 mg"; "5 -10 mg" and "0.15-0.2" are ranges.
_NEGATIVE_BEFORE = re.compile(
    r"(?:(?<![\w.,)\]%*+\-])-|\bminus[ \t]{1,3}|\bnegative[ \t]{1,3})\Z", re.IGNORECASE
)
_RANGE_DASH_BEFORE = re.compile(r"[0-9%][ \t]{1,3}-\Z")


def _digits(m: re.Match[str]) -> _Number:
    kind = m.lastgroup
    if kind in _HOSTILE:
        return _Number(m.start(), m.end(), None, problem=_HOSTILE[kind], hostile=True)
    if m.group("amb"):
        return _Number(m.start(), m.end(), None, problem=_AMBIGUOUS)
    if m.group("long"):
        return _Number(m.start(), m.end(), None, problem="number too long to be a dose")
    return _Number(m.start(), m.end(), _digits_value(m))


def _digits_value(m: re.Match[str]) -> float:
    if m.group("thou"):
        return float(m.group("thou").replace(",", ""))
    if m.group("zero"):
        return float("0." + m.group("zero"))
    if m.group("bare"):
        return float("0." + m.group("bare"))
    frac = m.group("dot") or m.group("comma")
    return float(m.group("int") + ("." + frac if frac else ""))


class _WordReader:
    """Reads "two", "twenty-five", "two thousand five hundred", "one and a half"."""

    def __init__(self) -> None:
        self.total = 0.0
        self.current = 0.0
        self.seen = False

    def value(self) -> float:
        return self.total + self.current

    def take(self, word: str, prev: str | None, nxt: str | None) -> bool:
        """Accept one word; False stops the number before it."""
        if word in _SMALL or word in _TENS:
            small = _SMALL.get(word)
            pending = self.current % 100
            if pending and not (prev in _TENS and small is not None and small < 10):
                return False
            self.current += _SMALL.get(word, _TENS.get(word, 0.0))
        elif word == "hundred":
            if not (0 < self.current < 100 or prev == "a"):
                return False
            self.current = (self.current or 1) * 100
        elif word == "thousand":
            if self.total or not (self.current or prev == "a"):
                return False
            self.total, self.current = (self.current or 1) * 1000, 0.0
        elif word == "half":
            if prev not in (None, "a"):
                return False
            self.current += 0.5
        elif word == "and":
            return prev in ("hundred", "thousand") or nxt in ("a", "half")
        elif word == "a":
            return prev in (None, "and") and nxt in ("hundred", "thousand", "half")
        else:
            return False
        self.seen = True
        return True


def _word_number(m: re.Match[str]) -> _Number | None:
    words = [(w.group().lower(), w.end()) for w in re.finditer(r"[A-Za-z]+", m.group())]
    reader = _WordReader()
    end = None
    for k, (word, word_end) in enumerate(words):
        prev = words[k - 1][0] if k else None
        nxt = words[k + 1][0] if k + 1 < len(words) else None
        if not reader.take(word, prev, nxt):
            break
        if word not in ("and", "a"):
            end = word_end
    if end is None or not reader.seen:
        return None
    return _Number(m.start(), m.start() + end, reader.value(), word=True)


_NUMBER_WORD_SET = frozenset([*_NUMBER_WORDS, "a"])


# Letters written for digits: O/o for 0, l/I for 1, and their Cyrillic and Greek twins.
_LOOKS_LIKE_DIGIT = "OoIl\u041e\u043e\u039f\u03bf\u0406\u0456\u04c0"
_LOOKALIKE = re.compile(
    rf"(?<![\w.,/])[0-9][0-9.,]{{0,12}}[{_LOOKS_LIKE_DIGIT}][0-9.,{_LOOKS_LIKE_DIGIT}]{{0,12}}"
)
# ... or written first ("l0 mg", "O.5 mcg/kg/min", "l62-325 mg", "l mg/kg"): a number only
# where a dose unit follows, after the range it opens if any ("O2", "I131" and "IL6" are
# names, not numbers; a lone "I" is a word or a roman numeral)
_LOOKS_ALONE = _LOOKS_LIKE_DIGIT.replace("I", "")
_LOOKALIKE_FIRST = re.compile(
    rf"(?<![\w.,/])(?:[{_LOOKS_LIKE_DIGIT}](?=[0-9.,{_LOOKS_LIKE_DIGIT}]*[0-9])"
    rf"[0-9.,{_LOOKS_LIKE_DIGIT}]{{1,12}}|[{_LOOKS_ALONE}](?![\w.,]))"
)
# the rest of a range or list a number opens ("-0.5", "--500", ", 20 or 30")
_RANGE_TAIL = re.compile(
    r"(?:[ \t]*(?:-{1,2}|[\u2013\u2014]|to|,|or|and)[ \t]*[0-9](?:[0-9.,]{0,12}[0-9])?){1,24}"
)
_LEADING_DIGITS = re.compile(r"[0-9.,]*")
_LOOKALIKE_PROBLEM = "a letter inside the number: O for 0, l or I for 1"


def _lookalikes(text: str) -> list[_Number]:
    """Numbers with a letter that looks like a digit inside or right after their digits
    ("1O mcg/kg/min", "an 8O0 units/kg bolus"), or before them with a dose unit after
    ("l0 mg", "O.5 mcg/kg/min"): the dose cannot be read safely, so they are
    refused, never read as the digits before the letter nor skipped as an identifier. A
    real unit glued to the digits ("5IU") is no look-alike; nor is a lone trailing "l" with
    no dose unit after it (a litre, "1l bag")."""
    out: list[_Number] = []
    for m in _LOOKALIKE.finditer(text):
        start = m.start()
        end = start + len(m.group().rstrip(".,"))
        digits = _LEADING_DIGITS.match(text, start, end)
        lead = digits.end() if digits else start
        if _BASE_UNIT.match(text, lead):
            continue  # "5IU": the unit itself
        if end < len(text) and text[end].isalpha() and not _BASE_UNIT.match(text, end):
            continue  # part of a longer word or code ("10Ox4")
        if text[lead:end] == "l" and not _BASE_UNIT.match(text, end):
            continue  # "1l": a litre
        out.append(
            _Number(start, end, None, problem=_LOOKALIKE_PROBLEM, hostile=True, lookalike=True)
        )
    for m in _LOOKALIKE_FIRST.finditer(text):
        end = m.start() + len(m.group().rstrip(".,"))
        tail = _RANGE_TAIL.match(text, end)
        if _BASE_UNIT.match(text, tail.end() if tail else end) and not any(
            n.start <= m.start() < n.end for n in out
        ):
            out.append(
                _Number(
                    m.start(), end, None, problem=_LOOKALIKE_PROBLEM, hostile=True, lookalike=True
                )
            )
    return sorted(out, key=lambda n: n.start)


def _numbers(text: str, words: list[re.Match[str]]) -> list[_Number]:
    found = [_digits(m) for m in _NUMBER.finditer(text)]
    if any(ch in _LOOKS_LIKE_DIGIT for ch in text) and (odd := _lookalikes(text)):
        found = [n for n in found if not any(o.start <= n.start < o.end for o in odd)] + odd
    taken = -1
    for w in words:
        if w.start() < taken or w.group().lower() not in _NUMBER_WORD_SET:
            continue
        m = _WORD_NUMBER.match(text, w.start())
        number = _word_number(m) if m else None
        if number is not None:
            found.append(number)
            taken = number.end
    if any(w.group().lower() in _NOT_FINITE_WORDS for w in words) or "\u221e" in text:
        found.extend(
            _Number(m.start(), m.end(), None, problem="not a finite number", hostile=True)
            for m in _NOT_FINITE.finditer(text)
        )
    return sorted((_signed(text, n) for n in found), key=lambda n: n.start)


def _signed(text: str, n: _Number) -> _Number:
    """A negative amount ("-1 mg/kg", "minus one mg") cannot be a dose."""
    if n.value is None or n.start == 0:
        return n
    if text[n.start - 1] != "-" and not text[
        max(0, n.start - 10) : n.start
    ].rstrip().lower().endswith(("minus", "negative")):
        return n  # the common case, without a regex
    head = max(0, n.start - 12)
    before = text[head : n.start]
    sign = _NEGATIVE_BEFORE.search(before)
    if sign is None or _RANGE_DASH_BEFORE.search(before):
        return n
    return _Number(head + sign.start(), n.end, None, n.word, "a negative amount", True)


# ------------------------------------------------------------------ units

_BASE_UNIT = re.compile(
    r"[ \t]{0,2}-?[ \t]{0,1}(?P<unit>"
    r"milligram(?:me)?s?|microgram(?:me)?s?|mcg|\u03bcg|ug|mgs?|gram(?:me)?s?|gm|g|"
    r"USP[ \t]{1,2}units?|international[ \t]{1,2}units?|I\.U\.|IU|units?|U|"
    r"millilit(?:er|re)s?|mL|cc|\u338e|\u338d|\u3396"
    r")(?![^\W_])",
    re.IGNORECASE,
)
_OF_DRUG = re.compile(r"[ \t]{1,2}of[ \t]{1,2}(?:the[ \t]{1,2})?", re.IGNORECASE)
_SQUARE_UNITS = {"\u338e": "mg", "\u338d": "mcg", "\u3396": "mL"}
_DENOMINATOR = re.compile(
    r"[ \t]{0,2}(?:/|\bper[ \t]{1,2})[ \t]{0,2}"
    r"(?:(?P<count>[0-9]{1,3}(?:\.[0-9]{1,2})?)[ \t]{0,2}-?[ \t]{0,2})?"
    r"(?P<den>kilograms?|kg|hours?|hrs?|h|minutes?|mins?|min|days?|d|doses?|"
    r"m2|m\u00b2|dL|mL|L|mm3|mm\u00b3|\u03bcL|uL|mmol|mol)(?![^\W_])",
    re.IGNORECASE,
)
_EACH_KG = re.compile(
    r"[ \t]{0,2}(?:for[ \t]{1,2})?(?:each|every)[ \t]{1,2}(?:kg|kilograms?)\b"
    r"(?:[ \t]{1,2}of[ \t]{1,2}(?:(?:your|the|their)[ \t]{1,2})?(?:body[ \t]{1,2})?weight)?",
    re.IGNORECASE,
)
_TIME_DEN: dict[str, PerTime] = {
    **dict.fromkeys(["hour", "hours", "hr", "hrs", "h"], "h"),
    **dict.fromkeys(["minute", "minutes", "min", "mins"], "min"),
    **dict.fromkeys(["day", "days", "d"], "day"),
}
_VOLUME_DEN = frozenset({"dl", "ml", "l", "mm3", "mm\u00b3", "\u03bcl", "ul", "mmol", "mol"})
_RANGE_SEP = re.compile(r"[ \t]{0,3}(?:-|to|through)[ \t]{0,3}", re.IGNORECASE)
_ALT_SEP = re.compile(r"[ \t]{0,2},?[ \t]{0,2}(?:or|and)[ \t]{1,3}", re.IGNORECASE)
_AND_SEP = re.compile(r"[ \t]{1,3}and[ \t]{1,3}", re.IGNORECASE)
_BETWEEN_BEFORE = re.compile(r"\bbetween[ \t]{1,3}\Z", re.IGNORECASE)
_FROM_BEFORE = re.compile(r"\bfrom[ \t]{1,3}\Z", re.IGNORECASE)
_RATIO_BEFORE = re.compile(
    r"\b(?:per|neutrali[sz](?:es|e|ing))[ \t]{1,3}"
    r"(?:(?:each|approximately|about|roughly|around|every)[ \t]{1,3})?\Z",
    re.IGNORECASE,
)
_DELTA_BEFORE = re.compile(
    r"\b(?:reduc|increas|decreas|lower|rais|titrat|adjust)\w{0,4}"
    r"(?:[ \t]{1,3}(?:the|its|daily|total|hourly|dose|rate|infusion)){0,3}[ \t]{1,3}by[ \t]{1,3}\Z"
    r"|\bincrements?[ \t]{1,3}of[ \t]{1,3}\Z",
    re.IGNORECASE,
)
# "30,000 IU in total over 4 days": a course total; "over 10 minutes" is how one dose is given.
_COURSE_AFTER = re.compile(
    r"[ \t]{0,2}(?:in[ \t]{1,2}total[ \t]{1,2})?over[ \t]{1,2}(?:[2-9]|[1-9][0-9]{1,2}|two|three|four"
    r"|five|six|seven|ten|fourteen)[ \t]{1,2}(?:days|weeks|months)\b",
    re.IGNORECASE,
)
_DILUENT_BEFORE = re.compile(r"\b(?:in|into|with)[ \t]{1,3}(?:an?[ \t]{1,3})?\Z", re.IGNORECASE)
_PLUS_MINUS = re.compile(r"[ \t]{0,2}(?:\u00b1|\+/-|\+-)[ \t]{0,2}")
_LIST_COMMA = re.compile(r"[ \t]{0,2},[ \t]{1,2}")
_WORD_AFTER = re.compile(r"[ \t]{0,2}[A-Za-z][A-Za-z\-]{0,30}")
_PAREN_AFTER = re.compile(r"[ \t]{0,2}\(([^()\n]{1,60})\)")


@dataclass(slots=True)
class _Unit:
    """A unit as read after a number: ``kind`` says whether it makes the number a dose."""

    kind: Literal["dose", "concentration", "clearance", "unsupported", "bare_denominator"]
    end: int
    unit: str = ""
    per_kg: bool = False
    per_time: PerTime | None = None
    interval_h: float | None = None
    reason: str = ""


def _read_denominators(text: str, pos: int, stop: int, unit: _Unit) -> _Unit:
    each_kg = _EACH_KG.match(text, pos, stop)
    if each_kg:
        unit.per_kg, unit.end = True, each_kg.end()
        return unit
    for _ in range(3):
        m = _DENOMINATOR.match(text, pos, stop)
        if not m:
            break
        den = m.group("den").lower()
        count = float(m.group("count")) if m.group("count") else None
        pos = unit.end = m.end()
        if den in _VOLUME_DEN:
            unit.kind = "concentration"
        elif den in ("m2", "m\u00b2"):
            unit.kind, unit.reason = "unsupported", _PER_AREA
        elif den.startswith("dose"):
            continue
        elif den in ("kg", "kilogram", "kilograms"):
            if count not in (None, 1.0):
                unit.kind, unit.reason = "unsupported", f"per {count:g} kg is not a dose unit"
            unit.per_kg = True
        else:
            _time_denominator(unit, _TIME_DEN[den], count)
    if unit.unit == "mL" and unit.per_time == "min" and not unit.per_kg:
        unit.kind = "clearance"  # mL/min is a creatinine clearance, not a dose
    return unit


# how far before an amount a drug's name still names it, and what between says it does not
_DRUG_GAP = 40
_NOT_THE_DRUGS = re.compile(
    r"[.;:(|,]|\b(?:CrCl|clearance|GFR|eGFR|creatinine|output|rate of)\b", re.IGNORECASE
)


def _time_denominator(unit: _Unit, per: PerTime, count: float | None) -> None:
    if count in (None, 1.0):
        unit.per_time = per
    elif per == "h" and count == 24:
        unit.per_time = "day"
    elif per == "h":
        unit.interval_h = count  # "per 12 hours": that much every 12 hours
    elif per == "day" and count is not None:
        unit.interval_h = count * 24
    else:
        unit.kind, unit.reason = "unsupported", f"per {count:g} {per} is not a dose rate"


def _read_unit(text: str, pos: int, stop: int) -> _Unit | None:
    """The unit written at ``pos`` (after a number), or None when there is none."""
    base = _BASE_UNIT.match(text, pos, stop)
    if base:
        written = base.group("unit")
        canonical = _SQUARE_UNITS.get(written) or normalise_unit(written.replace(".", ""))
        if canonical is None:
            return None
        unit = _Unit("dose", base.end(), canonical)
        return _read_denominators(text, base.end(), stop, unit)
    bare = _read_denominators(text, pos, stop, _Unit("bare_denominator", pos))
    if bare.end == pos:
        return None
    if bare.kind == "bare_denominator" and not (bare.per_kg or bare.per_time):
        return None  # "/dose" alone
    return bare


# ------------------------------------------------------------------ amounts


@dataclass(slots=True)
class _Read:
    """An amount as read, before its sentence gives it a drug, route and frequency."""

    start: int
    end: int
    amount: Amount
    interval_h: float | None = None
    group: tuple[int, int] | None = None  # the parentheses it stands in
    attached: tuple[int, int] | None = None  # parentheses written right after it
    weight_kg: float | None = None
    total: Amount | None = None
    count: float | None = None  # "two 2.5 g vials": amount is count x the strength


@dataclass(frozen=True, slots=True)
class _Loose:
    """A number next to which no dose unit could be read."""

    start: int
    end: int
    reason: str
    strong: bool  # the words around it say it is a dose ("2 per kg", "40 subcut")
    # A number with a letter for a digit and a dose unit after it ("8O0 units/kg"): refused
    # wherever it stands, a drug named in the sentence or not.
    refused: bool = False


def _amount(low: float, high: float, unit: _Unit) -> Amount:
    return Amount(min(low, high), max(low, high), unit.unit, unit.per_kg, unit.per_time)


class _AmountReader:
    """Reads the amounts of one sentence from its numbers."""

    def __init__(
        self, text: str, numbers: list[_Number], stop: int, drug_ends: Sequence[int] = ()
    ) -> None:
        self.text, self.numbers, self.stop = text, numbers, stop
        self.drug_ends = drug_ends  # where the sentence's drug names end
        self.starts = [n.start for n in numbers]
        self.by_start = {n.start: k for k, n in enumerate(numbers)}
        self.reads: list[_Read] = []
        self.loose: list[_Loose] = []
        self.suffixes: list[tuple[int, int, _Unit]] = []  # "(1 mg) per kg": applies inside
        self.ratio_ends: list[int] = []  # where "per 1 mg" / "neutralizes 100 units" end
        self.shared: dict[int, _Unit | None] = {}

    def run(self) -> list[_Read]:
        k = 0
        while k < len(self.numbers):
            k = self.read(k)
        self.reads.sort(key=lambda r: r.start)
        self._apply_suffixes()
        return self.reads

    def read(self, k: int) -> int:
        """Read the amount starting at number ``k``; the index of the next unread number."""
        n = self.numbers[k]
        if n.value is None:
            unit = _read_unit(self.text, n.end, self.stop)
            if unit is None and n.hostile and (tail := _RANGE_TAIL.match(self.text, n.end)):
                unit = _read_unit(self.text, tail.end(), self.stop)  # "O.1-0.5 mcg/kg/min"
            if n.hostile:
                # Fail closed: with a dose unit (after the range it opens, if any) it is
                # refused wherever it stands, without one only next to a drug.
                dose = unit is not None and (unit.kind == "dose" or unit.per_kg)
                end = unit.end if unit is not None and dose else n.end
                self.loose.append(_Loose(n.start, end, n.problem, dose, n.lookalike and dose))
                return max(k + 1, self._next_index(end))
            if unit:
                self.loose.append(_Loose(n.start, n.end, n.problem, True))
            return k + 1
        high, pos, nxt = self._range(k)
        unit = _read_unit(self.text, pos, self.stop)
        if unit is None and nxt == k + 1:
            unit, nxt = self._mean_sd(k, pos)
        if unit is None:
            return self._without_unit(k, high, pos, nxt)
        if unit.kind == "dose" and self._is_ratio(n.start, unit):
            return self._skip_ratio(unit, nxt)
        if unit.kind == "dose" and not (unit.per_time or unit.interval_h):
            course = _COURSE_AFTER.match(self.text, unit.end, self.stop)
            if course:
                self.loose.append(_Loose(n.start, course.end(), _COURSE, True))
                return max(nxt, self._next_index(course.end()))
        return self._with_unit(n, high, unit, nxt)

    def _is_ratio(self, start: int, unit: _Unit) -> bool:
        """A ratio, a change or a diluent: "per 1 mg", "reduced by 2,500 units",
        "25,000 units in 250 mL"."""
        before = self.text[max(0, start - 40) : start]
        if unit.unit == "mL" and _DILUENT_BEFORE.search(before):
            return True
        return bool(_RATIO_BEFORE.search(before) or _DELTA_BEFORE.search(before))

    def _mean_sd(self, k: int, pos: int) -> tuple[_Unit | None, int]:
        """ "0.32 ± 0.25 mcg/kg/min": the mean takes the unit; the SD is not a dose."""
        pm = _PLUS_MINUS.match(self.text, pos, self.stop)
        j = self.by_start.get(pm.end()) if pm else None
        if j is None or self.numbers[j].value is None:
            return None, k + 1
        _, after, nxt = self._range(j)
        unit = _read_unit(self.text, after, self.stop)
        if unit is None or unit.kind != "dose":
            return None, k + 1
        return replace(unit, end=pos), max(nxt, self._next_index(unit.end))

    def _next_index(self, pos: int) -> int:
        return bisect_left(self.starts, pos)

    def _skip_ratio(self, unit: _Unit, nxt: int) -> int:
        """ "1 mg of protamine per 100 units of heparin", "reduced by 2,500 units": a ratio
        or a change, not a dose. The drug it names ("of heparin") is remembered, so that
        later amounts are not given to it."""
        of = _OF_DRUG.match(self.text, unit.end, self.stop)
        self.ratio_ends.append(of.end() if of else unit.end)
        return max(nxt, self._next_index(unit.end))

    def _range(self, k: int) -> tuple[float, int, int]:
        """(high, end, next index) of a range "0.15-0.2" / "5 to 10" starting at ``k``."""
        n = self.numbers[k]
        assert n.value is not None
        before = self.text[max(0, n.start - 10) : n.start]
        sep = _RANGE_SEP.match(self.text, n.end, self.stop)
        if sep is None and _BETWEEN_BEFORE.search(before):
            sep = _AND_SEP.match(self.text, n.end, self.stop)
        if sep and not _FROM_BEFORE.search(before):
            j = self.by_start.get(sep.end())
            other = self.numbers[j] if j is not None else None
            if other is not None and other.value is not None and other.word == n.word:
                return other.value, other.end, j + 1  # type: ignore[operator]
        return n.value, n.end, k + 1

    def _without_unit(self, k: int, high: float, pos: int, nxt: int) -> int:
        n = self.numbers[k]
        assert n.value is not None
        shared = self._shared_unit(k) if nxt == k + 1 else None
        if shared is not None and not _not_a_dose_before(self.text, n.start):
            self.reads.append(
                _Read(n.start, pos, _amount(n.value, high, shared), shared.interval_h)
            )
        elif not n.word:
            self.loose.append(_Loose(n.start, pos, "no unit", False))
        return nxt

    def _shared_unit(self, k: int) -> _Unit | None:
        """The unit that "2.5 or 5 mg", "40, 50, 60 or 70 mg" and "from 40 to 30 mg"
        share, read after the last number of the list (at most 12 numbers). A comma list
        needs its "or"/"and": "on day 3, 5 mg" is not a list."""
        if k in self.shared:
            return self.shared[k]
        chain, joins, unit = [k], [], None
        for _ in range(12):
            end = self.numbers[chain[-1]].end
            sep = _ALT_SEP.match(self.text, end, self.stop) or _RANGE_SEP.match(
                self.text, end, self.stop
            )
            gap = sep or _LIST_COMMA.match(self.text, end, self.stop)
            j = self.by_start.get(gap.end()) if gap else None
            if j is None or self.numbers[j].value is None:
                break
            joins.append(sep is not None)
            _, after, _ = self._range(j)
            found = _read_unit(self.text, after, self.stop)
            if found is not None:
                unit = found if found.kind == "dose" else None
                break
            chain.append(j)
        joined = False
        for i in range(len(chain) - 1, -1, -1):
            joined = joined or (i < len(joins) and joins[i])
            self.shared[chain[i]] = unit if joined else None
        return self.shared[k]

    def _with_unit(self, n: _Number, high: float, unit: _Unit, nxt: int) -> int:
        assert n.value is not None
        if unit.kind in ("bare_denominator", "unsupported"):
            if not n.word:
                reason = unit.reason or "no unit before the '/' or 'per'"
                self.loose.append(_Loose(n.start, unit.end, reason, True))
            return max(nxt, self._next_index(unit.end))
        if unit.kind == "clearance" and self._drug_right_before(n.start):
            unit.kind = "dose"  # "isotonic crystalloid 500 mL/min": a rate of that fluid
        if unit.kind != "dose":
            return max(nxt, self._next_index(unit.end))
        low = n.value
        high, end, nxt = self._repeated_range(high, unit, nxt)
        self._paren_suffix(unit)
        self._of_drug_rate(unit)
        read = _Read(n.start, end, _amount(low, high, unit), unit.interval_h)
        if not (unit.per_kg or unit.per_time or unit.interval_h):
            _counted(self.text, read, self.stop)
        self.reads.append(read)
        return max(nxt, self._next_index(read.end))

    def _drug_right_before(self, start: int) -> bool:
        """Whether a drug's name stands right before an amount (a few words, no clause or
        clearance word between)."""
        return any(
            0 <= start - end <= _DRUG_GAP and not _NOT_THE_DRUGS.search(self.text, end, start)
            for end in self.drug_ends
        )

    def _repeated_range(self, high: float, unit: _Unit, nxt: int) -> tuple[float, int, int]:
        """ "5 mg to 10 mg": one range."""
        sep = _RANGE_SEP.match(self.text, unit.end, self.stop)
        j = self.by_start.get(sep.end()) if sep else None
        if j is None or self.numbers[j].value is None:
            return high, unit.end, nxt
        other_high, pos, after = self._range(j)
        other = _read_unit(self.text, pos, self.stop)
        same = other is not None and (other.kind, other.unit, other.per_kg, other.per_time) == (
            unit.kind,
            unit.unit,
            unit.per_kg,
            unit.per_time,
        )
        if other is None or not same:
            return high, unit.end, nxt
        return max(high, other_high), other.end, after

    def _paren_suffix(self, unit: _Unit) -> None:
        """ "100 IU (1 mg) per kg": the /kg after the parentheses belongs to both."""
        if unit.per_kg or unit.per_time:
            return
        paren = _PAREN_AFTER.match(self.text, unit.end, self.stop)
        if not paren:
            return
        after = _read_denominators(self.text, paren.end(), self.stop, _Unit("dose", paren.end()))
        if after.end == paren.end() or after.kind != "dose":
            return
        unit.per_kg, unit.per_time = after.per_kg, after.per_time
        unit.interval_h = unit.interval_h or after.interval_h
        self.suffixes.append((paren.start(1), paren.end(1), after))

    def _of_drug_rate(self, unit: _Unit) -> None:
        """ "35,000 units of UFH per 24 hours": the rate is written after the drug."""
        if unit.per_kg or unit.per_time or unit.interval_h:
            return
        of = _OF_DRUG.match(self.text, unit.end, self.stop)
        pos = of.end() if of else -1
        for _ in range(3 if of else 0):
            word = _WORD_AFTER.match(self.text, pos, self.stop)
            if not word:
                return
            pos = word.end()
            rate = _read_denominators(self.text, pos, self.stop, _Unit("dose", pos))
            if rate.end > pos and rate.kind == "dose" and (rate.per_time or rate.interval_h):
                unit.per_kg, unit.per_time = rate.per_kg, rate.per_time
                unit.interval_h = rate.interval_h
                return

    def _apply_suffixes(self) -> None:
        starts = [r.start for r in self.reads]
        for start, end, suffix in self.suffixes:
            for k in range(bisect_left(starts, start), bisect_left(starts, end)):
                a = self.reads[k].amount
                if not (a.per_kg or a.per_time):
                    per = {"per_kg": suffix.per_kg, "per_time": suffix.per_time}
                    self.reads[k].amount = replace(a, **per)  # type: ignore[arg-type]


_COUNT = r"(?P<c>[1-9][0-9]?|one|two|three|four|five|six|seven|eight|nine|ten)"
_PACKS = r"(?:vials?|ampoules?|ampules?|syringes?|bottles?|bags?|packs?|cartridges?|pens?)"
# "2 x 2.5 g", "two 2.5 g vials", "2 vials of 2.5 g": a count of a strength.
_COUNT_TIMES_BEFORE = re.compile(
    rf"(?<![\w.,]){_COUNT}[ \t]{{0,2}}[x\u00d7*][ \t]{{0,3}}\Z", re.IGNORECASE
)
_COUNT_PACKS_BEFORE = re.compile(
    rf"(?<![\w.,]){_COUNT}[ \t]{{1,3}}{_PACKS}[ \t]{{0,3}}"
    r"(?:(?:each[ \t]{1,3})?(?:of|containing|with)[ \t]{1,3}|\([ \t]{0,2}|,[ \t]{1,2}|:[ \t]{1,2})\Z",
    re.IGNORECASE,
)
_COUNT_BEFORE = re.compile(rf"(?<![\w.,]){_COUNT}[ \t]{{1,3}}\Z", re.IGNORECASE)
_PACKS_AFTER = re.compile(rf"[ \t]{{0,2}}-?[ \t]{{0,2}}{_PACKS}\b", re.IGNORECASE)


def _count_value(word: str) -> float:
    return float(word) if word.isdigit() else _SMALL[word.lower()]


def _counted(text: str, read: _Read, stop: int) -> None:
    """Make ``read`` the total of a count of its strength, where one is written."""
    head = max(0, read.start - 40)
    before = text[head : read.start]
    m = _COUNT_TIMES_BEFORE.search(before) or _COUNT_PACKS_BEFORE.search(before)
    end = read.end
    if m is None:
        m = _COUNT_BEFORE.search(before)
        packs = _PACKS_AFTER.match(text, read.end, stop) if m else None
        if m is None or packs is None:
            return
        end = packs.end()
    count = _count_value(m.group("c"))
    a = read.amount
    read.amount = replace(a, low=a.low * count, high=a.high * count)
    read.start, read.end, read.count = head + m.start(), end, count


# Words after a number that say it is not a dose (durations, weights, ratios, counts).
_NOT_A_DOSE_AFTER = re.compile(
    r"[ \t]{0,2}-?[ \t]{0,2}(?:%|percent|kg|kilograms?|lbs?|pounds?|years?|yrs?|months?|weeks?|"
    r"wks?|days?|hours?|hrs?|h|minutes?|mins?|min|seconds?|secs?|s|times?|fold|x|\u00d7|"
    r"patients?|subjects?|mm|cm|m|mmol|mEq|\u03bcmol|umol|mol|L|seconds|doses?|tablets?|"
    r"capsules?|vials?|ampoules?|injections?|points?|score|\^)(?![^\W_])|[ \t]{0,2}[<>=\u2264\u2265]",
    re.IGNORECASE,
)
_NOT_A_DOSE_BEFORE = re.compile(
    r"(?:\b(?:INR|aPTT|APTT|PTT|PT|ACT|CrCl|GFR|eGFR|ratio|score|scores|age|aged|ages|platelets?|"
    r"count|level|levels|BMI|weight|weighing|weighs|class|grade|stage|step|trial|days?|weeks?|"
    r"months?|years?|hours?|every|q|factor|phase|type|range|target|between|version|table|"
    r"figure|n|p|CI|HR|OR|RR|number|anti-Xa|Xa|times|versus|vs)"
    r"[\s:=(]{0,3}(?:of|is|was|at|to|from|below|above|over|under|<|>|\u2264|\u2265)?[\s(]{0,3}\Z)",
    re.IGNORECASE,
)
_YEAR = re.compile(r"(?:19|20)[0-9]{2}")


def _not_a_dose_before(text: str, start: int) -> bool:
    return bool(_NOT_A_DOSE_BEFORE.search(text[max(0, start - 30) : start]))


def _classify(text: str, item: _Loose) -> _Loose:
    """Whether a number without a unit is meant as a dose: "40 subcut" is, "4F-PCC",
    "INR 2.5", "5 days" and "2009" are not."""
    start, end = item.start, item.end
    if item.strong or item.reason != "no unit":
        return item
    if _DURATION_AFTER.match(text, end):
        return _Loose(start, end, "not a dose", False)  # "wait at least 30 minutes"
    if _CORRECTION_BEFORE.search(text, max(0, start - 60), start):
        return _Loose(start, end, _CORRECTED, True)  # "1 mg/kg, actually make it 10"
    if end < len(text) and (text[end].isalpha() or text[end] in "\u00b2\u00b3"):
        return _Loose(start, end, "identifier", False)  # "4F-PCC", "10⁹"
    if text.startswith("-", end) and text[end + 1 : end + 2].isalpha():
        return _Loose(start, end, "identifier", False)  # "5-FC", "4-factor"
    if text[start - 2 : start - 1].isalpha() and text[start - 1 : start] == "-":
        return _Loose(start, end, "identifier", False)  # "interleukin-2", "BG-12"
    if _graded_before(text, start):
        return _Loose(start, end, "identifier", False)  # "macrogol 4000", "polysorbate 80"
    if _NOT_A_DOSE_AFTER.match(text, end) or _YEAR.fullmatch(text, start, end):
        return _Loose(start, end, "not a dose", False)
    if _part_of_name(text, start, end):
        return _Loose(start, end, "identifier", False)  # "Prevnar 13®", "protamine 2 (PRM2)"
    if _not_a_dose_before(text, start):
        return _Loose(start, end, "not a dose", False)
    return _Loose(start, end, "no unit", bool(_DOSE_WORD_AFTER.match(text, end)))


# Up to three words right before a number, one space from it.
_NAME_BEFORE = re.compile(r"((?:[^\W\d_]+[ \t-]){0,2}[^\W\d_]+)[ \t]\Z")


def _graded_before(text: str, start: int) -> bool:
    """Whether the number at ``start`` follows a name whose number is part of it: a grade
    or type ("macrogol 4000", "castor oil 40"; stopwords.yaml ``graded``)."""
    m = _NAME_BEFORE.search(text, max(0, start - 48), start)
    if m is None:
        return False
    tokens, graded = name_tokens(m.group(1)), graded_names()
    return any(tokens[k:] in graded for k in range(len(tokens)))


# A registered or trade mark after a number makes it part of a brand name: "Prevnar 13(®)".
_MARK_AFTER = re.compile(r"[ \t]?(?:\([ \t]?[\u00ae\u2122][ \t]?\)|[\u00ae\u2122])")
# An abbreviation in parentheses that ends in the same number names what the number is part
# of: "protamine 2 (PRM2)", "beta 42 (A\u03b242)", "protamine 1 (P1)".
_ECHO_AFTER = re.compile(r"[ \t]{0,2}\((?=[^()\s]*[^\W\d_])([^()\s]{1,12})\)")


def _part_of_name(text: str, start: int, end: int) -> bool:
    """Whether a unitless number is part of a name rather than an amount."""
    if _MARK_AFTER.match(text, end):
        return True
    echo = _ECHO_AFTER.match(text, end)
    if echo is None:
        return False
    inner = echo.group(1)
    number = text[start:end]
    return (
        inner.endswith(number)
        and not inner[: -len(number)][-1:].isdigit()
        # "warfarin 5 (W5) daily", "heparin 13 (H13) units" are doses
        and not _DOSE_WORD_AFTER.match(text, echo.end())
        and not _UNIT_HINT.match(text, echo.end())
    )


# A time after a number, alone or closing a range ("30 minutes", "2-3 months", "2 to 3
# hours"): the number is how long, never an amount, even after "wait".
_DURATION_AFTER = re.compile(
    r"(?:[ \t]{0,2}(?:-|\u2013|to|or)[ \t]{0,2}[0-9]{1,4}(?:[.,][0-9]{1,3})?)?[ \t]{0,2}-?[ \t]{0,2}"
    r"(?:years?|yrs?|months?|weeks?|wks?|days?|hours?|hrs?|h|minutes?|mins?|min|seconds?|secs?)"
    r"(?![^\W_])",
    re.IGNORECASE,
)
# Words that correct an amount just written: the bare number after them is the dose meant.
_CORRECTION_BEFORE = re.compile(
    r"\b(?:actually|no[ \t,]{1,3}wait|wait|sorry|i[ \t]{1,3}mean|correction|"
    r"make[ \t]{1,3}(?:it|that)|change[ \t]{1,3}(?:it|that)[ \t]{1,3}to|scratch[ \t]{1,3}that|"
    r"rather|instead)\b[^0-9.!?]{0,30}\Z",
    re.IGNORECASE,
)
_CORRECTED = "a corrected amount without a unit"
# Words one of which every correction has, to skip the regex for most sentences.
_CORRECTION_CUES = (
    "actually",
    "wait",
    "sorry",
    "mean",
    "correction",
    "make",
    "change",
    "scratch",
    "rather",
    "instead",
)
# Words after a unitless number that say it is meant as a dose: "40 subcut", "5 daily".
_DOSE_WORD_AFTER = re.compile(
    r"[ \t]{0,2}(?:IV|i\.v\.|SC|SQ|s\.c\.|subcut\w*|intravenous\w*|orally|oral|PO|IM|"
    r"daily|BID|b\.i\.d|TID|QID|QD|twice|once|every|q[0-9]{1,2}h|bolus|infusion|stat)\b",
    re.IGNORECASE,
)


# ------------------------------------------------------------------ sentence context

_SEPARATOR = re.compile(
    r"[,;:()\[\]|]|\s(?:then|plus|followed\s+by|and|or(?!\s+(?:twice|three|four)\b)|versus|vs\.?"
    r"|while|whereas)\s",
    re.IGNORECASE,
)
_LEFT_CAP = 90
_RIGHT_CAP = 110

_ROUTES: tuple[tuple[Route, str], ...] = (
    ("iv", r"\bIV\b|\bi\.v\.|\bintravenous(?:ly)?\b"),
    (
        "sc",
        r"\bSC\b|\bSQ\b|\bs\.c\.|\bsubcut(?:aneous(?:ly)?)?\b|\bsub-?cut\b|\bsub-?Q\b|\bintrafat\b",
    ),
    ("po", r"\bPO\b|\bp\.o\.|\borally\b|\boral\b|\bby\s+mouth\b|\bper\s+os\b"),
    ("im", r"\bIM\b|\bi\.m\.|\bintramuscular(?:ly)?\b"),
)
_PHASES: tuple[tuple[Phase, str], ...] = (
    ("bolus", r"\bbolus(?:es)?\b|\bpush\b"),
    ("loading", r"\bloading\b|\bload\b"),
    ("infusion", r"\binfusions?\b|\binfused\b|\bcontinuous\b|\bdrip\b"),
    ("maintenance", r"\bmaintenance\b"),
    (
        "initial",
        r"\binitial(?:ly)?\b|\bstart(?:ing|ed|s)?\s{1,3}(?:doses?\s{1,3})?(?:at|with|on)\b"
        r"|\bstarting\s{1,3}doses?\b|\bbegin(?:ning)?\s{1,3}(?:at|with)\b|\bto\s{1,3}start\b",
    ),
)


def _named(pairs: Sequence[tuple[str, str]]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?P<{k}>{p})" for k, p in pairs), re.IGNORECASE)


_ROUTE = _named(_ROUTES)
# A stage ("maintenance infusion") says more than the mode of giving it ("infusion").
_STAGE = _named([p for p in _PHASES if p[0] != "infusion"])
_MODE = _named([p for p in _PHASES if p[0] == "infusion"])
# Counts a frequency is written with, digits or words ("every three hours", "5 times a day").
_WORD_N = {
    "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0, "seven": 7.0,
    "eight": 8.0, "nine": 9.0, "ten": 10.0, "eleven": 11.0, "twelve": 12.0, "eighteen": 18.0,
    "twenty-four": 24.0, "thirty-six": 36.0, "forty-eight": 48.0, "seventy-two": 72.0,
}  # fmt: skip
_N_WORDS = "|".join(w.replace("-", r"[\s\-]?") for w in sorted(_WORD_N, key=len, reverse=True))
_N = rf"(?:[0-9]{{1,2}}(?:\.[0-9])?|{_N_WORDS})"
_PER = r"(?:a\s{1,3}|per\s{1,3}|each\s{1,3}|every\s{1,3})?"
# Every way a dosing interval is written: "q12h", "q1h", "qh", "q15min", "every 2 hours",
# "every hour", "hourly", "6-hourly", "every 30 minutes", "4 times a day", "once weekly".
_FREQUENCY = re.compile(
    rf"(?P<q>\bq\.?[ \t]?(?P<qn>[0-9]{{1,2}})[ \t]?(?:h|hrs?|hours?)\b\.?)"
    rf"|(?P<qmin>\bq\.?[ \t]?(?P<qmn>[0-9]{{1,3}})[ \t]?(?:min|mins|minutes?)\b\.?)"
    r"|(?P<qh>\bq\.?[ \t]?(?:h|hr|hour)\b\.?)"
    rf"|(?P<every>\bevery\s{{1,3}}(?P<en>{_N})(?:\s{{0,2}}(?:-|to|or)\s{{0,2}}(?P<em>{_N}))?"
    rf"\s{{0,2}}-?\s{{0,2}}(?P<eu>h|hrs?|hours?|min|mins|minutes?|days?|weeks?)\b)"
    r"|(?P<hour>\b(?:every|each)\s{1,3}(?:an?\s{1,3}|single\s{1,3})?(?:hour|hr)\b|\bhourly\b)"
    r"|(?P<half>\bevery\s{1,3}half[\s\-]{1,3}(?:an?\s{1,3})?hour\b)"
    r"|(?P<minute>\bevery\s{1,3}(?:a\s{1,3}|single\s{1,3})?minute\b)"
    r"|(?P<alt_hour>\bevery\s{1,3}(?:other|second)\s{1,3}hour\b)"
    rf"|(?P<n_hourly>\b(?P<hn>{_N})(?:\s{{0,2}}(?:-|to)\s{{0,2}}(?P<hm>{_N}))?[\s\-]{{1,2}}hourly\b)"
    r"|(?P<alt>\bevery\s{1,3}(?:other|second)\s{1,3}day\b|\bon\s{1,3}alternate\s{1,3}days\b)"
    r"|(?P<alt_week>\bevery\s{1,3}(?:other|second)\s{1,3}week\b)"
    r"|(?P<week>\bonce\s{1,3}(?:a\s{1,3})?week(?:ly)?\b|\bweekly\b|\b(?:per|every)\s{1,3}week\b)"
    rf"|(?P<x4>\b(?:four|4)\s{{1,3}}times\s{{1,3}}{_PER}(?:day|daily)\b"
    r"|\bq\.?i\.?d(?:\.|\b)|\bqds\b)"
    rf"|(?P<x3>\b(?:three|3)\s{{1,3}}times\s{{1,3}}{_PER}(?:day|daily)\b"
    r"|\bthrice\s{1,3}(?:a\s{1,3})?(?:day|daily)\b|\bt\.?i\.?d(?:\.|\b)|\btds\b)"
    r"|(?P<x2>\bonce\s{1,3}or\s{1,3}twice\s{1,3}(?:a\s{1,3})?(?:day|daily)\b"
    r"|\b(?:twice|two\s{1,3}times|2\s{1,3}times)[\s\-]{1,3}(?:a\s{1,3}|per\s{1,3}|each\s{1,3})?"
    r"(?:day|daily)\b|\bb\.?i\.?d(?:\.|\b)|\bbd\b)"
    rf"|(?P<times>\b(?P<tn>{_N})\s{{1,3}}times\s{{1,3}}{_PER}(?P<tu>day|daily|week|weekly)\b)"
    r"|(?P<x1>\b(?:once|one\s{1,3}time|1\s{1,3}time)[\s\-]{1,3}(?:a\s{1,3}|per\s{1,3}|each\s{1,3})?"
    r"(?:day|daily)\b|\bq\.?d(?:\.|\b)|\bdaily\b|\bevery\s{1,3}(?:day|morning|evening|night)\b"
    r"|\bnightly\b|\bat\s{1,3}bedtime\b|\beach\s{1,3}day\b)"
    r"|(?P<single>\b(?:a\s{1,3})?single\b|\bone[\s\-]time\b|\bstat\b"
    r"|\bonce(?=\s{0,2}(?:[.,;:)]|only\b|\Z)))",
    re.IGNORECASE,
)
_FIXED_INTERVAL = {
    "qh": 1.0,
    "hour": 1.0,
    "half": 0.5,
    "minute": 1 / 60,
    "alt_hour": 2.0,
    "alt": 48.0,
    "alt_week": 336.0,
    "week": 168.0,
    "x4": 6.0,
    "x3": 8.0,
    "x2": 12.0,
    "x1": 24.0,
}
_HOURS_PER = {"h": 1.0, "m": 1 / 60, "d": 24.0, "w": 168.0}


def _count(word: str) -> float:
    """A count as written: "12", "twelve", "twenty four"."""
    key = re.sub(r"[\s\-]+", "-", word.lower())
    return _WORD_N.get(key) or float(word)


_MAX_BEFORE = re.compile(
    r"(?:\bmax(?:imum|imal|\.)?|\bnot\s{1,3}(?:to\s{1,3})?exceed(?:ing)?"
    r"|\bno\s{1,3}more\s{1,3}than|\bnot\s{1,3}more\s{1,3}than|\bup\s{1,3}to|\bat\s{1,3}most"
    r"|\bceiling|\u2264|<=)(?=[^0-9]{0,30}\Z)",
    re.IGNORECASE,
)
_MAX_AFTER = re.compile(r"[ \t]{0,2}(?:max(?:imum|imal|\.)?|at\s{1,3}most)\b", re.IGNORECASE)
_WEIGHT_AFTER = re.compile(
    r"[ \t]{0,2}(?:for|in)[ \t]{1,3}(?:(?:an?|the)[ \t]{1,3})?"
    r"(?:(?:patient|adult|person)[ \t]{1,3}(?:weighing|of)[ \t]{1,3})?"
    r"(?P<w>[0-9]{1,3}(?:\.[0-9]{1,2})?)[ \t]{0,2}-?[ \t]{0,2}(?:kg|kilograms?)\b",
    re.IGNORECASE,
)
_WEIGHT_BEFORE = re.compile(
    r"\bfor[ \t]{1,3}an?[ \t]{1,3}(?P<w>[0-9]{1,3}(?:\.[0-9]{1,2})?)[ \t]{0,2}-?[ \t]{0,2}"
    r"(?:kg|kilograms?)\b(?:[ \t]{1,3}(?:patient|adult|person|man|woman))?",
    re.IGNORECASE,
)
_WEIGHT_REACH = 120
_TIMES_WEIGHT = re.compile(
    r"[ \t]{0,2}[x\u00d7*][ \t]{0,2}(?P<w>[0-9]{1,3}(?:\.[0-9]{1,2})?)[ \t]{0,2}kg[ \t]{0,2}=[ \t]{0,2}",
    re.IGNORECASE,
)
_TOTAL_GAP = re.compile(
    r"[ \t]{0,2}[(,:=]?[ \t]{0,2}(?:i\.e\.,?|that\s{1,3}is|or|about|approximately|=|~|\u2248)?[ \t]{0,2}",
    re.IGNORECASE,
)


def _interval(m: re.Match[str]) -> tuple[float | None, bool]:
    """(hours between doses, single dose) for a frequency match."""
    kind = m.lastgroup
    if kind == "q":
        return float(m.group("qn")), False
    if kind == "qmin":
        return float(m.group("qmn")) / 60, False
    if kind in ("every", "n_hourly"):
        first, second = ("en", "em") if kind == "every" else ("hn", "hm")
        values = [_count(v) for v in (m.group(first), m.group(second)) if v]
        unit = m.group("eu").lower()[0] if kind == "every" else "h"
        return min(values) * _HOURS_PER[unit], False
    if kind == "times":
        per = 168.0 if m.group("tu").lower().startswith("week") else 24.0
        return per / _count(m.group("tn")), False
    if kind == "single":
        return None, True
    return _FIXED_INTERVAL[kind or ""], False


def _last(matches: Iterator[re.Match[str]]) -> re.Match[str] | None:
    tail = deque(matches, maxlen=1)
    return tail[0] if tail else None


_NEGATION = re.compile(
    r"\b(?:without|no|not|nor|no\s{1,3}change\s{1,3}in)\s{1,3}(?:(?:an?|the)\s{1,3})?"
    r"(?:[A-Za-z]{1,20}\s{1,3})?\Z",
    re.IGNORECASE,
)


def _negated(words: str, start: int) -> bool:
    return bool(_NEGATION.search(words, max(0, start - 40), start))


def _nearest(
    pattern: re.Pattern[str], left: str, right: str, reach: int = _RIGHT_CAP
) -> re.Match[str] | None:
    """The match closest to the amount, within ``reach`` characters: the last in ``left``
    or the first in ``right`` ("without a bolus" does not count)."""
    best: tuple[int, int, re.Match[str]] | None = None
    for m in reversed(list(pattern.finditer(left))):
        if len(left) - m.end() > reach:
            break
        if not _negated(left, m.start()):
            best = (len(left) - m.end(), 1, m)
            break
    for m in pattern.finditer(right):
        if m.start() > reach or (best is not None and m.start() > best[0]):
            break
        if not _negated(right, m.start()):
            best = (m.start(), 0, m)
            break
    return best[2] if best else None


def _enclosing_group(text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int] | None:
    """The parentheses around [start, end) within [lo, hi), looked for nearby only."""
    o = text.rfind("(", max(lo, start - 80), start)
    if o < 0 or ")" in text[o:start]:
        return None
    c = text.find(")", end, min(hi, end + 120))
    if c < 0 or "(" in text[end:c]:
        return None
    return o, c


def _attached_group(text: str, end: int, hi: int) -> tuple[int, int] | None:
    m = _PAREN_AFTER.match(text, end, hi)
    return (m.start(1) - 1, m.end(1)) if m else None


@dataclass(frozen=True, slots=True)
class _Clause:
    """The words around one amount: ``left`` back to the last clause break; ``right`` up
    to the next (for route and phase); ``right_long`` past "then once daily" (for the
    frequency of the last amount of a sentence)."""

    left: str
    right: str
    right_long: str


@dataclass(frozen=True, slots=True)
class _Sentence:
    text: str
    start: int
    end: int
    drugs: list[DrugHit]
    ratio_objects: frozenset[int] = frozenset()  # drug starts named only in a ratio

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end

    def clause_left(self, lo: int, start: int) -> str:
        """The words before an amount, back to the last clause break."""
        left = self.text[max(lo, start - _LEFT_CAP) : start]
        cut = _last(_SEPARATOR.finditer(left))
        return left[cut.end() :] if cut is not None else left

    def clause_right(self, r0: int, hi: int, shared: bool) -> tuple[str, str]:
        """The words after an amount up to the next clause break, short and long. Words
        shared with a following amount end at any separator."""
        right = self.text[r0 : min(hi, r0 + _RIGHT_CAP)]
        cut = _SEPARATOR.search(right)
        short = right[: cut.start()] if cut else right
        if shared:
            return short, short
        pos = 0
        while step := _STEP.search(right, pos):
            if not _FREQUENCY.match(right, step.end()):  # "... and then once daily"
                return short, right[: step.start()]
            pos = step.end()
        return short, right

    def _before(self, start: int) -> int:
        """Index of the last drug that ends at or before ``start``, or -1."""
        k = bisect_right(self.drugs, (start, start, "\uffff")) - 1
        while k >= 0 and self.drugs[k][1] > start:
            k -= 1
        return k

    def drug_for(self, start: int, end: int) -> str | None:
        """The drug an amount at [start, end) is for: "of heparin" right after it, else
        the nearest named before it (not one named only in a ratio, "per 1 mg of
        enoxaparin"), else the nearest after it in the same clause ("10 mg once daily,
        with warfarin overlap" does not make 10 mg a warfarin dose; a list "5 mg, 7.5 mg or
        10 mg of fondaparinux" is one clause)."""
        after = bisect_left(self.drugs, (end, -1, ""))
        if after < len(self.drugs):
            of = _OF_DRUG.match(self.text, end)
            if of and of.end() == self.drugs[after][0]:
                return self.drugs[after][2]
        before = self._before(start)
        for k in range(before, max(-1, before - 10), -1):
            if self.drugs[k][0] not in self.ratio_objects:
                return self.drugs[k][2]
        if before >= 0:
            return self.drugs[before][2]
        if after >= len(self.drugs) or _CLAUSE_BREAK.search(self.text, end, self.drugs[after][0]):
            return None
        return self.drugs[after][2]

    def adjacent_drug(self, start: int) -> str | None:
        """A drug named right before ``start``: "enoxaparin 40", "warfarin dose is 5"."""
        k = self._before(start)
        if k < 0 or start - self.drugs[k][1] > 24:
            return None
        gap = self.text[self.drugs[k][1] : start]
        words = {w.lower() for w in re.findall(r"[A-Za-z]+", gap)}
        if re.search(r"[0-9,;()]", gap) or not words <= _ADJACENT_WORDS:
            return None
        return self.drugs[k][2]


_STEP = re.compile(r";|\||\s(?:then|followed\s+by)\s", re.IGNORECASE)
# Punctuation that ends a clause; a comma before a number continues a list of amounts.
_CLAUSE_BREAK = re.compile(r"[;:()\[\]|]|,(?![ \t]{0,2}[0-9])")
# Words that may stand between a drug and its bare number: "enoxaparin dose is 40".
_GLUE_WORDS = frozenset({"at", "of", "a", "an", "the", "with", "by", "to", "be", "is", "was"})
_DOSE_WORDS = frozenset({"dose", "dosed", "given", "give", "use", "total", "daily", "initial"})
_ADJACENT_WORDS = _GLUE_WORDS | _DOSE_WORDS | {"start", "started", "starting"}
_ROUTE_NAMES: dict[str, Route] = {name: name for name, _ in _ROUTES}
_PHASE_NAMES: dict[str, Phase] = {name: name for name, _ in _PHASES}


def _groups(sentence: _Sentence, reads: list[_Read]) -> None:
    """Mark the parentheses each amount stands in, and those written right after it."""
    starts = [r.start for r in reads]
    for r in reads:
        r.group = _enclosing_group(sentence.text, r.start, r.end, sentence.start, sentence.end)
        attached = _attached_group(sentence.text, r.end, sentence.end)
        if attached:
            k = bisect_right(starts, attached[0])
            if k < len(reads) and reads[k].start < attached[1]:
                r.attached = attached


def _contexts(sentence: _Sentence, reads: list[_Read]) -> list[_Clause]:
    """The clause of each amount; amounts in the same parentheses (or outside any)
    divide the words between them at the first clause break."""
    peers: dict[tuple[int, int] | None, list[int]] = {}
    for i, r in enumerate(reads):
        peers.setdefault(r.group, []).append(i)
    out: list[_Clause] = [_Clause("", "", "")] * len(reads)
    for group, members in peers.items():
        lo0, hi0 = (group[0] + 1, group[1]) if group else (sentence.start, sentence.end)
        for pos, i in enumerate(members):
            r = reads[i]
            prev = reads[members[pos - 1]] if pos else None
            nxt = reads[members[pos + 1]] if pos + 1 < len(members) else None
            lo = lo0 if prev is None else max(lo0, _outer_end(prev))
            r0 = _outer_end(r)
            hi = hi0 if nxt is None else min(hi0, nxt.start)
            left = sentence.clause_left(lo, r.start)
            right, right_long = sentence.clause_right(r0, max(hi, r0), nxt is not None)
            out[i] = _Clause(left, right, right_long)
    return out


def _outer_end(r: _Read) -> int:
    """Where the words after an amount start: after "(...)" written right after it."""
    return r.attached[1] + 1 if r.attached else r.end


_PHASE_REACH = 36
_ROUTE_REACH = 60


def _mention(sentence: _Sentence, r: _Read, clause: _Clause) -> DoseMention:
    left, right = clause.left, clause.right
    route = _nearest(_ROUTE, left, right, _ROUTE_REACH)
    phase = _nearest(_STAGE, left, right, _PHASE_REACH) or _nearest(
        _MODE, left, right, _PHASE_REACH
    )
    freq = _nearest(_FREQUENCY, left, clause.right_long)
    interval, single = _interval(freq) if freq else (None, False)
    return DoseMention(
        drug=sentence.drug_for(r.start, _outer_end(r)),  # "400 U/kg (48,000 units) of heparin"
        amount=r.amount,
        span=(r.start, r.end),
        sentence=sentence.span,
        interval_h=r.interval_h if r.interval_h is not None else interval,
        route=_ROUTE_NAMES[route.lastgroup or ""] if route else None,
        phase=_PHASE_NAMES[phase.lastgroup or ""] if phase else None,
        is_max=bool(_MAX_BEFORE.search(left) or _MAX_AFTER.match(right)),
        weight_kg=r.weight_kg,
        total=r.total,
        single_dose=single and r.interval_h is None,
        count=r.count,
    )


def _weights(text: str, reads: list[_Read], stop: int) -> list[_Read]:
    """Fill weight_kg and total: "80 mg for an 80 kg patient", "for an 80 kg patient,
    80 mg", "1 mg/kg (80 mg for 80 kg)", "1 mg/kg × 80 kg = 80 mg". A total that annotates
    a per-kg amount is merged into it rather than kept as a dose of its own."""
    before = [(m.end(), float(m.group("w"))) for m in _WEIGHT_BEFORE.finditer(text, 0, stop)]
    for r in reads:
        if r.amount.per_kg:
            continue
        m = _WEIGHT_AFTER.match(text, r.end, stop)
        if m:
            r.weight_kg, r.total = float(m.group("w")), r.amount
            continue
        k = bisect_right(before, (r.start, math.inf)) - 1
        if k >= 0 and r.start - before[k][0] <= _WEIGHT_REACH:
            r.weight_kg, r.total = before[k][1], r.amount
    kept: list[_Read] = []
    for r in reads:
        prev = kept[-1] if kept else None
        if prev is not None and prev.amount.per_kg and not r.amount.per_kg and prev.total is None:
            times = _TIMES_WEIGHT.match(text, prev.end, stop)
            if times and times.end() == r.start:
                prev.weight_kg, prev.total = float(times.group("w")), r.amount
                continue
            if r.weight_kg is not None and _TOTAL_GAP.fullmatch(text, prev.end, r.start):
                prev.weight_kg, prev.total = r.weight_kg, r.amount
                continue
        kept.append(r)
    return kept


def _inherit(text: str, mentions: list[DoseMention], reads: list[_Read]) -> list[DoseMention]:
    """An amount in parentheses takes route, phase and frequency from the amount it
    annotates: "120 units/kg (not more than 10,000 units) subcutaneously every 12 hours".
    Parentheses after a clause break annotate something else: "40 mg once daily) and 24
    hours after higher doses (0.75 or 1 mg/kg twice daily)"."""
    out = list(mentions)
    for i, r in enumerate(reads):
        if r.group is None:
            continue
        parent = next(
            (j for j in range(i - 1, max(-1, i - 20), -1) if reads[j].end <= r.group[0]),
            None,
        )
        if parent is None or _SEPARATOR.search(text, reads[parent].end, r.group[0]):
            continue
        p, m = out[parent], out[i]
        keep_interval = m.interval_h is not None or m.amount.per_time or m.single_dose
        out[i] = replace(
            m,
            route=m.route or p.route,
            phase=m.phase or p.phase,
            interval_h=m.interval_h if keep_interval else p.interval_h,
        )
    return out


_LIST_GAP = re.compile(r"[ \t]{0,2},?[ \t]{0,2}(?:(?:or|and|to)[ \t]{1,3})?", re.IGNORECASE)


def _distribute(text: str, mentions: list[DoseMention], reads: list[_Read]) -> list[DoseMention]:
    """A list shares what is written after its last amount: "400 mg or 800 mg IV bolus",
    "5 mg, 7.5 mg or 10 mg subcutaneously once daily"."""
    out = list(mentions)
    for i in range(len(reads) - 2, -1, -1):
        r, nxt = reads[i], reads[i + 1]
        if r.group != nxt.group or not _LIST_GAP.fullmatch(text, _outer_end(r), nxt.start):
            continue
        m, n = out[i], out[i + 1]
        same_rate = m.amount.per_time == n.amount.per_time
        out[i] = replace(
            m,
            route=m.route or n.route,
            phase=m.phase or n.phase,
            interval_h=m.interval_h
            if m.interval_h is not None or not same_rate or m.single_dose
            else n.interval_h,
        )
    return out


def _unparsed(sentence: _Sentence, loose: list[_Loose], reads: list[_Read]) -> list[Unparsed]:
    """Fail closed: a number next to a known drug that could not be read as a dose."""
    out: list[Unparsed] = []
    if not sentence.drugs and not any(raw.refused for raw in loose):
        return out
    starts = [r.start for r in reads]
    for raw in loose:
        k = bisect_right(starts, raw.start) - 1
        if k >= 0 and reads[k].end > raw.start and not raw.refused:
            # part of an amount that was read ("100 IU (1 mg) per kg"); a refused number
            # inside one ("O.1-0.5 mcg/kg/min") still refuses it
            continue
        if raw.refused:
            named = sentence.drug_for(raw.start, raw.end) or ""  # else resolved by the caller
            out.append(Unparsed(named, (raw.start, raw.end), sentence.span, raw.reason))
            continue
        if not sentence.drugs:
            continue
        drug = sentence.adjacent_drug(raw.start)
        if (
            drug is None
            and not raw.strong
            and not _DOSE_WORD_AFTER.match(sentence.text, raw.end)
            and not _CORRECTION_BEFORE.search(sentence.text, max(0, raw.start - 60), raw.start)
        ):
            continue
        item = _classify(sentence.text, raw)
        if item.reason in ("identifier", "not a dose"):
            continue
        if drug is None and item.strong:
            drug = sentence.drug_for(item.start, item.end)
        if drug is None:
            continue
        reason = _NO_UNIT if item.reason == "no unit" else item.reason
        out.append(Unparsed(drug, (item.start, item.end), sentence.span, reason))
    return out


@lru_cache(maxsize=1)
def _bound_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """A measured quantity's name, then markup and a few words, at the end of a text: with a
    comparison last ("Urine output < ", "| **Heart rate** | > ") and without one ("urine
    output "); and a comparison written after a value ("0.5 mL/kg/h or less"). The words
    are guardrails/data/measures.yaml's."""
    g = measures_grammar()
    ops = "|".join(re.escape(w) for w in sorted(g.ops, key=len, reverse=True))
    trail = "|".join(re.escape(w) for w in sorted(g.trailing, key=len, reverse=True))
    gap = r"(?:[^\w\n<>\u2264\u2265]{0,8}[^\W\d_]{1,15}){0,3}[^\w\n<>\u2264\u2265]{0,8}"
    name = rf"(?:{g.names.pattern})"
    compared = re.compile(rf"{name}{gap}(?:{ops})[ \t*_]{{0,4}}\Z", re.IGNORECASE)
    plain = re.compile(rf"{name}{gap}\Z", re.IGNORECASE)
    after = re.compile(rf"[ \t*_]{{0,4}}(?:{trail})\b", re.IGNORECASE)
    return compared, plain, after


def _unit_key(written: str) -> str:
    return re.sub(r"[\s\-]+", "", written.lower().replace("\u00b5", "u").replace("\u03bc", "u"))


def _bound_of_measure(text: str, r: _Read, drugs: Sequence[DrugHit] = ()) -> bool:
    """Whether an amount is a measured value or its threshold, not a dose: its noun is a
    measure ("urine output", "heart rate", "tidal volume") and a comparison bounds it
    ("Urine output < 0.5 mL/kg/hr", "urine output 0.5 mL/kg/h or more"), or it is written in
    that measure's own unit ("urine output 0.5-1.0 mL/kg/hr"); or a word after it names a
    quantity no drug is dosed in ("6 mL/kg PBW", "20 g/day of alcohol"). A drug's dose after
    a measure's name ("potassium 20 mEq") stays a dose to check, and so does an amount with
    a drug named between the measure and it ("intake of acetaminophen 4 g") or right after
    it ("50 mEq sodium bicarbonate")."""
    g = measures_grammar()
    tail = g.not_dose_after.match(text, r.end)
    # A drug named just before ("enoxaparin 40 mg PBW") or as the word itself keeps it.
    if tail is not None and not any(r.start - 60 <= s < tail.end() + 2 for s, _, _ in drugs):
        return True
    compared, plain, after = _bound_patterns()
    head = max(0, r.start - 60)
    m = compared.search(text, head, r.start) or plain.search(text, head, r.start)
    if m is None:
        return False
    named = m.end("abbr") if m.group("abbr") else m.end("name")
    if any(named <= s < r.start for s, _, _ in drugs):
        return False
    if compared.match(text, m.start(), r.start):
        return True
    if after.match(text, r.end):
        return True
    measure = g.measures.get(name_id(g, m))
    written = _unit_key(text[r.start : r.end])
    return measure is not None and any(written.endswith(_unit_key(u)) for u in measure.units)


def _extract_sentence(text: str, lexicon: Lexicon) -> tuple[list[DoseMention], list[Unparsed]]:
    """Doses and unreadable numbers of one sentence; offsets are into ``text``."""
    if not _HAS_NUMBER.search(text) and not (_UNIT_HINT.search(text) and _lookalikes(text)):
        return [], []  # no number, nor a letter written for one ("l mg/kg")
    words = list(_WORD.finditer(text))
    drugs = _find_drugs(text, words, lexicon)
    if not drugs and not _UNIT_HINT.search(text):
        return [], []  # no dose unit to read, no drug to fail closed for
    numbers = _numbers(text, words)
    if not numbers:
        return [], []
    reader = _AmountReader(text, numbers, len(text), [d[1] for d in drugs])
    reads = [r for r in reader.run() if not _bound_of_measure(text, r, drugs)]
    sentence = _Sentence(text, 0, len(text), drugs, frozenset(reader.ratio_ends))
    _groups(sentence, reads)
    reads = _weights(text, reads, len(text))
    clauses = _contexts(sentence, reads)
    mentions = [_mention(sentence, r, c) for r, c in zip(reads, clauses, strict=True)]
    mentions = _distribute(text, _inherit(text, mentions, reads), reads)
    mentions = _row_cells(text, _row_labels(text, mentions, drugs))
    return mentions, _unparsed(sentence, reader.loose, reads)


def _row_cells(text: str, mentions: list[DoseMention]) -> list[DoseMention]:
    """In a table row of one amount, an amount whose own cell writes no interval (or route) takes the one
    the row's other cells write, where they write exactly one ("| Ceftriaxone | 2 g | Every
    24 hours |"); a cell that writes its own ("30 mg IV bolus, then 1 mg/kg every 12 hours")
    keeps what its words say."""
    if not text.lstrip().startswith("|") or len(mentions) != 1:
        return mentions  # several amounts: which one a cell's interval is for is not said
    bars = [m.start() for m in _CELL_BAR.finditer(text)]
    if len(bars) < 2:
        return mentions

    def cell(pos: int) -> tuple[int, int]:
        k = bisect_right(bars, pos)
        return (bars[k - 1] if k else 0, bars[k] if k < len(bars) else len(text))

    out = []
    for m in mentions:
        lo, hi = cell(m.span[0])
        others = text[:lo] + " | " + text[hi:]
        interval, route = m.interval_h, m.route
        if interval is None and not _FREQUENCY.search(text, lo, hi):
            found = {_interval(f)[0] for f in _FREQUENCY.finditer(others)} - {None}
            interval = next(iter(found)) if len(found) == 1 else None
        if route is None and not _ROUTE.search(text, lo, hi):
            routes = {_ROUTE_NAMES[r.lastgroup or ""] for r in _ROUTE.finditer(others)}
            route = next(iter(routes)) if len(routes) == 1 else None
        out.append(replace(m, interval_h=interval, route=route))
    return out


_CELL_BAR = re.compile(r"(?<!\\)\|")


def _row_labels(
    text: str, mentions: list[DoseMention], drugs: Sequence[DrugHit]
) -> list[DoseMention]:
    """In a table row, a drug written with its own amount in one cell ("| Examplamab <= 10 mg
    | 400 mg IV |") describes the patient (the dose they took), so it is not the drug of the
    amounts in other cells: those lose it and carry it in ``set_aside`` for the caller, who
    reads the table's drug from what the row stands under. An amount whose own cell names a
    drug, or whose drug is also named in a cell without an amount, keeps its drug."""
    bars = [m.start() for m in _CELL_BAR.finditer(text)]
    if not bars or not drugs or len(mentions) < 2:
        return mentions

    def cell(pos: int) -> int:
        return bisect_right(bars, pos)

    named = [(cell(s), name) for s, _, name in drugs]
    described = {
        (cell(m.span[0]), m.drug)
        for m in mentions
        if m.drug is not None and (cell(m.span[0]), m.drug) in named
    }
    if not described:
        return mentions
    out = []
    for m in mentions:
        here = cell(m.span[0])
        if m.drug is None or any(c == here for c, _ in named):
            out.append(m)
            continue
        homes = [(c, d) for c, d in named if d == m.drug]
        if not all(h in described for h in homes):
            out.append(m)
            continue
        others = [d for c, d in reversed(named) if c != here and (c, d) in described]
        aside = tuple(dict.fromkeys([m.drug, *others]))
        out.append(replace(m, drug=None, set_aside=aside))
    return out


@lru_cache(maxsize=4096)
def _extract_cached(
    text: str, lexicon: Lexicon
) -> tuple[tuple[DoseMention, ...], tuple[Unparsed, ...]]:
    mentions, unparsed = _extract_sentence(text, lexicon)
    return tuple(mentions), tuple(unparsed)


def _shift(span: tuple[int, int], by: int) -> tuple[int, int]:
    return span[0] + by, span[1] + by


def _extract_at(
    text: str, start: int, end: int, lexicon: Lexicon
) -> tuple[list[DoseMention], list[Unparsed]]:
    """One sentence of ``text``, with offsets moved back into ``text``. Sentences repeat
    (answers quote the pack, conversations repeat), so short ones are remembered."""
    piece = text[start:end]
    found: Sequence[DoseMention]
    loose: Sequence[Unparsed]
    if len(piece) <= _CACHED_CHARS:
        found, loose = _extract_cached(piece, lexicon)
    else:
        found, loose = _extract_sentence(piece, lexicon)
    mentions = [replace(m, span=_shift(m.span, start), sentence=(start, end)) for m in found]
    unparsed = [replace(u, span=_shift(u.span, start), sentence=(start, end)) for u in loose]
    return mentions, unparsed


_LINE = re.compile(r"[^\n]+")
# Longer "sentences" (pages without punctuation) are cut at whitespace: no real sentence
# is this long, and bounded (and so cacheable) pieces keep hostile input linear.
_CACHED_CHARS = _MAX_SENTENCE = 2_000
# Characters of a word or number ("1,500.5"): a cut between two of them splits it.
_TOKEN_TAIL = re.compile(r"(?:[^\W_]|[.,]){1,2000}\Z")
_TOKEN_HEAD = re.compile(r"(?:[^\W_]|[.,])*")


def _in_token(text: str, pos: int) -> bool:
    """Whether ``pos`` falls between two characters of one word or number."""
    return 0 < pos < len(text) and all(c.isalnum() or c in ".," for c in text[pos - 1 : pos + 1])


def _sentences(text: str) -> Iterator[tuple[int, int]]:
    """Sentence spans; a line break always ends a sentence."""
    for line in _LINE.finditer(text):
        for start, end in _closed(text, split_sentences(text, line.start(), line.end())):
            if end - start <= _MAX_SENTENCE:
                yield start, end
            else:
                yield from _pieces(text, start, end)


def _closed(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """No sentence ends inside parentheses: "1 mg/kg (i.e. 10 mg/kg)" is one sentence, so
    the restatement is read with the drug it restates."""
    out: list[tuple[int, int]] = []
    depth = 0  # parentheses left open by out[-1]
    for start, end in spans:
        opened = text.count("(", start, end) - text.count(")", start, end)
        if out and depth > 0 and end - out[-1][0] <= _MAX_SENTENCE:
            out[-1] = (out[-1][0], end)
            depth += opened
        else:
            out.append((start, end))
            depth = opened
    return out


def _pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """An over-long sentence cut into bounded pieces at whitespace that does not split a
    dose ("5 | mg"). Where there is no such whitespace, the word or number the cut falls
    in is dropped rather than split (a split "100000" would read as "00")."""
    first = start
    while start < end:
        stop = end if end - start <= _MAX_SENTENCE else _cut(text, start, start + _MAX_SENTENCE)
        s, e = start, stop
        if s > first and _in_token(text, s):
            head = _TOKEN_HEAD.match(text, s, e)
            s = head.end() if head else s
        if e < end and _in_token(text, e):
            tail = _TOKEN_TAIL.search(text, s, e)
            e = tail.start() if tail else e
        while s < e and text[s].isspace():
            s += 1
        if e > s:
            yield s, e
        start = stop


def _cut(text: str, start: int, stop: int) -> int:
    """Where to end a piece that may not reach past ``stop``."""
    cut = stop
    for _ in range(8):
        space = text.rfind(" ", start + 1, cut)
        if space <= start:
            break
        near_number = text[space - 1].isdigit() or text[space + 1].isdigit()
        if not near_number and not _BASE_UNIT.match(text, space, min(len(text), space + 40)):
            return space
        cut = space
    return stop


def extract(
    text: str, drugs: Sequence[Drug] | Lexicon | None = None
) -> tuple[list[DoseMention], list[Unparsed]]:
    """Every dose stated in ``text``, and every number next to a drug that could not be
    read as one (fail closed). The text is read after ``normalise`` (markup, entities,
    invisible characters, magnitudes, fractions); spans are offsets into ``text``.
    ``drugs`` defaults to every drug (``guardrails.lexicon.drug_lexicon()``)."""
    lexicon = drug_lexicon() if drugs is None else _lexicon(drugs)
    folded = fold(text)
    norm = normalise_changed(folded)
    read = folded if norm is None else norm.text
    mentions: list[DoseMention] = []
    unparsed: list[Unparsed] = []
    previous: tuple[int, int] | None = None
    for start, end in _sentences(read):
        found, loose = _extract_at(read, start, end, lexicon)
        if not found and not loose and previous is not None:
            loose = _corrected_after(read, previous, (start, end), lexicon)
        mentions.extend(found)
        unparsed.extend(loose)
        previous = (start, end)
    if norm is None:
        return mentions, unparsed
    return (
        [replace(m, span=norm.span(*m.span), sentence=norm.span(*m.sentence)) for m in mentions],
        [replace(u, span=norm.span(*u.span), sentence=norm.span(*u.sentence)) for u in unparsed],
    )


_CORRECTED_NUMBER = re.compile(
    _CORRECTION_BEFORE.pattern[: -len(r"\Z")]
    + r"(?<![\w.,])(?P<n>[0-9]{1,9}(?:[.,][0-9]{1,6})?)(?![\w]|[.,][0-9])",
    re.IGNORECASE,
)


def _corrected_after(
    text: str, previous: tuple[int, int], sentence: tuple[int, int], lexicon: Lexicon
) -> list[Unparsed]:
    """ "Enoxaparin 1 mg/kg. No wait, 10.": a bare number that corrects the sentence before
    is refused for the drug that sentence named last."""
    low = text[sentence[0] : sentence[1]].lower()
    if not any(cue in low for cue in _CORRECTION_CUES):
        return []  # the common case, without a regex
    m = _CORRECTED_NUMBER.search(text, *sentence)
    if m is None or _DURATION_AFTER.match(text, m.end("n")):
        return []
    words = list(_WORD.finditer(text, *previous))
    drugs = _find_drugs(text, words, lexicon)
    if not drugs:
        return []
    return [Unparsed(drugs[-1][2], m.span("n"), sentence, _CORRECTED)]
