"""The Markdown a file reader writes, block by block (docs/STRUCTURE.md).

A reader walks its file in order and hands each block to one ``MarkdownWriter``: a heading,
a paragraph, a list item with its depth, a table as rows of cell texts, a preformatted
block. The writer owns the layout the structure parser reads back: a blank line between
blocks, list items of one list on consecutive lines nested by two spaces a level, the
``|---|`` line under a table's first row, ``|`` inside a cell escaped as ``\\|``. Every text
is whitespace-normalised on the way in, so no reader has to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Unicode spaces (no-break, thin, ideographic...) read as one ordinary space; characters
# that only steer line breaking or joining are not text.
_SPACES = re.compile(r"[\s\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200d\u2060\ufeff]")
# A paragraph typed with a bullet character instead of a list's numbering.
TYPED_BULLET = re.compile(r"^\s*[•▪◦●■□◆‣·–]\s+")


def normalise_space(text: str) -> str:
    """``text`` on one line: runs of whitespace as one space, invisible characters dropped."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", text)).strip()


def escape_cell(text: str) -> str:
    """A table cell's text on one line with its pipes escaped (``a|b`` -> ``a\\|b``)."""
    return normalise_space(text).replace("|", "\\|")


class MarkdownWriter:
    """Collects blocks in document order; ``text()`` is the structure model's Markdown."""

    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._in_list = False
        # at each depth of the list being written: ordered or not, and the last number
        self._numbers: list[tuple[bool, int]] = []
        self.first_heading: str | None = None

    def _block(self, text: str) -> None:
        self._blocks.append(text)
        self._in_list = False
        self._numbers = []

    def heading(self, level: int, text: str) -> None:
        title = normalise_space(text)
        if not title:
            return
        if self.first_heading is None:
            self.first_heading = title
        self._block("#" * min(max(level, 1), 6) + " " + title)

    def paragraph(self, text: str, *, bold: bool = False) -> None:
        """A paragraph; a line break inside it (``\\n``) stays a line of its own."""
        lines = [line for line in (normalise_space(part) for part in text.split("\n")) if line]
        if bold:
            lines = [f"**{line}**" for line in lines]
        if lines:
            self._block("\n".join(lines))

    def item(self, depth: int, text: str, *, ordered: bool, start: int | None = None) -> None:
        """A list item ``depth`` levels down (0 = top level) of the list being written.

        An item deeper than one level below the item above it is written one level below
        it, as the parser would read it. ``start`` is the number an ordered list starts at.
        """
        lines = [line for line in (normalise_space(part) for part in text.split("\n")) if line]
        if not lines:
            return
        depth = max(0, min(depth, len(self._numbers) if self._in_list else 0))
        del self._numbers[depth + 1 :]
        if len(self._numbers) <= depth or self._numbers[depth][0] != ordered:
            del self._numbers[depth:]
            self._numbers.append((ordered, (start if start is not None else 1) - 1))
        number = self._numbers[depth][1] + 1
        self._numbers[depth] = (ordered, number)
        marker = f"{number}." if ordered else "-"
        indent = "  " * depth
        hang = " " * (len(indent) + len(marker) + 1)
        body = f"{indent}{marker} " + f"\n{hang}".join(lines)
        if self._in_list:
            self._blocks[-1] += "\n" + body
        else:
            self._blocks.append(body)
            self._in_list = True

    def table(self, rows: Sequence[Sequence[str]]) -> None:
        """A table; its first row is the header. Empty rows are left out, short rows padded."""
        cells = [[escape_cell(cell) for cell in row] for row in rows]
        cells = [row for row in cells if any(row)]
        if not cells:
            return
        width = max(len(row) for row in cells)
        lines = [
            "|"
            + "|".join(f" {cell} " if cell else " " for cell in row + [""] * (width - len(row)))
            + "|"
            for row in cells
        ]
        lines.insert(1, "|" + "---|" * width)
        self._block("\n".join(lines))

    def code(self, text: str) -> None:
        """A preformatted block, fenced, its lines kept as written (trailing spaces dropped)."""
        lines = [line.rstrip() for line in text.expandtabs(4).splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        if not lines:
            return
        fence = "```"
        while any(line.lstrip().startswith(fence) for line in lines):
            fence += "`"
        self._block("\n".join([fence, *lines, fence]))

    def text(self) -> str:
        return "\n\n".join(self._blocks) + "\n" if self._blocks else ""
