"""openFDA drug-label JSON: one document per label section.

Reads the layout of the openFDA ``drug/label`` endpoint and its bulk download: a file is
either one label record or ``{"meta": {...}, "results": [record, ...]}``; a directory is
read recursively for ``*.json``. Each section field (a list of strings, e.g.
``dosage_and_administration``) becomes a Document ``fda:<set_id>:<field>``. HTML
``*_table`` fields and non-prose fields (product data elements, carton text) are skipped.
Problems name ``file`` or ``file:N`` where N is the 1-based record number in ``results``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus.loaders.base import LoadResult, Problem
from corpus.types import Document

ORGANIZATION = "US FDA (DailyMed SPL)"
LICENSE = "Public domain (US FDA labeling)"
DAILYMED_URL = "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={set_id}"

# Human names in label order (PLR sections first, then older and OTC labels). A list field
# not named here and not skipped below still becomes a section, named from the field.
SECTION_NAMES: dict[str, str] = {
    "boxed_warning": "Boxed Warning",
    "recent_major_changes": "Recent Major Changes",
    "indications_and_usage": "Indications and Usage",
    "dosage_and_administration": "Dosage and Administration",
    "dosage_forms_and_strengths": "Dosage Forms and Strengths",
    "contraindications": "Contraindications",
    "warnings_and_cautions": "Warnings and Precautions",
    "warnings": "Warnings",
    "precautions": "Precautions",
    "general_precautions": "General Precautions",
    "user_safety_warnings": "User Safety Warnings",
    "adverse_reactions": "Adverse Reactions",
    "drug_interactions": "Drug Interactions",
    "drug_and_or_laboratory_test_interactions": "Drug and/or Laboratory Test Interactions",
    "use_in_specific_populations": "Use in Specific Populations",
    "pregnancy": "Pregnancy",
    "teratogenic_effects": "Teratogenic Effects",
    "nonteratogenic_effects": "Nonteratogenic Effects",
    "labor_and_delivery": "Labor and Delivery",
    "lactation": "Lactation",
    "nursing_mothers": "Nursing Mothers",
    "females_and_males_of_reproductive_potential": "Females and Males of Reproductive Potential",
    "pediatric_use": "Pediatric Use",
    "geriatric_use": "Geriatric Use",
    "drug_abuse_and_dependence": "Drug Abuse and Dependence",
    "controlled_substance": "Controlled Substance",
    "abuse": "Abuse",
    "dependence": "Dependence",
    "overdosage": "Overdosage",
    "description": "Description",
    "clinical_pharmacology": "Clinical Pharmacology",
    "mechanism_of_action": "Mechanism of Action",
    "pharmacodynamics": "Pharmacodynamics",
    "pharmacokinetics": "Pharmacokinetics",
    "pharmacogenomics": "Pharmacogenomics",
    "microbiology": "Microbiology",
    "nonclinical_toxicology": "Nonclinical Toxicology",
    "carcinogenesis_and_mutagenesis_and_impairment_of_fertility": (
        "Carcinogenesis, Mutagenesis, Impairment of Fertility"
    ),
    "animal_pharmacology_and_or_toxicology": "Animal Pharmacology and/or Toxicology",
    "clinical_studies": "Clinical Studies",
    "references": "References",
    "how_supplied": "How Supplied",
    "storage_and_handling": "Storage and Handling",
    "laboratory_tests": "Laboratory Tests",
    "information_for_patients": "Patient Counseling Information",
    "spl_medguide": "Medication Guide",
    "spl_patient_package_insert": "Patient Package Insert",
    "instructions_for_use": "Instructions for Use",
    "active_ingredient": "Active Ingredient",
    "inactive_ingredient": "Inactive Ingredients",
    "purpose": "Purpose",
    "do_not_use": "Do Not Use",
    "ask_doctor": "Ask a Doctor Before Use",
    "ask_doctor_or_pharmacist": "Ask a Doctor or Pharmacist Before Use",
    "when_using": "When Using This Product",
    "stop_use": "Stop Use and Ask a Doctor",
    "pregnancy_or_breast_feeding": "Pregnancy or Breast-Feeding",
    "keep_out_of_reach_of_children": "Keep Out of Reach of Children",
    "other_safety_information": "Other Safety Information",
    "questions": "Questions",
    "spl_unclassified_section": "Other Label Text",
}

# Identifiers, metadata and text that is not label prose (ingredient word lists, carton text).
_NOT_SECTIONS = frozenset(
    {
        "id",
        "set_id",
        "version",
        "effective_time",
        "openfda",
        "spl_product_data_elements",
        "spl_indexing_data_elements",
        "package_label_principal_display_panel",
    }
)
_SMALL_WORDS = frozenset({"and", "or", "of", "in", "for", "the", "to", "a", "with"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")


class OpenFdaNames(BaseModel):
    """The harmonized ``openfda`` block; every field is a list in the real data."""

    model_config = ConfigDict(extra="ignore")

    generic_name: list[str] = Field(default_factory=list)
    brand_name: list[str] = Field(default_factory=list)
    manufacturer_name: list[str] = Field(default_factory=list)
    spl_set_id: list[str] = Field(default_factory=list)
    route: list[str] = Field(default_factory=list)


class LabelRecord(BaseModel):
    """One label; section fields stay in ``model_extra`` and are checked one by one."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    set_id: str | None = None
    version: str | None = None
    effective_time: str | None = None
    openfda: OpenFdaNames = Field(default_factory=OpenFdaNames)

    def label_id(self) -> tuple[str, bool] | None:
        """The set id and whether it is a real set id (False: the SPL document ``id``)."""
        for candidate in (self.set_id, *self.openfda.spl_set_id[:1]):
            if candidate and candidate.strip():
                return candidate.strip(), True
        if self.id and self.id.strip():
            return self.id.strip(), False
        return None


def section_name(field: str) -> str:
    """Human name of a section field: the known name, else the field in title case."""
    if field in SECTION_NAMES:
        return SECTION_NAMES[field]
    words = field.split("_")
    return " ".join(w if i and w in _SMALL_WORDS else w.capitalize() for i, w in enumerate(words))


def clean_section_text(parts: list[str]) -> str:
    """Join a section's strings one per line; collapse spaces, keep paragraph breaks."""
    lines: list[str] = []
    for part in parts:
        for line in part.splitlines():
            line = _SPACES.sub(" ", line).strip()
            if line:
                lines.append(line)
    return "\n".join(lines)


def _joined(values: list[str]) -> str | None:
    cleaned = [v.strip() for v in values if v.strip()]
    return ", ".join(dict.fromkeys(cleaned)) or None


def _year(effective_time: str | None) -> int | None:
    match = re.match(r"(\d{4})\d{4}$", (effective_time or "").strip())
    return int(match.group(1)) if match else None


def _drug_title(names: OpenFdaNames) -> str | None:
    brand, generic = _joined(names.brand_name), _joined(names.generic_name)
    generic = generic.lower() if generic and generic.isupper() else generic
    if brand and generic and brand.lower() != generic.lower():
        return f"{brand} ({generic})"
    return brand or generic


def _section_fields(record: LabelRecord) -> Iterator[tuple[str, Any]]:
    extra = record.model_extra or {}
    known = [f for f in SECTION_NAMES if f in extra]
    other = [f for f in extra if f not in SECTION_NAMES]
    for field in known + other:
        if field in _NOT_SECTIONS or field.endswith("_table") or field.startswith("_"):
            continue
        yield field, extra[field]


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def record_documents(record: LabelRecord, where: str) -> tuple[list[Document], list[Problem]]:
    """The section documents of one label, and problems with it."""
    found = record.label_id()
    if found is None:
        return [], [Problem(where, "label has neither 'set_id' nor 'id'; skipped")]
    set_id, is_set_id = found
    problems: list[Problem] = []
    drug = _drug_title(record.openfda)
    if drug is None:
        drug = f"Drug label {set_id}"
        problems.append(Problem(where, f"label {set_id} has no openfda brand or generic name"))
    meta_base: dict[str, Any] = {
        "generic_name": _joined(record.openfda.generic_name),
        "brand_name": _joined(record.openfda.brand_name),
        "manufacturer": _joined(record.openfda.manufacturer_name),
        "set_id": set_id if is_set_id else None,
        "effective_time": record.effective_time,
        "route": list(record.openfda.route),
    }
    if not is_set_id:
        meta_base["spl_id"] = set_id
    docs: list[Document] = []
    for field, value in _section_fields(record):
        if not _is_text_list(value):
            if field in SECTION_NAMES:
                problems.append(
                    Problem(where, f"field {field!r} is not a list of strings; skipped")
                )
            continue
        text = clean_section_text(value)
        if not text:
            continue
        name = section_name(field)
        docs.append(
            Document(
                id=f"fda:{set_id}:{field}",
                title=f"{drug} — {name}",
                text=text,
                source_type="label",
                organization=ORGANIZATION,
                year=_year(record.effective_time),
                # Without a set id there is no DailyMed page to link to.
                url=DAILYMED_URL.format(set_id=set_id) if is_set_id else None,
                license=LICENSE,
                section=name,
                meta={**meta_base, "section_field": field},
            )
        )
    if not docs:
        problems.append(Problem(where, f"label {set_id} has no non-empty text section; skipped"))
    return docs, problems


def _records(data: Any, file: str) -> Iterator[tuple[str, Any]]:
    """(where, raw record) pairs of a parsed file; raises ValueError for an unknown shape."""
    if isinstance(data, dict) and "results" in data:
        results = data["results"]
        if not isinstance(results, list):
            raise ValueError("'results' must be a list of label records")
        for index, raw in enumerate(results, start=1):
            yield f"{file}:{index}", raw
    elif isinstance(data, dict) and isinstance(data.get("error"), dict):
        raise ValueError(f"openFDA error response: {data['error'].get('message', 'no message')}")
    elif isinstance(data, dict) and ("set_id" in data or "id" in data or "openfda" in data):
        yield file, data
    elif isinstance(data, list):
        for index, raw in enumerate(data, start=1):
            yield f"{file}:{index}", raw
    else:
        raise ValueError('not an openFDA label record or a {"results": [...]} file')


def _validation_message(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "record"
    return f"field {loc!r}: {err['msg']}"


def load_openfda_file(file: Path, result: LoadResult, seen: dict[str, str]) -> None:
    """Add one JSON file's label sections to ``result``; ``seen`` maps set id to origin."""
    name = str(file)
    result.files_read += 1
    try:
        data = json.loads(file.read_bytes())
    except OSError as exc:
        result.problems.append(Problem(name, f"cannot read: {exc.strerror}"))
        return
    except json.JSONDecodeError as exc:
        result.problems.append(Problem(name, f"not valid JSON: {exc}"))
        return
    except UnicodeDecodeError as exc:
        result.problems.append(Problem(name, f"not UTF-8 text (byte {exc.start})"))
        return
    try:
        for where, raw in _records(data, name):
            _add_record(raw, where, result, seen)
    except ValueError as exc:
        result.problems.append(Problem(name, str(exc)))


def _add_record(raw: Any, where: str, result: LoadResult, seen: dict[str, str]) -> None:
    if not isinstance(raw, dict):
        result.problems.append(Problem(where, "a label record must be a JSON object"))
        return
    try:
        record = LabelRecord.model_validate(raw)
    except ValidationError as exc:
        result.problems.append(Problem(where, _validation_message(exc)))
        return
    docs, problems = record_documents(record, where)
    result.problems.extend(problems)
    if not docs:
        return
    set_id = docs[0].id.removeprefix("fda:").rsplit(":", 1)[0]
    if set_id in seen:
        result.problems.append(
            Problem(where, f"duplicate label {set_id} (first from {seen[set_id]}); skipped")
        )
        return
    seen[set_id] = where
    result.documents.extend(docs)


def load_openfda(path: Path) -> LoadResult:
    """Load a label JSON file, or every ``*.json`` below a directory (sorted, recursive)."""
    result = LoadResult()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.json") if p.is_file())
        if not files:
            result.problems.append(Problem(str(path), "no .json files in this directory"))
    elif path.is_file():
        files = [path]
    else:
        result.problems.append(Problem(str(path), "file or directory does not exist"))
        return result
    seen: dict[str, str] = {}
    for file in files:
        load_openfda_file(file, result, seen)
    return result
