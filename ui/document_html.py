"""A document's text as HTML, read through the project's structure model (pure: text in,
HTML out).

``structure_html(text, marker)`` renders what ``corpus.structure.parse_structure`` reads
in ``text``: headings, paragraphs (lines written one under the other stay one paragraph),
nested lists, tables with their header cells, and flowcharts as preformatted text. It
is not a Markdown renderer: only the structure's own elements are built, every piece of
text is escaped, and of the inline marks only strong (``**``/``__``), emphasis (``*``)
and code (backticks) become tags; the rest (table pipes, list markers, an escaped pipe's
backslash) are layout and are not shown.

The cited passage is a span of ``text``; each element it covers has its covered text in a
``<mark>`` (a passage across table cells or list items is marked cell by cell, item by
item), and the first mark carries the page's anchor.
"""

from __future__ import annotations

import html
import re

from corpus.structure import (
    Block,
    Flowchart,
    Heading,
    ListBlock,
    ListItem,
    Paragraph,
    Span,
    Table,
    TableRow,
    clean_pieces,
    parse_structure,
)

# The inline marks between the pieces ``clean_pieces`` keeps, and the tag each toggles.
_INLINE_MARK = re.compile(r"\*{2,}|_{2,}|`+|\*")
_FENCE_LINE = re.compile(r"[ \t]*(?:`{3,}|~{3,})[ \t]*")


class Marker:
    """The cited span of one text, marked wherever it is rendered; the first mark carries
    ``anchor`` (the page's ``#cited``)."""

    def __init__(self, start: int, end: int, anchor: str) -> None:
        self.start, self.end, self.anchor = start, end, anchor
        self.marks = 0

    def covers(self, start: int, end: int) -> bool:
        return start < self.end and self.start < end and start < end

    def text(self, text: str, start: int, end: int) -> str:
        """``text[start:end]`` escaped, the part the passage covers in a mark."""
        if not self.covers(start, end):
            return html.escape(text[start:end])
        a, b = max(start, self.start), min(end, self.end)
        anchor = f' id="{self.anchor}"' if self.marks == 0 else ""
        self.marks += 1
        return (
            html.escape(text[start:a])
            + f"<mark{anchor}>{html.escape(text[a:b])}</mark>"
            + html.escape(text[b:end])
        )


def _plain(text: str, start: int, end: int) -> str:
    return html.escape(text[start:end])


class _Renderer:
    def __init__(self, text: str, marker: Marker | None) -> None:
        self.text = text
        self.marker = marker

    def piece(self, start: int, end: int) -> str:
        if self.marker is None:
            return _plain(self.text, start, end)
        return self.marker.text(self.text, start, end)

    def covered(self, span: Span) -> bool:
        return self.marker is not None and self.marker.covers(*span)

    def inline(self, span: Span) -> str:
        """One element's text: its pieces escaped (and marked), its inline marks as tags."""
        text = self.text
        out: list[str] = []
        open_tags: list[str] = []

        def toggle(gap: str) -> None:
            for m in _INLINE_MARK.finditer(gap):
                mark = m.group()
                tag = "code" if mark[0] == "`" else "strong" if len(mark) > 1 else "em"
                if tag in open_tags:
                    while open_tags:  # close it (and anything opened inside it)
                        closed = open_tags.pop()
                        out.append(f"</{closed}>")
                        if closed == tag:
                            break
                else:
                    open_tags.append(tag)
                    out.append(f"<{tag}>")

        pos = span[0]
        for start, end in clean_pieces(text, *span):
            toggle(text[pos:start])
            out.append(self.piece(start, end))
            pos = end
        out.extend(f"</{tag}>" for tag in reversed(open_tags))
        return "".join(out)

    # -- blocks
    def blocks(self, blocks: list[Block]) -> str:
        out: list[str] = []
        lines: list[Paragraph] = []

        def flush() -> None:
            if lines:
                out.append("<p>" + "<br>".join(self.inline(p.content) for p in lines) + "</p>")
                lines.clear()

        for block in blocks:
            if isinstance(block, Paragraph):
                # a line right under the one before (no blank line) goes on the same paragraph
                if lines and self.text.count("\n", lines[-1].span[1], block.span[0]) > 1:
                    flush()
                lines.append(block)
                continue
            flush()
            if isinstance(block, Heading):
                out.append(f"<h4>{self.inline(block.title_span)}</h4>")
            elif isinstance(block, ListBlock):
                out.append(self.list_items(block.items))
            elif isinstance(block, Table):
                out.append(self.table(block))
            elif isinstance(block, Flowchart):
                out.append(self.flowchart(block))
        flush()
        return "".join(out)

    def list_items(self, items: tuple[ListItem, ...]) -> str:
        """Items as lists: a run of numbered items is an ``ol`` (each keeps its number), a
        run of bulleted ones a ``ul`` (the structure keeps both in one block when only a
        blank line parts them)."""
        out: list[str] = []
        run: list[str] = []
        run_ordered = False
        for item in items:
            number = self.number(item)
            ordered = number is not None
            if run and ordered != run_ordered:
                out.append(self.wrap(run, run_ordered))
                run = []
            run_ordered = ordered
            value = f' value="{number}"' if number is not None else ""
            body = " ".join(self.inline(line) for line in item.lines)
            nested = self.list_items(item.children) if item.children else ""
            run.append(f"<li{value}>{body}{nested}</li>")
        if run:
            out.append(self.wrap(run, run_ordered))
        return "".join(out)

    def number(self, item: ListItem) -> int | None:
        if item.marker is None:
            return None
        digits = self.text[item.marker[0] : item.marker[1]].rstrip(".)")
        return int(digits) if digits.isdigit() else None

    @staticmethod
    def wrap(items: list[str], ordered: bool) -> str:
        tag = "ol" if ordered else "ul"
        return f"<{tag}>{''.join(items)}</{tag}>"

    def row(self, row: TableRow, cell: str) -> str:
        cited = any(self.covered(c) for c in row.cells)
        attrs = ' class="cited"' if cited else ""
        scope = ' scope="col"' if cell == "th" else ""
        cells = "".join(f"<{cell}{scope}>{self.inline(c)}</{cell}>" for c in row.cells)
        return f"<tr{attrs}>{cells}</tr>"

    def table(self, table: Table) -> str:
        head = f"<thead>{self.row(table.header, 'th')}</thead>" if table.header else ""
        body = "".join(self.row(r, "td") for r in table.rows)
        return f'<table class="doc-table">{head}<tbody>{body}</tbody></table>'

    def flowchart(self, chart: Flowchart) -> str:
        """The chart as drawn (its arrows and connectors are its meaning), fences left out."""
        text = self.text
        start, end = chart.span
        opening = text.find("\n", start, end)
        if opening < 0:
            return ""  # a fence line alone
        start = opening + 1
        closing = text.rfind("\n", start, end)
        if closing >= 0 and _FENCE_LINE.fullmatch(text, closing + 1, end):
            end = closing
        elif closing < 0 and _FENCE_LINE.fullmatch(text, start, end):
            end = start
        return f'<pre class="flowchart">{self.piece(start, end)}</pre>'


def structure_html(text: str, marker: Marker | None = None) -> str:
    """``text`` as HTML by its structure, the ``marker`` span (offsets into ``text``) marked
    in every element it covers."""
    structure = parse_structure(text)
    return _Renderer(text, marker).blocks(list(structure.blocks))
