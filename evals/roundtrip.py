"""The round trip of the pack through PDF and Word: do the readers recover what was written?

    python -m evals.roundtrip [--out DIR] [--only structure|answers] [--markdown FILE]
                              [--preset NAME] [--limit N] [--json FILE]

Every bundled pack document is rendered from its structure model
(``corpus.structure.parse_structure``, docs/STRUCTURE.md) — headings, paragraphs, nested
lists, tables with a header row, flowcharts — to HTML printed to PDF by headless Chromium
and to a Word file written with python-docx, the way a hospital's protocols reach Bedside.
The PDF and Word readers (``corpus.loaders.pdf``, ``corpus.loaders.docx``) read the files
back, and the structure of what they return is compared with the Markdown's:

- structure: headings (title and level), list items (text and depth) and table cells
  (header and body) recovered, as a share per kind and per format, with every miss listed;
- answers: the gold set (``evals.answer_quality``) and the cross-domain test half
  (``evals.crossdomain``) run on three indexes built with the configured embedder and
  settings — the Markdown pack, the pack read back from PDF, and from Word (same ids,
  titles and metadata; open-medicine unchanged in all three) — side by side.

Figures are benchmark figures, not test assertions; docs/CORPUS.md keeps the last ones.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpus.loaders.converted import Converted
from corpus.structure import (
    Flowchart,
    Heading,
    ListBlock,
    ListItem,
    Paragraph,
    Table,
    TableRow,
    clean_pieces,
    parse_structure,
)

if TYPE_CHECKING:
    from corpus.types import Document

REPO = Path(__file__).resolve().parents[1]
FORMATS: tuple[str, ...] = ("pdf", "docx")
KINDS: tuple[str, ...] = ("headings", "list_items", "table_cells")
TARGET_SHARE = 0.98  # recovered share per kind and format
TARGET_DELTA = 0.02  # an answer metric within this of the Markdown index's
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]
Log = Callable[[str], None]

# ------------------------------------------------------------------ inline text

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Text as the comparison reads it: runs of whitespace as one space, ends stripped."""
    return _SPACE.sub(" ", text).strip()


def runs(text: str, spans: Iterable[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The visible text of one element's lines as (text, bold) runs: the structure model's
    inline marks (docs/STRUCTURE.md) are left out, a ``**`` mark turns bold on or off, and
    the element's lines are joined by a space."""
    out: list[tuple[str, bool]] = []
    for start, end in spans:
        bold = False  # emphasis does not run across lines
        pos = start
        for n, (s, e) in enumerate(clean_pieces(text, start, end)):
            gap = text[pos:s]
            if "**" in gap or "__" in gap:
                bold = not bold
            piece = (" " if out and n == 0 else "") + text[s:e]
            if out and out[-1][1] == bold:
                out[-1] = (out[-1][0] + piece, bold)
            else:
                out.append((piece, bold))
            pos = e
    return out


def plain(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The visible text of some lines, normalised (what a reader should give back)."""
    return normalise("".join(t for t, _ in runs(text, spans)))


def plain(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """The visible text of one element, normalised: what a reader should give back."""
    return normalise("".join(t for t, _ in runs(text, spans)))


def _ordered(text: str, item: ListItem) -> bool:
    return item.marker is not None and text[item.marker[0]].isdigit()


def _fenced_lines(text: str, chart: Flowchart) -> list[str]:
    """A flowchart's lines between its fences, indentation kept."""
    lines = text[chart.span[0] : chart.span[1]].splitlines()
    if lines and re.match(r"\s*(`{3,}|~{3,})", lines[0]):
        lines = lines[1:]
    if lines and re.fullmatch(r"\s*(`{3,}|~{3,})\s*", lines[-1]):
        lines = lines[:-1]
    return lines


# ------------------------------------------------------------------ the outline compared


Element = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Outline:
    """What the comparison reads of a document: every heading ``(level, title)``, list item
    ``(depth, text)`` and non-empty table cell ``(header|body, text)``, in document order."""

    headings: tuple[Element, ...]
    list_items: tuple[Element, ...]
    table_cells: tuple[Element, ...]

    def of_kind(self, kind: str) -> tuple[Element, ...]:
        value: tuple[Element, ...] = getattr(self, kind)
        return value


def outline(text: str) -> Outline:
    """The outline of a Markdown text in the structure model (docs/STRUCTURE.md)."""
    headings: list[Element] = []
    items: list[Element] = []
    cells: list[Element] = []
    for block in parse_structure(text).blocks:
        if isinstance(block, Heading):
            headings.append((str(block.level), plain(text, [block.title_span])))
        elif isinstance(block, ListBlock):
            for item, _parents in block.walk():
                words = plain(text, item.lines)
                if words:
                    items.append((str(item.depth), words))
        elif isinstance(block, Table):
            rows: list[tuple[str, TableRow]] = [("body", r) for r in block.rows]
            if block.header is not None:
                rows.insert(0, ("header", block.header))
            for role, row in rows:
                for cell in row.cells:
                    words = plain(text, [cell])
                    if words:
                        cells.append((role, words))
    return Outline(tuple(headings), tuple(items), tuple(cells))


@dataclass(frozen=True, slots=True)
class KindResult:
    """One kind of element of one document in one format."""

    expected: int
    recovered: int
    missed: tuple[Element, ...]  # in the Markdown, not in what the reader gave back
    extra: tuple[Element, ...]  # given back by the reader, not in the Markdown


def _in_order(elements: Iterable[Element], counts: Counter[Element]) -> tuple[Element, ...]:
    """The elements counted in ``counts``, in the order they appear in ``elements``."""
    left = Counter(counts)
    out = []
    for e in elements:
        if left[e] > 0:
            out.append(e)
            left[e] -= 1
    return tuple(out)


def compare(expected: Outline, got: Outline) -> dict[str, KindResult]:
    """Per kind, how many of the expected elements the reader gave back (as multisets:
    an element written twice must come back twice), and what it missed or added."""
    out: dict[str, KindResult] = {}
    for kind in KINDS:
        want, have = Counter(expected.of_kind(kind)), Counter(got.of_kind(kind))
        missed = want - have
        out[kind] = KindResult(
            expected=sum(want.values()),
            recovered=sum((want & have).values()),
            missed=_in_order(expected.of_kind(kind), want - have),
            extra=_in_order(got.of_kind(kind), have - want),
        )
    return out


# ------------------------------------------------------------------ rendering

CSS = """
@page { size: A4; margin: 20mm 18mm; }
body { font-family: "DejaVu Sans", "Liberation Sans", sans-serif; font-size: 10.5pt;
       line-height: 1.35; color: #000; }
h1 { font-size: 20pt; margin: 0 0 10pt; }
h2 { font-size: 16pt; margin: 14pt 0 6pt; }
h3 { font-size: 13.5pt; margin: 12pt 0 5pt; }
h4 { font-size: 12pt; margin: 10pt 0 4pt; }
h5 { font-size: 11.5pt; margin: 8pt 0 4pt; }
h6 { font-size: 11pt; font-style: italic; margin: 8pt 0 4pt; }
p { margin: 0 0 6pt; }
ul, ol { margin: 0 0 6pt; padding-left: 18pt; }
li { margin: 0 0 2pt; }
table { border-collapse: collapse; margin: 4pt 0 8pt; }
th, td { border: 0.6pt solid #444; padding: 3pt 5pt; text-align: left; vertical-align: top; }
th { font-weight: bold; }
pre { font-family: "DejaVu Sans Mono", "Liberation Mono", monospace; font-size: 9pt;
      margin: 4pt 0 8pt; }
"""


def _html_runs(text: str, spans: Iterable[tuple[int, int]]) -> str:
    return "".join(
        f"<strong>{html.escape(t)}</strong>" if bold else html.escape(t)
        for t, bold in runs(text, spans)
    )


def _html_list(text: str, items: Sequence[ListItem], indent: str) -> list[str]:
    tag = "ol" if _ordered(text, items[0]) else "ul"
    out = [f"{indent}<{tag}>"]
    for item in items:
        words = _html_runs(text, item.lines)
        if item.children:
            out.append(f"{indent}  <li>{words}")
            out += _html_list(text, item.children, indent + "    ")
            out.append(f"{indent}  </li>")
        else:
            out.append(f"{indent}  <li>{words}</li>")
    out.append(f"{indent}</{tag}>")
    return out


def _html_table(text: str, table: Table) -> list[str]:
    out = ["<table>"]
    if table.header is not None:
        cells = "".join(f"<th>{_html_runs(text, [c])}</th>" for c in table.header.cells)
        out.append(f"  <thead><tr>{cells}</tr></thead>")
    out.append("  <tbody>")
    for row in table.rows:
        cells = "".join(f"<td>{_html_runs(text, [c])}</td>" for c in row.cells)
        out.append(f"    <tr>{cells}</tr>")
    out += ["  </tbody>", "</table>"]
    return out


def render_html(text: str, title: str) -> str:
    """A document as a plain HTML page, written from its structure model: ``h1``-``h6``,
    ``p``, nested ``ul``/``ol``, ``table`` with a ``th`` header row, ``pre`` for a
    flowchart."""
    body: list[str] = []
    for block in parse_structure(text).blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_html_runs(text, [block.title_span])}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_html_runs(text, [block.content])}</p>")
        elif isinstance(block, ListBlock):
            body += _html_list(text, block.items, "")
        elif isinstance(block, Table):
            body += _html_table(text, block)
        elif isinstance(block, Flowchart):
            body.append("<pre>" + html.escape("\n".join(_fenced_lines(text, block))) + "</pre>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            f"<title>{html.escape(title)}</title>",
            f"<style>{CSS}</style>",
            "</head>",
            "<body>",
            *body,
            "</body>",
            "</html>",
            "",
        ]
    )


def print_pdfs(pages: Sequence[tuple[str, Path]], chromium: Path = CHROMIUM) -> None:
    """Print each ``(html, path)`` to an A4 PDF with headless Chromium, one browser for all."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page()
            for markup, path in pages:
                page.set_content(markup, wait_until="load")
                page.pdf(path=str(path), format="A4", prefer_css_page_size=True)
        finally:
            browser.close()


def _list_style(ordered: bool, depth: int) -> str:
    # python-docx's default template has List Bullet/Number, 2 and 3: deeper items use 3
    base = "List Number" if ordered else "List Bullet"
    return base if depth == 0 else f"{base} {min(depth + 1, 3)}"


def _docx_runs(paragraph: Any, text: str, spans: Iterable[tuple[int, int]], bold: bool = False) -> None:
    for words, strong in runs(text, spans):
        paragraph.add_run(words).bold = strong or bold or None


def _docx_table(document: Any, text: str, table: Table) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    rows = ([table.header] if table.header is not None else []) + list(table.rows)
    width = max((len(r.cells) for r in rows), default=0)
    if not rows or not width:
        return
    grid = document.add_table(rows=len(rows), cols=width)
    grid.style = "Table Grid"
    for r, row in enumerate(rows):
        is_header = table.header is not None and r == 0
        for c, cell in enumerate(row.cells):
            _docx_runs(grid.cell(r, c).paragraphs[0], text, [cell], bold=is_header)
    if table.header is not None:
        # the header row repeats on each page, as Word marks a table's header row
        props = grid.rows[0]._tr.get_or_add_trPr()
        props.append(OxmlElement("w:tblHeader"))
        props[-1].set(qn("w:val"), "true")


def render_docx(text: str, title: str, path: Path) -> None:
    """A document as a Word file, written from its structure model with python-docx:
    ``Heading N`` styles, ``List Bullet``/``List Number`` (``2``, ``3`` for depth) styles,
    tables with a header row, a flowchart as monospaced lines."""
    import docx
    from docx.shared import Pt

    document = docx.Document()
    document.core_properties.title = title
    for block in parse_structure(text).blocks:
        if isinstance(block, Heading):
            _docx_runs(
                document.add_paragraph(style=f"Heading {block.level}"), text, [block.title_span]
            )
        elif isinstance(block, Paragraph):
            _docx_runs(document.add_paragraph(), text, [block.content])
        elif isinstance(block, ListBlock):
            for item, parents in block.walk():
                ordered = _ordered(text, item)
                style = _list_style(ordered, item.depth)
                _docx_runs(document.add_paragraph(style=style), text, item.lines)
        elif isinstance(block, Table):
            _docx_table(document, text, block)
        elif isinstance(block, Flowchart):
            for line in _fenced_lines(text, block):
                run = document.add_paragraph(style="No Spacing").add_run(line)
                run.font.name = "Courier New"
                run.font.size = Pt(9)
    document.save(str(path))
