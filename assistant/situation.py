"""The clinical situation of a conversation: what holds for the patient from turn to turn.

A conversation is about someone: "Starting argatroban for confirmed HIT in an 80 kg man" and
then "he's now having a brisk upper GI bleed" is a man with HIT who now bleeds, on argatroban.
Each user turn adds to the situation; a follow-up keeps everything it does not change; a newer
value replaces an older one of the same kind (a new CrCl, a drug named "rather than" the old
one); a condition goes only when the user negates it ("no longer bleeding", "HIT ruled out"),
never because a later turn does not repeat it. The subject (the first turn's drugs and use)
stays with the conversation so that a follow-up's search still looks for it.

The words are data (the ``situation`` and ``measures`` sections of
``assistant/data/frame.yaml``); this module holds the mechanism only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

from corpus.yamlio import load_yaml
from guardrails.measures import read_values
from guardrails.patient import Patient
from retrieval.tokenize import tokenize

DATA = Path(__file__).resolve().parent / "data" / "frame.yaml"


@dataclass(frozen=True, slots=True)
class _ConditionWords:
    id: str
    words: re.Pattern[str]
    negatable: re.Pattern[str]
    name: str
    fact: str | None
    measured: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class _Words:
    conditions: tuple[_ConditionWords, ...]
    negated_before: re.Pattern[str]
    negated_after: re.Pattern[str]
    procedures: tuple[tuple[str, re.Pattern[str]], ...]
    replaced_after: re.Pattern[str]
    instead: re.Pattern[str]
    unavailable_before: re.Pattern[str]
    unavailable_after: re.Pattern[str]
    taking_before: re.Pattern[str]
    generic: frozenset[str]
    measure: re.Pattern[str]


@lru_cache(maxsize=1)
def _words() -> _Words:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))
    s, m = raw["situation"], raw["measures"]

    def rx(pattern: str) -> re.Pattern[str]:
        return re.compile(pattern, re.IGNORECASE)

    conditions = tuple(
        _ConditionWords(
            id=cid,
            words=rx(c["words"]),
            negatable=rx(c.get("negatable") or c["words"]),
            name=c["name"],
            fact=c.get("fact"),
            measured=tuple((str(m), float(b)) for m, b in c.get("measured", ())),
        )
        for cid, c in s["conditions"].items()
    )
    # A measure is a word (letters, digits, "/" or "-": "CrCl", "4Ts", "pH", "K") then the
    # words allowed between it and its number, the number, and perhaps a unit.
    measure = rx(
        r"(?<![\w/.-])(?P<measure>(?=[\w/-]*[A-Za-z])\w[\w/-]*)(?P<between>" + m["between"] + r")"
        r"(?<=[\s=:])(?P<value>\d+(?:[.,]\d+)?)(?![\d.,]*\d)"
        r"(?:\s?(?P<unit>(?:" + m["units"] + r")(?![\w/])))?"
    )
    return _Words(
        conditions=conditions,
        negated_before=rx(s["negated_before"]),
        negated_after=rx(s["negated_after"]),
        procedures=tuple((k, rx(v)) for k, v in s["procedures"].items()),
        replaced_after=rx(s["replaced_after"]),
        instead=rx(s["instead"]),
        unavailable_before=rx(s["unavailable_before"]),
        unavailable_after=rx(s["unavailable_after"]),
        taking_before=rx(s["taking_before"]),
        generic=frozenset(str(w).lower() for w in s["generic_words"]),
        measure=measure,
    )


@dataclass(frozen=True, slots=True)
class Situation:
    """What holds in a conversation after its latest user turn."""

    drugs: tuple[str, ...] = ()  # the drugs in play, canonical names, oldest first
    uses: frozenset[str] = frozenset()  # indication ids of the dose reference in play
    condition: str | None = None  # the asked condition, when it is no known indication
    conditions: frozenset[str] = frozenset()  # patient conditions that hold (hit, aki, ...)
    negated: frozenset[str] = frozenset()  # conditions the user said no longer hold
    procedures: frozenset[str] = frozenset()  # procedures and settings named (pci, surgery)
    patient: Patient = field(default_factory=Patient)
    subject_drugs: tuple[str, ...] = ()  # the first turn's drugs
    subject_use: str | None = None  # the first turn's indication id, else its asked condition
    subject_words: tuple[str, ...] = ()  # the first turn's clinical words
    # What the latest turn adds: its content words (search stems) no earlier user turn
    # said, and the patient conditions it is the first to name. A follow-up asks about these
    # ("BP keeps dropping after each dose" adds hypotension to a nimodipine dose), not about
    # the subject it carries.
    turn_words: tuple[str, ...] = ()
    turn_conditions: frozenset[str] = frozenset()
    said: frozenset[str] = frozenset()  # every content word the user turns have said
    answered: str = ""  # what the conversation's last answer said (its bottom line)

    def with_turn(self, turn: TurnReading) -> Situation:
        """This situation after one more user turn."""
        drugs = tuple(d for d in self.drugs if d not in turn.replaced and d not in turn.drugs)
        if turn.drugs and turn.instead_all:
            drugs = ()
        conditions = (self.conditions - turn.negated) | turn.conditions
        negated = (self.negated | turn.negated) - turn.conditions
        first = not (self.subject_drugs or self.subject_use or self.subject_words)
        return replace(
            self,
            drugs=(*drugs, *(d for d in turn.drugs if d not in turn.replaced)),
            uses=turn.uses or self.uses,
            condition=turn.condition or (None if turn.uses else self.condition),
            conditions=conditions,
            negated=negated,
            procedures=self.procedures | turn.procedures,
            patient=self.patient.merged(turn.patient),
            subject_drugs=turn.drugs if first else self.subject_drugs,
            subject_use=(turn.use or turn.condition) if first else self.subject_use,
            subject_words=turn.clinical_words if first else self.subject_words,
            turn_words=tuple(w for w in turn.words if w not in self.said),
            turn_conditions=turn.conditions - self.conditions,
            said=self.said | frozenset(turn.words),
        )

    def condition_names(self, skip: str = "") -> list[str]:
        """How a search names the conditions that hold, but those ``skip`` already names."""
        return [
            c.name
            for c in _words().conditions
            if c.id in self.conditions
            and c.fact  # one the guard judges by; a setting alone would narrow the search
            and not c.words.search(skip)
            and c.name not in skip
        ]

    def turn_news(self) -> str:
        """What the latest turn adds, as a search names it: the drugs in play and the names
        of the conditions the turn is the first to name ("argatroban active bleeding" for
        "he's now having a brisk upper GI bleed"); empty when it names no new condition."""
        names = [c.name for c in _words().conditions if c.id in self.turn_conditions]
        return " ".join([*self.drugs, *names]) if names else ""

    def to_json(self) -> dict[str, object]:
        return {
            "drugs": list(self.drugs),
            "uses": sorted(self.uses),
            "condition": self.condition,
            "conditions": sorted(self.conditions),
            "negated": sorted(self.negated),
            "procedures": sorted(self.procedures),
            "subject": {
                "drugs": list(self.subject_drugs),
                "use": self.subject_use,
                "words": list(self.subject_words),
            },
        }


@dataclass(frozen=True, slots=True)
class TurnReading:
    """What one user turn says about the situation (read by assistant/frame.py)."""

    drugs: tuple[str, ...] = ()
    replaced: frozenset[str] = frozenset()  # drugs named as the ones replaced
    instead_all: bool = False  # "... instead?" with nothing named as replaced
    uses: frozenset[str] = frozenset()
    use: str | None = None  # the most specific use
    condition: str | None = None
    conditions: frozenset[str] = frozenset()
    negated: frozenset[str] = frozenset()
    procedures: frozenset[str] = frozenset()
    patient: Patient = field(default_factory=Patient)
    clinical_words: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # its content words as the search stems them, in order


def unavailable_drugs(text: str, spans: Sequence[tuple[int, int, str]]) -> tuple[str, ...]:
    """The drugs a text says are not to be had ("no andexanet in the hospital", "argatroban
    is unavailable"): every mention of each is so worded. ``spans``: the text's drug
    mentions (start, end, canonical name)."""
    w = _words()
    out: dict[str, bool] = {}
    for start, end, name in spans:
        gone = bool(
            w.unavailable_before.search(text[max(0, start - 12) : start])
            or w.unavailable_after.match(text[end : end + 40])
        )
        out[name] = out.get(name, True) and gone
    return tuple(name for name, gone in out.items() if gone)


def taken_drugs(text: str, spans: Sequence[tuple[int, int, str]]) -> tuple[str, ...]:
    """The drugs a text says the patient already takes ("still on norad", "on max-tolerated
    bisoprolol"), when it also names a drug it does not say so of (the one asked about):
    every mention of each is so worded. ``spans``: the text's drug mentions (start, end,
    canonical name)."""
    w = _words()
    out: dict[str, bool] = {}
    for start, _, name in spans:
        taken = bool(w.taking_before.search(text[max(0, start - 40) : start]))
        out[name] = out.get(name, True) and taken
    if all(out.values()):
        return ()
    return tuple(name for name, taken in out.items() if taken)


def negated_at(text: str, start: int, end: int) -> bool:
    """Whether the words around ``text[start:end]`` negate it ("not on dialysis", "HIT
    ruled out"; situation.yaml's negation words)."""
    w = _words()
    before, after = text[max(0, start - 40) : start], text[end : end + 40]
    return bool(w.negated_before.search(before) or w.negated_after.match(after))


def conditions_in(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """(conditions the text says hold, conditions it negates)."""
    w = _words()
    held: set[str] = set()
    negated: set[str] = set()
    values = read_values(text) if any(c.measured for c in w.conditions) else ()
    for c in w.conditions:
        for m in c.negatable.finditer(text):
            if negated_at(text, m.start(), m.end()):
                negated.add(c.id)
        for m in c.words.finditer(text):
            if not negated_at(text, m.start(), m.end()):
                held.add(c.id)
        for measure, bound in c.measured:
            # "BP 125/80" is no hemodynamic compromise; "SBP 82" is.
            for v in values:
                if v.measure == measure:
                    (held if v.value < bound else negated).add(c.id)
    return frozenset(held), frozenset(negated - held)


def contradicts(scope: str, situation: Situation) -> bool:
    """Whether the words that scope a unit (a table row's label, a branch's condition, a
    list's lead-in) rule out a condition this patient has ("not on dialysis" for a patient on
    CRRT), or name one the conversation ruled out ("HIT" after "HIT ruled out")."""
    held, negated = conditions_in(scope)
    return bool(negated & situation.conditions or held & situation.negated)


def condition_facts(held: frozenset[str], negated: frozenset[str]) -> Patient:
    """The patient facts the conditions set: true for those that hold, false for those
    negated ("HIT ruled out" is hit=False)."""
    facts: dict[str, bool] = {}
    for c in _words().conditions:
        if c.fact and c.id in negated:
            facts[c.fact] = False
        if c.fact and c.id in held:
            facts[c.fact] = True
    return Patient(**facts)  # type: ignore[arg-type]


def procedures_named(text: str) -> frozenset[str]:
    """The procedures and settings a text names (ids of the data's ``procedures``)."""
    return frozenset(p for p, pattern in _words().procedures if pattern.search(text))


def replaced_drugs(text: str, spans: Iterable[tuple[int, int, str]]) -> frozenset[str]:
    """The drugs of ``spans`` (start, end, canonical name) named as the ones replaced
    ("losartan rather than enalapril" replaces enalapril)."""
    pattern = _words().replaced_after
    return frozenset(name for start, _, name in spans if pattern.search(text[:start]))


def says_instead(text: str) -> bool:
    return bool(_words().instead.search(text))


def measures_in(text: str) -> list[str]:
    """The numbers of ``text`` with the measure they belong to and their unit, as written
    ("CrCl 38 mL/min", "score of 6", "pH still 7.18"). A number after a word that names
    nothing ("after 6", "the 3") is no measure."""
    out: list[str] = []
    for m in _words().measure.finditer(text):
        if not tokenize(m.group("measure"), stem=False):
            continue  # a function word: "is 6", "the 3"
        found = m.group().strip()
        if found not in out:
            out.append(found)
    return out


def clinical_words(text: str, common: frozenset[str], limit: int = 6) -> tuple[str, ...]:
    """The words of ``text`` no everyday vocabulary has, and abbreviations ("DKA", "TBI",
    "gallstone pancreatitis"): what a turn that names no known drug or use is about."""
    out: list[str] = []
    for word in re.findall(r"[A-Za-z][A-Za-z0-9/-]+", text):
        acronym = sum(ch.isupper() for ch in word) >= 2
        plain = word.lower()
        if not tokenize(plain, stem=False):
            continue
        if (acronym or (common and plain not in common)) and word not in out:
            out.append(word)
    if not out:
        # Everyday words name the subject too ("Asthma step 3 treatment?"): its content words,
        # but those that ask for care in general (frame.yaml ``situation.generic_words``).
        generic = _words().generic
        for word in re.findall(r"[A-Za-z][A-Za-z0-9/-]{3,}", text):
            plain = word.lower()
            if tokenize(plain, stem=False) and plain not in generic and word not in out:
                out.append(word)
    return tuple(out[:limit])
