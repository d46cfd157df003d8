"""Clinical measurements in text: the patient's values a question states and the thresholds
a document states, read by one reader whose every name, unit and range is data
(guardrails/data/measures.yaml).

    read_values("86F, K 3.1, creatinine 203 umol/L, 121 lb")
        -> age 86, sex female, potassium 3.1 mmol/L, creatinine 2.30 mg/dL, weight 54.9 kg
    read_conditions("eGFR > 30 mL/min/1.73 m² and serum potassium < 5.0 mEq/L")
        -> egfr (30, ∞), potassium (−∞, 5.0)
    judge(conditions, values) -> [(condition, measurement, satisfied), ...]

What it reads: a measure's name (or abbreviation) followed, through a few connecting words
("of", "is", "level"), by a number and an optional unit; a number followed by a unit that
names its measure alone ("121 lb", "79-year-old", "38.5 °C"); an age fused with a sex letter
("86F"); a band (comparison word before or after the number, "15–50", "between 30 and 44").
Every value is converted to the measure's canonical unit with pint (molar <-> mass through
the molar mass in the data) and kept only when plausible for that measure ("K 3.1" yes,
"K 31" no).

What it refuses: a bare number without a name or an identifying unit is never a measure
("30 mg", "6 months", "Class III"), unless the caller names the measure a bare band is of
(a table column or heading: ``read_conditions("30–44", default="egfr")``); a number followed
by a dose, count or time unit is no value of the named measure ("K 20 mEq"); in
``read_values`` a band is not a value ("eGFR below 30" is a condition).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from corpus.yamlio import load_yaml

DATA = Path(__file__).resolve().parent / "data" / "measures.yaml"
SEX = "sex"  # the measure id of a stated sex (a category: "female" or "male")
_MAX_TEXT = 20_000  # a question or a passage is short; never scan megabytes


# ------------------------------------------------------------------ public types


@dataclass(frozen=True, slots=True)
class Measurement:
    """A value the text states for a patient.

    ``value`` is in the measure's canonical ``unit`` (for a graded measure, its rank, and
    ``category`` the grade: "C", "III", "female"); ``written_value`` and ``written_unit`` are
    as written ("203", "umol/L"; the unit is "" when none was written); ``start``/``end`` is
    the span in the text read."""

    measure: str
    value: float
    unit: str
    written_value: str
    written_unit: str
    start: int
    end: int
    category: str | None = None

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


@dataclass(frozen=True, slots=True)
class Condition:
    """A threshold the text states: ``measure`` lies between ``low`` and ``high`` (None is
    open), each bound included or not, in the measure's canonical ``unit``; ``start``/``end``
    is the span of the band in the text read."""

    measure: str
    low: float | None
    high: float | None
    low_inclusive: bool
    high_inclusive: bool
    unit: str
    start: int
    end: int

    @property
    def span(self) -> tuple[int, int]:
        return self.start, self.end


# ------------------------------------------------------------------ the data


class _MeasureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    names: list[str] = Field(default_factory=list)
    abbreviations: list[str] = Field(default_factory=list)
    unit: str
    units: dict[str, str] = Field(default_factory=dict)
    bare: list[str] = Field(default_factory=list)
    identifying: list[str] = Field(default_factory=list)
    range: tuple[float, float]
    molar_mass: float | None = Field(default=None, gt=0)
    categories: dict[str, float] = Field(default_factory=dict)
    pair: tuple[str, str] | None = None


class _SexSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    letters: list[str]
    words: list[str]


class _FusedSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    not_near: list[str]
    window: int = Field(ge=0, le=200)


class _Comparisons(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    below: list[str]
    at_most: list[str]
    above: list[str]
    at_least: list[str]


class _Trailing(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_most: list[str]
    at_least: list[str]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    measures: dict[str, _MeasureSpec]
    sex: dict[str, _SexSpec]
    fused_age_sex: _FusedSpec
    connectors: list[str]
    comparisons: _Comparisons
    trailing: _Trailing
    trailing_measure: dict[str, str]
    range_joiners: list[str]
    between: list[tuple[str, str]]
    not_units: list[str]
    not_dose_after: list[str] = []


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure of the data: canonical unit, written units (folded key -> pint
    expression), plausible range, molar mass, grades."""

    id: str
    unit: str
    low: float
    high: float
    units: Mapping[str, str]
    bare: tuple[str, ...]
    identifying: frozenset[str]
    molar_mass: float | None
    categories: Mapping[str, float]
    pair: tuple[str, str] | None

    def plausible(self, value: float) -> bool:
        return self.low <= value <= self.high


def _unit_key(written: str) -> str:
    """A written unit as looked up: case, spaces, hyphens, micro signs, superscripts and the
    multiplication sign folded ("× 10⁹/L" and "x10^9/l" are one key)."""
    key = written.lower().replace("µ", "u").replace("μ", "u").replace("º", "°")
    key = key.replace("×", "x").replace("²", "2").replace("³", "3").replace("⁹", "9")
    return re.sub(r"[\s\-]+", "", key)


def _form(written: str) -> str:
    """A regex for a written word or unit: any spacing or hyphen where it has a space, the
    micro sign, superscripts and × in either spelling."""
    out = []
    for ch in written:
        if ch.isspace():
            out.append(r"[\s\-]*")
        elif ch in "µμ":
            out.append("[µμu]")
        elif ch in "²":
            out.append(r"(?:²|\^?2)")
        elif ch in "³":
            out.append(r"(?:³|\^?3)")
        elif ch in "⁹":
            out.append(r"(?:⁹|\^9)")
        elif ch in "×":
            out.append(r"[×xX*]\s*")
        elif ch in "°º":
            out.append(r"\s*[°º]")
        else:
            out.append(re.escape(ch))
    pattern = "".join(out)
    return pattern + r"(?!\w)" if written[-1:].isalnum() else pattern


def _alternation(words: Iterable[str]) -> str:
    forms = sorted(set(words), key=lambda w: (-len(w), w))
    return "(?:" + "|".join(_form(w) for w in forms) + ")" if forms else "(?!)"


_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?:[kK](?![\w+]))?"


def _number(written: str) -> float:
    text = written.replace(",", "")
    if text[-1:] in "kK":
        return float(text[:-1]) * 1000.0
    return float(text)


@dataclass(frozen=True, slots=True)
class _Grammar:
    measures: Mapping[str, Measure]
    names: re.Pattern[str]
    name_ids: Mapping[str, str]  # folded name -> measure id
    values: Mapping[str, re.Pattern[str]]  # measure id -> value after its name
    bands: Mapping[str, re.Pattern[str]]  # measure id -> band after its name
    grades: Mapping[str, re.Pattern[str]]  # graded measure id -> grade(s) after its name
    identified: re.Pattern[str]  # a number and a unit that names its measure
    unit_ids: Mapping[str, str]  # identifying unit key -> measure id
    band: re.Pattern[str]  # a band anywhere, with any measure's unit
    fused: re.Pattern[str]  # "86F"
    fused_not_near: re.Pattern[str]
    fused_window: int
    sex_after: re.Pattern[str]
    sex_of: Mapping[str, str]  # folded letter or word -> "female" / "male"
    sex_rank: Mapping[str, float]
    not_unit: re.Pattern[str]
    band_before: re.Pattern[str]  # the end of a text that puts the next number in a band
    band_after: re.Pattern[str]  # the start of a text that puts the previous number in one
    ops: Mapping[str, str]  # folded comparison word -> below / at_most / above / at_least
    trailing: Mapping[str, str]
    trailing_measure: Mapping[str, str]
    not_dose_after: re.Pattern[str]  # words after an amount that make it no drug's dose


def _fold_words(text: str) -> str:
    return re.sub(r"[\s\-]+", " ", text.strip().lower())


def _band_pattern(units: str, ops: str, trail: str, joiners: str, first: str, second: str) -> str:
    return (
        rf"(?:(?P<op>{ops})\s*(?P<a>{_NUM})(?:\s*/\s*(?P<a2>{_NUM}))?\s*(?P<ua>{units})?"
        rf"|(?:{first})\s+(?P<b1>{_NUM})\s*(?P<ub1>{units})?\s*(?:{second})\s+"
        rf"(?P<b2>{_NUM})\s*(?P<ub2>{units})?"
        rf"|(?P<r1>{_NUM})\s*(?P<ur1>{units})?\s*(?:{joiners})\s*(?P<op2>[<≤])?\s*"
        rf"(?P<r2>{_NUM})\s*(?P<ur2>{units})?"
        rf"|(?P<t>{_NUM})\s*(?P<ut>{units})?\s*(?P<trail>{trail}))"
    )


@lru_cache(maxsize=1)
def grammar() -> _Grammar:
    """measures.yaml, validated and compiled once per process."""
    spec = _Spec.model_validate(load_yaml(DATA.read_text(encoding="utf-8")))
    measures: dict[str, Measure] = {}
    for mid, m in spec.measures.items():
        units = {_unit_key(w): p for w, p in m.units.items()}
        if m.unit and _unit_key(m.unit) not in units:
            raise ValueError(f"{DATA.name}: {mid}: its unit {m.unit!r} is not among its units")
        for written in (*m.bare, *m.identifying):
            if _unit_key(written) not in units:
                raise ValueError(f"{DATA.name}: {mid}: {written!r} is not among its units")
        if m.pair and any(p not in spec.measures for p in m.pair):
            raise ValueError(f"{DATA.name}: {mid}: pair {m.pair} names an unknown measure")
        measures[mid] = Measure(
            id=mid,
            unit=m.unit,
            low=m.range[0],
            high=m.range[1],
            units=units,
            bare=tuple(m.bare) or ((m.unit,) if m.unit else ()),
            identifying=frozenset(_unit_key(u) for u in m.identifying),
            molar_mass=m.molar_mass,
            categories=dict(m.categories),
            pair=m.pair,
        )

    name_ids: dict[str, str] = {}
    for mid, m in spec.measures.items():
        for name in m.names:
            name_ids.setdefault(_fold_words(name).replace(" ", ""), mid)
        for abbr in m.abbreviations:
            name_ids.setdefault(abbr, mid)
    words = [n for m in spec.measures.values() for n in m.names]
    abbrs = [a for m in spec.measures.values() for a in m.abbreviations]
    names = re.compile(
        rf"(?<![\w\-])(?:(?P<abbr>(?-i:{_alternation(abbrs)}))|(?P<name>{_alternation(words)}))",
        re.IGNORECASE,
    )

    comparisons = spec.comparisons.model_dump()
    ops = {_fold_words(w): kind for kind, ws in comparisons.items() for w in ws}
    ops_re = _alternation(w for ws in comparisons.values() for w in ws)
    trailing = {_fold_words(w): kind for kind, ws in spec.trailing.model_dump().items() for w in ws}
    trail_re = _alternation(w for ws in spec.trailing.model_dump().values() for w in ws)
    joiners = _alternation(spec.range_joiners)
    first = _alternation(p[0] for p in spec.between)
    second = _alternation(p[1] for p in spec.between)
    gap = rf"(?:\s*{_alternation(spec.connectors)})*\s*"

    values: dict[str, re.Pattern[str]] = {}
    bands: dict[str, re.Pattern[str]] = {}
    grades: dict[str, re.Pattern[str]] = {}
    for mid, m in spec.measures.items():
        units_re = _alternation(m.units)
        values[mid] = re.compile(
            rf"{gap}(?P<v>{_NUM})(?:\s*/\s*(?P<v2>{_NUM}))?(?:\s*(?P<u>{units_re}))?",
            re.IGNORECASE,
        )
        bands[mid] = re.compile(
            gap + _band_pattern(units_re, ops_re, trail_re, joiners, first, second),
            re.IGNORECASE,
        )
        if m.categories:
            cats = _alternation(m.categories)
            grades[mid] = re.compile(
                rf"(?i:{gap})(?P<c1>{cats})(?:\s*(?i:-|–|to|or|and|through)\s*(?P<c2>{cats}))?"
            )

    all_units = _alternation(w for m in spec.measures.values() for w in m.units)
    identifying = [w for m in spec.measures.values() for w in m.identifying]
    unit_ids: dict[str, str] = {}
    for mid, m in spec.measures.items():
        for w in m.identifying:
            unit_ids[_unit_key(w)] = mid
    identified = re.compile(
        rf"(?<![\w.,/])(?P<v>{_NUM})[\s\-]*(?P<u>{_alternation(identifying)})(?!\s*/)",
        re.IGNORECASE,
    )
    band = re.compile(
        r"(?<![\w.,])" + _band_pattern(all_units, ops_re, trail_re, joiners, first, second),
        re.IGNORECASE,
    )

    sex_of: dict[str, str] = {}
    sex_rank: dict[str, float] = {}
    letters: list[str] = []
    sex_words: list[str] = []
    for rank, (sex, s) in enumerate(spec.sex.items(), start=1):
        sex_rank[sex] = float(rank)
        for letter in s.letters:
            sex_of[letter] = sex
            letters.append(letter)
        for word in s.words:
            sex_of[word.lower()] = sex
            sex_words.append(word)
    letters_re = _alternation(letters)
    fused = re.compile(rf"(?<![\w.,])(?P<v>\d{{1,3}})(?P<s>{letters_re})(?![\w'’-])")
    sex_after = re.compile(
        rf"[\s,\-]*(?:(?P<letter>{letters_re})|(?P<word>(?i:{_alternation(sex_words)})))"
    )
    return _Grammar(
        measures=measures,
        names=names,
        name_ids=name_ids,
        values=values,
        bands=bands,
        grades=grades,
        identified=identified,
        unit_ids=unit_ids,
        band=band,
        fused=fused,
        fused_not_near=re.compile(_alternation(spec.fused_age_sex.not_near), re.IGNORECASE),
        fused_window=spec.fused_age_sex.window,
        sex_after=sex_after,
        sex_of=sex_of,
        sex_rank=sex_rank,
        not_unit=re.compile(rf"\s*{_alternation(spec.not_units)}", re.IGNORECASE),
        band_before=re.compile(
            rf"(?:{ops_re}\s*|{_NUM}\s*(?:{joiners})\s*[<≤]?\s*|(?:{first})\s+)$", re.IGNORECASE
        ),
        band_after=re.compile(rf"\s*(?:(?:{joiners})\s*[<≤]?\s*\d|{trail_re})", re.IGNORECASE),
        ops=ops,
        trailing=trailing,
        trailing_measure={_fold_words(k): v for k, v in spec.trailing_measure.items()},
        not_dose_after=re.compile(
            rf"[ \t*_]{{0,4}}(?:{_alternation(spec.not_dose_after)})(?![\w])",
            re.IGNORECASE,
        ),
    )


def measure_ids() -> tuple[str, ...]:
    """Every measure the data knows (and ``SEX``)."""
    return (*grammar().measures, SEX)


def measure_named(text: str) -> str | None:
    """The measure the first name in ``text`` is of (a table header "eGFR (mL/min/1.73 m²)",
    a heading), or None: what a caller passes as ``default`` for the bare bands under it."""
    g = grammar()
    m = g.names.search(text[:_MAX_TEXT])
    return name_id(g, m) if m else None


# ------------------------------------------------------------------ units


@lru_cache(maxsize=512)
def _convert(source: str, target: str, molar_mass: float | None, value: float) -> float | None:
    from pint.errors import DimensionalityError, UndefinedUnitError

    from guardrails.units import registry

    ureg = registry()
    try:
        src, dst = ureg.parse_expression(source), ureg.parse_expression(target)
        q = ureg.Quantity(value * src.magnitude, src.units)
        try:
            return float(q.to(dst.units).magnitude / dst.magnitude)
        except DimensionalityError:
            if molar_mass is None:
                return None
        mass = ureg.Quantity(molar_mass, "g/mol")
        for candidate in (q * mass, q / mass):
            try:
                return float(candidate.to(dst.units).magnitude / dst.magnitude)
            except DimensionalityError:
                continue
    except (UndefinedUnitError, ValueError, AttributeError, TypeError):
        return None
    return None


def to_canonical(measure: Measure, value: float, written_unit: str) -> float | None:
    """``value`` written in ``written_unit`` as the measure's canonical unit (pint; molar
    <-> mass through the measure's molar mass), or None when the unit is not one of the
    measure's or does not convert."""
    if not measure.unit:
        return value if not written_unit else None
    source = measure.units.get(_unit_key(written_unit))
    target = measure.units[_unit_key(measure.unit)]
    if source is None:
        return None
    if source == target:
        return value
    return _convert(source, target, measure.molar_mass, value)


def _bare(measure: Measure, value: float) -> tuple[float, str] | None:
    """A number written without a unit: the first of the measure's bare units that makes it
    plausible, as (canonical value, that unit)."""
    if not measure.unit:
        return (value, "") if measure.plausible(value) else None
    for unit in measure.bare:
        converted = to_canonical(measure, value, unit)
        if converted is not None and measure.plausible(converted):
            return converted, unit
    return None


# ------------------------------------------------------------------ reading values


def name_id(g: _Grammar, m: re.Match[str]) -> str:
    if m.group("abbr") is not None:
        return g.name_ids.get(m.group("abbr"), "")
    # the name pattern reads "body weight", "body-weight" and "bodyweight" alike
    return g.name_ids[_fold_words(m.group("name")).replace(" ", "")]


def _in_band(g: _Grammar, text: str, start: int, end: int) -> bool:
    return bool(
        g.band_before.search(text[max(0, start - 30) : start]) or g.band_after.match(text, end)
    )


def _value(g: _Grammar, measure: Measure, number: str, unit: str | None) -> float | None:
    value = _number(number)
    if unit:
        converted = to_canonical(measure, value, unit)
        return converted if converted is not None and measure.plausible(converted) else None
    bare = _bare(measure, value)
    return bare[0] if bare else None


def _sex(g: _Grammar, written: str, start: int, end: int) -> Measurement:
    key = written if written in g.sex_of else written.lower()
    sex = g.sex_of[key]
    return Measurement(SEX, g.sex_rank[sex], "", written, "", start, end, category=sex)


def _overlaps(spans: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(s < end and start < e for s, e in spans)


def read_values(text: str) -> tuple[Measurement, ...]:
    """The patient values ``text`` (a question, a conversation turn) states, in text order:
    each in its measure's canonical unit, with the value and unit as written and the span.

    A measure is read from its name and a number ("K 3.1", "CrCl ~12", "BP 230/130" as SBP
    and DBP, "Child-Pugh C"), from a number with a unit that names it ("121 lb",
    "79-year-old"), or from an age fused with a sex letter ("86F", unless a temperature word
    is near). A sex word right after an age or a weight ("79 yo man", "a 70 kg woman") is
    read as the patient's sex. A bare number, a band ("eGFR below 30", "CrCl 30-50") and an
    implausible value ("K 31") are not values."""
    text = text[:_MAX_TEXT]
    g = grammar()
    found: list[Measurement] = []
    taken: list[tuple[int, int]] = []

    def add(m: Measurement) -> None:
        found.append(m)
        taken.append(m.span)

    for name in g.names.finditer(text):
        mid = name_id(g, name)
        measure = g.measures[mid]
        if measure.categories:
            grade = g.grades[mid].match(text, name.end())
            if grade and not grade.group("c2"):
                c = grade.group("c1")
                add(
                    Measurement(mid, measure.categories[c], "", c, "", name.start(), grade.end(), c)
                )
            continue
        m = g.values[mid].match(text, name.end())
        if not m or _overlaps(taken, name.start(), m.end()):
            continue
        unit = m.group("u")
        if _in_band(g, text, m.start("v"), m.end()):
            continue
        if not unit and g.not_unit.match(text, m.end("v2") if m.group("v2") else m.end("v")):
            continue
        if not unit and g.identified.match(text, m.start("v")):
            continue  # "he's 90 kg": the number's own unit names another measure
        if measure.pair:
            if not m.group("v2"):
                continue
            for part, group in zip(measure.pair, ("v", "v2"), strict=True):
                pm = g.measures[part]
                value = _value(g, pm, m.group(group), unit)
                if value is not None:
                    add(
                        Measurement(
                            part,
                            value,
                            pm.unit,
                            m.group(group),
                            unit or "",
                            name.start(),
                            m.end(),
                        )  # fmt: skip
                    )
            continue
        if m.group("v2"):
            continue  # "K 3/4" is no value
        value = _value(g, measure, m.group("v"), unit)
        if value is not None:
            add(
                Measurement(
                    mid, value, measure.unit, m.group("v"), unit or "", name.start(), m.end()
                )
            )
            _sex_after(g, text, m.end(), add)

    for m in g.identified.finditer(text):
        if _overlaps(taken, m.start(), m.end()) or _in_band(g, text, m.start(), m.end()):
            continue
        mid = g.unit_ids[_unit_key(m.group("u"))]
        measure = g.measures[mid]
        value = _value(g, measure, m.group("v"), m.group("u"))
        if value is not None:
            add(
                Measurement(
                    mid, value, measure.unit, m.group("v"), m.group("u"), m.start(), m.end()
                )
            )
            _sex_after(g, text, m.end(), add)

    age = g.measures["age"]
    for m in g.fused.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        near = text[max(0, m.start() - g.fused_window) : m.end() + g.fused_window]
        if g.fused_not_near.search(near):
            continue
        value = float(m.group("v"))
        if age.plausible(value):
            add(Measurement("age", value, age.unit, m.group("v"), "", m.start(), m.end("v")))
            add(_sex(g, m.group("s"), m.start("s"), m.end()))
    return tuple(sorted(found, key=lambda x: (x.start, x.measure)))


def _sex_after(g: _Grammar, text: str, end: int, add: Callable[[Measurement], None]) -> None:
    """A sex letter or word right after an age or a weight ("79 yo man", "70 kg woman")."""
    if s := g.sex_after.match(text, end):
        group = "letter" if s.group("letter") else "word"
        add(_sex(g, s.group(group), s.start(group), s.end()))


# ------------------------------------------------------------------ reading conditions


def _bound(g: _Grammar, measure: Measure, number: str, unit: str | None) -> float | None:
    value = _number(number)
    if unit:
        converted = to_canonical(measure, value, unit)
    else:
        bare = _bare(measure, value)
        converted = bare[0] if bare else None
    if converted is None or not measure.plausible(converted):
        return None
    return converted


def _conditions(g: _Grammar, mid: str, m: re.Match[str], start: int) -> list[Condition]:
    """The condition(s) a band match states for measure ``mid`` (two for a paired measure
    written "> 180/110"); none when a bound is not plausible or its unit not the measure's."""
    measure = g.measures[mid]
    low: float | None = None
    high: float | None = None
    low_inc = high_inc = True
    if m.group("op") is not None:
        kind = g.ops[_fold_words(m.group("op"))]
        if measure.pair:
            if not m.group("a2"):
                return []
            out = []
            for part, group in zip(measure.pair, ("a", "a2"), strict=True):
                sub = _op_condition(g, part, kind, m.group(group), m.group("ua"), start, m.end())
                if sub is None:
                    return []
                out.append(sub)
            return out
        if m.group("a2"):
            return []
        single = _op_condition(g, mid, kind, m.group("a"), m.group("ua"), start, m.end())
        return [single] if single else []
    if m.group("b1") is not None:
        unit = m.group("ub2") or m.group("ub1")
        low = _bound(g, measure, m.group("b1"), m.group("ub1") or unit)
        high = _bound(g, measure, m.group("b2"), unit)
        if low is None or high is None:
            return []
    elif m.group("r1") is not None:
        unit = m.group("ur2") or m.group("ur1")
        low = _bound(g, measure, m.group("r1"), m.group("ur1") or unit)
        high = _bound(g, measure, m.group("r2"), unit)
        if low is None or high is None or low > high:
            return []
        high_inc = not m.group("op2")
    else:
        value = _bound(g, measure, m.group("t"), m.group("ut"))
        if value is None:
            return []
        if g.trailing[_fold_words(m.group("trail"))] == "at_most":
            high = value
        else:
            low = value
    if measure.pair:
        return []
    return [Condition(mid, low, high, low_inc, high_inc, measure.unit, start, m.end())]


def _op_condition(
    g: _Grammar, mid: str, kind: str, number: str, unit: str | None, start: int, end: int
) -> Condition | None:
    measure = g.measures[mid]
    value = _bound(g, measure, number, unit)
    if value is None:
        return None
    if kind in ("below", "at_most"):
        return Condition(mid, None, value, True, kind == "at_most", measure.unit, start, end)
    return Condition(mid, value, None, kind == "at_least", True, measure.unit, start, end)


def _unit_measure(g: _Grammar, m: re.Match[str]) -> str | None:
    for group in ("ua", "ub1", "ub2", "ur1", "ur2", "ut"):
        if (unit := m.group(group)) and (mid := g.unit_ids.get(_unit_key(unit))):
            return mid
    if trail := m.group("trail"):
        return g.trailing_measure.get(_fold_words(trail))
    return None


def _units_written(m: re.Match[str]) -> bool:
    return any(m.group(g) for g in ("ua", "ub1", "ub2", "ur1", "ur2", "ut"))


def read_conditions(text: str, default: str | None = None) -> tuple[Condition, ...]:
    """The thresholds ``text`` (a guideline sentence, a table row, a list item) states, in
    text order: measure, bounds in its canonical unit with inclusive flags, span.

    A band is read with a comparison before the number ("< 5.0 mEq/L", "at least 80"), after
    it ("60 kg or less"), or between two numbers ("15–50 mL/min", "between 30 and 44", "2 to
    < 4"); also grades ("Child-Pugh B or C"). Its measure is the name just before it
    ("serum potassium < 5.0"), else a unit that names it ("<60 kg", "≥ 30 mL/min/1.73 m²"),
    else a trailing word that names it ("80 or older"), else ``default`` (a measure id, from
    a table column header or a heading: see ``measure_named``). A band restated in brackets
    ("< 54 mg/dL (< 3.0 mmol/L)") is read once. No measure, an implausible bound, or a
    unit not the measure's: no condition."""
    g = grammar()
    if default is not None and default not in g.measures:
        valid = ", ".join(sorted(g.measures))
        raise ValueError(f"unknown measure {default!r}; the measures are: {valid}")
    # Emphasis marks are no words ("a glucose level of **>= 180 mg/dL**"); blanked, not
    # removed, so spans still index the text given.
    text = _EMPHASIS.sub(" ", text[:_MAX_TEXT])
    found: list[Condition] = []
    taken: list[tuple[int, int]] = []
    for name in g.names.finditer(text):
        mid = name_id(g, name)
        measure = g.measures[mid]
        if measure.categories:
            grade = g.grades[mid].match(text, name.end())
            if grade:
                lo = measure.categories[grade.group("c1")]
                hi = measure.categories[grade.group("c2") or grade.group("c1")]
                if lo <= hi:
                    found.append(Condition(mid, lo, hi, True, True, "", name.start(), grade.end()))
                    taken.append((name.start(), grade.end()))
            continue
        m = g.bands[mid].match(text, name.end())
        if not m or _overlaps(taken, name.start(), m.end()):
            continue
        if not _units_written(m) and g.not_unit.match(text, m.end()):
            continue
        conditions = _conditions(g, mid, m, name.start())
        if len(conditions) == 1 and (more := _AND.match(text, m.end())):
            # "eGFR ≥ 45 and < 60": the second bound is the same measure's
            then = g.bands[mid].match(text, more.end())
            if then and then.group("op") and (other := _conditions(g, mid, then, more.end())):
                conditions = [_intersect(conditions[0], other[0])]
        for c in conditions:
            c = _trimmed(text, c)
            found.append(c)
            taken.append(c.span)
    for m in g.band.finditer(text):
        if _overlaps(taken, m.start(), m.end()):
            continue
        of = _unit_measure(g, m) or default
        if of is None:
            continue
        if not _units_written(m) and g.not_unit.match(text, m.end()):
            continue
        for c in _conditions(g, of, m, m.start()):
            c = _trimmed(text, c)
            if _restated(text, found, c):
                continue
            found.append(c)
            taken.append(c.span)
    return tuple(sorted(found, key=lambda c: (c.start, c.measure)))


_EMPHASIS = re.compile(r"\*+|(?<![\w])_+|_+(?![\w])")
# "< 70 mg/dL (< 3.9 mmol/L) AND ≥ 54 mg/dL": a bracketed restatement may stand between.
_AND = re.compile(r"\s*(?:\([^()]{0,40}\)\s*)?(?:and|,)\s*(?=[<>≤≥=])", re.IGNORECASE)


def _intersect(a: Condition, b: Condition) -> Condition:
    low, low_inc = (a.low, a.low_inclusive) if b.low is None else (b.low, b.low_inclusive)
    high, high_inc = (a.high, a.high_inclusive) if b.high is None else (b.high, b.high_inclusive)
    return replace(a, low=low, high=high, low_inclusive=low_inc, high_inclusive=high_inc, end=b.end)


def _trimmed(text: str, c: Condition) -> Condition:
    end = len(text[: c.end].rstrip())
    return c if end == c.end else replace(c, end=end)


def _restated(text: str, found: list[Condition], c: Condition) -> bool:
    """``c`` is the band just before it in other units, in brackets."""
    return any(
        f.measure == c.measure and re.fullmatch(r"\s*[(\[]\s*", text[f.end : c.start])
        for f in found
    )


# ------------------------------------------------------------------ judging


_TOLERANCE = 1e-9


def satisfies(condition: Condition, measurement: Measurement) -> bool:
    """Whether ``measurement`` lies in ``condition``'s band (both are in the canonical unit).
    Raises ValueError when they are of different measures: pairing is the caller's job
    (``judge`` does it)."""
    if condition.measure != measurement.measure:
        raise ValueError(
            f"a {measurement.measure} value cannot satisfy a {condition.measure} condition"
        )
    x = measurement.value
    if condition.low is not None:
        edge = condition.low - _TOLERANCE * max(1.0, abs(condition.low))
        if x < edge or (not condition.low_inclusive and x <= condition.low + _TOLERANCE):
            return False
    if condition.high is not None:
        edge = condition.high + _TOLERANCE * max(1.0, abs(condition.high))
        if x > edge or (not condition.high_inclusive and x >= condition.high - _TOLERANCE):
            return False
    return not math.isnan(x)


def judge(
    conditions: Iterable[Condition], measurements: Iterable[Measurement]
) -> list[tuple[Condition, Measurement, bool]]:
    """Every condition paired with every measurement of its measure, in the conditions'
    order, and whether it is satisfied. A condition whose measure the patient's values do
    not state is absent: unknown, never taken as met or failed."""
    values = list(measurements)
    return [(c, m, satisfies(c, m)) for c in conditions for m in values if m.measure == c.measure]
