"""Normalisation before reading: the text a clinician sees, as plain characters the
extractor can read, with every character's offset in the original kept.

What it undoes:

- HTML: inline tags go (``<b>Enoxaparin</b>`` reads "Enoxaparin"); block tags (``<br>``,
  ``<p>``, ``<li>``, ``<tr>``, ...) become a line break and table cells a space, as they
  render. A superscript or subscript written after a digit becomes ``^``
  (``1<sup>0</sup>`` is "1^0", never "10"), which the extractor refuses as an exponent.
- HTML entities, named and numeric (``10&nbsp;mg`` reads "10 mg").
- Markdown emphasis and code marks (``**``, ``__``, ``*x*``, `` ` ``). A ``*`` between two
  digits ("2*2.5 g") or surrounded by spaces stays: it may be a multiplication.
- Citation markers ("heparin [1].", "[2, 3]"): the marker's numbers are no dose. A marker
  followed by a word or unit ("[10] mg/kg", "[1] heparin") stays, to be read as written.
- Format characters (Unicode category Cf: zero-width space and joiners, soft hyphen, BOM)
  and combining marks (category Mn) are dropped: "enoxapari\u0301n" reads "enoxaparin".
- In a dose position (a dose unit follows): magnitude suffixes and words ("80k units",
  "80 thousand units", "1.5 million units"), slash fractions ("1/2 mg/kg" reads
  "0.5 mg/kg") and counts written against the strength ("2x2.5 g" reads "2 x 2.5 g").
  Vulgar fractions ("½", "1½") are read wherever they stand, and a range's Markdown en
  dash ("1--16 mg") is one dash.

Ordinary text comes back unchanged (the same string, ``origin`` the identity). Two regex
passes, each one scan with bounded repetition, so the work is linear in the input.
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

# ------------------------------------------------------------------ same-length folding

_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_LINE_BREAKS = "\u2028\u2029\x85"


def _fold_char(ch: str) -> str:
    if ch.isdecimal():
        return str(unicodedata.decimal(ch))
    if ch in _DASHES:
        return "-"
    if ch in _LINE_BREAKS:
        return "\n"
    if ch.isspace():
        return " "
    if ch.isdigit():
        return ch  # superscripts: "10⁹" must not become "109"
    folded = unicodedata.normalize("NFKC", ch)
    if folded == "\u03bc" or (len(folded) == 1 and folded != "\u2044"):
        return folded
    return ch  # expansions ("½", "㎎") would shift offsets


def fold(text: str) -> str:
    """``text`` with unicode digits, dashes, spaces and NFKC-compatible characters folded,
    one character for one, so offsets into the result are offsets into ``text``."""
    if text.isascii():
        return text
    table = {ord(ch): _fold_char(ch) for ch in set(text) if not ch.isascii()}
    return text.translate(table)


# ------------------------------------------------------------------ the result


@dataclass(frozen=True, slots=True)
class Normalised:
    """Normalised text; ``origin[i]`` is the offset in the original text of character
    ``i``, and ``origin[len(text)]`` the original length."""

    text: str
    origin: tuple[int, ...]
    # Original spans replaced by other characters ("&nbsp;" by " "): a span that touches
    # one maps back to all of it.
    pieces: tuple[tuple[int, int], ...] = ()

    @property
    def changed(self) -> bool:
        """Whether any character was replaced, inserted or dropped (else ``origin`` is the
        identity). An insertion always records a piece; a drop always shortens."""
        return bool(self.pieces) or self.origin[-1] != len(self.text)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original span of the normalised span [start, end)."""
        if end <= start:
            return self.origin[start], self.origin[start]
        lo, hi = self.origin[start], self.origin[end - 1] + 1
        if self.pieces:
            k = bisect_right(self.pieces, (lo, len(self.origin))) - 1
            if k >= 0 and self.pieces[k][0] <= lo < self.pieces[k][1]:
                lo = self.pieces[k][0]
            k = bisect_left(self.pieces, (hi, -1)) - 1
            if k >= 0 and self.pieces[k][0] < hi < self.pieces[k][1]:
                hi = self.pieces[k][1]
        return lo, hi


def identity(text: str) -> Normalised:
    return Normalised(text, tuple(range(len(text) + 1)))


# ------------------------------------------------------------------ rewriting

# An edit: replace text[start:end] with ``out`` ("" deletes it).
_Edit = tuple[int, int, str]


def _rewrite(
    text: str, pattern: re.Pattern[str], handler: Callable[[re.Match[str]], list[_Edit]]
) -> tuple[str, list[int], list[tuple[int, int]]] | None:
    """Apply the edits ``handler`` returns for each match; None when nothing changed."""
    parts: list[str] = []
    origin: list[int] = []
    pieces: list[tuple[int, int]] = []
    pos = 0
    changed = False
    for m in pattern.finditer(text):
        for start, end, out in handler(m):
            if out == text[start:end]:
                continue
            changed = True
            parts.append(text[pos:start])
            origin.extend(range(pos, start))
            if out:
                parts.append(out)
                origin.extend([start] * len(out))
                pieces.append((start, end))
            pos = end
    if not changed:
        return None
    parts.append(text[pos:])
    origin.extend(range(pos, len(text) + 1))
    return "".join(parts), origin, pieces


# ------------------------------------------------------------------ pass 1: markup

_INLINE_TAGS = (
    "a|abbr|b|big|cite|code|del|dfn|em|font|i|img|ins|kbd|mark|q|s|samp|small|span|strike|"
    "strong|tt|u|var|label|time|data|wbr"
)
_BLOCK_TAGS = (
    "article|aside|blockquote|br|caption|dd|div|dl|dt|figcaption|figure|footer|h[1-6]|"
    "header|hr|li|main|nav|ol|p|pre|section|table|tbody|tfoot|thead|tr|ul"
)
_CELL_TAGS = "td|th"
_SCRIPT_TAGS = "sup|sub"
_MARKUP_BODY = (
    r"<(?P<close>/?)[ \t]{0,2}(?P<tag>"
    rf"{_SCRIPT_TAGS}|{_CELL_TAGS}|{_BLOCK_TAGS}|{_INLINE_TAGS}"
    r")(?![\w\-])(?:[ \t\r\n][^<>]{0,300})?/?>"
    r"|&(?P<ent>#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});"
    r"|(?P<md>\*{1,8}|_{1,8}|`{1,8})"
    # A citation marker ("[1]", "[2, 3]", "[4-6]") is no number of the sentence, unless a
    # dose unit follows it ("[10] mg/kg" is read, and refused, as a dose).
    r"|(?P<cite>\[[ \t]?[0-9]{1,3}(?:[ \t]{0,2}[,;\-\u2013][ \t]{0,2}[0-9]{1,3}){0,20}[ \t]?\])"
    r"(?![ \t]{0,2}(?:[\[(/]|-?[^\W\d_]))"
)
# A lookahead on the first character lets the scan skip ahead.
_MARKUP = re.compile(rf"(?=[<&*_`\[])(?:{_MARKUP_BODY})", re.IGNORECASE)
_BLOCK = re.compile(rf"(?:{_BLOCK_TAGS})\Z", re.IGNORECASE)
_CELL = re.compile(rf"(?:{_CELL_TAGS})\Z", re.IGNORECASE)


def _dropped(ch: str) -> bool:
    """Characters that render as nothing (format characters) or only decorate the one
    before them (combining marks)."""
    return unicodedata.category(ch) in ("Cf", "Mn")


def _markup_pattern(text: str) -> re.Pattern[str]:
    """The pass-1 pattern, with the invisible characters this text holds."""
    if text.isascii():
        return _MARKUP
    chars = sorted({ch for ch in set(text) if not ch.isascii() and _dropped(ch)})
    if not chars:
        return _MARKUP
    klass = "".join(re.escape(ch) for ch in chars)
    return re.compile(
        rf"(?=[<&*_`\[{klass}])(?:{_MARKUP_BODY}|(?P<drop>[{klass}]{{1,64}}))", re.IGNORECASE
    )


def _markup(m: re.Match[str]) -> list[_Edit]:
    s, e = m.span()
    text = m.string
    if m.lastgroup == "drop":
        return [(s, e, "")]
    if m.group("tag"):
        tag = m.group("tag")
        if tag.lower() in ("sup", "sub"):
            opens = not m.group("close") and s > 0 and text[s - 1].isdigit()
            return [(s, e, "^" if opens else "")]  # "1<sup>0</sup>" is "1^0", not "10"
        if _BLOCK.match(tag):
            return [(s, e, "\n")]
        return [(s, e, " " if _CELL.match(tag) else "")]
    if m.group("cite"):
        return [(s, e, "")]
    if m.group("ent"):
        decoded = _entity(m.group())
        return [] if decoded is None else [(s, e, decoded)]
    return [(s, e, "")] if _emphasis(text, s, e) else []


@lru_cache(maxsize=4096)
def _entity(written: str) -> str | None:
    """What an entity stands for, as the extractor reads it; None for a non-entity."""
    decoded = html.unescape(written)
    if decoded == written:
        return None  # "&foo;"
    return "".join(" " if ch.isspace() else ch for ch in fold(decoded) if not _dropped(ch))


def _emphasis(text: str, s: int, e: int) -> bool:
    """Whether the run of marks at [s, e) is Markdown emphasis or code, not arithmetic or a
    bullet ("2*2.5", "a * b", "* item", "snake_case")."""
    before = text[s - 1] if s > 0 else " "
    after = text[e] if e < len(text) else " "
    if before.isspace() and after.isspace():
        return False
    mark = text[s]
    if mark == "`":
        return True
    if before.isdigit() and after.isdigit():
        return False  # "2*2.5 g", "10**3"
    # Intraword underscores are not emphasis.
    return not (mark == "_" and before.isalnum() and after.isalnum())


# ------------------------------------------------------------------ pass 2: numbers

_UNIT_AHEAD = (
    r"(?=[ \t]{0,2}-?(?i:mgs?|mcg|\u03bcg|\u00b5g|ug|g|gm|grams?|milligrams?|micrograms?|"
    r"units?|u|iu|i\.u\.|usp|international|ml|cc|mmol|meq)(?![^\W_])|[ \t]{0,2}/[ \t]{0,2}kg\b)"
)
_VULGAR = "\u00bc-\u00be\u2150-\u215e"
_MAG_NUMBER = r"(?:[0-9]{1,3}(?:,[0-9]{3}){1,2}|[0-9]{1,6}(?:\.[0-9]{1,3})?)"
_MAG = r"(?:k|K|M|(?i:thousand|million))(?![\w])"
_RANGE_TO = r"[ \t]{0,3}(?:-{1,3}|(?i:to))[ \t]{0,3}"
_NUMERIC = re.compile(
    # A lookahead on the first character lets the scan skip ahead (8x faster).
    rf"(?=[0-9{_VULGAR}\-\u00b7])(?:"
    # "0·5 mg": the raised decimal point of British journals (The Lancet) between digits.
    r"(?P<md>(?<=[0-9])\u00b7(?=[0-9]))|"
    # "1½", "½": a vulgar fraction, with the whole number before it.
    rf"(?:(?<![\w.,])(?P<vw>[0-9]{{1,6}})[ \t]?)?(?P<vf>[{_VULGAR}])"
    # "1/2 mg", "2 1/2 mg": a fraction in a dose position (halves, thirds, quarters,
    # eighths; "24/26 mg" is a combination strength, left for the extractor to refuse).
    r"|(?<![\w.,/\u2044])(?:(?P<sw>[0-9]{1,3})[ \t]{1,2})?"
    r"(?P<sn>[1-7])[/\u2044](?P<sd>[2348])(?![\w.,/\u2044])" + _UNIT_AHEAD + "|"
    # "80k units", "80 thousand units", "1.5 million units", "12-18 million units".
    rf"(?<![\w.,])(?:(?P<ml>{_MAG_NUMBER})(?P<mr>{_RANGE_TO}))?(?P<mn>{_MAG_NUMBER})"
    rf"[ \t]{{0,2}}(?P<ms>{_MAG})(?:{_UNIT_AHEAD}"
    rf"|(?={_RANGE_TO}{_MAG_NUMBER}[ \t]{{0,2}}{_MAG}{_UNIT_AHEAD}))|"
    # "1--16 mg": the Markdown en dash of a range.
    r"(?P<dd>(?<=[0-9])-{2,3}(?=[ \t]?[0-9]))|"
    # "2x2.5 g": a count against the strength.
    r"(?<![\w.,])(?P<xc>[1-9][0-9]?)[xX\u00d7](?P<xa>[0-9]{1,4}(?:\.[0-9]{1,3})?)(?![\w.,])"
    + _UNIT_AHEAD
    + ")"
)
_MAGNITUDE = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "million": 1_000_000}


def _decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


@lru_cache(maxsize=1024)
def _fraction(whole: str, frac: Decimal) -> str:
    return _decimal(Decimal(whole) + frac.quantize(Decimal("0.000001")))


@lru_cache(maxsize=4096)
def _scaled(number: str, suffix: str) -> str:
    return _decimal(Decimal(number.replace(",", "")) * _MAGNITUDE[suffix.lower()])


def _numeric(m: re.Match[str]) -> list[_Edit]:
    s, e = m.span()
    if m.group("dd"):
        return [(s, e, "-")]
    if m.group("md"):
        return [(s, e, ".")]
    if m.group("vf"):
        if not m.group("vw") and s > 0 and (m.string[s - 1].isdigit() or m.string[s - 1] in ".,"):
            return []  # "1.5½": left for the extractor to refuse
        frac = Decimal(str(unicodedata.numeric(m.group("vf"))))
        return [(s, e, _fraction(m.group("vw") or "0", frac))]
    if m.group("sn"):
        num, den = int(m.group("sn")), int(m.group("sd"))
        if not (0 < num < den):
            return []  # "3/2 mg" is left for the extractor to refuse
        return [(s, e, _fraction(m.group("sw") or "0", Decimal(num) / Decimal(den)))]
    if m.group("mn"):
        high = _scaled(m.group("mn"), m.group("ms"))
        if not m.group("ml"):
            return [(s, e, high)]
        low = _scaled(m.group("ml"), m.group("ms"))
        sep = "-" if "-" in m.group("mr") else m.group("mr")
        return [(s, e, f"{low}{sep}{high}")]  # "12-18 million": both ends are millions
    return [(s, e, f"{m.group('xc')} x {m.group('xa')}")]


# ------------------------------------------------------------------ normalise


def _merged(pieces: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(pieces):
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return tuple(out)


def normalise(text: str) -> Normalised:
    """``text`` as the extractor should read it (see the module docstring). Pure; ordinary
    text comes back as the same string with the identity ``origin``."""
    return normalise_changed(text) or identity(text)


def normalise_changed(text: str) -> Normalised | None:
    """``normalise(text)``, or None where it would leave ``text`` as it is (so that callers
    need not build the identity ``origin`` of a long text)."""
    first = _rewrite(text, _markup_pattern(text), _markup)
    current = text if first is None else first[0]
    second = _rewrite(current, _NUMERIC, _numeric)
    if first is None and second is None:
        return None
    if second is None:
        assert first is not None
        return Normalised(first[0], tuple(first[1]), tuple(first[2]))
    if first is None:
        return Normalised(second[0], tuple(second[1]), tuple(second[2]))
    one = Normalised(first[0], tuple(first[1]), tuple(first[2]))
    origin = tuple(one.origin[i] for i in second[1])
    pieces = [*one.pieces, *(one.span(a, b) for a, b in second[2])]
    # second's pieces are offsets into first's text: map them through.
    return Normalised(second[0], origin, _merged(pieces))
