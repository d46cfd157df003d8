"""`bedside check`: run the guard over answers from a JSONL file (one answer per line)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel, ConfigDict, Field

from corpus.loaders.base import Problem, read_jsonl
from guardrails.check import check
from guardrails.patient import PatientInput, extract_patient
from guardrails.reference import ReferenceTable
from guardrails.types import SourceText, Verdict


class PassageInput(BaseModel):
    """A cited passage with what it stands under (its drug may be named only there)."""

    model_config = ConfigDict(extra="forbid")

    text: str
    title: str = ""
    section_path: list[str] = Field(default_factory=list)
    doc_id: str = ""
    chunk_id: str = ""

    def to_source(self) -> SourceText:
        return SourceText(
            self.text, self.title, tuple(self.section_path), self.doc_id, self.chunk_id
        )


class CheckInput(BaseModel):
    """One line of `bedside check --input`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    answer: str
    question: str | None = None
    patient: PatientInput | None = None
    citations: dict[int, str] | None = Field(
        default=None, description="citation marker -> passage id"
    )
    passages: dict[str, str | PassageInput] | None = Field(
        default=None, description="passage id -> passage text, or {text, title, section_path}"
    )


def verdict_json(item_id: str, verdict: Verdict) -> dict[str, Any]:
    return {
        "id": item_id,
        "allowed": verdict.allowed,
        "findings": [f.to_json() for f in verdict.findings],
    }


def check_item(item: CheckInput, reference: ReferenceTable | None = None) -> Verdict:
    question = item.question or ""
    patient = extract_patient(question)
    if item.patient is not None:
        patient = patient.merged(item.patient.to_patient())
    passages = (
        {k: v if isinstance(v, str) else v.to_source() for k, v in item.passages.items()}
        if item.passages is not None
        else None
    )
    return check(item.answer, item.citations, passages, patient, question, reference)


def read_inputs(path: Path) -> Iterator[CheckInput | Problem]:
    for item in read_jsonl(path, CheckInput):
        yield item if isinstance(item, Problem) else item[1]


def run_batch(
    path: Path, out: TextIO, reference: ReferenceTable | None = None
) -> tuple[int, int, list[Problem]]:
    """Write one verdict line per good input line; returns (checked, blocked, problems).
    ``reference``: a dose reference loaded from another data directory (default: bundled)."""
    checked = blocked = 0
    problems: list[Problem] = []
    for item in read_inputs(path):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        verdict = check_item(item, reference)
        checked += 1
        blocked += 0 if verdict.allowed else 1
        out.write(json.dumps(verdict_json(item.id, verdict), ensure_ascii=False) + "\n")
    return checked, blocked, problems
