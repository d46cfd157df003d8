"""The default generator: query-focused extraction of exact sentences.

Every statement is a verbatim sentence of a retrieved passage, so every citation is exact and
every number is copied, never rewritten. Sentences are scored by IDF-weighted coverage of the
question's terms, the passage's retrieval rank, and whether they name the drug asked about
(and carry a dose when a dose is asked for); maximal marginal relevance then keeps distinct
sentences, so "management options" yields several options rather than one option five times.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from assistant.evidence import (
    QuotePart,
    SentenceInfo,
    asked_values,
    asks_check,
    asks_for_agents,
    asks_yes_no,
    fit,
    flowchart_spans,
    has_amount,
    is_agent,
    is_example,
    is_goal,
    is_meta,
    names_class_of,
    related_drugs,
    reported_results,
    research_cap,
    shared_contexts,
    shares_drug,
    unreached,
    without_purpose,
)
from assistant.frame import Frame, lay_words, patient_domain_words
from assistant.premise import (
    Proposal,
    asks_confirmation,
    classes_named,
    member_classes,
    read_proposal,
    refutes,
    supports,
)
from assistant.settings import AssistantSettings
from assistant.situation import contradicts
from assistant.types import Citation, Draft, SectionKind, Statement, Turn
from corpus.structure import CELL_SEP, CONTEXT_SEP, PAIR_SEP
from corpus.types import DEFAULT_PRIORITY
from guardrails.extraction import find_drugs
from guardrails.lexicon import drug_lexicon
from guardrails.measures import (
    Condition,
    Measurement,
    judge,
    measure_named,
    read_conditions,
    read_values,
)
from guardrails.reference import ReferenceTable, default_reference
from retrieval.tokenize import tokenize
from retrieval.types import Passage

_DOSE_QUESTION = re.compile(
    r"\b(dose|doses|dosing|dosage|how much|mg|mcg|units?|rate|infusion|bolus|regimen)\b",
    re.IGNORECASE,
)
# At most this many sentences of one source type: an answer is not one document's paraphrase.
MAX_PER_SECTION = {"institution": 10, "guideline": 10, "label": 6, "research": 3, "reference": 8}
MAX_PER_DOC = 8
# What a unit that says not to take the action a question proposes adds to its score.
PREMISE_WEIGHT = 0.3


@dataclass(frozen=True, slots=True)
class Candidate:
    passage: Passage
    start: int  # offsets into passage.chunk.text
    end: int
    tokens: frozenset[str]
    context: frozenset[str]  # title and section headings: what the sentence is about
    drugs: frozenset[str]  # its own drugs, else the ones its context resolves
    has_amount: bool
    info: SentenceInfo | None = None
    fit: str = "on"  # how it fits the question's frame (evidence.fit)
    # A unit quoted with its context (evidence.UnitInfo): the pieces of its quote; empty for
    # a sentence, whose quote is start..end.
    parts: tuple[QuotePart, ...] = ()
    measure: str | None = None  # what its bare bands measure (a table's label column)
    kind: str = "sentence"  # or the structure unit it quotes (evidence.UnitInfo.kind)

    @property
    def text(self) -> str:
        text = self.passage.chunk.text
        if self.parts:
            return "".join(sep + text[a:b] for a, b, sep in self.parts)
        return text[self.start : self.end]

    @property
    def section(self) -> SectionKind:
        return self.passage.doc.source_type

    @property
    def task(self) -> str:
        return self.info.task if self.info else ""


@dataclass(frozen=True, slots=True)
class Scored:
    candidate: Candidate
    score: float
    coverage: float  # IDF-weighted share of the question's terms the sentence contains


_MARK = r"\[\d{1,7}(?:\s*[,\u2013-]\s*\d{1,7})*\]"
# A run of bibliography markers ("[12]", "[13-15]", "[3], [4]", "[296420][7]") after a space
# or a punctuation mark and before one: "G1P[8]" or "[1,4]benzodiazepine" are words, kept.
_REFERENCE_MARKS = re.compile(rf"(?:\s+|(?<=[.,;:)])){_MARK}(?:\s*,?\s*{_MARK})*(?=[\s.,;:)]|$)")


def without_reference_marks(sentence: str) -> str:
    """A quoted sentence without its source's own bibliography markers ("... mortality [12],
    [13-15]."): in an answer they would read as Bedside's citation markers. Brackets that
    are part of a word (genotypes, chemical names) stay, and the guard then treats them as
    citation markers (fail closed). The citation still points at the exact sentence."""
    return _REFERENCE_MARKS.sub("", sentence)


_LINE_BREAK = re.compile(r"[ \t]*\n\s*")


def one_line(text: str) -> str:
    """A record written over several lines as one line of an answer (the answer is checked
    one statement a line): a line that ends a sentence or clause, or one the next line
    continues in lower case ("Do not mix with" / "other insulins"), runs on with a space;
    list-like lines ("NORCO® 5/325 ..." / "NORCO® 7.5/325 ...") are joined by "; "."""

    def join(m: re.Match[str]) -> str:
        before = text[: m.start()].rstrip()
        after = text[m.end() : m.end() + 1]
        return " " if before.endswith((".", ",", ":", ";")) or after.islower() else "; "

    return _LINE_BREAK.sub(join, text.strip())


def candidates(
    passages: Sequence[Passage],
    frame: Frame | None = None,
    table: ReferenceTable | None = None,
) -> list[Candidate]:
    """What the passages let an answer quote, with what each is about and how it fits the
    ``frame``: sentences quotable alone (no headings, tool lines or fragments), and table
    rows, list items and flowchart branches quoted with their context (corpus/structure.py);
    a flowchart's lines are quoted only as branches, with the condition they follow."""
    table = table or default_reference()
    contexts = shared_contexts(table)
    drugs = related_drugs(frame, table) if frame else frozenset()
    out = []
    for p in passages:
        text = p.chunk.text
        context = frozenset(tokenize(" ".join((p.doc.title, *p.chunk.section_path))))
        flows = flowchart_spans(text)
        # (what it says, its context, its quote's pieces, what its bare bands measure)
        quoted: list[tuple[SentenceInfo, str, tuple[QuotePart, ...], str | None, str]] = [
            (u.info, u.quote(text), u.parts, u.measure, u.kind) for u in contexts.units(p)
        ]
        quoted += [
            (info, text[info.start : info.end], (), None, "sentence")
            for info in contexts.of(p)
            if info.quotable and not any(a <= info.start < b for a, b in flows)
        ]
        for info, quote, parts, measure, kind in quoted:
            how = fit(info, quote, p, frame, table, drugs) if frame else "on"
            out.append(
                Candidate(
                    p,
                    info.start,
                    info.end,
                    frozenset(tokenize(quote)),
                    context,
                    info.drugs,
                    info.has_amount,
                    info,
                    how,
                    parts,
                    measure,
                    kind,
                )
            )
    return out


def score(question: str, pool: list[Candidate], frame: Frame | None = None) -> list[Scored]:
    """Rank sentences: IDF-weighted coverage of the question's terms, retrieval rank, the
    asked drug, a dose when a dose is asked for, and (with a frame) the asked use and task."""
    terms = set(tokenize(question))
    if not terms or not pool:
        return []
    # Term weights come from what retrieval found; the chunks added after it (the rest of
    # the best-ranked document) are scored with them but do not change them.
    found = [c for c in pool if c.passage.score > 0] or pool
    n = len(found)
    idf = {t: math.log(1 + n / (1 + sum(t in c.tokens for c in found))) for t in terms}
    total = sum(idf.values())
    if frame is not None:
        asked_drugs = set(related_drugs(frame, default_reference())) or set()
        if frame.taking and frame.intent != "reversal":
            # What the patient already takes is background to the drug asked about.
            asked_drugs = (asked_drugs - set(frame.taking)) or asked_drugs
        # A dose question that names no drug ("creatinine clearance for DOAC dosing") asks
        # how to reach a dose, not for one: no sentence is favoured for carrying any dose.
        wants_dose = frame.intent in ("dose", "reversal") and bool(frame.drugs)
        both = frozenset(frame.drugs) if len(frame.drugs) >= 2 else frozenset()
        # "aspirin/dipyridamole", "hydralazine + ISDN": one combination, dosed together.
        combined = combination(question)
        ruled = frozenset(frame.ruled_out)
        own_drugs = frozenset(frame.drugs)
    else:
        both = ruled = own_drugs = combined = frozenset()
        asked_drugs = {name for _, _, name in find_drugs(question)}
        wants_dose = bool(_DOSE_QUESTION.search(question))
    # A question that names a drug class and no drug ("What SGLT2 inhibitor guidance …?")
    # is answered by units about that class: its class word, in the unit or its headings, or
    # a member drug (the class map of premise.yaml).
    asked = without_purpose(question)
    asked_classes = frozenset() if asked_drugs else classes_named(asked)
    # A question about what a study found is answered by its results.
    asks_evidence = research_cap(question) is not None
    values = _stated_values(question)
    # "Start spironolactone?": a unit that says not to take the proposed action answers it
    # first (assistant/premise.py).
    proposal = read_proposal(question)
    target = proposed_values(question, proposal)
    measured = patient_values(question, frame)
    reported = reported_results(question)
    supposed = _supposed(question)
    agents = asks_for_agents(asked)
    kinds = asked_values(asked)
    # Several values asked ("starting dose and target?", "dose + how long?"): two kinds of
    # value, and words that join two asks.
    several = len(kinds) >= 2 and bool(_JOINED_ASKS.search(asked))
    checks = asks_check(question)
    domains = patient_domain_words(frame.patient) if frame is not None else ""
    domain = re.compile(rf"\b(?:{domains})\b", re.IGNORECASE) if domains else None
    # --- follow-up weighting: a follow-up asks about what its own turn adds (its new
    # words, assistant/situation.py), above the subject it carries; the unit the last answer
    # quoted gives way to one that says more, unless nothing else answers.
    news: dict[str, float] = {}
    answered: frozenset[str] = frozenset()
    if frame is not None and frame.follows:
        news = {t: idf[t] for t in frame.situation.turn_words if t in idf}
        answered = frozenset(tokenize(frame.situation.answered))
    # --- end follow-up weighting
    denied = denied_words(question)
    taking = frozenset(frame.taking) if frame is not None else frozenset()
    out = []
    if measured:
        # A table row of bands ("Respiration rate — 3: ≤ 8; 1: 9–11; 0: 12–20; 2: 21–24")
        # is also offered as the one cell the patient's value falls in, with its header.
        pool = pool + [b for c in pool if (b := band_cell(c, measured)) is not None]
    for c in pool:
        # A term in the sentence counts fully; one only in its title or heading counts half
        # ("Supplement antithrombin ..." under "Step 4: treatment options" is an option).
        coverage = (
            sum(
                w if t in c.tokens else 0.5 * w
                for t, w in idf.items()
                if t in c.tokens or t in c.context
            )
            / total
        )
        prior = 1.0 / (1.0 + 0.15 * (c.passage.rank - 1))
        value = 0.65 * coverage + 0.25 * prior
        own = 0.0
        if news:  # follow-up weighting
            own = sum(w for t, w in news.items() if t in c.tokens) / sum(news.values())
            value += FOLLOW_UP_WEIGHT * own
        if answered and len(c.tokens) >= 3 and c.tokens <= answered:  # follow-up weighting
            value -= REPEAT_WEIGHT * (1.0 - own)
        if asked_drugs and (
            shares_drug(c.drugs, asked_drugs) or names_class_of(c.text, asked_drugs, c.drugs)
        ):
            value += 0.15
        elif asked_drugs and c.drugs and wants_dose:
            value -= 0.2  # another drug's dose answers another question
        elif asked_classes and asked_classes & _classes_of_unit(c):
            value += 0.15
        if ruled and c.drugs & ruled and (c.drugs <= ruled | own_drugs or _agents(c) <= ruled):
            # "no andexanet in the hospital": a unit that gives no other drug is no answer.
            value -= RULED_OUT_WEIGHT
        if both and both <= c.drugs:
            value += ALL_DRUGS_WEIGHT  # "sacubitril/valsartan": the unit for both, not one
        elif combined and wants_dose and c.has_amount and not combined <= c.drugs:
            value -= 0.2  # one drug's own dose is not the combination's
        if wants_dose and c.has_amount:
            value += 0.1
        if frame is not None and c.info is not None:
            if frame.indications and c.info.indications & frame.indications:
                value += 0.1  # names the asked use itself
            task = _INTENT_TASK.get(frame.intent) or ("evidence" if asks_evidence else None)
            if c.task and c.task == task:
                value += 0.08
            if frame.intent == "choice":
                # A management answer is made of actions; background and trial detail follow.
                if _ACTION.search(c.text):
                    value += 0.12
                if c.task == "evidence":
                    value -= 0.05
            if domain is not None and domain.search(c.text):
                value += 0.12  # speaks of this patient's kidneys, liver, weight, age...
        if values and _in_stated_range(c.text, values):
            value += 0.1  # the band the question's own value falls in ("a 4Ts score of 2")
        if agents and c.info is not None:
            # "Which antibiotics ...?" is answered by units that name agents, not by one
            # that names none ("Use antibiotics that penetrate pancreatic necrosis").
            # The drugs the question is about and those it rules out are no option.
            others = frozenset(c.info.own_drugs) - own_drugs - ruled
            value += AGENT_WEIGHT if others else -AGENT_WEIGHT
        if c.kind == "list":
            value += WHOLE_LIST_WEIGHT  # "at least two of the following": all of them answer
        if c.kind == "table":
            # A table of labelled values answers a question that asks for several of them
            # ("starting dose and target?"), never one that asks for one.
            value += WHOLE_LIST_WEIGHT if several else -WHOLE_TABLE_PENALTY
        if is_meta(c.text, question):
            value -= META_PENALTY  # how to choose, when the question asks what to choose
        if is_example(c.text) or (
            # A list item or a branch quoted under its context: the item itself.
            c.kind in ("list_item", "flow_branch") and is_example(c.text.rsplit(CONTEXT_SEP, 1)[-1])
        ):
            value -= EXAMPLE_PENALTY  # an illustration of a rule never outranks the rule
        if kinds:
            # "What rate…?", "how long…?": a unit that gives that kind of value answers.
            value += VALUE_WEIGHT * sum(bool(k.search(c.text)) for k in kinds) / len(kinds)
        applies = applied(c.text, measured, c.measure, goals=checks) if measured else None
        if applies is True:
            value += THRESHOLD_WEIGHT  # its band holds this patient ("CrCl ≤ 50" for 42)
        elif applies is False and checks:
            value += THRESHOLD_WEIGHT  # "in range?" is answered by the range it is outside
        elif applies is False and proposal is None:
            value -= 2 * THRESHOLD_WEIGHT  # another patient's band ("CrCl above 50" for 42)
        if supposed and _answers_supposition(c.text, supposed):
            value += SUPPOSITION_WEIGHT  # "what if the BP drops?" and "If … due to hypotension"
        if reported and (labelled := reported_results(_label(c))):
            # "D-dimer came back negative" and "Negative D-dimer: PE can be excluded".
            tests = {t for _, t in labelled}
            if reported & labelled:
                value += RESULT_WEIGHT
            elif any(t in tests for _, t in reported):
                value -= RESULT_WEIGHT  # another result of the same test
        if frame is not None and (scope := _label(c)) and contradicts(scope, frame.situation):
            # Another patient's row ("not on dialysis" for a patient on CRRT): never the
            # answer while anything else is.
            value -= CONTRADICTED_PENALTY
        elif denied and (scope := _label(c)) and _denied_scope(scope, denied):
            # "No gallstones" and the row labelled "Gallstones": what the question rules out.
            value -= CONTRADICTED_PENALTY
        if (
            proposal is not None
            and _gives_another(proposal, taking)
            and _names_taken(c, taking)
            and refutes(proposal, c.text, " ".join(c.passage.chunk.section_path)) is not None
        ):
            # "took apixaban this morning — alteplase?" and "contraindications to IV alteplase
            # — direct factor Xa inhibitors within 48 hours": a refusal that names what the
            # patient takes is met by the question itself.
            value += PREMISE_WEIGHT
        if proposal is not None and coverage > 0:
            said = refutes(proposal, c.text, " ".join(c.passage.chunk.section_path))
            if said is not None:
                # A refusal under a condition ("contraindicated below eGFR 30") counts in full
                # when the patient meets it, not at all when the patient is outside it; one
                # the proposed value meets ("avoid SBP < 130" for "down to 115") in full.
                weight = 1.0 if said.target else 0.5
                if said.unstated and applies is None:
                    weight = 0.0  # a condition in words the question does not state
                elif said.conditional and not (target and _refuted_target(c, proposal, target)):
                    weight *= {True: 1.0, False: 0.0, None: 0.5}[applies]
                value += PREMISE_WEIGHT * weight
        out.append(Scored(c, value, coverage))
    return sorted(out, key=lambda s: -s.score)


_COMBINED = re.compile(r"\s*(?:/|\+|&)\s*")


def combination(question: str) -> frozenset[str]:
    """The drugs a question joins into one combination ("aspirin/dipyridamole",
    "hydralazine + isosorbide dinitrate"): two drug names with only a slash, plus or
    ampersand between them; empty when it joins none."""
    spans = find_drugs(question, drug_lexicon())
    out: set[str] = set()
    for (_, end, a), (start, _, b) in zip(spans, spans[1:], strict=False):
        if a != b and _COMBINED.fullmatch(question[end:start]):
            out |= {a, b}
    return frozenset(out)


_JOINED_ASKS = re.compile(r"\b(?:and|plus|then)\b|[+&]|\?.*\w.*\?", re.IGNORECASE)
THRESHOLD_WEIGHT = 0.12
RESULT_WEIGHT = 0.15  # a unit labelled with the test result the question reports
ALL_DRUGS_WEIGHT = 0.1
SUPPOSITION_WEIGHT = 0.1  # a conditional clause that states the situation the question supposes
META_PENALTY = 0.15
CONTRADICTED_PENALTY = 1.0
WHOLE_TABLE_PENALTY = 0.5
RULED_OUT_WEIGHT = 0.2  # a unit only about a drug the question says is not to be had  # a unit that names every drug the question names
# A follow-up: what covering the turn's own new words adds, and what quoting the unit the
# last answer quoted (and nothing the turn adds) takes away.
FOLLOW_UP_WEIGHT = 0.3
REPEAT_WEIGHT = 0.25
AGENT_WEIGHT = 0.1
VALUE_WEIGHT = 0.1
EXAMPLE_PENALTY = 0.15
WHOLE_LIST_WEIGHT = 0.05


# "… and what if the blood pressure drops?", "if CrCl falls below 30": a situation the
# question supposes; a unit that says what to do in it states it in a conditional clause.
_SUPPOSE = re.compile(r"\b(?:what if|and if|if|in case|suppose)\b(?P<what>[^?.;]{3,100})", re.I)
_CONDITIONAL = re.compile(
    r"\b(?:if|when|in case of|in the event of)\b(?P<what>[^,.;:—]{3,120})", re.I
)


def _supposed(question: str) -> frozenset[str]:
    """The content words (search stems, with the sources' words for plain ones) of the
    situation a question supposes ("what if the blood pressure drops": hypotension)."""
    m = _SUPPOSE.search(question)
    if m is None:
        return frozenset()
    what = m.group("what")
    return frozenset(t for t in tokenize(f"{what} {lay_words(what)}") if not t[0].isdigit())


def _answers_supposition(text: str, supposed: frozenset[str]) -> bool:
    """Whether a conditional clause of the unit states the supposed situation."""
    return any(
        supposed & frozenset(tokenize(f"{m.group('what')} {lay_words(m.group('what'))}"))
        for m in _CONDITIONAL.finditer(text.replace("*", ""))
    )


_LABEL = re.compile(r"^[\W_]*([^:.;\n]{2,60}?)[*_]*:")
# "In patients not on dialysis, …", "For adults with HIT, …": the clause that says whom.
_OPENING = re.compile(r"^[\W_]*((?:in|for|if|when|among)\b[^,.;:\n]{3,80}),", re.IGNORECASE)


def _agents(c: Candidate) -> frozenset[str]:
    """The reversal agents a unit names (the dose reference's reversal entries)."""
    table = default_reference()
    return frozenset(d for d in c.drugs if is_agent(d, table))


_DENIED = re.compile(
    r"\b(?:no|not|without|denies|denied|negative for)\s+(?:known\s+|prior\s+|history of\s+)?"
    r"(?P<what>[a-z][\w-]*(?:\s+[a-z][\w-]*)?)",
    re.IGNORECASE,
)


def denied_words(question: str) -> frozenset[str]:
    """The stems of what a question says the patient does not have ("no gallstones, no
    etoh" -> gallston, etoh)."""
    out: set[str] = set()
    for m in _DENIED.finditer(question):
        words = tokenize(m.group("what"))
        if words:
            out.add(words[0])
    return frozenset(out)


def _denied_scope(scope: str, denied: frozenset[str]) -> bool:
    """Whether a unit's label is only what the question denies: its content words are one
    word, and that word is denied ("Gallstones" after "no gallstones")."""
    words = [t for t in tokenize(scope) if not t[0].isdigit()]
    return len(words) == 1 and words[0] in denied


def _gives_another(proposal: Proposal, taking: frozenset[str]) -> bool:
    """Whether a proposal gives a drug other than those the patient takes ("took apixaban —
    alteplase?"), not one that acts on what the patient takes ("on MTX — taper?")."""
    return bool(taking and proposal.drugs and not set(proposal.drugs) & taking)


def _names_taken(c: Candidate, taking: frozenset[str]) -> bool:
    """Whether a unit names a drug the patient takes, or its class ("direct factor Xa
    inhibitors" for apixaban)."""
    return shares_drug(c.drugs, taking) or names_class_of(c.text, taking, c.drugs)


def _label(c: Candidate) -> str:
    """What a unit says it is for: its scope (a structure unit's first element), else a
    sentence's own label ("**Negative D-dimer:** PE can be safely excluded")."""
    if c.parts:
        return _scope(c)
    m = _LABEL.match(c.text) or _OPENING.match(c.text)
    return m.group(1) if m else ""


def _scope(c: Candidate) -> str:
    """The words that say whom a unit is for: a table row's label, a branch's condition, a
    list item's lead-in (the first element of its quote)."""
    text = c.passage.chunk.text
    return " ".join(text[a:b] for a, b, _ in _segments(c.parts)[0])


def _classes_of_unit(c: Candidate) -> frozenset[str]:
    """The drug classes a unit speaks of: class words in it or its headings, and the classes
    of the drugs it names."""
    named = classes_named(" ".join((c.text, *c.passage.chunk.section_path)))
    return named.union(*(member_classes(d) for d in c.drugs))


_TO_VALUE = re.compile(
    r"\bto\s+(?:<\s*|below\s+|under\s+)?(\d+(?:\.\d+)?)(?:\s*(?:-|\u2013|to)\s*(\d+(?:\.\d+)?))?"
)


def proposed_values(question: str, proposal: Proposal | None) -> tuple[Measurement, ...]:
    """The values a proposal would bring the patient to ("push SBP down to 115-120": SBP
    115 and 120), read as the measure its words name; empty when it names none."""
    if proposal is None:
        return ()
    text = question[proposal.span[0] : proposal.span[1]]
    m = _TO_VALUE.search(text)
    if m is None:
        return ()
    head = text[: m.start()]
    return tuple(v for n in m.groups() if n is not None for v in read_values(f"{head}to {n}")[-1:])


def _refuted_target(c: Candidate, proposal: Proposal, target: Sequence[Measurement]) -> bool:
    """Whether the unit says not to take the proposal and a threshold in its refusal's
    clause holds for the value the proposal would reach ("Avoid SBP < 130 mmHg" for "push SBP
    down to 115-120")."""
    said = refutes(proposal, c.text, " ".join(c.passage.chunk.section_path))
    if said is None or not said.conditional:
        return False
    judged = judge(_conditions(c.text, c.measure), target)
    return any(ok for cond, _, ok in judged if cond.start >= said.span[0])


def patient_values(question: str, frame: Frame | None) -> tuple[Measurement, ...]:
    """The patient's values the question states (any unit, guardrails.measures), with the
    creatinine clearance the frame's patient facts give (Cockcroft–Gault) when none is
    stated."""
    values = read_values(question)
    if proposed := proposed_values(question, read_proposal(question)):
        # "push SBP down to 115-120": the value proposed is no value of the patient's.
        taken = {(v.measure, v.value) for v in proposed}
        values = tuple(v for v in values if (v.measure, v.value) not in taken)
    crcl = frame.patient.crcl if frame is not None else None
    if crcl is not None and not any(v.measure == "crcl" for v in values):
        values += (Measurement("crcl", crcl, "mL/min", f"{crcl:.0f}", "mL/min", 0, 0),)
    return values


@lru_cache(maxsize=20_000)
def _conditions(text: str, measure: str | None) -> tuple[Condition, ...]:
    return read_conditions(text, default=measure)


_STARTS = (CONTEXT_SEP, PAIR_SEP, CELL_SEP)


def _segments(parts: tuple[QuotePart, ...]) -> list[list[QuotePart]]:
    """A table row's quote pieces grouped into its label, headers and cells: a piece joined
    by a context, pair or cell joiner starts a new element."""
    out: list[list[QuotePart]] = []
    for part in parts:
        if not out or part[2] in _STARTS:
            out.append([part])
        else:
            out[-1].append(part)
    return out


def band_cell(c: Candidate, values: Sequence[Measurement]) -> Candidate | None:
    """A table row whose cells are bands of one measure, narrowed to the one cell the
    patient's value falls in, quoted as the row's label, that cell's header and the cell
    (document characters and the structure's joiners only); None when no single cell holds
    the patient's value."""
    if not c.parts or c.info is None:
        return None
    text = c.passage.chunk.text
    segments = _segments(c.parts)
    label = segments[0]
    measure = c.measure or measure_named(" ".join(text[a:b] for a, b, _ in label))
    if measure is None:
        return None
    hits = []
    for header, cell in zip(segments[1:], segments[2:], strict=False):
        if cell[0][2] != CELL_SEP or header[0][2] == CELL_SEP:
            continue
        body = " ".join(text[a:b] for a, b, _ in cell)
        judged = judge(_conditions(body, measure), values)
        if judged and all(ok for _, _, ok in judged):
            hits.append((header, cell))
    if len(hits) != 1:
        return None
    header, cell = hits[0]
    first = (header[0][0], header[0][1], CONTEXT_SEP)
    parts = (*label, first, *header[1:], *cell)
    quote = "".join(sep + text[a:b] for a, b, sep in parts)
    return replace(c, parts=parts, tokens=frozenset(tokenize(quote)), measure=measure)


_CLAUSE_EDGE = re.compile(r"[(),;\u2014]|\.(?:\s|$)")


def band_clause(question: str, c: Candidate, values: Sequence[Measurement]) -> str | None:
    """For a unit that gives a dose and another dose under a band ("25 mg twice daily (50 mg
    twice daily if > 85 kg)"; "1 mg/kg every 12 hours (reduce to 1 mg/kg once daily if CrCl
    < 30 mL/min)"), the words that say the band holds for this patient: "For this patient
    (95.3 kg): 50 mg twice daily if > 85 kg." None unless exactly one band of the unit is
    judged, it holds, and its clause (between brackets, commas, semicolons or dashes) states
    a dose and is not the whole unit."""
    if not values or c.info is None or not c.info.has_amount:
        return None
    text = c.text
    judged = judge(_conditions(text, c.measure), values)
    if len(judged) != 1 or not judged[0][2]:
        return None
    band, value, _ = judged[0]
    starts = [m.end() for m in _CLAUSE_EDGE.finditer(text, 0, band.start)]
    start = starts[-1] if starts else 0
    end_at = _CLAUSE_EDGE.search(text, band.end)
    end = end_at.start() if end_at else len(text)
    clause = text[start:end].strip(" *_")
    if not has_amount(clause) or len(clause) >= 0.8 * len(text.strip()):
        return None
    said = question[value.start : value.end].strip(" ,.;") if value.end > value.start else ""
    said = said or f"{value.written_value} {value.written_unit}".strip()
    # The clause's drug, when it names none: the guard checks a dose against its drug.
    own = {name for _, _, name in find_drugs(clause, drug_lexicon())}
    drug = next(iter(c.drugs)) if not own and len(c.drugs) == 1 else ""
    return f"For this patient ({said}){f', {drug}' if drug else ''}: {clause}."


def applied(
    text: str, values: Sequence[Measurement], measure: str | None = None, goals: bool = False
) -> bool | None:
    """Whether the thresholds a unit states hold for this patient: True when every one the
    patient's values speak to holds, False when one does not, None when none is judged.
    ``measure``: what the unit's bare bands measure (a table row's label column). A goal
    ("Target haemoglobin: 7.0-9.0 g/dL") is judged only with ``goals`` (the question asks
    whether the value is in range)."""
    judged = judge(_conditions(text, measure), values)
    if not goals:
        judged = [j for j in judged if not is_goal(text[max(0, j[0].start - 40) : j[0].start])]
    if not judged:
        return None
    # "The inability to reach an ACT of 480 seconds or more": the band is the one not reached.
    return all(ok != unreached(text[max(0, c.start - 40) : c.start]) for c, _, ok in judged)


# What leads a quote whose threshold decides the answer for this patient: a permission the
# patient's values fall outside ("Can I continue metformin if eGFR is 25?" → "Metformin: safe
# at eGFR ≥ 30"), or a condition against the drug the patient meets ("CrCl 18. Fondaparinux?"
# → "Contraindication: CrCl < 20 mL/min").
OUTSIDE = "No — this patient's value is outside the threshold the source states: "
AGAINST = "No — this patient meets the condition the source gives against it: "
WITHIN = "Yes — this patient's value is within the threshold the source states: "
PROPOSED_AGAINST = "No — the proposed value is within what the source advises against: "
THRESHOLD_DIFFERS = "No — the source states another threshold: "
MEETS = "Yes — this patient's value meets the threshold the source states: "


def _other_threshold(question: str, c: Candidate) -> bool:
    """Whether the question asserts a band of a measure ("needs lactate above 4 mmol/L")
    and the unit states that measure's band otherwise ("> 2 mmol/L"), never the same."""
    asserted = read_conditions(question)
    if not asserted:
        return False
    # Its bare bands are of the measure it names ("lactate cutoffs: … > 2 mmol/L").
    stated = _conditions(c.text, c.measure or measure_named(c.text))
    judged = False
    for band in asserted:
        same = [s for s in stated if s.measure == band.measure]
        if not same:
            continue
        if any(_same_band(band, s) for s in same):
            return False
        judged = True
    return judged


def _same_band(a: Condition, b: Condition) -> bool:
    def near(x: float | None, y: float | None) -> bool:
        if x is None or y is None:
            return x is None and y is None
        return abs(x - y) <= 1e-6 * max(1.0, abs(y))

    return near(a.low, b.low) and near(a.high, b.high)


def patient_verdict(question: str, c: Candidate, frame: Frame | None) -> str | None:
    """The words that open the bottom line when a threshold the unit states decides the
    question for the patient's stated values; None when the quote stands as it is.

    - A question that asks whether a value meets a threshold ("anti-Xa 0.82 — in range?",
      evidence.yaml ``asks_check``) is answered Yes (``WITHIN``) or No (``OUTSIDE``).
    - A question that proposes an action (assistant/premise.py) on a unit about it (its
      drug, or for a proposal with no drug, its own words: "transfuse?" and "transfusion
      trigger") is answered No when the unit's permission does not hold (``OUTSIDE``).
    - Any question naming the drug, when the unit refuses the drug and the patient's values
      meet a threshold it states (``AGAINST``). A refusal the patient's values do not speak
      to says so itself."""
    if c.info is None:
        return None
    if asks_confirmation(question) and _other_threshold(question, c):
        return THRESHOLD_DIFFERS
    proposal = read_proposal(question)
    target = proposed_values(question, proposal)
    if proposal is not None and target and _refuted_target(c, proposal, target):
        return PROPOSED_AGAINST
    taking = frozenset(frame.taking) if frame is not None else frozenset()
    if (
        proposal is not None
        and _gives_another(proposal, taking)
        and _names_taken(c, taking)
        and refutes(proposal, c.text, " ".join(c.passage.chunk.section_path)) is not None
    ):
        return AGAINST  # a refusal that names what the patient takes ("took apixaban")
    values = patient_values(question, frame)
    checks = asks_check(question)
    applies = applied(c.text, values, c.measure, goals=checks) if values else None
    if applies is None:
        return None
    if checks:
        return WITHIN if applies else OUTSIDE
    drugs = proposal.drugs if proposal and proposal.drugs else (frame.drugs if frame else ())
    context = " ".join(c.passage.chunk.section_path)
    # A unit that names no drug speaks of the asked one through what it stands under ("Pillar
    # 3: Mineralocorticoid Receptor Antagonists — Contraindications: … potassium > 5.0").
    about = c.info.drugs or (frozenset(drugs) if c.fit == "on" else frozenset())
    if drugs and shares_drug(about, drugs):
        classes = tuple(dict.fromkeys(k for d in drugs for k in sorted(member_classes(d))))
        asked = proposal or Proposal("give", "", tuple(drugs), classes, (), False, None, (0, 0))
        said = refutes(asked, c.text, context)
        if said is not None:
            return AGAINST if applies else None  # the patient meets a threshold of a refusal
        if proposal is not None and applies and supports(proposal, c.text, context):
            # "LDL still 2.3 mmol/L - add ezetimibe?" and "LDL-C >= 70 mg/dL: adding
            # ezetimibe is reasonable": the recommendation's threshold holds for this patient.
            return MEETS
        return OUTSIDE if proposal is not None and not applies else None
    if proposal is not None and (proposal.classes or proposal.drugs):
        # "Start the insulin drip?" and "K+ < 3.5? — DELAY insulin until K+ > 3.5": a
        # refusal of the proposed agent or class, by its own words (the unit names no drug
        # the lexicon reads as dosed), whose threshold this patient meets.
        said = refutes(proposal, c.text, context)
        if said is not None and said.target and said.conditional:
            return AGAINST if applies else None
        # "Eos 150. Add ICS?" and "Add ICS if ≥ 300 cells/µL": a recommendation of the
        # proposed agent or class under a threshold this patient is outside.
        backed = supports(proposal, c.text, context)
        if backed is not None and backed.target and backed.conditional and applies is False:
            return OUTSIDE
    if proposal is not None and not proposal.drugs and not applies:
        asked_words = {w[:5] for w in (proposal.verb, *proposal.words) if len(w) >= 4}
        if asked_words & {t[:5] for t in c.tokens if len(t) >= 4}:
            return OUTSIDE  # "Should I transfuse?" and "Transfusion trigger: Hb < 70 g/L"
    if applies and proposal is None and asks_yes_no(question) and _names_asked(question, c):
        # "TG 14 mmol/L - is hypertriglyceridemia the cause?" and "Hypertriglyceridemia —
        # Key Diagnostic Feature: Serum triglycerides > 1,000 mg/dL".
        return MEETS
    return None


def _names_asked(question: str, c: Candidate) -> bool:
    """Whether the unit's own words (not only its document's) name a content word the
    question asks about, past the patient's values."""
    asked = {t for t in tokenize(question) if len(t) >= 5 and not t[0].isdigit()}
    return bool(asked & set(tokenize(c.text)))


_VALUE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)(?![\w%]|\.\d)(?!\s*(?:mg|mcg|µg|μg|g|units?|IU|mL|%)\b)"
)
_UNIT_AFTER = re.compile(r"\s*(?:mg|mcg|µg|μg|g|units?|IU|mL|%)\b")
_RANGE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(?:to|–|-)\s*(\d+(?:\.\d+)?)(?![\w.])")


def _before(text: str, at: int) -> frozenset[str]:
    """The words (stems) just before a position: what a number measures ("4Ts score of")."""
    return frozenset(t for t in tokenize(" ".join(text[:at].split()[-3:])) if not t[0].isdigit())


def _stated_values(question: str) -> list[tuple[float, frozenset[str]]]:
    """Plain values the question states (a score, an INR), not doses or percentages, each
    with the words before it."""
    return [(float(m.group(1)), _before(question, m.start())) for m in _VALUE.finditer(question)]


def _in_stated_range(sentence: str, values: list[tuple[float, frozenset[str]]]) -> bool:
    """Whether the sentence states a range of the same measure ("a 4Ts score of 0 to 3")
    that one of ``values`` lies in."""
    for m in _RANGE.finditer(sentence):
        low, high = float(m.group(1)), float(m.group(2))
        if low >= high or _UNIT_AFTER.match(sentence, m.end()):
            continue
        words = _before(sentence, m.start())
        if any(low <= v <= high and words & said for v, said in values):
            return True
    return False


_ACTION = re.compile(
    r"\b(?:start|started|starting|switch|stop|give|given|use|used|prefer|preferred|monitor|"
    r"measure|check|titrat\w*|supplement|continue|escalate|recommend\w*|should|must|target)\b",
    re.IGNORECASE,
)


# The task a sentence serves when it answers a question of this intent directly.
_INTENT_TASK = {
    "dose": "dosing",
    "monitoring": "monitoring",
    "safety": "safety",
    "definition": "definition",
}


def _similarity(a: Candidate, b: Candidate) -> float:
    if not a.tokens or not b.tokens:
        return 0.0
    same = len(a.tokens & b.tokens) / len(a.tokens | b.tokens)
    # Two sentences built alike that report different figures (a trial's thrombosis rate
    # and its bleeding rate) say different things.
    figures_a = {t for t in a.tokens if t[0].isdigit()}
    figures_b = {t for t in b.tokens if t[0].isdigit()}
    if figures_a and figures_b and not (figures_a <= figures_b or figures_b <= figures_a):
        same *= 0.5
    return same


def _containment(a: Candidate, b: Candidate) -> float:
    small = min(len(a.tokens), len(b.tokens))
    return len(a.tokens & b.tokens) / small if small else 0.0


def select(
    scored: list[Scored],
    max_statements: int,
    min_coverage: float,
    lam: float = 0.7,
    caps: dict[str, int] | None = None,
) -> list[Scored]:
    """Maximal marginal relevance over sentences with enough coverage of the question;
    ``caps`` overrides the most sentences of a source type (``MAX_PER_SECTION``)."""
    limits = {**MAX_PER_SECTION, **(caps or {})}
    pool = [s for s in scored if s.coverage >= min_coverage]
    chosen: list[Scored] = []
    per_section: dict[str, int] = {}
    per_doc: dict[str, int] = {}
    seen_text: set[str] = set()
    while pool and len(chosen) < max_statements:
        best = max(
            pool,
            key=lambda s: (
                lam * s.score
                - (1 - lam)
                * max((_similarity(s.candidate, c.candidate) for c in chosen), default=0.0)
            ),
        )
        pool.remove(best)
        section = best.candidate.section
        key = " ".join(best.candidate.text.lower().split())
        doc = best.candidate.passage.doc.id
        if per_section.get(section, 0) >= limits[section] or key in seen_text:
            continue
        if per_doc.get(doc, 0) >= MAX_PER_DOC:
            continue
        if chosen and max(_containment(best.candidate, c.candidate) for c in chosen) >= 0.95:
            continue  # says nothing a chosen sentence does not already say
        chosen.append(best)
        seen_text.add(key)
        per_section[section] = per_section.get(section, 0) + 1
        per_doc[doc] = per_doc.get(doc, 0) + 1
    return chosen


def _task_of(c: Candidate, frame: Frame | None) -> str:
    """The answer section a sentence goes to: its own task, else the question's."""
    intent = frame.intent if frame else "other"
    if intent == "choice" and c.task in ("", "dosing"):
        return "options"
    if c.task:
        return c.task
    if intent == "choice":
        return "options"
    return _INTENT_TASK.get(intent) or f"intent:{intent}"


def _agent_doses(chosen: list[Scored], ranked: list[Scored], limit: int) -> list[Scored]:
    """For a management question: each agent a chosen sentence names gets its dose, when
    an on-frame sentence gives one ("switch to argatroban" is followed by argatroban's dose)."""
    dosed = {
        d
        for s in chosen
        if s.candidate.has_amount and s.candidate.info
        for d in s.candidate.info.own_drugs
    }
    named: list[str] = []
    for s in chosen:
        info = s.candidate.info
        for d in sorted(info.own_drugs if info else ()):
            if d not in dosed and d not in named:
                named.append(d)
    added: list[Scored] = []
    taken = {id(s) for s in chosen}
    for drug in named:
        for s in ranked:
            info = s.candidate.info
            if id(s) in taken or info is None or not s.candidate.has_amount:
                continue
            if drug in info.own_drugs and s.candidate.fit == "on":
                added.append(s)
                taken.add(id(s))
                break
        if len(added) >= limit:
            break
    return added


def _outline(chosen: list[Scored], ranked: list[Scored], lead: Scored, limit: int) -> list[Scored]:
    """A management answer led by a document whose sections are its steps ("Step 2: start
    therapeutic anticoagulation", "Antithrombin in septic shock", "Duration") quotes each
    retrieved section of that document: the best sentence of every section no chosen
    sentence comes from, in the document's order."""
    doc = lead.candidate.passage.doc.id
    have = {
        s.candidate.passage.chunk.section_path
        for s in [*chosen, lead]
        if s.candidate.passage.doc.id == doc
    }
    best: dict[tuple[str, ...], Scored] = {}
    for s in ranked:
        c = s.candidate
        if c.passage.doc.id != doc or c.passage.chunk.section_path in have:
            continue
        if s.coverage <= 0 or c.passage.chunk.section_path in best:
            continue  # ranked is best first: the first of a section is its best
        best[c.passage.chunk.section_path] = s
    order = sorted(
        best.values(), key=lambda s: (s.candidate.passage.chunk.start, s.candidate.start)
    )
    return order[:limit]


_TIE_MARGIN = 0.02


def _companion(
    question: str, lead: Scored, ranked: Sequence[Scored], frame: Frame | None
) -> Scored | None:
    """For a question that asks for a dose and another kind of value, or for two kinds ("dose
    and how many days?", "starting dose and target?"), the best unit of the lead's document,
    about the lead's drugs, that gives a kind the lead does not; None when the lead gives
    every kind asked or no such unit ranks near it."""
    kinds = asked_values(without_purpose(question))
    dose = frame is not None and frame.intent in ("dose", "duration") and bool(frame.drugs)
    if not kinds or not (len(kinds) >= 2 or dose):
        return None
    text = lead.candidate.text
    missing = [k for k in kinds if not k.search(text)]
    if not missing or len(missing) == len(kinds) and not dose:
        return None
    doc = lead.candidate.passage.doc.id
    drugs = lead.candidate.drugs
    for s in ranked:
        c = s.candidate
        if s is lead or c.passage.doc.id != doc or s.score < COMPANION_SHARE * lead.score:
            continue
        if drugs and not shares_drug(c.drugs, drugs):
            continue
        uses, own = _uses(lead.candidate), _uses(c)
        if uses and own and not uses & own:
            continue  # another use's value ("for the first 7 days" of treatment)
        if c.text in text or text in c.text or not any(k.search(c.text) for k in missing):
            continue
        return s
    return None


def _uses(c: Candidate) -> frozenset[str]:
    return c.info.indications if c.info is not None else frozenset()


COMPANION_SHARE = 0.6  # the least share of the lead's score a unit joining it has


def lead_sentence(ranked: list[Scored], passages: Sequence[Passage]) -> Scored | None:
    """The sentence an answer leads with: the best sentence of the highest-ranked document
    that has one answering the question, i.e. fitting its frame (``ranked`` holds only
    those) and sharing its terms, in the sentence or its document's title and headings. The
    retriever's order is its best judgement of what the question is about; a better-scoring
    sentence of a lower-ranked document usually matches more of the question's words, not
    more of its meaning. Documents the retriever scored the same (one found by its words, one
    by its meaning) are told apart by their best sentence, when it is clearly better. None
    when no sentence shares a term: the best sentence then leads."""
    rank = document_ranks(passages)
    answering = [s for s in ranked if s.coverage > 0]
    if not answering:
        return None
    doc = min((s.candidate.passage.doc.id for s in answering), key=lambda d: rank.get(d, 1 << 30))
    most = majority_document(passages)
    if most is not None and any(s.candidate.passage.doc.id == most for s in answering):
        doc = most
    first = max((p.score for p in passages if p.doc.id == doc), default=0.0)
    tied = {p.doc.id for p in passages if p.doc.id == doc or abs(p.score - first) <= 1e-9 * first}
    own = max((s for s in answering if s.candidate.passage.doc.id == doc), key=lambda s: s.score)
    other = max((s for s in answering if s.candidate.passage.doc.id in tied), key=lambda s: s.score)
    # Within a hair of each other, the retriever's order stands.
    return other if other.score >= own.score + _TIE_MARGIN else own


def _on_the_turn(
    question: str, lead: Scored, ranked: Sequence[Scored], frame: Frame | None
) -> Scored:
    """A follow-up's lead speaks of what its turn adds ("and if she's penicillin allergic?"):
    a lead that names none of the turn's own words gives way to the best unit that does, when
    that one scores near it."""
    if frame is None or not frame.follows:
        return lead
    news = {t for t in frame.situation.turn_words if len(t) > 3}
    if not news or lead.candidate.tokens & news:
        return lead
    # A threshold on a value the turn gives ("potassium is 3.1" and "K+ < 3.5? — DELAY
    # insulin") speaks of it in whatever words.
    values = patient_values(question, frame)
    c = lead.candidate
    if values and applied(c.text, values, c.measure) is not None:
        return lead
    # ... and of the conversation's subject: its first turn's drugs, use or words, in the
    # unit's passage, headings or title.
    sit = frame.situation
    subject = set(
        tokenize(" ".join((*sit.subject_drugs, sit.subject_use or "", *sit.subject_words)))
    )

    def on_subject(c: Candidate) -> bool:
        return not subject or bool(subject & (c.context | set(tokenize(c.passage.chunk.text))))

    best = max(
        (
            s
            for s in ranked
            if s.coverage > 0 and s.candidate.tokens & news and on_subject(s.candidate)
        ),
        key=lambda s: s.score,
        default=None,
    )
    return best if best is not None and best.score >= _NEAR * lead.score else lead


_NEAR = 0.8  # the least share of the lead's score a unit about the turn's own words has


def majority_document(passages: Sequence[Passage]) -> str | None:
    """The document most of the retrieved passages come from, when it holds more than half
    of them and the first passage is its document's only one: the retriever's many hits
    on one document outweigh a single first hit elsewhere ("Wells score for PE" finds the
    Wells page seven times under one VTE guideline passage)."""
    found = [p for p in passages if p.score > 0]
    if len(found) < 4:
        return None
    counts: dict[str, int] = {}
    for p in found:
        counts[p.doc.id] = counts.get(p.doc.id, 0) + 1
    top = min(found, key=lambda p: p.rank).doc.id
    most = max(counts, key=lambda d: counts[d])
    if most != top and counts[most] * 2 > len(found) and counts[top] == 1:
        return most
    return None


def document_ranks(passages: Sequence[Passage]) -> dict[str, int]:
    """Each document's retrieval rank: the rank of its best passage."""
    rank: dict[str, int] = {}
    for p in passages:
        rank[p.doc.id] = min(rank.get(p.doc.id, p.rank), p.rank)
    return rank


# The first source type of ``corpus.priority`` (by default the hospital's own protocols)
# leads when its best sentence answers nearly as well as the best one: a local protocol
# takes precedence over a general guideline that says much the same. The second (by
# default guidelines) leads on a tie. The others are ranked by their scores alone.
PRECEDENCE = (0.9, 0.98)


def _answers_as(s: Scored, lead: Scored) -> bool:
    """Whether ``s`` answers what ``lead`` answers: a dose where the lead states one, and
    about the lead's drug where it names one (a local protocol's monitoring sentence does
    not displace a dose; another drug's protocol does not answer)."""
    a, b = s.candidate, lead.candidate
    if b.has_amount and not a.has_amount:
        return False
    return not b.drugs or bool(a.drugs & b.drugs)


def _by_precedence(lead: Scored, chosen: Sequence[Scored], priority: Sequence[str]) -> Scored:
    for rank, (kind, tie) in enumerate(zip(priority, PRECEDENCE, strict=False)):
        if lead.candidate.section == kind:
            return lead
        # The first type leads when nearly as good, so it must answer as the lead does.
        pool = [
            s for s in chosen if s.candidate.section == kind and (rank > 0 or _answers_as(s, lead))
        ]
        best = max(pool, key=lambda s: s.score, default=None)
        if best is not None and best.score >= tie * lead.score:
            return best
    return lead


class ExtractiveGenerator:
    """Deterministic, offline: exact sentences with exact citations."""

    name = "extractive"
    quotes = True

    def __init__(
        self,
        settings: AssistantSettings | None = None,
        priority: Sequence[str] = DEFAULT_PRIORITY,
    ) -> None:
        self.settings = settings or AssistantSettings()
        self.priority = tuple(priority)

    def generate(
        self,
        question: str,
        passages: Sequence[Passage],
        history: Sequence[Turn] = (),
        frame: Frame | None = None,
    ) -> Draft:
        pool = [c for c in candidates(passages, frame) if c.fit == "on"]
        ranked = score(question, pool, frame)
        most = self.settings.max_statements
        if frame is not None and frame.intent == "choice":
            most += 4  # a management question has several options, each with its dose
        cap = research_cap(question)
        chosen = select(
            ranked, most, self.settings.min_coverage, caps={"research": cap} if cap else None
        )
        if not chosen:
            return Draft(
                (),
                (),
                None,
                self.name,
                ("no sentence of the retrieved passages covers the question",),
            )
        if frame is not None and frame.intent == "choice":
            chosen += _agent_doses(chosen, ranked, limit=4)
        lead = lead_sentence(ranked, passages) or max(chosen, key=lambda s: s.score)
        lead = _on_the_turn(question, lead, ranked, frame)
        if frame is not None and frame.intent == "choice":
            chosen += _outline(chosen, ranked, lead, limit=6)
        if lead not in chosen:
            chosen = [lead, *chosen[: max(0, most - 1)]]
        lead = _by_precedence(lead, chosen, self.priority)
        rest = sorted((s for s in chosen if s is not lead), key=lambda s: -s.score)
        numbers: dict[str, int] = {}
        citations: list[Citation] = []

        def statement(s: Scored) -> Statement:
            c = s.candidate
            number = numbers.setdefault(c.passage.chunk.id, len(numbers) + 1)
            start, end = (c.parts[0][0], c.parts[-1][1]) if c.parts else (c.start, c.end)
            citations.append(Citation(number, c.passage, start, end, c.parts))
            return Statement(
                one_line(without_reference_marks(c.text)), (number,), c.section, _task_of(c, frame)
            )

        companion = _companion(question, lead, ranked, frame)
        rest = [s for s in rest if s is not companion]
        bottom = statement(lead)
        if companion is not None:
            # "Dose and how many days?": the value the lead does not give, from the unit of
            # the same document that gives it, joins the bottom line.
            more = statement(companion)
            bottom = replace(
                bottom,
                text=f"{bottom.text} {more.text}",
                citations=tuple(dict.fromkeys((*bottom.citations, *more.citations))),
            )
        if (
            not bottom.text.startswith(("No — ", "Yes — "))
            and (band := band_clause(question, lead.candidate, patient_values(question, frame)))
            is not None
        ):
            # "Target dose: 25 mg twice daily (50 mg twice daily if > 85 kg)" for 95 kg: the
            # clause whose band holds for this patient leads, in the source's words.
            bottom = replace(bottom, text=f"{band} {bottom.text}", computed=True)
        if opening := patient_verdict(question, lead.candidate, frame):
            bottom = replace(bottom, text=opening + bottom.text, computed=True)
        statements = tuple(statement(s) for s in rest)
        return Draft(statements, tuple(citations), bottom, self.name)
