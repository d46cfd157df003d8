"""support(statement, quote) -> Support: whether a sentence written in a generator's own words
says what the quote it cites says.

A statement is supported only if everything it states that changes a clinical meaning is in
the quote with the same meaning:

- every number with its unit (normalised: 1 g = 1000 mg, mcg = µg, per hour = /h) and the
  band attached to it ("< 57 kg", "at least 30 mL/min", "10 mg or less");
- every negation ("not", "no", "never", "without") about the words it negates, and no
  negation of the quote dropped from words the statement keeps;
- every polarity word (recommended, should, avoid, contraindicated, increase/decrease,
  higher/lower, start/stop), and none reversed;
- every drug (the drug lexicon), indication (indications.yaml) and patient group it names;
- at least half of its own words.

What it does not do: judge a dose against the reference (``check`` does), or read meaning
beyond these words: a paraphrase that keeps them is taken as saying what the quote says.
Reordered words, articles, punctuation and a lead-in ("The label says ...") change none of
them, so a verbatim or near-verbatim sentence is supported. Every word list is data
(guardrails/data/support.yaml), read once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from corpus.text import sentence_spans
from corpus.yamlio import load_yaml
from guardrails.context import drug_hits, indication_patterns
from guardrails.normalise import fold
from guardrails.reference import DATA_DIR, ReferenceTable, default_reference

DATA = DATA_DIR / "support.yaml"


@dataclass(frozen=True, slots=True)
class Support:
    """The verdict on a statement against a quote: ``differences`` names each thing the
    statement says that the quote does not ("'> 57 kg': the quote says '< 57 kg'")."""

    supported: bool
    differences: tuple[str, ...] = ()


# ------------------------------------------------------------------ data


class _Unit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str
    factor: float = Field(gt=0)
    words: list[str]


class _Polarity(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    words: list[str]
    opposite: str = ""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    units: dict[str, _Unit]
    per: list[str]
    denominators: dict[str, _Unit]
    comparators: dict[str, list[str]]
    trailing: dict[str, list[str]]
    negations: list[str]
    negation_scope: int = Field(ge=1, le=10)
    polarity: dict[str, _Polarity]
    populations: dict[str, str]
    approximately: list[str]
    number_words: dict[str, float]
    least_shared_words: float = Field(ge=0, le=1)
    common_words: list[str]


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


def _word_alt(words: list[str]) -> str:
    """Words as a case-insensitive alternation, each a whole word (a symbol stands alone)."""
    return "|".join(
        rf"(?<![\w]){re.escape(w)}(?![\w])" if w[:1].isalnum() else re.escape(w)
        for w in sorted(set(words), key=len, reverse=True)
    )


def _unit_pattern(units: dict[str, _Unit]) -> tuple[re.Pattern[str], dict[str, tuple[str, float]]]:
    """One pattern of every written unit (one- and two-letter capitals as written, the rest
    case-insensitively) and the written form (lower-cased unless exact) -> (unit, factor)."""
    table: dict[str, tuple[str, float]] = {}
    exact: list[str] = []
    loose: list[str] = []
    for spec in units.values():
        for w in spec.words:
            if len(w) <= 2 and w.isupper() or w in ("L",):
                exact.append(w)
                table[w] = (spec.unit, spec.factor)
            else:
                loose.append(w)
                table[w.lower()] = (spec.unit, spec.factor)
    alts = [f"(?-i:{re.escape(w)})" for w in sorted(set(exact), key=len, reverse=True)]
    alts += [re.escape(w) for w in sorted(set(loose), key=len, reverse=True)]
    body = "|".join(sorted(alts, key=lambda a: -len(a.replace("(?-i:", "").rstrip(")"))))
    return re.compile(rf"(?:{body})(?![\w])", re.IGNORECASE), table


@dataclass(frozen=True)
class _Words:
    units: re.Pattern[str]
    unit_of: dict[str, tuple[str, float]]
    denominator: re.Pattern[str]
    denominator_of: dict[str, tuple[str, float]]
    before: re.Pattern[str]
    before_kind: dict[str, str]
    after: re.Pattern[str]
    after_kind: dict[str, str]
    negation: re.Pattern[str]
    scope: int
    polarity: tuple[tuple[str, re.Pattern[str], str], ...]
    populations: tuple[tuple[str, re.Pattern[str]], ...]
    least_shared: float
    common: frozenset[str]
    number: re.Pattern[str]
    number_of: dict[str, float]
    about: re.Pattern[str]


@lru_cache(maxsize=1)
def words(path: Path | None = None) -> _Words:
    """The support check's words (guardrails/data/support.yaml, or ``path``), read once."""
    text = (path or DATA).read_text(encoding="utf-8")
    spec = _Spec.model_validate(load_yaml(text))
    units, unit_of = _unit_pattern(spec.units)
    den, den_of = _unit_pattern(spec.denominators)
    per = _alternation([p for p in spec.per if p != "/"])
    denominator = re.compile(rf"\s*(?:/\s*|(?:{per})\s+)(?P<d>{den.pattern})", re.IGNORECASE)
    before_kind = {w.lower(): k for k, ws in spec.comparators.items() for w in ws}
    after_kind = {w.lower(): k for k, ws in spec.trailing.items() for w in ws}
    about = _word_alt(spec.approximately)
    before = re.compile(
        rf"(?:{_word_alt(list(before_kind))})\s*(?:of\s+|to\s+)?(?:(?:{about})\s*)?\Z",
        re.IGNORECASE,
    )
    number = re.compile(
        rf"{_NUMBER.pattern}|(?:{_word_alt(list(spec.number_words))})", re.IGNORECASE
    )
    after = re.compile(rf"\s*(?:{_word_alt(list(after_kind))})", re.IGNORECASE)
    # A contraction's ending ("n't") is found inside its word; other negations are words.
    whole = [n for n in spec.negations if "'" not in n]
    endings = [n for n in spec.negations if "'" in n]
    negation = re.compile(
        "|".join([f"(?:{_word_alt(whole)})", *(rf"(?<=\w){re.escape(e)}\b" for e in endings)]),
        re.IGNORECASE,
    )
    polarity = tuple(
        (name, re.compile(rf"(?:{_word_alt(p.words)})", re.IGNORECASE), p.opposite)
        for name, p in spec.polarity.items()
    )
    populations = tuple(
        (name, re.compile(pattern, re.IGNORECASE)) for name, pattern in spec.populations.items()
    )
    return _Words(
        units,
        unit_of,
        denominator,
        den_of,
        before,
        before_kind,
        after,
        after_kind,
        negation,
        spec.negation_scope,
        polarity,
        populations,
        spec.least_shared_words,
        frozenset(w.lower() for w in spec.common_words),
        number,
        {k.lower(): v for k, v in spec.number_words.items()},
        re.compile(rf"\s*(?:{about})\s*\Z", re.IGNORECASE),
    )


# ------------------------------------------------------------------ reading a text

_NUMBER = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\d])|(?<![\w.])\.\d+")
_RANGE = re.compile(r"\s*(?:-|\u2013|\u2014|to|through)\s*", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_SPACE = re.compile(r"\s+")
# Markup is display, not a claim: HTML tags, a Markdown link's or image's target, a bare URL.
_MARKUP = re.compile(r"<[^<>]{0,200}>|(?<=\])\([^()\s]{0,300}\)|\b[a-z][a-z0-9+.-]*://\S+", re.I)


@dataclass(frozen=True, slots=True)
class _Value:
    """A number as stated: its value in the canonical unit, the band it stands in (None
    when plain) and what was written."""

    value: float
    unit: str  # canonical, with denominators: "mg/kg/h"; "" for a bare number
    band: str | None  # below, at_most, above, at_least
    written: str
    span: tuple[int, int]


def _number(w: _Words, text: str) -> float:
    word = w.number_of.get(text.lower())
    return word if word is not None else float(text.replace(",", ""))


def _read_unit(w: _Words, text: str, pos: int) -> tuple[str, float, int]:
    """The unit written at ``pos`` (with its denominators) as (canonical, factor, end)."""
    m = w.units.match(text, pos + len(text[pos:]) - len(text[pos:].lstrip()))
    if m is None:
        return "", 1.0, pos
    key = m.group(0)
    unit, factor = w.unit_of.get(key, w.unit_of.get(key.lower(), ("", 1.0)))
    if not unit:
        return "", 1.0, pos
    end = m.end()
    while (d := w.denominator.match(text, end)) is not None:
        dkey = d.group("d")
        den, dfactor = w.denominator_of.get(dkey, w.denominator_of.get(dkey.lower(), ("", 1.0)))
        if not den:
            break
        unit += f"/{den}"
        factor /= dfactor
        end = d.end()
    return unit, factor, end


def _values(w: _Words, text: str) -> list[_Value]:
    """Every number of ``text`` with its unit and band; a range gives both its ends."""
    out: list[_Value] = []
    numbers = list(w.number.finditer(text))
    i = 0
    while i < len(numbers):
        first = numbers[i]
        group = [first]
        # "1-2 mg", "1 to 2 mg": the unit after the second number is the first's too.
        while i + 1 < len(numbers):
            gap = text[group[-1].end() : numbers[i + 1].start()]
            if not _RANGE.fullmatch(gap):
                break
            i += 1
            group.append(numbers[i])
        i += 1
        unit, factor, end = _read_unit(w, text, group[-1].end())
        own = [_read_unit(w, text, g.end()) for g in group[:-1]]
        band = None
        start = first.start()
        lead = w.before.search(text, max(0, start - 24), start)
        if lead is not None:
            word = _SPACE.sub(" ", lead.group(0)).strip().lower()
            word = w.about.sub("", word)
            word = re.sub(r"\s*(?:of|to)$", "", word).strip()
            band = w.before_kind.get(word)
            start = lead.start()
        if (trail := w.after.match(text, end)) is not None:
            band = band or w.after_kind.get(_SPACE.sub(" ", trail.group(0)).strip().lower())
            end = trail.end()
        written = _SPACE.sub(" ", text[start:end]).strip()
        for g, (u, f, _) in zip(group, [*own, (unit, factor, end)], strict=True):
            if not u:
                u, f = unit, factor
            out.append(_Value(round(_number(w, g.group(0)) * f, 6), u, band, written, (start, end)))
    return out


def _stem(word: str) -> str:
    return word.lower()[:5]


def _content(w: _Words, text: str) -> list[tuple[int, int, str]]:
    return [
        (m.start(), m.end(), m.group(0).lower())
        for m in _WORD.finditer(text)
        if len(m.group(0)) >= 3 and m.group(0).lower() not in w.common and not m.group(0).isdigit()
    ]


def _negations(w: _Words, text: str, masked: str) -> list[tuple[str, frozenset[str]]]:
    """Each negation with the stems of the content words it negates (the next few)."""
    out = []
    words_after = _content(w, masked)
    for m in w.negation.finditer(masked):
        after = [s for a, _, s in words_after if a >= m.end() and not w.negation.fullmatch(s)]
        out.append((m.group(0), frozenset(_stem(s) for s in after[: w.scope])))
    return out


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with ``spans`` blanked (a band's "lower than" is no polarity word)."""
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def _drugs(text: str, table: ReferenceTable) -> dict[str, str]:
    return {name: text[a:b] for a, b, name in drug_hits(text, table)}


def _indications(text: str, table: ReferenceTable) -> dict[str, str]:
    out: dict[str, str] = {}
    for ind, pattern in indication_patterns(table):
        if ind not in out and (m := pattern.search(text)) is not None:
            out[ind] = m.group(0)
    return out


# ------------------------------------------------------------------ the check


def _same_number(s: _Value, q: _Value) -> bool:
    return abs(s.value - q.value) <= 1e-6 * max(1.0, abs(s.value))


def _figure(v: _Value) -> str:
    """The first number as written ("57" of "< 57 kg")."""
    m = _NUMBER.search(v.written)
    return m.group(0) if m else v.written


def _number_differences(stated: list[_Value], quoted: list[_Value]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for s in stated:
        same = [q for q in quoted if _same_number(s, q)]
        same_unit = [q for q in same if q.unit == s.unit or not q.unit or not s.unit]
        if any(q.band == s.band for q in same_unit):
            continue
        # The same number in another band or unit is named beside it ("'> 57 kg': the
        # quote says '< 57 kg'"), as is the same written figure in another unit ("5 g" for
        # "5 mg", which normalise to different values).
        near = same_unit or same or [q for q in quoted if _figure(q) == _figure(s)]
        if near:
            note = f"'{s.written}': the quote says '{near[0].written}'"
        else:
            note = f"'{s.written}' is not in the quote"
        if note not in seen:
            seen.add(note)
            out.append(note)
    return out


def support(statement: str, quote: str, table: ReferenceTable | None = None) -> Support:
    """Whether ``quote`` supports ``statement``: every number with its unit and band, every
    negation and polarity word, every drug, indication and patient group of the statement is
    in the quote with the same meaning, and most of its words are; ``differences`` names what
    is not."""
    w = words()
    table = table or default_reference()
    s_text, q_text = _MARKUP.sub(" ", fold(statement)), _MARKUP.sub(" ", fold(quote))
    stated, quoted = _values(w, s_text), _values(w, q_text)
    differences = _number_differences(stated, quoted)

    s_masked = _mask(s_text, [v.span for v in stated])
    q_masked = _mask(q_text, [v.span for v in quoted])
    s_neg, q_neg = _negations(w, s_text, s_masked), _negations(w, q_text, q_masked)
    # A negation about words the quote negates is the quote's; one more than the quote has
    # is the statement's own, as is one about other words.
    extra = len(s_neg) > len(q_neg)
    for word, scope in s_neg:
        if extra or not any(scope & other or not scope for _, other in q_neg):
            differences.append(f"'{word}' is not in the quote")
            break
    s_stems = {_stem(x) for _, _, x in _content(w, s_masked)}
    for word, scope in q_neg if len(s_neg) < len(q_neg) else []:
        kept = scope & s_stems
        if kept and not any(kept & other for _, other in s_neg):
            differences.append(f"the quote's '{word}' is not in the statement")
            break

    for _name, pattern, opposite in w.polarity:
        found = pattern.search(s_masked)
        if found is None or pattern.search(q_masked):
            continue
        reverse = next((p for n, p, _ in w.polarity if n == opposite), None) if opposite else None
        if reverse is not None and (r := reverse.search(q_masked)) is not None:
            differences.append(f"'{found.group(0)}' where the quote says '{r.group(0)}'")
        else:
            differences.append(f"'{found.group(0)}' is not in the quote")

    q_drugs = _drugs(q_text, table)
    for name, written in _drugs(s_text, table).items():
        if name not in q_drugs:
            differences.append(f"drug '{written}' is not in the quote")
    q_inds = _indications(q_text, table)
    for ind, written in _indications(s_text, table).items():
        if ind not in q_inds:
            differences.append(f"indication '{written}' is not in the quote")
    for _name, pattern in w.populations:
        if (m := pattern.search(s_text)) is not None and not pattern.search(q_text):
            differences.append(f"population '{m.group(0)}' is not in the quote")

    own = [x for _, _, x in _content(w, s_masked)]
    if own:
        q_stems = {_stem(x) for _, _, x in _content(w, q_masked)}
        missing = [x for x in dict.fromkeys(own) if _stem(x) not in q_stems]
        if len(own) - sum(_stem(x) not in q_stems for x in own) < w.least_shared * len(own):
            differences.append(
                "most of its words are not in the quote: "
                + ", ".join(f"'{x}'" for x in missing[:5])
            )
    return Support(not differences, tuple(differences))


_CANDIDATES = 4  # passage sentences tried per statement, those sharing the most words first


def best_support(
    statement: str, passages: list[str], table: ReferenceTable | None = None
) -> tuple[Support, str]:
    """The sentence of ``passages`` that supports ``statement`` (the verdict and the
    sentence), else the closest one (sharing the most words) with what differs. A statement
    is judged against one sentence at a time: facts of two sentences are not one statement."""
    w = words()
    own = {_stem(x) for _, _, x in _content(w, fold(statement))}
    candidates: list[tuple[int, int, str]] = []
    for passage in passages:
        for a, b in sentence_spans(passage) or [(0, len(passage))]:
            sentence = passage[a:b].strip()
            if sentence:
                shared = len(own & {_stem(x) for _, _, x in _content(w, fold(sentence))})
                candidates.append((-shared, len(candidates), sentence))
    if not candidates:
        return Support(False, ("the passages it cites are empty",)), ""
    candidates.sort()
    closest: tuple[Support, str] | None = None
    for _, _, sentence in candidates[:_CANDIDATES]:
        got = support(statement, sentence, table)
        if got.supported:
            return got, sentence
        if closest is None or len(got.differences) < len(closest[0].differences):
            closest = got, sentence
    assert closest is not None
    return closest
