"""What every loader returns: documents that parsed, and problems found on the way."""

from __future__ import annotations

from dataclasses import dataclass, field

from corpus.types import Document


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

    def extend(self, other: LoadResult) -> None:
        self.documents.extend(other.documents)
        self.problems.extend(other.problems)
        self.files_read += other.files_read
