"""Guideline summaries shipped in the ``open-medicine`` package (MIT): one document each.

The package keeps ``guidelines/registry.json`` (id, title, organization, year, DOI and the
section names of each guideline) and the text as ``guidelines/content/<id>/<section>.md``.
A guideline's document is its section files joined in registry order, so the section
headings stay in the text for section-aware chunking.
"""

from __future__ import annotations

import json
import re
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corpus.loaders.base import LoadResult, Problem
from corpus.types import Document

PACKAGE = "open_medicine"
DISTRIBUTION = "open-medicine"
LICENSE = "MIT (open-medicine)"
_FRONT = re.compile(r"\A---[ \t]*\r?\n.*?\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)


class GuidelineEntry(BaseModel):
    """One entry of the package's ``registry.json``; other keys are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    title: str = Field(min_length=1)
    organization: str | None = None
    year: int | None = Field(default=None, ge=1900, le=2100)
    doi: str | None = None
    sections: list[str] = Field(min_length=1)
    topics: list[str] = Field(default_factory=list)


def strip_front_matter(text: str) -> str:
    """The Markdown body without a leading ``---`` front-matter block."""
    return _FRONT.sub("", text, count=1).strip()


def package_dir() -> Traversable | None:
    """The installed package's ``guidelines`` folder, or None when it is not installed."""
    try:
        return resources.files(PACKAGE).joinpath("guidelines")
    except ModuleNotFoundError:
        return None


def package_version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def _registry(root: Traversable) -> list[Any]:
    """The raw registry entries; raises ValueError when the registry cannot be used."""
    registry = root.joinpath("registry.json")
    if not registry.is_file():
        raise ValueError("no registry.json")
    try:
        data = json.loads(registry.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"registry.json is not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise ValueError("registry.json must be a list of guideline entries")
    return data


def _guideline_text(
    root: Traversable, entry: GuidelineEntry, where: str
) -> tuple[str, list[str], list[Problem]]:
    """Joined section bodies, the files used, and problems with missing or empty sections."""
    bodies: list[str] = []
    files: list[str] = []
    problems: list[Problem] = []
    folder = root.joinpath("content", entry.id)
    for section in entry.sections:
        relative = f"content/{entry.id}/{section}.md"
        file = folder.joinpath(f"{section}.md")
        if not file.is_file():
            problems.append(Problem(f"{where}/{relative}", "section file is missing; skipped"))
            continue
        try:
            body = strip_front_matter(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(f"{where}/{relative}", f"cannot read: {exc}"))
            continue
        if body:
            bodies.append(body)
            files.append(relative)
    return "\n\n".join(bodies), files, problems


def guideline_document(
    root: Traversable, entry: GuidelineEntry, where: str, version: str | None
) -> tuple[Document | None, list[Problem]]:
    text, files, problems = _guideline_text(root, entry, where)
    if not text:
        problems.append(Problem(where, f"guideline {entry.id!r} has no text; skipped"))
        return None, problems
    doi = (entry.doi or "").strip() or None
    doc = Document(
        id=f"openmed:{entry.id}",
        title=entry.title.strip(),
        text=text,
        source_type="guideline",
        organization=entry.organization,
        year=entry.year,
        url=f"https://doi.org/{doi}" if doi else None,
        license=LICENSE,
        meta={
            "doi": doi,
            "package_version": version,
            "file": f"content/{entry.id}",
            "files": files,
            "sections": list(entry.sections),
            "topics": list(entry.topics),
        },
    )
    return doc, problems


def _unlisted_folders(root: Traversable, listed: set[str], where: str) -> list[Problem]:
    content = root.joinpath("content")
    if not content.is_dir():
        return [Problem(f"{where}/content", "no content folder")]
    return [
        Problem(f"{where}/content/{folder.name}", "guideline folder not in registry.json; skipped")
        for folder in sorted(content.iterdir(), key=lambda f: f.name)
        if folder.is_dir() and not folder.name.startswith((".", "_")) and folder.name not in listed
    ]


def load_open_medicine(path: Path | None = None) -> LoadResult:
    """Load every guideline of the installed package, or of a copy of its folder at ``path``.

    ``path`` is the folder holding ``registry.json`` and ``content/`` (the package's
    ``guidelines`` folder); the package version is only recorded when reading the package.
    """
    result = LoadResult()
    root: Traversable | None = path if path is not None else package_dir()
    where = str(path) if path is not None else f"{DISTRIBUTION}:guidelines"
    if root is None:
        message = "the open-medicine package is not installed; run: pip install open-medicine"
        result.problems.append(Problem(where, message))
        return result
    version = package_version() if path is None else None
    try:
        entries = _registry(root)
    except (OSError, ValueError) as exc:
        result.problems.append(Problem(where, str(exc)))
        return result
    result.files_read += 1
    listed: set[str] = set()
    loaded: set[str] = set()
    for index, raw in enumerate(entries, start=1):
        if isinstance(raw, dict) and isinstance(raw.get("id"), str):
            listed.add(raw["id"])  # a bad entry is reported once, not again as unlisted
        try:
            entry = GuidelineEntry.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(x) for x in err["loc"]) or "entry"
            result.problems.append(
                Problem(f"{where}/registry.json:{index}", f"field {loc!r}: {err['msg']}")
            )
            continue
        if entry.id in loaded:
            result.problems.append(
                Problem(f"{where}/registry.json:{index}", f"duplicate id {entry.id!r}; skipped")
            )
            continue
        loaded.add(entry.id)
        doc, problems = guideline_document(root, entry, where, version)
        result.problems.extend(problems)
        if doc is not None:
            result.documents.append(doc)
            result.files_read += len(doc.meta["files"])
    result.problems.extend(_unlisted_folders(root, listed, where))
    return result
