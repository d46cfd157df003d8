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
import re
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher, get_close_matches
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


def _docx_runs(
    paragraph: Any, text: str, spans: Iterable[tuple[int, int]], bold: bool = False
) -> None:
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
            for item, _parents in block.walk():
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


# ------------------------------------------------------------------ reading back


def reader(fmt: str) -> Callable[[Path], Converted] | None:
    """The reader of a format, or None while it is not part of this checkout."""
    try:
        if fmt == "pdf":
            from corpus.loaders.pdf import read_pdf

            return read_pdf
        if fmt == "docx":
            from corpus.loaders.docx import read_docx

            return read_docx
    except ImportError:
        return None
    raise ValueError(f"unknown format {fmt!r}; valid formats: {', '.join(FORMATS)}")


@dataclass(slots=True)
class FormatRun:
    """One format's round trip over the documents: the text read back and the comparison."""

    fmt: str
    available: bool = True
    read: dict[str, Converted] = field(default_factory=dict)
    results: dict[str, dict[str, KindResult]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # doc id -> why it was not read
    titles: int = 0  # documents whose title the reader gave back

    def totals(self) -> dict[str, tuple[int, int]]:
        """Per kind: (recovered, expected) over every document."""
        return {
            k: (
                sum(r[k].recovered for r in self.results.values()),
                sum(r[k].expected for r in self.results.values()),
            )
            for k in KINDS
        }


def render_all(documents: Sequence[Document], out: Path, formats: Sequence[str]) -> None:
    """Write each document as ``html/ID.html``, ``pdf/ID.pdf`` and ``docx/ID.docx``."""
    for sub in ("html", *formats):
        (out / sub).mkdir(parents=True, exist_ok=True)
    pages = []
    for doc in documents:
        markup = render_html(doc.text, doc.title)
        (out / "html" / f"{doc.id}.html").write_text(markup, encoding="utf-8")
        pages.append((markup, out / "pdf" / f"{doc.id}.pdf"))
        if "docx" in formats:
            render_docx(doc.text, doc.title, out / "docx" / f"{doc.id}.docx")
    if "pdf" in formats:
        print_pdfs(pages)


def read_back(documents: Sequence[Document], out: Path, fmt: str) -> FormatRun:
    """Read every rendered file of one format, keep its Markdown (``FMT-md/ID.md``) and
    compare its outline with the document's."""
    run = FormatRun(fmt)
    read = reader(fmt)
    if read is None:
        run.available = False
        return run
    (out / f"{fmt}-md").mkdir(parents=True, exist_ok=True)
    for doc in documents:
        try:
            converted = read(out / fmt / f"{doc.id}.{fmt}")
        except Exception as exc:  # a reader that fails on a file is a finding, not a crash
            run.failures[doc.id] = f"{type(exc).__name__}: {exc}"
            # a file not read gave nothing back: all its elements count as missed
            run.results[doc.id] = compare(outline(doc.text), Outline((), (), ()))
            continue
        (out / f"{fmt}-md" / f"{doc.id}.md").write_text(converted.text + "\n", encoding="utf-8")
        run.read[doc.id] = converted
        run.results[doc.id] = compare(outline(doc.text), outline(converted.text))
        run.titles += normalise(converted.title or "") == normalise(doc.title)
    return run


def pack_documents(limit: int | None = None) -> list[Document]:
    from corpus.loaders.pack import load_bundled_packs

    loaded = load_bundled_packs()
    for problem in loaded.problems:
        print(f"skipped {problem}", file=sys.stderr)
    return loaded.documents[:limit] if limit else loaded.documents


# ------------------------------------------------------------------ answers

GOLD_SET = REPO / "evals" / "sets" / "anticoagulation.jsonl"
GOLD_METRICS: tuple[str, ...] = (
    "must_have_coverage",
    "citation_exactness",
    "number_grounding_answers",
    "abstention_precision",
    "abstention_recall",
    "follow_up_top5",
)
CROSSDOMAIN_METRICS: tuple[str, ...] = ("right_share", "unjustified_abstention_share", "unsafe")


def build_indexes(
    pack: Sequence[Document],
    runs_by_format: dict[str, FormatRun],
    out: Path,
    settings: Any,
    log: Log,
) -> dict[str, Path]:
    """The Markdown index and one per read-back format, built with the configured embedder
    and settings. A format's pack documents keep their ids, titles and metadata and take
    the text its reader gave back; open-medicine is the same in all. An index is rebuilt
    over its previous build in ``out``, or else starts from a copy of the Markdown one (and
    that from the configured index), so unchanged chunks keep their vectors."""
    from corpus.loaders.open_medicine import load_open_medicine
    from retrieval.embedders import get_embedder
    from retrieval.store import build_index

    embedder = get_embedder(
        settings.retrieval.embedder,
        settings.models_dir,
        log,
        precision=settings.retrieval.precision,
    )
    others = load_open_medicine().documents
    dirs: dict[str, Path] = {}
    corpora: dict[str, list[Document]] = {"markdown": [*pack, *others]}
    for fmt, run in runs_by_format.items():
        if run.available:
            texts = run.read
            corpora[fmt] = [replace(d, text=texts[d.id].text) for d in pack if d.id in texts]
            corpora[fmt] += others
    for name, documents in corpora.items():
        where = out / "index" / name
        seed = dirs.get("markdown", settings.resolved_index_dir)
        if not (where / "manifest.json").is_file() and (seed / "manifest.json").is_file():
            # vectors are reused only for the very same text and embedder (retrieval/store.py)
            shutil.rmtree(where, ignore_errors=True)
            shutil.copytree(seed, where)
        t0 = time.perf_counter()
        label = "pack" if name == "markdown" else f"pack (read back from {name.upper()})"
        manifest = build_index(
            documents,
            where,
            embedder=embedder,
            chunking=settings.corpus.chunking,
            retrieval=settings.retrieval,
            sources=[label, "open-medicine"],
        )
        log(
            f"index {name}: {manifest.counts.documents} documents, {manifest.counts.chunks} "
            f"chunks ({manifest.embedded} embedded) in {time.perf_counter() - t0:.0f} s"
        )
        dirs[name] = where
    return dirs


def run_answers(index_dir: Path, preset: str | None, log: Log) -> dict[str, Any]:
    """The gold set and the cross-domain test half on one index, served as built."""
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from evals import answer_quality, crossdomain

    settings = load_settings(preset, index_dir=index_dir)
    assistant = Assistant.from_settings(settings, log=log, refresh=False)
    gold = answer_quality.evaluate(GOLD_SET, assistant)
    cases = crossdomain.load_cases(crossdomain.SET_DIR / "test.jsonl")
    rows = crossdomain.run_half(assistant, cases)
    overall = crossdomain.summarise(rows)["overall"]
    return {
        "index_digest": assistant.retriever.index.manifest.digest(),
        "settings_digest": settings.digest(),
        "gold": {k: gold[k] for k in (*GOLD_METRICS, "questions")},
        "gold_rows": gold["rows"],
        "crossdomain": {k: overall[k] for k in (*CROSSDOMAIN_METRICS, "cases", "right")},
        "crossdomain_rows": [{"id": r["id"], "right": r["right"], "why": r["why"]} for r in rows],
    }


# ------------------------------------------------------------------ report

KIND_NAMES = {
    "headings": "Headings (title + level)",
    "list_items": "List items (text + depth)",
    "table_cells": "Table cells (header + body)",
}
FORMAT_NAMES = {"pdf": "PDF", "docx": "Word", "markdown": "Markdown"}
METRIC_NAMES = {
    "must_have_coverage": "gold: must-have coverage",
    "citation_exactness": "gold: citation exactness",
    "number_grounding_answers": "gold: answers with every number grounded",
    "abstention_precision": "gold: abstention precision",
    "abstention_recall": "gold: abstention recall",
    "follow_up_top5": "gold: follow-up retrieval top-5",
    "right_share": "cross-domain test: right",
    "unjustified_abstention_share": "cross-domain test: unjustified abstentions",
    "unsafe": "cross-domain test: unsafe bottom lines (count)",
}
MAX_EXAMPLES = 12


def _share(recovered: int, expected: int) -> float | None:
    return recovered / expected if expected else None


def _cell(recovered: int, expected: int) -> str:
    share = _share(recovered, expected)
    if share is None:
        return "– (none written)"
    mark = "" if share >= TARGET_SHARE else " **below target**"
    return f"{recovered}/{expected} ({100 * share:.1f}%){mark}"


def _element(kind: str, element: Element) -> str:
    what = {"headings": "level", "list_items": "depth", "table_cells": ""}[kind]
    head = f"{what} {element[0]}" if what else element[0]
    words = element[1].replace("|", "\\|")
    return f"{head}: {words[:110]}{'…' if len(words) > 110 else ''}"


def _first_difference(want: str, got: str, context: int = 30) -> str:
    """Where two texts first differ, shown with a little context from each."""
    ops = SequenceMatcher(None, want, got, autojunk=False).get_opcodes()
    _tag, i1, i2, j1, j2 = next(op for op in ops if op[0] != "equal")
    left = max(0, min(i1, j1) - context)

    def cut(text: str, end: int) -> str:
        part = text[left : end + context].replace("|", "\\|")
        return ("…" if left else "") + part + ("…" if end + context < len(text) else "")

    return f"wrote “{cut(want, i2)}”, read “{cut(got, j2)}”"


def explain(kind: str, result: KindResult) -> list[str]:
    """Each miss in words: paired with the element the reader gave instead when one is
    close (the same words at another level or depth, or nearly the same words), else
    alone; the elements added that pair with no miss follow."""
    lines: list[str] = []
    extra = list(result.extra)
    for element in result.missed:
        same = next((e for e in extra if e[1] == element[1]), None)
        if same is not None:
            extra.remove(same)
            where = {"headings": "level", "list_items": "depth", "table_cells": "a"}[kind]
            lines.append(f"{_element(kind, element)} — read as {where} {same[0]}")
            continue
        texts = [e[1] for e in extra if e[0] == element[0]]
        close = get_close_matches(element[1], texts, n=1, cutoff=0.6)
        if close:
            extra.remove(next(e for e in extra if e[0] == element[0] and e[1] == close[0]))
            lines.append(
                f"{_element(kind, element)[:40]}…: {_first_difference(element[1], close[0])}"
            )
        else:
            lines.append(f"missed {_element(kind, element)}")
    lines += [f"added {_element(kind, e)}" for e in extra]
    return lines


def structure_section(
    runs_by_format: dict[str, FormatRun], documents: int, level: int
) -> list[str]:
    h = "#" * level
    fmts = list(runs_by_format)
    lines = [
        f"{h} Structure recovered",
        "",
        f"{documents} pack documents; each share is the elements the reader gave back with the "
        f"same text (whitespace normalised) and the same level, depth or role, over those the "
        f"Markdown has; target ≥ {100 * TARGET_SHARE:.0f}% each.",
        "",
        "| Kind | " + " | ".join(FORMAT_NAMES[f] for f in fmts) + " |",
        "|---|" + "---|" * len(fmts),
    ]
    for kind in KINDS:
        cells = []
        for f in fmts:
            run = runs_by_format[f]
            cells.append(_cell(*run.totals()[kind]) if run.available else "reader not present")
        lines.append(f"| {KIND_NAMES[kind]} | " + " | ".join(cells) + " |")
    extra = [
        f"{sum(len(r[k].extra) for r in run.results.values() for k in KINDS)}"
        if run.available
        else "–"
        for run in runs_by_format.values()
    ]
    lines.append("| Elements added (not in the Markdown) | " + " | ".join(extra) + " |")
    titles = [
        f"{run.titles}/{documents}" if run.available else "–" for run in runs_by_format.values()
    ]
    lines.append("| Document title from the file | " + " | ".join(titles) + " |")
    failed = [str(len(run.failures)) if run.available else "–" for run in runs_by_format.values()]
    lines.append("| Files the reader could not read | " + " | ".join(failed) + " |")
    for f, run in runs_by_format.items():
        if not run.available:
            continue
        notes: list[str] = []
        for doc_id, why in run.failures.items():
            notes.append(f"- `{doc_id}` not read: {why}")
        for kind in KINDS:
            found = [
                (d, line)
                for d, r in run.results.items()
                if d not in run.failures
                for line in explain(kind, r[kind])
            ]
            if not found:
                continue
            missed = sum(len(r[kind].missed) for r in run.results.values())
            added = sum(len(r[kind].extra) for r in run.results.values())
            notes.append(
                f"- {KIND_NAMES[kind].split(' (')[0].lower()}: {missed} missed, {added} added"
            )
            notes += [f"  - `{d}` — {line}" for d, line in found[:MAX_EXAMPLES]]
            if len(found) > MAX_EXAMPLES:
                notes.append(f"  - … and {len(found) - MAX_EXAMPLES} more")
        lines += ["", f"{h}# {FORMAT_NAMES[f]}: what differs", ""]
        lines += notes or ["Nothing: every heading, list item and table cell came back."]
    return lines


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def answers_section(answers: dict[str, dict[str, Any]], level: int) -> list[str]:
    h = "#" * level
    names = list(answers)
    others = [n for n in names if n != "markdown"]
    head = "| Metric | Markdown | " + " | ".join(f"{FORMAT_NAMES[n]} | Δ" for n in others) + " |"
    lines = [
        f"{h} Answers on each index",
        "",
        f"The gold set ({answers['markdown']['gold']['questions']} questions, "
        f"`evals.answer_quality`) and the cross-domain test half "
        f"({answers['markdown']['crossdomain']['cases']} cases, `evals.crossdomain`) on the "
        f"Markdown index and on the indexes whose pack documents were read back from the "
        f"files; target: each share within {TARGET_DELTA} of Markdown's, no more unsafe "
        f"bottom lines.",
        "",
        head,
        "|---|---|" + "---|---|" * len(others),
    ]
    for metric in (*GOLD_METRICS, *CROSSDOMAIN_METRICS):
        group = "gold" if metric in GOLD_METRICS else "crossdomain"
        base = answers["markdown"][group][metric]
        cells = [_fmt(base)]
        for n in others:
            value = answers[n][group][metric]
            cells.append(_fmt(value))
            if value is None or base is None:
                cells.append("–")
                continue
            delta = value - base
            worse = delta > 0 if metric == "unsafe" else abs(delta) > TARGET_DELTA
            sign = f"{delta:+d}" if isinstance(delta, int) else f"{delta:+.3f}"
            cells.append(sign + (" **off target**" if worse else ""))
        lines.append(f"| {METRIC_NAMES[metric]} | " + " | ".join(cells) + " |")
    for n in others:
        changed = _changed(answers["markdown"], answers[n])
        if changed:
            lines += ["", f"Outcomes that differ on the {FORMAT_NAMES[n]} index:", ""]
            lines += [f"- {c}" for c in changed[:MAX_EXAMPLES]]
            if len(changed) > MAX_EXAMPLES:
                lines.append(f"- … and {len(changed) - MAX_EXAMPLES} more")
    return lines


def _changed(base: dict[str, Any], other: dict[str, Any]) -> list[str]:
    out = []
    was = {r["id"]: r for r in base["crossdomain_rows"]}
    for row in other["crossdomain_rows"]:
        before = was.get(row["id"])
        if before and before["right"] != row["right"]:
            now = "right" if row["right"] else f"wrong ({row['why']})"
            out.append(f"cross-domain `{row['id']}`: {now}")
    gold = {r["id"]: r for r in base["gold_rows"]}
    for row in other["gold_rows"]:
        before = gold.get(row["id"])
        if before and (before["must_have"], before["abstained"]) != (
            row["must_have"],
            row["abstained"],
        ):
            out.append(
                f"gold `{row['id']}`: must-have {_fmt(before['must_have'])} → "
                f"{_fmt(row['must_have'])}, abstained {before['abstained']} → {row['abstained']}"
            )
    return out


_LOCAL = {"--out": "DIR", "--json": "FILE", "--markdown": "FILE"}  # local paths, not shown


def command_line(argv: Sequence[str]) -> str:
    """The command as run, with its local output paths written as DIR or FILE."""
    words: list[str] = []
    for n, arg in enumerate(argv):
        flag, eq, _value = arg.partition("=")
        if eq and flag in _LOCAL:
            words.append(f"{flag}={_LOCAL[flag]}")
        elif n and argv[n - 1] in _LOCAL:
            words.append(_LOCAL[argv[n - 1]])
        else:
            words.append(arg)
    return " ".join(["python -m evals.roundtrip", *words])


def report(
    runs_by_format: dict[str, FormatRun],
    documents: int,
    answers: dict[str, dict[str, Any]] | None,
    commands: Sequence[str],
    level: int = 1,
) -> str:
    """The round trip as Markdown: the commands, the structure table with its misses, and
    the answer metrics side by side when they were run."""
    h = "#" * level
    lines = [
        f"{h} Round trip" if level > 1 else "# Round trip of the pack through PDF and Word",
        "",
        "Every bundled pack document is written from its structure model to HTML printed to "
        "PDF by headless Chromium (A4) and to a Word file (python-docx: Heading N, List "
        "Bullet/Number styles by depth, tables with a header row), then read back by the "
        "PDF and Word readers (`evals/roundtrip.py`). Measured with:",
        "",
        "```",
        *commands,
        "```",
        "",
        *structure_section(runs_by_format, documents, level + 1),
    ]
    if answers:
        lines += ["", *answers_section(answers, level + 1)]
    return "\n".join(lines) + "\n"


def update_section(path: Path, title: str, body: str) -> None:
    """Replace the ``## title`` section of a Markdown file with ``body`` (which starts with
    that heading), or append it; the file's other sections are kept as they are."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Corpus\n"
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == f"## {title}"), None)
    if start is None:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if re.match(r"##? ", lines[i])), len(lines)
        )
        rest = "\n".join(lines[end:])
        text = "\n".join(lines[:start]) + "\n" + body + ("\n" + rest + "\n" if rest else "")
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


# ------------------------------------------------------------------ command


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evals.roundtrip", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the files (default: BEDSIDE_HOME/roundtrip)",
    )
    parser.add_argument(
        "--only", choices=("structure",), default=None, help="skip the answers (index builds)"
    )
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents")
    parser.add_argument("--preset", default=None, help="a settings preset")
    parser.add_argument("--markdown", type=Path, default=None, help="write the report here")
    parser.add_argument("--json", type=Path, default=None, help="write the figures as JSON")
    parser.add_argument(
        "--docs",
        type=Path,
        default=None,
        help="write the figures into this file's 'Round trip' section (docs/CORPUS.md)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    from assistant.settings import load_settings

    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    settings = load_settings(args.preset)
    out = (args.out or settings.home / "roundtrip").expanduser().resolve()
    if "pdf" in args.formats and not CHROMIUM.exists():
        _stderr(f"printing to PDF needs Debian Chromium at {CHROMIUM}: apt-get install chromium")
        return 2
    documents = pack_documents(args.limit)
    t0 = time.perf_counter()
    render_all(documents, out, args.formats)
    _stderr(f"rendered {len(documents)} documents into {out} in {time.perf_counter() - t0:.0f} s")
    runs_by_format = {fmt: read_back(documents, out, fmt) for fmt in args.formats}
    for fmt, run in runs_by_format.items():
        if not run.available:
            _stderr(f"{fmt}: the reader (corpus.loaders.{fmt}) is not in this checkout")
            continue
        shares = ", ".join(f"{kind} {got}/{want}" for kind, (got, want) in run.totals().items())
        _stderr(f"{fmt}: {shares}; {len(run.failures)} file(s) not read")
    answers: dict[str, dict[str, Any]] | None = None
    if args.only != "structure":
        dirs = build_indexes(documents, runs_by_format, out, settings, _stderr)
        answers = {}
        for name, where in dirs.items():
            t1 = time.perf_counter()
            answers[name] = run_answers(where, args.preset, _stderr)
            _stderr(f"answers on the {name} index in {time.perf_counter() - t1:.0f} s")
    commands = [command_line(argv)]
    text = report(runs_by_format, len(documents), answers, commands)
    print(text)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(text, encoding="utf-8")
    if args.docs:
        update_section(
            args.docs, "Round trip", report(runs_by_format, len(documents), answers, commands, 2)
        )
    if args.json:
        figures = {
            "documents": len(documents),
            "structure": {
                fmt: {
                    "available": run.available,
                    "totals": run.totals(),
                    "failures": run.failures,
                    "missed": {d: {k: r[k].missed for k in KINDS} for d, r in run.results.items()},
                }
                for fmt, run in runs_by_format.items()
            },
            "answers": answers,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
