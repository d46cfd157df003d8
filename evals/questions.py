"""Eval question sets in the shared JSONL schema (../shared/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus.loaders.base import Problem


class Turn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["user", "assistant"]
    content: str


class EvalQuestion(BaseModel):
    """One question; unknown extra fields are ignored so newer sets still load."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    history: list[Turn] = Field(default_factory=list)
    gold_doc_ids: list[str] = Field(default_factory=list)
    qrels: dict[str, int] | None = None
    reference_answer: str | None = None
    must_have: list[str] = Field(default_factory=list)
    nice_to_have: list[str] = Field(default_factory=list)
    answer_label: str | None = None
    source: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)

    @property
    def unanswerable(self) -> bool:
        return bool(self.meta.get("unanswerable"))


def load_questions(path: Path) -> tuple[list[EvalQuestion], list[Problem]]:
    """Read a question file; a bad line is reported with its line number and skipped."""
    questions: list[EvalQuestion] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                q = EvalQuestion.model_validate(json.loads(raw.decode("utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(Problem(where, f"not valid JSON: {exc}"))
                continue
            except ValidationError as exc:
                err = exc.errors()[0]
                problems.append(
                    Problem(where, f"field {'.'.join(map(str, err['loc']))!r}: {err['msg']}")
                )
                continue
            if q.id in seen:
                problems.append(Problem(where, f"duplicate question id {q.id!r}; skipped"))
                continue
            seen.add(q.id)
            questions.append(q)
    return questions, problems
