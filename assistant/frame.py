"""The question frame: what a question asks, about which drug, for which use and patient.

One typed value read from the question, the conversation and the patient facts given with
it. A follow-up inherits the frame of the turn it follows and overrides only what it says
("what if the CrCl is 20?" keeps "treatment of VTE in septic shock" and changes the CrCl).
The words are data (``assistant/data/frame.yaml``); drugs, indications and patient facts are
read by the guard's own readers, so the assistant and the guard understand a question alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from assistant.situation import (
    Situation,
    TurnReading,
    clinical_words,
    condition_facts,
    conditions_in,
    measures_in,
    negated_at,
    procedures_named,
    replaced_drugs,
    says_instead,
    taken_drugs,
    unavailable_drugs,
)
from assistant.types import Turn
from corpus.yamlio import load_yaml
from guardrails.context import ancestors, find_indications, indication_patterns, related
from guardrails.extraction import find_drugs
from guardrails.lexicon import drug_lexicon
from guardrails.patient import Patient, extract_patient
from guardrails.reference import Condition, Indication, ReferenceTable, default_reference
from guardrails.regimens import condition_holds
from retrieval.tokenize import tokenize

Intent = Literal[
    "dose",
    "choice",
    "monitoring",
    "reversal",
    "switching",
    "duration",
    "safety",
    "definition",
    "education",
    "other",
]
DATA = Path(__file__).resolve().parent / "data" / "frame.yaml"
_FOLLOW_UP = re.compile(
    r"^\s*(?:and|also|what about|how about|what if|and if|if|in|for|with|same|then|but|or|now)\b"
    r"|\b(?:it|its|this|that|these|those|they|them|the same|instead|still|update)\b"
    # The patient of the conversation ("He's now actively bleeding", "just found in her notes").
    r"|\b(?:he|she|he's|she's|his|him|her)\b",
    re.IGNORECASE,
)
_REVERSE = re.compile(r"\b(?:revers|neutrali[sz]|antagoni[sz]|overdos|toxicit)\w*", re.IGNORECASE)
_PARENS = re.compile(r"\s*\([^()]{0,80}\)")
_CUT = re.compile(
    r"\s(?:who|that|which|and|despite|while|whilst|on|receiving|at|weighing|whose|after|before|"
    r"if|when|but|because|since|currently|taking|with an?|aged|age|,)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Words:
    intents: tuple[tuple[str, re.Pattern[str]], ...]
    populations: tuple[tuple[str, re.Pattern[str]], ...]
    phase: tuple[tuple[str, re.Pattern[str]], ...]
    stage: tuple[tuple[str, re.Pattern[str]], ...]
    breakthrough: re.Pattern[str]
    events: re.Pattern[str]
    condition_lead: re.Pattern[str]
    condition_after: re.Pattern[str]
    not_conditions: re.Pattern[str]
    lay_terms: tuple[tuple[re.Pattern[str], str], ...]
    spelling_variants: tuple[tuple[re.Pattern[str], str], ...]
    routes: tuple[tuple[str, re.Pattern[str]], ...]
    clot_sub_uses: tuple[tuple[str, re.Pattern[str]], ...]
    small_talk: re.Pattern[str]
    timing: re.Pattern[str]
    negated: re.Pattern[str]
    shared_terms: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]
    assessing: re.Pattern[str]
    condition_tail: re.Pattern[str]


@lru_cache(maxsize=1)
def _words() -> _Words:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))

    def compiled(pairs: dict[str, str]) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return tuple((k, re.compile(v, re.IGNORECASE)) for k, v in pairs.items())

    return _Words(
        intents=tuple((i["id"], re.compile(i["pattern"], re.IGNORECASE)) for i in raw["intents"]),
        populations=compiled(raw["populations"]),
        phase=compiled(raw["phase"]),
        stage=compiled(raw["stage"]),
        breakthrough=re.compile(raw["breakthrough"], re.IGNORECASE),
        events=re.compile(raw["events"], re.IGNORECASE),
        condition_lead=re.compile(raw["condition_lead"], re.IGNORECASE),
        condition_after=re.compile(raw["condition_after"], re.IGNORECASE),
        not_conditions=re.compile(raw["not_conditions"], re.IGNORECASE),
        lay_terms=tuple((re.compile(k, re.IGNORECASE), v) for k, v in raw["lay_terms"].items()),
        spelling_variants=tuple((re.compile(a), b) for a, b in raw["spelling_variants"]),
        routes=compiled(raw["routes"]),
        clot_sub_uses=compiled(raw["clot_sub_uses"]),
        timing=re.compile(raw["timing"], re.IGNORECASE),
        small_talk=re.compile("|".join(f"(?:{p})" for p in raw["small_talk"]), re.IGNORECASE),
        # "non" negates only the word it is joined to: "non-cancer", not "non-valvular AF".
        negated=re.compile(
            r"(?:\b(?:without|no|not|rule out|ruled out|excluded?)\b[ -](?:[\w-]+ ){0,2}?"
            r"|\bnon[ -])(?P<what>"
            + "|".join(re.escape(t) for terms in raw["negatable"].values() for t in terms)
            + r")\b",
            re.IGNORECASE,
        ),
        shared_terms=tuple(
            (
                re.compile(
                    r"(?<![\w-])(?:"
                    + "|".join(re.escape(t) for t in sorted(e["terms"], key=len, reverse=True))
                    + r")(?![\w-])",
                    re.IGNORECASE,
                ),
                re.compile(e["near"], re.IGNORECASE),
            )
            for e in raw["shared_terms"]
        ),
        assessing=re.compile(raw["assessing"], re.IGNORECASE),
        condition_tail=re.compile(raw["condition_tail"], re.IGNORECASE),
    )


@dataclass(frozen=True, slots=True)
class Frame:
    """What Bedside understood a question to ask."""

    intent: Intent = "other"
    drugs: tuple[str, ...] = ()  # canonical generic names (or a class word such as "lmwh")
    indication: str | None = None  # the most specific indication id of the dose reference
    indications: frozenset[str] = frozenset()
    excluded: frozenset[str] = frozenset()  # indications the question rules out ("no cancer")
    condition: str | None = None  # the asked condition, when it is no known indication
    setting: str | None = None  # the clinical setting named beside a known indication
    phase: Literal["prophylaxis", "treatment"] | None = None
    stage: Literal["initial", "maintenance", "extended"] | None = None
    route: Literal["sc", "iv", "po"] | None = None  # the route the question names
    # ("before", "surgery") for "how long before surgery should apixaban be stopped?"
    timing: tuple[str, str] | None = None
    populations: tuple[
        str, ...
    ] = ()  # children, pregnancy, breastfeeding, elderly, obesity, dialysis
    patient: Patient = field(default_factory=Patient)
    explicit_intent: bool = False  # the question itself says what it asks
    inherited: tuple[str, ...] = ()  # the fields a follow-up took from earlier turns
    follows: bool = False  # the question goes on with the conversation before it
    # Drugs the question says are not to be had ("no andexanet in the hospital").
    ruled_out: tuple[str, ...] = ()
    # Drugs the question says the patient already takes, beside one it asks about ("still on
    # norad, dose of hydrocortisone?"): background, listed after the asked drugs.
    taking: tuple[str, ...] = ()
    # What holds in the conversation after this question (drugs, uses, patient conditions,
    # procedures, the subject of its first turn).
    situation: Situation = field(default_factory=Situation)

    def to_json(self) -> dict[str, Any]:
        p = self.patient
        return {
            "intent": self.intent,
            "drugs": list(self.drugs),
            "indication": self.indication,
            "indications": sorted(self.indications),
            "excluded": sorted(self.excluded),
            "condition": self.condition,
            "setting": self.setting,
            "phase": self.phase,
            "stage": self.stage,
            "route": self.route,
            "timing": list(self.timing) if self.timing else None,
            "populations": list(self.populations),
            "patient": {
                "weight_kg": p.weight_kg,
                "age": p.age,
                "sex": p.sex,
                "serum_creatinine_mg_dl": p.serum_creatinine_mg_dl,
                "crcl_ml_min": None if p.crcl is None else round(p.crcl, 1),
                "hepatic_impairment": p.hepatic_impairment,
                "hit": p.hit,
                "pregnant": p.pregnant,
                "dialysis": p.dialysis,
            },
            "inherited": list(self.inherited),
            "ruled_out": list(self.ruled_out),
            "taking": list(self.taking),
            "situation": self.situation.to_json(),
        }


def indications_in(text: str, table: ReferenceTable) -> set[str]:
    """The indications a text names, read as a clinician would: "heparin (unfractionated
    heparin) non-responders" names heparin resistance, and a clot "despite prophylaxis" is
    an established clot whose treatment is meant."""
    w = _words()
    text = w.negated.sub(lambda m: " " * len(m.group()), text)  # "without HIT" is not HIT
    found = find_indications(text, table) | find_indications(_PARENS.sub("", text), table)
    if not found:
        found = _loose_indications(text, table)
    if w.breakthrough.search(text) and w.events.search(w.breakthrough.sub(" ", text)):
        # The use the clot happened despite (and its descendants) gives way to the use the
        # reference says such a clot asks for.
        for ind in table.indications:
            if ind.despite:
                found = {i for i in found if i != ind.id and ind.id not in ancestors(i, table)}
                found.add(ind.despite)
    return found


def _own_use_words(question: str, drugs: Sequence[str], table: ReferenceTable) -> str:
    """``question`` with every shared indication term blanked out (same length) that does not
    name the dose reference's use here: "secondary prevention after TIA" is not extended VTE
    treatment, "secondary prevention of DVT" and "apixaban for secondary prevention" are."""
    uses = {e.indication for d in drugs for m in table.members(d) for e in table.entries_for(m)}
    out = question
    for sentence in re.finditer(r"[^.?!;]+", question):
        for term, near in _words().shared_terms:
            for m in term.finditer(question, sentence.start(), sentence.end()):
                rest = question[sentence.start() : m.start()] + question[m.end() : sentence.end()]
                named = find_indications(m.group(), table)
                if near.search(rest) or (uses and related(named, uses, table)):
                    continue
                out = out[: m.start()] + " " * (m.end() - m.start()) + out[m.end() :]
    return out


def _doses_for(drugs: Sequence[str], use: str, table: ReferenceTable) -> bool:
    """Whether a question about ``drugs`` can ask for their dose for ``use``: every drug it
    names that the reference doses is dosed for that use (andexanet after a bleed on
    apixaban "for VTE" is dosed for reversal, not for the clot)."""
    for drug in drugs:
        uses = {e.indication for m in table.members(drug) for e in table.entries_for(m)}
        if uses and not related({use}, uses, table):
            return False
    return True


def _indication(ind_id: str | None, table: ReferenceTable) -> Indication | None:
    by_id = table.memo("indications_by_id", lambda: {i.id: i for i in table.indications})
    return by_id.get(ind_id) if ind_id else None


def _lineage(ind_id: str, table: ReferenceTable) -> list[Indication]:
    """An indication, its parent, its parent's parent ... (nearest first)."""
    out: list[Indication] = []
    current = _indication(ind_id, table)
    while current is not None and current not in out:
        out.append(current)
        current = _indication(current.parent, table)
    return out


def phase_of(ind_id: str, table: ReferenceTable) -> str | None:
    """The phase of care (prophylaxis, treatment) an indication is, from it or its nearest
    ancestor that states one."""
    return next((i.phase for i in _lineage(ind_id, table) if i.phase), None)


def stage_of(ind_id: str, table: ReferenceTable) -> str | None:
    """The treatment stage an indication itself is (the extended phase), if any."""
    found = _indication(ind_id, table)
    return found.stage if found else None


def clot_indication(table: ReferenceTable) -> str | None:
    """The use a question asks for when it names a clot and no other use."""
    return next((i.id for i in table.indications if i.clots), None)


def intent_indication(intent: str, table: ReferenceTable) -> str | None:
    """The indication whose doses a question of this intent asks for (reversal), if any."""
    return next((i.id for i in table.indications if i.intent == intent), None)


def excluded_in(text: str, table: ReferenceTable) -> frozenset[str]:
    """The indications a text rules out ("a patient who does not have cancer" rules out
    cancer-associated VTE; "without HIT" rules out HIT): those one of whose terms holds the
    negated word."""
    out: set[str] = set()
    for m in _words().negated.finditer(text):
        word = re.compile(rf"\b{re.escape(m.group('what'))}\b", re.IGNORECASE)
        out |= {i.id for i in table.indications if any(word.search(t) for t in i.terms)}
    return frozenset(out)


def timing_in(text: str) -> tuple[str, str] | None:
    """The direction ("before" or "after") and the event a timing question names."""
    m = _words().timing.search(text)
    if m is None:
        return None
    before = m.group("dir").lower() in ("before", "prior to", "ahead of")
    return ("before" if before else "after", m.group("event").lower())


def blank_indication_terms(text: str, table: ReferenceTable) -> str:
    """``text`` with every indication term blanked out (same length)."""
    for _, pattern in indication_patterns(table):
        text = pattern.sub(lambda m: " " * len(m.group()), text)
    return text


def without_small_talk(text: str) -> str:
    """``text`` without sign-offs and courtesies ("Thanks in advance.", "Any advice is
    welcome"); the text itself when nothing else would be left."""
    plain = re.sub(r"\s{2,}", " ", _words().small_talk.sub(" ", text)).strip()
    return plain if any(ch.isalnum() for ch in plain) else text


def without_use_words(text: str) -> str:
    """``text`` without a "despite prophylaxis" phrase (the background, not the question)."""
    return _words().breakthrough.sub(" ", text)


_STOP = frozenset(
    {"a", "an", "the", "of", "for", "in", "with", "or", "and", "to", "on", "my", "his", "her"}
)


_TERM_STEMS: dict[str, tuple[tuple[str, frozenset[str]], ...]] = {}


def _term_stems(table: ReferenceTable) -> tuple[tuple[str, frozenset[str]], ...]:
    """Each indication term of two or more words as its set of stemmed words (per table)."""
    if table.digest in _TERM_STEMS:
        return _TERM_STEMS[table.digest]
    out = []
    for ind in table.indications:
        for term in ind.terms:
            stems = frozenset(t for t in tokenize(term) if t not in _STOP)
            if len(stems) >= 2:
                out.append((ind.id, stems))
    _TERM_STEMS[table.digest] = tuple(out)
    return _TERM_STEMS[table.digest]


def _loose_indications(text: str, table: ReferenceTable) -> set[str]:
    """Indications whose term's words all stand in ``text`` in any form: "treating a DVT" is
    "treat DVT", "to treat a PE" is "treat PE". Used when no term stands there as written."""
    words = set(tokenize(text))
    found = {ind for ind, stems in _term_stems(table) if stems <= words}
    covered = set().union(*(ancestors(i, table) for i in found)) if found else set()
    return found - covered


def spelling_variants() -> tuple[tuple[re.Pattern[str], str], ...]:
    """British and American spellings as (pattern inside a lower-case word, replacement)
    (frame.yaml ``spelling_variants``)."""
    return _words().spelling_variants


def lay_words(text: str) -> str:
    """The sources' words for the plain words of ``text`` ("blood thinner" -> anticoagulant)."""
    return " ".join(words for pattern, words in _words().lay_terms if pattern.search(text))


def indication_name(indication: str, table: ReferenceTable) -> str:
    """How an answer names an indication id ("treatment of DVT or PE")."""
    names = _indication_names()
    if indication in names:
        return names[indication]
    found = next((i for i in table.indications if i.id == indication), None)
    return found.terms[0] if found else indication


@lru_cache(maxsize=1)
def _indication_names() -> dict[str, str]:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))
    return dict(raw.get("indication_names") or {})


@lru_cache(maxsize=1)
def _patient_domains() -> tuple[tuple[str, tuple[Condition, ...]], ...]:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))
    return tuple(
        (
            d["words"],
            tuple(Condition(id=d["id"], words=d["id"], **c) for c in d["when"]),
        )
        for d in raw["patient_domains"]
    )


def patient_domain_words(patient: Patient) -> str:
    """The words (a regular-expression alternation) with which sources speak of this
    patient's known facts ("renal|kidney|CrCl..." for a CrCl of 25); empty when none holds."""
    return "|".join(
        words
        for words, when in _patient_domains()
        if any(condition_holds(c, patient) for c in when)
    )


def population_named(population: str, text: str) -> bool:
    """Whether ``text`` speaks of ``population`` (children, pregnancy, ...), not only to rule
    it out ("not on dialysis" is about other patients)."""
    pattern = dict(_words().populations).get(population)
    return bool(
        pattern and any(not negated_at(text, m.start(), m.end()) for m in pattern.finditer(text))
    )


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    if not any(t.role == "user" for t in history):
        return False
    return bool(_FOLLOW_UP.search(question)) or len(question.split()) <= 6


def _specific(found: set[str], table: ReferenceTable) -> str | None:
    """The most specific of the indications found: a procedure named beside a condition
    ("bypass in a patient with HIT") first, else the deepest in the parent tree."""
    if not found:
        return None
    procedures = procedures_in(found, table)
    return max(sorted(found), key=lambda i: (i in procedures, len(ancestors(i, table))))


def procedures_in(found: set[str] | frozenset[str], table: ReferenceTable) -> set[str]:
    """The procedures (PCI, cardiac surgery) among indication ids."""
    return {i.id for i in table.indications if i.procedure and i.id in found}


def _condition(question: str, table: ReferenceTable) -> str | None:
    """The condition a question asks about: the phrase after "for", "in", "with" ... that
    names no drug, use, patient fact or population. A feature named with "in"/"with" after
    the question's opening condition ("Hypertensive emergency, BP 230/130 with
    encephalopathy") does not replace that condition."""
    w = _words()
    pos = 0
    while m := w.condition_after.search(question, pos):
        # A rejected phrase may hold the next one ("for a child with meningitis").
        pos = m.start("phrase")
        phrase = _condition_phrase(m.group("phrase"), table)
        if phrase is None:
            continue
        if m.group().split()[0].lower() in ("in", "with"):
            opening = re.match(
                r"\s*([^,;:.?!()\u2013\u2014]+?)(?:\s+-\s|[,;:.?!(\u2013\u2014])", question
            )
            if opening and opening.end() <= m.start():
                main = _condition_phrase(opening.group(1), table)
                if main and not _CONDITION_WORD.search(main):
                    return main
        return phrase
    return None


_CONDITION_WORD = re.compile(r"\b(?:for|in|with|treating|treat|managing|manage)\b", re.I)


def _condition_phrase(phrase: str, table: ReferenceTable) -> str | None:
    """A candidate phrase as a condition ("AUD - dose and frequency" is "aud"), or None when
    it names no condition."""
    w = _words()
    cut = _CUT.search(" " + phrase)
    if cut:
        phrase = (" " + phrase)[: cut.start()].strip()
    prev = None
    while prev != phrase:
        prev = phrase
        phrase = w.condition_lead.sub("", phrase).strip()
        phrase = w.condition_tail.sub("", phrase).strip(" :;-\u2013\u2014")
    words = phrase.split()
    if not words or len(words) > 6 or w.not_conditions.search(phrase):
        return None
    if find_drugs(phrase, drug_lexicon()) or find_indications(phrase, table) or lay_words(phrase):
        return None
    if procedures_named(phrase):
        return None  # "in the circuit", "after the operation": where, not what
    if not extract_patient(phrase).is_empty() or any(p.search(phrase) for _, p in w.populations):
        return None  # "in hepatic impairment", "in children": who, not what
    if not any(ch.isalpha() for ch in phrase) or re.search(r"\d", phrase):
        return None
    return phrase.lower()


def _own_frame(question: str, table: ReferenceTable, asks: str | None = None) -> Frame:
    """The frame of one question read alone (patient facts are added by read_frame); the
    asked condition is read from ``asks``, the message's asking sentences, when given."""
    w = _words()
    intent: Intent = "other"
    explicit = False
    # An indication's own words ask for no management: "enoxaparin for DVT treatment" names a
    # use, it does not ask for the treatment options.
    asking = blank_indication_terms(question, table)
    for name, pattern in w.intents:
        if pattern.search(asking if name == "choice" else question):
            intent, explicit = name, True  # type: ignore[assignment]
            break
    # "reverse dabigatran": the guard reads the dabigatran of that phrase as the drug being
    # reversed, not dosed; the frame wants both.
    plain = _REVERSE.sub(lambda m: " " * len(m.group()), question)
    spans = find_drugs(plain, drug_lexicon())
    ruled_out = unavailable_drugs(plain, spans)
    drugs = tuple(dict.fromkeys(name for _, _, name in spans if name not in ruled_out))
    # A reversal agent's question is about the drug taken too: both stay asked.
    reversal = {i.id for i in table.indications if i.intent == "reversal"}
    agents = {e.drug for e in table.doses if e.indication in reversal}
    taken = () if agents & set(drugs) else taken_drugs(plain, spans)
    taking = tuple(d for d in taken if d in drugs)
    drugs = (*(d for d in drugs if d not in taking), *taking)
    own_words = _own_use_words(question, drugs, table)
    found = indications_in(own_words, table) or indications_in(lay_words(question), table)
    assessing = bool(w.assessing.search(question))
    if assessing:
        # "Wells score for acute PE": how to assess the clot, not how to treat it.
        found = {i for i in found if phase_of(i, table) != "treatment"}
    indication = _specific(found, table)
    phase = phase_of(indication, table) if indication else None
    if phase is None:
        for name, pattern in w.phase:
            if pattern.search(question):
                phase = name
                break
    stage = next((name for name, pattern in w.stage if pattern.search(question)), None)
    if indication and stage_of(indication, table):
        stage = stage_of(indication, table)
    populations = tuple(name for name, pattern in w.populations if pattern.search(question))
    asked = _condition(asks if asks is not None else focus(question), table)
    condition, setting = (None, asked) if indication else (asked, None)
    positive = w.negated.sub(lambda m: " " * len(m.group()), question)
    sub_use = next((i for i, p in w.clot_sub_uses if p.search(positive)), None)
    clot = clot_indication(table)
    if (
        clot
        and not indication
        and not assessing
        and _doses_for(drugs, clot, table)
        and (condition is None or w.events.search(condition) or sub_use)
        and w.events.search(question)
        and not w.phase[0][1].search(question)
    ):
        # "for pulmonary embolism", "new proximal DVT": a dose for a clot is its treatment.
        indication, condition, found = clot, None, {clot}
        phase = phase_of(clot, table)
    parent = getattr(_indication(sub_use, table), "parent", None)
    if indication and indication == parent and sub_use and w.events.search(question):
        # "a cancer patient with a new PE": the clot of that sub-use.
        indication, found = sub_use, (set(found) - {indication}) | {sub_use}
    route = next((name for name, pattern in w.routes if pattern.search(question)), None)
    return Frame(
        intent=intent,
        drugs=drugs,
        indication=indication,
        indications=frozenset(found),
        excluded=excluded_in(question, table),
        condition=condition,
        setting=setting,
        phase=phase,  # type: ignore[arg-type]
        stage=stage,  # type: ignore[arg-type]
        route=route,  # type: ignore[arg-type]
        timing=timing_in(question),
        populations=populations,
        explicit_intent=explicit,
        ruled_out=ruled_out,
        taking=taking,
    )


def _inherit(own: Frame, earlier: Frame) -> Frame:
    """A follow-up: what the new question does not say comes from the earlier frame."""
    taken: list[str] = []
    changes: dict[str, Any] = {}
    if not own.drugs and earlier.drugs:
        changes["drugs"] = earlier.drugs
        taken.append("drugs")
    if not own.indication and not own.condition:
        if earlier.indication or earlier.condition:
            changes.update(
                indication=earlier.indication,
                indications=earlier.indications,
                excluded=own.excluded | earlier.excluded,
                condition=earlier.condition,
                setting=own.setting or earlier.setting,
            )
            taken.append("indication")
        if own.phase is None and earlier.phase is not None:
            changes["phase"] = earlier.phase
            taken.append("phase")
    if not own.explicit_intent and earlier.intent != "other":
        changes["intent"] = earlier.intent
        changes["explicit_intent"] = earlier.explicit_intent
        taken.append("intent")
    if own.stage is None and earlier.stage is not None and "indication" in taken:
        changes["stage"] = earlier.stage
        taken.append("stage")
    if own.route is None and earlier.route is not None and "indication" in taken:
        changes["route"] = earlier.route
        taken.append("route")
    merged_pops = tuple(dict.fromkeys(earlier.populations + own.populations))
    if merged_pops != own.populations:
        changes["populations"] = merged_pops
        taken.append("populations")
    return replace(own, inherited=tuple(taken), **changes)


def read_frame(
    question: str,
    history: Sequence[Turn] = (),
    patient: Patient | None = None,
    table: ReferenceTable | None = None,
) -> Frame:
    """The frame of ``question`` in this conversation, with the patient facts of every user
    turn (later turns win) and then the explicit ``patient`` facts (they win over text), and
    the conversation's situation after it (assistant/situation.py)."""
    table = table or default_reference()
    users = [without_small_talk(t.content) for t in history if t.role == "user"]
    # The asking sentences are found in the message as written: once its courtesies are
    # gone a long message may look short, and its small talk ("worried about this for a
    # couple of weeks") would be read as the asked condition.
    asking = without_small_talk(focus(question))
    question = without_small_talk(question)
    frame = _own_frame(question, table, asking)
    owns = [_own_frame(turn, table) for turn in users]
    # A turn that names no use of its own ("Argatroban then. What dose?" after "Suspected
    # HIT, what do I start?") goes on with the conversation's use.
    no_use = not (frame.indication or frame.condition)
    follows = bool(users) and (is_follow_up(question, history) or no_use)
    if follows:
        earlier = owns[0]
        for i, here in enumerate(owns[1:], start=1):
            prior = [Turn("user", u) for u in users[:i]]
            bare = not (here.indication or here.condition)
            turn = users[i]
            earlier = _inherit(here, earlier) if is_follow_up(turn, prior) or bare else here
        frame = _inherit(frame, earlier)
    situation = Situation()
    for turn, own in zip([*users, question], [*owns, frame], strict=True):
        situation = situation.with_turn(_reading(turn, own, table))
    facts = situation.patient.merged(patient) if patient else situation.patient
    sentences = re.split(r"(?<=[.!?:;])\s+", question)
    asks = any(_ASKING.match(s) for s in sentences)
    news = follows and bool(situation.turn_conditions)
    words = [m.group("word").lower() for s in sentences if (m := _OWN_ASKING.match(s))]
    if "intent" in frame.inherited and words and (news or "when" in words):
        # "He's now bleeding. Do we still start argatroban?" after a dose question asks
        # whether, not how much, and "when do I add rifampin?" asks when: a question of its
        # own, with a new condition or about timing, keeps no earlier intent.
        frame = replace(frame, intent="other", explicit_intent=False)
    if follows and frame.drugs:
        # "What if he was on losartan rather than enalapril?": the replaced drug is out of
        # play, and the drugs the conversation still has in play stay in the frame.
        spans = find_drugs(question, drug_lexicon())
        gone = replaced_drugs(question, spans)
        if gone:
            kept = [d for d in frame.drugs if d not in gone]
            frame = replace(frame, drugs=tuple(dict.fromkeys([*kept, *situation.drugs])))
    if (
        not news
        and frame.intent == "other"
        and frame.drugs
        and not asks
        and (frame.indication or not extract_patient(question).is_empty())
    ):
        # Shorthand with no question word ("apixaban for AF in a 79-year-old weighing 58 kg")
        # asks for the dose; "When can warfarin be started in HIT?" does not.
        frame = replace(frame, intent="dose")
    if set(frame.populations) & situation.negated:
        # "not on dialysis", "not pregnant": a group the conversation rules out is not asked.
        frame = replace(
            frame, populations=tuple(p for p in frame.populations if p not in situation.negated)
        )
    if facts.age is not None and facts.age < 18 and "children" not in frame.populations:
        frame = replace(frame, populations=(*frame.populations, "children"))
    # The answer the follow-up follows: a unit it quoted is not the news a follow-up asks for.
    answered = next((t.content for t in reversed(history) if t.role == "assistant"), "")
    situation = replace(situation, patient=facts, answered=answered)
    return replace(frame, patient=facts, follows=follows, situation=situation)


def _reading(text: str, own: Frame, table: ReferenceTable) -> TurnReading:
    """What one user turn says about the situation. ``own`` is the turn's frame (inherited
    fields are not the turn's own words and are left out)."""
    from guardrails.lexicon import common_words

    plain = _REVERSE.sub(lambda m: " " * len(m.group()), text)
    spans = find_drugs(plain, drug_lexicon())
    named = tuple(dict.fromkeys(name for _, _, name in spans))
    replaced = replaced_drugs(plain, spans) | frozenset(unavailable_drugs(plain, spans))
    held, negated = conditions_in(text)
    inherited = set(own.inherited)
    uses = frozenset() if "indication" in inherited else own.indications
    # The subject's words: those no drug name or use term already says.
    rest = blank_indication_terms(text, table)
    for start, end, _ in spans:
        rest = rest[:start] + " " * (end - start) + rest[end:]
    return TurnReading(
        drugs=named,
        replaced=replaced,
        instead_all=says_instead(text) and not replaced,
        uses=uses,
        use=None if "indication" in inherited else own.indication,
        condition=None if "indication" in inherited else own.condition,
        conditions=held,
        negated=negated,
        procedures=procedures_named(text) | procedures_in(uses, table),
        patient=extract_patient(text).merged(condition_facts(held, negated)),
        clinical_words=clinical_words(focus(rest), common_words()),
        words=tuple(dict.fromkeys(tokenize(f"{focus(text)} {lay_words(focus(text))}"))),
    )


# A question word that asks something of its own, not "what" or "how" going on with the
# question before ("what if ...", "how about ...").
_OWN_ASKING = re.compile(
    r"^\W*(?:(?:update|now|so|ok|okay|then)\W+)?"
    r"(?P<word>can|could|is|are|does|do|did|why|when|should|will|would|still)\b",
    re.IGNORECASE,
)
_ASKING = re.compile(
    r"^\W*(?:what|how|can|could|is|are|does|do|did|why|when|which|should|will|would|where|who)\b",
    re.IGNORECASE,
)


def focus(question: str) -> str:
    """The sentences of a message that ask something or say something clinical: a question
    mark, a question word, a drug, a use, a patient fact, or a word no everyday vocabulary
    has. Greetings, small talk and thanks ("Good evening, this is Grace.", "I was at the
    pharmacy yesterday and nobody could tell me") are left out. A short message keeps every
    sentence but its chat: a greeting, or a sentence about the writer ("We have been worried
    about this for a couple of weeks.") that names no drug, no number and no word outside
    everyday vocabulary. A one-sentence question is returned as it is."""
    # Messages are typed loosely: any end mark starts a new sentence, capital or not.
    sentences = re.split(r"(?<=[.!?])\s+", question.strip())
    if len(sentences) < 2:
        return question
    from guardrails.lexicon import common_words

    short = len(question.split()) <= 25
    common = common_words()
    table = default_reference()
    keep = []
    for sentence in sentences:
        words = re.findall(r"[A-Za-z]{3,}", sentence)
        rare = [w for w in words if w.lower() not in common and not w[0].isupper()]
        asks = (
            "?" in sentence
            or _ASKING.match(sentence)
            or find_drugs(sentence, drug_lexicon())
            or rare
            or find_indications(sentence, table)
            or not extract_patient(sentence).is_empty()
        )
        if asks or (short and not _chat(sentence)):
            keep.append(sentence)
    if short and len(keep) == len(sentences):
        return question
    return " ".join(keep) or question


_GREETING = re.compile(
    r"^\W*(?:hi|hello|hey|dear\b[^.!?]*|good (?:morning|afternoon|evening|day)|greetings)\b"
    r"[^.!?]*[.!?]*$|^\W*(?:this is|my name is) [A-Z]\w*\W*$",
    re.IGNORECASE,
)
_WRITER = re.compile(r"\b(?:i|i'm|me|my|we|we've|us|our)\b", re.IGNORECASE)


def _chat(sentence: str) -> bool:
    """A greeting or a sentence about the writer with no number, abbreviation or clinical
    use in it ("My patient has AF." is no chat)."""
    if re.search(r"\d|\b[A-Z]{2,}\b", sentence):
        return False
    if find_indications(sentence, default_reference()):
        return False
    return bool(_GREETING.match(sentence) or _WRITER.search(sentence))


def query_for(question: str, frame: Frame, table: ReferenceTable | None = None) -> str:
    """The standalone retrieval query: the asking part of the message with every number the
    message gives beside its measure ("CrCl 38 mL/min", "score of 6"); a follow-up carries
    the conversation's subject (its first turn's drugs and use, or that turn's clinical words
    when it names neither), the drugs and use it inherited, and the patient conditions that
    still hold, in front of its own words."""
    full = question
    question = without_small_talk(focus(question))
    lay = lay_words(question)
    if lay:
        question = f"{question} ({lay})"
    dropped = [m for m in measures_in(full) if m not in question]
    if dropped:
        question = " ".join([question, *dropped])
    if not (frame.inherited or frame.follows):
        return question
    table = table or default_reference()
    s = frame.situation
    carried: list[str] = []

    def carry(*words: str | None) -> None:
        said = " ".join([*carried, question]).lower()
        carried.extend(w for w in words if w and w.lower() not in said)

    def use_words(use: str | None) -> str | None:
        found = _indication(use, table)
        return found.terms[0] if found else use

    # The subject's drugs, unless the question names drugs of its own without saying which
    # they replace ("what about bivalirudin?" asks about bivalirudin alone).
    own_drugs = () if "drugs" in frame.inherited else frame.drugs
    replaced = own_drugs and any(d not in s.drugs for d in s.subject_drugs)
    if not own_drugs or replaced:
        carry(*(d for d in s.subject_drugs if d in s.drugs))
    if "drugs" in frame.inherited:
        carry(*frame.drugs)
    carry(use_words(s.subject_use))
    if "indication" in frame.inherited:
        carry(use_words(frame.indication), frame.condition, frame.setting)
    if not (s.subject_drugs or s.subject_use):
        # Words stand for the subject only when it names no known drug or use: beside one,
        # they would make the search (and what it must cover) about every word of turn one.
        carry(*s.subject_words)
    said = " ".join([*carried, question])
    carry(*s.condition_names(said))
    return " ".join([*carried, question]) if carried else question
