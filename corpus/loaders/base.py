"""What every loader returns: documents that parsed, and problems found on the way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from corpus.types import Document

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Problem:
    """A record that was skipped or needs attention; ``where`` is ``file:line`` or ``file``."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(slots=True)
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files_read: int = 0
    # What was read but is worth saying (a protocol indexed as a draft): not a problem.
    notes: list[Problem] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.documents.extend(other.documents)
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)
        self.files_read += other.files_read


def read_jsonl(path: Path, model: type[M]) -> Iterator[tuple[str, M] | Problem]:
    """Each non-blank line of a JSONL file parsed as ``model``: ``(file:line, record)``, or a
    Problem that names the line and what is wrong with it (the caller skips it)."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield where, model.model_validate(json.loads(raw.decode("utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                yield Problem(where, f"not valid JSON: {exc}")
            except ValidationError as exc:
                err = exc.errors()[0]
                yield Problem(
                    where, f"field {'.'.join(map(str, err['loc'])) or 'line'!r}: {err['msg']}"
                )
