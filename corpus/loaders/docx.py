"""Word documents (.docx) read into the structure model's Markdown (docs/CORPUS.md).

The body is walked in order, paragraphs and tables as they stand, so a table stays between
the paragraphs around it. What a paragraph is comes from its style and numbering, never
from its words:

- a heading: style "Title" (level 1; a document with a Title has its "Heading N" one level
  below it, N + 1) or "Heading N", else an outline level set on the
  paragraph or its style (how a localised "Überschrift 1" is still a heading);
- a list item: numbering on the paragraph (``w:numPr``, ``w:ilvl`` the depth) or its style
  ("List Bullet 2", "List Number 3": the suffix is the depth); bullet or numbered from the
  numbering definition's format; a paragraph typed with a bullet character is an item too;
- a table: its first row is the header; a cell merged across columns is written once (the
  columns it covers stay empty), a cell merged down rows is repeated in each row it covers;
  a one-column table (a box around text) or one holding headings or tables (a page laid
  out in a grid) is read as the blocks inside it;
- a paragraph: everything else; one set wholly in bold is written as a bold line.

Headers, footers, footnotes, comments, deleted text (tracked changes) and the table of
contents are not body text and are left out; text boxes are read after the paragraph that
anchors them. A file that is not a readable .docx raises ``UnreadableFileError``.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from corpus.loaders.blocks import TYPED_BULLET, MarkdownWriter, normalise_space
from corpus.loaders.converted import Converted, UnreadableFileError

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"

_HEADING_STYLE = re.compile(r"heading\s*(\d)", re.IGNORECASE)
_LIST_STYLE = re.compile(r"list\s*(bullet|number)\s*(\d)?", re.IGNORECASE)
# The table of contents' entries ("TOC 1", "toc 2") and its "TOC Heading".
_TOC_STYLE = re.compile(r"toc\s*(\d|heading)")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_FALSE = ("0", "false", "off", "none")

# Elements whose content is not the paragraph's own text: deleted runs, the fallback copy of
# a drawing (its text is read once from the drawing itself), field codes and properties.
_SKIP = {
    _W + "del",
    _W + "moveFrom",
    _W + "instrText",
    _W + "delInstrText",
    _W + "pPr",
    _W + "rPr",
    _MC + "Fallback",
}


@dataclass(slots=True)
class _Style:
    name: str = ""
    based_on: str | None = None
    outline: int | None = None  # outline level 0-8 (9 = body text)
    num_id: str | None = None
    ilvl: int | None = None
    bold: bool | None = None


@dataclass(slots=True)
class _Text:
    """A paragraph's text with line breaks as ``\\n``, and the text boxes anchored in it."""

    parts: list[str] = field(default_factory=list)
    bold: list[bool] = field(default_factory=list)  # one flag per run with visible text
    boxes: list[Any] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.parts)


def _val(element: Any, tag: str) -> str | None:
    child = element.find(_W + tag) if element is not None else None
    return None if child is None else child.get(_W + "val")


def _on(element: Any) -> bool | None:
    """A toggle property (``<w:b/>``, ``<w:b w:val="0"/>``) as True/False, None when unset."""
    if element is None:
        return None
    return (element.get(_W + "val") or "1").lower() not in _FALSE


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class _Reader:
    def __init__(self, document: Any) -> None:
        self.writer = MarkdownWriter()
        self.titled = any(
            (p.style is not None and (p.style.name or "").strip().lower() == "title")
            for p in document.paragraphs
        )
        self.styles: dict[str, _Style] = {}
        self.default_style: str | None = None
        for element in document.styles.element.iterchildren(_W + "style"):
            style_id = element.get(_W + "styleId")
            if style_id is None:
                continue
            if element.get(_W + "default") in ("1", "true") and element.get(_W + "type") in (
                "paragraph",
                None,
            ):
                self.default_style = style_id
            ppr = element.find(_W + "pPr")
            numpr = ppr.find(_W + "numPr") if ppr is not None else None
            rpr = element.find(_W + "rPr")
            self.styles[style_id] = _Style(
                name=_val(element, "name") or style_id,
                based_on=_val(element, "basedOn"),
                outline=_int(_val(ppr, "outlineLvl")),
                num_id=_val(numpr, "numId"),
                ilvl=_int(_val(numpr, "ilvl")),
                bold=_on(rpr.find(_W + "b")) if rpr is not None else None,
            )
        self.formats = _number_formats(document)
        self._resolved: dict[str, _Style] = {}

    # -- styles
    def style(self, style_id: str | None) -> _Style:
        """A style with what it inherits from the styles it is based on filled in."""
        style_id = style_id or self.default_style
        if style_id is None or style_id not in self.styles:
            return _Style()
        if style_id in self._resolved:
            return self._resolved[style_id]
        own = self.styles[style_id]
        out = _Style(own.name, own.based_on, own.outline, own.num_id, own.ilvl, own.bold)
        seen = {style_id}
        parent = own.based_on
        while parent and parent in self.styles and parent not in seen:
            seen.add(parent)
            base = self.styles[parent]
            out.outline = out.outline if out.outline is not None else base.outline
            if out.num_id is None:
                out.num_id, out.ilvl = base.num_id, base.ilvl
            out.bold = out.bold if out.bold is not None else base.bold
            parent = base.based_on
        self._resolved[style_id] = out
        return out

    # -- the body
    def blocks(self, parent: Any) -> None:
        for child in parent.iterchildren():
            tag = child.tag
            if tag == _W + "p":
                self.paragraph(child)
            elif tag == _W + "tbl":
                self.table(child)
            elif tag == _W + "sdt":
                if not _is_toc(child):
                    content = child.find(_W + "sdtContent")
                    if content is not None:
                        self.blocks(content)
            elif tag in (_W + "customXml", _W + "ins", _W + "moveTo"):
                self.blocks(child)

    def paragraph(self, p: Any) -> None:
        ppr = p.find(_W + "pPr")
        style = self.style(_val(ppr, "pStyle"))
        name = style.name.strip().lower()
        content = self.text(p, style.bold)
        if not _TOC_STYLE.fullmatch(name):
            self.write(p, ppr, style, name, content)
        for box in content.boxes:
            self.blocks(box)

    def write(self, p: Any, ppr: Any, style: _Style, name: str, content: _Text) -> None:
        text = content.text
        level = self.heading_level(ppr, style, name)
        if level is not None:
            self.writer.heading(level, text.replace("\n", " "))
            return
        item = self.list_item(ppr, style, name)
        if item is not None:
            depth, ordered, start = item
            self.writer.item(depth, text, ordered=ordered, start=start)
            return
        typed = TYPED_BULLET.match(text)
        if typed:
            self.writer.item(0, text[typed.end() :], ordered=False)
            return
        bold = bool(content.bold) and all(content.bold)
        self.writer.paragraph(text, bold=bold)

    def heading_level(self, ppr: Any, style: _Style, name: str) -> int | None:
        if name == "title":
            return 1
        # Under a document title (the Title style), "Heading 1" is a section of it.
        below = 1 if self.titled else 0
        match = _HEADING_STYLE.fullmatch(name)
        if match:
            return min(int(match.group(1)) + below, 6)
        outline = _int(_val(ppr, "outlineLvl"))
        outline = outline if outline is not None else style.outline
        return min(outline + 1 + below, 6) if outline is not None and 0 <= outline < 9 else None

    def list_item(self, ppr: Any, style: _Style, name: str) -> tuple[int, bool, int | None] | None:
        """(depth, ordered, start number) of a numbered or bulleted paragraph, else None."""
        numpr = ppr.find(_W + "numPr") if ppr is not None else None
        num_id, ilvl = style.num_id, style.ilvl
        if numpr is not None:
            num_id = _val(numpr, "numId") or num_id
            ilvl = _int(_val(numpr, "ilvl")) if numpr.find(_W + "ilvl") is not None else ilvl
        named = _LIST_STYLE.fullmatch(name)
        if num_id == "0" or (num_id is None and not named):
            return None  # numbering switched off, or none at all
        depth = ilvl or 0
        if named and named.group(2):
            depth = max(depth, int(named.group(2)) - 1)
        fmt, start = self.formats.get((num_id or "", ilvl or 0), (None, None))
        if fmt is None:
            ordered = named is not None and named.group(1).lower() == "number"
        else:
            ordered = fmt not in ("bullet", "none")
        return depth, ordered, start

    def text(self, p: Any, style_bold: bool | None) -> _Text:
        out = _Text()
        self._collect(p, out, style_bold)
        return out

    def _collect(self, element: Any, out: _Text, style_bold: bool | None) -> None:
        for child in element.iterchildren():
            tag = child.tag
            if not isinstance(tag, str) or tag in _SKIP:
                continue
            if tag == _W + "txbxContent":
                out.boxes.append(child)
            elif tag == _W + "r":
                before = len(out.parts)
                self._collect(child, out, style_bold)
                if "".join(out.parts[before:]).strip():
                    rpr = child.find(_W + "rPr")
                    bold = _on(rpr.find(_W + "b")) if rpr is not None else None
                    if bold is None and rpr is not None:
                        bold = self.style(_val(rpr, "rStyle")).bold
                    out.bold.append(bool(bold if bold is not None else style_bold))
            elif tag == _W + "t":
                out.parts.append(child.text or "")
            elif tag in (_W + "tab", _W + "ptab"):
                out.parts.append(" ")
            elif tag == _W + "br":
                page_or_column = child.get(_W + "type") in ("page", "column")
                out.parts.append(" " if page_or_column else "\n")
            elif tag == _W + "cr":
                out.parts.append("\n")
            elif tag == _W + "noBreakHyphen":
                out.parts.append("-")
            else:
                self._collect(child, out, style_bold)

    # -- tables
    def table(self, tbl: Any) -> None:
        rows = list(_children(tbl, "tr"))
        cells = [list(_children(tr, "tc")) for tr in rows]
        widths = [
            _int(_val(tr.find(_W + "trPr"), "gridBefore")) or 0 for tr in rows
        ]  # columns skipped at the start of each row
        columns = max(
            (
                before + sum(_span(tc) for tc in row)
                for before, row in zip(widths, cells, strict=True)
            ),
            default=0,
        )
        if columns <= 1 or self.lays_out(tbl):
            # a one-column table frames text (a box, a warning), a table holding headings or
            # tables lays a page out: read what is inside it
            for row in cells:
                for tc in row:
                    self.blocks(tc)
            return
        grid: list[list[str]] = []
        above: dict[int, str] = {}  # the text of the cell above each column, for a vertical merge
        for before, row in zip(widths, cells, strict=True):
            line = [""] * before
            for tc in row:
                tcpr = tc.find(_W + "tcPr")
                vmerge = tcpr.find(_W + "vMerge") if tcpr is not None else None
                hmerge = tcpr.find(_W + "hMerge") if tcpr is not None else None
                col = len(line)
                if vmerge is not None and vmerge.get(_W + "val") != "restart":
                    text = above.get(col, "")
                elif hmerge is not None and hmerge.get(_W + "val") != "restart":
                    text = ""
                else:
                    text = self.cell_text(tc)
                span = _span(tc)
                line.extend([text] + [""] * (span - 1))
                for k in range(col, col + span):
                    above[k] = text if k == col else ""
            grid.append(line)
        self.writer.table(grid)

    def lays_out(self, tbl: Any) -> bool:
        """A table used for layout: a table inside it, or a heading in one of its cells."""
        if next(tbl.iterdescendants(_W + "tbl"), None) is not None:
            return True
        for p in tbl.iterdescendants(_W + "p"):
            ppr = p.find(_W + "pPr")
            style = self.style(_val(ppr, "pStyle"))
            if self.heading_level(ppr, style, style.name.strip().lower()) is not None:
                return True
        return False

    def cell_text(self, tc: Any) -> str:
        """A cell's paragraphs (and any table inside it) as one line of text."""
        pieces: list[str] = []
        for element in tc.iter(_W + "p"):
            if any(a.tag == _W + "txbxContent" for a in element.iterancestors()):
                continue
            pieces.append(normalise_space(self.text(element, None).text))
        return " ".join(piece for piece in pieces if piece)


def _children(parent: Any, tag: str) -> Iterator[Any]:
    """``parent``'s ``w:tag`` children, looking through content controls and custom XML."""
    for child in parent.iterchildren():
        if child.tag == _W + tag:
            yield child
        elif child.tag == _W + "sdt":
            content = child.find(_W + "sdtContent")
            if content is not None:
                yield from _children(content, tag)
        elif child.tag == _W + "customXml":
            yield from _children(child, tag)


def _span(tc: Any) -> int:
    return max(_int(_val(tc.find(_W + "tcPr"), "gridSpan")) or 1, 1)


def _is_toc(sdt: Any) -> bool:
    gallery = sdt.find(f"{_W}sdtPr/{_W}docPartObj/{_W}docPartGallery")
    return gallery is not None and "contents" in (gallery.get(_W + "val") or "").lower()


def _number_formats(document: Any) -> dict[tuple[str, int], tuple[str | None, int | None]]:
    """(numId, level) -> (number format, start number) from the numbering part."""
    try:
        numbering = document.part.numbering_part.element
    except (KeyError, NotImplementedError):
        return {}
    abstract: dict[str, dict[int, tuple[str | None, int | None]]] = {}
    for element in numbering.iterchildren(_W + "abstractNum"):
        levels = abstract.setdefault(element.get(_W + "abstractNumId") or "", {})
        for lvl in element.iterchildren(_W + "lvl"):
            ilvl = _int(lvl.get(_W + "ilvl")) or 0
            levels[ilvl] = (_val(lvl, "numFmt"), _int(_val(lvl, "start")))
    out: dict[tuple[str, int], tuple[str | None, int | None]] = {}
    for num in numbering.iterchildren(_W + "num"):
        num_id = num.get(_W + "numId") or ""
        for ilvl, fmt in abstract.get(_val(num, "abstractNumId") or "", {}).items():
            out[(num_id, ilvl)] = fmt
        for override in num.iterchildren(_W + "lvlOverride"):
            lvl = override.find(_W + "lvl")
            if lvl is not None:
                ilvl = _int(override.get(_W + "ilvl")) or 0
                out[(num_id, ilvl)] = (_val(lvl, "numFmt"), _int(_val(lvl, "start")))
    return out


def _day(value: datetime | None) -> date | None:
    return value.date() if isinstance(value, datetime) else None


def read_docx(path: Path) -> Converted:
    """The Word document at ``path`` as Markdown, with its title and dates.

    Raises ``UnreadableFileError`` naming the file when it is missing, not a .docx (an old
    .doc, a password-protected file, a damaged zip) or has no text in its body.
    """
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(path, "no such file")
    with path.open("rb") as handle:
        head = handle.read(len(_OLE_MAGIC))
    if head == _OLE_MAGIC:
        raise UnreadableFileError(
            path,
            "an old Word 97-2003 .doc or a password-protected document; open it in Word, "
            "save it as .docx without a password, and add that file",
        )
    if not zipfile.is_zipfile(path):
        raise UnreadableFileError(
            path, "not a Word .docx file (it is not a zip package); save it as .docx and retry"
        )
    import docx

    try:
        document = docx.Document(str(path))
        reader = _Reader(document)
        reader.blocks(document.element.body)
    except Exception as exc:  # any failure to parse a damaged package means the same
        raise UnreadableFileError(
            path, f"not a readable Word .docx file ({exc}); save it again from Word and retry"
        ) from exc
    text = reader.writer.text()
    if not text:
        raise UnreadableFileError(path, "no text in the document body; nothing to index")
    props = document.core_properties
    try:
        created, modified = _day(props.created), _day(props.modified)
    except (ValueError, TypeError):
        created = modified = None
    title = normalise_space(props.title or "") or reader.writer.first_heading
    return Converted(text=text, title=title, created=created, modified=modified)
