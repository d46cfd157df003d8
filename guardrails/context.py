"""What a sentence is about: its drugs, indications and phase, from the sentence itself or
from what it stands under.

A dose sentence does not always name its drug ("The recommended dose for DVT treatment is
10 mg/kg", "It should be given at ...", "- Dose: 10 mg/kg" under "- Drug: enoxaparin", a
table row under a header that names the drug). ``resolve_subject`` reads, in this order and
stopping at the first that names a drug:

1. the sentence itself;
2. the enclosing structure: first the document unit that holds it (``corpus.structure``: a
   list item's parent items and lead-in, a table row's label and column headers, a
   flowchart branch's conditions), then the earlier items of its bullet list and the line
   that introduces the list, or the header row of its table;
3. the previous sentences of the same passage, nearest first, up to the heading above them;
4. the heading path: Markdown headings above the sentence, then ``SourceText.section_path``
   from the innermost heading out;
5. the document title.

Where none of these names a drug but one names a drug class ("Corticosteroids — Dose: 200
mg/day IV"; guardrails/data/classes.yaml), the drug is the one member of that class named
anywhere in the same section of the passage (from the heading above to the next heading of
its level); a section naming two members leaves the dose unresolved.

Indications and phase are read the same way, each from the first place that names one. The
result says where the drug was found (``Subject.how``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from corpus.structure import Unit, parse_structure, units
from corpus.text import sentence_spans
from corpus.yamlio import load_yaml
from guardrails.extraction import Lexicon, find_drugs
from guardrails.lexicon import drug_lexicon as every_drug
from guardrails.reference import ReferenceTable, default_reference
from guardrails.types import Phase, SourceText, Subject

# ------------------------------------------------------------------ indications


def indication_patterns(table: ReferenceTable) -> list[tuple[str, re.Pattern[str]]]:
    def build() -> list[tuple[str, re.Pattern[str]]]:
        out = []
        for ind in table.indications:
            acronyms = tuple(t for t in ind.terms if t.isupper())
            phrases = tuple(t for t in ind.terms if not t.isupper())
            # Acronyms (all capitals, e.g. HIT, PCI) match case-sensitively; phrases do not.
            for group, flags in ((acronyms, 0), (phrases, re.IGNORECASE)):
                if group:
                    words = "|".join(re.escape(w) for w in sorted(group, key=len, reverse=True))
                    out.append((ind.id, re.compile(rf"(?<![\w-])(?:{words})(?![\w-])", flags)))
        return out

    return table.memo("indication_patterns", build)


# A use named only to be set aside: "for HIT outside PCI" is HIT alone, "(not PCI)" and
# "in a patient without HIT" name no PCI and no HIT ("with or without HIT" still names it).
_SET_ASIDE = re.compile(
    r"(?<!\bwith or )\b(?:outside(?: of)?|other than|except(?: for| in| during)?|apart from"
    r"|not(?: for| in| during| with)?|without|no)\s+(?:(?:a|an|the|any|known|suspected)\s+)?$",
    re.IGNORECASE,
)


def _named(pattern: re.Pattern[str], text: str) -> bool:
    return any(
        not _SET_ASIDE.search(text, max(0, m.start() - 40), m.start())
        for m in pattern.finditer(text)
    )


def find_indications(text: str, table: ReferenceTable) -> set[str]:
    """The most specific indication ids named in ``text`` ("VTE prophylaxis after knee
    replacement" is knee prophylaxis, not every kind of prophylaxis); a use set aside
    ("outside PCI", "without HIT") is not named."""
    found = {ind_id for ind_id, pattern in indication_patterns(table) if _named(pattern, text)}
    covered = set().union(*(ancestors(i, table) for i in found)) if found else set()
    return found - covered


def set_aside_indications(
    text: str, table: ReferenceTable, among: Collection[str] | None = None
) -> set[str]:
    """The indication ids (of ``among``, else all) ``text`` names only to set aside
    ("Medical management (no PCI)", "without HIT"): the text is not for them, whatever stands
    around it."""
    out = set()
    for ind_id, pattern in indication_patterns(table):
        if among is not None and ind_id not in among:
            continue
        if pattern.search(text) and not _named(pattern, text):
            out.add(ind_id)
    return out


def dose_indications(text: str, drug: str, table: ReferenceTable) -> set[str]:
    """Indications named in a dose sentence by their ``dose_terms`` ("enoxaparin 40 mg
    prophylaxis"), for a drug the reference doses for that indication (or a narrower one)."""
    out = set()
    uses = {e.indication for d in table.members(drug) for e in table.entries_for(d)}
    for ind in table.indications:
        if not ind.dose_terms or not any(
            u == ind.id or ind.id in ancestors(u, table) for u in uses
        ):
            continue
        words = "|".join(re.escape(t) for t in ind.dose_terms)
        if re.search(rf"\b(?:{words})\b", text, re.IGNORECASE):
            out.add(ind.id)
    return out


def ancestors(ind_id: str, table: ReferenceTable) -> set[str]:
    parents = table.memo("indication_parents", lambda: {i.id: i.parent for i in table.indications})
    out: set[str] = set()
    current = parents.get(ind_id)
    while current and current not in out:
        out.add(current)
        current = parents.get(current)
    return out


def in_scope(entry_indication: str, detected: set[str], table: ReferenceTable) -> bool:
    """An entry is in scope when nothing was detected, or when its indication is a detected
    one, an ancestor of one, or a descendant of one ("prophylaxis" covers "knee")."""
    if not detected:
        return True
    if entry_indication in detected:
        return True
    if entry_indication in set().union(*(ancestors(d, table) for d in detected)):
        return True
    return bool(ancestors(entry_indication, table) & detected)


def related(
    a: set[str] | frozenset[str], b: set[str] | frozenset[str], table: ReferenceTable
) -> bool:
    """Whether some indication of ``a`` is one of ``b``, an ancestor or a descendant of one."""
    return any(in_scope(x, set(b), table) for x in a)


# ------------------------------------------------------------------ drugs


def drug_lexicon(table: ReferenceTable) -> Lexicon:
    """The lexicon to read drugs with: every drug (the reference's and the package's,
    ``guardrails.lexicon.drug_lexicon``) for the bundled reference, else one built from the
    table's own drug list (a clinician's added drug is recognised by the reference that adds
    it)."""

    def build() -> Lexicon:
        if table is default_reference() or table.drugs == default_reference().drugs:
            return every_drug()
        return Lexicon.of(table.drugs)

    return table.memo("lexicon", build)


def drug_hits(text: str, table: ReferenceTable) -> tuple[tuple[int, int, str], ...]:
    """(start, end, canonical name) of every drug ``text`` names (cached per table)."""
    cache: dict[str, tuple[tuple[int, int, str], ...]] = table.memo("drug_hits", dict)
    found = cache.get(text)
    if found is None:
        if len(cache) > 20_000:
            cache.clear()  # bounded on hostile input
        found = tuple(find_drugs(text, drug_lexicon(table)))
        cache[text] = found
    return found


def drugs_in(text: str, table: ReferenceTable) -> tuple[str, ...]:
    """Canonical names of the drugs ``text`` names, in order, each once."""
    return tuple(dict.fromkeys(name for _, _, name in drug_hits(text, table)))


def products_in(text: str, products: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    """The drugs of the product names ``text`` names (``SourceText.products``), in order."""
    found: dict[str, None] = {}
    for name, drugs in products:
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text, re.IGNORECASE):
            found.update(dict.fromkeys(drugs))
    return tuple(found)


# ------------------------------------------------------------------ phase

_PHASE_WORDS: tuple[tuple[Phase, re.Pattern[str]], ...] = (
    ("bolus", re.compile(r"\bbolus\b", re.IGNORECASE)),
    ("loading", re.compile(r"\bloading\b", re.IGNORECASE)),
    ("infusion", re.compile(r"\b(?:infusion|infused)\b", re.IGNORECASE)),
    ("maintenance", re.compile(r"\bmaintenance\b", re.IGNORECASE)),
    ("initial", re.compile(r"\b(?:initial|starting dose|first dose)\b", re.IGNORECASE)),
)


def find_phase(text: str) -> Phase | None:
    hits = [(m.start(), phase) for phase, p in _PHASE_WORDS if (m := p.search(text))]
    return min(hits)[1] if hits else None


# ------------------------------------------------------------------ passage structure

_HEADING = re.compile(r"[ \t]{0,3}#{1,6}[ \t]+(?P<title>.+)")
_BULLET = re.compile(r"(?P<indent>[ \t]*)(?:[-*+\u2022]|\d{1,3}[.)])[ \t]+")
_TABLE_ROW = re.compile(r"[ \t]*\|")
_RULE_ROW = re.compile(r"[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*")


@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    end: int
    kind: str  # "heading", "bullet", "table", "rule", "blank", "text"
    indent: int


@dataclass(frozen=True, slots=True)
class _Layout:
    lines: tuple[_Line, ...]
    sentences: tuple[tuple[int, int], ...]


@lru_cache(maxsize=512)
def _layout(text: str) -> _Layout:
    lines = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        start, end = pos, pos + len(body)
        pos += len(raw)
        if not body.strip():
            kind, indent = "blank", 0
        elif _HEADING.match(body):
            kind, indent = "heading", 0
        elif _RULE_ROW.fullmatch(body):
            kind, indent = "rule", 0
        elif _TABLE_ROW.match(body):
            kind, indent = "table", 0
        elif b := _BULLET.match(body):
            kind, indent = "bullet", len(b.group("indent").expandtabs(4))
        else:
            kind, indent = "text", len(body) - len(body.lstrip())
        lines.append(_Line(start, end, kind, indent))
    return _Layout(tuple(lines), tuple(sentence_spans(text)))


def _line_index(layout: _Layout, pos: int) -> int:
    lo, hi = 0, len(layout.lines) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if layout.lines[mid].start <= pos:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _structure(text: str, layout: _Layout, i: int) -> tuple[list[str], str]:
    """Texts of the enclosing structure of line ``i``, nearest first, and its name."""
    line = layout.lines[i]
    out: list[str] = []
    if line.kind == "bullet":
        k = i - 1
        while (
            k >= 0
            and layout.lines[k].kind in ("bullet", "text")
            and not (layout.lines[k].kind == "text" and layout.lines[k].indent <= line.indent)
        ):
            out.append(text[layout.lines[k].start : layout.lines[k].end])
            k -= 1
        if k >= 0 and layout.lines[k].kind == "text":  # the line that introduces the list
            out.append(text[layout.lines[k].start : layout.lines[k].end])
        return out, "bullet list"
    if line.kind == "table":
        k = i - 1
        while k >= 0 and layout.lines[k].kind == "table":
            k -= 1
        if (
            k >= 0
            and layout.lines[k].kind == "rule"
            and k >= 1
            and layout.lines[k - 1].kind == "table"
        ):
            out.append(text[layout.lines[k - 1].start : layout.lines[k - 1].end])
        elif k + 1 < i:  # no rule row: the first row heads the table
            out.append(text[layout.lines[k + 1].start : layout.lines[k + 1].end])
        first_cell = text[line.start : line.end].strip().strip("|").split("|")[0]
        out.append(first_cell)
        return out, "table header"
    return out, ""


def _previous(text: str, layout: _Layout, start: int, i: int) -> tuple[list[str], list[str]]:
    """Earlier sentences of the passage (nearest first) back to the heading above, and the
    Markdown headings above the sentence (innermost first)."""
    heading_line = next(
        (k for k in range(i - 1, -1, -1) if layout.lines[k].kind == "heading"), None
    )
    floor = layout.lines[heading_line].end if heading_line is not None else 0
    sentences = [text[s:e] for s, e in reversed(layout.sentences) if e <= start and s >= floor]
    headings = []
    level = 7
    for k in range(i - 1, -1, -1):
        if layout.lines[k].kind != "heading":
            continue
        body = text[layout.lines[k].start : layout.lines[k].end].lstrip()
        depth = len(body) - len(body.lstrip("#"))
        if depth < level:
            level = depth
            headings.append(body.lstrip("#").strip())
    return sentences, headings


@lru_cache(maxsize=256)
def _units(text: str) -> tuple[Unit, ...]:
    return tuple(units(parse_structure(text), text))


# Roles of a unit's quote that are its context, not its own words (corpus.structure.Part).
_CONTEXT_ROLES = frozenset({"label", "header", "lead_in", "parent", "condition"})


def unit_context(text: str, start: int, end: int) -> tuple[list[str], str]:
    """What the document unit holding ``text[start:end]`` stands under, nearest first: a
    table row's label and column headers (read as one: a row under two drugs' columns names
    both), a list item's parent items and lead-in, a flowchart branch's conditions; and the
    unit's kind. Headings are not included (the heading level reads them)."""
    for unit in _units(text):
        if unit.span[0] <= start < max(unit.span[1], start + 1) and end <= unit.span[1] + 1:
            parts = [p for p in unit.parts if p.role in _CONTEXT_ROLES]
            if unit.kind == "table_row":
                joined = " ; ".join(text[p.start : p.end] for p in parts)
                return ([joined] if joined else []), "table row"
            pieces: dict[str, None] = {}
            for p in reversed(parts):
                pieces.setdefault(text[p.start : p.end], None)
            return list(pieces), unit.kind.replace("_", " ")
    return [], ""


def resolve_subject(
    source: SourceText,
    start: int,
    end: int,
    table: ReferenceTable | None = None,
    *,
    around_only: bool = False,
    skip: tuple[str, ...] | frozenset[str] = (),
) -> Subject:
    """What ``source.text[start:end]`` is about: drugs, indications and phase, each from the
    sentence itself, else its bullet list or table header, the previous sentences of the
    passage, the heading path, then the title (see the module docstring). ``around_only``:
    skip the sentence itself (the guard has read it already, clause by clause). ``skip``:
    drugs that are not the subject wherever they are named (a table row's label drugs with
    their own amounts), so the drug is read from the next place that names another."""
    table = table or default_reference()
    text = source.text
    sentence = text[start:end]
    layout = _layout(text)
    levels: list[tuple[str, list[str]]] = [] if around_only else [("sentence", [sentence])]
    if layout.lines:
        i = _line_index(layout, start)
        own, kind = unit_context(text, start, end)
        if own:
            levels.append((kind, own))
        around, name = _structure(text, layout, i)
        if around:
            levels.append((name, around))
        before, headings = _previous(text, layout, start, i)
        levels.append(("previous sentence", before))
        levels.append(("heading", headings + list(reversed(source.section_path))))
    else:
        levels.append(("heading", list(reversed(source.section_path))))
    if source.title:
        levels.append(("title", [source.title]))
    drugs: tuple[str, ...] = ()
    how = "not found"
    indications: frozenset[str] = frozenset()
    phase: Phase | None = None
    # a document about a product is about its drugs where a passage names others beside them
    product_drugs = {d for _, product in source.products for d in product}
    for name, texts in levels:
        for piece in texts:
            if not drugs and (
                found := tuple(
                    d
                    for d in dict.fromkeys(
                        (*drugs_in(piece, table), *products_in(piece, source.products))
                    )
                    if d not in skip
                )
            ):
                if len(found) > 1 and (mine := tuple(d for d in found if d in product_drugs)):
                    found = mine
                drugs, how = found, name
            if not indications and (inds := find_indications(piece, table)):
                indications = frozenset(inds)
            if phase is None and name in (
                "sentence",
                "bullet list",
                "table header",
                "list item",
                "table row",
                "flow branch",
            ):
                phase = find_phase(piece)
            if drugs and indications:
                break
        if drugs and indications:
            break
    if not drugs:
        pieces = [sentence] + [t for _, texts in levels for t in texts]
        member = class_member(pieces, text, start, table)
        if member is not None and member[0] not in skip:
            drugs, how = (member[0],), f"section's one {member[1]}"
    return Subject(drugs, indications, phase, how)


# ------------------------------------------------------------------ drug classes

CLASSES = Path(__file__).resolve().parent / "data" / "classes.yaml"


class _ClassSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    words: list[str]
    members: list[str] = []
    suffixes: list[str] = []
    includes: list[str] = []


class _ClassFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: dict[str, _ClassSpec]


@dataclass(frozen=True, slots=True)
class DrugClass:
    id: str
    words: re.Pattern[str]
    members: frozenset[str]
    suffixes: tuple[str, ...]
    includes: tuple[str, ...] = ()  # narrower classes whose members belong to this one

    def has(self, drug: str) -> bool:
        name = drug.lower()
        return name in self.members or name.endswith(self.suffixes)


@lru_cache(maxsize=1)
def drug_classes() -> tuple[DrugClass, ...]:
    """guardrails/data/classes.yaml, validated and compiled once per process."""
    spec = _ClassFile.model_validate(load_yaml(CLASSES.read_text(encoding="utf-8")))
    return tuple(
        DrugClass(
            cid,
            re.compile(rf"(?<![\w-])(?:{'|'.join(c.words)})(?![\w-])", re.IGNORECASE),
            frozenset(m.lower() for m in c.members),
            tuple(x.lower() for x in c.suffixes),
            tuple(c.includes),
        )
        for cid, c in spec.classes.items()
    )


def _section(text: str, layout: _Layout, i: int) -> str:
    """The section of ``text`` line ``i`` stands in: from the heading above it to the next
    heading of that level or higher (the whole text where there is no heading)."""
    lines = layout.lines
    depth_of = {
        k: len(body) - len(body.lstrip("#"))
        for k, line in enumerate(lines)
        if line.kind == "heading" and (body := text[line.start : line.end].lstrip())
    }
    top = next((k for k in range(i, -1, -1) if k in depth_of), None)
    level = depth_of[top] if top is not None else 0
    stop = next(
        (k for k in range(i + 1, len(lines)) if k in depth_of and depth_of[k] <= level),
        len(lines),
    )
    first = lines[top].start if top is not None else 0
    last = lines[stop - 1].end if stop > 0 else len(text)
    return text[first:last]


def class_member(
    texts: list[str], source_text: str, start: int, table: ReferenceTable
) -> tuple[str, str] | None:
    """(drug, class id) where ``texts`` (the sentence and what it stands under, nearest
    first) name a drug class and the section of ``source_text`` around ``start`` names
    exactly one member of it; None otherwise (no class, or none or several members)."""
    named = [c for c in drug_classes() for t in texts if c.words.search(t)]
    if not named or not source_text:
        return None
    layout = _layout(source_text)
    if not layout.lines:
        return None
    section = _section(source_text, layout, _line_index(layout, start))
    drugs = drugs_in(section, table)
    cls = named[0]
    members = [d for d in drugs if cls.has(d)]
    return (members[0], cls.id) if len(members) == 1 else None


def may_name_one_drug(a: str, b: str, table: ReferenceTable) -> bool:
    """Whether two drug names may name one drug: a class and its member ("LMWH",
    "enoxaparin"), or one name inside the other ("insulin", "insulin glargine")."""
    if a in b or b in a or a in table.members(b) or b in table.members(a):
        return True
    return any(
        (c.has(a) and c.words.fullmatch(b)) or (c.has(b) and c.words.fullmatch(a))
        for c in drug_classes()
    )


def one_drug(subject: Subject, table: ReferenceTable) -> tuple[str | None, str]:
    """The drug a subject names, or None with the reason (none, or several)."""
    drugs = list(subject.drugs)
    # A class word beside one of its own members ("LMWH such as enoxaparin") is not another drug.
    classes = {d for d in drugs if table.members(d) and d not in table.members(d)}
    covered = {d for d in classes if set(table.members(d)) & set(drugs)}
    distinct = [d for d in drugs if d not in covered]
    if not distinct:
        return None, "no drug is named in the sentence or in what it stands under"
    if len(distinct) > 1:
        return None, f"the text before it names several drugs ({', '.join(distinct)})"
    return distinct[0], ""
