"""Intranet pages (HTML) read into the structure model's Markdown (docs/CORPUS.md).

A protocol page on an intranet is mostly chrome: menus, banners, breadcrumbs, sidebars,
search boxes, cookie notices. What is read is the page's content only:

- left out: ``nav``, ``aside``, ``script``, ``style``, ``noscript``, ``template``, ``form``,
  ``button`` (and the other form controls), elements with role navigation, banner,
  contentinfo or search, breadcrumb trails (class, id or label "breadcrumb"), and hidden
  elements (``hidden``, ``aria-hidden="true"``, ``display: none``, ``visibility: hidden``,
  a class or id the page's own ``<style>`` hides, a framework's hiding class such as
  ``hidden`` or ``d-none``);
  a ``header`` or ``footer`` of the page is left out, one inside an ``article``,
  ``section`` or ``main`` is the content's own (its title, its review date) and is kept;
- when the page has a ``main`` (or role main), or exactly one outermost ``article``, only
  that is read;
- ``h1``-``h6`` are headings; ``ul``/``ol`` items are list items nested by depth (and so
  are a page saved from Word's ``mso-list`` paragraphs, and paragraphs typed with a bullet
  character); a table is a Markdown table with its header row (``thead``, else the first
  row) first, cells spanning columns written once and cells spanning rows repeated; a
  one-column table (a box) or one holding headings or tables (a page laid out in a grid) is
  read as the blocks inside it; ``pre`` is a fenced block; ``br`` breaks a line; every
  other block element (``p``, ``div``, ``dd``...) is a paragraph; inline marks (``b``,
  ``em``, links) are plain text, except that a paragraph wholly in bold is written as a
  bold line.

Title: the first ``h1`` of the content, else ``<title>``. Dates: ``dcterms.created`` /
``dcterms.modified`` (and the ``last-modified``, ``date`` and Open Graph article metas).
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from corpus.loaders.blocks import TYPED_BULLET, MarkdownWriter, normalise_space
from corpus.loaders.converted import Converted, UnreadableFileError

_CHROME_TAGS = {
    "nav",
    "aside",
    "script",
    "style",
    "noscript",
    "template",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "iframe",
    "object",
    "embed",
    "svg",
    "canvas",
    "dialog",
}
_CHROME_ROLES = {"navigation", "banner", "contentinfo", "search"}
_SECTIONING = {"article", "section", "main"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)
_BREADCRUMB = re.compile(r"breadcrumb", re.IGNORECASE)
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_LISTS = {"ul", "ol", "menu", "dir"}
_BLOCKS = {
    "address",
    "article",
    "blockquote",
    "body",
    "caption",
    "center",
    "dd",
    "details",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "header",
    "hgroup",
    "hr",
    "html",
    "legend",
    "li",
    "main",
    "p",
    "section",
    "summary",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "tr",
    *_HEADINGS,
    *_LISTS,
}
_BOLD = {"b", "strong"}
_UTF_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# HTML saved from Word writes a list item as a paragraph styled "mso-list: l0 level2 lfo1"
# whose marker ("1.", "·", "o") sits in a span styled "mso-list: Ignore".
_WORD_LIST = re.compile(r"mso-list\s*:\s*l\d+\s+level(\d+)", re.IGNORECASE)
_WORD_MARKER = re.compile(r"mso-list\s*:\s*ignore", re.IGNORECASE)
_ORDERED_MARKER = re.compile(r"\(?(\d{1,3}|[a-z]|[ivxlc]{1,6})[.)]", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w.:-]+)""", re.IGNORECASE)

# Meta names (name=, property= or http-equiv=) that date a page, most specific first.
_CREATED_META = ("dcterms.created", "dc.date.created", "article:published_time")
_MODIFIED_META = (
    "dcterms.modified",
    "dc.date.modified",
    "last-modified",
    "article:modified_time",
    "dcterms.date",
    "dc.date",
    "date",
)


def _tag(element: Any) -> str:
    """The element's tag in lower case; '' for comments and processing instructions."""
    return element.tag.lower() if isinstance(element.tag, str) else ""


def _is_chrome(element: Any) -> bool:
    tag = _tag(element)
    if tag in _CHROME_TAGS:
        return True
    if tag in ("header", "footer") and not any(
        _tag(a) in _SECTIONING for a in element.iterancestors()
    ):
        return True
    get = element.get
    if (get("role") or "").strip().lower() in _CHROME_ROLES:
        return True
    if get("hidden") is not None or (get("aria-hidden") or "").lower() == "true":
        return True
    if _HIDDEN_STYLE.search(get("style") or ""):
        return True
    labels = " ".join(get(name) or "" for name in ("class", "id", "aria-label"))
    return bool(_BREADCRUMB.search(labels))


# Class names that hide an element in the common CSS frameworks and house styles, for a
# page saved without its stylesheet; a page's own <style> rules are read as well.
_HIDING_CLASSES = frozenset({"hidden", "hide", "d-none", "is-hidden", "visually-hidden", "sr-only"})
_CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_SIMPLE_SELECTOR = re.compile(r"^[a-z0-9]*([.#])([\w-]+)$", re.IGNORECASE)


def _hidden_selectors(document: Any) -> tuple[frozenset[str], frozenset[str]]:
    """The classes and ids the page's own <style> rules hide (``display: none`` or
    ``visibility: hidden`` on a simple ``.class``, ``#id`` or ``tag.class`` selector)."""
    classes, ids = set(_HIDING_CLASSES), set[str]()
    for style in document.iter("style"):
        css = re.sub(r"/\*.*?\*/", "", style.text or "", flags=re.DOTALL)
        for selectors, body in _CSS_RULE.findall(css):
            if not _HIDDEN_STYLE.search(body):
                continue
            for selector in selectors.split(","):
                simple = _SIMPLE_SELECTOR.match(selector.strip())
                if simple:
                    (classes if simple.group(1) == "." else ids).add(simple.group(2).lower())
    return frozenset(classes), frozenset(ids)


def _hidden_by(element: Any, classes: frozenset[str], ids: frozenset[str]) -> bool:
    if not isinstance(element.tag, str):
        return False
    own = {c.lower() for c in (element.get("class") or "").split()}
    return bool(own & classes) or (element.get("id") or "").lower() in ids


def _content_root(document: Any) -> Any:
    """``main`` (or role main), else the one outermost ``article``, else the body."""
    for element in document.iter():
        if _tag(element) == "main" or (element.get("role") or "").lower() == "main":
            return element
    articles = [
        e
        for e in document.iter("article")
        if not any(_tag(a) == "article" for a in e.iterancestors())
    ]
    if len(articles) == 1:
        return articles[0]
    body = document.find("body")
    return body if body is not None else document


def _source(text: str | None) -> str:
    """Text as written in the page source: its line breaks are spaces (only ``br`` breaks)."""
    return _WHITESPACE.sub(" ", text) if text else ""


def _flat_text(element: Any, separator: str = " ") -> str:
    """An element's text on one line: block boundaries and line breaks become ``separator``."""
    pieces: list[str] = []

    def collect(el: Any) -> None:
        tag = _tag(el)
        if tag == "br":
            pieces.append(separator)
        elif tag:
            block = tag in _BLOCKS
            if block:
                pieces.append(separator)
            pieces.append(el.text or "")
            for child in el:
                collect(child)
                pieces.append(child.tail or "")
            if block:
                pieces.append(separator)

    collect(element)
    return "".join(pieces)


def _pre_text(element: Any) -> str:
    pieces: list[str] = [element.text or ""]
    for child in element:
        pieces.append("\n" if _tag(child) == "br" else _pre_text(child))
        pieces.append(child.tail or "")
    return "".join(pieces)


class _Walker:
    def __init__(self) -> None:
        self.writer = MarkdownWriter()
        self.buffer: list[tuple[str, bool]] = []  # inline text of the open paragraph

    def flush(self) -> None:
        text = "".join(piece for piece, _ in self.buffer)
        shown = [bold for piece, bold in self.buffer if piece.strip()]
        self.buffer = []
        typed = TYPED_BULLET.match(text)
        if typed:
            self.writer.item(0, text[typed.end() :], ordered=False)
        else:
            self.writer.paragraph(text, bold=bool(shown) and all(shown))

    def walk(self, element: Any, bold: bool = False) -> None:
        tag = _tag(element)
        if not tag or tag == "head":  # the title and metas are read apart
            return
        if tag in _HEADINGS:
            self.flush()
            self.writer.heading(_HEADINGS[tag], _flat_text(element))
        elif tag in _LISTS:
            self.flush()
            self.write_list(element, 0)
        elif tag == "table":
            self.flush()
            self.table(element)
        elif tag == "pre":
            self.flush()
            self.writer.code(_pre_text(element))
        elif tag == "br":
            self.buffer.append(("\n", bold))
        elif level := _WORD_LIST.search(element.get("style") or ""):
            self.flush()
            self.word_list_item(element, int(level.group(1)) - 1)
        else:
            block = tag in _BLOCKS
            if block:
                self.flush()
            bold = bold or tag in _BOLD
            self.buffer.append((_source(element.text), bold))
            for child in element:
                self.walk(child, bold)
                self.buffer.append((_source(child.tail), bold))
            if block:
                self.flush()

    # -- lists
    def write_list(self, element: Any, depth: int) -> None:
        ordered = _tag(element) == "ol"
        start = _int(element.get("start")) if ordered else None
        for item in _list_items(element):
            if _tag(item) in _LISTS:
                self.write_list(item, depth + 1)  # a list put directly in a list: one level down
                continue
            lines: list[str] = []
            nested: list[Any] = []
            self.item_text(item, lines, nested)
            self.writer.item(depth, "".join(lines), ordered=ordered, start=start)
            for sub in nested:
                self.write_list(sub, depth + 1)

    def word_list_item(self, element: Any, depth: int) -> None:
        """A paragraph of a list in HTML saved from Word: its marker is a span of its own
        (``mso-list: Ignore``), its level in the paragraph's style."""
        marker = ""
        for span in [e for e in element.iter() if _WORD_MARKER.search(e.get("style") or "")]:
            marker += normalise_space(_flat_text(span))
            span.drop_tree()
        lines: list[str] = []
        nested: list[Any] = []
        self.item_text(element, lines, nested)
        ordered = bool(_ORDERED_MARKER.fullmatch(marker))
        self.writer.item(depth, "".join(lines), ordered=ordered)
        for sub in nested:
            self.write_list(sub, depth + 1)

    def item_text(self, element: Any, out: list[str], nested: list[Any]) -> None:
        """An item's own text (line breaks and blocks as ``\\n``); nested lists apart."""
        out.append(_source(element.text))
        for child in element:
            tag = _tag(child)
            if tag in _LISTS:
                nested.append(child)
            elif tag == "br":
                out.append("\n")
            elif tag in _BLOCKS or tag in ("table", "pre"):
                out.append("\n")
                self.item_text(child, out, nested)
                out.append("\n")
            elif tag:
                self.item_text(child, out, nested)
            out.append(_source(child.tail))

    # -- tables
    def table(self, element: Any) -> None:
        rows = list(_rows(element))
        caption = next((c for c in element if _tag(c) == "caption"), None)
        if caption is not None:
            self.writer.paragraph(_flat_text(caption), bold=True)
        grid: list[list[str]] = []
        pending: dict[int, tuple[str, int]] = {}  # column -> (text, rows it still covers)
        for row in rows:
            line: list[str] = []
            for cell in (c for c in row if _tag(c) in ("td", "th")):
                _fill_spanned(line, pending)
                text = normalise_space(_flat_text(cell))
                span = max(_int(cell.get("colspan")) or 1, 1)
                down = max(_int(cell.get("rowspan")) or 1, 1)
                col = len(line)
                line.extend([text] + [""] * (span - 1))
                if down > 1:
                    for k in range(col, col + span):
                        pending[k] = (text if k == col else "", down - 1)
            _fill_spanned(line, pending)
            grid.append(line)
        if max((len(line) for line in grid), default=0) <= 1 or _lays_out(element):
            # a one-column table frames text (a box, a warning), a table holding headings or
            # tables lays a page out: read what is inside it
            for row in rows:
                for cell in row:
                    self.walk(cell)
            self.flush()
            return
        self.writer.table(grid)


def _lays_out(table: Any) -> bool:
    """A table used for layout: a table or a heading inside it."""
    return any(_tag(e) in _HEADINGS or _tag(e) == "table" for e in table.iterdescendants())


def _fill_spanned(line: list[str], pending: dict[int, tuple[str, int]]) -> None:
    """Cells of rows above that span down into this row, at the column reached."""
    while len(line) in pending:
        text, left = pending.pop(len(line))
        if left > 1:
            pending[len(line)] = (text, left - 1)
        line.append(text)


def _list_items(element: Any) -> Iterator[Any]:
    """A list's items, looking through wrappers that are neither items nor lists."""
    for child in element:
        tag = _tag(child)
        if tag == "li" or tag in _LISTS:
            yield child
        elif tag:
            yield from _list_items(child)


def _rows(table: Any) -> Iterator[Any]:
    """A table's own rows: the head first, then the body, the foot last."""
    groups: dict[str, list[Any]] = {"thead": [], "tbody": [], "tfoot": []}
    for child in table:
        tag = _tag(child)
        if tag == "tr":
            groups["tbody"].append(child)
        elif tag in groups:
            groups[tag].extend(r for r in child if _tag(r) == "tr")
    for group in groups.values():
        yield from group


def _int(value: str | None) -> int | None:
    try:
        return int(value.strip()) if value is not None else None
    except ValueError:
        return None


def _date(value: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        pass
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(value).date()  # the HTTP form: Tue, 15 Nov 1994 ...
    except (TypeError, ValueError, IndexError):
        return None


def _meta_dates(document: Any) -> tuple[date | None, date | None]:
    found: dict[str, date] = {}
    for meta in document.iter("meta"):
        key = meta.get("name") or meta.get("property") or meta.get("http-equiv") or ""
        day = _date(meta.get("content") or "")
        if day is not None:
            found.setdefault(key.strip().lower(), day)
    created = next((found[k] for k in _CREATED_META if k in found), None)
    modified = next((found[k] for k in _MODIFIED_META if k in found), None)
    return created, modified


def html_to_markdown(html: str) -> Converted:
    """An HTML page's content as Markdown, with its title and dates (text '' when none)."""
    import lxml.etree
    import lxml.html

    html = _XML_DECLARATION.sub("", html, count=1)
    if not html.strip():
        return Converted(text="")
    try:
        document = lxml.html.document_fromstring(html)
    except lxml.etree.ParserError:
        return Converted(text="")
    created, modified = _meta_dates(document)
    head_title = document.find(".//title")
    classes, ids = _hidden_selectors(document)
    for element in [e for e in document.iter() if _is_chrome(e) or _hidden_by(e, classes, ids)]:
        element.drop_tree()
    root = _content_root(document)
    walker = _Walker()
    walker.walk(root)
    walker.flush()
    first_h1 = next(iter(root.iter("h1")), None)
    title = normalise_space(_flat_text(first_h1)) if first_h1 is not None else ""
    if not title and head_title is not None:
        title = normalise_space(head_title.text_content())
    return Converted(
        text=walker.writer.text(), title=title or None, created=created, modified=modified
    )


def _decode(data: bytes) -> str:
    """The page's characters: a byte-order mark, else the declared charset, else UTF-8,
    else Windows-1252 (what a browser falls back to)."""
    for bom in _UTF_BOMS:
        if data.startswith(bom):
            codec = "utf-8" if bom == codecs.BOM_UTF8 else "utf-16"
            return data.decode(codec, errors="replace").lstrip("\ufeff")
    declared = _META_CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(declared.group(1).decode("ascii"), errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def read_html(path: Path) -> Converted:
    """The HTML page at ``path`` as Markdown; ``UnreadableFileError`` when it is missing
    or has no text once its navigation and other chrome are left out."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UnreadableFileError(path, "no such file") from None
    except OSError as exc:
        raise UnreadableFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    converted = html_to_markdown(_decode(data))
    if not converted.text:
        raise UnreadableFileError(
            path,
            "no text in the page once its navigation, header and footer are left out; "
            "nothing to index (is it a frame set or a page built by JavaScript?)",
        )
    return converted
