"""check(answer_text, citations, passages, patient) -> Verdict.

Every dose, rate, frequency and number in an answer is checked before it is shown:
against the curated dose reference (rules.py), against the patient, and against the
passages the answer cites. The caller applies the policy: a block finding withholds its
sentence, warnings are shown beside the answer.
"""

from __future__ import annotations

from collections.abc import Mapping

from corpus.text import sentence_spans
from guardrails.context import find_indications, in_scope
from guardrails.extraction import extract, find_drugs
from guardrails.patient import Patient, extract_patient
from guardrails.reference import DoseEntry, ReferenceTable, default_reference
from guardrails.rules import (
    DoseContext,
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
        extract_patient(context).merged(patient)
        if context and patient
        else (extract_patient(context) if context else (patient or Patient()))
    )
    context_indications = find_indications(context, table) if context else set()
    context_evidence = evidence_in(context)
    mentions, unparsed = extract(answer_text)
    findings: list[Finding] = []
    doses = 0
    for m in mentions:
        s_text = answer_text[m.sentence[0] : m.sentence[1]]
        indications = find_indications(s_text, table) or context_indications
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
        who = patient.merged(extract_patient(s_text))
        if (arith := rule_arithmetic(m, answer_text)) is not None:
            findings.append(arith)
        if (contra := rule_contraindication(m, answer_text, patient, table)) is not None:
            findings.append(contra)
        entries = _entries(m, indications, table)
        if not entries:
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
