"""The structure of a document: sections holding headings, paragraphs, lists, tables and
flowcharts, each with exact character spans, and the answer units read from them.

One parse per document text (``parse_structure``, cached) serves chunking, retrieval, the
dose guard and the answer builder, so they all agree on what a list item or a table row is.
Every span is ``(start, end)`` into ``Document.text``: ``text[start:end]`` is exactly the
element's text. The parser reads layout only (Markdown and plain-text line conventions),
never the words of the content:

- a line starting with ``#`` marks is a heading; a heading opens a section whose path is
  the titles of the headings above it;
- a run of lines starting with ``|`` is a table; when its second line is a separator row
  (``|---|``) the first line is the header;
- a fenced block (three backticks or tildes) is a flowchart: each line led by an arrow
  (``→``, ``->``, ``-->``, ``+-->``) or a bullet is a node nested by its indentation, a
  line without one continues the node above it (or, under a node ending in ``?`` or
  ``:``, branches from it), and arrows inside a line chain its steps;
- lines led by ``-``, ``*``, ``+`` or ``1.`` are list items nested by indentation; the
  line ending in ``:`` right before the list is its lead-in, else the section heading;
- in plain text, a line ending in ``:`` followed directly by unmarked lines is the
  lead-in of a list of those lines;
- every other non-blank line is a paragraph (a ``> `` quote marker is not its text).

Units (``units``) are what an answer quotes: a sentence of a paragraph, a list item with
its lead-in and parent items, a table row with its label and column headers, a flowchart
branch with its condition. A unit's quote is built only from the document's own
characters, joined by fixed punctuation, with Markdown marks left out; its parts say
which characters each piece of the quote came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from corpus.text import split_sentences

Span = tuple[int, int]
UnitKind = Literal["sentence", "list_item", "table_row", "flow_branch"]
UNIT_KINDS: tuple[str, ...] = ("sentence", "list_item", "table_row", "flow_branch")

# Joiners placed between quoted pieces: the only characters of a quote not in the document.
CONTEXT_SEP = " — "  # context, then the unit (lead-in — item, label — cells, condition — action)
CELL_SEP = ": "  # a column header and its cell
PAIR_SEP = "; "  # one header/cell pair and the next
STEP_SEP = " → "  # one flowchart step and the next
LINE_SEP = " "  # a line break inside one element

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_LIST_ITEM = re.compile(r"([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+|$)")
_FENCE = re.compile(r"(`{3,}|~{3,})")
_QUOTE_MARK = re.compile(r"(?:>[ \t]?)+")
_SEPARATOR_ROW = re.compile(r"^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$")
# Inline marks that never belong in a quote: strong emphasis, code ticks, single-star
# emphasis (a star between word characters, as in an allele name, is text), pipe escapes.
_MARKUP = re.compile(r"\*{2,}|_{2,}|`+|(?<![\w*])\*(?=[^\s*])|(?<=[^\s*\\])\*(?![\w*])|\\(?=\|)")
_FLOW_LINE = re.compile(
    r"(?P<art>[ \t|]*)"
    r"(?P<marker>(?:\+?-{1,2}>|→)[ \t]*)?"
    r"(?P<bullet>(?:[-*]|\d{1,3}[.)])[ \t]+)?"
)
# what closes a line's sentence (or opens what follows it): after these a line stands alone
_CLOSED = frozenset(".!?:;")
# How a line that runs on into the next one ends: a joining mark, or a word that joins.
_RUNS_ON = re.compile(
    r"(?:[,(/&+=\u2013-]|\b(?:a|an|the|of|to|by|with|for|in|on|at|from|and|or|plus|than|as"
    r"|per|is|are|be|then|if|when|such|including))\Z",
    re.IGNORECASE,
)
# what opens a line as layout: a list or quote marker, a table bar, a heading's hashes
_LINE_MARK = re.compile(r"[ \t]*(?:[-*+\u2022>|#]+|\d{1,3}[.)])(?:[ \t]|$)")


def runs_on(line: str, following: str) -> bool:
    """Whether ``following``, the line after ``line`` (both without marks), goes on with the
    sentence ``line`` left open: after a parenthesis ``line`` opens ("500 mg (two" / "250 mg
    capsules) ..."), after a joining mark or word ("... together with" / "200"), or in lower
    case after a line that stops without closing punctuation ("... on one side and 150" /
    "on the other side."). A line that opens with a list, quote, table or heading mark never
    does. The one rule the structure's paragraphs and the guard's quotes read lines by."""
    line, following = line.rstrip(), following.lstrip()
    if not line or not following or _LINE_MARK.match(following):
        return False
    if line.count("(") > line.count(")") or _RUNS_ON.search(line):
        return True
    return line[-1] not in _CLOSED and following[0].islower()


_ARROW = re.compile(r"[ \t]*(?:-{1,2}>|→)(?:[ \t]+|$)")


# ---------------------------------------------------------------------------- the model


@dataclass(frozen=True, slots=True)
class Heading:
    span: Span
    level: int
    title: str  # the heading's words as written (marks included), as in a section path
    title_span: Span


@dataclass(frozen=True, slots=True)
class Paragraph:
    span: Span  # the whole line, quote marker included
    content: Span  # without a leading "> " quote marker


@dataclass(frozen=True, slots=True)
class ListItem:
    span: Span  # marker through the item's own last line (nested items not included)
    marker: Span | None  # None for an unmarked plain-text line under a "Label:" lead-in
    depth: int  # 0 for a top-level item
    lines: tuple[Span, ...]  # the item's text, one span per line, marker left out
    children: tuple[ListItem, ...] = ()


@dataclass(frozen=True, slots=True)
class ListBlock:
    span: Span
    items: tuple[ListItem, ...]  # top-level items; nested ones are their children
    lead_in: Span | None = None  # the "...:" sentence before the list, or the heading title
    lead_in_is_heading: bool = False

    def walk(self) -> Iterator[tuple[ListItem, tuple[ListItem, ...]]]:
        """Every item in document order with its ancestors (outermost first)."""
        stack: list[tuple[ListItem, tuple[ListItem, ...]]] = [
            (item, ()) for item in reversed(self.items)
        ]
        while stack:
            item, parents = stack.pop()
            yield item, parents
            stack.extend((child, (*parents, item)) for child in reversed(item.children))


@dataclass(frozen=True, slots=True)
class TableRow:
    span: Span
    cells: tuple[Span, ...]  # stripped cell contents; an empty cell is a zero-width span

    @property
    def label(self) -> Span | None:
        return self.cells[0] if self.cells else None


@dataclass(frozen=True, slots=True)
class Table:
    span: Span
    header: TableRow | None  # None when the run of "|" lines has no separator row
    rows: tuple[TableRow, ...]  # body rows; separator rows are left out
    separators: tuple[Span, ...] = ()
    caption: Span | None = None  # the "...:" sentence or bold line right before the table


@dataclass(frozen=True, slots=True)
class FlowNode:
    span: Span  # arrow or bullet through the node's last line
    marker: Span | None
    depth: int
    steps: tuple[tuple[Span, ...], ...]  # steps chained by arrows; each step one span a line
    children: tuple[FlowNode, ...] = ()


@dataclass(frozen=True, slots=True)
class Flowchart:
    span: Span  # opening fence through closing fence
    nodes: tuple[FlowNode, ...]  # roots
    caption: Span | None = None  # the "...:" sentence or bold line right before the chart

    def walk(self) -> Iterator[tuple[FlowNode, tuple[FlowNode, ...]]]:
        stack: list[tuple[FlowNode, tuple[FlowNode, ...]]] = [
            (node, ()) for node in reversed(self.nodes)
        ]
        while stack:
            node, parents = stack.pop()
            yield node, parents
            stack.extend((child, (*parents, node)) for child in reversed(node.children))


Block = Heading | Paragraph | ListBlock | Table | Flowchart


@dataclass(frozen=True, slots=True)
class Section:
    heading: Heading | None  # None for text before the first heading
    path: tuple[str, ...]  # heading titles from the outermost down, as written
    path_spans: tuple[Span, ...]  # the title span of each heading in the path
    blocks: tuple[Block, ...]  # in document order; the heading first when there is one


@dataclass(frozen=True, slots=True)
class DocumentStructure:
    sections: tuple[Section, ...]

    @property
    def blocks(self) -> Iterator[Block]:
        for section in self.sections:
            yield from section.blocks


# ---------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of a quote: ``sep`` (a fixed joiner, possibly empty) then ``text[start:end]``."""

    start: int
    end: int
    role: str  # heading | lead_in | parent | item | label | header | cell | condition | step | text
    sep: str = ""


@dataclass(frozen=True, slots=True)
class Unit:
    kind: UnitKind
    span: Span  # the unit's own text (a sentence, an item's text, a row, a branch)
    section_path: tuple[str, ...]
    headings: tuple[Span, ...]  # title spans of the heading path
    context: tuple[Span, ...]  # lead-in and parent items, column headers, conditions
    parts: tuple[Part, ...]
    text: str = field(repr=False, compare=False)  # the document text the spans index

    def quote(self) -> str:
        """A self-contained quote: document characters joined by fixed punctuation."""
        return "".join(p.sep + self.text[p.start : p.end] for p in self.parts)


# ---------------------------------------------------------------------------- parsing


def _lines(text: str) -> list[Span]:
    """Each line's span without its line break (the chunker's line convention)."""
    out: list[Span] = []
    pos = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        out.append((pos, pos + len(body)))
        pos += len(line)
    return out


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def clean_pieces(text: str, start: int, end: int) -> list[Span]:
    """Spans of ``text[start:end]`` with inline Markdown marks and outer whitespace left out."""
    start, end = _strip(text, start, end)
    pieces: list[Span] = []
    pos = start
    for mark in _MARKUP.finditer(text, start, end):
        if mark.start() > pos:
            pieces.append((pos, mark.start()))
        pos = mark.end()
    if end > pos:
        pieces.append((pos, end))
    # whitespace left at the edges once a mark is gone ("** Label**") is not text either
    while pieces:
        s, e = _strip(text, *pieces[0])
        if s < e:
            pieces[0] = (s, pieces[0][1])
            break
        pieces.pop(0)
    while pieces:
        s, e = _strip(text, *pieces[-1])
        if s < e:
            pieces[-1] = (pieces[-1][0], e)
            break
        pieces.pop()
    return pieces


def _without_colon(text: str, pieces: list[Span]) -> list[Span]:
    """A lead-in's pieces without its trailing colon ("Dose reduction:" -> "Dose reduction")."""
    if pieces and text[pieces[-1][1] - 1] == ":":
        s, e = pieces[-1]
        s2, e2 = _strip(text, s, e - 1)
        pieces = pieces[:-1] + ([(s, e2)] if e2 > s2 else [])
    return pieces


def _clean_text(text: str, span: Span) -> str:
    return "".join(text[s:e] for s, e in clean_pieces(text, *span))


def _ends_with_colon(text: str, span: Span) -> bool:
    return _clean_text(text, span).endswith(":")


def _is_bold_line(text: str, span: Span) -> bool:
    raw = text[span[0] : span[1]]
    return len(raw) > 4 and raw.startswith("**") and raw.endswith("**")


def _last_sentence(text: str, span: Span) -> Span:
    sentences = split_sentences(text, *span)
    return sentences[-1] if sentences else span


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = _lines(text)
        self.sections: list[Section] = []
        self.blocks: list[Block] = []
        self.heading: Heading | None = None
        self.stack: list[Heading] = []

    # -- helpers
    def stripped(self, i: int) -> Span:
        return _strip(self.text, *self.lines[i])

    def blank(self, i: int) -> bool:
        s, e = self.stripped(i)
        return s == e

    def first(self, i: int) -> str:
        s, e = self.stripped(i)
        return self.text[s] if s < e else ""

    def is_heading(self, i: int) -> re.Match[str] | None:
        s, e = self.stripped(i)
        return _HEADING.match(self.text[s:e])

    def is_fence(self, i: int) -> re.Match[str] | None:
        s, e = self.stripped(i)
        return _FENCE.match(self.text, s, e)

    def is_item(self, i: int) -> re.Match[str] | None:
        s, e = self.lines[i]
        return _LIST_ITEM.match(self.text, s, e)

    def structural(self, i: int) -> bool:
        """A line that opens something other than a paragraph."""
        return bool(
            self.first(i) in ("|", ">") or self.is_fence(i) or self.is_heading(i) or self.is_item(i)
        )

    # -- sections
    def close_section(self) -> None:
        if self.blocks or self.heading is not None:
            self.sections.append(
                Section(
                    self.heading,
                    tuple(h.title for h in self.stack) if self.heading else (),
                    tuple(h.title_span for h in self.stack) if self.heading else (),
                    tuple(self.blocks),
                )
            )
        self.blocks = []

    def open_section(self, heading: Heading) -> None:
        self.close_section()
        while self.stack and self.stack[-1].level >= heading.level:
            self.stack.pop()
        self.stack.append(heading)
        self.heading = heading
        self.blocks = [heading]

    # -- main loop
    def parse(self) -> DocumentStructure:
        i, n = 0, len(self.lines)
        while i < n:
            if self.blank(i):
                i += 1
            elif self.is_fence(i):
                i = self.fence(i)
            elif self.first(i) == "|":
                i = self.table(i)
            elif heading := self.is_heading(i):
                s, e = self.stripped(i)
                title_start = s + heading.start(2)
                self.open_section(
                    Heading(
                        (s, e),
                        len(heading.group(1)),
                        heading.group(2),
                        (title_start, title_start + len(heading.group(2))),
                    )
                )
                i += 1
            elif self.is_item(i):
                i = self.list_block(i)
            else:
                i = self.paragraph(i)
        self.close_section()
        return DocumentStructure(tuple(self.sections))

    def previous_lead_in(self) -> Span | None:
        """The sentence ending in ':' (or a bold label line) right before a list or table."""
        if not self.blocks or not isinstance(self.blocks[-1], Paragraph):
            return None
        content = self.blocks[-1].content
        if _ends_with_colon(self.text, content):
            return _last_sentence(self.text, content)
        if _is_bold_line(self.text, content):
            return content
        return None

    def wraps(self, end: int, j: int) -> bool:
        """Whether plain line ``j`` goes on with the sentence the line before it (ending at
        ``end``) left open (``runs_on``)."""
        if j >= len(self.lines) or self.blank(j) or self.structural(j):
            return False
        last = _clean_text(self.text, (self.lines[j - 1][0], end))
        return runs_on(last, self.text[slice(*self.stripped(j))])

    def wrapped(self, i: int, span: Span) -> tuple[int, tuple[Span, ...]]:
        """Line ``i``'s span (``span``) and the lines that wrap on from it: the next line
        index and every line's stripped span."""
        lines = [span]
        j = i + 1
        while self.wraps(lines[-1][1], j):
            lines.append(self.stripped(j))
            j += 1
        return j, tuple(lines)

    def paragraph(self, i: int) -> int:
        s, e = self.stripped(i)
        quote = _QUOTE_MARK.match(self.text, s, e)
        content = _strip(self.text, quote.end(), e) if quote else (s, e)
        if not quote:
            i_next, lines = self.wrapped(i, content)
            content = (content[0], lines[-1][1])
            s, e = content
        else:
            i_next = i + 1
        self.blocks.append(Paragraph((s, e), content))
        i = i_next
        # plain text: "Label:" then unmarked lines is a list of those lines
        if not quote and _ends_with_colon(self.text, content):
            j = i
            items: list[ListItem] = []
            while j < len(self.lines) and not self.blank(j) and not self.structural(j):
                j, lines = self.wrapped(j, self.stripped(j))
                items.append(ListItem((lines[0][0], lines[-1][1]), None, 0, lines))
            if items:
                span = (items[0].span[0], items[-1].span[1])
                self.blocks.append(
                    ListBlock(span, tuple(items), _last_sentence(self.text, content))
                )
                return j
        return i

    def table(self, i: int) -> int:
        j = i
        while j < len(self.lines) and self.first(j) == "|":
            j += 1
        caption = self.previous_lead_in()
        rows: list[TableRow] = []
        separators: list[Span] = []
        for k in range(i, j):
            s, e = self.stripped(k)
            if _SEPARATOR_ROW.match(self.text[s:e]):
                separators.append((s, e))
            else:
                rows.append(TableRow((s, e), self.cells(s, e)))
        header: TableRow | None = None
        if j - i >= 2 and separators and separators[0] == self.stripped(i + 1) and rows:
            header, rows = rows[0], rows[1:]
        span = (self.stripped(i)[0], self.stripped(j - 1)[1])
        self.blocks.append(Table(span, header, tuple(rows), tuple(separators), caption))
        return j

    def cells(self, start: int, end: int) -> tuple[Span, ...]:
        text = self.text
        bounds: list[int] = []
        k = start
        while k < end:
            if text[k] == "\\" and k + 1 < end:
                k += 2
                continue
            if text[k] == "|":
                bounds.append(k)
            k += 1
        if not bounds or bounds[0] != start:
            bounds.insert(0, start - 1)
        if bounds[-1] != end - 1:
            bounds.append(end)
        return tuple(_strip(text, a + 1, b) for a, b in zip(bounds, bounds[1:], strict=False))

    def list_block(self, i: int) -> int:
        lead_in = self.previous_lead_in()
        from_heading = False
        if lead_in is None and self.heading is not None:
            lead_in, from_heading = self.heading.title_span, True
        # items as (indent, marker span, [line spans]) then nested by indentation
        flat: list[tuple[int, Span, Span, list[Span]]] = []
        n = len(self.lines)
        j = i
        while j < n:
            match = self.is_item(j)
            if match:
                s, e = self.lines[j]
                indent = len(match.group(1).expandtabs(4))
                marker = (match.start(2), match.end(2))
                body = _strip(self.text, match.end(), e)
                first_line = [body] if body[0] < body[1] else []
                flat.append(
                    (indent, marker, (marker[0], body[1] if first_line else marker[1]), first_line)
                )
                j += 1
                continue
            if self.blank(j):
                k = j
                while k < n and self.blank(k):
                    k += 1
                if k < n and (self.is_item(k) or self.continues_item(k, after_blank=True)):
                    j = k
                    continue
                break
            if self.continues_item(j, after_blank=False):
                line = self.stripped(j)
                indent, marker, span, lines = flat[-1]
                lines.append(line)
                flat[-1] = (indent, marker, (span[0], line[1]), lines)
                j += 1
                continue
            break
        items = _nest(flat)
        last = j - 1
        while self.blank(last):
            last -= 1
        span = (self.stripped(i)[0], self.stripped(last)[1])
        self.blocks.append(ListBlock(span, items, lead_in, from_heading))
        return j

    def continues_item(self, j: int, *, after_blank: bool) -> bool:
        """An unmarked line inside a list item: indented, or (lazily) right under it."""
        if self.structural(j):
            return False
        s, _ = self.lines[j]
        indented = self.text[s] in " \t"
        return indented or not after_blank

    def fence(self, i: int) -> int:
        opening = self.is_fence(i)
        assert opening is not None
        mark = opening.group(1)
        j = i + 1
        n = len(self.lines)
        while j < n:
            s, e = self.stripped(j)
            if (
                self.text.startswith(mark[0] * len(mark), s)
                and not self.text[s + len(mark) : e].strip(mark[0]).strip()
            ):
                break
            j += 1
        end_line = min(j, n - 1)
        span = (self.stripped(i)[0], self.stripped(end_line)[1])
        caption = self.previous_lead_in()
        self.blocks.append(Flowchart(span, self.flow_nodes(i + 1, min(j, n)), caption))
        return j + 1

    def flow_nodes(self, first: int, stop: int) -> tuple[FlowNode, ...]:
        text = self.text
        # mutable nodes: [column, marker, span, steps, children]
        roots: list[_Node] = []
        stack: list[_Node] = []
        for k in range(first, stop):
            s, e = self.lines[k]
            line_start, line_end = _strip(text, s, e)
            if line_start == line_end:
                continue
            match = _FLOW_LINE.match(text, s, e)
            assert match is not None
            body = _strip(text, match.end(), e)
            if body[0] == body[1]:
                continue  # connector art only ("|", "+")
            column = len(match.group("art").expandtabs(4))
            marked = bool(match.group("marker") or match.group("bullet"))
            steps = _split_steps(text, body)
            top = stack[-1] if stack else None
            if (
                top is not None
                and not marked
                and column > top.column
                and len(steps) == 1
                and not _clean_text(text, (top.steps[-1][-1])).endswith(("?", ":"))
            ):
                top.steps[-1].append(body)  # a wrapped line of the node above
                top.end = body[1]
                continue
            while stack and stack[-1].column >= column:
                stack.pop()
            marker_span: Span | None = None
            if marked:
                marker_span = _strip(text, match.end("art"), body[0])
            node = _Node(
                column,
                marker_span,
                (marker_span or body)[0],
                body[1],
                [[step] for step in steps],
                len(stack),
            )
            (stack[-1].children if stack else roots).append(node)
            stack.append(node)
        return tuple(node.freeze() for node in roots)


@dataclass(slots=True)
class _Node:
    column: int
    marker: Span | None
    start: int
    end: int
    steps: list[list[Span]]
    depth: int
    children: list[_Node] = field(default_factory=list)

    def freeze(self) -> FlowNode:
        return FlowNode(
            (self.start, self.end),
            self.marker,
            self.depth,
            tuple(tuple(step) for step in self.steps),
            tuple(child.freeze() for child in self.children),
        )


def _split_steps(text: str, body: Span) -> list[Span]:
    steps: list[Span] = []
    pos = body[0]
    for arrow in _ARROW.finditer(text, body[0], body[1]):
        if arrow.start() > pos:
            steps.append((pos, arrow.start()))
        pos = arrow.end()
    if body[1] > pos:
        steps.append((pos, body[1]))
    return [step for step in (_strip(text, *s) for s in steps) if step[0] < step[1]] or [body]


@dataclass(slots=True)
class _Item:
    indent: int
    marker: Span
    span: Span
    lines: list[Span]
    depth: int
    children: list[_Item] = field(default_factory=list)

    def freeze(self) -> ListItem:
        return ListItem(
            self.span,
            self.marker,
            self.depth,
            tuple(self.lines),
            tuple(c.freeze() for c in self.children),
        )


def _nest(flat: list[tuple[int, Span, Span, list[Span]]]) -> tuple[ListItem, ...]:
    """Nest items by indentation: an item indented past the one above is its child."""

    roots: list[_Item] = []
    stack: list[_Item] = []
    for indent, marker, span, lines in flat:
        while stack and stack[-1].indent >= indent:
            stack.pop()
        item = _Item(indent, marker, span, lines, len(stack))
        (stack[-1].children if stack else roots).append(item)
        stack.append(item)
    return tuple(item.freeze() for item in roots)


@lru_cache(maxsize=512)
def parse_structure(text: str) -> DocumentStructure:
    """The structure of one document text (pure and cached per text)."""
    return _Parser(text).parse()


# ---------------------------------------------------------------------------- units


def _parts(text: str, spans: list[Span], role: str, sep: str) -> list[Part]:
    return [Part(s, e, role, sep if k == 0 else "") for k, (s, e) in enumerate(spans)]


def _line_parts(text: str, lines: tuple[Span, ...], role: str, sep: str) -> list[Part]:
    """One element written over several lines: its lines joined by one space."""
    out: list[Part] = []
    for span in lines:
        pieces = clean_pieces(text, *span)
        out.extend(_parts(text, pieces, role, (sep if not out else LINE_SEP)))
    return out


def _lines_of(text: str, span: Span) -> tuple[Span, ...]:
    """``span`` cut at its line breaks, each line stripped."""
    out: list[Span] = []
    start, end = span
    while start < end:
        stop = text.find("\n", start, end)
        stop = end if stop < 0 else stop
        line = _strip(text, start, stop)
        if line[0] < line[1]:
            out.append(line)
        start = stop + 1
    return tuple(out)


def _lead_parts(text: str, lines: tuple[Span, ...], role: str, sep: str) -> list[Part]:
    parts = _line_parts(text, lines, role, sep)
    if parts and text[parts[-1].end - 1] == ":":
        last = parts.pop()
        # Only the colon and the space before it go: the piece's own leading space (after
        # a mark, "**two** of the following:") separates it from the piece before.
        end = last.end - 1
        while end > last.start and text[end - 1].isspace():
            end -= 1
        if text[last.start : end].strip():
            parts.append(Part(last.start, end, role, last.sep))
    return parts


def _sep(parts: list[Part], joiner: str) -> str:
    return joiner if parts else ""


# what each block reader calls to make a unit (None when the unit would quote nothing)
_UnitMaker = Callable[[UnitKind, Span, list[Span], list[Part]], "Unit | None"]


def _section_units(text: str, section: Section) -> Iterator[Unit]:
    headings = section.path_spans
    path = section.path

    def unit(kind: UnitKind, span: Span, context: list[Span], parts: list[Part]) -> Unit | None:
        if not parts:
            return None
        return Unit(kind, span, path, headings, tuple(context), tuple(parts), text)

    lead_ins = {b.lead_in for b in section.blocks if isinstance(b, ListBlock) and b.lead_in}
    lead_ins |= {
        b.caption for b in section.blocks if isinstance(b, (Table, Flowchart)) and b.caption
    }
    for block in section.blocks:
        found: list[Unit | None] = []
        if isinstance(block, Paragraph):
            for sentence in split_sentences(text, *block.content):
                if sentence in lead_ins:
                    continue  # a lead-in says nothing alone; it is quoted with its list
                lines = _lines_of(text, sentence)  # a sentence wrapped over lines reads as one
                found.append(unit("sentence", sentence, [], _line_parts(text, lines, "text", "")))
        elif isinstance(block, ListBlock):
            found.extend(_list_units(text, block, unit))
        elif isinstance(block, Table):
            found.extend(_table_units(text, block, unit))
        elif isinstance(block, Flowchart):
            found.extend(_flow_units(text, block, unit))
        yield from (u for u in found if u is not None)


def _list_units(text: str, block: ListBlock, unit: _UnitMaker) -> Iterator[Unit | None]:
    for item, parents in block.walk():
        if not item.lines or (item.children and _clean_text(text, item.lines[-1]).endswith(":")):
            continue  # an item that only leads into its nested items is quoted with them
        parts: list[Part] = []
        context: list[Span] = []
        if block.lead_in:
            role = "heading" if block.lead_in_is_heading else "lead_in"
            parts += _lead_parts(text, (block.lead_in,), role, "")
            context.append(block.lead_in)
        for parent in parents:
            parent_parts = _lead_parts(text, parent.lines, "parent", _sep(parts, CONTEXT_SEP))
            if parent_parts:
                parts += parent_parts
                context.extend(parent.lines)
        own = _line_parts(text, item.lines, "item", _sep(parts, CONTEXT_SEP))
        if not own:
            continue
        span = (item.lines[0][0], item.lines[-1][1])
        yield unit("list_item", span, context, parts + own)


def _table_units(text: str, table: Table, unit: _UnitMaker) -> Iterator[Unit | None]:
    header = table.header.cells if table.header else ()
    for row in table.rows:
        if not any(s < e for s, e in row.cells):
            continue  # an empty row is layout, not content
        parts: list[Part] = []
        context: list[Span] = []
        label, rest = row.cells[0], row.cells[1:]
        parts += _parts(text, clean_pieces(text, *label), "label", "")
        pairs: list[Part] = []
        for col, cell in enumerate(rest, start=1):
            cell_pieces = clean_pieces(text, *cell)
            if not cell_pieces:
                continue
            head = clean_pieces(text, *header[col]) if col < len(header) else []
            sep = PAIR_SEP if pairs else (CONTEXT_SEP if parts else "")
            if head:
                pairs += _parts(text, head, "header", sep)
                pairs += _parts(text, cell_pieces, "cell", CELL_SEP)
                context.append(header[col])
            else:
                pairs += _parts(text, cell_pieces, "cell", sep)
        if rest and not pairs and len(header) > 1:
            continue  # a label with no values: a group row, not an answer
        yield unit("table_row", row.span, context, parts + pairs)


def _flow_units(text: str, chart: Flowchart, unit: _UnitMaker) -> Iterator[Unit | None]:
    def steps_parts(node: FlowNode, role: str, first_sep: str) -> list[Part]:
        out: list[Part] = []
        for k, step in enumerate(node.steps):
            out += _line_parts(text, step, role, first_sep if k == 0 else STEP_SEP)
        return out

    for node, parents in chart.walk():
        if not parents and node.children:
            continue  # the chart's entry point is the condition of its branches
        if node.children and _words(text, node) <= 1:
            continue  # a bare answer ("YES") is carried by the branches under it
        conditions: list[FlowNode] = []
        for parent in reversed(parents):
            conditions.insert(0, parent)
            if _words(text, parent) > 1:
                break
        parts: list[Part] = []
        context: list[Span] = []
        for cond in conditions:
            parts += steps_parts(cond, "condition", _sep(parts, STEP_SEP))
            context.extend(span for step in cond.steps for span in step)
        own = steps_parts(node, "step", _sep(parts, CONTEXT_SEP))
        if own:
            yield unit("flow_branch", (node.steps[0][0][0], node.span[1]), context, parts + own)


def _words(text: str, node: FlowNode) -> int:
    return sum(len(_clean_text(text, span).split()) for step in node.steps for span in step)


def units(structure: DocumentStructure, text: str) -> list[Unit]:
    """The answer units of a document in document order (see the module docstring)."""
    out: list[Unit] = []
    for section in structure.sections:
        out.extend(_section_units(text, section))
    return out
