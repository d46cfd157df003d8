"""The curated dose reference: data (``guardrails/data/*.yaml``) validated by pydantic.

Every entry cites a pack document and an exact quote from it; a test proves each entry's
numbers appear in its quote and the quote in the document. INR targets are not doses and
are not entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from corpus.errors import ConfigError
from corpus.yamlio import load_yaml

DATA_DIR = Path(__file__).resolve().parent / "data"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    doc: str = Field(description="pack document id, e.g. label-argatroban")
    quote: str = Field(min_length=10, description="exact substring of that document's text")


class DoseSpec(_Strict):
    """``low``–``high`` ``unit`` [/kg] [/per_time]; unit is a pint expression (mg, mcg, g,
    USP_unit, international_unit, mL)."""

    low: float = Field(ge=0)
    high: float = Field(ge=0)
    unit: str
    per_kg: bool = False
    per_time: Literal["min", "h", "day"] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DoseSpec:
        if self.high < self.low:
            raise ValueError(f"high {self.high} is below low {self.low}")
        return self


Fact = Literal[
    "age", "weight_kg", "serum_creatinine_mg_dl", "crcl_ml_min", "egfr", "platelets", "inr"
]
Op = Literal["<", "<=", ">", ">="]


class Criterion(_Strict):
    """One patient fact compared with a stated threshold ("age 80 years or older" is
    ``{fact: age, op: ">=", value: 80}``)."""

    fact: Fact
    op: Op
    value: float


class Criteria(_Strict):
    """A count of criteria that must (``at_least``) or may (``at_most``) be met: the apixaban
    dose reduction for atrial fibrillation needs at least two of three; the standard dose
    holds with at most one."""

    at_least: int | None = Field(default=None, ge=1)
    at_most: int | None = Field(default=None, ge=0)
    of: list[Criterion] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_count(self) -> Criteria:
        if (self.at_least is None) == (self.at_most is None):
            raise ValueError("criteria need exactly one of at_least or at_most")
        if (self.at_least or 0) > len(self.of) or (self.at_most or 0) >= len(self.of):
            raise ValueError("the count cannot be met (or is always met) by these criteria")
        return self


class Population(_Strict):
    """Conditions under which an entry applies; all given ones must hold. Unknown patient
    facts never exclude an entry (the answer may be for any patient)."""

    crcl_lt: float | None = Field(default=None, description="CrCl below this (mL/min)")
    crcl_ge: float | None = Field(default=None, description="CrCl at or above this (mL/min)")
    dialysis: bool | None = None
    hepatic_impairment: bool | None = None
    weight_lt: float | None = Field(default=None, description="body weight below this (kg)")
    weight_ge: float | None = Field(default=None, description="body weight at or above this (kg)")
    age_lt: float | None = None
    age_ge: float | None = None
    inr_ge: float | None = Field(default=None, description="pre-treatment INR at or above this")
    inr_gt: float | None = Field(default=None, description="pre-treatment INR above this")
    inr_lt: float | None = Field(default=None, description="pre-treatment INR below this")
    inr_le: float | None = Field(default=None, description="pre-treatment INR at or below this")
    criteria: Criteria | None = Field(
        default=None, description="a count of patient criteria (apixaban AF: 2 of 3)"
    )


Jurisdiction = Literal["US", "EU"]


class DoseEntry(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    regimen: str | list[str] | None = Field(
        default=None,
        description="the regimen(s) this step belongs to; default: the id without its last "
        "dot-segment. A step shared by several regimens (an unchanged bolus) lists them all.",
    )
    drug: str
    indication: str = Field(description="indication id from indications.yaml")
    phase: Literal["bolus", "infusion", "maintenance", "loading", "initial"] | None = None
    route: Literal["iv", "sc", "po", "im"] | None = None
    population: Population = Field(default_factory=Population)
    dose: DoseSpec
    interval_h: list[float] | None = Field(
        default=None,
        description="allowed hours between doses (q12h/BID = 12, daily = 24); None = any or continuous",
    )
    max_per_dose: DoseSpec | None = None
    max_per_day: DoseSpec | None = None
    duration: str | None = Field(
        default=None, description='how long, as the quote words it ("for the first 7 days")'
    )
    jurisdiction: Jurisdiction = Field(
        default="US", description="US label (default) or an EU-only dose (EU leaflet)"
    )
    ratio: str | None = Field(
        default=None,
        description="a dose given per amount of another drug, as the quote words it ('per 100 "
        "USP units of heparin'): the entry holds the bounds the guard judges by, and a dose "
        "card quotes the source rather than print them as a regimen",
    )
    reverses: list[str] = Field(
        default_factory=list,
        description="for a reversal dose: the drugs its cited document says the agent reverses, "
        "where the quote itself does not name them (andexanet alfa: apixaban, rivaroxaban)",
    )
    chosen_by: str | None = Field(
        default=None,
        description="what chooses this regimen among the drug's others for the use when it is "
        "no patient field the reference reads, as a clinician would say it ('the last "
        "rivaroxaban or apixaban dose and the time since it'): a dose card then names every "
        "such regimen and picks none",
    )
    cite: Citation

    @property
    def regimens(self) -> tuple[str, ...]:
        if self.regimen is None:
            return (self.id.rsplit(".", 1)[0],)
        return (self.regimen,) if isinstance(self.regimen, str) else tuple(self.regimen)


class Condition(_Strict):
    """A patient condition a contraindication names: one fact, a flag that must be true or a
    value compared with a threshold (conditions.yaml)."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    fact: Literal[
        "hit",
        "pregnant",
        "active_bleeding",
        "dialysis",
        "hepatic_impairment",
        "crcl_ml_min",
        "egfr",
        "weight_kg",
        "age",
        "platelets",
        "serum_creatinine_mg_dl",
    ]
    equals: bool | None = None
    op: Op | None = None
    value: float | None = None
    words: str = Field(description="the condition as a clinician reads it")

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.equals is None) == (self.op is None or self.value is None):
            raise ValueError(f"condition {self.id}: give either equals, or op and value")
        return self


class Contraindication(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]*$")
    drugs: list[str] = Field(min_length=1, description="canonical drug names")
    when: str = Field(description="a condition id from conditions.yaml")
    message: str
    cite: Citation


class Indication(_Strict):
    id: str
    terms: list[str] = Field(
        min_length=1, description="words that name it in text (case-insensitive)"
    )
    parent: str | None = None
    dose_terms: list[str] = Field(
        default_factory=list,
        description="words that name this indication only in a sentence giving a dose of a drug "
        "the reference doses for it ('standard enoxaparin 40 mg prophylaxis'): alone they are "
        "too broad ('prophylaxis' is also antibiotic prophylaxis)",
    )
    procedure: bool = Field(
        default=False,
        description="a procedure (PCI, cardiac surgery): when a question names it beside a "
        "condition (HIT), the procedure's dose is the one asked for",
    )
    setting_bound: bool = Field(
        default=False,
        description="its regimens belong to a procedure or an acute protocol (PCI, bypass, an "
        "ACS or STEMI protocol): not a drug's standing dose at the bedside unless the question "
        "names such a use",
    )
    phase: Literal["prophylaxis", "treatment"] | None = Field(
        default=None,
        description="the phase of care this indication and its descendants are (prevention "
        "or treatment)",
    )
    stage: Literal["initial", "maintenance", "extended"] | None = Field(
        default=None, description="the stage of treatment this indication is, when it is one"
    )
    despite: str | None = Field(
        default=None,
        description="the indication a clot that happens despite this one (or a descendant) "
        "asks for: a clot despite prophylaxis is treated",
    )
    clots: bool = Field(
        default=False,
        description="a question that names a clot and no other use asks for this indication",
    )
    intent: str | None = Field(
        default=None,
        description="the question intent (assistant frame) whose doses are this indication's: "
        "a reversal question asks for the reversal regimens",
    )


class Drug(_Strict):
    name: str = Field(description="canonical generic name")
    names: list[str] = Field(min_length=1, description="generic, brands, abbreviations")
    drug_class: str | None = None


_T = TypeVar("_T")


class ReferenceTable(_Strict):
    drugs: list[Drug]
    indications: list[Indication]
    doses: list[DoseEntry]
    contraindications: list[Contraindication] = Field(default_factory=list)
    conditions: list[Condition] = Field(default_factory=list)
    class_words: dict[str, list[str]] = Field(
        default_factory=dict, description="drug class -> words that name every drug of it"
    )
    instruction_words: list[str] = Field(
        default_factory=list, description="words that make a sentence an instruction to give"
    )
    _memo: dict[str, Any] = PrivateAttr(default_factory=dict)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> ReferenceTable:
        """A copy (``update`` applied) that derives its own patterns, lexicon and digest."""
        copied = super().model_copy(update=update, deep=deep)
        for name in ("digest", "_by_drug"):
            copied.__dict__.pop(name, None)
        copied._memo = {}
        return copied

    def memo(self, key: str, build: Callable[[], _T]) -> _T:
        """What ``build`` makes from this table (compiled patterns, a lexicon), made once per
        table: derived data lives with the data it is derived from."""
        try:
            return self._memo[key]  # type: ignore[no-any-return,unused-ignore]
        except KeyError:
            value = self._memo[key] = build()
            return value

    @model_validator(mode="after")
    def _consistent(self) -> ReferenceTable:
        drugs = {d.name for d in self.drugs}
        indications = {i.id for i in self.indications}
        ids = [e.id for e in self.doses] + [c.id for c in self.contraindications]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate entry ids: {sorted(dupes)}")
        for e in self.doses:
            if e.drug not in drugs:
                raise ValueError(f"entry {e.id}: unknown drug {e.drug!r}")
            if e.indication not in indications:
                raise ValueError(f"entry {e.id}: unknown indication {e.indication!r}")
        for i in self.indications:
            if i.parent and i.parent not in indications:
                raise ValueError(f"indication {i.id}: unknown parent {i.parent!r}")
            if i.despite and i.despite not in indications:
                raise ValueError(f"indication {i.id}: unknown despite {i.despite!r}")
        conditions = {c.id for c in self.conditions}
        for c in self.contraindications:
            unknown = set(c.drugs) - drugs
            if unknown:
                raise ValueError(f"contraindication {c.id}: unknown drugs {sorted(unknown)}")
            if c.when not in conditions:
                raise ValueError(
                    f"contraindication {c.id}: unknown condition {c.when!r} "
                    f"(conditions.yaml has {sorted(conditions)})"
                )
        classes = {d.drug_class for d in self.drugs}
        for cls in self.class_words:
            if cls not in classes:
                raise ValueError(f"class_words: no drug of class {cls!r} in drugs.yaml")
        first: dict[str, DoseEntry] = {}
        for e in self.doses:
            for r in e.regimens:
                other = first.setdefault(r, e)
                if (other.drug, other.indication) != (e.drug, e.indication):
                    raise ValueError(
                        f"entries {other.id} and {e.id} share regimen {r!r} but not drug and indication"
                    )
        return self

    def entries_for(self, drug: str) -> list[DoseEntry]:
        return self._by_drug.get(drug, [])

    @cached_property
    def _by_drug(self) -> dict[str, list[DoseEntry]]:
        out: dict[str, list[DoseEntry]] = {}
        for e in self.doses:
            out.setdefault(e.drug, []).append(e)
        return out

    def members(self, drug: str) -> list[str]:
        """The drugs a name stands for: itself, or for a class word with no entries of its
        own ("LMWH") every drug of that class."""
        me = next((d for d in self.drugs if d.name == drug), None)
        if me is None:
            return []
        if self.entries_for(drug) or me.drug_class is None:
            return [drug]
        return [d.name for d in self.drugs if d.drug_class == me.drug_class and d.name != drug]

    @cached_property
    def digest(self) -> str:
        """16 hex digits of SHA-256 over the whole reference: what a verdict was judged by."""
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()[:16]


def load_reference(data_dir: Path = DATA_DIR) -> ReferenceTable:
    """Read drugs.yaml, indications.yaml, doses.yaml, contraindications.yaml and
    conditions.yaml from ``data_dir``."""
    parts: dict[str, object] = {}
    for name in ("drugs", "indications", "doses", "contraindications", "conditions"):
        path = data_dir / f"{name}.yaml"
        try:
            data = load_yaml(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the dose reference {path}: {exc}") from exc
        if name == "conditions":
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping with conditions, class_words, ...")
            parts.update(data)
        else:
            parts[name] = data or []
    try:
        return ReferenceTable.model_validate(parts)
    except ValidationError as exc:
        raise ConfigError(f"invalid dose reference in {data_dir}: {exc}") from exc


@lru_cache(maxsize=1)
def default_reference() -> ReferenceTable:
    return load_reference()
