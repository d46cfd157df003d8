"""Corpus JSONL interchange schema (one document per line), as in ../shared/data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus.loaders.base import LoadResult, Problem
from corpus.types import Document, SourceType


class DocumentRecord(BaseModel):
    """One line of a corpus ``docs.jsonl``; unknown extra fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    title: str
    text: str = Field(min_length=1)
    source_type: SourceType
    organization: str | None = None
    year: int | None = None
    url: str | None = None
    license: str = ""
    section: str | None = None
    review_status: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_document(self) -> Document:
        return Document(
            id=self.id,
            title=self.title,
            text=self.text,
            source_type=self.source_type,
            organization=self.organization,
            year=self.year,
            url=self.url,
            license=self.license or None,
            section=self.section,
            review_status=self.review_status,
            meta=self.meta,
        )


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "record"
    more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"field {loc!r}: {err['msg']}{more}"


def _iter_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.rglob("docs.jsonl")) or sorted(path.rglob("*.jsonl"))
    return [path]


def load_jsonl(path: Path) -> LoadResult:
    """Read a ``docs.jsonl`` file, or every ``docs.jsonl`` below a directory."""
    result = LoadResult()
    if not path.exists():
        result.problems.append(Problem(str(path), "file or directory does not exist"))
        return result
    for file in _iter_files(path):
        result.files_read += 1
        try:
            handle = file.open("rb")
        except OSError as exc:
            result.problems.append(Problem(str(file), f"cannot open: {exc.strerror}"))
            continue
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                where = f"{file}:{lineno}"
                if not raw.strip():
                    continue
                try:
                    obj = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    result.problems.append(Problem(where, f"not UTF-8 text (byte {exc.start})"))
                    continue
                except json.JSONDecodeError as exc:
                    result.problems.append(
                        Problem(where, f"not valid JSON: {exc.msg} at column {exc.colno}")
                    )
                    continue
                if not isinstance(obj, dict):
                    result.problems.append(Problem(where, "a line must be a JSON object"))
                    continue
                try:
                    result.documents.append(DocumentRecord.model_validate(obj).to_document())
                except ValidationError as exc:
                    result.problems.append(Problem(where, _first_error(exc)))
    return result
