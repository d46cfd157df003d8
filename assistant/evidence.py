"""What each quotable sentence of a passage is about, and whether it answers the frame.

A sentence of a chunk knows its drugs (its own, else resolved by the guard from its parent
bullet, the sentences before it, the heading path and the document title), its indications
(its own words, else its headings and title), whether it carries a dose, which clinical task
it serves, and whether it still says what it means when quoted alone. Sentence context is
computed once per chunk and kept (it depends only on the indexed text).

On-frame selection: when the question names a drug, a dose sentence must be about that drug
(or its class) and for the asked use; a sentence for another indication, phase or population
is never quoted as if it answered. When the corpus has the drug but no dose for the asked use,
``coverage`` says so and names what the sources do cover.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from threading import Lock
from typing import Literal, TypeVar

from assistant.frame import (
    Frame,
    indication_name,
    indications_in,
    intent_indication,
    population_named,
    procedures_in,
    timing_in,
)
from assistant.premise import classes_named, member_classes
from assistant.situation import negated_at
from corpus.structure import (
    CELL_SEP,
    CONTEXT_SEP,
    PAIR_SEP,
    Flowchart,
    ListBlock,
    Table,
    Unit,
    parse_structure,
)
from corpus.structure import units as structure_units
from corpus.text import sentence_spans
from corpus.yamlio import load_yaml
from guardrails.context import ancestors, dose_indications, in_scope, resolve_subject
from guardrails.extraction import find_drugs
from guardrails.lexicon import drug_lexicon
from guardrails.measures import measure_named
from guardrails.reference import DoseEntry, ReferenceTable
from guardrails.types import SourceText
from retrieval.tokenize import tokenize
from retrieval.types import Passage

_T = TypeVar("_T")
DATA = Path(__file__).resolve().parent / "data" / "evidence.yaml"
_BULLET = re.compile(r"^(?P<indent>\s*)(?:[-*+•]|\d+[.)])\s+")
# An amount of a drug: a number and a mass, unit or volume — not a concentration or a rate
# of clearance ("1.5 mg/dL", "0.3 IU/mL", "75 mL/min"), which are measurements.
_HAS_AMOUNT = re.compile(
    r"\d\s*(?:mg|mcg|µg|μg|g|units?|IU|mL)\b(?!\s*/\s*(?:dL|L\b|min|mL|1\.73|m2|m²))",
    re.IGNORECASE,
)


def has_amount(text: str) -> bool:
    """Whether a text states an amount of a drug (``_HAS_AMOUNT``)."""
    return bool(_HAS_AMOUNT.search(text))


_QUOTE_MARK = re.compile(r"(?:>[ \t]?)+")
_BOLD_ONLY = re.compile(r"^\*\*[^*]+\*\*[:.]?$")
_MIN_CHARS, _MAX_CHARS = 25, 700


@dataclass(frozen=True, slots=True)
class _Rules:
    not_quotable: tuple[re.Pattern[str], ...]
    leaning: re.Pattern[str]
    conclusion: re.Pattern[str]
    tasks: tuple[tuple[str, str, re.Pattern[str]], ...]
    intent_titles: dict[str, str]
    target_words: re.Pattern[str]
    target_tests: re.Pattern[str]
    monitors: re.Pattern[str]
    starts: re.Pattern[str]
    evidence_question: re.Pattern[str]
    evidence_research_cap: int
    settings: tuple[tuple[str, re.Pattern[str]], ...]
    salt_and_form: re.Pattern[str]
    asks_for_agents: re.Pattern[str]
    asked_values: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]
    abbreviations: dict[str, str]
    asks_check: re.Pattern[str]
    asks_yes_no: re.Pattern[str]
    unreached: re.Pattern[str]
    examples: re.Pattern[str]
    purpose: re.Pattern[str]
    enumerating: re.Pattern[str]
    results: tuple[tuple[str, re.Pattern[str]], ...]
    meta: re.Pattern[str]
    goal_before: re.Pattern[str]
    asks_how_to_choose: re.Pattern[str]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))
    return _Rules(
        not_quotable=tuple(re.compile(p, re.IGNORECASE) for p in raw["not_quotable"]),
        leaning=re.compile(raw["leaning_openers"], re.IGNORECASE),
        conclusion=re.compile(raw["conclusion_openers"], re.IGNORECASE),
        tasks=tuple(
            (t["id"], t["title"], re.compile(t["pattern"], re.IGNORECASE)) for t in raw["tasks"]
        ),
        intent_titles=dict(raw["intent_titles"]),
        target_words=re.compile(raw["target"]["words"], re.IGNORECASE),
        target_tests=re.compile(raw["target"]["tests"], re.IGNORECASE),
        monitors=re.compile(raw["target"]["monitors"], re.IGNORECASE),
        starts=re.compile(raw["target"]["starts"], re.IGNORECASE),
        evidence_question=re.compile(raw["evidence_question"], re.IGNORECASE),
        evidence_research_cap=int(raw["evidence_research_cap"]),
        settings=tuple((name, re.compile(p, re.IGNORECASE)) for name, p in raw["settings"].items()),
        salt_and_form=re.compile(raw["salt_and_form_words"], re.IGNORECASE),
        asks_for_agents=re.compile(raw["asks_for_agents"], re.IGNORECASE),
        asks_check=re.compile(raw["asks_check"], re.IGNORECASE),
        asks_yes_no=re.compile(raw["asks_yes_no"], re.IGNORECASE),
        unreached=re.compile(raw["unreached"], re.IGNORECASE),
        examples=re.compile(raw["examples"], re.IGNORECASE),
        purpose=re.compile(raw["purpose"], re.IGNORECASE),
        enumerating=re.compile(raw["enumerating"], re.IGNORECASE),
        results=tuple((k, re.compile(v, re.IGNORECASE)) for k, v in raw["results"].items()),
        meta=re.compile(raw["meta"], re.IGNORECASE),
        goal_before=re.compile(raw["goal_before"], re.IGNORECASE),
        asks_how_to_choose=re.compile(raw["asks_how_to_choose"], re.IGNORECASE),
        abbreviations={str(k).lower(): str(v) for k, v in raw["abbreviations"].items()},
        asked_values=tuple(
            (re.compile(v["asks"], re.IGNORECASE), re.compile(v["answers"], re.IGNORECASE))
            for v in raw["asked_values"]
        ),
    )


def task_titles() -> dict[str, str]:
    """Task id -> section title, in display order (intent sections included)."""
    rules = _rules()
    out = {"card": "Dose for this patient"}
    out.update({"options": "Options"})
    out.update({tid: title for tid, title, _ in rules.tasks})
    for intent, title in rules.intent_titles.items():
        out.setdefault(f"intent:{intent}", title)
    return out


def states_target(sentence: str) -> bool:
    """Whether a sentence states a monitoring target: a target word, a test and a number
    that is no dose ("continued at 2 mcg/kg/min, adjusted to the aPTT" names no target)."""
    rules = _rules()
    return bool(
        rules.target_words.search(sentence)
        and rules.target_tests.search(sentence)
        and re.search(r"\d", _HAS_AMOUNT.sub(" ", sentence))
    )


def speaks_of_monitoring(sentence: str) -> bool:
    """Whether a sentence says to monitor, measure or titrate (by a test), or when or how to
    start a drug: a statement whose target the answer should give."""
    rules = _rules()
    return bool(rules.monitors.search(sentence) and rules.target_tests.search(sentence)) or bool(
        rules.starts.search(sentence)
    )


def research_cap(question: str) -> int | None:
    """How many research sentences a question about what a study found may quote (None:
    the usual share)."""
    rules = _rules()
    return rules.evidence_research_cap if rules.evidence_question.search(question) else None


def asked_settings(question: str) -> list[tuple[str, re.Pattern[str]]]:
    """The care settings and populations (evidence.yaml ``settings``) a question names, and
    does not rule out ("not on dialysis" names no setting)."""
    return [
        (name, p)
        for name, p in _rules().settings
        if any(not negated_at(question, m.start(), m.end()) for m in p.finditer(question))
    ]


def enumerates(lead_in: str) -> bool:
    """Whether a list's lead-in says its items go together ("at least two of the following",
    "all of the following criteria"; evidence.yaml ``enumerating``)."""
    return bool(_rules().enumerating.search(lead_in.replace("*", "")))


def without_purpose(question: str) -> str:
    """The question without a phrase that says what the answer is for ("… for DOAC
    dosing"; evidence.yaml ``purpose``)."""
    return _rules().purpose.sub(" ", question)


def is_example(text: str) -> bool:
    """Whether a unit is a worked example or an illustration (evidence.yaml ``examples``)."""
    return bool(_rules().examples.search(text))


def unreached(before: str) -> bool:
    """Whether the words right before a threshold say it was not reached ("the inability to
    reach an ACT of"; evidence.yaml ``unreached``)."""
    return bool(_rules().unreached.search(before))


def asks_yes_no(question: str) -> bool:
    """Whether a question is answered yes or no (evidence.yaml ``asks_yes_no``)."""
    return bool(_rules().asks_yes_no.search(question))


def asks_check(question: str) -> bool:
    """Whether a question asks if a value meets a threshold (evidence.yaml ``asks_check``)."""
    return bool(_rules().asks_check.search(question))


def asks_for_agents(question: str) -> bool:
    """Whether a question asks which agents to use (evidence.yaml ``asks_for_agents``)."""
    return bool(_rules().asks_for_agents.search(question))


def is_goal(before: str) -> bool:
    """Whether the words right before a band make it a goal to reach ("Target haemoglobin:",
    "maintain SpO2"; evidence.yaml ``goal_before``), not a state of the patient."""
    return bool(_rules().goal_before.search(before.replace("*", "")))


def is_meta(text: str, question: str) -> bool:
    """Whether a unit says how to choose rather than what ("the choice depends on …";
    evidence.yaml ``meta``) while the question does not ask how to choose."""
    rules = _rules()
    return bool(rules.meta.search(text)) and not rules.asks_how_to_choose.search(question)


_TEST_WORD = re.compile(r"[A-Za-z][\w-]*")


def reported_results(text: str) -> frozenset[tuple[str, str]]:
    """(result, test word) pairs a text reports ("D-dimer came back negative": ("negative",
    "d-dimer"); evidence.yaml ``results``): each result word with the content words of at
    most four words before or after it."""
    out: set[tuple[str, str]] = set()
    for result, pattern in _rules().results:
        for m in pattern.finditer(text):
            near = text[max(0, m.start() - 40) : m.start()].split()[-4:]
            near += text[m.end() : m.end() + 30].split()[:3]
            for word in near:
                for w in _TEST_WORD.findall(word):
                    if len(w) >= 3 and not pattern.fullmatch(w):
                        out.add((result, w.lower()))
    return frozenset(out)


def asked_values(question: str) -> tuple[re.Pattern[str], ...]:
    """What a unit that gives the kind of value the question asks for looks like
    (evidence.yaml ``asked_values``): one pattern per kind asked."""
    return tuple(answers for asks, answers in _rules().asked_values if asks.search(question))


def intent_title(intent: str) -> str:
    return _rules().intent_titles.get(intent, "What the sources say")


@dataclass(frozen=True, slots=True)
class SentenceInfo:
    """One sentence of a chunk and what it is about."""

    start: int  # offsets into the chunk text (a bullet marker is left out)
    end: int
    own_drugs: frozenset[str]
    drugs: frozenset[str]  # own, else resolved from the context
    drugs_from: str  # "sentence", "bullet parent", "previous sentence", "heading", "title", ""
    indications: frozenset[str]  # own, else from the headings and title
    indications_from: str
    context_indications: frozenset[str]  # the headings' and title's
    has_amount: bool
    quotable: bool
    why_not: str  # why it is not quotable alone ("" when it is)
    task: str  # safety, populations, monitoring, evidence, dosing, definition, or ""


def _task(sentence: str) -> str:
    for tid, _, pattern in _rules().tasks:
        if pattern.search(sentence):
            return tid
    return ""


def passage_names(passage: Passage, drugs: frozenset[str]) -> bool:
    """Whether the passage (its text, headings or document title) names one of ``drugs``."""
    where = " ".join((passage.doc.title, *passage.chunk.section_path, passage.chunk.text))
    return shares_drug(_drug_names(where), drugs)


@lru_cache(maxsize=4096)
def _drug_names(text: str) -> frozenset[str]:
    """Every drug a text names (the broad lexicon: any drug, not only the reference's)."""
    return frozenset(name for _, _, name in find_drugs(text, drug_lexicon()))


def _why_not_quotable(line: str, sentence: str, bullet: bool = False) -> str:
    rules = _rules()
    if line.startswith(("#", "|")):
        return "heading or table row"
    if not (_MIN_CHARS <= len(sentence) <= _MAX_CHARS):
        return "fragment" if len(sentence) < _MIN_CHARS else "too long"
    if _BOLD_ONLY.match(sentence.strip()) or sentence.rstrip().endswith(":"):
        return "heading line"
    if any(p.search(sentence) for p in rules.not_quotable):
        return "tool, navigation or heading line"
    plain = sentence.lstrip("*_ ")
    if plain[:1].islower():
        return "fragment (starts mid-sentence)"
    concluded = rules.conclusion.match(plain)
    if concluded:
        plain = plain[concluded.end() :]
    if rules.leaning.match(plain):
        return "leans on the sentence before it"
    if len(re.findall(r"[A-Za-z]{2,}", sentence)) < 4:
        return "fragment"
    if bullet and _LABEL_VALUE.match(sentence) and not _drug_names(sentence):
        # "- **Dose:** 2.5 mg daily": quoted as a list item under what it is for instead.
        return "a label and its amount without what it is for"
    return ""


# "**Dose:** 2.5 mg subcutaneously once daily": a short label, then straight an amount.
_LABEL_VALUE = re.compile(r"^[\W_]*[A-Za-z][\w /()-]{0,30}?[*_]*:[*_\s]*[~≈<>≤≥]?\s*\d")


def _asks(line: str) -> bool:
    """Whether a list line is a question (Markdown emphasis aside)."""
    return line.replace("*", "").replace("_", "").rstrip().endswith("?")


def analyse(passage: Passage, table: ReferenceTable) -> tuple[SentenceInfo, ...]:
    """Every sentence of ``passage``'s chunk with what it is about (see the module doc).

    Drugs are resolved by the guard's own reader (``guardrails.resolve_subject``: the
    sentence, its list or table header, the sentences before it, the headings, the title),
    so what the answer quotes as being about a drug is what the guard checks it as."""
    text = passage.chunk.text
    source = SourceText(text, passage.doc.title, passage.chunk.section_path, passage.doc.id)
    headings = " ".join(passage.chunk.section_path)
    context_ind = indications_in(headings, table) or indications_in(passage.doc.title, table)
    out: list[SentenceInfo] = []
    # (indent, indications, asks) of the bullet lines above the current one, for parent
    # lookup; ``asks``: the bullet line is a question its nested items answer (a decision
    # step "RCRI >= 3 risk factors?" with branches "Yes: …" / "No: …").
    parents: list[tuple[int, frozenset[str], bool]] = []
    spans = sentence_spans(text)
    # A passage that is one short record ("pronounced as (klor dye az e pox' ide)", "Stool
    # softener", "It is best taken with a meal.") says what it means as it stands: it is no
    # fragment of something longer, and has no sentence before it to lean on.
    whole = len(spans) == 1 and passage.chunk.start == 0
    for start, end in spans:
        line_start = text.rfind("\n", 0, start) + 1
        line = text[line_start:end]
        first_of_line = text[line_start:start].strip() == "" or bool(
            _BULLET.match(text[line_start:start])
        )
        bullet = _BULLET.match(text[start:end]) if first_of_line else None
        s0 = start + (bullet.end() if bullet else 0)
        if first_of_line and (mark := _QUOTE_MARK.match(text, s0, end)):
            s0 = mark.end()  # a "> " quote marker is layout, not the sentence's text
        sentence = text[s0:end]
        if line.startswith("#"):
            parents.clear()
        # The list item this sentence opens, read on its whole line: the line's indent is
        # the item's depth (a sentence span may begin after the indent or the marker).
        item = _BULLET.match(line) if first_of_line else None
        indent = len(item.group("indent")) if item else -1
        parent = None
        if item:
            while parents and parents[-1][0] >= indent:
                parents.pop()
            parent = parents[-1] if parents else None
        own = _drug_names(sentence)
        subject = resolve_subject(source, s0, end, table)
        drugs = own or frozenset(subject.drugs)
        how = "sentence" if own else (subject.how if subject.drugs else "")
        own_ind = indications_in(sentence, table)
        if not own_ind and drugs and _HAS_AMOUNT.search(sentence):
            # "reduces prophylaxis to 30 mg": a phase word beside a dose names its use, as
            # the guard reads it.
            own_ind = set().union(*(dose_indications(sentence, d, table) for d in drugs))
        inds: frozenset[str]
        if own_ind:
            inds, ind_how = frozenset(own_ind), "sentence"
        elif parent and parent[1]:
            inds, ind_how = parent[1], "bullet parent"
        elif context_ind:
            inds, ind_how = frozenset(context_ind), "heading"
        else:
            inds, ind_how = frozenset(), ""
        why = _why_not_quotable(line.strip() if not bullet else sentence, sentence, bool(bullet))
        if not why and parent and parent[2]:
            # A branch answers the question above it; alone, its "Yes:" reads as an answer
            # to the user's question.
            why = "answers the question of the item above it"
        if whole and why.startswith(("fragment", "leans")) and re.search(r"\w", sentence):
            why = ""
        if why.startswith("leans") and passage.chunk.start == 0 and not out:
            # A document's first sentence has nothing before it to lean on: "It is most
            # useful during convalescence ..." under "Palmarosa: ..." speaks of its title.
            why = ""
        out.append(
            SentenceInfo(
                s0,
                end,
                own,
                drugs,
                how,
                inds,
                ind_how,
                frozenset(context_ind),
                bool(_HAS_AMOUNT.search(sentence)),
                not why,
                why,
                _task(sentence),
            )
        )
        if item:
            parents.append((indent, inds, _asks(line)))
    record = _record(passage, out, table)
    return (record,) if record else tuple(out)


_RECORD_LINE = re.compile(r"^\s*(?:#|\|)")


def _record(
    passage: Passage, infos: list[SentenceInfo], table: ReferenceTable
) -> SentenceInfo | None:
    """A document that is one short record in several pieces ("Do not mix with" / "other
    insulins"; "store at ... 30°C (86°F). Do not freeze."; "NORCO® 5/325 ... NORCO® 7.5/325
    ..."), none of which says anything alone, as one quotable statement: each piece is a
    fragment, and quoting a piece could say less than the record. None when the chunk is no
    such record."""
    text = passage.chunk.text
    if passage.chunk.start != 0 or len(infos) < 2 or any(i.quotable for i in infos):
        return None
    start, end = infos[0].start, infos[-1].end
    body = text[start:end]
    if len(body) > _MAX_CHARS or text[end:].strip():
        return None
    if any(_RECORD_LINE.match(line) for line in body.splitlines()):
        return None  # headings and tables are structure, not a record
    if len(re.findall(r"[A-Za-z]{2,}", body)) < 3:
        return None
    own = frozenset().union(*(i.own_drugs for i in infos))
    drugs = own or frozenset().union(*(i.drugs for i in infos))
    how = "sentence" if own else next((i.drugs_from for i in infos if i.drugs), "")
    own_ind = indications_in(body, table)
    context = infos[0].context_indications
    inds = frozenset(own_ind) if own_ind else context
    return SentenceInfo(
        start,
        end,
        own,
        drugs,
        how,
        inds,
        "sentence" if own_ind else ("heading" if context else ""),
        context,
        bool(_HAS_AMOUNT.search(body)),
        True,
        "",
        _task(body),
    )


QuotePart = tuple[int, int, str]  # (start, end, joiner before it): offsets into a chunk's text


@dataclass(frozen=True, slots=True)
class UnitInfo:
    """An answer unit of a chunk beyond its sentences (corpus/structure.py): a table row
    with its label and column headers, a list item with its lead-in and parent items, a
    flowchart branch with its condition. Its quote is the chunk's own characters joined by
    the structure model's fixed punctuation (``parts``), so it is cited exactly."""

    kind: str
    parts: tuple[QuotePart, ...]
    info: SentenceInfo  # start/end: the unit's own text (the row, the item, the branch)
    measure: str | None = None  # what a row's bare bands measure (its label column's header)

    def quote(self, text: str) -> str:
        return "".join(sep + text[a:b] for a, b, sep in self.parts)


_OWN_ROLES = frozenset({"item", "cell", "step", "text"})
_WORDS = re.compile(r"[^\W\d_]{2,}")


def _unit_why_not(unit: Unit, quote: str) -> str:
    """Why a unit cannot be quoted (empty when it can)."""
    rules = _rules()
    own = " ".join(unit.text[p.start : p.end] for p in unit.parts if p.role in _OWN_ROLES)
    if not re.search(r"\w", own):
        return "no text of its own"
    if own.rstrip(" *_").endswith((":", "?")):
        return "a lead-in or a question its branches answer"
    if len(quote) > _MAX_CHARS or len(quote) < _MIN_CHARS:
        return "too long" if len(quote) > _MAX_CHARS else "fragment"
    if len(_WORDS.findall(quote)) < 4:
        return "fragment"
    if any(p.search(own) for p in rules.not_quotable):
        return "tool, navigation or heading line"
    return ""


def analyse_units(passage: Passage, table: ReferenceTable) -> tuple[UnitInfo, ...]:
    """The chunk's table rows, flowchart branches and list items that need their context
    (a lead-in line, a parent item, or a heading when the item alone is a fragment), each
    with what it is about, read as ``analyse`` reads a sentence."""
    text = passage.chunk.text
    source = SourceText(text, passage.doc.title, passage.chunk.section_path, passage.doc.id)
    headings = " ".join(passage.chunk.section_path)
    context_ind = indications_in(headings, table) or indications_in(passage.doc.title, table)
    out: list[UnitInfo] = []
    structure = parse_structure(text)
    # A table's label column header says what its rows' bare bands measure ("CrCl (mL/min)"
    # over ">= 60", "30-59").
    measured: dict[tuple[int, int], str | None] = {}
    for block in structure.blocks:
        if isinstance(block, Table) and block.header and block.header.cells:
            a, b = block.header.cells[0]
            what = measure_named(text[a:b])
            measured.update((row.span, what) for row in block.rows)

    def info_of(start: int, end: int, quote: str) -> SentenceInfo:
        own_drugs = _drug_names(quote)
        subject = resolve_subject(source, start, end, table)
        drugs = own_drugs or frozenset(subject.drugs)
        how = "sentence" if own_drugs else (subject.how if subject.drugs else "")
        own_ind = indications_in(quote, table)
        has_amount = bool(_HAS_AMOUNT.search(quote))
        if not own_ind and drugs and has_amount:
            own_ind = set().union(*(dose_indications(quote, d, table) for d in drugs))
        inds = frozenset(own_ind) if own_ind else frozenset(context_ind)
        return SentenceInfo(
            start,
            end,
            own_drugs,
            drugs,
            how,
            inds,
            "sentence" if own_ind else ("heading" if context_ind else ""),
            frozenset(context_ind),
            has_amount,
            True,
            "",
            _task(quote),
        )

    # The items under a lead-in that says they go together ("at least two of the
    # following"), for quoting the whole list as one unit.
    together: dict[tuple[int, int], list[Unit]] = {}
    for unit in structure_units(structure, text):
        if unit.kind == "sentence":
            continue
        roles = {p.role for p in unit.parts}
        if unit.kind == "list_item" and roles == {"lead_in", "item"} and unit.context:
            lead = unit.context[0]
            if enumerates(text[lead[0] : lead[1]]):
                together.setdefault(lead, []).append(unit)
        if unit.kind == "list_item" and not roles & {"lead_in", "parent"}:
            own = text[unit.span[0] : unit.span[1]]
            if not _why_not_quotable(own, own, bullet=True):
                continue  # quotable alone: its sentences are candidates already
        quote = unit.quote()
        why = _unit_why_not(unit, quote)
        if why:
            continue
        parts = tuple((p.start, p.end, p.sep) for p in unit.parts)
        info = info_of(*unit.span, quote)
        out.append(UnitInfo(unit.kind, parts, info, measured.get(unit.span)))
    for block in structure.blocks:
        if isinstance(block, ListBlock) and (whole := _key_value_list(block, text)):
            quote = "".join(sep + text[a:b] for a, b, sep in whole)
            if len(quote) <= _MAX_CHARS:
                out.append(UnitInfo("table", whole, info_of(*block.span, quote)))
        if isinstance(block, Table) and (whole := _key_value_table(block, text)):
            quote = "".join(sep + text[a:b] for a, b, sep in whole)
            if len(quote) <= _MAX_CHARS:
                out.append(UnitInfo("table", whole, info_of(*block.span, quote)))
    for items in together.values():
        if len(items) < 2:
            continue
        whole = _whole_list(items)
        quote = "".join(sep + text[a:b] for a, b, sep in whole)
        if len(quote) > _MAX_CHARS:
            continue
        start, end = items[0].span[0], items[-1].span[1]
        out.append(UnitInfo("list", whole, info_of(start, end, quote)))
    return tuple(out)


_KEY_VALUE_ROWS = 8  # a table of label/value rows this long or shorter is also quoted whole


def _key_value_table(block: Table, text: str) -> tuple[QuotePart, ...]:
    """A two-column table of labelled values ("Starting dose | 24/26 mg twice daily",
    "Target dose | 97/103 mg twice daily") quoted whole: its caption, then each row's label
    and value ("Starting dose: 24/26 mg twice daily; Target dose: ..."). Empty when the
    table is no such table (another shape, an empty cell, too many rows)."""
    rows = block.rows
    if block.header is None or len(block.header.cells) != 2:
        return ()
    if any(len(r.cells) != 2 for r in rows):
        return ()
    return _labelled_values(text, block.caption, [(r.cells[0], r.cells[1]) for r in rows])


_KEY_VALUE_ITEM = re.compile(
    r"[*_]*(?P<label>[A-Za-z][\w /()-]{0,30}?)[*_]*:[*_]*\s+(?P<value>\S.*)"
)


def _key_value_list(block: ListBlock, text: str) -> tuple[QuotePart, ...]:
    """A list of labelled values ("- **Dose:** 20 mcg", "- **Frequency:** once daily")
    quoted whole, as a two-column table is: its lead-in, then each item's label and value.
    Empty when the list is no such list (nested items, an item of several lines or without
    a short label, too many or too few items)."""
    pairs: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for item in block.items:
        if item.children or len(item.lines) != 1:
            return ()
        start, end = item.lines[0]
        m = _KEY_VALUE_ITEM.fullmatch(text, start, end)
        if m is None:
            return ()
        pairs.append(((m.start("label"), m.end("label")), (m.start("value"), end)))
    return _labelled_values(text, block.lead_in, pairs)


def _labelled_values(
    text: str,
    head: tuple[int, int] | None,
    pairs: Sequence[tuple[tuple[int, int], tuple[int, int]]],
) -> tuple[QuotePart, ...]:
    """Labelled values quoted whole: the words of ``head`` (a caption or lead-in, without
    its marks and colon), then each label and its value ("head — label: value; label:
    value"). Empty for fewer than two or more than ``_KEY_VALUE_ROWS`` pairs, or an empty
    label or value."""
    if not (2 <= len(pairs) <= _KEY_VALUE_ROWS):
        return ()
    out: list[QuotePart] = []
    if head is not None:
        a, b = _bare(text, *head, tail="*_:. \t")
        if b > a:
            out.append((a, b, ""))  # "**Andexanet Alfa Dosing:**": the words, not the marks
    for k, (label, value) in enumerate(pairs):
        (la, lb), (va, vb) = _bare(text, *label), _bare(text, *value)
        if lb <= la or vb <= va:
            return ()
        out.append((la, lb, CONTEXT_SEP if out and k == 0 else ("" if k == 0 else PAIR_SEP)))
        out.append((va, vb, CELL_SEP))
    return tuple(out)


def _bare(text: str, a: int, b: int, tail: str = "*_ \t") -> tuple[int, int]:
    """A span without the emphasis marks around its words ("**Dose**" -> "Dose")."""
    while a < b and text[a] in "*_ \t":
        a += 1
    while b > a and text[b - 1] in tail:
        b -= 1
    return a, b


def _whole_list(items: list[Unit]) -> tuple[QuotePart, ...]:
    """A list quoted whole: its lead-in, then every item, the items joined by "; "."""
    first = items[0]
    out = [(p.start, p.end, p.sep) for p in first.parts]
    for item in items[1:]:
        own = [p for p in item.parts if p.role == "item"]
        out += [(p.start, p.end, PAIR_SEP if k == 0 else p.sep) for k, p in enumerate(own)]
    return tuple(out)


def flowchart_spans(text: str) -> tuple[tuple[int, int], ...]:
    """Where a chunk's flowcharts stand: their lines are quoted as branches, never alone."""
    return tuple(b.span for b in parse_structure(text).blocks if isinstance(b, Flowchart))


class SentenceContexts:
    """Sentence context per chunk id, computed on first use and kept (bounded)."""

    def __init__(self, table: ReferenceTable, size: int = 20_000) -> None:
        self.table = table
        self.size = size
        self._cache: OrderedDict[tuple[str, int], tuple[SentenceInfo, ...]] = OrderedDict()
        self._units: OrderedDict[tuple[str, int], tuple[UnitInfo, ...]] = OrderedDict()
        self._lock = Lock()

    def units(self, passage: Passage) -> tuple[UnitInfo, ...]:
        """The chunk's answer units beyond its sentences (``analyse_units``), kept."""
        return self._kept(self._units, passage, analyse_units)

    def of(self, passage: Passage) -> tuple[SentenceInfo, ...]:
        return self._kept(self._cache, passage, analyse)

    def _kept(
        self,
        store: OrderedDict[tuple[str, int], _T],
        passage: Passage,
        compute: Callable[[Passage, ReferenceTable], _T],
    ) -> _T:
        # The id names the span; the hash tells a re-indexed, edited text from the old one.
        key = (passage.chunk.id, hash(passage.chunk.text))
        with self._lock:
            hit = store.get(key)
            if hit is not None:
                store.move_to_end(key)
                return hit
        found = compute(passage, self.table)
        with self._lock:
            store[key] = found
            while len(store) > self.size:
                store.popitem(last=False)
        return found


_SHARED: dict[int, SentenceContexts] = {}


def shared_contexts(table: ReferenceTable) -> SentenceContexts:
    """The process-wide sentence-context cache for one dose reference."""
    key = id(table)
    found = _SHARED.get(key)
    if found is None or found.table is not table:
        found = _SHARED[key] = SentenceContexts(table)
    return found


# ------------------------------------------------------------------ on-frame selection


def _reversal_uses(table: ReferenceTable) -> frozenset[str]:
    """The indications whose doses a reversal question asks for (the reference says which)."""
    return frozenset(i.id for i in table.indications if i.intent == "reversal")


def is_agent(drug: str, table: ReferenceTable) -> bool:
    uses = _reversal_uses(table)
    return any(e.drug == drug and e.indication in uses for e in table.doses)


def reversed_by(agent: str, table: ReferenceTable) -> set[str]:
    """The drugs an agent's reversal entries say it reverses (named in the quote, or listed
    in the entry's ``reverses`` from its cited document)."""
    out: set[str] = set()
    uses = _reversal_uses(table)
    for e in table.doses:
        if e.drug == agent and e.indication in uses:
            out |= _reversed_in(e) - {agent}
    return out


def _reversed_in(e: DoseEntry) -> set[str]:
    quote = _REVERSAL.sub(_blank, e.cite.quote)
    # "For warfarin-associated bleeding": the drug a description names is the one reversed.
    return {n for _, _, n in find_drugs(quote, descriptions=True)} | set(e.reverses)


def reversal_agents(frame: Frame, table: ReferenceTable) -> list[str]:
    """Reversal agents whose reference entries say they reverse one of the frame's drugs
    (the drug being reversed, not an agent the question names)."""
    out: list[str] = []
    asked = {d for d in frame.drugs if not is_agent(d, table)}
    uses = _reversal_uses(table)
    for e in table.doses:
        if e.indication not in uses or e.drug in out or e.drug in frame.ruled_out:
            continue
        if _reversed_in(e) & asked:
            out.append(e.drug)
    # An agent the question names comes first ("andexanet regimen?" for a rivaroxaban bleed),
    # the last named first of those ("giving PCC - how much vit K?" asks for vitamin K).
    named = list(frame.drugs)
    return sorted(out, key=lambda d: -named.index(d) if d in named else 1)


def as_reversal(frame: Frame, table: ReferenceTable) -> Frame:
    """A dose question that names a reversal agent beside a drug the agent reverses ("on
    rivaroxaban for post-op prophylaxis ... andexanet regimen?") asks for the agent's dose:
    the use the patient's drug was for is no use the answer must be for. A question that
    rules out an agent for a drug it reverses ("no andexanet in the hospital") asks for
    another reversal. Other frames are returned as they are."""
    targets = {d for d in frame.drugs if not is_agent(d, table)}
    gone = [d for d in frame.ruled_out if is_agent(d, table)]
    if any(reversed_by(a, table) & targets for a in gone):
        # "Rivaroxaban bleed, no andexanet in the hospital. What else?": another reversal.
        use = intent_indication("reversal", table)
        return replace(
            frame,
            intent="reversal",
            indication=use,
            indications=frozenset({use}) if use else frozenset(),
            condition=None,
            setting=None,
            phase=None,
        )
    if frame.intent != "dose":
        return frame
    agents = [d for d in frame.drugs if is_agent(d, table)]
    if not any(reversed_by(a, table) & targets for a in agents):
        return frame
    return replace(
        frame, indication=None, indications=frozenset(), condition=None, setting=None, phase=None
    )


_REVERSAL = re.compile(r"\b(?:revers|neutrali[sz]|antagoni[sz])\w*", re.IGNORECASE)


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())


def related_drugs(frame: Frame, table: ReferenceTable) -> frozenset[str]:
    """The frame's drugs with their class word and class members ("LMWH" and enoxaparin);
    for a reversal question, the agents that reverse them too."""
    by_name = {d.name: d for d in table.drugs}
    out = set(frame.drugs)
    if frame.intent == "reversal":
        out |= set(reversal_agents(frame, table))
    for drug in frame.drugs:
        me = by_name.get(drug)
        if me is None:
            continue
        # A drug's class word counts ("LMWH" sentences are about enoxaparin); a class word
        # stands for every member.
        out |= {d.name for d in table.drugs if d.name == me.drug_class}
        out |= {d.name for d in table.drugs if d.drug_class == drug}
    return frozenset(out)


def names_class_of(text: str, drugs: Iterable[str], others: Iterable[str] = ()) -> bool:
    """Whether ``text`` names, by a class word, a class one of ``drugs`` is a direct member
    of ("DOACs" for apixaban; the class map of assistant/data/premise.yaml), and none of
    ``others`` (the drugs the text names itself) is a member of that class: "For reversing
    DOACs — Dabigatran: idarucizumab" speaks of dabigatran, not of every DOAC."""
    named = classes_named(text)
    if not named:
        return False
    named -= {c for d in others for c in member_classes(d)}
    return any(named & member_classes(d) for d in drugs)


@lru_cache(maxsize=4096)
def base_name(drug: str) -> str:
    """A drug's name without its salt, ester or form words ("rosuvastatin calcium",
    "fentanyl patch" -> "rosuvastatin", "fentanyl"); a name that is nothing but such words
    ("potassium chloride") is its own base."""
    base = " ".join(_rules().salt_and_form.sub(" ", drug.lower()).split())
    return base or drug.lower()


def shares_drug(about: Iterable[str], drugs: Iterable[str]) -> bool:
    """Whether a sentence's drugs include one of ``drugs``, counting a salt or form of a drug
    as the drug ("betamethasone dipropionate" for "betamethasone")."""
    mine = set(about)
    asked = set(drugs)
    if mine & asked:
        return True
    return bool({base_name(d) for d in mine} & {base_name(d) for d in asked})


def _stems(text: str) -> set[str]:
    return {t for t in tokenize(text) if not t[0].isdigit()}


_DOSE_WORDS = re.compile(r"\b(?:dos(?:e|es|ed|ing|age)|regimens?)\b", re.IGNORECASE)


_ACRONYM_SKIP = {"of", "the", "and", "in", "with", "to", "for", "a", "an", "or", "on", "by"}


def acronym(phrase: str) -> str | None:
    """The initials a phrase of two or more words is abbreviated by, as sources write them
    ("amyotrophic lateral sclerosis" -> "ALS", "non-small cell lung cancer" -> "NSCLC");
    None for a shorter phrase."""
    words = [w for w in re.findall(r"[A-Za-z]+", phrase) if w.lower() not in _ACRONYM_SKIP]
    return "".join(w[0].upper() for w in words) if len(words) >= 2 else None


def _initials_after(phrase: str, text: str, have: set[str]) -> bool:
    """Whether ``text`` names ``phrase`` by its leading words in full and the rest by their
    initials ("mild Alzheimer disease" written as "mild AD", "recurrent glioblastoma
    multiforme" as "recurrent GBM")."""
    words = [w for w in re.findall(r"[A-Za-z]+", phrase) if w.lower() not in _ACRONYM_SKIP]
    for i in range(1, len(words) - 1):
        short = "".join(w[0].upper() for w in words[i:])
        if re.search(rf"\b{short}s?\b", text) and _stems(" ".join(words[:i])) <= have:
            return True
    return False


def _spelled_out(short: str, text: str) -> bool:
    """Whether ``text`` writes the initials ``short`` ("aud") out in full: consecutive words
    whose first letters spell it ("Alcohol Use Disorder"), small joining words skipped."""
    if not 2 <= len(short) <= 6 or not short.isalpha():
        return False
    words = [w for w in re.findall(r"[A-Za-z]+", text) if w.lower() not in _ACRONYM_SKIP]
    n = len(short)
    key = short.lower()
    return any(
        "".join(w[0] for w in words[i : i + n]).lower() == key for i in range(len(words) - n + 1)
    )


_CARE_WORDS = re.compile(
    r"\b(?:treat(?:ment|ing)?|therapy|management|managing|prevention|preventing|patients?|"
    r"people|adults?|subjects?)\b",
    re.IGNORECASE,
)
_ABBREVIATION = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9-]{1,9})\s*\)")


def condition_share(
    condition: str, text: str, table: ReferenceTable | None = None, loose: bool = False
) -> float:
    """The share of an asked condition's words that ``text`` has. Drug names, drug class
    words (of the dose reference ``table``) and dose words ("for DOAC dosing") name no
    condition and are left out, and so, read ``loose``, are care words ("treatment of",
    "patients"); a condition the text
    writes as its initials ("ALS") or as the abbreviation the question gave ("pulmonary
    arterial hypertension (PAH)") is named in full. Read ``loose``, a word also counts when
    the text has one of the same root ("nucleus" and "nuclear", "microbiome" and
    "microbiota")."""
    # The question's own abbreviation, in any case ("(ESC)" read as "esc"); initials as
    # sources write them, in capitals.
    named = [(m.group(1), re.IGNORECASE) for m in _ABBREVIATION.finditer(condition)]
    plain = _DOSE_WORDS.sub(" ", _ABBREVIATION.sub(" ", condition))
    for start, end, _ in sorted(find_drugs(plain, drug_lexicon()), reverse=True):
        plain = plain[:start] + " " + plain[end:]
    bare = _CARE_WORDS.sub(" ", plain)
    # Care words are left out of a loose reading only: a dose's own headings that say
    # "patients with severe renal impairment" still count in full.
    words = _stems(bare if loose else plain)
    if short := acronym(bare):
        named.append((short, re.NOFLAG))  # "amyotrophic lateral sclerosis" written as "ALS"
    if any(re.search(rf"\b{re.escape(n)}s?\b", text, flags) for n, flags in named):
        return 1.0
    have = _stems(text)
    if _initials_after(bare, text, have):
        return 1.0  # "mild Alzheimer disease" written as "mild AD"
    if table is not None:
        classes = {c for d in table.drugs if d.drug_class for c in _stems(d.drug_class)}
        words = {w for w in words if w not in classes and w.rstrip("s") not in classes}
    if not words:
        return 1.0
    # A condition asked by its initials ("AUD") is named where the text spells them out, or
    # writes the words its abbreviation stands for ("SAH": subarachnoid hemorrhage).
    have = have | {w for w in words if w not in have and _spelled_out(w, text)}
    expansions = _rules().abbreviations
    have = have | {w for w in words if w in expansions and _stems(expansions[w]) <= have}
    if loose:
        roots = {t[:5] for t in have if len(t) >= 5}
        return sum(w in have or (len(w) >= 5 and w[:5] in roots) for w in words) / len(words)
    return len(words & have) / len(words)


Fit = Literal["on", "off-drug", "off-use", "off-population", "unknown-use"]


def fit(
    info: SentenceInfo,
    sentence: str,
    passage: Passage,
    frame: Frame,
    table: ReferenceTable,
    drugs: frozenset[str],
) -> Fit:
    """How a sentence fits the frame. A dose sentence must be about the asked drug and for
    the asked use; other sentences must not be about another drug (dose and reversal
    questions) and must not speak of another use when the sentence names one."""
    # A management question's options are other drugs: there only the use must fit.
    choice = frame.intent in ("choice", "education", "definition", "other")
    strict_drug = frame.intent in (
        "dose",
        "monitoring",
        "duration",
        "switching",
        "safety",
        "reversal",
    )
    about = info.drugs
    if drugs and not shares_drug(about, drugs) and names_class_of(sentence, drugs, about):
        # "DOACs are not recommended" speaks of apixaban.
        about = about | drugs
    if drugs and not choice and info.has_amount and about and not shares_drug(about, drugs):
        return "off-drug"
    if (
        drugs
        and strict_drug
        and about
        and not shares_drug(about, drugs)
        and (info.has_amount or not shares_drug(_drug_names(passage.doc.title), drugs))
    ):
        # A statement with no dose in the asked drug's own document speaks of that drug
        # when it names another ("Do not use with any other drug containing acetaminophen"
        # under "Mucinex Fast-Max: Interaction"); a dose of another drug never does.
        return "off-drug"
    if drugs and strict_drug and not about and frame.intent == "safety":
        # "Is dabigatran safe in pregnancy?": a sentence about no drug at all (asthma care in
        # pregnancy) does not answer it, however well it matches the population.
        return "off-drug"
    if drugs and strict_drug and not about and not passage_names(passage, drugs):
        # "How long before surgery should apixaban be stopped?": "Start 2 to 7 days before
        # surgery" in a perioperative guideline's beta-blocker passage is not about it. A
        # sentence that names no drug speaks of the asked one only where its passage does.
        return "off-drug"
    if frame.indications:
        # A dose must be for the asked use by its own words (or its headings when it names
        # none); any other sentence may also be about it through its document.
        uses = info.indications if info.has_amount else info.indications | info.context_indications
        asked = set(frame.indications)
        if info.has_amount and (procedures := procedures_in(asked, table)):
            asked = procedures  # "bypass in HIT": the HIT dose is not the bypass dose
        if uses and not any(in_scope(i, asked, table) for i in uses):
            return "off-use"
        if uses and frame.excluded and all(in_scope(i, set(frame.excluded), table) for i in uses):
            return "off-use"  # "acute DVT in a patient without cancer": not the cancer dose
        if info.has_amount and not info.indications and not choice:
            return "unknown-use"
    elif frame.condition and (info.has_amount or drugs):
        # A dose must be for the asked condition by its own words or headings. When the
        # question names no drug, any other sentence may be about it through its passage
        # (an abstract names its disease once); a drug's sentences must name the condition.
        context = sentence if info.has_amount or drugs else passage.chunk.text
        where = " ".join((context, *passage.chunk.section_path, passage.doc.title))
        share = condition_share(frame.condition, where, table, loose=not info.has_amount)
        if share < (0.6 if info.has_amount else 0.5):
            return "off-use"
    if frame.populations and info.has_amount:
        where = " ".join((sentence, *passage.chunk.section_path, passage.doc.title))
        if not any(population_named(p, where) for p in frame.populations):
            return "off-population"
    # "How long before surgery ...?" is answered by a sentence on that side of that event.
    timed = frame.timing and frame.intent in ("duration", "switching")
    if timed and timing_in(sentence) != frame.timing:
        return "off-use"
    return "on"


# ------------------------------------------------------------------ coverage


@dataclass(frozen=True, slots=True)
class Coverage:
    """Whether the corpus gives the asked drug a dose for the asked use."""

    status: Literal["covered", "not_covered"]
    drug: str | None = None
    asked: str | None = None
    covered_for: tuple[str, ...] = ()
    message: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "status": self.status,
            "drug": self.drug,
            "asked": self.asked,
            "covered_for": list(self.covered_for),
            "message": self.message,
        }


def _use_name(info: SentenceInfo, passage: Passage, table: ReferenceTable) -> str:
    if info.indications:
        return " / ".join(sorted(indication_name(i, table) for i in info.indications))
    title = passage.doc.title.split(":")[0].split(" — ")[0].split(". ")[0]
    title = re.sub(r"\s*\([^()]*\)\s*$", "", title).strip()
    return title if len(title) <= 70 else title[:67].rsplit(" ", 1)[0] + "…"


def asked_use(frame: Frame, table: ReferenceTable) -> str | None:
    parts = []
    if frame.indication:
        parts.append(indication_name(frame.indication, table))
    elif frame.condition:
        parts.append(frame.condition)
    if frame.populations:
        parts.append("in " + " or ".join(frame.populations))
    return " ".join(parts) or None


def coverage(
    frame: Frame,
    pool: Iterable[tuple[Passage, SentenceInfo]],
    table: ReferenceTable,
) -> Coverage:
    """``not_covered`` when the frame asks a dose-like question about a drug, the pool has
    dose sentences of that drug, and none of them is for the asked use or population."""
    reversal = _reversal_coverage(frame, table)
    if reversal.status == "not_covered" or frame.intent == "reversal":
        return reversal
    if frame.intent == "safety" and frame.drugs and frame.populations:
        return _population_coverage(frame, pool, table)
    if reversal.status == "covered" and reversal.drug:
        return reversal  # an agent and a drug it reverses: the asked use is the reversal
    if frame.intent != "dose" or not frame.explicit_intent or not frame.drugs:
        # Only a question that asks for a dose in its own words is told there is none for
        # its use; a dose read into shorthand ("rivaroxaban for acute HIT?") is not.
        return Coverage("covered")
    if not (frame.indication or frame.condition or frame.populations):
        return Coverage("covered")
    drugs = related_drugs(frame, table)
    if frame.indications and not frame.populations:
        # The curated reference gives the drug a regimen for this use: covered, by data.
        # (An entry for the use itself or a broader one; a narrower one, such as cancer-
        # associated VTE for VTE, does not cover the general use.)
        named_uses = procedures_in(frame.indications, table) or set(frame.indications)
        wanted = named_uses.union(*(ancestors(i, table) for i in named_uses))
        if any(e.drug in drugs and e.indication in wanted for e in table.doses):
            return Coverage("covered", frame.drugs[0], asked_use(frame, table))
    seen: dict[str, None] = {}
    any_dose = near = False
    for passage, info in pool:
        if not (info.has_amount and shares_drug(info.drugs, drugs)):
            continue
        sentence = passage.chunk.text[info.start : info.end]
        # Covered only by a dose that says it is for the asked use (or its headings do); a
        # table row counts, though only its unit (the row under its header) is quoted.
        how = fit(info, sentence, passage, frame, table, drugs)
        if how == "on":
            return Coverage("covered", frame.drugs[0], asked_use(frame, table))
        if how == "off-use" and frame.condition and not frame.indication:
            where = " ".join((passage.chunk.text, *passage.chunk.section_path, passage.doc.title))
            if condition_share(frame.condition, where, table, loose=True) >= _SPOKEN_OF:
                # The passage giving the drug's dose speaks of the asked condition: whether
                # the dose is for it is the answer's to show, not a refusal's to guess.
                near = True
        if not info.quotable:
            continue
        any_dose = True
        if how == "unknown-use":
            continue  # a dose that names no use is for no other use either
        seen.setdefault(_use_name(info, passage, table), None)
    drug = frame.drugs[0]
    named = [u for u in seen if u and u.lower() != drug.lower()]
    if not any_dose or not named or near:
        # Nothing to contrast: without another use to name, "not covered" would be a guess.
        return Coverage("covered")
    asked = asked_use(frame, table) or "this use"
    uses = named[:4]
    listed = "; ".join(uses) if uses else "other uses"
    message = (
        f"Bedside's sources give {drug} doses only for {listed}, not for {asked}. "
        f"No dose is shown: check a source that covers {asked}."
    )
    return Coverage("not_covered", drug, asked, tuple(uses), message)


_SPOKEN_OF = 1.0  # a passage speaks of the asked condition when it has all its words


def _population_coverage(
    frame: Frame, pool: Iterable[tuple[Passage, SentenceInfo]], table: ReferenceTable
) -> Coverage:
    """A safety question about a drug in a group ("enoxaparin in dialysis", "warfarin while
    breastfeeding") is covered only by a sentence about that drug (or its class) that names
    the group, in its words or under its headings."""
    drugs = related_drugs(frame, table)
    about_drug = False
    for passage, info in pool:
        if not (info.quotable and shares_drug(info.drugs, drugs)):
            continue
        about_drug = True
        sentence = passage.chunk.text[info.start : info.end]
        where = " ".join((sentence, *passage.chunk.section_path, passage.doc.title))
        if any(population_named(p, where) for p in frame.populations):
            return Coverage("covered", frame.drugs[0], asked_use(frame, table))
    if not about_drug:
        return Coverage("covered")  # nothing to go on: the usual support rule decides
    drug = frame.drugs[0]
    group = " or ".join(frame.populations)
    message = (
        f"Bedside's sources say nothing about {drug} in {group}. Nothing is quoted for that "
        f"group: check the {drug} label or a source that covers {group}."
    )
    return Coverage("not_covered", drug, f"{drug} in {group}", (), message)


def _reversal_coverage(frame: Frame, table: ReferenceTable) -> Coverage:
    """A reversal agent asked for a drug its reference entries do not say it reverses
    ("idarucizumab for rivaroxaban") is not covered for that drug."""
    agents = [d for d in frame.drugs if is_agent(d, table)]
    targets = [d for d in frame.drugs if not is_agent(d, table)]
    if not agents or not targets:
        return Coverage("covered")
    for agent in agents:
        covers = reversed_by(agent, table)
        if covers & set(targets):
            return Coverage("covered", agent, f"reversing {' or '.join(targets)}")
        if covers:
            listed = " or ".join(sorted(covers)) or "other drugs"
            asked = f"reversing {' or '.join(targets)}"
            message = (
                f"Bedside's sources give {agent} doses only for reversing {listed}, not for "
                f"{asked}. No dose is shown: check a source that covers {asked}."
            )
            return Coverage("not_covered", agent, asked, (f"reversing {listed}",), message)
    return Coverage("covered")


def sentences_of(
    passages: Sequence[Passage], contexts: SentenceContexts
) -> list[tuple[Passage, SentenceInfo]]:
    return [(p, info) for p in passages for info in contexts.of(p)]
