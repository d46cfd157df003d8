"""What a file reader returns: the file's text in the structure model's Markdown.

PDF, Word and HTML readers write the document they read as the Markdown that
``corpus.structure.parse_structure`` reads (docs/STRUCTURE.md): ``#`` headings by level,
paragraphs separated by blank lines, ``- `` / ``1. `` list items nested by two spaces a
level, tables as ``| a | b |`` rows with a ``|---|`` line under the header. Retrieval, the
answer builder and the dose guard then work on a protocol file exactly as on a pack
document, and every span is an offset into that text.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from corpus.errors import CorpusError


class UnreadableFileError(CorpusError):
    """A file that cannot be read into text (scanned pages without a text layer, an
    encrypted or damaged file); the message names the file and what to do."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        self.detail = message
        super().__init__(f"{path}: {message}")


@dataclass(frozen=True, slots=True)
class Converted:
    """One file read into Markdown.

    ``pages`` maps text to the file's pages: ``(offset, page)`` pairs in order, the page
    that starts at ``offset`` of ``text`` (PDF only; empty for files without pages).
    ``notes`` say what of the file was left out and why (a page with no text layer), for
    the person who indexes it; the text read is still good.
    """

    text: str
    title: str | None = None
    created: date | None = None
    modified: date | None = None
    pages: tuple[tuple[int, int], ...] = ()
    notes: tuple[str, ...] = ()

    def page_at(self, offset: int) -> int | None:
        return page_at(self.pages, offset)


def page_at(pages: tuple[tuple[int, int], ...] | list[list[int]], offset: int) -> int | None:
    """The page holding character ``offset`` of a converted text, or None without pages."""
    if not pages:
        return None
    i = bisect_right([p[0] for p in pages], offset) - 1
    return int(pages[max(i, 0)][1])
