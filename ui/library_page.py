"""The Library pages the server shows at /library and /library/{doc_id} (pure: entries and
views in, HTML out).

Every text from the index (titles, organisations, statuses, chunk text) is escaped, and the
fragments built from it go through nh3 with a short allowlist, as the chat's do
(``ui.chat.clean_html``). A chunk's text is shown by its structure (``ui.document_html``).
The pages carry no script: the list is searched with a plain GET form (``?q=`` words,
``?type=`` a source type), and the cited passage is reached by its anchor (``#cited``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date
from urllib.parse import quote, urlencode

import nh3

from assistant.provenance import is_draft, overdue_since
from corpus.types import DocumentInfo
from ui.document_html import Marker, structure_html
from ui.library import (
    DocumentView,
    Highlight,
    LibraryEntry,
    Section,
    body_start,
    review_state,
    source_types,
)

LIBRARY_PATH = "/library"
# What the type filter calls each source type (a type not named here shows as written).
TYPE_LABELS = {
    "institution": "Local protocols",
    "guideline": "Guidelines",
    "label": "FDA labels",
    "research": "Research",
    "reference": "Reference",
}
CITED = "cited"  # the anchor of the highlighted passage

_TAGS = {
    "a", "b", "br", "code", "div", "em", "h2", "h3", "h4", "li", "mark", "ol", "p", "pre", "small",
    "span", "strong", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "class"},
    "div": {"class", "id"},
    "h3": {"class"},
    "li": {"value"},
    "mark": {"id"},
    "p": {"class", "id"},
    "pre": {"class"},
    "span": {"class"},
    "table": {"class"},
    "td": {"class"},
    "th": {"scope"},
    "tr": {"class", "data-doc"},
}

CSS = """
body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 16px;
  line-height: 1.45; color: #1a1a1a; }
header { display: flex; gap: 16px; align-items: baseline; flex-wrap: wrap; }
header h1 { margin: 0; font-size: 1.5rem; }
form { margin: 12px 0; display: flex; gap: 8px; }
input[type=search] { flex: 1; padding: 6px 8px; font-size: 1rem; }
button { padding: 6px 12px; font-size: 1rem; }
table { width: 100%; border-collapse: collapse; font-size: 0.95em; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #ddd; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
small { color: #555; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.85em;
  background: #eef; color: #223; }
.overdue { background: #fbe0e2; color: #8f000d; font-weight: 700; }
.section { margin: 18px 0; }
.section h3 { margin: 0 0 6px; font-size: 1.05rem; }
.chunk { margin: 0 0 10px; }
.chunk p { margin: 0 0 8px; }
.chunk ul, .chunk ol { margin: 0 0 8px; padding-left: 1.6em; }
.chunk table.doc-table { width: auto; margin: 0 0 10px; }
.chunk th { background: #f3f3f6; }
.chunk tr.cited { background: #fffbe6; }
.chunk pre.flowchart { white-space: pre-wrap; background: #f7f7f9; padding: 8px 10px;
  margin: 0 0 10px; font-size: 0.9em; }
.as-written { white-space: pre-wrap; }
.notice { padding: 8px 12px; margin: 8px 0; border-left: 6px solid #8f000d; font-size: 1.05rem; }
.overdue-notice { background: #fbe0e2; color: #8f000d; }
.draft-notice { border-color: #c9a400; background: #fff4ce; color: #5c4400; }
select { padding: 6px 8px; font-size: 1rem; }
mark { background: #fff08a; padding: 1px 0; scroll-margin-top: 40vh; }
.cited-page, .not-found { padding: 6px 10px; border-left: 4px solid #c9a400; background: #fffbe6; }
.not-found { border-color: #a00; background: #fdeeee; }
"""


def library_url(doc_id: str, chunk_id: str | None = None, quote_text: str | None = None) -> str:
    """The address of a document's page, with the passage to highlight and its anchor."""
    url = f"{LIBRARY_PATH}/{quote(doc_id, safe='')}"
    params = {k: v for k, v in (("chunk", chunk_id), ("quote", quote_text)) if v}
    if params:
        url += "?" + urlencode(params, quote_via=quote) + f"#{CITED}"
    return url


def _clean(fragment: str) -> str:
    return nh3.clean(
        fragment,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https"},
        strip_comments=True,
        link_rel=None,
    )


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
{body}
</body>
</html>
"""


def _header(heading: str) -> str:
    return (
        f"<header><h1>{html.escape(heading)}</h1>"
        f'<a href="{LIBRARY_PATH}">Library</a> <a href="/chat/">Back to the chat</a></header>'
    )


def review_cell(entry: LibraryEntry) -> str:
    if entry.review_by is None:
        return "—"
    mark = ' <span class="badge overdue">overdue</span>' if entry.overdue else ""
    return f"{html.escape(entry.review_by)}{mark}"


def _type_select(entries: Sequence[LibraryEntry], chosen: str) -> str:
    types = source_types(entries)
    if chosen and chosen not in types:
        types.append(chosen)  # asked for: stays chosen, and the list says none match
    options = "".join(
        f'<option value="{html.escape(t)}"{" selected" if t == chosen else ""}>'
        f"{html.escape(TYPE_LABELS.get(t, t))}</option>"
        for t in types
    )
    return (
        '<label for="library-type" hidden>Source type</label>'
        f'<select id="library-type" name="type"><option value="">Every source type</option>'
        f"{options}</select>"
    )


def library_page(
    entries: Sequence[LibraryEntry], shown: Sequence[LibraryEntry], q: str, source_type: str = ""
) -> str:
    """The list: a search form (words and a source type), then one row per document of
    ``shown`` (of ``entries``)."""
    rows = "".join(
        f'<tr class="doc" data-doc="{html.escape(e.doc_id)}">'
        f'<td><a href="{html.escape(library_url(e.doc_id))}">{html.escape(e.title)}</a>'
        f"<br><small>{html.escape(e.doc_id)} · {html.escape(e.source_type)}</small></td>"
        f"<td>{html.escape(e.organisation or '—')}"
        + (f" <small>{e.year}</small>" if e.year else "")
        + "</td>"
        f'<td class="status">{html.escape(e.status or "—")}</td>'
        f'<td class="review">{review_cell(e)}</td>'
        f'<td class="num">{e.chunks}</td><td class="num">{e.dose_statements}</td></tr>'
        for e in shown
    )
    overdue = sum(e.overdue for e in entries)
    summary = f"{len(shown)} of {len(entries)} documents" + (
        f" · {overdue} past their review-by date" if overdue else ""
    )
    table = _clean(
        f'<p class="summary">{html.escape(summary)}</p>'
        '<table class="library"><thead><tr><th scope="col">Document</th>'
        '<th scope="col">Organisation</th><th scope="col">Status</th>'
        '<th scope="col">Review by</th><th scope="col">Chunks</th>'
        f'<th scope="col">Dose statements</th></tr></thead><tbody>{rows}</tbody></table>'
    )
    form = (
        f'<form method="get" action="{LIBRARY_PATH}" role="search">'
        '<label for="library-q" hidden>Search the library</label>'
        f'<input type="search" id="library-q" name="q" value="{html.escape(q)}" '
        'placeholder="Search by title, organisation, status…">'
        + _type_select(entries, source_type)
        + '<button type="submit" id="library-search">Search</button></form>'
    )
    return _page("Bedside: library", _header("What Bedside knows") + form + table)


def _chunk_html(text: str, marker: Marker | None) -> str:
    """A chunk's text by its structure; when the passage falls only on layout (a pipe, a
    list marker) and nothing was marked, the text as written with the passage marked."""
    rendered = structure_html(text, marker)
    if marker is not None and marker.marks == 0:
        plain = Marker(marker.start, marker.end, CITED)
        return f'<p class="as-written">{plain.text(text, 0, len(text))}</p>'
    return rendered


def _section_html(view: DocumentView, section: Section, mark: Highlight | None) -> str:
    path = list(section.path)
    if path and path[0].strip().lower() == view.doc.title.strip().lower():
        path = path[1:]  # the page's heading already names the document
    heading = f'<h3 class="path">{html.escape(" › ".join(path))}</h3>' if path else ""
    parts = []
    for chunk in section.chunks:
        text = chunk.text[body_start(chunk.text) :]  # its headings are the section's path
        if mark is not None and chunk.id == mark.chunk.id:
            skip = len(chunk.text) - len(text)
            start, end = max(mark.start - skip, 0), max(mark.end - skip, 0)
            where = (
                f'<p class="cited-page" id="cited-page">The cited passage is on page {mark.page}'
                + (
                    f" of {html.escape(str(view.doc.meta['file']))}"
                    if view.doc.meta.get("file")
                    else ""
                )
                + ".</p>"
                if mark.page is not None
                else ""
            )
            body = _chunk_html(text, Marker(start, end, CITED))
            parts.append(where + f'<div class="chunk cited">{body}</div>')
        else:
            parts.append(f'<div class="chunk">{structure_html(text)}</div>')
    return f'<div class="section">{heading}{"".join(parts)}</div>'


def _review_notices(doc: DocumentInfo, today: date) -> str:
    """What a reader must know before reading on: a review that is overdue (or a review-by
    date nobody can read), and a draft."""
    out = []
    due, overdue = review_state(doc, today)
    if overdue:
        owner = f" by {doc.meta['owner']}" if doc.meta.get("owner") else ""
        if overdue_since(doc, today) is not None:
            what = f"Review overdue since {due}"
        else:
            what = f"Review-by date “{due}” cannot be read"
        out.append(
            f'<p class="notice overdue-notice" id="review-overdue"><strong>{html.escape(what)}'
            f"</strong>: this document was due for review{html.escape(owner)}; check that it "
            "is still current before acting on it.</p>"
        )
    if is_draft(doc):
        out.append(
            '<p class="notice draft-notice" id="draft"><strong>Draft</strong>: not an '
            "approved protocol; check it with its owner before acting on it.</p>"
        )
    return "".join(out)


def document_page(view: DocumentView, mark: Highlight | None, asked: bool, today: date) -> str:
    """One document by section, under a notice when its review is overdue against
    ``today`` or it is a draft; the ``mark`` passage highlighted, or a notice when a
    passage was ``asked`` for and is not in the document as indexed."""
    d = view.doc
    meta = " · ".join(
        html.escape(str(x))
        for x in (
            d.organization,
            d.year,
            d.source_type,
            f"owner: {d.meta['owner']}" if d.meta.get("owner") else None,
            d.meta.get("file"),
        )
        if x
    )
    status = d.meta.get("status") or d.review_status
    facts = [f"<small>{meta}</small>"] if meta else []
    if status:
        facts.append(f'<span class="badge">{html.escape(str(status))}</span>')
    if d.meta.get("review_by"):
        facts.append(f"<small>review by {html.escape(str(d.meta['review_by']))}</small>")
    notice = ""
    if asked and mark is None:
        notice = (
            '<p class="not-found">The cited passage is not in this document as indexed now: '
            "the index may have been rebuilt since the answer was given.</p>"
        )
    sections = "".join(_section_html(view, s, mark) for s in view.sections)
    body = _clean(
        f"<h2>{html.escape(d.title)}</h2>{_review_notices(d, today)}"
        f'<p class="facts">{" ".join(facts)}</p>{notice}<div class="document">{sections}</div>'
    )
    return _page(f"Bedside: {d.title}", _header("What Bedside knows") + body)


def missing_page(doc_id: str) -> str:
    body = _clean(
        f'<p class="not-found">No document “{html.escape(doc_id)}” in the index served: it may '
        f'have been removed when the index was rebuilt. <a href="{LIBRARY_PATH}">See every '
        "document</a>.</p>"
    )
    return _page("Bedside: no such document", _header("What Bedside knows") + body)
