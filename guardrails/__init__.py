"""The dose guard: every dose in an answer checked against a cited reference before it is shown.

    from guardrails import check, Verdict, Patient, applicable_regimens

``check(answer_text, citations, passages, patient, context)`` returns a ``Verdict``;
``applicable_regimens(drug, indication, patient)`` gives the reference's regimens judged and
applied for a patient (the dose cards and the guard read the same criteria);
``resolve_subject(source, start, end)`` says what a passage sentence is about.
"""

from guardrails.check import check
from guardrails.context import find_indications, resolve_subject
from guardrails.patient import Patient, PatientInput, extract_patient, patient_from_conversation
from guardrails.reference import ReferenceTable, default_reference, load_reference
from guardrails.regimens import Regimen, Step, applicable_regimens, dose_words
from guardrails.rules import REGISTRY, Rule
from guardrails.types import (
    Amount,
    DoseMention,
    Finding,
    Source,
    SourceText,
    Subject,
    Unparsed,
    Verdict,
)

__all__ = [
    "REGISTRY",
    "Amount",
    "DoseMention",
    "Finding",
    "Patient",
    "PatientInput",
    "ReferenceTable",
    "Regimen",
    "Rule",
    "Source",
    "SourceText",
    "Step",
    "Subject",
    "Unparsed",
    "Verdict",
    "applicable_regimens",
    "check",
    "default_reference",
    "dose_words",
    "extract_patient",
    "find_indications",
    "load_reference",
    "patient_from_conversation",
    "resolve_subject",
]
