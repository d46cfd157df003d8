"""Patient context: typed facts from an explicit structure or from the conversation text.

Facts accumulate across turns (a newer value wins). Creatinine clearance is computed by
Cockcroft–Gault (open-medicine's calculator) when age, weight, sex and serum creatinine are
known and no CrCl was given. A fact that is not known is None and never excludes anything.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Sex = Literal["female", "male"]


@dataclass(frozen=True, slots=True)
class Patient:
    weight_kg: float | None = None
    age: float | None = None
    sex: Sex | None = None
    serum_creatinine_mg_dl: float | None = None
    crcl_ml_min: float | None = None
    egfr: float | None = None
    hepatic_impairment: bool | None = None
    hit: bool | None = None
    pregnant: bool | None = None
    dialysis: bool | None = None
    platelets: float | None = None  # x 10^9/L
    active_bleeding: bool | None = None
    inr: float | None = None  # pre-treatment INR (it selects the 4F-PCC dose)

    def merged(self, newer: Patient) -> Patient:
        """This patient updated with every fact ``newer`` knows."""
        updates = {
            f.name: getattr(newer, f.name)
            for f in fields(newer)
            if getattr(newer, f.name) is not None
        }
        return replace(self, **updates)

    @property
    def crcl(self) -> float | None:
        """CrCl in mL/min: as given, else Cockcroft–Gault from age, weight, sex and SCr."""
        if self.crcl_ml_min is not None:
            return self.crcl_ml_min
        if None in (self.age, self.weight_kg, self.sex, self.serum_creatinine_mg_dl):
            return None
        from open_medicine.mcp.calculators.cockcroft_gault import (
            CockcroftGaultParams,
            calculate_cockcroft_gault,
        )

        params = CockcroftGaultParams(
            age=int(self.age or 0),
            weight=float(self.weight_kg or 0),
            is_female=self.sex == "female",
            serum_creatinine=float(self.serum_creatinine_mg_dl or 0),
        )
        return float(calculate_cockcroft_gault(params).value)

    def is_empty(self) -> bool:
        return all(v is None for v in asdict(self).values())

    def stated_values(self) -> tuple[float, ...]:
        """The patient's numeric facts, as an answer may repeat them ("for this patient
        (weight 120 kg)"): weight, age, CrCl (given or Cockcroft–Gault, also rounded),
        serum creatinine, eGFR, platelets and INR. A number an answer takes from here is the
        patient's own, not one a passage must state."""
        values = [
            self.weight_kg, self.age, self.crcl_ml_min, self.serum_creatinine_mg_dl,
            self.egfr, self.platelets, self.inr,
        ]  # fmt: skip
        if self.crcl_ml_min is None and (crcl := self.crcl) is not None:
            values += [crcl, float(round(crcl))]
        if self.weight_kg is not None and self.weight_kg != round(self.weight_kg, 1):
            values += [round(self.weight_kg, 1)]  # a weight in pounds, in kg as shown
        return tuple(v for v in values if v is not None)

    def describe(self) -> str:
        parts = []
        if self.weight_kg is not None:
            parts.append(f"{self.weight_kg:g} kg")
        if self.age is not None:
            parts.append(f"{self.age:g} years")
        if self.sex:
            parts.append(self.sex)
        crcl = self.crcl
        if crcl is not None:
            parts.append(f"CrCl {crcl:g} mL/min")
        for name, label in (
            ("hepatic_impairment", "hepatic impairment"),
            ("hit", "HIT"),
            ("pregnant", "pregnant"),
            ("dialysis", "dialysis"),
            ("active_bleeding", "active bleeding"),
        ):
            value = getattr(self, name)
            if value is not None:
                parts.append(label if value else f"no {label}")
        if self.platelets is not None:
            parts.append(f"platelets {self.platelets:g} x10^9/L")
        if self.inr is not None:
            parts.append(f"INR {self.inr:g}")
        return ", ".join(parts)


class PatientInput(BaseModel):
    """Patient facts as they arrive over the wire or in a `bedside check` line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight_kg: float | None = Field(default=None, gt=0, le=500, description="body weight (kg)")
    age: float | None = Field(default=None, ge=0, le=130, description="age (years)")
    sex: Sex | None = None
    serum_creatinine_mg_dl: float | None = Field(
        default=None, gt=0, le=30, description="serum creatinine (mg/dL)"
    )
    crcl_ml_min: float | None = Field(
        default=None, ge=0, le=300, description="creatinine clearance (mL/min)"
    )
    egfr: float | None = Field(default=None, ge=0, le=300, description="eGFR (mL/min/1.73 m2)")
    hepatic_impairment: bool | None = None
    hit: bool | None = Field(
        default=None, description="heparin-induced thrombocytopenia, current or history"
    )
    pregnant: bool | None = None
    dialysis: bool | None = None
    platelets: float | None = Field(
        default=None, ge=0, le=5000, description="platelet count (x10^9/L)"
    )
    active_bleeding: bool | None = Field(default=None, description="active (major) bleeding now")
    inr: float | None = Field(
        default=None, gt=0, le=30, description="INR (pre-treatment, for reversal dosing)"
    )

    @field_validator(
        "weight_kg", "age", "serum_creatinine_mg_dl", "crcl_ml_min", "egfr", "platelets", "inr",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _no_bool_as_number(cls, value: object) -> object:
        # JSON true is no weight: pydantic would read it as 1.
        if isinstance(value, bool):
            raise ValueError("a number is required, not true or false")
        return value

    def to_patient(self) -> Patient:
        return Patient(**self.model_dump())


# ------------------------------------------------------------------ text extraction

_NUM = r"(\d{1,4}(?:[.,]\d{1,2})?)"
_LESS = r"(?:<|≤|below|under|less than|lower than)"
_NEG = re.compile(
    r"\b(?:no|not|without|denies|negative for|never had)\b[^.;]{0,30}$", re.IGNORECASE
)
# A condition named as the subject of a question, not as the patient's: "to screen for HIT",
# "the risk of HIT", "what is HIT" say nothing about this patient.
_TOPIC = re.compile(
    r"\b(?:screen(?:ing)?|test(?:ing)?|monitor(?:ing)?|look(?:ing)?)\s+for\s+(?:\w+\s+){0,2}$"
    r"|\b(?:risk|incidence|frequency|rate)\s+of\s+(?:\w+\s+){0,2}$"
    r"|\b(?:what|how)\s+(?:is|are)\s+(?:\w+\s+){0,1}$",
    re.IGNORECASE,
)

_EGFR = re.compile(rf"\beGFR\s*(?:of|is|was|=|:|at)?\s*({_LESS})?\s*{_NUM}", re.IGNORECASE)
_AGE = re.compile(
    rf"(?:\b{_NUM}[- ]?(?:years?|yrs?|y)[- ]?old\b|\baged?\s+{_NUM}\b|\b{_NUM}[- ]?(?:yo|y/o)\b)",
    re.IGNORECASE,
)
_SCR = re.compile(
    rf"\b(?:serum creatinine|SCr|creatinine)\s*(?:of|is|was|=|:)?\s*{_NUM}\s*(mg/dL|µmol/L|μmol/L|umol/L)?",
    re.IGNORECASE,
)
_PLATELETS = re.compile(
    r"\bplatelets?(?: count)?\s*(?:of|is|was|=|:|at)?\s*(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)\s*(k\b|x\s?10\^?9/L|×\s?10\^?9/L|/µL|/uL|/mm3)?",
    re.IGNORECASE,
)
# The patient's INR ("INR 5", "INR of 8.2"); a band a source states ("for INR 2 to < 4",
# "INR > 6", "target INR 2 to 3") is no patient's value.
_INR = re.compile(
    r"(?<!for )(?<!target )\bINR\s*(?:of|is|was|=|:|at)?\s*(\d{1,2}(?:\.\d{1,2})?)"
    r"(?!\d|\.\d|\s*(?:to|-|–|or)\s*[<≤]?\s*\d|\s*(?:units?|IU|U\b|mg|mcg|mL|g\b|%|/))",
    re.IGNORECASE,
)
_FLAGS: dict[str, re.Pattern[str]] = {
    "hepatic_impairment": re.compile(
        r"\b(?:hepatic (?:impairment|dysfunction|failure|insufficiency)|liver (?:disease|failure|impairment|dysfunction)|cirrhosis|Child-Pugh (?:class )?[BC])\b",
        re.IGNORECASE,
    ),
    "hit": re.compile(r"\b(?:HIT|HITTS|heparin-induced thrombocytopenia)\b"),
    "pregnant": re.compile(r"\bpregnan(?:t|cy)\b", re.IGNORECASE),
    "active_bleeding": re.compile(
        r"\b(?:active(?:ly)? (?:major )?bleed(?:ing)?|bleeding now|ongoing bleeding)\b",
        re.IGNORECASE,
    ),
    "dialysis": re.compile(
        r"\b(?:dialysis|hemodialysis|haemodialysis|CRRT|on HD)\b", re.IGNORECASE
    ),
}
_FEMALE = re.compile(r"\b(?:woman|female|she|her|lady|girl)\b", re.IGNORECASE)
_MALE = re.compile(r"\b(?:man|male|he|his|gentleman|boy)\b", re.IGNORECASE)


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _below(value: float) -> float:
    # "CrCl < 30" says the patient is below 30; keep a value just inside that band.
    return value - 0.5


# Bands a text states for CrCl and body weight. A band is read as a value inside it, not at
# its edge ("60 kg or less" is below 60, "a 60 to 75 kg patient" 60 or more, "CrCl of 50
# mL/min or less" below 50): the reference's half-open bands (weight_lt 60 / weight_ge 60) and
# its counted criteria (weight <= 60) both place such a value on the stated side.
_BNUM = r"\d{1,3}(?:[.,]\d{1,2})?"
_BELOW_W = r"<|\u2264|\bunder|\bbelow|\bless\s+than|\blower\s+than"
_ABOVE_W = r">|\u2265|\bover|\babove|\bmore\s+than|\bgreater\s+than|\bat\s+least"
_BAND = (
    rf"(?:(?P<below>{_BELOW_W})\s{{0,2}}(?P<b1>{_BNUM})"
    rf"|(?P<above>{_ABOVE_W})\s{{0,2}}(?P<a1>{_BNUM})"
    rf"|(?P<lo>{_BNUM})\s{{0,2}}(?:-|to)\s{{0,2}}(?:<\s{{0,2}})?(?P<hi>{_BNUM})"
    rf"|(?P<n>{_BNUM}))"
)
_OR_LESS = r"\s+or\s+(?:(?P<less>less|lower|below|under)|(?P<more>more|higher|above|greater))\b"
_BANDS = {
    "crcl_ml_min": re.compile(
        rf"\b(?:CrCl|CLcr|creatinine\s+clearance)\s{{0,2}}(?:of|is|was|=|:|at)?\s{{0,2}}"
        rf"{_BAND}(?:\s?mL/min)?(?:{_OR_LESS})?",
        re.IGNORECASE,
    ),
    "weight_kg": re.compile(
        rf"(?<![\w.,]){_BAND}\s?(?:kg|kilograms?)\b(?!\s*/)(?:{_OR_LESS})?", re.IGNORECASE
    ),
}
_BANDS["age"] = re.compile(
    rf"(?<![\w.,]){_BAND}[- ]?(?:years?|yrs?)(?:[- ]old)?"
    r"(?:\s+or\s+(?:(?P<more>older|over|more|above)|(?P<less>younger|under|less|below))\b)?",
    re.IGNORECASE,
)
# The INR bands a source doses by ("25 units/kg for INR 2 to < 4"): they scope a dose.
_BANDS["inr"] = re.compile(
    rf"\bINR\s{{0,2}}(?:of|is|was|=|:|at)?\s{{0,2}}{_BAND}(?:{_OR_LESS})?", re.IGNORECASE
)
_FACT_BANDS = ("crcl_ml_min", "weight_kg")  # read as facts; an age band only scopes a dose
_INF = float("inf")
Band = tuple[float, float, float]  # (low, high, a value inside)


def _band(m: re.Match[str]) -> Band:
    g = m.groupdict()
    if g["below"]:
        x = _number(g["b1"])
        return -_INF, x, _below(x)
    if g["above"]:
        x = _number(g["a1"])
        return x, _INF, x + 0.5
    if g["lo"]:
        return _number(g["lo"]), _number(g["hi"]), _number(g["lo"])
    x = _number(g["n"])
    if g["less"]:
        return -_INF, x, _below(x)
    if g["more"]:
        return x, _INF, x
    return x, x, x


def stated_bands(text: str) -> dict[str, list[Band]]:
    """CrCl, weight and age bands ``text`` states: field -> [(low, high, a value inside)]."""
    text = text[:20_000]
    return {field: [_band(m) for m in pattern.finditer(text)] for field, pattern in _BANDS.items()}


def extract_patient(text: str) -> Patient:
    """Patient facts stated in ``text`` ("CrCl 20 mL/min", "80 kg", "history of HIT"). A
    stated band is read as a value inside it ("CrCl below 30" is 29.5, "60 kg or less" 59.5).
    The one reader of patient facts in text: the question, the conversation, and the words of
    a checked sentence that say whom its dose is for."""
    text = text[:20_000]  # a question is short; never scan megabytes
    facts: dict[str, object] = {}
    for field in _FACT_BANDS:
        if m := _BANDS[field].search(text):
            facts[field] = _band(m)[2]
    if m := _EGFR.search(text):
        value = _number(m.group(2))
        facts["egfr"] = _below(value) if m.group(1) else value
    if m := _AGE.search(text):
        facts["age"] = _number(next(g for g in m.groups() if g))
    if m := _SCR.search(text):
        value = _number(m.group(1))
        unit = (m.group(2) or "mg/dL").lower()
        facts["serum_creatinine_mg_dl"] = value if unit == "mg/dl" else _umol_to_mg_dl(value)
    if m := _PLATELETS.search(text):
        value = float(m.group(1).replace(",", ""))
        unit = (m.group(2) or "").lower().replace(" ", "")
        if unit in ("/µl", "/ul", "/mm3") or (not unit and value > 2000):
            value /= 1000.0  # per microlitre -> x10^9/L
        facts["platelets"] = value
    if m := _INR.search(text):
        facts["inr"] = _number(m.group(1))
    for name, pattern in _FLAGS.items():
        if m := pattern.search(text):
            before = text[max(0, m.start() - 40) : m.start()]
            if _TOPIC.search(before):
                continue
            facts[name] = not _NEG.search(before)
    female, male = _FEMALE.search(text), _MALE.search(text)
    if female and not male:
        facts["sex"] = "female"
    elif male and not female:
        facts["sex"] = "male"
    facts.update(_measured(text, facts))
    return Patient(**facts)  # type: ignore[arg-type]


# Patient fields the general reader of measurements fills (guardrails/measures.py), by
# measure id: weight in pounds, a bare or µmol/L creatinine, an age fused with a sex ("86F"),
# and a value written with a word or mark the readers above do not take ("CrCl ~12").
_MEASURED = {
    "weight": "weight_kg",
    "age": "age",
    "creatinine": "serum_creatinine_mg_dl",
    "crcl": "crcl_ml_min",
    "egfr": "egfr",
    "platelets": "platelets",
    "inr": "inr",
}


def _measured(text: str, facts: dict[str, object]) -> dict[str, object]:
    """What ``read_values`` adds to the facts read above: a field they lack, the creatinine
    (it knows the unit a bare value is in), and the sex written next to an age or a weight
    ("79-year-old F", "71M"), which says more than a pronoun elsewhere."""
    from guardrails.measures import SEX, read_values

    out: dict[str, object] = {}
    for m in read_values(text):
        if m.measure == SEX:
            out.setdefault("sex", m.category)
        elif (field := _MEASURED.get(m.measure)) and (
            field not in facts or field == "serum_creatinine_mg_dl"
        ):
            out.setdefault(field, m.value)
    return out


def _umol_to_mg_dl(value: float) -> float:
    from guardrails.units import registry

    ureg = registry()
    creatinine = ureg.Quantity(113.12, "g/mol")  # molar mass of creatinine
    return float((ureg.Quantity(value, "umol/L") * creatinine).to("mg/dL").magnitude)


def patient_from_conversation(turns: list[str], explicit: Patient | None = None) -> Patient:
    """Facts from every turn (oldest first; later turns win), then the explicit structure."""
    patient = Patient()
    for turn in turns:
        patient = patient.merged(extract_patient(turn))
    return patient.merged(explicit) if explicit else patient


# ------------------------------------------------------------------ whom a dose is for

# Where a sentence turns to another patient group or subject: facts stated on one side do not
# carry to the other ("40 mg once daily, but with CrCl below 30 mL/min 30 mg once daily";
# "1 mg/kg/h; on hemodialysis 0.25 mg/kg/h"; "60 mg once daily, reduced to 30 mg if ...").
_TURN = re.compile(
    r";|\s(?:but|whereas)\s|,\s(?:while|reduced|increased|lowered|decreased)\b", re.IGNORECASE
)
_CLAUSE_END = re.compile(r"[,;()]")


def clause_part(text: str, pos: int, turns: re.Pattern[str]) -> tuple[int, int]:
    """The stretch of ``text`` around ``pos`` between two matches of ``turns``."""
    start, end = 0, len(text)
    for t in turns.finditer(text):
        if t.end() <= pos:
            start = t.end()
        elif t.start() >= pos:
            end = t.start()
            break
    return start, end


def facts_scope(s_text: str, start: int, end: int) -> str:
    """The words whose patient facts an amount at [start, end) of a sentence speaks of: from
    the last turn before it to the end of its own clause ("For PCI with CrCl below 30 mL/min,
    ... 1 mg/kg/h" and "30 mg once daily if CrCl is 15 to 50 mL/min", but not "2 mcg/kg/min,
    lower in hepatic impairment")."""
    lo, hi = clause_part(s_text, start, _TURN)
    close = _CLAUSE_END.search(s_text, end, hi)
    return s_text[lo : close.start() if close else hi]
