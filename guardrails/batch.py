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
from guardrails.types import Verdict


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
    passages: dict[str, str] | None = Field(default=None, description="passage id -> passage text")


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
    return check(item.answer, item.citations, item.passages, patient, question, reference)


def read_inputs(path: Path) -> Iterator[CheckInput | Problem]:
    for item in read_jsonl(path, CheckInput):
        yield item if isinstance(item, Problem) else item[1]


def run_batch(path: Path, out: TextIO) -> tuple[int, int, list[Problem]]:
    """Write one verdict line per good input line; returns (checked, blocked, problems)."""
    checked = blocked = 0
    problems: list[Problem] = []
    for item in read_inputs(path):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        verdict = check_item(item)
        checked += 1
        blocked += 0 if verdict.allowed else 1
        out.write(json.dumps(verdict_json(item.id, verdict), ensure_ascii=False) + "\n")
    return checked, blocked, problems
