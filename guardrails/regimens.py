"""Regimens for one patient: the reference's dose steps grouped, judged and applied.

One implementation serves the guard (which asks whether an entry's population admits the
patient) and the assistant (which prints patient-applied dose cards):

- ``assess(population, patient)`` says whether a population's conditions hold for a patient:
  ``applies``, ``excluded`` (a known fact rules it out) or ``unknown`` (a fact it needs is not
  known; unknown facts never exclude), with the missing facts named and the reason worded.
- ``applicable_regimens(drug, indication, patient)`` groups the entries of a drug into
  regimens (``DoseEntry.regimens``), orders their steps (bolus, loading, initial before
  infusion and maintenance), and applies per-kg doses to a known weight, capped at the stated
  maximum. Nothing is rounded: the pack states no rounding.

The conditions are data (``population`` in doses.yaml): CrCl, dialysis, hepatic impairment,
weight and age bands, and counted criteria such as the apixaban atrial-fibrillation rule
(at least two of age >= 80, weight <= 60 kg, serum creatinine >= 1.5 mg/dL).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from guardrails.context import in_scope
from guardrails.patient import Patient
from guardrails.reference import (
    Condition,
    Criteria,
    Criterion,
    DoseEntry,
    DoseSpec,
    Op,
    Population,
    ReferenceTable,
    default_reference,
)
from guardrails.types import Amount
from guardrails.units import convert

Status = Literal["applies", "excluded", "unknown"]
Kind = Literal["renal", "hepatic", "weight", "population"]

PHASE_ORDER: dict[str | None, int] = {
    "bolus": 0,
    "loading": 1,
    "initial": 2,
    None: 3,
    "infusion": 4,
    "maintenance": 5,
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_NOT = {"<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_KIND_OF_FACT: dict[str, Kind] = {
    "crcl_ml_min": "renal",
    "egfr": "renal",
    "serum_creatinine_mg_dl": "renal",
    "weight_kg": "weight",
    "age": "population",
    "platelets": "population",
    "inr": "population",
}


# ------------------------------------------------------------------ patient facts


def fact_value(patient: Patient, fact: str) -> float | bool | None:
    """A patient fact by name; CrCl falls back to Cockcroft-Gault (``Patient.crcl``)."""
    if fact == "crcl_ml_min":
        return patient.crcl
    value: float | bool | None = getattr(patient, fact)
    return value


def fact_words(fact: str, value: float | bool | None) -> str:
    """A fact as a clinician reads it: "CrCl 25 mL/min", "weight 55 kg", "age 82"."""
    if fact == "dialysis":
        return "on dialysis" if value else "not on dialysis"
    if fact == "hepatic_impairment":
        return "hepatic impairment" if value else "no hepatic impairment"
    label, unit = {
        "crcl_ml_min": ("CrCl", " mL/min"),
        "egfr": ("eGFR", " mL/min/1.73 m2"),
        "weight_kg": ("weight", " kg"),
        "age": ("age", ""),
        "serum_creatinine_mg_dl": ("serum creatinine", " mg/dL"),
        "platelets": ("platelets", " x10^9/L"),
        "inr": ("INR", ""),
    }[fact]
    return f"{label} {value:g}{unit}" if isinstance(value, int | float) else f"{label} not known"


def condition_holds(condition: Condition, patient: Patient) -> bool:
    """Whether a contraindication's condition (conditions.yaml) holds: only on a known fact."""
    value = fact_value(patient, condition.fact)
    if value is None:
        return False
    if condition.equals is not None:
        return value is condition.equals
    if isinstance(value, bool) or condition.op is None or condition.value is None:
        return False
    return _OPS[condition.op](float(value), condition.value)


# ------------------------------------------------------------------ conditions


@dataclass(frozen=True, slots=True)
class _Check:
    """One condition's outcome: holds True/False, or None when its fact is not known."""

    holds: bool | None
    kind: Kind
    missing: tuple[str, ...]
    words: str  # why it holds or fails, for the reader
    reduced: str | None = None  # evidence word that stands for the fact in the guard's text


def _compare(patient: Patient, c: Criterion, kind: Kind, reduced: str | None = None) -> _Check:
    value = fact_value(patient, c.fact)
    if c.fact == "crcl_ml_min" and value is None and patient.dialysis:
        # On dialysis, the kidneys clear next to nothing: below every CrCl cut-off a source
        # states ("CrCl below 15 mL/min or on dialysis").
        holds = c.op in ("<", "<=")
        return _Check(
            holds,
            kind,
            (),
            f"on dialysis (CrCl {'' if holds else 'not '}{c.op} {c.value:g})",
            reduced,
        )
    if value is None or isinstance(value, bool):
        return _Check(None, kind, (c.fact,), f"{fact_words(c.fact, None)}", reduced)
    holds = _OPS[c.op](float(value), c.value)
    op = c.op if holds else f"not {c.op}"
    return _Check(holds, kind, (), f"{fact_words(c.fact, value)} ({op} {c.value:g})", reduced)


def _flag(patient: Patient, fact: str, wanted: bool, reduced: str | None) -> _Check:
    value = fact_value(patient, fact)
    kind: Kind = "hepatic" if fact == "hepatic_impairment" else "renal"
    if value is None:
        return _Check(None, kind, (fact,), f"{fact.replace('_', ' ')} not known", reduced)
    return _Check(value is wanted, kind, (), fact_words(fact, value), reduced)


def _criteria(patient: Patient, group: Criteria) -> _Check:
    results = [(c, _compare(patient, c, _KIND_OF_FACT[c.fact])) for c in group.of]
    met = [r for _, r in results if r.holds is True]
    unknown = [r for _, r in results if r.holds is None]
    n = len(group.of)
    kinds = {_KIND_OF_FACT[c.fact] for c in group.of}
    kind: Kind = kinds.pop() if len(kinds) == 1 else "population"
    missing = tuple(f for r in unknown for f in r.missing)
    if group.at_least is not None:
        need = group.at_least
        holds = True if len(met) >= need else (False if len(met) + len(unknown) < need else None)
        rule = f"at least {need} needed"
    else:
        need = group.at_most or 0
        holds = False if len(met) > need else (True if len(met) + len(unknown) <= need else None)
        rule = f"at most {need} allowed"
    listed = ", ".join(r.words for r in met) if met else "none met"
    words = f"{len(met)} of {n} criteria ({rule}): {listed}"
    if unknown:
        words += "; not known: " + ", ".join(r.missing[0] for r in unknown)
    return _Check(holds, kind, missing if holds is None else (), words)


def _checks(pop: Population, patient: Patient) -> list[_Check]:
    out: list[_Check] = []
    if pop.crcl_lt is not None:
        out.append(
            _compare(
                patient, Criterion(fact="crcl_ml_min", op="<", value=pop.crcl_lt), "renal", "renal"
            )
        )
    if pop.crcl_ge is not None:
        out.append(
            _compare(patient, Criterion(fact="crcl_ml_min", op=">=", value=pop.crcl_ge), "renal")
        )
    if pop.dialysis is not None:
        out.append(_flag(patient, "dialysis", pop.dialysis, "dialysis" if pop.dialysis else None))
    if pop.hepatic_impairment is not None:
        hepatic = pop.hepatic_impairment
        out.append(_flag(patient, "hepatic_impairment", hepatic, "hepatic" if hepatic else None))
    bands: tuple[tuple[str, Op], ...] = (("weight_lt", "<"), ("weight_ge", ">="))
    for field, op in bands:
        if (value := getattr(pop, field)) is not None:
            out.append(_compare(patient, Criterion(fact="weight_kg", op=op, value=value), "weight"))
    ages: tuple[tuple[str, Op], ...] = (("age_lt", "<"), ("age_ge", ">="))
    for field, op in ages:
        if (value := getattr(pop, field)) is not None:
            out.append(_compare(patient, Criterion(fact="age", op=op, value=value), "population"))
    inrs: tuple[tuple[str, Op], ...] = (
        ("inr_ge", ">="), ("inr_gt", ">"), ("inr_lt", "<"), ("inr_le", "<=")
    )  # fmt: skip
    for field, op in inrs:
        if (value := getattr(pop, field)) is not None:
            out.append(_compare(patient, Criterion(fact="inr", op=op, value=value), "population"))
    if pop.criteria is not None:
        out.append(_criteria(patient, pop.criteria))
    return out


@dataclass(frozen=True, slots=True)
class Assessment:
    """Whether a population's conditions hold for a patient, and why."""

    status: Status
    kind: Kind | None  # which fact decides an exclusion (renal, hepatic, weight, population)
    missing: tuple[str, ...]
    why: str


def assess(pop: Population, patient: Patient, evidence: frozenset[str] | None = None) -> Assessment:
    """Whether ``pop`` admits ``patient``.

    Without ``evidence`` (the dose card): known facts decide; a condition whose fact is not
    known makes the status ``unknown`` and names the fact in ``missing``.

    With ``evidence`` (the guard: the special populations the checked text speaks of, e.g.
    ``{"renal"}``): a reduced dose for renal impairment, dialysis or hepatic impairment applies
    only when the facts or the text put the patient in that group, while weight, age and
    counted criteria exclude only on known facts.
    """
    checks = _checks(pop, patient)
    if evidence is not None:
        checks = [_with_evidence(c, patient, evidence) for c in checks]
    failed = [c for c in checks if c.holds is False]
    if failed:
        return Assessment("excluded", failed[0].kind, (), "; ".join(c.words for c in failed))
    unknown = [c for c in checks if c.holds is None]
    if unknown:
        missing = tuple(dict.fromkeys(f for c in unknown for f in c.missing))
        return Assessment("unknown", None, missing, "; ".join(c.words for c in checks))
    return Assessment("applies", None, (), "; ".join(c.words for c in checks))


def _with_evidence(c: _Check, patient: Patient, evidence: frozenset[str]) -> _Check:
    if c.reduced is None:
        # The standard dose and the bands: an unknown fact does not exclude.
        return c if c.holds is not None else _Check(True, c.kind, (), c.words)
    if c.reduced == "renal":  # CrCl below a cut-off: a known value decides
        if c.holds is not None:
            return c
    elif c.holds is True:
        return c
    # Dialysis, hepatic impairment, or an unknown CrCl: the text may name the group.
    holds = c.reduced in evidence
    return _Check(
        holds,
        c.kind,
        (),
        c.words if holds else f"{c.words}, and the text names no {c.reduced} group",
    )


def excluded_by(
    pop: Population, patient: Patient, evidence: frozenset[str] | None = frozenset()
) -> Kind | None:
    """The kind of fact that excludes the entry for this patient (renal, hepatic, weight,
    population), or None. ``evidence=None`` asks about known facts alone."""
    a = assess(pop, patient, evidence)
    return a.kind if a.status == "excluded" else None


# ------------------------------------------------------------------ regimens


@dataclass(frozen=True, slots=True)
class Step:
    """One administration step of a regimen, for this patient."""

    entry: DoseEntry  # the reference entry (entry.cite = the pack document + exact quote)
    phase: str | None  # bolus/loading/initial/infusion/maintenance
    amount: Amount  # as given to this patient (per kg x a known weight, capped), else as stated
    interval_h: tuple[float, ...]  # allowed intervals (empty: single or continuous)
    computed: str | None  # how, e.g. "1 mg/kg x 120 kg = 120 mg"; None when as stated
    capped: bool
    duration: str | None = None  # "for the first 7 days" when the entry states it

    def describe(self) -> str:
        """ "120 mg SC every 12 hours (1 mg/kg x 120 kg = 120 mg)"."""
        parts = [dose_words(self.amount)]
        if self.entry.route:
            parts.append(self.entry.route.upper())
        if self.phase in ("bolus",):
            parts.append("bolus")
        if self.interval_h:
            parts.append(" or ".join(interval_words(h) for h in self.interval_h))
        if self.duration:
            parts.append(self.duration)
        text = " ".join(parts)
        return f"{text} ({self.computed})" if self.computed else text


@dataclass(frozen=True, slots=True)
class Regimen:
    """A drug's regimen for one indication, judged for one patient."""

    id: str  # the entries' shared regimen id
    drug: str
    indication: str
    jurisdiction: str  # "US" (default) or "EU" for an EU-only dose
    steps: tuple[Step, ...]  # bolus/loading/initial first, then infusion/maintenance
    status: Status  # for this patient
    missing: tuple[str, ...]  # facts needed to decide ("weight_kg", "crcl_ml_min", ...)
    why: str  # "CrCl 25 mL/min (< 30)", "2 of 3 criteria (...): age 82 (>= 80), ..."


_STATUS_ORDER = {"applies": 0, "unknown": 1, "excluded": 2}


def applicable_regimens(
    drug: str, indication: str | None, patient: Patient, table: ReferenceTable | None = None
) -> list[Regimen]:
    """Every regimen of ``drug`` (a class word stands for its members) for ``indication``
    (None: every indication; a parent indication covers its children), judged and applied
    for ``patient``: those that apply first, then the undecided, then the excluded, each group
    in the reference's order."""
    table = table or default_reference()
    wanted = {indication} if indication else set()
    groups: dict[str, list[tuple[int, DoseEntry]]] = {}
    for name in table.members(drug):
        for i, e in enumerate(table.doses):
            if e.drug != name or not in_scope(e.indication, wanted, table):
                continue
            for r in e.regimens:
                groups.setdefault(r, []).append((i, e))
    out = [_regimen(rid, members, patient) for rid, members in groups.items()]
    return sorted(out, key=lambda r: _STATUS_ORDER[r.status])


def _regimen(rid: str, members: list[tuple[int, DoseEntry]], patient: Patient) -> Regimen:
    ordered = [e for _, e in sorted(members, key=lambda ie: (PHASE_ORDER[ie[1].phase], ie[0]))]
    assessments = [assess(e.population, patient) for e in ordered]
    excluded = [a for a in assessments if a.status == "excluded"]
    unknown = [a for a in assessments if a.status == "unknown"]
    deciding = excluded or assessments
    status: Status = "excluded" if excluded else ("unknown" if unknown else "applies")
    missing = () if excluded else tuple(dict.fromkeys(f for a in unknown for f in a.missing))
    why = "; ".join(dict.fromkeys(a.why for a in deciding if a.why)) or "no patient criteria"
    first = ordered[0]
    return Regimen(
        id=rid,
        drug=first.drug,
        indication=first.indication,
        jurisdiction="EU" if any(e.jurisdiction == "EU" for e in ordered) else "US",
        steps=tuple(apply_step(e, patient) for e in ordered),
        status=status,
        missing=missing,
        why=why,
    )


def apply_step(entry: DoseEntry, patient: Patient) -> Step:
    """The entry's dose as given to this patient: per kg times a known weight, capped at the
    entry's stated maximum per dose (or per day, for a fixed interval)."""
    dose = entry.dose
    stated = spec_amount(dose)
    weight = patient.weight_kg
    interval = tuple(entry.interval_h or ())
    if not dose.per_kg or weight is None:
        return Step(entry, entry.phase, stated, interval, None, False, entry.duration)
    total = Amount(dose.low * weight, dose.high * weight, dose.unit, False, dose.per_time)
    computed = f"{dose_words(stated)} x {weight:g} kg = {dose_words(total)}"
    cap = _cap(entry, total)
    capped = cap is not None and total.high > cap
    if cap is not None and capped:
        total = Amount(min(total.low, cap), cap, total.unit, False, total.per_time)
        computed += f", capped at the stated maximum of {dose_words(total)}"
    return Step(entry, entry.phase, total, interval, computed, capped, entry.duration)


def _cap(entry: DoseEntry, total: Amount) -> float | None:
    """The stated maximum of one dose in ``total``'s unit, if there is an absolute one."""
    caps: list[float] = []
    if entry.max_per_dose is not None and not entry.max_per_dose.per_kg:
        c = _in_unit(entry.max_per_dose, total)
        if c is not None:
            caps.append(c)
    interval = entry.interval_h or []
    if entry.max_per_day is not None and len(interval) == 1 and total.per_time is None:
        daily = _in_unit(entry.max_per_day, total)
        if daily is not None:
            caps.append(daily * interval[0] / 24.0)
    return min(caps) if caps else None


def _in_unit(spec: DoseSpec, like: Amount) -> float | None:
    converted = convert(spec_amount(spec), like.unit, False, like.per_time)
    return converted[1] if converted else None


def spec_amount(spec: DoseSpec) -> Amount:
    return Amount(spec.low, spec.high, spec.unit, spec.per_kg, spec.per_time)


# ------------------------------------------------------------------ words

_UNIT_WORDS = {"USP_unit": "units", "international_unit": "units"}


def number_words(x: float) -> str:
    """8000 -> "8,000"; 0.75 -> "0.75"; 1e-7 stays readable."""
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:,.6f}".rstrip("0").rstrip(".")


def dose_words(a: Amount) -> str:
    """An amount as the pack writes it: "8,000 units", "1 mg/kg", "1,800 units/h"."""
    value = (
        number_words(a.low)
        if a.low == a.high
        else f"{number_words(a.low)} to {number_words(a.high)}"
    )
    unit = _UNIT_WORDS.get(a.unit, a.unit)
    return (
        f"{value} {unit}" + ("/kg" if a.per_kg else "") + (f"/{a.per_time}" if a.per_time else "")
    )


_FACT_LABELS = {
    "age": ("age", ""),
    "weight_kg": ("weight", " kg"),
    "serum_creatinine_mg_dl": ("serum creatinine", " mg/dL"),
    "crcl_ml_min": ("CrCl", " mL/min"),
    "egfr": ("eGFR", ""),
    "platelets": ("platelets", " x10^9/L"),
    "inr": ("INR", ""),
}
_OP_WORDS = {"<": "<", "<=": "≤", ">": ">", ">=": "≥"}


def crcl_words(pop: Population) -> list[str]:
    """A population's CrCl band: ["CrCl 15 to < 30 mL/min"], ["CrCl < 30 mL/min"]."""
    if pop.crcl_ge is not None and pop.crcl_lt is not None:
        return [f"CrCl {pop.crcl_ge:g} to < {pop.crcl_lt:g} mL/min"]
    if pop.crcl_lt is not None:
        return [f"CrCl < {pop.crcl_lt:g} mL/min"]
    if pop.crcl_ge is not None:
        return [f"CrCl ≥ {pop.crcl_ge:g} mL/min"]
    return []


def inr_words(pop: Population) -> list[str]:
    """A population's INR band as the sources write it: ["INR 4 to 6"], ["INR 2 to < 4"],
    ["INR > 6"]."""
    if pop.inr_ge is not None and pop.inr_le is not None:
        return [f"INR {pop.inr_ge:g} to {pop.inr_le:g}"]
    if pop.inr_ge is not None and pop.inr_lt is not None:
        return [f"INR {pop.inr_ge:g} to < {pop.inr_lt:g}"]
    ops = (("inr_ge", ">="), ("inr_gt", ">"), ("inr_lt", "<"), ("inr_le", "<="))
    return [
        f"INR {_OP_WORDS[op]} {getattr(pop, f):g}" for f, op in ops if getattr(pop, f) is not None
    ]


def criteria_words(group: Criteria) -> str:
    """ "at least 2 of: age ≥ 80, weight ≤ 60 kg, serum creatinine ≥ 1.5 mg/dL"."""
    listed = ", ".join(
        f"{_FACT_LABELS[c.fact][0]} {_OP_WORDS[c.op]} {c.value:g}{_FACT_LABELS[c.fact][1]}"
        for c in group.of
    )
    if group.at_least == len(group.of):
        return listed.replace(", ", " and ")
    if group.at_most == 0:
        return f"none of: {listed}"
    count = (
        f"at least {group.at_least}" if group.at_least is not None else f"at most {group.at_most}"
    )
    return f"{count} of: {listed}"


def interval_words(hours: float) -> str:
    return {
        24.0: "once daily",
        12.0: "every 12 hours",
        8.0: "every 8 hours",
        6.0: "every 6 hours",
    }.get(float(hours)) or _every(hours)


def _every(hours: float) -> str:
    """ "every hour", "every 30 minutes", "every 48 hours"."""
    if hours == 1:
        return "every hour"
    if 0 < hours < 1:
        return f"every {hours * 60:.3g} minutes"
    return f"every {hours:g} hours"
