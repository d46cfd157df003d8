"""check(answer_text, citations, passages, patient) -> Verdict.

Every dose, rate, frequency and number in an answer is checked before it is shown:
against the curated dose reference (rules.py), against the patient, and against the
passages the answer cites. The caller applies the policy: a block finding withholds its
sentence, warnings are shown beside the answer.

A dose's drug, indication and phase come from its own sentence; where the sentence does not
say, from the passage it cites (the sentence is found there, word for word or, for a quoted
list item, table row or flowchart branch, piece by piece at the structure joiners; the unit
it stands in and what precedes it are read:
its list or table header, the earlier sentences, the headings, the title; see
guardrails/context.py), else from the answer's own earlier sentences. A dose whose drug
cannot be resolved is withheld.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from corpus.structure import CELL_SEP, CONTEXT_SEP, PAIR_SEP, STEP_SEP, runs_on
from corpus.text import sentence_spans
from guardrails.context import (
    dose_indications,
    drug_hits,
    drug_lexicon,
    drugs_in,
    find_indications,
    in_scope,
    may_name_one_drug,
    one_drug,
    products_in,
    related,
    resolve_subject,
    set_aside_indications,
)
from guardrails.extraction import QUOTABLE_UNPARSED, extract
from guardrails.patient import Patient, clause_part, extract_patient, facts_scope, stated_bands
from guardrails.reference import DoseEntry, ReferenceTable, default_reference
from guardrails.regimens import excluded_by
from guardrails.rules import (
    DoseContext,
    accepts,
    accepts_total,
    check_dose,
    cited_markers,
    evidence_in,
    finding,
    normalise_number,
    numbers_in,
    rule_arithmetic,
    rule_contraindication,
    rule_grounding,
    rule_instruction,
    rule_route,
    rule_support,
    titration_range,
)
from guardrails.source_doses import agrees, agrees_with_any, source_doses
from guardrails.types import DoseMention, Finding, Source, SourceText, Subject, Verdict
from guardrails.units import convert

# A contrast also leaves the indication behind ("contraindicated for surgical prophylaxis,
# but the 5 mg dose is the treatment band"); a semicolon or a reduction does not ("For HIT,
# 2 mcg/kg/min; in hepatic impairment 0.5 mcg/kg/min").
_CONTRAST = re.compile(r"\s(?:but|whereas)\s|,\s(?:while)\b", re.IGNORECASE)


def _line_of(text: str, span: tuple[int, int]) -> str:
    """The line of ``text`` a sentence stands in, without its citation markers."""
    start = text.rfind("\n", 0, span[0]) + 1
    end = text.find("\n", span[0])
    line = text[start : end if end >= 0 else len(text)]
    return _SPACE.sub(" ", _MARKER.sub("", line)).strip()


def stated_patient(text: str) -> Patient:
    """Patient facts a text states (``patient.extract_patient``, the one reader)."""
    return extract_patient(text)


def _covered_elsewhere(who: Patient, scope: Patient, sentence: str) -> Patient:
    """A sentence that gives the patient's group its own dose in another part ("40 mg once
    daily, but with CrCl below 30 mL/min 30 mg once daily") speaks of the other groups here:
    the patient's value of that fact does not judge this part. A group the patient is not in
    ("avoid if CrCl is below 15") leaves it in force."""
    clear: dict[str, None] = {}
    for name, bands in stated_bands(sentence).items():
        value = getattr(who, name) if name != "crcl_ml_min" else who.crcl
        if getattr(scope, name) is not None or value is None:
            continue
        # A single value ("for a 120 kg patient") states this patient's fact, not a band.
        if any(low <= value <= high and low < high for low, high, _ in bands):
            clear[name] = None
            if name == "crcl_ml_min":  # nor may Cockcroft-Gault bring it back
                clear["serum_creatinine_mg_dl"] = None
    return replace(who, **clear) if clear else who


_CLAUSE_EDGE = re.compile(r"[,;()]|\s(?:and|or|but|whereas|versus|vs\.?)\s", re.IGNORECASE)


def _own_clause(s_text: str, start: int, end: int) -> str:
    """The clause an amount at [start, end) stands in: "30 mg once daily for prophylaxis and
    1 mg/kg once daily for treatment" gives each amount its own words."""
    lo = max((m.end() for m in _CLAUSE_EDGE.finditer(s_text, 0, start)), default=0)
    close = _CLAUSE_EDGE.search(s_text, end)
    return s_text[lo : close.start() if close else len(s_text)]


def _entries(
    mention: DoseMention, indications: set[str], table: ReferenceTable, by_route: bool = True
) -> list[DoseEntry]:
    out = []
    for drug in table.members(mention.drug or ""):
        for e in table.entries_for(drug):
            if not in_scope(e.indication, indications, table):
                continue
            # Route narrows (IV bolus vs SC dose); bolus vs infusion is told apart by the
            # units themselves (mg/kg vs mg/kg/h), so the written phase does not filter.
            if by_route and mention.route and e.route and mention.route != e.route:
                continue
            out.append(e)
    return out


# ------------------------------------------------------------------ locating a sentence

_MARKER = re.compile(r"\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=256)
def _normalised(text: str) -> tuple[str, tuple[int, ...]]:
    """``text`` without bibliography markers, whitespace collapsed, lower case, dashes and
    quotes folded, with each character's offset in ``text``."""
    out: list[str] = []
    where: list[int] = []
    i, n = 0, len(text)
    space = False
    while i < n:
        m = _MARKER.match(text, i)
        if m and m.end() > i and "[" in text[i : m.end()]:
            i = m.end()
            continue
        ch = text[i]
        if ch.isspace():
            space = True
            i += 1
            continue
        if space and out:
            out.append(" ")
            where.append(i)
        space = False
        out.append(_FOLD.get(ch, ch).lower())
        where.append(i)
        i += 1
    return "".join(out), tuple(where)


_FOLD = {
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u00a0": " ",
}  # fmt: skip


def locate(sentence: str, passage: str) -> tuple[int, int] | None:
    """Where an answer sentence stands in the passage it cites: an exact find, else one that
    ignores bibliography markers ("[12]"), whitespace, case, dashes and quotes."""
    core = _MARKER.sub("", sentence).strip()
    if len(core) < 8:
        return None
    at = passage.find(core)
    if at >= 0:
        return at, at + len(core)
    body, where = _normalised(passage)
    needle = _normalised(core.rstrip(".!?;:"))[0]
    at = body.find(needle) if needle else -1
    if at < 0:
        return None
    return where[at], where[at + len(needle) - 1] + 1


# The joiners a unit's quote puts between the document's pieces (corpus.structure): the only
# characters of a quoted list item, table row or flowchart branch that are not in its text.
_JOINERS = re.compile(
    "|".join(
        re.escape(j) for j in sorted({CONTEXT_SEP, CELL_SEP, PAIR_SEP, STEP_SEP}, key=len)[::-1]
    )
)
_SHORTEST_PIECE = 2


def locate_unit(sentence: str, passage: str) -> tuple[int, int] | None:
    """Where the last piece of a quoted unit stands in its passage: the quote ("Standard
    dosing — Apixaban: 5 mg BID") is split at the structure joiners and its pieces are found
    in the passage, each after the one before it where the document has it there (a table's
    column header stands above the row it heads, so it may be found before); the span of
    the last piece (the unit's own words, where its dose is) is returned, or None when a
    piece is missing or the last one does not follow the others."""
    core = _MARKER.sub("", sentence).strip().rstrip(".!?;")
    pieces = [p.strip() for p in _JOINERS.split(core)]
    pieces = [p for p in pieces if len(p) >= _SHORTEST_PIECE]
    if len(pieces) < 2:
        return None
    body, where = _normalised(passage)
    pos = 0
    for k, piece in enumerate(pieces):
        needle = _normalised(piece)[0]
        if not needle:
            return None
        at = body.find(needle, pos)
        if at < 0:
            if k == len(pieces) - 1 or body.find(needle) < 0:
                return None
            continue  # a header above its row
        pos = at + len(needle)
        if k == len(pieces) - 1:
            return where[at], where[at + len(needle) - 1] + 1
    return None


# What may stand right before a quoted piece in its passage (after markup), so that the piece
# starts where a statement of the passage starts: a sentence's or clause's end, a label's
# colon, a table cell's bar, a context dash or a flowchart arrow.
_HEAD_STOP = tuple(".!?;:|\u2014\u2192")
# ... and right after it: a sentence's or clause's end, a label's colon, a cell's bar, a
# bibliography marker, a context dash or an arrow. A quote that stops inside a statement
# ("enoxaparin 1 mg" of "enoxaparin 1 mg/kg every 12 hours") is no statement of the passage.
_TAIL_STOP = tuple(".!?;:|[\u2014\u2192")
_MARKUP = "*_`~"
_LINE_MARK = re.compile(r"[ \t]*(?:[-*+\u2022>|#]+|\d{1,3}[.)])(?:[ \t]|$)")


def _starts_statement(passage: str, at: int) -> bool:
    """Whether a piece found at ``at`` starts a statement of the passage."""
    line = passage.rfind("\n", 0, at) + 1
    before = passage[line:at].rstrip(" \t" + _MARKUP)
    if before:
        return before.endswith(_HEAD_STOP) or _LINE_MARK.fullmatch(before + " ") is not None
    if line == 0:
        return True
    # A line of its own, unless the line before runs on into it (a wrapped sentence, as the
    # structure reads lines: ``corpus.structure.runs_on``). A line under a heading or a
    # label ("Adults donating their own blood" above "The usual dose is ...") starts one.
    prev = passage[passage.rfind("\n", 0, line - 1) + 1 : line - 1].strip().rstrip(_MARKUP)
    if not prev or prev.endswith(_HEAD_STOP) or prev.startswith(("#", "|")):
        return True
    return not runs_on(prev, passage[at : passage.find("\n", at) % (len(passage) + 1)])


def _ends_statement(passage: str, end: int) -> bool:
    """Whether a piece that ends at ``end`` ends a statement of the passage."""
    stop = passage.find("\n", end)
    after = passage[end : stop if stop >= 0 else len(passage)].lstrip(" \t" + _MARKUP)
    if after:
        return after.startswith(_TAIL_STOP)
    if stop < 0:
        return True
    # The line ends here; the line after it may run on from it (``runs_on``).
    line_end = passage.find("\n", stop + 1)
    nxt = passage[stop + 1 : line_end if line_end >= 0 else len(passage)]
    line = passage[passage.rfind("\n", 0, end) + 1 : stop].strip().rstrip(_MARKUP)
    return not runs_on(line, nxt)


def _found_whole(piece: str, passage: str, start: int = 0) -> int | None:
    """Where in the normalised passage ``piece`` stands as a whole statement (from ``start``),
    returning the normalised end; None where it does not."""
    body, where = _normalised(passage)
    needle = _normalised(piece)[0]
    if not needle:
        return None
    at = body.find(needle, start)
    while at >= 0:
        begin, end = where[at], where[at + len(needle) - 1] + 1
        if _starts_statement(passage, begin) and _ends_statement(passage, end):
            return at + len(needle)
        at = body.find(needle, at + 1)
    return None


# what may stand between two pieces of a unit's quote that follow each other in one line,
# and the rest of a line that a lead-in or label ends
_JOINED = re.compile(r"[\s:;,|*_\u2014\u2013\u2192>-]*")
_LINE_REST = re.compile(r"[ \t:*_|]*(?:\n|\Z)")


def quotes(sentence: str, passage: str) -> bool:
    """Whether an answer sentence is a verbatim quote of the passage it cites: word for word
    after the guard's normalisation (``locate``), or, for a quoted list item, table row or
    flowchart branch, every piece between the structure joiners word for word, in order
    (a column header or lead-in may stand before its row). Each piece must be a whole
    statement of the passage, not the front or back of one: "enoxaparin 1 mg" does not
    quote "enoxaparin 1 mg/kg every 12 hours", nor "1 mg/kg once daily" the end of "...,
    1 mg/kg once daily"."""
    core = _MARKER.sub("", sentence).strip().rstrip(".!?;:").strip()
    if len(core) < 8:
        return False
    if _found_whole(core, passage) is not None:
        return True
    pieces = [p.strip() for p in _JOINERS.split(core)]
    pieces = [p for p in pieces if p]
    if len(pieces) < 2 or any(len(p) < _SHORTEST_PIECE for p in pieces):
        return False
    pos, last = 0, -1  # the normalised end of the piece before, and its end in the passage
    body, where = _normalised(passage)
    for k, piece in enumerate(pieces):
        found = _found_whole(piece, passage, pos)
        if found is None:
            if k == len(pieces) - 1 or _found_whole(piece, passage) is None:
                return False
            last = -1
            continue  # a header above its row
        begin = where[found - len(_normalised(piece)[0])]
        if (
            last >= 0
            and not _LINE_REST.match(passage, last)
            and not _JOINED.fullmatch(passage, last, begin)
        ):
            # The piece before ends inside its line ("- Labetalol: 10-20 mg ..."): what
            # comes after it there is what the quote must go on with, not a later line.
            return False
        pos, last = found, where[found - 1] + 1
    return True


@dataclass
class _Resolver:
    """What each answer sentence is about, read where the sentence came from."""

    text: str
    citations: Mapping[int, str]
    sources: Mapping[str, SourceText]
    table: ReferenceTable
    seen: dict[tuple[tuple[int, int], tuple[str, ...]], Subject] = field(default_factory=dict)
    verbatim: dict[tuple[int, int], SourceText | None] = field(default_factory=dict)
    runs: dict[tuple[int, int], tuple[int, list[SourceText]]] = field(default_factory=dict)
    spans: list[tuple[int, int]] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)

    def subject(self, sentence: tuple[int, int], skip: tuple[str, ...] = ()) -> Subject:
        """What the sentence is about; ``skip``: drugs that are not its subject wherever
        they are named (``DoseMention.set_aside``)."""
        key = (sentence, skip)
        if key not in self.seen:
            self.seen[key] = self._resolve(sentence, skip)
        return self.seen[key]

    def quoted(self, sentence: tuple[int, int]) -> SourceText | None:
        """The cited passage that the shown sentence around ``sentence`` quotes word for word
        (``quotes``), if any: its doses are that source's own statements. A sentence without
        a marker of its own counts when it and the sentences after it, up to the first that
        cites, are one verbatim quote of a passage that sentence cites (a quoted list item
        of several sentences is cited once, at its end)."""
        if sentence not in self.verbatim:
            start, end = self._shown(sentence)
            end, cited = self.cited_run(sentence)
            s_text = self.text[start:end]
            self.verbatim[sentence] = next(
                (source for source in cited if quotes(s_text, source.text)), None
            )
        return self.verbatim[sentence]

    def products(self, sentence: tuple[int, int]) -> tuple[str, ...]:
        """The drugs of the product names the sentence names, as its cited passages'
        documents go by them ("Vafseo 300 mg tablets" -> vadadustat)."""
        names = tuple(p for source in self.cited_run(sentence)[1] for p in source.products)
        return products_in(self.text[sentence[0] : sentence[1]], names) if names else ()

    def cited_run(self, sentence: tuple[int, int]) -> tuple[int, list[SourceText]]:
        """The passages the shown sentence around ``sentence`` cites, with where its run
        ends: a sentence without a marker of its own is cited by the first sentence after it
        that cites (a quoted list item of several sentences is cited once, at its end)."""
        start, end = self._shown(sentence)
        if not self.sources:
            return end, []  # nothing cited anywhere: no run to look for
        if sentence in self.runs:
            return self.runs[sentence]
        cited = self._cited(sentence)
        run = end, cited
        if not cited:
            i = bisect_right(self.starts, start)
            for later in self.spans[i:]:
                if later[0] >= end and cited_markers(self.text[later[0] : later[1]]):
                    run = later[1], self._cited(later)
                    break
        self.runs[sentence] = run
        return run

    def _cited(self, sentence: tuple[int, int]) -> list[SourceText]:
        return [
            self.sources[self.citations[n]]
            for n in cited_markers(self.text[slice(*self._shown(sentence))])
            if n in self.citations and self.citations[n] in self.sources
        ]

    def _shown(self, sentence: tuple[int, int]) -> tuple[int, int]:
        """The shown sentence around ``sentence`` (a marker written after the full stop,
        "daily. [1]", belongs to it)."""
        if not self.spans:
            self.spans = sentence_spans(self.text) or [(0, 0)]
            self.starts = [s for s, _ in self.spans]
        i = max(0, bisect_right(self.starts, sentence[0]) - 1)
        # the extraction may read past a shown sentence's end ("(approx. 25.3 mm long)"):
        # every shown sentence it reaches into is part of it, with its marker
        j = max(i, bisect_left(self.starts, sentence[1]) - 1)
        start, end = self.spans[i][0], self.spans[j][1]
        return min(start, sentence[0]), max(end, sentence[1])

    def _resolve(self, sentence: tuple[int, int], skip: tuple[str, ...] = ()) -> Subject:
        s_text = self.text[sentence[0] : sentence[1]]
        cited = self.cited_run(sentence)[1]
        for source in cited:
            # word for word, else as a unit's quote: its pieces in order, joiners left out
            at = locate(s_text, source.text) or locate_unit(s_text, source.text)
            if at is not None:
                found = resolve_subject(
                    source, at[0], at[1], self.table, around_only=True, skip=skip
                )
                return replace(found, how=f"cited passage: {found.how}")
        for source in cited:  # not found word for word: what the passage stands under
            bare = SourceText("", source.title, source.section_path)
            found = resolve_subject(bare, 0, 0, self.table, around_only=True, skip=skip)
            if found.drugs or found.indications:
                return replace(found, how=f"cited passage: {found.how}")
        found = resolve_subject(
            SourceText(self.text), sentence[0], sentence[1], self.table, around_only=True, skip=skip
        )
        return replace(found, how=f"answer: {found.how}")


_WITH = re.compile(
    r"\b(?:with|plus|and|together\s+with|alongside|combined\s+with|in\s+addition\s+to)"
    r"(?:\s+[\w-]+){0,2}\s*$",
    re.IGNORECASE,
)


def _co_medication(s_text: str, start: int, drug: str, table: ReferenceTable) -> bool:
    """Whether ``drug`` is named in the sentence only after the amount at ``start``, as a drug
    given with it ("it is given 1 mg/kg every 12 hours with oral aspirin"): then the amount is
    not that drug's dose."""
    hits = [h for h in drug_hits(s_text, table) if h[2] == drug]
    if not hits or any(h[0] < start for h in hits):
        return False
    return bool(_WITH.search(s_text[max(0, hits[0][0] - 40) : hits[0][0]]))


def _in_reference(drug: str, table: ReferenceTable) -> bool:
    """Whether the dose reference has entries for the drug (or a class word's members)."""
    return any(table.entries_for(d) for d in table.members(drug))


# ------------------------------------------------------------------ check


def check(
    answer_text: str,
    citations: Mapping[int, str] | None = None,
    passages: Mapping[str, str | SourceText] | None = None,
    patient: Patient | None = None,
    context: str = "",
    reference: ReferenceTable | None = None,
    own_words: Collection[str] = (),
) -> Verdict:
    """Check an answer.

    answer_text: the text as it will be shown, with citation markers [n].
    citations: marker number -> passage (chunk) id. passages: passage id -> the passage, as
    text or as a ``SourceText`` with its title and heading path.
    patient: known patient facts. context: the question and earlier turns (indication and
    patient facts are read from it when the sentence and its passage do not say).
    own_words: the statements (lines of the answer, markers left out) a generator wrote in
    its own words rather than quoted (one whose ``quotes`` is False): each cited sentence of
    one that is not word for word in a passage it cites must be supported by a sentence of
    those passages (``guardrails.support``), else it is withheld (STATEMENT_UNSUPPORTED).
    """
    table = reference or default_reference()
    sources = {
        pid: p if isinstance(p, SourceText) else SourceText(p)
        for pid, p in (passages or {}).items()
    }
    # Facts stated in the question or earlier turns count; explicit facts win over them.
    stated = stated_patient(context) if context else Patient()
    patient = stated.merged(patient) if patient else stated
    context_indications = find_indications(context, table) if context else set()
    context_evidence = evidence_in(context)
    # Facts from outside the answer (the question, earlier turns, the patient fields): only
    # these may block a dose its own cited source states word for word.
    has_facts = not patient.is_empty() or bool(context_evidence)
    resolver = _Resolver(answer_text, citations or {}, sources, table)
    mentions, unparsed = extract(answer_text, drug_lexicon(table))
    findings: list[Finding] = []
    # written products ("54 mg (0.9 mg/kg x 60 kg)"): their totals are computed, not quoted
    arithmetic, totals = _products(answer_text, mentions)
    # ... as is every amount of a sentence that works one out for a weight
    weighed = {
        x.sentence
        for x in mentions
        if x.weight_kg is not None
        or x.total is not None
        or _FOR_WEIGHT.search(answer_text, x.sentence[0], x.sentence[1])
    }
    grounded: dict[tuple[int, int], set[str]] = {}
    contraindicated: set[tuple[tuple[int, int], str]] = set()
    doses = 0
    for m in mentions:
        s_text = answer_text[m.sentence[0] : m.sentence[1]]
        start, end = m.span[0] - m.sentence[0], m.span[1] - m.sentence[0]
        drug_from = "sentence"
        if m.drug is not None and _co_medication(s_text, start, m.drug, table):
            m = replace(m, drug=None)  # "... 1 mg/kg every 12 hours with oral aspirin"
        if m.drug is None:
            # The sentence's own drug names first (one the extractor did not attach to this
            # amount: "after 400 U/kg or 500 U/kg of heparin"), then what it stands under.
            # Drugs a table row names with their own amounts in other cells are set aside: the
            # amount is the drug the table is about, read from what the row stands under.
            own = tuple(
                d
                for d in drugs_in(s_text, table) or resolver.products(m.sentence)
                if d not in m.set_aside and not _co_medication(s_text, start, d, table)
            )
            subject = (
                Subject(own, frozenset(), None, "sentence")
                if own
                else resolver.subject(m.sentence, m.set_aside)
            )
            if m.set_aside and not subject.drugs:  # nothing else names a drug: the row's own
                subject = Subject(m.set_aside[:1], frozenset(), None, "sentence")
            drug, why = one_drug(subject, table)
            if drug is None:
                quoted = resolver.quoted(m.sentence)
                findings.append(
                    finding(
                        "SOURCE_QUOTED" if quoted else "DOSE_UNVERIFIED",
                        m.span,
                        answer_text,
                        f"{m.amount.describe()}: {why}, so the dose cannot be checked"
                        + (f"; it is {_quoted_from(quoted)}." if quoted else "."),
                        sentence=m.sentence,
                    )
                )
                continue
            m = replace(m, drug=drug)
            drug_from = subject.how
        assert m.drug is not None
        lo, hi = clause_part(s_text, start, _CONTRAST)
        indications = find_indications(s_text[lo:hi], table) or dose_indications(
            _own_clause(s_text, start, end), m.drug, table
        )
        ind_from = "sentence" if indications else ""
        if not indications and (from_passage := resolver.subject(m.sentence).indications):
            # A use the sentence itself sets aside ("Medical management (no PCI): 60 IU/kg")
            # is not its use, though its passage speaks of it.
            kept = set(from_passage) - set_aside_indications(s_text, table, from_passage)
            if kept:
                indications, ind_from = kept, "passage"
        if not indications and context_indications:
            indications, ind_from = set(context_indications), "question"
        if (
            context_indications
            and ind_from in ("passage", "sentence")
            and (ind_from == "passage" or not _in_reference(m.drug, table))
            and not related(indications, context_indications, table)
        ):
            findings.append(
                finding(
                    "INDICATION_MISMATCH",
                    m.span,
                    answer_text,
                    f"{m.drug}: {m.amount.describe()} is given for {', '.join(sorted(indications))}"
                    f"{' in the passage it comes from' if ind_from == 'passage' else ''}, but the "
                    f"question asks about {', '.join(sorted(context_indications))}.",
                    sentence=m.sentence,
                    drug=m.drug,
                    drug_from=drug_from,
                )
            )
            continue
        if not _in_reference(m.drug, table):
            computed = totals.get(m.sentence, set())
            if (
                mismatch := _source_mismatch(
                    m,
                    answer_text,
                    resolver,
                    table,
                    computed,
                    named=drug_from == "sentence",
                    weighed=m.sentence in weighed,
                )
            ) is not None:
                findings.append(replace(mismatch, drug=m.drug, drug_from=drug_from))
                continue
            findings.append(
                finding(
                    "NOT_IN_REFERENCE",
                    m.span,
                    answer_text,
                    f"{m.drug}: not in the dose reference; {m.amount.describe()} was not verified.",
                    sentence=m.sentence,
                    drug=m.drug,
                    drug_from=drug_from,
                )
            )
            continue
        doses += 1
        # The sentence may say whom the dose is for ("for CrCl < 30 mL/min ..."): that wins.
        scope = stated_patient(facts_scope(s_text, start, end))
        who = _covered_elsewhere(patient.merged(scope), scope, s_text)
        weight = m.weight_kg or who.weight_kg
        if (arith := rule_arithmetic(m, answer_text)) is not None:
            findings.append(replace(arith, drug=m.drug, drug_from=drug_from))
        pronoun = drug_from != "sentence"
        if (contra := rule_contraindication(m, answer_text, patient, table, pronoun)) is not None:
            findings.append(replace(contra, drug=m.drug, drug_from=drug_from))
            contraindicated.add((m.sentence, m.drug))
        evidence = evidence_in(s_text) | context_evidence
        judged = _judge(m, indications, who, evidence, weight, answer_text, table)
        quoted = resolver.quoted(m.sentence)
        if quoted is None and m.sentence in weighed:
            # A dose worked out for a weight from its cited source's own per-kg dose is that
            # source's statement for this weight (its arithmetic is DOSE_ARITHMETIC's).
            quoted = _worked_from(m, mentions, resolver, table)
        if quoted is not None and judged.rule_id in _SOURCE_RULES:
            # The source's own statement: judged by the reference as the source alone says
            # it (the sentence's own facts, no patient's); what the patient's facts change
            # still blocks, what the source alone gives otherwise is a sources-differ note.
            alone = judged
            if has_facts:
                alone = _judge(
                    m,
                    indications,
                    scope,
                    evidence_in(s_text),
                    m.weight_kg or scope.weight_kg,
                    answer_text,
                    table,
                )
            regimens = _entries(m, indications, table, by_route=False) or _entries(
                m, set(), table, by_route=False
            )
            same = (alone.rule_id, alone.expected) == (judged.rule_id, judged.expected)
            if same and not _implausibly_high(m, regimens):
                judged = _sources_differ(judged, m, quoted, answer_text)
        findings.append(replace(judged, drug=m.drug, drug_from=drug_from))
        if judged.severity != "block" and (
            mismatch := _source_mismatch(
                m,
                answer_text,
                resolver,
                table,
                totals.get(m.sentence, set()),
                named=drug_from == "sentence",
                weighed=m.sentence in weighed,
            )
        ):
            # the reference allows it, but not as the cited source says it: a paraphrase
            # that moved the dose's route, interval or unit ("40 mg intravenously once daily"
            # of a source's "40 mg subcutaneously once daily")
            findings.append(replace(mismatch, drug=m.drug, drug_from=drug_from))
        # The route against the drug's regimens for the use (all of them where none is known).
        for_use = _entries(m, indications, table, by_route=False)
        routes = for_use or _entries(m, set(), table, by_route=False)
        uses = ", ".join(sorted(indications)) if for_use and indications else ""
        if (route := rule_route(m, routes, answer_text, uses)) is not None:
            if quoted is not None:  # a route is no fact of the patient's
                route = _sources_differ(route, m, quoted, answer_text)
            findings.append(replace(route, drug=m.drug, drug_from=drug_from))
        if judged.rule_id == "DOSE_OK" and weight is not None and "x" in judged.message:
            grounded.setdefault(m.sentence, set()).update(
                numbers_in(answer_text[m.span[0] : m.span[1]])
            )
    findings.extend(arithmetic)
    for span, values in totals.items():
        grounded.setdefault(span, set()).update(values)
    for u in unparsed:
        drug = u.drug or one_drug(resolver.subject(u.sentence), table)[0] or "a dose"
        written = answer_text[u.span[0] : u.span[1]]
        # A combination strength or a course total its own source states word for word is
        # that source's statement; a look-alike or an unreadable number never is.
        quoted = resolver.quoted(u.sentence) if u.reason in QUOTABLE_UNPARSED else None
        rule, message = (
            (
                "SOURCE_QUOTED",
                f"{drug}: '{written}' is not checked against the reference ({u.reason}); it is {_quoted_from(quoted)}.",
            )
            if quoted is not None
            else (
                "DOSE_UNPARSED",
                f"{drug}: '{written}' could not be read as a dose ({u.reason}); it is withheld — check it against the source.",
            )
        )
        findings.append(
            finding(rule, u.span, answer_text, message, sentence=u.sentence, drug=u.drug or None)
        )
    sentences = sentence_spans(answer_text)
    findings.extend(_too_long(answer_text, sentences, {u.sentence for u in unparsed}, table))
    findings.extend(
        _instructions(answer_text, sentences, resolver, patient, table, contraindicated)
    )
    if citations is not None and passages is not None:
        cites = dict(citations)
        texts = {pid: s.text for pid, s in sources.items()}
        facts = _fact_numbers(patient)
        for span in sentences:
            # The extractor's sentence may stop before the citation marker the shown
            # sentence ends with: what it verified counts for the sentence it lies in.
            verified = set().union(
                *(v for (a, b), v in grounded.items() if span[0] <= a and b <= span[1])
            )
            findings.extend(rule_grounding(answer_text, span, cites, texts, facts | verified))
        mine = {_SPACE.sub(" ", _MARKER.sub("", t)).strip() for t in own_words}
        for span in sentences if mine else []:
            if _line_of(answer_text, span) not in mine or resolver.quoted(span) is not None:
                continue
            cited = resolver.cited_run(span)[1]
            unsupported = rule_support(answer_text, span, [c.text for c in cited], table)
            if unsupported is not None:
                findings.append(unsupported)
    findings.sort(key=lambda f: (f.span[0], f.rule_id))
    meta = {"patient": patient.describe(), "reference_digest": table.digest}
    return Verdict(tuple(findings), doses, meta)


# What the reference says otherwise of a dose: another amount, unit, interval or route, or a
# band the sentence does not put the patient in. Of a dose its own source states word for
# word, these are a difference between sources, not an error in the answer.
_SOURCE_RULES = frozenset(
    {
        "DOSE_RANGE",
        "DOSE_UNIT",
        "DOSE_FREQUENCY",
        "DOSE_ROUTE",
        "RENAL_ADJUSTMENT",
        "HEPATIC_ADJUSTMENT",
        "WEIGHT_BAND",
        "POPULATION",
    }
)


# A dose this many times the highest the reference gives the drug for the use is no other
# source's regimen (those differ by a loading dose or a band, two to four times) but a slip
# of the kind the guard exists for (a tenfold dose, mg for mcg), quoted or not.
_IMPLAUSIBLE = 5.0


def _implausibly_high(m: DoseMention, entries: list[DoseEntry]) -> bool:
    """Whether ``m`` is at least ``_IMPLAUSIBLE`` times every reference dose in ``entries``
    it can be compared with (the dose, its titration ceiling, its maxima), and comparable
    with one. A dose below the reference is not: lower doses are studied and given
    (argatroban at 0.2 mcg/kg/min in critical illness)."""
    ceilings = []
    for e in entries:
        for spec in (e.dose, titration_range(e), e.max_per_dose, e.max_per_day):
            if spec is None:
                continue
            got = convert(m.amount, spec.unit, spec.per_kg, spec.per_time)
            if got is not None:
                ceilings.append((got[1], spec.high))
    return bool(ceilings) and all(high >= _IMPLAUSIBLE * top for high, top in ceilings)


def _quoted_from(source: SourceText | None) -> str:
    where = (source.title or source.doc_id) if source else ""
    return f"quoted word for word from {where or 'the passage it cites'}"


# "(150 to 400 units/kg x 80 kg)", "0.9 mg/kg × 60 kg": a product for a weight
_FOR_WEIGHT = re.compile(r"[x\u00d7*][ \t]{0,2}[0-9]{1,3}(?:\.[0-9]{1,9})?[ \t]{0,2}kg\b")


def _source_mismatch(
    m: DoseMention,
    text: str,
    resolver: _Resolver,
    table: ReferenceTable,
    computed: set[str],
    *,
    named: bool,
    weighed: bool,
) -> Finding | None:
    """SOURCE_MISMATCH for a dose written otherwise than its cited passages state that
    drug's doses (``guardrails.source_doses``), or, where the answer leaves the drug to the
    passage, otherwise than they state any dose: none where they state none, where the sentence quotes them word for word, or where the
    amount is one the answer computed for a weight (``computed``: the totals of the
    sentence's written products, checked by DOSE_ARITHMETIC; ``weighed``: the sentence works
    a dose out for a weight). Where they state no dose of
    the drug, a dose they give another drug is that drug's, moved onto this one, when the
    answer names this drug itself (``named``); a drug read from the passage is not moved."""
    assert m.drug is not None
    if m.weight_kg is not None or m.total is not None or resolver.quoted(m.sentence):
        return None
    if weighed or numbers_in(text[m.span[0] : m.span[1]]) & computed:
        return None
    cited = resolver.cited_run(m.sentence)[1]
    words = text[m.sentence[0] : m.sentence[1]]
    core = _MARKER.sub("", words).strip().rstrip(".!?;:").strip()
    if any(_found_whole(core, s.text) is not None for s in cited):
        # the source's own words as a whole statement, however its lines cut them; not the
        # front of one ("16 mg" of "16 mg per kg"), nor a unit's pieces found apart
        return None
    every = [(source, dose) for source in cited for dose in source_doses(source, table)]
    # the drug's own doses; a class's are its members' ("barbiturates": pentobarbital's); a
    # dose the passage leaves open between several drugs may be this one's
    stated = [(s, d) for s, d in every if d.is_of(m.drug, table)]
    if not named:
        # A sentence that leaves its drug to the passage restates one of its doses: the
        # passage may read that dose under another drug than the answer does (a heading's
        # drug against a comparator named in the item before), so any of them will do.
        stated = every
    if not stated:
        if not named:
            return None
        # No dose of this drug there; the same dose of another drug is that drug's, not this
        # one's ("2.5 mg twice daily" of apixaban, answered as rifampin's)
        other = [
            (source, dose)
            for source, dose in every
            if dose.drug and agrees(m, dose) and not may_name_one_drug(dose.drug, m.drug, table)
        ]
        if not other:
            return None
        source, first = other[0]
        quote = source.text[first.sentence[0] : first.sentence[1]].strip()
        return finding(
            "SOURCE_MISMATCH",
            m.span,
            text,
            f"{m.drug}: {m.amount.describe()} is the dose its cited source gives "
            f"{first.drug}, which states no dose of {m.drug}.",
            expected=f"{first.drug} {first.describe()}",
            source=Source(source.doc_id, quote, source.chunk_id),
            sentence=m.sentence,
        )
    if agrees_with_any(m, [dose for _, dose in stated]):
        return None
    source, first = stated[0]
    quote = source.text[first.sentence[0] : first.sentence[1]].strip()
    gives = ", ".join(dict.fromkeys(dose.describe() for _, dose in stated))
    return finding(
        "SOURCE_MISMATCH",
        m.span,
        text,
        f"{m.drug}: {m.amount.describe()}{_how_given(m)} is not a dose its cited source "
        f"states; the source gives {gives}.",
        expected=gives,
        source=Source(source.doc_id, quote, source.chunk_id),
        sentence=m.sentence,
    )


def _how_given(m: DoseMention) -> str:
    every = f" every {m.interval_h:g} h" if m.interval_h is not None else ""
    return every + (f" ({m.route})" if m.route else "")


def _worked_from(
    m: DoseMention, mentions: Sequence[DoseMention], resolver: _Resolver, table: ReferenceTable
) -> SourceText | None:
    """The cited passage whose per-kg dose of ``m``'s drug the sentence works out for a
    weight ("For this patient (95 kg): 4,000 units (60 units/kg × 95 kg, capped at the stated
    maximum)" of a passage's "60 IU/kg IV bolus (max 4,000 IU)"), or None."""
    assert m.drug is not None
    factors = [
        replace(x, interval_h=None, route=None)
        for x in mentions
        if x.sentence == m.sentence and x.amount.per_kg
    ]
    if not factors:
        return None
    for source in resolver.cited_run(m.sentence)[1]:
        doses = [d for d in source_doses(source, table) if d.is_of(m.drug, table)]
        if doses and any(agrees_with_any(f, doses) for f in factors):
            return source
    return None


def _sources_differ(f: Finding, m: DoseMention, quoted: SourceText, text: str) -> Finding:
    """SOURCES_DIFFER for a reference finding on a dose its cited source states word for
    word: the reference's dose and source are named beside the quote."""
    reference = f.source.doc_id if f.source else "the dose reference"
    gives = f"{m.drug} {f.expected}" if f.expected else f"{m.drug} otherwise"
    return finding(
        "SOURCES_DIFFER",
        f.span,
        text,
        f"sources differ: {reference} gives {gives}; {m.amount.describe()} "
        f"is {_quoted_from(quoted)}. The reference check: {f.message}",
        expected=f.expected,
        source=f.source,
        sentence=f.sentence,
    )


def _judge(
    m: DoseMention,
    indications: set[str],
    who: Patient,
    evidence: frozenset[str],
    weight: float | None,
    text: str,
    table: ReferenceTable,
) -> Finding:
    """The dose against the entries for its indication and route; where the route has none,
    against the indication's other routes (so a frequency slip is caught on every route);
    where the indication has none, against every entry of the drug."""

    def ctx(entries: list[DoseEntry], inds: set[str]) -> DoseContext:
        return DoseContext(text, who, frozenset(inds), tuple(entries), table, evidence, weight)

    def ok(entries: list[DoseEntry], admitted: bool = True) -> bool:
        """Whether an entry accepts the dose: with ``admitted``, only one whose population
        admits the patient (a band holds on every route and for every use)."""
        return any(
            (accepts(m, e) or accepts_total(m, e, weight))
            and (not admitted or excluded_by(e.population, who, evidence) is None)
            for e in entries
        )

    entries = _entries(m, indications, table)
    if entries:
        return check_dose(m, ctx(entries, indications))
    route = f" by the {m.route.upper()} route" if m.route else ""
    uses = ", ".join(sorted(indications)) or "this use"
    other_routes = _entries(m, indications, table, by_route=False)
    if other_routes:
        if ok(other_routes):
            return finding(
                "NO_REFERENCE",
                m.span,
                text,
                f"{m.drug}: the reference has no dose for {uses}{route}; {m.amount.describe()} "
                "is a dose it gives by another route, and was not verified for this one.",
                sentence=m.sentence,
            )
        judged = check_dose(m, ctx(other_routes, indications))
        note = f" The reference has no {m.drug} dose for {uses}{route}; judged against its other routes."
        return replace(judged, message=judged.message + note)
    # No entry for this indication: a dose the reference gives this drug elsewhere cannot be
    # verified here (a warning), but one it gives nowhere is judged against every entry of the
    # drug, or naming an uncovered indication would let any dose, a tenfold one included,
    # through with a warning.
    every = _entries(m, set(), table) or _entries(m, set(), table, by_route=False)
    if every and not ok(every):
        judged = check_dose(m, ctx(every, set()))
        elsewhere = "" if ok(every, admitted=False) else "; this is no dose it gives for any other"
        note = f" The reference has no {m.drug} dose for {uses}{elsewhere}."
        return replace(judged, message=judged.message + note)
    return finding(
        "NO_REFERENCE",
        m.span,
        text,
        f"{m.drug}: the reference has no dose for {uses}{route}; {m.amount.describe()} was not verified.",
        sentence=m.sentence,
    )


_TIMES_KG = re.compile(r"\s*(?:x|\u00d7|\*|times)\s*(\d{1,3}(?:\.\d{1,2})?)\s*(?:kg|kilograms?)\b")
_CAPPED = re.compile(
    r"\b(?:capped|maximum|max|not\s+more\s+than|not\s+exceeding|up\s+to)\b", re.IGNORECASE
)


def _products(
    text: str, mentions: list[DoseMention]
) -> tuple[list[Finding], dict[tuple[int, int], set[str]]]:
    """DOSE_ARITHMETIC for a written product: "9,600 units (80 units/kg x 80 kg)" states both
    the per-kg dose and the weight, so the total must be their product (1%), unless the
    sentence says the total is capped at a maximum. A product speaks of its own total: the
    amount written just before it (after the previous product), else the one just after it
    ("28,305 units (333 units/kg x 85 kg), then 21,250 units every 12 hours (250 units/kg x
    85 kg)" holds two products, each with its total). Also returns, per sentence, the totals
    found equal to their product: derived from a per-kg dose and a weight the sentence
    states, they need no passage of their own (the per-kg dose and the weight still do)."""
    out: list[Finding] = []
    verified: dict[tuple[int, int], set[str]] = {}
    by_sentence: dict[tuple[int, int], list[DoseMention]] = {}
    for m in mentions:
        by_sentence.setdefault(m.sentence, []).append(m)
    for sentence, group in by_sentence.items():
        if _CAPPED.search(text, sentence[0], sentence[1]):
            continue
        group = sorted(group, key=lambda m: m.span[0])
        products = [
            (i, times)
            for i, p in enumerate(group)
            if p.amount.per_kg and (times := _TIMES_KG.match(text, p.span[1])) is not None
        ]
        for k, (i, times) in enumerate(products):
            p = group[i]
            weight = float(times.group(1))
            low, high = p.amount.low * weight, p.amount.high * weight
            before = products[k - 1][0] if k else -1
            after = products[k + 1][0] if k + 1 < len(products) else len(group)
            own = [t for t in group[before + 1 : i] if not t.amount.per_kg][-1:]
            if not own:
                own = [t for t in group[i + 1 : after] if not t.amount.per_kg][:1]
            for t in own:
                got = convert(t.amount, p.amount.unit, False, p.amount.per_time)
                if got is None:
                    continue
                if low * 0.99 <= got[0] and got[1] <= high * 1.01:
                    verified.setdefault(sentence, set()).update(
                        numbers_in(text[t.span[0] : t.span[1]])
                    )
                    continue
                unit = p.amount.unit + (f"/{p.amount.per_time}" if p.amount.per_time else "")
                value = f"{low:g}" if low == high else f"{low:g}–{high:g}"
                out.append(
                    finding(
                        "DOSE_ARITHMETIC",
                        t.span,
                        text,
                        f"{t.drug or 'the dose'}: {p.amount.describe()} x {weight:g} kg is {value} {unit}, not {t.amount.describe()}.",
                        expected=f"{value} {unit}",
                        sentence=t.sentence,
                        drug=t.drug,
                    )
                )
    return out, verified


def _fact_numbers(patient: Patient) -> set[str]:
    """The patient's own stated facts as numbers that ground a sentence ("120 kg")."""
    return {normalise_number(f"{v:g}") for v in patient.stated_values()}


def _instructions(
    text: str,
    sentences: list[tuple[int, int]],
    resolver: _Resolver,
    patient: Patient,
    table: ReferenceTable,
    done: set[tuple[tuple[int, int], str]],
) -> list[Finding]:
    """CONTRAINDICATION for an instruction to give a drug the patient must not get, with or
    without a dose (only when a condition holds, so most answers cost nothing here)."""
    conditions = {c.when for c in table.contraindications}
    from guardrails.regimens import condition_holds

    if not any(condition_holds(c, patient) for c in table.conditions if c.id in conditions):
        return []
    out: list[Finding] = []
    for span in sentences:
        if span[1] - span[0] > _LONGEST_READ:
            continue
        s_text = text[span[0] : span[1]]
        named = [(d, "sentence") for d in drugs_in(s_text, table)]
        if not named:
            subject = resolver.subject(span)
            named = [(d, subject.how) for d in subject.drugs[:1]]
        named = [(d, how) for d, how in named if (span, d) not in done]
        out.extend(rule_instruction(text, span, named, patient, table))
    return out


_LONGEST_READ = 2_000  # the extractor reads sentences up to this many characters


def _too_long(
    text: str,
    sentences: list[tuple[int, int]],
    reported: set[tuple[int, int]],
    table: ReferenceTable,
) -> list[Finding]:
    """Fail closed on a sentence too long to read reliably that names a drug and has digits."""
    out = []
    for start, end in sentences:
        if end - start <= _LONGEST_READ or not any(ch.isdigit() for ch in text[start:end]):
            continue
        drugs = drugs_in(text[start : min(end, start + 200_000)], table)
        if drugs and (start, end) not in reported:
            out.append(
                finding(
                    "DOSE_UNPARSED",
                    (start, end),
                    text,
                    f"{drugs[0]}: a sentence of {end - start:,} characters with numbers is too long "
                    "to check reliably; check its doses against the source.",
                    sentence=(start, end),
                    drug=drugs[0],
                )
            )
    return out
