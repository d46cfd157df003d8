"""check(answer_text, citations, passages, patient) -> Verdict.

Every dose, rate, frequency and number in an answer is checked before it is shown:
against the curated dose reference (rules.py), against the patient, and against the
passages the answer cites. The caller applies the policy: a block finding withholds its
sentence, warnings are shown beside the answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

from corpus.text import sentence_spans
from guardrails.context import find_indications, in_scope
from guardrails.extraction import extract, find_drugs
from guardrails.patient import Patient, extract_patient
from guardrails.reference import DoseEntry, ReferenceTable, default_reference
from guardrails.rules import (
    DoseContext,
    accepts,
    check_dose,
    evidence_in,
    finding,
    rule_arithmetic,
    rule_contraindication,
    rule_grounding,
)
from guardrails.types import DoseMention, Finding, Verdict


def _class_members(drug: str, table: ReferenceTable) -> list[str]:
    """A class word ("LMWH") stands for every drug of that class."""
    by_name = {d.name: d for d in table.drugs}
    me = by_name.get(drug)
    if me is None:
        return []
    if table.entries_for(drug) or me.drug_class is None:
        return [drug]
    return [d.name for d in table.drugs if d.drug_class == me.drug_class and d.name != drug]


# Where a sentence turns to another patient group or subject: facts stated on one side do not
# carry to the other ("40 mg once daily, but with CrCl below 30 mL/min 30 mg once daily";
# "1 mg/kg/h; on hemodialysis 0.25 mg/kg/h"; "60 mg once daily, reduced to 30 mg if ...").
_TURN = re.compile(
    r";|\s(?:but|whereas)\s|,\s(?:while|reduced|increased|lowered|decreased)\b", re.IGNORECASE
)
# A contrast also leaves the indication behind ("contraindicated for surgical prophylaxis,
# but the 5 mg dose is the treatment band"); a semicolon or a reduction does not ("For HIT,
# 2 mcg/kg/min; in hepatic impairment 0.5 mcg/kg/min").
_CONTRAST = re.compile(r"\s(?:but|whereas)\s|,\s(?:while)\b", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;()]")

# Bands a text states for CrCl and body weight. A band is read as a value inside it, not at
# its edge ("60 kg or less" is below 60, "a 60 to 75 kg patient" 60 or more, "CrCl of 50
# mL/min or less" below 50): the reference's bands are half-open (weight_lt 60 / weight_ge 60).
_NUM = r"\d{1,3}(?:\.\d{1,2})?"
_BELOW = r"<|\u2264|\bunder|\bbelow|\bless\s+than|\blower\s+than"
_ABOVE = r">|\u2265|\bover|\babove|\bmore\s+than|\bgreater\s+than|\bat\s+least"
_BAND = (
    rf"(?:(?P<below>{_BELOW})\s{{0,2}}(?P<b1>{_NUM})"
    rf"|(?P<above>{_ABOVE})\s{{0,2}}(?P<a1>{_NUM})"
    rf"|(?P<lo>{_NUM})\s{{0,2}}(?:-|to)\s{{0,2}}(?P<hi>{_NUM})"
    rf"|(?P<n>{_NUM}))"
)
_OR_LESS = r"\s+or\s+(?:(?P<less>less|lower|below|under)|(?P<more>more|higher|above|greater))\b"
_BANDS = {
    "crcl_ml_min": re.compile(
        rf"\b(?:CrCl|CLcr|creatinine\s+clearance)\s{{0,2}}(?:of|is|was|=|:|at)?\s{{0,2}}"
        rf"{_BAND}(?:\s?mL/min)?(?:{_OR_LESS})?",
        re.IGNORECASE,
    ),
    "weight_kg": re.compile(
        rf"(?<![\w.]){_BAND}\s?(?:kg|kilograms?)\b(?!\s*/)(?:{_OR_LESS})?", re.IGNORECASE
    ),
}
_INF = float("inf")


def _band(m: re.Match[str]) -> tuple[float, float, float]:
    """(low, high, a value inside) of a stated band."""
    g = m.groupdict()
    if g["below"]:
        x = float(g["b1"])
        return -_INF, x, x - 0.5
    if g["above"]:
        x = float(g["a1"])
        return x, _INF, x + 0.5
    if g["lo"]:
        return float(g["lo"]), float(g["hi"]), float(g["lo"])
    x = float(g["n"])
    if g["less"]:
        return -_INF, x, x - 0.5
    if g["more"]:
        return x, _INF, x
    return x, x, x


def stated_bands(text: str) -> dict[str, list[tuple[float, float, float]]]:
    """CrCl and weight bands ``text`` states: field -> [(low, high, a value inside)]."""
    return {field: [_band(m) for m in pattern.finditer(text)] for field, pattern in _BANDS.items()}


def stated_patient(text: str) -> Patient:
    """Patient facts a text states, with a stated CrCl or weight band read as a value inside
    the band."""
    facts = extract_patient(text)
    bands = stated_bands(text)
    weight, crcl = bands["weight_kg"], bands["crcl_ml_min"]
    if not (weight or crcl):
        return facts
    return replace(
        facts,
        weight_kg=weight[0][2] if weight else facts.weight_kg,
        crcl_ml_min=crcl[0][2] if crcl else facts.crcl_ml_min,
    )


def _covered_elsewhere(who: Patient, scope: Patient, sentence: str) -> Patient:
    """A sentence that gives the patient's group its own dose in another part ("40 mg once
    daily, but with CrCl below 30 mL/min 30 mg once daily") speaks of the other groups here:
    the patient's value of that fact does not judge this part. A group the patient is not in
    ("avoid if CrCl is below 15") leaves it in force."""
    clear: dict[str, None] = {}
    for field, bands in stated_bands(sentence).items():
        value = getattr(who, field) if field != "crcl_ml_min" else who.crcl
        if getattr(scope, field) is not None or value is None:
            continue
        if any(low <= value <= high for low, high, _ in bands):
            clear[field] = None
            if field == "crcl_ml_min":  # nor may Cockcroft-Gault bring it back
                clear["serum_creatinine_mg_dl"] = None
    return replace(who, **clear) if clear else who


def _part(text: str, pos: int, turns: re.Pattern[str]) -> tuple[int, int]:
    """The stretch of ``text`` around ``pos`` between two matches of ``turns``."""
    start, end = 0, len(text)
    for t in turns.finditer(text):
        if t.end() <= pos:
            start = t.end()
        elif t.start() >= pos:
            end = t.start()
            break
    return start, end


def _facts_scope(s_text: str, start: int, end: int) -> str:
    """The words whose patient facts an amount at [start, end) of a sentence speaks of: from
    the last turn before it to the end of its own clause ("For PCI with CrCl below 30 mL/min,
    ... 1 mg/kg/h" and "30 mg once daily if CrCl is 15 to 50 mL/min", but not "2 mcg/kg/min,
    lower in hepatic impairment")."""
    lo, hi = _part(s_text, start, _TURN)
    close = _CLAUSE_END.search(s_text, end, hi)
    return s_text[lo : close.start() if close else hi]


def _entries(mention: DoseMention, indications: set[str], table: ReferenceTable) -> list[DoseEntry]:
    out = []
    for drug in _class_members(mention.drug or "", table):
        for e in table.entries_for(drug):
            if not in_scope(e.indication, indications, table):
                continue
            # Route narrows (IV bolus vs SC dose); bolus vs infusion is told apart by the
            # units themselves (mg/kg vs mg/kg/h), so the written phase does not filter.
            if mention.route and e.route and mention.route != e.route:
                continue
            out.append(e)
    return out


def check(
    answer_text: str,
    citations: Mapping[int, str] | None = None,
    passages: Mapping[str, str] | None = None,
    patient: Patient | None = None,
    context: str = "",
    reference: ReferenceTable | None = None,
) -> Verdict:
    """Check an answer.

    answer_text: the text as it will be shown, with citation markers [n].
    citations: marker number -> passage (chunk) id. passages: passage id -> passage text.
    patient: known patient facts. context: the question and earlier turns (indication and
    patient facts are read from it when the sentence does not say).
    """
    table = reference or default_reference()
    # Facts stated in the question or earlier turns count; explicit facts win over them.
    patient = (
        stated_patient(context).merged(patient)
        if context and patient
        else (stated_patient(context) if context else (patient or Patient()))
    )
    context_indications = find_indications(context, table) if context else set()
    context_evidence = evidence_in(context)
    mentions, unparsed = extract(answer_text)
    findings: list[Finding] = []
    doses = 0
    for m in mentions:
        s_text = answer_text[m.sentence[0] : m.sentence[1]]
        start, end = m.span[0] - m.sentence[0], m.span[1] - m.sentence[0]
        lo, hi = _part(s_text, start, _CONTRAST)
        indications = find_indications(s_text[lo:hi], table) or context_indications
        if m.drug is None:
            findings.append(
                finding(
                    "DOSE_UNVERIFIED",
                    m.span,
                    answer_text,
                    f"{m.amount.describe()} names no drug the reference covers; it was not verified.",
                    sentence=m.sentence,
                )
            )
            continue
        doses += 1
        # The sentence may say whom the dose is for ("for CrCl < 30 mL/min ..."): that wins.
        scope = stated_patient(_facts_scope(s_text, start, end))
        who = _covered_elsewhere(patient.merged(scope), scope, s_text)
        if (arith := rule_arithmetic(m, answer_text)) is not None:
            findings.append(arith)
        if (contra := rule_contraindication(m, answer_text, patient, table)) is not None:
            findings.append(contra)
        entries = _entries(m, indications, table)
        if not entries:
            # No entry for this indication: a dose the reference gives this drug elsewhere
            # cannot be verified here (a warning), but one it gives nowhere is judged against
            # every entry of the drug, or naming an uncovered indication would let any dose,
            # a tenfold one included, through with a warning.
            entries = _entries(m, set(), table)
            if entries and not any(accepts(m, e) for e in entries):
                evidence = evidence_in(s_text) | context_evidence
                ctx = DoseContext(answer_text, who, frozenset(), tuple(entries), table, evidence)
                judged = check_dose(m, ctx)
                uses = ", ".join(sorted(indications)) or "this use"
                note = f" The reference has no {m.drug} dose for {uses}; this is no dose it gives for any other."
                findings.append(replace(judged, message=judged.message + note))
                continue
            findings.append(
                finding(
                    "NO_REFERENCE",
                    m.span,
                    answer_text,
                    f"{m.drug}: the reference has no dose for "
                    f"{', '.join(sorted(indications)) or 'this use'}"
                    f"{f' by the {m.route.upper()} route' if m.route else ''}; {m.amount.describe()} was not verified.",
                    sentence=m.sentence,
                )
            )
            continue
        evidence = evidence_in(s_text) | context_evidence
        ctx = DoseContext(answer_text, who, frozenset(indications), tuple(entries), table, evidence)
        findings.append(check_dose(m, ctx))
    for u in unparsed:
        findings.append(
            finding(
                "DOSE_UNPARSED",
                u.span,
                answer_text,
                f"{u.drug}: '{answer_text[u.span[0] : u.span[1]]}' could not be read as a dose ({u.reason}); check it against the source.",
                sentence=u.sentence,
            )
        )
    sentences = sentence_spans(answer_text)
    findings.extend(_too_long(answer_text, sentences, {(u.sentence, u.drug) for u in unparsed}))
    if citations is not None and passages is not None:
        cites, texts = dict(citations), dict(passages)
        for start, end in sentences:
            findings.extend(rule_grounding(answer_text, (start, end), cites, texts))
    findings.sort(key=lambda f: (f.span[0], f.rule_id))
    return Verdict(tuple(findings), doses, {"patient": patient.describe()})


_LONGEST_READ = 2_000  # the extractor reads sentences up to this many characters


def _too_long(
    text: str, sentences: list[tuple[int, int]], reported: set[tuple[tuple[int, int], str]]
) -> list[Finding]:
    """Fail closed on a sentence too long to read reliably that names a drug and has digits."""
    out = []
    for start, end in sentences:
        if end - start <= _LONGEST_READ or not any(ch.isdigit() for ch in text[start:end]):
            continue
        drugs = find_drugs(text[start : min(end, start + 200_000)])
        if drugs and not any(s == (start, end) for s, _ in reported):
            out.append(
                finding(
                    "DOSE_UNPARSED",
                    (start, end),
                    text,
                    f"{drugs[0][2]}: a sentence of {end - start:,} characters with numbers is too long "
                    "to check reliably; check its doses against the source.",
                    sentence=(start, end),
                )
            )
    return out
