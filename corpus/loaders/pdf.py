"""Read a PDF protocol into the structure model's Markdown (docs/STRUCTURE.md).

pypdfium2 opens the file first: it tells a damaged or encrypted file apart with a reason,
and counts the characters of every page, so a scanned page (an image with no text layer)
is found without laying it out. pdfplumber (pdfminer.six) then reads the pages that have
text, word by word with font size, font name and position, and finds ruled tables.

What the layout says, and how it is written:

- a line in a larger size than the body text is a heading, the largest size ``#``, the
  next ``##``, and so on; a bold line of body size standing alone is a heading one level
  below the smallest larger size;
- lines closer than the body line spacing are one paragraph, a wider gap starts the next;
- a line led by a bullet character, a drawn bullet (a small filled or outlined shape left
  of the line) or a number or letter (``1.``, ``a)``) is a list item, nested by the x of
  its marker; the lines after it right of its marker, at the line spacing, are the rest of
  the item however short, and so is such a line at the top of the next page;
- a line ending in a hyphen or dash inside a word goes on with the next line without a
  space (``heparin-`` / ``induced``); a dash standing alone keeps its spaces;
- a ruled table is ``| a | b |`` rows, the first row the header; a table that goes on at
  the top of the next page with the same columns stays one table, and a header row
  repeated there is dropped;
- text at the same place on nearly every page (running headers, footers, page numbers) is
  left out, and so is a lone page number in the top or bottom margin;
- a two-column page is read column by column, left column first; a line that spans the
  gutter (a title over both columns) ends one band of columns and starts the next.

Nothing here reads the words of the content: only sizes, weights and positions.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from corpus.loaders.converted import Converted, UnreadableFileError

# A running header or footer is on at least this share of the pages that have text.
_REPEATED_SHARE = 0.6
# The top and bottom bands of a page where running headers and footers are looked for.
_MARGIN_SHARE = 0.12
_HEADING_RATIO = 1.12  # a line this much larger than the body size is a heading
_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.IGNORECASE)
_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-–(\[]?\s*\d{1,4}\s*[-–)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE
)
_SYMBOL_BULLET = re.compile(r"^([•●○◦▪■□‣∙·▸►➢✓❖])\s*(?=\S)")
_DASH_BULLET = re.compile(r"^([-–—])\s+(?=\S)")
_NUMBER_BULLET = re.compile(r"^(\d{1,2}[.)]|[a-z][.)]|\((?:\d{1,2}|[a-z])\))\s+(?=\S)")
_TERMINAL = re.compile(r"[.!?:;]\W*$")
# A line ending in a hyphen or dash that is part of a word, not one standing alone.
_WORD_DASH_END = re.compile(r"[^\s\-‐‑–—][-‐‑–—]$")
_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?")
# Titles a PDF writer fills in when the author gave none.
_NO_TITLE = re.compile(r"^(?:about:blank|untitled\d*|microsoft word - .*)$", re.IGNORECASE)


@dataclass(slots=True)
class _Line:
    page: int
    side: int  # 0 full width, 1 left column, 2 right column
    top: float
    bottom: float
    x0: float
    x1: float
    size: float
    bold: bool
    text: str
    marker: str | None = None  # "-" for a bullet, else the number or letter as written
    marker_x: float | None = None


@dataclass(slots=True)
class _TableBlock:
    page: int
    side: int
    top: float
    bottom: float
    x0: float
    x1: float
    columns: tuple[float, ...]  # left x of each column
    rows: list[list[str]]


@dataclass(slots=True)
class _Page:
    number: int
    height: float
    lines: list[_Line] = field(default_factory=list)
    tables: list[_TableBlock] = field(default_factory=list)


def read_pdf(path: Path) -> Converted:
    """Read ``path`` into Markdown; raise UnreadableFileError when it has no text to read."""
    path = Path(path)
    counts, image_pages, metadata = _survey(path)
    text_pages = [i for i, n in enumerate(counts) if n > 0]
    if not text_pages:
        raise UnreadableFileError(
            path,
            f"no text layer: none of its {len(counts)} page(s) has text (image only); "
            "scanned pages must be run through OCR before Bedside can index them",
        )
    notes = tuple(
        f"page {i + 1} has no text layer (image only); not indexed"
        for i in range(len(counts))
        if counts[i] == 0 and i in image_pages
    )
    pages = _layout(path, text_pages)
    _drop_running_text(pages)
    text, offsets, headings = _write(pages)
    title = (metadata.get("Title") or "").strip()
    if not title or _NO_TITLE.match(title):
        title = headings[0] if headings else ""
    return Converted(
        text=text,
        title=title or None,
        created=_pdf_date(metadata.get("CreationDate")),
        modified=_pdf_date(metadata.get("ModDate")),
        pages=tuple(offsets),
        notes=notes,
    )


# ---------------------------------------------------------------------------- opening


def _survey(path: Path) -> tuple[list[int], set[int], dict[str, str]]:
    """Characters on each page, the pages holding an image, and the metadata (pypdfium2)."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    if not path.is_file():
        raise UnreadableFileError(path, "no such file")
    try:
        doc = pdfium.PdfDocument(path)
    except pdfium.PdfiumError as exc:
        raise UnreadableFileError(path, _open_reason(str(exc))) from exc
    try:
        counts: list[int] = []
        images: set[int] = set()
        for i in range(len(doc)):
            page = doc[i]
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            counts.append(len(text.strip()))
            if any(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2)):
                images.add(i)
        metadata = doc.get_metadata_dict()
    finally:
        doc.close()
    return counts, images, metadata


def _open_reason(error: str) -> str:
    if "password" in error.lower():
        return (
            "the PDF is encrypted (a password is needed to open it); save an unprotected "
            "copy and index that"
        )
    return f"not a readable PDF (damaged or another kind of file: {error})"


def _pdf_date(value: str | None) -> date | None:
    match = _PDF_DATE.match((value or "").strip())
    if not match:
        return None
    year, month, day = (int(g) if g else 1 for g in match.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- layout


def _layout(path: Path, text_pages: list[int]) -> list[_Page]:
    import pdfplumber
    from pdfplumber.utils.exceptions import PdfminerException

    pages: list[_Page] = []
    try:
        with pdfplumber.open(path) as pdf:
            for i in text_pages:
                pages.append(_read_page(pdf.pages[i]))
    except PdfminerException as exc:
        raise UnreadableFileError(path, f"not a readable PDF (damaged: {exc})") from exc
    return pages


def _read_page(page: Any) -> _Page:
    number = page.page_number
    tables = []
    for found in page.find_tables():
        rows = [[_cell(c) for c in row] for row in found.extract()]
        width = max((len(r) for r in rows), default=0)
        if len(rows) < 2 or width < 2:
            continue  # a ruled box around a note is text, not a table
        first = next(r for r in found.rows if any(c is not None for c in r.cells))
        columns = tuple(round(c[0], 1) for c in first.cells if c is not None)
        x0, top, x1, bottom = found.bbox
        tables.append(_TableBlock(number, 0, top, bottom, x0, x1, columns, rows))
    boxes = [(t.x0, t.top, t.x1, t.bottom) for t in tables]

    words = [
        w
        for w in page.extract_words(extra_attrs=["size", "fontname"], use_text_flow=False)
        if not _inside(w, boxes)
    ]
    gutter = _gutter(words, page.width)
    lines: list[_Line] = []
    for side in (0, 1, 2):
        lines += _group_lines(number, side, [w for w in words if _side(w, gutter) == side])
    for table in tables:
        table.side = _side({"x0": table.x0, "x1": table.x1}, gutter)
    _attach_drawn_bullets(page, lines, boxes)
    return _Page(number, float(page.height), _reading_order(lines), tables)


def _cell(value: str | None) -> str:
    """A table cell's printed lines as one line: joined as a paragraph's are (a word broken
    after its hyphen is one word again), ``|`` escaped."""
    out = ""
    for line in (value or "").splitlines():
        line = " ".join(line.split())
        if line:
            out = f"{out}{_joiner(out)}{line}" if out else line
    return out.replace("|", "\\|")


def _inside(word: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    cx = (word["x0"] + word["x1"]) / 2
    cy = (word["top"] + word["bottom"]) / 2
    return any(x0 <= cx <= x1 and top <= cy <= bottom for x0, top, x1, bottom in boxes)


def _gutter(words: list[dict[str, Any]], width: float) -> float | None:
    """The x of the gap between two columns, or None for a one-column page.

    A gutter is an x in the middle of the text block that almost no word crosses while
    several lines of words sit on each side of it.
    """
    if len(words) < 20:
        return None
    left = min(w["x0"] for w in words)
    right = max(w["x1"] for w in words)
    span = right - left
    if span < width * 0.4:
        return None
    best: tuple[int, float] | None = None
    step = 2.0
    x = left + span * 0.3
    while x <= left + span * 0.7:
        crossing = sum(1 for w in words if w["x0"] < x < w["x1"])
        if best is None or crossing < best[0]:
            best = (crossing, x)
        x += step
    assert best is not None
    crossing, x = best
    lefts = {round(w["top"]) for w in words if w["x1"] <= x}
    rights = {round(w["top"]) for w in words if w["x0"] >= x}
    if crossing > len(words) * 0.03 or len(lefts) < 3 or len(rights) < 3:
        return None
    # The gap must be real: no word of either side within a few points of it.
    near = [w for w in words if abs(w["x1"] - x) < 4 or abs(w["x0"] - x) < 4]
    if len(near) > len(words) * 0.03:
        return None
    # A wide right margin of ragged text is not a column: the right side must start at
    # (nearly) one x, as a column does.
    starts = Counter(round(w["x0"]) for w in words if w["x0"] >= x)
    if not starts or starts.most_common(1)[0][1] < 3:
        return None
    return x


def _side(word: dict[str, Any], gutter: float | None) -> int:
    if gutter is None:
        return 0
    if word["x1"] <= gutter:
        return 1
    if word["x0"] >= gutter:
        return 2
    return 0


def _group_lines(page: int, side: int, words: list[dict[str, Any]]) -> list[_Line]:
    rows: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: (w["top"], w["x0"])):
        if rows:
            last = rows[-1]
            mid = (word["top"] + word["bottom"]) / 2
            if last[0]["top"] - 1 <= mid <= max(w["bottom"] for w in last):
                last.append(word)
                continue
        rows.append([word])
    lines = []
    for row in rows:
        row.sort(key=lambda w: w["x0"])
        sizes: Counter[float] = Counter()
        bold = 0
        for w in row:
            n = len(w["text"])
            sizes[round(w["size"] * 2) / 2] += n
            if _BOLD.search(w["fontname"]):
                bold += n
        chars = sum(sizes.values())
        text = _join_words(row)
        lines.append(
            _Line(
                page=page,
                side=side,
                top=min(w["top"] for w in row),
                bottom=max(w["bottom"] for w in row),
                x0=row[0]["x0"],
                x1=row[-1]["x1"],
                size=sizes.most_common(1)[0][0],
                bold=bold >= chars * 0.7,
                text=text,
            )
        )
    for line in lines:
        _text_marker(line)
    return lines


def _join_words(row: list[dict[str, Any]]) -> str:
    return " ".join(w["text"] for w in row)


def _text_marker(line: _Line) -> None:
    for pattern in (_SYMBOL_BULLET, _DASH_BULLET, _NUMBER_BULLET):
        match = pattern.match(line.text)
        if match:
            marker = match.group(1)
            line.marker = marker if pattern is _NUMBER_BULLET else "-"
            line.marker_x = line.x0
            line.text = line.text[match.end() :]
            return


def _attach_drawn_bullets(
    page: Any, lines: list[_Line], boxes: list[tuple[float, float, float, float]]
) -> None:
    """A small square or round shape just left of a line's first word is its bullet."""
    for shape in [*page.curves, *page.rects]:
        w = shape["x1"] - shape["x0"]
        h = shape["bottom"] - shape["top"]
        if not (1 <= w <= 8 and 1 <= h <= 8 and abs(w - h) <= 2):
            continue
        if _inside(shape, boxes):
            continue
        cy = (shape["top"] + shape["bottom"]) / 2
        for line in lines:
            if line.marker is None and line.top <= cy <= line.bottom:
                gap = line.x0 - shape["x1"]
                if 0 <= gap <= 3 * line.size:
                    line.marker = "-"
                    line.marker_x = shape["x0"]
                    break


def _reading_order(lines: list[_Line]) -> list[_Line]:
    """Full-width lines in order; between two of them, the left column, then the right."""
    full = sorted((ln for ln in lines if ln.side == 0), key=lambda ln: ln.top)
    columns = sorted((ln for ln in lines if ln.side != 0), key=lambda ln: (ln.side, ln.top))
    ordered: list[_Line] = []
    bounds = [ln.top for ln in full] + [float("inf")]
    previous = float("-inf")
    for i, bound in enumerate(bounds):
        band = [ln for ln in columns if previous <= ln.top < bound]
        ordered += band
        if i < len(full):
            ordered.append(full[i])
        previous = bound
    return ordered


# ---------------------------------------------------------------------------- running text


def _running_key(line: _Line, body: float) -> tuple[str, int]:
    """Where and what a line is, for finding it again on the other pages.

    Numbers are read as one number in text no larger than the body (a footer's "Page 3 of
    7"), never in a heading: "Step 2" atop page 2 and "Step 3" atop page 3 are content.
    """
    text = line.text.casefold()
    if line.size <= body:
        text = re.sub(r"\d+", "#", text)
    return text, round(line.top / 3)


def _drop_running_text(pages: list[_Page]) -> None:
    """Remove headers, footers and page numbers: margin lines repeated on most pages."""

    def in_margin(line: _Line, page: _Page) -> bool:
        return line.top < page.height * _MARGIN_SHARE or line.bottom > page.height * (
            1 - _MARGIN_SHARE
        )

    sizes: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0] if sizes else 0.0
    seen: Counter[tuple[str, int]] = Counter()
    for page in pages:
        seen.update({_running_key(ln, body) for ln in page.lines if in_margin(ln, page)})
    needed = max(2, math.ceil(len(pages) * _REPEATED_SHARE))

    def repeated(line: _Line) -> bool:
        text, y = _running_key(line, body)
        # a line one rounding step away is at the same place
        return sum(seen[(text, y + d)] for d in (-1, 0, 1)) >= needed

    for page in pages:
        page.lines = [
            line
            for line in page.lines
            if not (
                in_margin(line, page)
                and (
                    (len(pages) >= 2 and repeated(line))
                    or (line.marker is None and _PAGE_NUMBER.match(line.text))
                )
            )
        ]


# ---------------------------------------------------------------------------- writing


class _Writer:
    """The output text built piece by piece, with the offset where each page starts."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.pages: list[tuple[int, int]] = []

    def add(self, text: str, page: int | None = None) -> None:
        if page is not None and (not self.pages or self.pages[-1][1] < page):
            self.pages.append((self.length, page))
        self.parts.append(text)
        self.length += len(text)

    def block(self) -> None:
        if self.parts:
            self.add("\n\n")


def _body_metrics(pages: list[_Page]) -> tuple[float, float, list[float]]:
    """The body text size, the body line pitch and the heading sizes, largest first."""
    sizes: Counter[float] = Counter()
    for page in pages:
        for line in page.lines:
            sizes[line.size] += len(line.text)
    body = sizes.most_common(1)[0][0] if sizes else 10.0
    pitches = []
    for page in pages:
        for a, b in zip(page.lines, page.lines[1:], strict=False):
            if a.side == b.side and a.size == b.size == body and 0 < b.top - a.top < body * 2.5:
                pitches.append(b.top - a.top)
    pitch = statistics.median(pitches) if pitches else body * 1.2
    larger = sorted({s for s in sizes if s >= body * _HEADING_RATIO}, reverse=True)
    return body, pitch, larger


def _write(pages: list[_Page]) -> tuple[str, list[tuple[int, int]], list[str]]:
    body, pitch, larger = _body_metrics(pages)
    level_of = {size: min(i + 1, 6) for i, size in enumerate(larger)}
    bold_level = min(len(larger) + 1, 6)

    # One stream of lines and tables in reading order.
    stream: list[_Line | _TableBlock] = []
    for page in pages:
        items: list[_Line | _TableBlock] = list(page.lines)
        for table in page.tables:
            at = next(
                (
                    i
                    for i, item in enumerate(items)
                    if isinstance(item, _Line)
                    and item.top > table.top
                    and (item.side == table.side or item.side == 0 or table.side == 0)
                ),
                len(items),
            )
            items.insert(at, table)
        stream += items

    out = _Writer()
    headings: list[str] = []
    previous: _Line | _TableBlock | None = None
    kind = ""  # what the last block written was: heading | paragraph | list | table
    list_xs: list[float] = []
    opened: _Line | None = None  # the first line of the list item being written
    last_table: _TableBlock | None = None
    for i, item in enumerate(stream):
        if isinstance(item, _TableBlock):
            if (
                kind == "table"
                and last_table is not None
                and item.page == last_table.page + 1
                and _same_columns(item, last_table)
            ):
                rows = item.rows[1:] if item.rows[0] == last_table.rows[0] else item.rows
                for row in rows:
                    out.add("\n")
                    out.add(_row(row), item.page)
            else:
                out.block()
                out.add(_row(item.rows[0]), item.page)
                out.add("\n" + "|" + "---|" * len(item.rows[0]))
                for row in item.rows[1:]:
                    out.add("\n" + _row(row))
                last_table = item
            kind, previous = "table", item
            continue

        line = item
        following = stream[i + 1] if i + 1 < len(stream) else None
        level = _heading_level(line, previous, following, body, pitch, level_of, bold_level)
        if level:
            if (
                kind == "heading"
                and isinstance(previous, _Line)
                and previous.size == line.size
                and previous.page == line.page
                and line.top - previous.top <= line.size * 1.6
            ):
                joiner = _joiner(previous.text)
                out.add(joiner)
                out.add(line.text, line.page)
                headings[-1] += joiner + line.text
            else:
                out.block()
                out.add("#" * level + " ", line.page)
                out.add(line.text)
                headings.append(line.text)
            kind, previous = "heading", line
            continue

        if line.marker is not None:
            if kind != "list":
                out.block()
                list_xs = []
            else:
                out.add("\n")
            assert line.marker_x is not None
            depth = _depth(list_xs, line.marker_x)
            marker = "-" if line.marker == "-" else line.marker
            if not re.fullmatch(r"\d{1,2}[.)]|-", marker):
                marker = "- " + marker  # a letter keeps its place as the item's first word
            out.add("  " * depth + marker + " ", line.page)
            out.add(line.text)
            kind, previous, opened = "list", line, line
            continue

        if (
            isinstance(previous, _Line)
            and kind in ("paragraph", "list")
            and _continues(previous, line, pitch, opened if kind == "list" else None)
        ):
            out.add(_joiner(previous.text))
            out.add(line.text, line.page)
            previous = line
            continue
        out.block()
        out.add(line.text, line.page)
        kind, previous = "paragraph", line

    text = "".join(out.parts)
    if text and not text.endswith("\n"):
        text += "\n"
    return text, out.pages, headings


def _heading_level(
    line: _Line,
    previous: _Line | _TableBlock | None,
    following: _Line | _TableBlock | None,
    body: float,
    pitch: float,
    level_of: dict[float, int],
    bold_level: int,
) -> int:
    if line.marker is not None or len(line.text) > 200:
        return 0
    if line.size in level_of:
        return level_of[line.size]
    if line.bold and line.size == body and not line.text.endswith((":", ".", ",", ";")):
        # alone: no line of the same paragraph right above or below it
        def close(a: _Line | _TableBlock | None, b: _Line | _TableBlock | None) -> bool:
            return (
                isinstance(a, _Line)
                and isinstance(b, _Line)
                and a.page == b.page
                and a.side == b.side
                and b.top - a.top <= pitch * 1.3
            )

        if not close(previous, line) and not close(line, following):
            return bold_level
    return 0


def _continues(previous: _Line, line: _Line, pitch: float, item: _Line | None) -> bool:
    """Whether ``line`` goes on with the paragraph of ``previous``, or with the list item
    that ``item`` starts and ``previous`` is the last printed line of.

    A list item goes on while lines come at its text indent (right of its marker) at the
    line spacing, however many lines it wraps onto and however short the last one is.
    """
    if line.size != previous.size:
        return False
    indented = True
    if item is not None:
        marker_x = item.marker_x if item.marker_x is not None else item.x0
        indented = line.x0 > marker_x + 1
    if line.page != previous.page or line.side != previous.side:
        if item is not None:
            # an item goes on over a page break in the same column, at its text indent
            return indented and line.side == previous.side and line.page == previous.page + 1
        # a paragraph over a page or column break: only a sentence cut in the middle
        return not _TERMINAL.search(previous.text)
    return indented and line.top - previous.top <= pitch * 1.3


def _joiner(text: str) -> str:
    """What goes between a printed line ending in ``text`` and the next line of its block.

    A line broken after a hyphen or dash inside a word ("heparin-" / "induced") is one
    word again; a dash standing alone between spaces ("5 mg -" / "then") keeps its space.
    """
    return "" if _WORD_DASH_END.search(text) else " "


def _depth(xs: list[float], x: float) -> int:
    """Nesting depth of a list marker at ``x``: its rank among the list's marker columns."""
    for i, known in enumerate(xs):
        if abs(known - x) <= 4:
            del xs[i + 1 :]  # going back out closes the deeper levels
            return i
    while xs and xs[-1] > x:
        xs.pop()
    xs.append(x)
    return len(xs) - 1


def _same_columns(a: _TableBlock, b: _TableBlock) -> bool:
    return len(a.columns) == len(b.columns) and all(
        abs(x - y) <= 3 for x, y in zip(a.columns, b.columns, strict=True)
    )


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"
