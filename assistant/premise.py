"""Premise checks: a question that proposes an action, and a unit that says not to take it.

Clinicians often ask for approval rather than information: "Start spironolactone?", "ok to
push SBP down to 115-120?", "so no statin needed, right?". When the corpus says not to (
"Do not combine ACE inhibitor + ARB (Class III: Harm)", "DELAY insulin until K+ > 3.5"),
the answer must say No first and cite that unit. This module gives the caller three reads:

- ``read_proposal(question)``: the proposed action (a class of ``assistant/data/premise.yaml``:
  start, add, continue, stop, combine, switch, substitute, give, lower, taper, restart,
  skip), its objects (drugs by the guard's drug lexicon, drug classes by the YAML class map,
  and the content words of the object phrase), whether the question asserts a premise
  ("..., right?", "to be safe", "since ..."), and the span. A question that only asks for a
  fact ("What dose ...?", "What are the options ...?") is not a proposal.
- ``refutes(proposal, unit_text, context)``: whether the unit says not to take that action
  for those objects: a negative cue whose negated action refutes the proposed one and whose
  object (nearest drug or class in the cue's clause, else the unit's context) is the proposed
  object or a class it belongs to. A negation about another drug in the same sentence does
  not count; nor does a negation of another action ("Do not stop SGLT2i" does not refute
  "start dapagliflozin?").
- ``supports(proposal, unit_text, context)``: whether the unit affirms the action, so that a
  caller can weigh both.

What it does not do: guess the answer from the question's wording. A question that asserts a
premise is not "probably wrong"; only a unit of the corpus refutes it. There is deliberately
no ``affirmed(question)``.

All clinical and cue words are data (``assistant/data/premise.yaml``), read once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from corpus.yamlio import load_yaml
from guardrails.context import DrugClass, drug_classes
from guardrails.extraction import find_drugs
from guardrails.lexicon import drug_lexicon

DATA = Path(__file__).resolve().parent / "data" / "premise.yaml"
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+*./-]*[A-Za-z0-9+]|[A-Za-z0-9]")
_FLAGS = re.IGNORECASE
_GIVE = "give"  # what a negative cue with no action verb of its own negates (the generic use)
_VERB_REACH = 40  # characters after a cue in which its action verb is looked for

Look = Literal["after", "before", "either"]
Stance = Literal["refutes", "supports"]


# ------------------------------------------------------------------ values


@dataclass(frozen=True, slots=True)
class Proposal:
    """An action a question proposes or asks approval for.

    ``action`` is an action class id of premise.yaml; ``verb`` the question's words for it.
    ``drugs`` are canonical names (the guard's drug lexicon); ``classes`` the class ids of
    premise.yaml the question names or its drugs belong to; ``words`` the content words of
    the object phrase ("sbp", "115-120"). ``asserts`` is whether the question asserts a
    premise; ``premise`` the words that do. ``span`` is (start, end) in the question.
    ``setting`` holds the content words of the whole question: what it says of the patient
    ("triple-positive antiphospholipid"), against which a unit's stated condition is read.
    """

    action: str
    verb: str
    drugs: tuple[str, ...]
    classes: tuple[str, ...]
    words: tuple[str, ...]
    asserts: bool
    premise: str | None
    span: tuple[int, int]
    setting: tuple[str, ...] = ()

    @property
    def has_objects(self) -> bool:
        return bool(self.drugs or self.classes or self.words)


@dataclass(frozen=True, slots=True)
class Judgement:
    """What a unit says about a proposal: ``stance`` refutes or supports.

    ``cue`` is the cue id of premise.yaml, ``text`` its words and ``span`` (start, end) in the
    unit text. ``negated`` is the action class the cue negates (or affirms). ``target`` is
    the object it was scoped to: a drug, a class id or a content word; empty where the cue
    names an action only and neither the unit nor its context names any agent. ``in_context``
    is whether the object was found only in the context (heading path, lead-in, header).
    ``conditional`` is whether the cue's clause states a condition ("if", "below 30"): the
    refutation holds only where it does, which the caller weighs against the patient;
    ``unstated`` that the condition is in words the question does not state ("contraindicated
    in active major bleeding" for a patient going home), so nothing of the patient meets it.
    """

    stance: Stance
    cue: str
    text: str
    span: tuple[int, int]
    negated: str
    target: str
    in_context: bool
    conditional: bool
    unstated: bool = False


Refutation = Judgement
Support = Judgement


# ------------------------------------------------------------------ rules (data)


@dataclass(frozen=True, slots=True)
class _Action:
    id: str
    verbs: re.Pattern[str]
    refuted_by: frozenset[str]
    inverse: bool
    whole_question: bool  # its objects are every agent the question names


@dataclass(frozen=True, slots=True)
class _Cue:
    id: str
    pattern: re.Pattern[str]
    negates: str  # an action id, or "verb": the verb after the cue names it
    look: Look
    exclusive: bool


@dataclass(frozen=True, slots=True)
class _Rules:
    actions: tuple[_Action, ...]
    combine_connectors: re.Pattern[str]
    switch_to: re.Pattern[str]
    frames: tuple[re.Pattern[str], ...]
    bare_frames: tuple[re.Pattern[str], ...]
    bare_open: re.Pattern[str]
    bare_not: re.Pattern[str]
    bare_approval: re.Pattern[str]
    bare_words: int
    passive_frame: re.Pattern[str]
    passive_verb: re.Pattern[str]
    premise: tuple[re.Pattern[str], ...]
    confirm: tuple[re.Pattern[str], ...]
    not_proposals: tuple[re.Pattern[str], ...]
    object_stops: re.Pattern[str]
    stopwords: frozenset[str]
    clause_breaks: re.Pattern[str]
    negative: tuple[_Cue, ...]
    positive: tuple[_Cue, ...]
    condition: re.Pattern[str]
    branch: re.Pattern[str]
    classes: tuple[DrugClass, ...]

    def action(self, action_id: str) -> _Action:
        for a in self.actions:
            if a.id == action_id:
                return a
        raise KeyError(action_id)


def _alternation(patterns: Iterable[str]) -> str:
    return "|".join(f"(?:{p})" for p in patterns)


def _cue(raw: dict[str, Any]) -> _Cue:
    return _Cue(
        id=str(raw["id"]),
        pattern=re.compile(raw["pattern"], _FLAGS),
        negates=str(raw.get("negates", "verb")),
        look=raw.get("look", "either"),
        exclusive=bool(raw.get("exclusive", False)),
    )


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    raw = load_yaml(DATA.read_text(encoding="utf-8"))
    actions = tuple(
        _Action(
            id=name,
            verbs=re.compile(rf"(?<![\w-])(?:{_alternation(a['verbs'])})(?![\w-])", _FLAGS),
            refuted_by=frozenset(a["refuted_by"]),
            inverse=bool(a.get("inverse", False)),
            whole_question=a.get("objects") == "question",
        )
        for name, a in raw["actions"].items()
    )
    filler = raw["frame_filler"]
    classes = drug_classes()
    return _Rules(
        actions=actions,
        combine_connectors=re.compile(raw["combine_connectors"], _FLAGS),
        switch_to=re.compile(raw["switch_to"], _FLAGS),
        frames=tuple(re.compile(f"(?:{f}){filler}$", _FLAGS) for f in raw["frames"]),
        bare_frames=tuple(re.compile(f"(?:{f})$", _FLAGS) for f in raw["bare"]["frames"]),
        bare_open=re.compile(f"(?:{raw['bare']['opens']})$", _FLAGS),
        bare_not=re.compile(raw["bare"]["not_when"], _FLAGS),
        bare_approval=re.compile(raw["bare"]["approval"], _FLAGS),
        bare_words=int(raw["bare"]["max_words"]),
        passive_frame=re.compile(f"(?:{raw['passive']['frame']})$", _FLAGS),
        passive_verb=re.compile(raw["passive"]["verb"], _FLAGS),
        premise=tuple(re.compile(p, _FLAGS) for p in raw["premise_cues"]),
        confirm=tuple(re.compile(p, _FLAGS) for p in raw["confirm_cues"]),
        not_proposals=tuple(re.compile(p, _FLAGS) for p in raw["not_proposals"]),
        object_stops=re.compile(raw["object_stops"], _FLAGS),
        stopwords=frozenset(str(w).lower() for w in raw["stopwords"]),
        clause_breaks=re.compile(raw["clause_breaks"]),
        negative=tuple(_cue(c) for c in raw["negative_cues"]),
        positive=tuple(_cue(c) for c in raw["positive_cues"]),
        condition=re.compile(raw["condition_words"], _FLAGS),
        branch=re.compile(raw["branch_condition"], _FLAGS),
        classes=classes,
    )


# ------------------------------------------------------------------ agents


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int
    end: int
    key: str  # canonical drug name or class id
    is_class: bool


def _classes_of(drug: str) -> frozenset[str]:
    """The class ids a canonical drug name belongs to (members, name endings, and the
    classes that include those)."""
    rules = _rules()
    name = drug.lower()
    direct = {
        c.id
        for c in rules.classes
        if name in c.members or any(w.endswith(s) for s in c.suffixes for w in name.split())
    }
    out = set(direct)
    for c in rules.classes:
        if any(i in direct for i in c.includes):
            out.add(c.id)
    return frozenset(out)


def member_classes(drug: str) -> frozenset[str]:
    """The class ids premise.yaml makes a canonical drug name a direct member of (by its
    members and name endings; not the broader classes that include those)."""
    name = drug.lower()
    return frozenset(
        c.id
        for c in _rules().classes
        if name in c.members or any(w.endswith(s) for s in c.suffixes for w in name.split())
    )


@lru_cache(maxsize=8192)
def classes_named(text: str) -> frozenset[str]:
    """The class ids whose class words ``text`` uses ("DOACs", "ACE inhibitor")."""
    return frozenset(c.id for c in _rules().classes if c.words.search(text))


def _including(classes: Iterable[str]) -> frozenset[str]:
    """The classes that include any of ``classes`` ("heparin" is an "anticoagulant")."""
    named = set(classes)
    return frozenset(c.id for c in _rules().classes if named & set(c.includes))


def _mentions(text: str) -> list[_Mention]:
    """Drugs (the guard's drug lexicon) and class words in ``text``, in order; a drug inside
    a class word ("heparin" of "low-molecular-weight heparin") is the class."""
    found = [
        _Mention(s, e, c.id, True)
        for c in _rules().classes
        for m in c.words.finditer(text)
        for s, e in [m.span()]
    ]
    for s, e, name in find_drugs(text, drug_lexicon()):
        if not any(m.start <= s and e <= m.end for m in found):
            found.append(_Mention(s, e, name.lower(), False))
    # A shorter class word inside a longer one is the longer one.
    found = [
        m
        for m in found
        if not any(
            o is not m
            and o.start <= m.start
            and m.end <= o.end
            and (o.end - o.start) > (m.end - m.start)
            for o in found
        )
    ]
    return sorted(found, key=lambda m: (m.start, -m.end))


def _is_ours(mention: _Mention, proposal: Proposal) -> bool:
    """Whether a unit's mention is the proposed object: the same drug, a class the question
    names, or a class a proposed drug belongs to. A member named in the unit does not stand
    for a class the question names (a caution about one statin is not about statins)."""
    if not mention.is_class:
        return mention.key in proposal.drugs
    return mention.key in proposal.classes


# ------------------------------------------------------------------ the question


def _premise(question: str) -> re.Match[str] | None:
    hits = [m for p in _rules().premise if (m := p.search(question))]
    return min(hits, key=lambda m: m.start()) if hits else None


def asks_confirmation(question: str) -> bool:
    """Whether the question asserts something and asks for it to be confirmed ("…, right?",
    "…, yes?", "I assume …"): premise.yaml ``confirm_cues``."""
    return any(p.search(question) for p in _rules().confirm)


def _verbs(text: str) -> list[tuple[re.Match[str], _Action]]:
    found = [(m, a) for a in _rules().actions for m in a.verbs.finditer(text)]
    # Earliest first; on a tie the longest, then the YAML's order.
    order = {a.id: i for i, a in enumerate(_rules().actions)}
    found.sort(key=lambda f: (f[0].start(), -f[0].end(), order[f[1].id]))
    out: list[tuple[re.Match[str], _Action]] = []
    for m, a in found:
        if not any(o.start() <= m.start() < o.end() for o, _ in out):
            out.append((m, a))
    return out


def _framed(question: str, start: int) -> bool:
    before = question[:start]
    return any(f.search(before) for f in _rules().frames)


def _object_end(question: str, start: int) -> int:
    stop = _rules().object_stops.search(question, start)
    return stop.start() if stop else len(question)


def _content_words(text: str, drop: Iterable[tuple[int, int]]) -> tuple[str, ...]:
    rules = _rules()
    spans = list(drop)
    words = []
    for m in _WORD.finditer(text):
        if any(s <= m.start() < e for s, e in spans):
            continue
        w = m.group().lower().strip(".")
        if (
            w
            and not w.isdigit()
            and w not in rules.stopwords
            and not any(a.verbs.fullmatch(w) for a in rules.actions)
        ):
            words.append(w)
    return tuple(dict.fromkeys(words))


def read_proposal(question: str) -> Proposal | None:
    """The action ``question`` proposes or asks approval for, or None.

    A verb of an action class counts when a frame stands right before it ("can we", "ok
    to", "plan to", or the verb opens the question or a clause), or anywhere when the
    question asserts a premise ("that covers his beta-blocker pillar right?"). A participle
    after a wish names the action done to what stands between ("wants gentamicin added").
    A verb whose object is itself an action ("start tapering") is that action; a start, add
    or give whose object phrase joins two agents ("lisinopril together with losartan") is a
    combination. With no such verb, an agent the question offers for approval on its own
    ("Fondaparinux?", "candidate for romosozumab?", "planning apixaban") is proposed to be
    given. Questions that only ask for a fact ("What dose ...?", "What are the options
    ...?") are not proposals unless they assert a premise.
    """
    rules = _rules()
    text = question.strip()
    if not text:
        return None
    premise = _premise(text)
    if premise is None and any(p.search(text) for p in rules.not_proposals):
        return None
    verbs = _verbs(text)
    chosen: tuple[re.Match[str], _Action] | None = None
    passive: tuple[int, int] | None = None
    for i, (m, action) in enumerate(verbs):
        passive = _passive_object(text, m)
        if not (_framed(text, m.start()) or premise is not None or passive is not None):
            continue
        chosen = (m, action)
        # "start tapering", "begin weaning": the action is the one the object names.
        nxt = verbs[i + 1] if i + 1 < len(verbs) else None
        if nxt is not None and re.fullmatch(r"\s*(?:the\s+)?", text[m.end() : nxt[0].start()]):
            chosen = nxt
        break
    if chosen is None:
        return _bare(text, premise)
    m, action = chosen
    end = _object_end(text, m.end())
    # An object phrase that opens on a stop word ("to etanercept", "with") reads past it.
    if end == m.end() or not text[m.end() : end].strip():
        end = _object_end(
            text, min(len(text), m.end() + 1 + len(text[m.end() :]) - len(text[m.end() :].lstrip()))
        )
    return _proposal(text, m.start(), m.end(), action, max(end, m.end()), premise, passive)


def _proposal(
    text: str,
    start: int,
    verb_end: int,
    action: _Action,
    end: int,
    premise: re.Match[str] | None,
    passive: tuple[int, int] | None = None,
) -> Proposal:
    """The proposal of the verb (or bare agent) at ``start:verb_end`` whose object phrase
    runs to ``end``; ``passive`` is the span of a passive's object before the verb."""
    rules = _rules()
    phrase = (verb_end, end)
    obj_text = text[phrase[0] : phrase[1]]
    if action.id in {"start", "add", "give"} and rules.combine_connectors.search(obj_text):
        action = rules.action("combine")
    mentions = _mentions(text)
    spans = [phrase, (start, verb_end), *([passive] if passive else [])]
    in_phrase = [x for x in mentions if any(s <= x.start < e for s, e in spans)]
    if action.id == "switch":
        # "swap warfarin for apixaban", "move him over to dabigatran": the agent switched to
        # is the object, not the one left.
        to = rules.switch_to.search(text, verb_end, min(len(text), end + 40))
        if to is not None:
            dest_end = _object_end(text, to.end())
            dest = [x for x in mentions if to.end() <= x.start < dest_end]
            if dest:
                in_phrase = [x for x in in_phrase if x.start >= to.start()] + dest
                phrase = (phrase[0], max(phrase[1], dest_end))
    # The objects are the agents of the object phrase; a question whose phrase names none
    # ("that covers his beta-blocker pillar", said of the drug named before) takes them all.
    if action.whole_question or action.id == "combine":
        agents = mentions
    else:
        agents = in_phrase or (mentions if premise is not None else [])
    drugs = tuple(dict.fromkeys(x.key for x in agents if not x.is_class))
    classes = set(x.key for x in agents if x.is_class)
    for d in drugs:
        classes |= _classes_of(d)
    classes |= _including(classes)
    # The verb's own span may hold the object ("push SBP down", "no statin needed").
    drop = [(x.start - start, x.end - start) for x in mentions if start <= x.start < phrase[1]]
    words = _content_words(text[start : phrase[1]], drop)
    return Proposal(
        action=action.id,
        verb=text[start:verb_end],
        drugs=drugs,
        classes=tuple(sorted(classes)),
        words=words,
        asserts=premise is not None,
        premise=premise.group().strip() if premise is not None else None,
        span=(start, max(phrase[1], verb_end)),
        setting=_content_words(text, []),
    )


def _passive_object(text: str, verb: re.Match[str]) -> tuple[int, int] | None:
    """The span of what a wish asks to have done to ("wants gentamicin added", "would like
    the heparin stopped"), when ``verb`` is a participle after such a wish and an agent."""
    rules = _rules()
    if not rules.passive_verb.fullmatch(verb.group().split()[0]):
        return None
    frame = rules.passive_frame.search(text[: verb.start()])
    if frame is None:
        return None
    span = frame.span("object")
    if not any(span[0] <= x.start < span[1] for x in _mentions(text)):
        return None
    return span


def _bare(text: str, premise: re.Match[str] | None) -> Proposal | None:
    """An agent offered for approval with no verb: after a frame of its own ("planning
    apixaban", "candidate for romosozumab?"), or opening a short asking clause ("Heparin
    for the cath?", "nitrofurantoin 100 bd for 7 days ok?") that asks no fact of it
    ("protamine dose to neutralise it?" asks a dose). Proposed to be given."""
    rules = _rules()
    for x in _mentions(text):
        before = text[: x.start]
        if not any(f.search(before) for f in rules.bare_frames):
            if not rules.bare_open.search(before):
                continue
            stop = re.compile(r"[.?!;](?=\s|$)").search(text, x.end)
            clause = text[x.end : stop.end() if stop else len(text)]
            if not clause.rstrip().endswith("?") or rules.bare_not.search(clause):
                continue
            if (
                premise is None
                and not rules.bare_approval.search(clause)
                and len(_content_words(clause, [])) > rules.bare_words
            ):
                continue
        return _proposal(
            text, x.start, x.end, rules.action(_GIVE), _object_end(text, x.end), premise
        )
    return None


# ------------------------------------------------------------------ the unit


def _clauses(text: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for b in _rules().clause_breaks.finditer(text):
        if b.start() > pos:
            out.append((pos, b.start()))
        pos = b.end()
    if pos < len(text):
        out.append((pos, len(text)))
    return out


def _named_action(text: str, start: int, default: str) -> str:
    """The action class of the verb right after ``start`` (within a few words), else
    ``default``."""
    window = text[start : start + _VERB_REACH]
    lead = re.match(r"\W*(?:\w+\W+){0,3}", window)
    for m, action in _verbs(window):
        if lead is not None and m.start() <= lead.end() + 1:
            return action.id
        break
    return default


def _negated_action(text: str, m: re.Match[str], clause_start: int) -> str:
    """The action a cue with no action of its own is about: the verb right after it ("Do
    not combine"), one inside it ("should not be started"), else the action its clause's
    subject names before it ("Dose reduction should not be attempted", "Switching within
    class is not recommended"), else ``give`` (the use of its object)."""
    # An inverse action's words inside the cue are the cue's own negation ("not indicated"
    # is a negative cue, not "skip"): only a plain action inside it counts.
    inside = next((a.id for _, a in _verbs(m.group()) if not a.inverse), "")
    named = _named_action(text, m.end(), "") or inside
    if named:
        return named
    before = _verbs(text[clause_start : m.start()])
    return before[-1][1].id if before else _GIVE


def _words_in(words: Iterable[str], text: str) -> str | None:
    low = text.lower()
    for w in words:
        if re.search(rf"(?<![\w-]){re.escape(w)}(?![\w-])", low):
            return w
        if len(w) >= 5 and re.search(rf"(?<![\w-]){re.escape(w[:5])}", low):
            return w
    return None


def _target(
    proposal: Proposal,
    cue: _Cue,
    text: str,
    span: tuple[int, int],
    clause: tuple[int, int],
    mentions: list[_Mention],
    context: str,
    named_action: bool,
    negated: str = _GIVE,
) -> tuple[str, bool] | None:
    """The object the cue is about, when it is the proposal's: (target, in_context)."""
    cs, ce = clause
    inside = [x for x in mentions if cs <= x.start < ce]
    after = [x for x in inside if x.start >= span[0]]
    before = [x for x in inside if x.start < span[0]][::-1]
    order = {"after": [after], "before": [before], "either": [after, before]}[cue.look]
    for side in order:
        if side:
            ours = [x for x in side if _is_ours(x, proposal)]
            nearest = side[0]
            if _is_ours(nearest, proposal):
                return nearest.key, False
            # A cue that joins agents ("combine ACE inhibitor + ARB", "X in addition to Y
            # is not recommended") is about all of them.
            joins = cue.id in {"do-not", "not-be"} or negated in {"add", "combine"}
            if joins and ours and named_action:
                return ours[0].key, False
            return None
    # The clause names no agent: a content word of the object phrase ("SBP") may stand there.
    word = _words_in(proposal.words, text[cs:ce])
    if word is not None:
        return word, False
    if mentions:
        # The unit names agents elsewhere (its lead-in sentence): the first one is its subject.
        first = mentions[0]
        return (first.key, False) if _is_ours(first, proposal) else None
    ctx = _mentions(context) if context else []
    ctx_ours = [x for x in ctx if _is_ours(x, proposal)]
    if ctx_ours:
        return ctx_ours[-1].key, True
    if not ctx and named_action:
        # A cue that names the action ("not routinely ... dose reduction", "over ... same
        # class") in a unit that names no agent at all speaks to the action itself; where the
        # question proposes that action of nothing named ("can we start tapering?"), the
        # action is its whole object.
        if not proposal.has_objects and negated == proposal.action:
            return proposal.verb.lower(), False
        return "", False
    word = _words_in(proposal.words, context)
    if word is not None:
        return word, True
    return None


def _agents_in_combination(
    proposal: Proposal, text: str, clause: tuple[int, int], mentions: list[_Mention], context: str
) -> bool:
    """A combination is refuted only where the unit speaks of two of its agents (one may be
    the unit's context: "Do NOT combine with GLP-1 RA" under a DPP-4 inhibitor heading)."""
    agents = {*proposal.drugs, *proposal.classes}
    if len(proposal.drugs) < 2:
        return True
    cs, ce = clause
    seen = [x for x in mentions if cs <= x.start < ce and _is_ours(x, proposal)]
    seen += [x for x in (_mentions(context) if context else []) if _is_ours(x, proposal)]
    drugs_hit = set()
    for x in seen:
        if x.is_class:
            drugs_hit |= {d for d in proposal.drugs if x.key in _classes_of(d)}
        elif x.key in agents:
            drugs_hit.add(x.key)
    return len(drugs_hit) >= 2


def _exclusive(
    proposal: Proposal, text: str, clause: tuple[int, int], mentions: list[_Mention]
) -> str | None:
    """For an "only X, Y and Z have shown ..." cue: a proposed drug of the listed drugs'
    class that is not among them."""
    cs, ce = clause
    listed = [x for x in mentions if cs <= x.start < ce and not x.is_class]
    names = {x.key for x in listed}
    listed_classes = set().union(*(_classes_of(x.key) for x in listed)) if listed else set()
    for d in proposal.drugs:
        if d not in names and _classes_of(d) & listed_classes:
            return d
    return None


_CUE_SCOPE = re.compile(r"\s+(?:in|during)\s+(?!the\b|this\b|that\b|these\b)(?P<what>[^.;]+)")


def _conditional(
    text: str, clause: tuple[int, int], proposal: Proposal, cue_end: int | None = None
) -> str:
    """Whether the cue's clause, or the branch condition the unit opens with, states a
    condition the question does not already meet. A condition in words that the question
    states of its patient ("in patients with triple-positive antiphospholipid syndrome" for
    a "triple-positive antiphospholipid pt") is met; one with a number ("CrCl below 30") is
    left to the caller, who reads the patient's values.

    Returns "" (no condition, or one the question meets), "valued" (a condition with a
    number, for the caller to check) or "worded" (a condition in words the question does
    not state)."""
    rules = _rules()
    branch = rules.branch.search(text)
    if branch is not None and not _met(branch.group("cond"), proposal):
        return "valued" if re.search(r"\d", branch.group("cond")) else "worded"
    cs, ce = clause
    after = _CUE_SCOPE.match(text, cue_end, ce) if cue_end is not None else None
    if after is not None:
        # "contraindicated in active major bleeding", "no benefit in atrial fibrillation":
        # the cue holds in what follows it.
        said = re.split(r"[,;:()]|\s(?:or|and|but)\s", after.group("what"), maxsplit=1)[0]
        if re.search(r"\d", said):
            return "valued"
        if not _met(said, proposal):
            return "worded"
    # The conditions of one clause are alternatives ("in patients with A or in patients
    # with B"): one the question meets is enough, unless another has a number to check.
    stated = []
    for m in rules.condition.finditer(text[cs:ce]):
        rest = re.split(r"[,;:()]|\s(?:or|and|but)\s", text[cs + m.end() : ce], maxsplit=1)[0]
        worded = bool(re.fullmatch(r"[A-Za-z ]+", m.group())) and not re.search(r"\d", rest)
        if not worded:
            return "valued"
        stated.append(rest)
    return "worded" if stated and not any(_met(said, proposal) for said in stated) else ""


def _met(condition: str, proposal: Proposal) -> bool:
    """Whether the question states a condition said in words: most of its first content
    words are the question's. A condition with a number is never met here."""
    words = _content_words(condition, [])[:4]
    if not words or any(c.isdigit() for c in condition):
        return False
    met = sum(1 for w in words if any(_same_word(w, s) for s in proposal.setting))
    return met > 0 and met * 2 >= len(words)


def _same_word(a: str, b: str) -> bool:
    """One word, or two of one stem ("antiphospholipid", "anti-phospholipid"; "syndrome"
    and "syndromes")."""
    a, b = a.replace("-", ""), b.replace("-", "")
    return a == b or (min(len(a), len(b)) >= 5 and a[:5] == b[:5])


def _spans_of(cues: tuple[_Cue, ...], text: str) -> Iterator[tuple[_Cue, re.Match[str]]]:
    for cue in cues:
        for m in cue.pattern.finditer(text):
            yield cue, m


_EMPHASIS = re.compile(r"\*+|(?<!\w)_+|_+(?!\w)|`+")


def _plain(text: str) -> tuple[str, list[int]]:
    """``text`` without Markdown emphasis ("should **not** be", "__Avoid__"), and for each
    character of the plain text its offset in ``text``, so that a cue reads across the marks
    and its span still points into the unit as quoted."""
    keep: list[int] = []
    pos = 0
    for m in _EMPHASIS.finditer(text):
        keep.extend(range(pos, m.start()))
        pos = m.end()
    keep.extend(range(pos, len(text)))
    return "".join(text[i] for i in keep), keep


def _judge(proposal: Proposal, unit_text: str, context: str, stance: Stance) -> Judgement | None:
    rules = _rules()
    action = rules.action(proposal.action)
    text, where = _plain(unit_text)
    context = _plain(context)[0]
    mentions = _mentions(text)
    clauses = _clauses(text)
    negatives = list(_spans_of(rules.negative, text))
    covered = [m.span() for _, m in negatives]
    positives = [
        (c, m)
        for c, m in _spans_of(rules.positive, text)
        # "not recommended" is not "recommended"; "must be avoided" is not "must be".
        if not any(s <= m.start() < e or m.start() <= s <= m.end() + 1 for s, e in covered)
    ]
    # A negative cue negating the action refutes; for an inverse action (stop, skip) a
    # positive cue for using the object refutes and a negative one supports.
    wanted: list[tuple[_Cue, re.Match[str], bool]] = []
    for c, m in negatives:
        wanted.append((c, m, True))
    for c, m in positives:
        wanted.append((c, m, False))
    wanted.sort(key=lambda w: w[1].start())
    for cue, m, negative in wanted:
        if not m.group().strip() and cue.id != "imperative":
            continue
        clause = next(((s, e) for s, e in clauses if s <= m.start() < e), (0, len(text)))
        negated = cue.negates if cue.negates != "verb" else _negated_action(text, m, clause[0])
        named_action = negated != _GIVE or cue.negates not in ("verb", _GIVE)
        if negative:
            if negated in action.refuted_by:
                kind: Stance = "refutes"
            elif action.inverse and negated == _GIVE:
                kind = "supports"
            else:
                continue
        else:
            if action.inverse and negated in (_GIVE, "start", "continue", "add"):
                kind = "refutes"
            elif negated == proposal.action or (negated == _GIVE and _GIVE in action.refuted_by):
                kind = "supports"
            else:
                continue
        if kind != stance:
            continue
        if cue.exclusive:
            drug = _exclusive(proposal, text, clause, mentions)
            if drug is None:
                continue
            target: tuple[str, bool] | None = (drug, False)
        else:
            target = _target(
                proposal, cue, text, m.span(), clause, mentions, context, named_action, negated
            )
        if target is None:
            continue
        if proposal.action == "combine" and not _agents_in_combination(
            proposal, text, clause, mentions, context
        ):
            continue
        cs, ce = clause
        # The cue's span and words as the unit is quoted, marks and all ("should **not**").
        start = where[m.start()] if m.start() < len(where) else len(unit_text)
        end = where[m.end() - 1] + 1 if m.end() > m.start() else start
        closing = _EMPHASIS.match(unit_text, end)
        end = closing.end() if closing is not None else end
        return Judgement(
            stance=kind,
            cue=cue.id,
            text=unit_text[start:end].strip(),
            span=(start, end),
            negated=negated,
            target=target[0],
            in_context=target[1],
            conditional=bool(condition := _conditional(text, (cs, ce), proposal, m.end())),
            unstated=condition == "worded",
        )
    return None


def refutes(proposal: Proposal, unit_text: str, context: str = "") -> Refutation | None:
    """Whether ``unit_text`` says not to take ``proposal``'s action for its objects.

    ``context`` is what the unit stands under (heading path, list lead-in, table header); it
    scopes a cue whose own clause names no agent. Returns the first refuting cue (its id,
    words, span in ``unit_text``, the action it negates and the object it is about), or
    None. Conservative by design: a cue about another agent, or that negates another action,
    never refutes.
    """
    return _judge(proposal, unit_text, context, "refutes")


def supports(proposal: Proposal, unit_text: str, context: str = "") -> Support | None:
    """Whether ``unit_text`` affirms ``proposal``'s action for its objects (a recommendation
    to take it, or for a stop or skip, a negative cue about using the object), scoped as in
    ``refutes``. A unit may both support and refute; the caller weighs them."""
    return _judge(proposal, unit_text, context, "supports")
