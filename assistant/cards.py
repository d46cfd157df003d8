"""Patient-applied dose cards: the regimen for THIS patient, computed from the dose reference.

For a dose question whose drug and use the curated reference covers, the card states the
regimen for the patient in the frame: per-kg doses times the known weight (capped where the
source states a maximum), the renal, hepatic, weight, age and counted-criteria bands decided
by the known facts. When a fact that decides the band is missing, the card says which one
and lists the banded options. The computation is ``guardrails.regimens.applicable_regimens``
— the same function the guard judges doses with — so the card and the dose check cannot
disagree. Every line cites the pack sentence its figures come from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from assistant.evidence import is_agent, reversal_agents
from assistant.frame import Frame, indication_name, intent_indication, stage_of
from guardrails.context import ancestors, in_scope
from guardrails.reference import Contraindication, Criteria, DoseEntry, ReferenceTable
from guardrails.regimens import (
    Regimen,
    Step,
    applicable_regimens,
    condition_holds,
    crcl_words,
    fact_words,
    inr_words,
)

_FACTS = (
    "age",
    "sex",
    "weight_kg",
    "serum_creatinine_mg_dl",
    "crcl_ml_min",
    "hepatic_impairment",
    "dialysis",
    "inr",
)
_ROUTE = {"po": "orally", "sc": "subcutaneously", "iv": "IV", "im": "IM"}
_INTERVAL = {24.0: "once daily", 12.0: "every 12 hours", 8.0: "every 8 hours", 6.0: "every 6 hours"}


@dataclass(frozen=True, slots=True)
class CardLine:
    """One line of a dose card and the reference entries whose quotes it rests on."""

    text: str
    entries: tuple[DoseEntry | Contraindication, ...]
    regimen: str


@dataclass(frozen=True, slots=True)
class DoseCard:
    drug: str
    indication: str
    regimens: tuple[Regimen, ...]
    missing: tuple[str, ...]  # facts that would decide between the banded options
    headline: CardLine  # the bottom line: the regimen for this patient, or the options
    lines: tuple[CardLine, ...]  # the other regimens and steps, each with its band
    # "regimen": doses for this patient; "contraindicated": the drug must not be given to
    # this patient; "no_band": every regimen the reference states excludes this patient.
    # Only a "regimen" card lets the answer show doses of the drug.
    status: Literal["regimen", "contraindicated", "no_band"] = "regimen"

    def to_json(self) -> dict[str, Any]:
        return {
            "drug": self.drug,
            "indication": self.indication,
            "status": self.status,
            "missing": list(self.missing),
            "headline": self.headline.text,
            "lines": [line.text for line in self.lines],
            "regimens": [
                {
                    "id": r.id,
                    "status": r.status,
                    "why": r.why,
                    "missing": list(r.missing),
                    "jurisdiction": r.jurisdiction,
                    "steps": [
                        {
                            "entry": s.entry.id,
                            "phase": s.phase,
                            "dose": step_words(s),
                            "computed": s.computed,
                            "capped": s.capped,
                        }
                        for s in r.steps
                    ],
                }
                for r in self.regimens
            ],
        }


def _interval(step: Step) -> str:
    if not step.interval_h:
        return ""
    quote = step.entry.cite.quote.lower()
    words = []
    for h in step.interval_h:
        if h == 12 and "twice daily" in quote:
            words.append("twice daily")
        else:
            words.append(_INTERVAL.get(float(h), f"every {h:g} hours"))
    return " or ".join(dict.fromkeys(words))


def step_words(step: Step) -> str:
    """ "120 mg subcutaneously every 12 hours (1 mg/kg × 120 kg)"."""
    from guardrails.regimens import dose_words, spec_amount

    parts = [dose_words(step.amount)]
    if step.phase == "bolus":
        parts.append("bolus")
    if step.entry.route:
        parts.append(_ROUTE.get(step.entry.route, step.entry.route.upper()))
    if interval := _interval(step):
        parts.append(interval)
    if step.phase == "infusion" and step.amount.per_time:
        parts.append("by continuous infusion")
    if step.duration:
        parts.append(step.duration)
    text = " ".join(parts)
    if step.computed:
        how = step.computed.split(" = ")[0].replace(" x ", " × ")
        text += f" ({how}{', capped at the stated maximum' if step.capped else ''})"
    elif step.amount.per_kg and (cap := step.entry.max_per_dose) is not None:
        # No weight to apply it to: the stated maximum goes with the per-kg dose.
        text += f" (maximum {dose_words(spec_amount(cap))})"
    return text


def _regimen_words(r: Regimen, stage: str | None = None) -> str:
    """The regimen's steps in order; asked for the maintenance stage ("after the first
    month"), only its maintenance steps when it has any."""
    from guardrails.regimens import dose_words

    steps = list(r.steps)
    if stage == "maintenance" and any(s.phase == "maintenance" for s in steps):
        steps = [s for s in steps if s.phase == "maintenance"]
    words: list[str] = []
    for i, s in enumerate(steps):
        before = steps[i - 1] if i else None
        if (
            before is not None
            and s.phase == before.phase == "bolus"
            and s.amount.per_time
            and not before.amount.per_time
        ):
            words[-1] += f" at {dose_words(s.amount)}"  # "400 mg bolus IV at 30 mg/min"
            continue
        words.append(step_words(s))
    return ", then ".join(words)


def _patient_words(frame: Frame, regimens: list[Regimen]) -> str:
    p = frame.patient
    used: list[str] = []
    for fact in _FACTS:
        value = p.crcl if fact == "crcl_ml_min" else getattr(p, fact)
        if value is None:
            continue
        if fact == "sex":
            used.append(str(value))
        elif fact == "crcl_ml_min" and p.crcl_ml_min is None:
            used.append(f"CrCl {value:.0f} mL/min (Cockcroft–Gault)")
        elif fact == "crcl_ml_min":
            used.append(fact_words(fact, value))
        elif fact == "age":
            used.append(f"{value:g} years")
        else:
            used.append(fact_words(fact, value))
    return ", ".join(used)


def dose_card(frame: Frame, table: ReferenceTable) -> DoseCard | None:
    """The card for a dose (or reversal) question the reference covers, else None."""
    if frame.intent not in ("dose", "reversal") or not frame.drugs:
        return None
    if {"children", "pregnancy", "breastfeeding"} & set(frame.populations):
        return None  # the reference's regimens are for non-pregnant adults
    indication = frame.indication
    drugs = [d for d in frame.drugs if not is_agent(d, table)] or list(frame.drugs)
    if frame.intent == "reversal":
        drugs = reversal_agents(frame, table)
        indication = intent_indication(frame.intent, table)
    for drug in drugs:
        card = _card(drug, indication, frame, table)
        if card is not None:
            return card
    return None


def _card(
    drug: str, indication: str | None, frame: Frame, table: ReferenceTable
) -> DoseCard | None:
    entries = [e for name in table.members(drug) for e in table.entries_for(name)]
    if not entries:
        return None
    uses = {e.indication for e in entries}
    if indication is None:
        if len(uses) != 1:
            return None  # the question names no use: the answer lists the sources instead
        indication = next(iter(uses))
    if not any(in_scope(u, {indication}, table) for u in uses):
        return None
    # A ratio dose ("1 mg per 100 units of heparin") is quoted from its source, not carded.
    regimens = [
        r
        for r in applicable_regimens(drug, indication, frame.patient, table)
        if not any(s.entry.ratio for s in r.steps)
    ]
    regimens = _by_stage(regimens, indication, frame, table)
    if not regimens:
        return None
    use = indication_name(indication, table)
    drug_name = drug[0].upper() + drug[1:]
    facts = _patient_words(frame, regimens)
    if (contra := _contraindication(drug, frame, table)) is not None:
        # "what if the CrCl is 25?" for fondaparinux: the answer is that it must not be given.
        text = f"{contra.message} This patient: {facts}."
        return DoseCard(
            drug, indication, (), (), CardLine(text, (contra,), contra.id), (), "contraindicated"
        )
    live = [r for r in regimens if r.status != "excluded"]
    if not live:
        return _no_band(drug, indication, use, facts, regimens)
    chooser = next((s.entry.chosen_by for r in live for s in r.steps if s.entry.chosen_by), None)
    if chooser and len(live) > 1:
        # The regimens are chosen by something the reference does not read from the patient
        # (the last dose of the drug being reversed): no card picks one. Asked how to reverse,
        # the card names each and what chooses; asked for the agent's dose for a patient, the
        # sources' own words for the choice answer.
        if frame.intent != "reversal":
            return None
        options = " or ".join(_regimen_words(r, frame.stage) for r in live)
        steps = tuple({s.entry.id: s.entry for r in live for s in r.steps}.values())
        text = f"{drug_name} for {use}: {options}; which one depends on {chooser}."
        pool = [s.entry for r in regimens for s in r.steps]
        line = _grounded(CardLine(text, steps, live[0].id), pool)
        return DoseCard(drug, indication, tuple(regimens), (), line, ())
    applies = [r for r in live if r.status == "applies"]
    missing = tuple(dict.fromkeys(f for r in live for f in r.missing))
    lines: list[CardLine] = []
    if applies and (facts or len(applies) == 1 or not missing):
        # Of the regimens that apply, the one whose population says most about this patient
        # (apixaban on dialysis over the general AF regimen); the order above breaks ties.
        lead = max(applies, key=_specificity)
        who = f" for this patient ({facts})" if facts else ""
        because = _because(lead) if facts else ""
        headline = CardLine(
            f"{drug_name} for {use}{who}: {_regimen_words(lead, frame.stage)}{because}.",
            tuple(s.entry for s in lead.steps),
            lead.id,
        )
        others = [r for r in live if r is not lead]
    else:
        need = (
            ", ".join(_FACT_WORDS.get(m, m.replace("_", " ")) for m in missing)
            or "the patient's details"
        )
        first = live[0]
        who = f" ({facts})" if facts else ""
        headline = CardLine(
            f"{drug_name} for {use}{who}: {_regimen_words(first, frame.stage)}"
            f"{_when(first)}; {need} not given, "
            + (
                "so check the other bands below."
                if len(live) > 1
                else "so confirm the patient is in this group: the sources give no dose for the others."
            ),
            tuple(s.entry for s in first.steps),
            first.id,
        )
        others = live[1:]
    for r in others:
        label = _band(r)
        if r.indication != indication:
            use_words = indication_name(r.indication, table)
            label = (
                f"For {use_words}" if label == "Alternative regimen" else f"{label} ({use_words})"
            )
        lines.append(
            CardLine(
                f"{label}: {drug} {_regimen_words(r)}.",
                tuple(s.entry for s in r.steps),
                r.id,
            )
        )
    pool = [s.entry for r in regimens for s in r.steps]
    headline = _grounded(headline, pool)
    lines = [_grounded(line, pool) for line in lines]
    return DoseCard(drug, indication, tuple(regimens), missing, headline, tuple(lines))


_DIGITS = re.compile(r"\d+(?:\.\d+)?")


def _contraindication(drug: str, frame: Frame, table: ReferenceTable) -> Contraindication | None:
    """A contraindication of the drug whose condition holds for this patient."""
    conditions = {c.id: c for c in table.conditions}
    names = set(table.members(drug)) | {drug}
    for c in table.contraindications:
        when = conditions.get(c.when)
        if names & set(c.drugs) and when is not None and condition_holds(when, frame.patient):
            return c
    return None


def _no_band(drug: str, indication: str, use: str, facts: str, regimens: list[Regimen]) -> DoseCard:
    """Every regimen the reference states for this use excludes this patient (dabigatran for
    VTE at CrCl 25 mL/min): say so, with the bands the sources give, and show no dose."""
    bands = list(dict.fromkeys(_band(r)[3:] for r in regimens if _band(r).startswith("If ")))
    why = f" (its regimens are for {'; '.join(bands)})" if bands else ""
    text = (
        f"{drug[0].upper() + drug[1:]} for {use}: Bedside's dose reference gives no regimen "
        f"for this patient ({facts}){why}. No {drug} dose is shown: check the label or a "
        "specialist source."
    )
    entries = list({s.entry.id: s.entry for r in regimens for s in r.steps}.values())
    line = _grounded(CardLine(text, tuple(entries[:1]), regimens[0].id), entries)
    return DoseCard(drug, indication, (), (), line, (), "no_band")


def _grounded(line: CardLine, pool: list[DoseEntry]) -> CardLine:
    """A line that names a band edge stated only by another regimen's source ("If CrCl ≥ 30
    mL/min", where the standard dose's sentence gives no 30) cites that source too."""
    stated = set(_DIGITS.findall(" ".join(e.cite.quote for e in line.entries)))
    entries = list(line.entries)
    for number in _DIGITS.findall(line.text):
        if number in stated:
            continue
        extra = next((e for e in pool if number in _DIGITS.findall(e.cite.quote)), None)
        if extra is not None and extra not in entries:
            entries.append(extra)
            stated |= set(_DIGITS.findall(extra.cite.quote))
    return CardLine(line.text, tuple(entries), line.regimen)


def _specificity(r: Regimen) -> int:
    """How many conditions a regimen's population states (its first step's)."""
    pop = r.steps[0].entry.population
    return sum(1 for name in type(pop).model_fields if getattr(pop, name) is not None)


def _because(r: Regimen) -> str:
    """Why this regimen is the patient's, in the thresholds its cited sources state: a band
    whose numbers none of the cited quotes contains is left out (the guard would rightly
    find it ungrounded)."""
    words = _band(r)
    if not words.startswith("If "):
        return ""
    quotes = " ".join(s.entry.cite.quote for s in r.steps)
    stated = set(re.findall(r"\d+(?:\.\d+)?", quotes))
    if not set(re.findall(r"\d+(?:\.\d+)?", words)) <= stated:
        return ""
    return f" ({words[3:]})"


_FACT_WORDS = {
    "crcl_ml_min": "CrCl",
    "weight_kg": "weight",
    "serum_creatinine_mg_dl": "serum creatinine",
    "hepatic_impairment": "hepatic function",
}


def _when(r: Regimen) -> str:
    band = _band(r)
    return f" {band[0].lower()}{band[1:]}" if band.startswith("If ") else ""


_COUNT = {0: "none", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def _criteria_words(group: Criteria) -> str:
    """ "at least two of: age ≥ 80, weight ≤ 60 kg, serum creatinine ≥ 1.5 mg/dL", counts in
    words as the labels write them (the thresholds are the sources' numbers)."""
    from guardrails.regimens import criteria_words

    listed = criteria_words(group).split(" of: ", 1)[-1]
    if group.at_least is not None:
        return f"at least {_COUNT.get(group.at_least, group.at_least)} of: {listed}"
    n = group.at_most or 0
    if n == 0:
        return f"none of: {listed}"
    return f"fewer than {_COUNT.get(n + 1, n + 1)} of: {listed}"


def _band(r: Regimen) -> str:
    """How a regimen's population reads: "If CrCl < 30 mL/min", "If weight < 50 kg"."""
    pop = r.steps[0].entry.population
    words: list[str] = crcl_words(pop)
    for field, text in (
        ("weight_lt", "weight < {:g} kg"),
        ("weight_ge", "weight ≥ {:g} kg"),
        ("age_lt", "age < {:g}"),
        ("age_ge", "age ≥ {:g}"),
    ):
        value = getattr(pop, field)
        if value is not None:
            words.append(text.format(value))
    if pop.dialysis is not None:
        words.append("on dialysis" if pop.dialysis else "not on dialysis")
    if pop.hepatic_impairment is not None:
        words.append("hepatic impairment" if pop.hepatic_impairment else "no hepatic impairment")
    words.extend(inr_words(pop))
    if pop.criteria is not None:
        words.append(_criteria_words(pop.criteria))
    if r.jurisdiction == "EU":
        words.append("EU labelling")
    return f"If {', '.join(dict.fromkeys(words))}" if words else "Alternative regimen"


def _by_stage(
    regimens: list[Regimen], indication: str, frame: Frame, table: ReferenceTable
) -> list[Regimen]:
    """The asked stage first: without one, the regimens of the asked indication itself lead
    and its sub-uses (extended phase, cancer) follow; EU-only regimens come last."""

    def extended(r: Regimen) -> bool:
        return stage_of(r.indication, table) == "extended" or "extended" in r.id

    def rank(r: Regimen) -> tuple[int, int, int, int]:
        exact = 0 if r.indication == indication else 1
        if frame.stage == "extended":
            exact = 0 if extended(r) else 1
        # The route the question names leads ("subcutaneous heparin for an outpatient").
        routes = {s.entry.route for s in r.steps if s.entry.route}
        off_route = 1 if frame.route and routes and frame.route not in routes else 0
        # With the weight known, a weight-based regimen (computed for it) comes first.
        fixed = 0 if any(s.computed for s in r.steps) else 1
        return (off_route, exact, fixed, 1 if r.jurisdiction == "EU" else 0)

    if frame.stage == "extended" and not any(extended(r) for r in regimens):
        return []
    # A sub-use (cancer-associated VTE) is shown only when it is asked; the extended phase
    # follows the treatment regimen as its next step.
    # A regimen the reference states for a broader use applies too (the renal band of "VTE
    # prophylaxis" for "prophylaxis in acutely ill medical patients").
    asked = set(frame.indications) | {indication}
    asked |= set().union(*(ancestors(i, table) for i in asked))
    keep = [
        r
        for r in regimens
        if r.indication in asked
        or (stage_of(r.indication, table) == "extended" and frame.stage != "initial")
    ]
    return sorted(keep, key=rank)
