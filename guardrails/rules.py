"""The guard's rules. Each is a small pure function with a stable rule id.

Dose rules compare one DoseMention with the reference entries for its drug that are in scope
(indication from the sentence, else the conversation; route and bolus/infusion phase when
stated) and apply to the patient (renal, hepatic, weight and age bands). A dose passes when
at least one applicable entry accepts it; otherwise the first rule below that explains the
difference names it, and DOSE_RANGE catches the rest. Every rule fails closed: what cannot be
compared is a finding, never a silent pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

from guardrails.context import drugs_in
from guardrails.patient import Patient
from guardrails.reference import (
    Contraindication,
    DoseEntry,
    DoseSpec,
    Population,
    ReferenceTable,
)
from guardrails.regimens import (
    apply_step,
    condition_holds,
    crcl_words,
    criteria_words,
    excluded_by,
    inr_words,
    interval_words,
)
from guardrails.support import best_support
from guardrails.types import Amount, DoseMention, Finding, Severity, Source
from guardrails.units import convert

_TOL = 1e-6


@dataclass(frozen=True, slots=True)
class DoseContext:
    """Everything a dose rule may look at besides the mention itself."""

    text: str
    patient: Patient
    indications: frozenset[str]
    entries: tuple[DoseEntry, ...]  # in scope for drug, indication, route, phase
    table: ReferenceTable
    evidence: frozenset[str] = frozenset()  # special populations the sentence or question names
    weight_kg: float | None = None  # the weight a fixed amount may be a total for


def finding(
    rule_id: str,
    mention_span: tuple[int, int],
    text: str,
    message: str,
    *,
    expected: str | None = None,
    source: Source | None = None,
    sentence: tuple[int, int] | None = None,
    drug: str | None = None,
    drug_from: str | None = None,
) -> Finding:
    """A finding of a registered rule, its severity from the registry. ``citation`` (the
    formatted 'doc: \u201cquote\u201d') is kept beside ``source`` for one transition."""
    return Finding(
        rule_id,
        RULES[rule_id][0],
        mention_span,
        text[mention_span[0] : mention_span[1]],
        message,
        expected,
        f"{source.doc_id}: \u201c{source.quote}\u201d" if source else None,
        sentence,
        source,
        drug,
        drug_from,
    )


def describe_spec(spec: DoseSpec) -> str:
    return Amount(spec.low, spec.high, spec.unit, spec.per_kg, spec.per_time).describe()


def describe_entry(entry: DoseEntry) -> str:
    parts = [describe_spec(entry.dose)]
    if entry.interval_h:
        parts.append(" or ".join(interval_words(h) for h in entry.interval_h))
    if entry.route:
        parts.append(entry.route.upper())
    if entry.max_per_dose:
        parts.append(f"max {describe_spec(entry.max_per_dose)} per dose")
    return ", ".join(parts) + f" ({entry.indication}{_population_words(entry.population)})"


def cite(entry: DoseEntry | Contraindication) -> Source:
    return Source(entry.cite.doc, entry.cite.quote)


def _population_words(pop: Population) -> str:
    words = crcl_words(pop)
    if pop.dialysis is not None:
        words.append("on dialysis" if pop.dialysis else "not on dialysis")
    if pop.hepatic_impairment is not None:
        words.append("hepatic impairment" if pop.hepatic_impairment else "normal hepatic function")
    if pop.weight_lt is not None:
        words.append(f"< {pop.weight_lt:g} kg")
    if pop.weight_ge is not None:
        words.append(f"≥ {pop.weight_ge:g} kg")
    if pop.age_lt is not None:
        words.append(f"age < {pop.age_lt:g}")
    if pop.age_ge is not None:
        words.append(f"age ≥ {pop.age_ge:g}")
    words.extend(inr_words(pop))
    if pop.criteria is not None:
        words.append(criteria_words(pop.criteria))
    return "; " + ", ".join(words) if words else ""


# ------------------------------------------------------------------ population


_EVIDENCE = {
    "renal": re.compile(
        r"\b(?:renal|kidney|CrCl|CLcr|creatinine clearance|eGFR|GFR)\b", re.IGNORECASE
    ),
    "dialysis": re.compile(r"\b(?:dialysis|hemodialysis|haemodialysis|CRRT)\b", re.IGNORECASE),
    "hepatic": re.compile(r"\b(?:hepatic|liver|Child-Pugh|cirrhosis)\b", re.IGNORECASE),
}


def evidence_in(text: str) -> frozenset[str]:
    """Special populations a text speaks of ("in renal impairment", "on dialysis")."""
    return frozenset(name for name, pattern in _EVIDENCE.items() if pattern.search(text))


# ------------------------------------------------------------------ comparison


def fits(amount: Amount, spec: DoseSpec, scale: float = 1.0) -> bool | None:
    """Whether ``amount`` (times ``scale``) lies within ``spec``; None if not comparable."""
    converted = convert(amount, spec.unit, spec.per_kg, spec.per_time)
    if converted is None:
        return None
    low, high = converted[0] * scale, converted[1] * scale
    return spec.low * (1 - _TOL) <= low and high <= spec.high * (1 + _TOL)


def accepts(mention: DoseMention, entry: DoseEntry) -> bool:
    if mention.is_max:
        return max_ok(mention, entry)
    ok = fits(mention.amount, entry.dose) or fits(
        mention.amount, titration_range(entry) or entry.dose
    )
    if not ok:
        return False
    return frequency_ok(mention, entry)


def max_ok(mention: DoseMention, entry: DoseEntry) -> bool:
    """A stated maximum ("not exceeding 18,000 units daily", "up to 2 mcg/kg/min") lies within
    the reference: never above its ceiling (the stated maximum per dose, per day when the
    sentence speaks of a day, else the dose itself), and never below the highest dose the
    reference gives, which a lower ceiling would cut off ("not more than 5 mg" of protamine
    where the label allows 50 mg). A ceiling comparable only with the reference's own cap
    (100 mg for a 1 mg/kg dose) must be that cap."""
    caps = [entry.max_per_dose or entry.dose]
    if entry.max_per_day and (mention.interval_h == 24 or mention.amount.per_time == "day"):
        caps.append(entry.max_per_day)
    dose = Amount(
        entry.dose.low, entry.dose.high, entry.dose.unit, entry.dose.per_kg, entry.dose.per_time
    )
    for cap in caps:
        stated = convert(mention.amount, cap.unit, cap.per_kg, cap.per_time)
        if stated is None:
            continue
        floor = convert(dose, cap.unit, cap.per_kg, cap.per_time)
        lowest = floor[1] if floor is not None else cap.low
        if lowest * (1 - _TOL) <= stated[0] and stated[1] <= cap.high * (1 + _TOL):
            return True
    return False


def titration_range(entry: DoseEntry) -> DoseSpec | None:
    """An infusion is titrated from its starting rate up to the stated maximum rate."""
    top = entry.max_per_dose
    dose = entry.dose
    if (
        top is None
        or dose.per_time is None
        or entry.phase not in (None, "infusion", "maintenance", "initial")
    ):
        return None
    if (top.unit, top.per_kg, top.per_time) != (dose.unit, dose.per_kg, dose.per_time):
        return None
    return DoseSpec(
        low=dose.low,
        high=max(top.high, dose.high),
        unit=dose.unit,
        per_kg=dose.per_kg,
        per_time=dose.per_time,
    )


def frequency_ok(mention: DoseMention, entry: DoseEntry) -> bool:
    """The mention's interval is one the entry allows. An entry without one is a single dose
    or a continuous rate: a fixed amount repeated at an interval is another regimen
    ("15,000 units once daily" is not the single 10,000 to 20,000 unit SC starting dose)."""
    if mention.interval_h is None:
        return True
    if not entry.interval_h:
        return entry.dose.per_time is not None
    return any(abs(mention.interval_h - h) < 0.01 for h in entry.interval_h)


def _swapped(mention: DoseMention, **changes: object) -> DoseMention:
    from dataclasses import replace

    return replace(mention, amount=replace(mention.amount, **changes))  # type: ignore[arg-type]


# ------------------------------------------------------------------ dose rules

DoseRule = Callable[
    [DoseMention, DoseContext, list[DoseEntry], Sequence[tuple[DoseEntry, str]]], Finding | None
]


def rule_dose_unit(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """DOSE_UNIT: the number fits an applicable entry only after swapping mg<->mcg (x1000)
    or, for a rate, per hour<->per minute (x60)."""
    for entry in applicable:
        for scale, what in (
            (1 / 1000, "mcg"),
            (1000, "mg"),
            # Scaled into the reference's unit: x1/60 fits when the answer wrote per minute
            # for a per-hour reference, so the number was meant per hour (and vice versa).
            (1 / 60, "per hour"),
            (60, "per minute"),
        ):
            if what.startswith("per") and m.amount.per_time is None:
                continue  # "2.5 mg" is no rate, so no per hour was meant per minute
            if fits(m.amount, entry.dose, scale) and frequency_ok(m, entry):
                intended = {
                    "mcg": "mcg where the reference says mcg, not mg",
                    "mg": "mg where the reference says mg, not mcg",
                    "per minute": "per minute where the reference says per minute, not per hour",
                    "per hour": "per hour where the reference says per hour, not per minute",
                }[what]
                return finding(
                    "DOSE_UNIT",
                    m.span,
                    ctx.text,
                    f"{m.drug}: {m.amount.describe()} has the wrong unit — the number fits only as {intended}.",
                    expected=describe_entry(entry),
                    source=cite(entry),
                    sentence=m.sentence,
                )
    return None


def rule_per_kg(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """DOSE_PER_KG: the amount would fit if /kg were added or removed."""
    for entry in applicable:
        if entry.dose.per_kg != m.amount.per_kg and fits(
            _swapped(m, per_kg=entry.dose.per_kg).amount, entry.dose
        ):
            what = "is missing /kg" if entry.dose.per_kg else "should not be per kg"
            return finding(
                "DOSE_PER_KG",
                m.span,
                ctx.text,
                f"{m.drug}: {m.amount.describe()} {what}.",
                expected=describe_entry(entry),
                source=cite(entry),
                sentence=m.sentence,
            )
    return None


def rule_frequency(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """DOSE_FREQUENCY: the amount fits an applicable entry but the interval does not."""
    for entry in applicable:
        if fits(m.amount, entry.dose) and not frequency_ok(m, entry):
            return finding(
                "DOSE_FREQUENCY",
                m.span,
                ctx.text,
                f"{m.drug}: {m.amount.describe()} {interval_words(m.interval_h or 0)} — the reference gives this amount "
                f"{' or '.join(interval_words(h) for h in entry.interval_h or [])}.",
                expected=describe_entry(entry),
                source=cite(entry),
                sentence=m.sentence,
            )
    return None


def rule_route(
    m: DoseMention, entries: Sequence[DoseEntry], text: str, uses: str = ""
) -> Finding | None:
    """DOSE_ROUTE: the sentence states a route that no reference regimen of the drug gives it
    by (``entries``: the drug's entries for the use, where the use is known and has some;
    else all of the drug's). A route the sentence does not state is never a finding, and an
    entry that states no route says nothing either way (fail closed on a route the
    reference never gives, "enoxaparin 40 mg IV once daily for prophylaxis"). ``uses``: the
    use the entries were chosen for, in words, when they were."""
    if m.route is None:
        return None
    routes = sorted({e.route for e in entries if e.route})
    if not routes or m.route in routes:
        return None
    given = [e for e in entries if e.route]
    right = _closest(m, given)
    assert right is not None
    for_use = f" for {uses}" if uses else ""
    return finding(
        "DOSE_ROUTE",
        m.span,
        text,
        f"{m.drug}: {m.amount.describe()} {m.route.upper()} — the reference gives {m.drug}"
        f"{for_use} only {' or '.join(r.upper() for r in routes)}.",
        expected=describe_entry(right),
        source=cite(right),
        sentence=m.sentence,
    )


_BAND_RULE = {
    "renal": "RENAL_ADJUSTMENT",
    "hepatic": "HEPATIC_ADJUSTMENT",
    "weight": "WEIGHT_BAND",
    "population": "POPULATION",
}


def rule_band(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """RENAL_ADJUSTMENT / HEPATIC_ADJUSTMENT / WEIGHT_BAND / POPULATION: the dose is right for
    a patient group this patient is not in."""
    for entry, reason in excluded:
        if not accepts(m, entry):
            continue
        right = _closest(m, applicable)
        band = _population_words(entry.population)[2:]
        facts = _facts_for(reason, ctx.patient)
        if facts:
            message = f"{m.drug}: {m.amount.describe()} is the dose for {band}, but this patient has {facts}."
        else:
            message = (
                f"{m.drug}: {m.amount.describe()} is the dose for {band}; nothing in the question "
                "or the sentence says this patient is in that group."
            )
        if right is not None:
            message += f" The reference gives {describe_entry(right)}."
        return finding(
            _BAND_RULE[reason],
            m.span,
            ctx.text,
            message,
            expected=describe_entry(right) if right else None,
            source=cite(right) if right else cite(entry),
            sentence=m.sentence,
        )
    return None


def _facts_for(reason: str, patient: Patient) -> str:
    crcl = patient.crcl
    if reason == "renal":
        parts = [
            f"CrCl {crcl:g} mL/min" if crcl is not None else "",
            "dialysis" if patient.dialysis else "",
        ]
        return ", ".join(p for p in parts if p)
    if reason == "hepatic" and patient.hepatic_impairment is not None:
        return "hepatic impairment" if patient.hepatic_impairment else "no hepatic impairment"
    if reason == "weight" and patient.weight_kg is not None:
        return f"a body weight of {patient.weight_kg:g} kg"
    if reason == "population" and patient.age is not None:
        return f"an age of {patient.age:g} years"
    return ""


def _closest(m: DoseMention, entries: list[DoseEntry]) -> DoseEntry | None:
    """The entry a reader should see as 'expected': same unit shape and interval first."""

    def rank(e: DoseEntry) -> tuple[int, int]:
        same_shape = convert(m.amount, e.dose.unit, e.dose.per_kg, e.dose.per_time) is not None
        return (0 if same_shape else 1, 0 if frequency_ok(m, e) else 1)

    return min(entries, key=rank) if entries else None


def rule_range(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """DOSE_RANGE: above or below every applicable reference range (the catch-all)."""
    comparable: list[tuple[DoseEntry, tuple[float, float]]] = []
    for e in applicable:
        converted = convert(m.amount, e.dose.unit, e.dose.per_kg, e.dose.per_time)
        if converted is not None:
            comparable.append((e, converted))
    if not comparable and ctx.weight_kg and not m.amount.per_kg:
        # A total for a known weight: compare it with each per-kg entry applied to it.
        for e in applicable:
            if not e.dose.per_kg:
                continue
            step = apply_step(e, Patient(weight_kg=ctx.weight_kg))
            got = convert(m.amount, step.amount.unit, False, step.amount.per_time)
            if got is None:
                continue
            direction = "above" if got[0] > step.amount.high else "below"
            return finding(
                "DOSE_RANGE",
                m.span,
                ctx.text,
                f"{m.drug}: {m.amount.describe()} is {direction} the reference dose for "
                f"{ctx.weight_kg:g} kg ({step.computed}).",
                expected=describe_entry(e),
                source=cite(e),
                sentence=m.sentence,
            )
    if not comparable:
        # Every entry doses this drug in another unit family (mg vs units, per kg vs
        # absolute): that is the wrong unit family, not an unknown.
        entry = applicable[0]
        return finding(
            "DOSE_UNIT",
            m.span,
            ctx.text,
            f"{m.drug}: {m.amount.describe()} is in another unit family than the reference dose "
            f"{describe_spec(entry.dose)}.",
            expected=describe_entry(entry),
            source=cite(entry),
            sentence=m.sentence,
        )
    # The nearest entry of the same interval is the one a reader should see.
    entry, (low, high) = min(
        comparable, key=lambda ec: (not frequency_ok(m, ec[0]), _distance(ec[1], ec[0].dose))
    )
    direction = "above" if high > entry.dose.high else "below"
    return finding(
        "DOSE_RANGE",
        m.span,
        ctx.text,
        f"{m.drug}: {m.amount.describe()} is {direction} the reference dose {describe_spec(entry.dose)}.",
        expected=describe_entry(entry),
        source=cite(entry),
        sentence=m.sentence,
    )


def _distance(value: tuple[float, float], spec: DoseSpec) -> float:
    import math

    mid = max(value[0], 1e-12)
    lo, hi = max(spec.low, 1e-12), max(spec.high, 1e-12)
    return 0.0 if lo <= mid <= hi else min(abs(math.log(mid / lo)), abs(math.log(mid / hi)))


def rule_known_band(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """The band rules where a known patient fact (not missing evidence) excludes the entry."""
    known = [
        (e, r) for e, r in excluded if excluded_by(e.population, ctx.patient, None) is not None
    ]
    return rule_band(m, ctx, applicable, known)


# Known patient facts explain a dose first; a reduced dose given with no reason for it is
# named only after unit, per-kg and frequency slips are ruled out.
DOSE_RULES: tuple[DoseRule, ...] = (
    rule_known_band,
    rule_dose_unit,
    rule_per_kg,
    rule_frequency,
    rule_band,
    rule_range,
)


def _spanning_entries(
    m: DoseMention, entries: list[DoseEntry]
) -> tuple[DoseEntry, DoseEntry] | None:
    """A written range ("25-50 units/kg, by INR") whose ends are each a reference regimen."""
    a = m.amount
    if a.low == a.high:
        return None
    low = next((e for e in entries if accepts(_swapped(m, high=a.low), e)), None)
    high = next((e for e in entries if accepts(_swapped(m, low=a.high), e)), None)
    return (low, high) if low and high else None


def check_dose(m: DoseMention, ctx: DoseContext) -> Finding:
    """DOSE_OK when an applicable entry accepts the dose, else the first rule that explains it."""
    applicable = [
        e for e in ctx.entries if excluded_by(e.population, ctx.patient, ctx.evidence) is None
    ]
    excluded = [
        (e, r)
        for e in ctx.entries
        if (r := excluded_by(e.population, ctx.patient, ctx.evidence)) is not None
    ]
    if (standing := _standing_band(m, ctx, applicable, excluded)) is not None:
        return standing
    for entry in applicable:
        if accepts(m, entry):
            return finding(
                "DOSE_OK",
                m.span,
                ctx.text,
                f"{m.drug}: {m.amount.describe()} matches the reference.{_jurisdiction(entry)}",
                expected=describe_entry(entry),
                source=cite(entry),
                sentence=m.sentence,
            )
    for entry in applicable:
        if (how := accepts_total(m, entry, ctx.weight_kg)) is not None:
            return finding(
                "DOSE_OK",
                m.span,
                ctx.text,
                f"{m.drug}: {m.amount.describe()} is the reference dose for this weight ({how}).{_jurisdiction(entry)}",
                expected=describe_entry(entry),
                source=cite(entry),
                sentence=m.sentence,
            )
    if (spanning := _spanning_entries(m, applicable)) is not None:
        low_entry, high_entry = spanning
        return finding(
            "DOSE_OK",
            m.span,
            ctx.text,
            f"{m.drug}: {m.amount.describe()} spans reference regimens from {describe_spec(low_entry.dose)} "
            f"to {describe_spec(high_entry.dose)}.",
            expected=f"{describe_entry(low_entry)}; {describe_entry(high_entry)}",
            source=cite(low_entry),
            sentence=m.sentence,
        )
    if not applicable:
        band = rule_known_band(m, ctx, [], excluded)
        if band:
            return band
        applicable = [e for e, _ in excluded]  # nothing fits this patient: compare with all
    for rule in DOSE_RULES:
        result = rule(m, ctx, applicable, excluded)
        if result:
            return result
    raise AssertionError("rule_range always returns a finding")  # pragma: no cover


def _standing_band(
    m: DoseMention,
    ctx: DoseContext,
    applicable: list[DoseEntry],
    excluded: Sequence[tuple[DoseEntry, str]],
) -> Finding | None:
    """Where the use is not known, a dose that only a procedure's or an acute protocol's
    regimen accepts (``setting_bound`` in indications.yaml: PCI, bypass, ACS) is judged by
    the drug's standing regimens, whose patient bands apply: "Start argatroban at 2
    mcg/kg/min" for a patient with hepatic impairment is the HIT starting rate for normal
    hepatic function, not the rate continued after PCI. Only a known patient fact (not
    missing evidence) excludes, so a dose for a patient nothing is known about is unchanged."""
    if ctx.indications:
        return None
    bound = {i.id for i in ctx.table.indications if i.setting_bound}
    accepting = [
        e for e in applicable if accepts(m, e) or accepts_total(m, e, ctx.weight_kg) is not None
    ]
    if not accepting or any(e.indication not in bound for e in accepting):
        return None
    # The drug's standing regimens on every route: a band is the drug's, not the route's.
    drug = [e for d in ctx.table.members(m.drug or "") for e in ctx.table.entries_for(d)]
    standing = [e for e in drug if e.indication not in bound]
    known = [
        (e, r) for e in standing if (r := excluded_by(e.population, ctx.patient, None)) is not None
    ]
    admitted = [e for e in standing if excluded_by(e.population, ctx.patient, None) is None]
    return rule_band(m, ctx, admitted, known)


def _jurisdiction(entry: DoseEntry) -> str:
    if entry.jurisdiction == "US":
        return ""
    return f" It is the {entry.jurisdiction} labelling's dose; the US label differs."


def accepts_total(m: DoseMention, entry: DoseEntry, weight: float | None) -> str | None:
    """How a fixed amount is the entry's per-kg dose applied to a known weight ("80 mg" for
    1 mg/kg at 80 kg, "1,800 units/h" for 18 units/kg/h at 100 kg), within the entry's stated
    maximum (a capped total is the maximum itself); None when it is not."""
    a, d = m.amount, entry.dose
    if a.per_kg or not d.per_kg or weight is None or weight <= 0 or m.is_max:
        return None
    step = apply_step(entry, Patient(weight_kg=weight))
    cap = step.amount.high if step.capped else None
    if cap is not None and fits(a, _spec(step.amount)) and frequency_ok(m, entry):
        return step.computed
    per_kg = replace(m, amount=Amount(a.low / weight, a.high / weight, a.unit, True, a.per_time))
    if not accepts(per_kg, entry):
        return None
    c = convert(a, step.amount.unit, False, step.amount.per_time) if cap is not None else None
    if cap is not None and c is not None and c[1] > cap * (1 + _TOL):
        return None  # above the stated maximum
    return f"{describe_spec(d)} x {weight:g} kg"


def _spec(a: Amount) -> DoseSpec:
    return DoseSpec(low=a.low, high=a.high, unit=a.unit, per_kg=a.per_kg, per_time=a.per_time)


# ------------------------------------------------------------------ other rules


def rule_arithmetic(m: DoseMention, text: str) -> Finding | None:
    """DOSE_ARITHMETIC: "1 mg/kg (80 mg for 80 kg)" must multiply out (1% tolerance)."""
    if not (m.amount.per_kg and m.weight_kg and m.total):
        return None
    expected_low, expected_high = m.amount.low * m.weight_kg, m.amount.high * m.weight_kg
    total = convert(m.total, m.amount.unit, False, m.amount.per_time)
    if total is None:
        return finding(
            "DOSE_ARITHMETIC",
            m.span,
            text,
            f"{m.drug}: the total {m.total.describe()} is not in the unit of {m.amount.describe()}.",
            sentence=m.sentence,
        )
    if expected_low * 0.99 <= total[0] and total[1] <= expected_high * 1.01:
        return None
    return finding(
        "DOSE_ARITHMETIC",
        m.span,
        text,
        f"{m.drug}: {m.amount.describe()} for {m.weight_kg:g} kg is {expected_low:g}"
        f"{'' if expected_low == expected_high else f'–{expected_high:g}'} {m.amount.unit}, not {m.total.describe()}.",
        expected=f"{expected_low:g} {m.amount.unit}",
        sentence=m.sentence,
    )


# "should not exceed 18,000 units" states a maximum; it does not say to withhold the drug.
_NOT_RECOMMENDED = re.compile(
    r"\b(contraindicat\w*|avoid\w*|do not|don't|must not|should not|never|stop\w*|discontinu\w*|not recommended)\b"
    r"(?!\s+(?:be\s+)?exceed)",
    re.IGNORECASE,
)


def _names(drug: str, table: ReferenceTable) -> list[str]:
    """Every word that names ``drug``: its names, its class's words (class_words in
    conditions.yaml), and the class word that stands for every member ("LMWH")."""
    me = next((d for d in table.drugs if d.name == drug), None)
    if me is None:
        return [drug]
    names = [me.name, *me.names, *table.class_words.get(me.drug_class or "", ())]
    for d in table.drugs:
        if d.drug_class == me.drug_class and d.name != me.name and not table.entries_for(d.name):
            names += [d.name, *d.names]
    return names


def name_pattern(drug: str, table: ReferenceTable) -> re.Pattern[str]:
    """One pattern for every word that names ``drug`` (made once per table and drug)."""
    patterns: dict[str, re.Pattern[str]] = table.memo("name_patterns", dict)
    if drug not in patterns:
        names = sorted(set(_names(drug, table)), key=len, reverse=True)
        alternatives = "|".join(re.escape(n) for n in names)
        patterns[drug] = re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)
    return patterns[drug]


_PRONOUN = re.compile(
    r"(?<![\w-])(?:it|this drug|the drug|this agent|the agent)(?![\w-])", re.IGNORECASE
)


def warns_against(sentence: str, drug: str, table: ReferenceTable, pronoun: bool = False) -> bool:
    """Whether a sentence says not to give ``drug``: a warning word with the drug named in the
    same clause just before it ("Fondaparinux is contraindicated", "enoxaparin 1 mg/kg must
    not be given") or just after it ("stop all heparin"). A warning about another drug
    ("after stopping all heparin", said of argatroban) does not count."""
    name = name_pattern(drug, table)
    for w in _NOT_RECOMMENDED.finditer(sentence):
        before = _CLAUSE.split(sentence[max(0, w.start() - 80) : w.start()])[-1]
        after = _CLAUSE.split(sentence[w.end() : w.end() + 40])[0]
        if name.search(before) or name.search(after):
            return True
        if pronoun and (_PRONOUN.search(before) or _PRONOUN.search(after)):
            return True  # the drug was named before the sentence: "It is contraindicated"
    return False


_CLAUSE = re.compile(r"[,;:()]")


_THRESHOLD = re.compile(
    r"(?:\b(?:more|greater|higher|less|fewer|lower) than|\bexceed(?:s|ing)?|\bover|\babove|\bbelow|"
    r"\bunder|\bat least|[<>≥≤])\s*(?:about\s+|approximately\s+)?$",
    re.IGNORECASE,
)


def rule_contraindication(
    m: DoseMention, text: str, patient: Patient, table: ReferenceTable, pronoun: bool = False
) -> Finding | None:
    """CONTRAINDICATION: a dose of a drug the patient must not get (any heparin or LMWH in
    HIT; fondaparinux with CrCl < 30 mL/min), unless the sentence itself says not to give it
    (``pronoun``: the drug is named before the sentence, so "it" names it)."""
    s_text = text[m.sentence[0] : m.sentence[1]]
    if m.drug is None or warns_against(s_text, m.drug, table, pronoun):
        return None
    if not m.is_max and _THRESHOLD.search(text[max(m.sentence[0], m.span[0] - 30) : m.span[0]]):
        return None  # "needs more than 35,000 units/day" states a threshold, not a dose to give
    c = contraindicated(m.drug, patient, table)
    if c is None:
        return None
    return finding("CONTRAINDICATION", m.span, text, c.message, source=cite(c), sentence=m.sentence)


def contraindicated(drug: str, patient: Patient, table: ReferenceTable) -> Contraindication | None:
    """The first contraindication of ``drug`` (or of a class word's members) whose condition
    holds for the patient."""
    drugs = {drug, *table.members(drug)}
    conditions = {c.id: c for c in table.conditions}
    for c in table.contraindications:
        if drugs & set(c.drugs) and condition_holds(conditions[c.when], patient):
            return c
    return None


_REVERSING = re.compile(r"\b(?:revers|neutrali[sz]|antidote)\w*", re.IGNORECASE)


def _reversed_in_sentence(
    sentence: str, drugs: Sequence[str], table: ReferenceTable
) -> frozenset[str]:
    """The drugs a sentence speaks of as the ones being reversed: it says reverse (reversal,
    neutralise, antidote) and names a reversal agent of the reference that reverses them
    ("Rivaroxaban and apixaban can be reversed with andexanet alfa"). The agent is the drug
    given; the drugs it reverses are not."""
    if not _REVERSING.search(sentence):
        return frozenset()
    uses = {i.id for i in table.indications if i.intent == "reversal"}
    agents = {e.drug for e in table.doses if e.indication in uses}
    named = set(drugs) | set(drugs_in(sentence, table))
    if not named & agents:
        return frozenset()
    reversed_by = {
        d for e in table.doses if e.indication in uses and e.drug in named for d in e.reverses
    }
    return frozenset(d for d in named - agents if d in reversed_by or not reversed_by)


def instruction_pattern(table: ReferenceTable) -> re.Pattern[str]:
    def build() -> re.Pattern[str]:
        words = sorted(table.instruction_words, key=len, reverse=True)
        alternatives = "|".join(re.escape(w).replace("\\ ", r"\s+") for w in words)
        return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w-])", re.IGNORECASE)

    return table.memo("instruction_pattern", build)


def rule_instruction(
    text: str,
    sentence: tuple[int, int],
    drugs: Sequence[tuple[str, str]],
    patient: Patient,
    table: ReferenceTable,
) -> list[Finding]:
    """CONTRAINDICATION without a dose: an instruction to give, continue, start, flush or lock
    with a drug the patient must not get ("Continue the heparin infusion", "Start enoxaparin",
    "Heparin flushes are fine to keep the line patent"), unless the sentence says not to give
    it. ``drugs``: (canonical name, how it was found) of the drugs the sentence speaks of."""
    s_text = text[sentence[0] : sentence[1]]
    if not instruction_pattern(table).search(s_text):
        return []
    reversed_here = _reversed_in_sentence(s_text, [d for d, _ in drugs], table)
    out = []
    for drug, how in drugs:
        if drug in reversed_here:
            continue  # "Rivaroxaban can be reversed with andexanet alfa": andexanet is given
        c = contraindicated(drug, patient, table)
        if c is None or warns_against(s_text, drug, table, pronoun=how != "sentence"):
            continue
        message = f"{c.message} (the sentence says to give {drug}.)"
        out.append(
            finding(
                "CONTRAINDICATION",
                sentence,
                text,
                message,
                source=cite(c),
                sentence=sentence,
                drug=drug,
                drug_from=how,
            )
        )
        break
    return out


_CITE_MARK = re.compile(r"\[(\d+(?:\s*[,–-]\s*\d+)*)\]")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")


def normalise_number(token: str) -> str:
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", token):
        token = token.replace(",", "")
    token = token.replace(",", ".")
    if "." in token:
        token = token.rstrip("0").rstrip(".") or "0"
    return token.lstrip("0") or "0"


def numbers_in(text: str) -> set[str]:
    return set(_numbers_in(text))


@lru_cache(maxsize=1024)
def _numbers_in(text: str) -> frozenset[str]:
    # Cached: a cited passage is read once for every sentence that cites it.
    return frozenset(normalise_number(t) for t in _NUMBER.findall(_CITE_MARK.sub(" ", text)))


def cited_markers(sentence: str) -> list[int]:
    out: list[int] = []
    for group in _CITE_MARK.findall(sentence):
        for part in re.split(r"\s*,\s*", group):
            if re.search(r"[–-]", part):
                a, b = (int(x) for x in re.split(r"\s*[–-]\s*", part))
                out.extend(range(a, b + 1) if 0 < b - a < 50 else [a, b])
            else:
                out.append(int(part))
    return out


def rule_grounding(
    text: str,
    sentence: tuple[int, int],
    citations: dict[int, str],
    passages: dict[str, str],
    grounded: frozenset[str] | set[str] = frozenset(),
) -> list[Finding]:
    """NUMBER_UNGROUNDED and CITATION_UNKNOWN for one cited sentence. ``grounded``: numbers
    that count as grounded besides the cited passages' (the patient's own stated facts, and
    totals the guard verified: "120 mg (1 mg/kg x 120 kg)" citing the passage with 1 mg/kg)."""
    s_text = text[sentence[0] : sentence[1]]
    markers = cited_markers(s_text)
    if not markers:
        return []
    unknown = [n for n in markers if n not in citations or citations[n] not in passages]
    out = [
        finding(
            "CITATION_UNKNOWN",
            sentence,
            text,
            f"citation [{n}] points to no passage that was retrieved.",
            sentence=sentence,
        )
        for n in unknown
    ]
    known = [passages[citations[n]] for n in markers if n in citations and citations[n] in passages]
    if not known:
        return out
    allowed: set[str] = set().union(*(_numbers_in(p) for p in known)) | set(grounded)
    for match in _NUMBER.finditer(s_text):
        if _inside_marker(s_text, match.start()):
            continue
        if normalise_number(match.group(0)) not in allowed:
            span = (sentence[0] + match.start(), sentence[0] + match.end())
            out.append(
                finding(
                    "NUMBER_UNGROUNDED",
                    span,
                    text,
                    f"the number {match.group(0)} appears in none of the passages this sentence cites.",
                    sentence=sentence,
                )
            )
    return out


def _inside_marker(s: str, pos: int) -> bool:
    return any(m.start() <= pos < m.end() for m in _CITE_MARK.finditer(s))


def spans_overlap(a: Sequence[int], b: Sequence[int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def rule_support(
    text: str,
    sentence: tuple[int, int],
    passages: list[str],
    table: ReferenceTable | None = None,
) -> Finding | None:
    """STATEMENT_UNSUPPORTED for a cited sentence a generator wrote in its own words that no
    sentence of its cited passages supports (``guardrails.support``): a band turned around, a
    negation added or dropped, another population, drug, indication, unit or number."""
    s_text = _MARKER_TEXT.sub("", text[sentence[0] : sentence[1]]).strip()
    if not passages or not s_text:
        return None
    got, closest = best_support(s_text, passages, table)
    if got.supported:
        return None
    quote = f"; the closest passage sentence: \u201c{closest}\u201d" if closest else ""
    return finding(
        "STATEMENT_UNSUPPORTED",
        sentence,
        text,
        f"this sentence does not say what its source says ({'; '.join(got.differences)}){quote}.",
        sentence=sentence,
    )


_MARKER_TEXT = re.compile(r"\s*\[\d+(?:\s*[,\u2013-]\s*\d+)*\]")


# ------------------------------------------------------------------ the registry


@dataclass(frozen=True, slots=True)
class Rule:
    """A guard rule: its stable id, severity, what it catches, the function that finds it,
    and its place in the README table (and, for dose rules, in the order they are tried)."""

    id: str
    severity: Severity
    summary: str
    function: Callable[..., object] | None
    order: int


# The one list of rules. The README's rule table is ``rule_table()`` (a test compares them).
_ROWS: list[tuple[str, Severity, str, Callable[..., object] | None]] = [
    (
        "DOSE_OK",
        "info",
        "the dose matches a reference entry for this drug, indication and patient (directly, or as a total: per kg × weight, per hour, vials × strength)",
        check_dose,
    ),
    ("DOSE_RANGE", "block", "above or below every applicable reference range", rule_range),
    (
        "DOSE_FREQUENCY",
        "block",
        "the amount is right, the dosing interval is not (on every route)",
        rule_frequency,
    ),
    (
        "DOSE_ROUTE",
        "block",
        "a route the sentence states that no reference regimen of the drug has (for the use, where known); an unstated route is never a finding",
        rule_route,
    ),
    (
        "DOSE_UNIT",
        "block",
        "a unit the reference does not use for this dose (mg for mcg, per hour for per minute, mg for a drug dosed in units)",
        rule_dose_unit,
    ),
    (
        "DOSE_PER_KG",
        "block",
        "a weight-based dose without /kg, or a fixed dose written per kg",
        rule_per_kg,
    ),
    (
        "DOSE_ARITHMETIC",
        "block",
        "a per-kg dose times the stated weight does not give the stated total",
        rule_arithmetic,
    ),
    (
        "RENAL_ADJUSTMENT",
        "block",
        "the dose for another renal band than the patient's",
        rule_band,
    ),
    ("HEPATIC_ADJUSTMENT", "block", "the dose ignores hepatic impairment", rule_band),
    ("WEIGHT_BAND", "block", "the dose for another body-weight band", rule_band),
    (
        "POPULATION",
        "block",
        "the dose for another age, dialysis or criteria group (apixaban: 2 of age ≥ 80, weight ≤ 60 kg, creatinine ≥ 1.5 mg/dL)",
        rule_band,
    ),
    (
        "CONTRAINDICATION",
        "block",
        "a drug the patient must not get, with or without a dose: any heparin, flush, lock or LMWH in HIT (an instruction to give, continue, start or flush); fondaparinux with CrCl < 30 mL/min",
        rule_contraindication,
    ),
    (
        "INDICATION_MISMATCH",
        "block",
        "the dose is quoted from a passage about another indication than the question's, which the sentence does not say",
        None,
    ),
    (
        "NUMBER_UNGROUNDED",
        "block",
        "a number in a cited sentence that none of its cited passages contains (the patient's own facts and verified totals count as grounded)",
        rule_grounding,
    ),
    (
        "CITATION_UNKNOWN",
        "block",
        "a citation marker that points to no retrieved passage",
        rule_grounding,
    ),
    (
        "STATEMENT_UNSUPPORTED",
        "block",
        "a cited sentence a generator wrote in its own words that no sentence of its cited passages supports: a band, negation, polarity word, population, drug, indication, number or unit differs (guardrails/support.py)",
        rule_support,
    ),
    (
        "DOSE_UNPARSED",
        "block",
        "a number in a dose position that cannot be read as a dose (fail closed)",
        None,
    ),
    (
        "DOSE_UNVERIFIED",
        "block",
        "a dose whose drug cannot be resolved from the sentence, its list or table, the passage, its headings or its title",
        None,
    ),
    (
        "SOURCE_MISMATCH",
        "block",
        "a dose its cited passages state otherwise: none of their doses of its drug has its amount (in any unit that converts), per-kg and per-time form, interval and route (for a drug the reference covers, where the reference allows the dose); or they state no dose of it but give that very dose for another drug (guardrails/source_doses.py)",
        None,
    ),
    (
        "NOT_IN_REFERENCE",
        "warn",
        "a dose of a recognised drug that the dose reference does not cover (the drug is named)",
        None,
    ),
    (
        "NO_REFERENCE",
        "warn",
        "no reference entry for this drug in this indication or route, and the dose matches one the reference gives the drug for another use (a dose it gives the drug for no use at all is blocked)",
        None,
    ),
    (
        "SOURCES_DIFFER",
        "warn",
        "a dose quoted word for word from the passage it cites that the reference gives otherwise (another amount, unit, interval, route or band): the source's own statement, shown with the reference's dose and source beside it (the patient's own facts, and a dose five times or more above every reference dose for the use, still block)",
        None,
    ),
    (
        "SOURCE_QUOTED",
        "warn",
        "a dose quoted word for word from the passage it cites that the reference cannot check (its drug is not resolved, or it is a combination strength or a course total): shown as that source's statement, unverified",
        None,
    ),
]
REGISTRY: tuple[Rule, ...] = tuple(Rule(*row, order) for order, row in enumerate(_ROWS))
RULES: dict[str, tuple[Severity, str]] = {r.id: (r.severity, r.summary) for r in REGISTRY}


def rule_table() -> str:
    """The README's rule table, from the registry."""
    rows = ["| rule id | severity | what it catches |", "|---|---|---|"]
    rows += [
        f"| `{r.id}` | {r.severity} | {r.summary} |"
        for r in sorted(REGISTRY, key=lambda r: r.order)
    ]
    return "\n".join(rows)
