"""Eval question sets in the shared JSONL schema (../shared/data/README.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from corpus.loaders.base import Problem, read_jsonl


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
    for item in read_jsonl(path, EvalQuestion):
        if isinstance(item, Problem):
            problems.append(item)
            continue
        where, q = item
        if q.id in seen:
            problems.append(Problem(where, f"duplicate question id {q.id!r}; skipped"))
            continue
        seen.add(q.id)
        questions.append(q)
    return questions, problems
