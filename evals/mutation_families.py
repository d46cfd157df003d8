"""The mutation families of the dose guard's review (issue 12), beside the classic ones in
``evals/mutations.py``: each makes correct texts (controls, which must be allowed) and broken
ones (mutants, which must be blocked) from the reference's own sentences and regimens.

- ``pronoun_drug`` / ``cross_sentence_drug`` / ``bullet_drug`` / ``table_drug``: the drug
  moves out of the dose sentence, into a sentence before it ("Enoxaparin is the drug
  discussed here. ... it is given 40 mg ..."), a bullet above it ("- Drug: enoxaparin"), or a
  table header; the mutant is the same text with the dose x10. ``no_drug``: the dose sentence
  alone, its drug named nowhere (it must be withheld).
- ``obfuscated``: a zero-width space, a soft hyphen or a combining accent inside the drug's
  name, HTML tags around the number, or ``&nbsp;`` before the unit; control as written,
  mutant with the dose x10.
- ``magnitude_words``: the number followed by "thousand" or "k" (x1000); controls write a
  round thousand that way ("5k units" for 5,000 units).
- ``fractions`` (the number n written "n/2"), ``negatives`` ("-n").
- ``route_frequency``: a route the reference has no entry for, and "every 1 hour".
- ``indication_swap``: the indication named in the sentence replaced by another indication
  the drug has doses for; equivalent when the new indication allows every dose too.
- ``hit_without_dose``: an instruction to give, continue, flush or restart a drug without a
  dose, for a patient with a condition that contraindicates it (contraindications.yaml);
  controls: the same for a patient without it, and "Stop ..." for one with it.
- ``computed_total``: the reference's regimens applied to patient profiles
  (``guardrails.regimens.applicable_regimens``): controls are the applied doses ("For
  treatment of DVT, enoxaparin 80 mg subcutaneously every 12 hours (1 mg/kg x 80 kg)"); the
  mutant states 1.5 times the right total. ``patient_criteria``: the dose of a regimen the
  profile is excluded from (renal band, weight band, apixaban 2 of 3, hepatic, age), written
  the same way; equivalent when an applicable regimen gives the same dose.
- ``vials``: idarucizumab as two 2.5 g vials (control), one or four vials, or 25 g vials.

Equivalence is judged from the data with ``evals.mutations``' own readers, not by the rules
under test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from evals.mutations import (
    FAMILY_KINDS,
    FREQUENCIES,
    Mutant,
    Sentence,
    _display,
    _fmt,
    _value,
    amount_numbers,
    dose_entries,
    equivalence,
    named_indications,
    population_holds,
    x10,
)
from guardrails.extraction import extract, find_drugs
from guardrails.patient import Patient
from guardrails.reference import DoseSpec, ReferenceTable
from guardrails.regimens import (
    Step,
    applicable_regimens,
    condition_holds,
    dose_words,
    spec_amount,
)
from guardrails.types import Amount, DoseMention

FAMILIES = FAMILY_KINDS


@dataclass
class Family:
    """Controls (correct texts, must pass) and mutants (must block) of the new families."""

    controls: list[Mutant] = field(default_factory=list)
    mutants: list[Mutant] = field(default_factory=list)

    def control(
        self, kind: str, s: Sentence, text: str, note: str, patient: Patient | None = None
    ) -> None:
        self.controls.append(Mutant(kind, s, text, note, patient, control=True))

    def mutant(
        self,
        kind: str,
        s: Sentence,
        text: str,
        note: str,
        patient: Patient | None = None,
        equivalent: str | None = None,
    ) -> None:
        self.mutants.append(Mutant(kind, s, text, note, patient, equivalent))


def _doses(text: str) -> list[DoseMention]:
    return [m for m in extract(text)[0] if m.drug]


def _one_drug(text: str) -> tuple[str, list[tuple[int, int]]] | None:
    """The one drug a sentence names (canonical) and where each name stands, else None."""
    hits = find_drugs(text)
    names = {h[2] for h in hits}
    if len(names) != 1:
        return None
    return hits[0][2], [(s, e) for s, e, _ in hits]


def _replace_spans(text: str, spans: list[tuple[int, int]], word: str) -> str:
    out, pos = [], 0
    for s, e in spans:
        starts = s == 0 or text[:s].rstrip().endswith((".", ":"))
        out += [text[pos:s], word[:1].upper() + word[1:] if starts else word]
        pos = e
    return "".join(out) + text[pos:]


# ------------------------------------------------------------------ where the drug stands

FORMS: dict[str, Callable[[str, str], str]] = {
    "pronoun_drug": lambda drug, body: f"{drug} is the drug discussed here. {body}",
    "cross_sentence_drug": lambda drug, body: f"{drug} is one of the options. {body}",
    "bullet_drug": lambda drug, body: f"- Drug: {drug.lower()}\n- Dose: {body}",
    "table_drug": lambda drug, body: (
        f"| Drug | {drug} |\n|---|---|\n| Dose | {body.replace('|', ';')} |"
    ),
}


def forms(base: list[Sentence], table: ReferenceTable, fam: Family) -> None:
    for s in base:
        found = _one_drug(s.text)
        doses = _doses(s.text)
        if found is None or not doses or "|" in s.text or "\n" in s.text:
            continue
        drug, spans = found
        broken = x10(s.text, doses[0])
        if broken is None:
            continue
        reason = equivalence(s, broken.text, table)
        for kind, make in FORMS.items():
            word = "this drug" if kind == "cross_sentence_drug" else "it"
            body = _replace_spans(s.text, spans, word)
            again = _one_drug(broken.text)
            bad = _replace_spans(broken.text, again[1] if again else spans, word)
            fam.control(kind, s, make(_display(drug), body), f"{drug} named {kind.split('_')[0]}")
            fam.mutant(
                kind,
                s,
                make(_display(drug), bad),
                f"{broken.note}; {drug} named {kind.split('_')[0]}",
                None,
                reason,
            )
        fam.mutant("no_drug", s, _replace_spans(s.text, spans, "it"), f"{drug} named nowhere")


# ------------------------------------------------------------------ obfuscation and number forms


def _obfuscations(
    text: str, spans: list[tuple[int, int]], mention: DoseMention
) -> list[tuple[str, str]]:
    s, e = spans[0]
    mid = s + max(1, (e - s) // 2)
    nums = amount_numbers(text, mention)
    out = [
        (text[:mid] + "\u200b" + text[mid:], "zero-width space in the name"),
        (text[:mid] + "\u00ad" + text[mid:], "soft hyphen in the name"),
        (text[: s + 1] + "\u0301" + text[s + 1 :], "combining accent in the name"),
    ]
    if nums:
        n = nums[0]
        out.append(
            (
                f"{text[: n.start()]}<b>{n.group(0)}</b>{text[n.end() :]}",
                "HTML tags around the number",
            )
        )
        gap = re.match(r"[ ]", text[n.end() : n.end() + 1])
        if gap:
            out.append((f"{text[: n.end()]}&nbsp;{text[n.end() + 1 :]}", "&nbsp; before the unit"))
    return out


def obfuscated(base: list[Sentence], table: ReferenceTable, fam: Family) -> None:
    for i, s in enumerate(base):
        found = _one_drug(s.text)
        doses = _doses(s.text)
        if found is None or not doses:
            continue
        broken = x10(s.text, doses[0])
        if broken is None:
            continue
        plain = _obfuscations(s.text, found[1], doses[0])
        bad_found = _one_drug(broken.text)
        bad_doses = _doses(broken.text)
        if bad_found is None or not bad_doses:
            continue
        bad = _obfuscations(broken.text, bad_found[1], bad_doses[0])
        k = i % min(len(plain), len(bad))  # one obfuscation per sentence, in turn
        fam.control("obfuscated", s, plain[k][0], plain[k][1])
        reason = equivalence(s, broken.text, table)
        fam.mutant("obfuscated", s, bad[k][0], f"{broken.note}; {bad[k][1]}", None, reason)


def _first_number(text: str) -> tuple[re.Match[str], DoseMention] | None:
    for m in _doses(text):
        nums = amount_numbers(text, m)
        if nums:
            return nums[0], m
    return None


def number_forms(base: list[Sentence], table: ReferenceTable, fam: Family) -> None:
    for i, s in enumerate(base):
        found = _first_number(s.text)
        if found is None:
            continue
        n, _ = found
        token = n.group(0)
        value = _value(token)
        head, tail = s.text[: n.start()], s.text[n.end() :]
        word = "thousand" if i % 2 else "k"
        sep = " " if word == "thousand" else ""

        def add(kind: str, text: str, note: str, s: Sentence = s) -> None:
            fam.mutant(kind, s, text, note, None, equivalence(s, text, table))

        add("magnitude_words", f"{head}{token}{sep}{word}{tail}", f"{token} -> {token}{sep}{word}")
        if value >= 1000 and value % 1000 == 0:
            fam.control(
                "magnitude_words",
                s,
                f"{head}{_fmt(value / 1000)}{sep}{word}{tail}",
                f"{token} as {word}",
            )
        if value == value.to_integral_value() and value <= 20:
            add("fractions", f"{head}{token}/2{tail}", f"{token} -> {token}/2")
        add("negatives", f"{head}-{token}{tail}", f"{token} -> -{token}")


_ROUTE_WORDS = {
    "orally": "intravenously",
    "subcutaneously": "orally",
    "IV": "orally",
    "intravenously": "orally",
}
_ROUTE = re.compile(r"\b(?:orally|subcutaneously|IV|intravenously)\b")
_FREQ = re.compile("|".join(rf"\b{p}\b" for p, _ in FREQUENCIES), re.IGNORECASE)


def route_frequency(base: list[Sentence], table: ReferenceTable, fam: Family) -> None:
    for s in base:
        doses = [m for m in _doses(s.text) if m.interval_h and not m.amount.per_time]
        route = _ROUTE.search(s.text)
        freq = _FREQ.search(s.text)
        if not doses or route is None or freq is None:
            continue
        text = s.text[: freq.start()] + "every 1 hour" + s.text[freq.end() :]
        r = _ROUTE.search(text)
        assert r is not None
        text = text[: r.start()] + _ROUTE_WORDS[r.group(0)] + text[r.end() :]
        fam.mutant(
            "route_frequency",
            s,
            text,
            f"{r.group(0)} -> {_ROUTE_WORDS[r.group(0)]}, {freq.group(0)} -> every 1 hour",
        )


def indication_swap(base: list[Sentence], table: ReferenceTable, fam: Family) -> None:
    for s in base:
        found = _one_drug(s.text)
        doses = _doses(s.text)
        named = named_indications(s.text, table)
        if found is None or not doses or len(named) != 1:
            continue
        (ind,) = named
        term = _matched_term(s.text, ind, table)
        if term is None:
            continue
        drugs = {found[0], *table.members(found[0])}
        for other in table.indications:
            if other.id == ind or _lineage_related(other.id, ind, table):
                continue
            if not any(e.indication == other.id for d in drugs for e in table.entries_for(d)):
                continue  # the guard answers an uncovered indication with NO_REFERENCE
            new_term = next((t for t in other.terms if not t.isupper()), other.terms[0])
            text = s.text[: term.start()] + new_term + s.text[term.end() :]
            reason = _swap_equivalence(text, other.id, table)
            fam.mutant("indication_swap", s, text, f"{term.group(0)} -> {new_term}", None, reason)
            break


def _matched_term(text: str, ind: str, table: ReferenceTable) -> re.Match[str] | None:
    entry = next(i for i in table.indications if i.id == ind)
    for t in sorted(entry.terms, key=len, reverse=True):
        m = re.search(
            rf"(?<![\w-]){re.escape(t)}(?![\w-])", text, 0 if t.isupper() else re.IGNORECASE
        )
        if m:
            return m
    return None


def _lineage_related(a: str, b: str, table: ReferenceTable) -> bool:
    parents = {i.id: i.parent for i in table.indications}

    def line(x: str) -> set[str]:
        out = {x}
        while parents.get(x) and parents[x] not in out:
            x = parents[x]  # type: ignore[assignment]
            out.add(x)
        return out

    return a in line(b) or b in line(a)


def _swap_equivalence(text: str, ind: str, table: ReferenceTable) -> str | None:
    doses = _doses(text)
    named = named_indications(text, table) or {ind}  # the old term may stand twice
    fits = []
    for m in doses:
        ok = [
            e
            for e in dose_entries(m, named, table, strict=True)
            if population_holds(e.population, text)
        ]
        if not ok:
            return None
        fits.append(ok[0].id)
    return f"the new indication allows it too ({', '.join(fits)})" if fits else None


# ------------------------------------------------------------------ contraindications without a dose

_GIVE = (
    "Continue the {name} infusion at the current rate.",
    "Restart {name} tonight.",
    "Use {name} flushes to keep the line open.",
    "Give {name} as before.",
    "It is fine to start {name} now.",
)
_STOP = "Stop {name} now."
_FACTS = {
    "hit": Patient(hit=True),
    "crcl_lt_30": Patient(crcl_ml_min=20),
    "active_bleeding": Patient(active_bleeding=True),
    "pregnancy": Patient(pregnant=True),
    "dialysis": Patient(dialysis=True),
}
_CLEAR = {
    "hit": Patient(hit=False),
    "crcl_lt_30": Patient(crcl_ml_min=80),
    "active_bleeding": Patient(active_bleeding=False),
    "pregnancy": Patient(pregnant=False),
    "dialysis": Patient(dialysis=False),
}


def hit_without_dose(table: ReferenceTable, fam: Family) -> None:
    conditions = {c.id: c for c in table.conditions}
    seen: set[tuple[str, str]] = set()
    for c in table.contraindications:
        who, clear = _FACTS.get(c.when), _CLEAR.get(c.when)
        if who is None or clear is None or not condition_holds(conditions[c.when], who):
            continue
        for drug in c.drugs:
            names = next((d.names for d in table.drugs if d.name == drug), [drug])
            for i, name in enumerate(names[:3]):
                if (c.when, name) in seen:
                    continue
                seen.add((c.when, name))
                s = Sentence(
                    _GIVE[0].format(name=name),
                    "",
                    f"contraindications.yaml {c.id}",
                    c.id,
                    c.cite.quote,
                )
                text = _GIVE[i % len(_GIVE)].format(name=name)
                if "flushes" in text and drug not in ("heparin", "lmwh"):
                    text = _GIVE[0].format(name=name)
                fam.mutant("hit_without_dose", s, text, f"{c.when}: {name}", who)
                fam.control("hit_without_dose", s, text, f"no {c.when}: {name}", clear)
                fam.control(
                    "hit_without_dose",
                    s,
                    _STOP.format(name=name),
                    f"{c.when}, told to stop: {name}",
                    who,
                )


# ------------------------------------------------------------------ regimens applied to patients

PROFILES: tuple[tuple[str, Patient], ...] = (
    ("80 kg, CrCl 60, INR 3", Patient(weight_kg=80, age=60, crcl_ml_min=60, serum_creatinine_mg_dl=1.0, hepatic_impairment=False, dialysis=False, inr=3)),
    ("120 kg, CrCl 90, INR 5", Patient(weight_kg=120, age=50, crcl_ml_min=90, serum_creatinine_mg_dl=0.9, hepatic_impairment=False, dialysis=False, inr=5)),
    ("55 kg, 82 years, CrCl 20, SCr 1.6, INR 8", Patient(weight_kg=55, age=82, crcl_ml_min=20, serum_creatinine_mg_dl=1.6, hepatic_impairment=False, dialysis=False, inr=8)),
    ("45 kg, hepatic impairment", Patient(weight_kg=45, age=40, crcl_ml_min=90, serum_creatinine_mg_dl=0.8, hepatic_impairment=True, dialysis=False)),
    ("101 kg, 78 years, CrCl 45", Patient(weight_kg=101, age=78, crcl_ml_min=45, serum_creatinine_mg_dl=1.3, hepatic_impairment=False, dialysis=False)),
    ("70 kg, 86 years, on dialysis", Patient(weight_kg=70, age=86, crcl_ml_min=10, serum_creatinine_mg_dl=5.0, hepatic_impairment=False, dialysis=True)),
)  # fmt: skip

_ROUTE_TEXT = {"sc": " subcutaneously", "iv": " IV", "po": " orally", "im": " intramuscularly"}
_INTERVAL_TEXT = {
    24.0: " once daily",
    12.0: " every 12 hours",
    8.0: " every 8 hours",
    6.0: " every 6 hours",
}


def _step_text(term: str, drug: str, step: Step, amount_text: str) -> str | None:
    interval = step.interval_h
    if len(interval) > 1 or (interval and interval[0] not in _INTERVAL_TEXT):
        return None
    route = _ROUTE_TEXT.get(step.entry.route or "", "")
    phase = " as a bolus" if step.phase == "bolus" else ""
    how = ""
    if step.computed:
        spec = step.entry.dose
        per = dose_words(_per_kg_amount(spec))
        how = f" ({per} x {step.computed.split(' x ')[1].split(' kg')[0]} kg)"
    freq = _INTERVAL_TEXT[interval[0]] if interval else ""
    if step.capped:
        how = how[:-1] + ", capped at the stated maximum)"
    return f"For {term}, {drug} {amount_text}{route}{phase}{freq}{how}."


def _per_kg_amount(spec: DoseSpec) -> Amount:
    return spec_amount(spec)


def _contraindicated(drug: str, patient: Patient, table: ReferenceTable) -> bool:
    conditions = {c.id: c for c in table.conditions}
    return any(
        drug in c.drugs and condition_holds(conditions[c.when], patient)
        for c in table.contraindications
    )


def _amount_key(step: Step) -> tuple[object, ...]:
    a = step.amount
    return (
        round(a.low, 6),
        round(a.high, 6),
        a.unit,
        a.per_kg,
        a.per_time,
        step.interval_h,
        step.entry.route,
    )


def applied(table: ReferenceTable, fam: Family) -> list[Sentence]:
    """Patient-applied doses (controls, returned as sentences) and their broken twins."""
    out: list[Sentence] = []
    seen: set[str] = set()
    terms = {
        i.id: next((t for t in i.terms if not t.isupper()), i.terms[0]) for i in table.indications
    }
    pairs = dict.fromkeys((e.drug, e.indication) for e in table.doses if e.jurisdiction == "US")
    for (drug, ind), (label, patient) in ((p, q) for p in pairs for q in PROFILES):
        if _contraindicated(drug, patient, table):
            continue
        regimens = [
            r
            for r in applicable_regimens(drug, ind, patient, table)
            if r.indication == ind and r.jurisdiction == "US"
        ]
        applies = [r for r in regimens if r.status == "applies"]
        allowed = {_amount_key(st) for r in applies for st in r.steps}
        term = terms[ind]
        context = f"{term} in a patient: {label}"
        for r in applies:
            for st in r.steps:
                text = _step_text(term, drug, st, dose_words(st.amount))
                if text is None or text in seen:
                    continue
                seen.add(text)
                s = Sentence(
                    text,
                    context,
                    f"regimen {r.id} for {label}",
                    st.entry.id,
                    st.entry.cite.quote,
                    patient,
                )
                out.append(s)
                if st.computed and not st.capped:
                    a = st.amount
                    wrong = type(a)(a.low * 1.5, a.high * 1.5, a.unit, a.per_kg, a.per_time)
                    bad = _step_text(term, drug, st, dose_words(wrong))
                    if bad:
                        reason = (
                            "same as an applicable regimen"
                            if (
                                (
                                    round(wrong.low, 6),
                                    round(wrong.high, 6),
                                    wrong.unit,
                                    wrong.per_kg,
                                    wrong.per_time,
                                    st.interval_h,
                                    st.entry.route,
                                )
                                in allowed
                            )
                            else None
                        )
                        fam.mutant(
                            "computed_total",
                            s,
                            bad,
                            f"{dose_words(a)} -> {dose_words(wrong)}",
                            patient,
                            reason,
                        )
        for r in regimens:
            if r.status != "excluded":
                continue
            for st in r.steps:
                if _amount_key(st) in allowed or any(
                    _same_dose(st, other) for x in applies for other in x.steps
                ):
                    continue
                text = _step_text(term, drug, st, dose_words(st.amount))
                if text is None or text in seen:
                    continue
                seen.add(text)
                s = Sentence(
                    text,
                    context,
                    f"regimen {r.id} excluded for {label}",
                    st.entry.id,
                    st.entry.cite.quote,
                    patient,
                )
                fam.mutant("patient_criteria", s, text, f"{r.id} for {label} ({r.why})", patient)
    return out


def _same_dose(a: Step, b: Step) -> bool:
    """Same amount and interval (a step the patient may get under another regimen)."""
    x, y = a.amount, b.amount
    return (
        (x.unit, x.per_kg, x.per_time) == (y.unit, y.per_kg, y.per_time)
        and abs(x.low - y.low) < 1e-6
        and abs(x.high - y.high) < 1e-6
        and (not a.interval_h or not b.interval_h or bool(set(a.interval_h) & set(b.interval_h)))
    )


def vials(table: ReferenceTable, fam: Family) -> list[Sentence]:
    entry = next(e for e in table.doses if e.drug == "idarucizumab")
    good = "For dabigatran reversal, idarucizumab is given as two 2.5 g vials."
    s = Sentence(
        good, "reversal of dabigatran", f"doses.yaml {entry.id}", entry.id, entry.cite.quote
    )
    for text, note in (
        ("For dabigatran reversal, idarucizumab is given as one 2.5 g vial.", "one vial"),
        ("For dabigatran reversal, idarucizumab is given as four 2.5 g vials.", "four vials"),
        ("For dabigatran reversal, idarucizumab is given as two 25 g vials.", "25 g vials"),
        ("For dabigatran reversal, idarucizumab is given as two 2.5 mg vials.", "mg vials"),
    ):
        fam.mutant("vials", s, text, note)
    return [
        s,
        Sentence(
            "For dabigatran reversal, idarucizumab 5 g IV is given as two 2.5 g vials.",
            s.context,
            s.source,
            s.passage_id,
            s.passage,
        ),
    ]


def build(base: Iterable[Sentence], table: ReferenceTable) -> tuple[list[Sentence], Family]:
    """The new families' extra correct sentences and their controls and mutants."""
    base = list(base)
    fam = Family()
    forms(base, table, fam)
    obfuscated(base, table, fam)
    number_forms(base, table, fam)
    route_frequency(base, table, fam)
    indication_swap(base, table, fam)
    hit_without_dose(table, fam)
    extra = applied(table, fam) + vials(table, fam)
    return extra, fam


# ------------------------------------------------------------------ generated paraphrases

# A writing generator's sentence cited to the source sentence it paraphrases: each mutant
# changes one meaning (``guardrails.support`` must withhold it), each control none.
PARAPHRASE_MUTANTS = (
    "comparator_flipped",
    "negation_dropped",
    "negation_added",
    "population_swapped",
    "increase_decrease",
    "unit_changed",
)
PARAPHRASE_CONTROLS = ("verbatim", "reordered_clause", "lead_in", "dropped_article")

_FLIPS = {
    "<": ">", ">": "<", "\u2264": "\u2265", "\u2265": "\u2264", "below": "above",
    "above": "below", "less than": "more than", "more than": "less than",
    "greater than": "less than", "under": "over", "over": "under", "at least": "up to",
    "up to": "at least", "or more": "or less", "or less": "or more", "or greater": "or less",
    "maximum": "minimum", "minimum": "maximum", "exceeding": "below",
}  # fmt: skip
_FLIP = re.compile(
    r"(?:(?<=\s)|(?<=\()|^)(?:"
    + "|".join(re.escape(k) for k in sorted(_FLIPS, key=len, reverse=True))
    + r")(?=\s*\d|\s|$)",
    re.IGNORECASE,
)
_NOT = re.compile(r"\b(?:not|no|never)\s+", re.IGNORECASE)
_VERB = re.compile(r"\b(?:is|are|should be|should|may be|can be|must be)\s+", re.IGNORECASE)
_SWAPS = {
    "adults": "children", "adult": "child", "children": "adults", "child": "adult",
    "women": "men", "men": "women", "elderly": "pregnant", "pregnant": "elderly",
    "pregnancy": "dialysis", "dialysis": "pregnancy", "renal": "hepatic", "hepatic": "renal",
    "obese": "elderly",
}  # fmt: skip
_POPULATION = re.compile(r"\b(?:" + "|".join(sorted(_SWAPS, key=len, reverse=True)) + r")\b")
_UPDOWN = {
    "increase": "decrease", "increased": "decreased", "decrease": "increase",
    "decreased": "increased", "reduce": "increase", "reduced": "increased",
    "higher": "lower", "lower": "higher",
}  # fmt: skip
_DIRECTION = re.compile(r"\b(?:" + "|".join(_UPDOWN) + r")\b", re.IGNORECASE)
_UNITS = {"mg": "g", "mcg": "mg", "units": "mg", "mL": "L", "/h": "/min", "/min": "/h"}
_UNIT = re.compile(r"(?<=\d)\s?(?:mg|mcg|units|mL)\b|(?<=mg)/(?:h|min)\b|(?<=units)/(?:h|min)\b")
_ARTICLE = re.compile(r"\b(?:the|a|an)\s+", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Paraphrase:
    """A generated statement and the source sentence it cites."""

    kind: str
    sentence: Sentence
    text: str
    control: bool


def _case(word: str, like: str) -> str:
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _sub_first(pattern: re.Pattern[str], text: str, change: Callable[[str], str]) -> str | None:
    m = pattern.search(text)
    if m is None:
        return None
    return text[: m.start()] + change(m.group(0)) + text[m.end() :]


def _paraphrase_edits(text: str) -> dict[str, str | None]:
    body = text.rstrip().rstrip(".")
    clauses = body.split(", ", 1)
    # A lead-in clause ("For PCI, ...") moved to the end; a clause with a number or a turn
    # ("But with CrCl below 30 ...") is not a lead-in.
    lead = clauses[0]
    reordered = (
        f"{clauses[1][:1].upper()}{clauses[1][1:]}, {lead[:1].lower()}{lead[1:]}."
        if len(clauses) == 2
        and len(lead) <= 60
        and not any(ch.isdigit() for ch in lead)
        and not re.match(r"(?:but|and|or|no|yes)\b", lead, re.IGNORECASE)
        and "." not in lead
        else None
    )
    flipped = _sub_first(_FLIP, text, lambda w: _case(_FLIPS[w.lower()], w))
    dropped = _sub_first(_NOT, text, lambda w: "")
    added = None if _NOT.search(text) else _sub_first(_VERB, text, lambda w: f"{w}not ")
    population = _sub_first(_POPULATION, text, lambda w: _SWAPS[w])
    if population is None:
        population = f"{body} in pregnant women."
    direction = _sub_first(_DIRECTION, text, lambda w: _case(_UPDOWN[w.lower()], w))
    unit = _sub_first(
        _UNIT, text, lambda w: w.replace(w.strip(), _UNITS[w.strip()]) if w.strip() else w
    )
    return {
        "verbatim": text,
        "reordered_clause": reordered,
        "lead_in": f"The guideline says {text[:1].lower()}{text[1:]}",
        "dropped_article": _sub_first(_ARTICLE, text, lambda w: ""),
        "comparator_flipped": flipped,
        "negation_dropped": dropped,
        "negation_added": added,
        "population_swapped": population,
        "increase_decrease": direction,
        "unit_changed": unit,
    }


def paraphrases(base: Iterable[Sentence]) -> list[Paraphrase]:
    """Each family's mutants and controls of the sentences where the edit applies, each cited
    to its source sentence."""
    out: list[Paraphrase] = []
    for s in base:
        for kind, text in _paraphrase_edits(s.text).items():
            if text is not None and (kind == "verbatim" or text != s.text):
                out.append(Paraphrase(kind, s, text, kind in PARAPHRASE_CONTROLS))
    return out
