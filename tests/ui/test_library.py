"""The library: what Bedside knows, listed from the served index (ui.library), the
`bedside library` command, the /library pages and /api/library, and the chat's links to
the cited passage. Over a tiny hash-embedder index of tests/fixtures/library, whose
protocol has a review-by date in the past and pages."""

from __future__ import annotations

import dataclasses
import html
import json
import re
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from corpus.types import Chunk, DocumentInfo
from ui.cli import main
from ui.library import (
    DocumentView,
    LibraryEntry,
    document_view,
    dose_statements,
    filter_entries,
    library_entries,
)

LIBRARY = Path(__file__).resolve().parents[1] / "fixtures" / "library" / "docs.jsonl"
FAST = ["--preset", "fast"]
TODAY = date(2026, 6, 1)
PROTOCOL = "icu-heparin-resistance"
QUESTION = "What are the management options for heparin resistance?"


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("library") / "index"
    assert main([*FAST, "index", "--source", f"jsonl:{LIBRARY}", "--index-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def retriever(index_dir: Path):  # type: ignore[no-untyped-def]
    from retrieval.embedders import HashEmbedder
    from retrieval.hybrid import HybridRetriever
    from retrieval.settings import RetrievalSettings
    from retrieval.store import open_index

    return HybridRetriever(
        open_index(index_dir, HashEmbedder()), HashEmbedder(), RetrievalSettings(embedder="hash")
    )


def _by_id(entries: Sequence[LibraryEntry]) -> dict[str, LibraryEntry]:
    return {e.doc_id: e for e in entries}


# ------------------------------------------------------------------ library_entries


def test_every_indexed_document_is_listed_with_its_status_and_review_date(retriever) -> None:  # type: ignore[no-untyped-def]
    entries = _by_id(library_entries(retriever, TODAY))
    assert set(entries) == {PROTOCOL, "argatroban-hit-guideline", "ward-bridging-draft"}
    protocol = entries[PROTOCOL]
    assert protocol.status == "approved"  # the protocol's own status, not its review text
    assert protocol.organisation == "Example Hospital"
    assert protocol.source_type == "institution"
    assert (protocol.review_by, protocol.overdue) == ("2024-03-01", True)
    draft = entries["ward-bridging-draft"]
    assert (draft.status, draft.review_by, draft.overdue) == ("draft", "2999-01-01", False)
    # A pack-like document: its review status, no review-by date, never overdue.
    guideline = entries["argatroban-hit-guideline"]
    assert (guideline.status, guideline.review_by, guideline.overdue) == (
        "pending clinical review",
        None,
        False,
    )


def test_overdue_is_judged_against_the_day_given(retriever) -> None:  # type: ignore[no-untyped-def]
    before = _by_id(library_entries(retriever, date(2024, 2, 29)))[PROTOCOL]
    on_the_day = _by_id(library_entries(retriever, date(2024, 3, 1)))[PROTOCOL]
    after = _by_id(library_entries(retriever, date(2024, 3, 2)))[PROTOCOL]
    assert (before.overdue, on_the_day.overdue, after.overdue) == (False, False, True)


def test_chunks_and_dose_statements_are_counted_from_the_index(retriever) -> None:  # type: ignore[no-untyped-def]
    entries = _by_id(library_entries(retriever, TODAY))
    for doc_id, entry in entries.items():
        assert entry.chunks == len(retriever.chunks_of(doc_id)) > 0
    # "more than 35,000 units ... a day" and "500 units IV over 30 minutes"; the monitoring
    # sentence states no dose, nor does the draft.
    assert entries[PROTOCOL].dose_statements == 2
    assert entries["argatroban-hit-guideline"].dose_statements == 1
    assert entries["ward-bridging-draft"].dose_statements == 0


@pytest.mark.parametrize(
    ("texts", "count"),
    [
        (["Give zorblatide 5 mg."], 1),  # a dose of a drug it does not know is a dose
        (["Heparin 5,000 units subcut every 8 hours."], 1),
        (["Heparin 80 units/kg bolus, then 18 units/kg/h."], 1),  # one sentence, two doses
        (["Heparin 80 units/kg bolus.", "Then heparin 18 units/kg/h."], 2),
        (["Enoxaparin 40 subcut once daily."], 1),  # a number the guard cannot read counts
        (["The aPTT is checked after 6 hours."], 0),
    ],
)
def test_dose_statements_are_the_sentences_the_guard_reads_a_dose_in(
    texts: list[str], count: int
) -> None:
    assert dose_statements(texts) == count


class _Fake:
    """Just the retriever questions the library asks, over documents given in a test."""

    def __init__(self, docs: Sequence[DocumentInfo], chunks: Sequence[Chunk] = ()) -> None:
        self.docs, self.chunks = list(docs), list(chunks)

    def documents(self) -> Sequence[DocumentInfo]:
        return self.docs

    def document(self, doc_id: str) -> DocumentInfo:
        for d in self.docs:
            if d.id == doc_id:
                return d
        raise KeyError(doc_id)

    def chunks_of(self, doc_id: str) -> Sequence[Chunk]:
        return [c for c in self.chunks if c.doc_id == doc_id]


def test_a_review_date_that_cannot_be_read_counts_as_overdue() -> None:
    doc = DocumentInfo("p", "P", "institution", meta={"review_by": "next spring"})
    (entry,) = library_entries(_Fake([doc]), TODAY)  # type: ignore[arg-type]
    assert (entry.review_by, entry.overdue) == ("next spring", True)


def test_the_library_is_searched_by_every_word() -> None:
    docs = [
        DocumentInfo("a", "Heparin infusion", "institution", organization="Example Hospital"),
        DocumentInfo("b", "Heparin resistance", "guideline", review_status="pending review"),
        DocumentInfo("c", "Warfarin", "label", meta={"review_by": "2020-01-01"}),
    ]
    entries = library_entries(_Fake(docs), TODAY)  # type: ignore[arg-type]
    ids = lambda q: [e.doc_id for e in filter_entries(entries, q)]  # noqa: E731
    assert ids("") == ["a", "b", "c"]
    assert ids("HEPARIN") == ["a", "b"]
    assert ids("heparin example") == ["a"]
    assert ids("pending") == ["b"]
    assert ids("overdue") == ["c"]
    assert ids("tinzaparin") == []


# ------------------------------------------------------------------ document_view


def test_a_document_reads_back_by_section_in_text_order(retriever) -> None:  # type: ignore[no-untyped-def]
    view = document_view(retriever, PROTOCOL)
    paths = [s.path[-1] for s in view.sections]
    assert paths == ["Definition", "Management options", "Antithrombin dosing"]
    by_section = view.text_by_section
    key = next(k for k in by_section if k.endswith("Management options"))
    assert by_section[key].startswith("Heparin resistance management options include monitoring")
    assert "antithrombin supplementation" in by_section[key]
    chunks = [c for s in view.sections for c in s.chunks]
    assert [c.id for c in chunks] == [c.id for c in retriever.chunks_of(PROTOCOL)]


def test_an_unknown_document_is_a_key_error_naming_it(retriever) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError, match="no-such-protocol"):
        document_view(retriever, "no-such-protocol")


def _management(view: DocumentView) -> Chunk:
    return next(c for s in view.sections for c in s.chunks if "supplementation" in c.text)


def test_the_cited_passage_is_found_by_chunk_and_quote_with_its_page(retriever) -> None:  # type: ignore[no-untyped-def]
    view = document_view(retriever, PROTOCOL)
    chunk = _management(view)
    quote = "antithrombin supplementation when antithrombin activity is low"
    mark = view.highlight(chunk.id, quote)
    assert mark is not None and mark.chunk == chunk
    assert chunk.text[mark.start : mark.end] == quote
    assert mark.page == 2
    # The chunk alone: all of it; a quote alone (its spaces differing): found in the text.
    whole = view.highlight(chunk.id)
    assert whole is not None and (whole.start, whole.end) == (22, len(chunk.text))
    assert chunk.text[: whole.start] == "## Management options\n"
    spaced = view.highlight(None, "500 units   IV\nover 30 minutes")
    assert spaced is not None and spaced.page == 3
    assert spaced.chunk.text[spaced.start : spaced.end] == "500 units IV over 30 minutes"
    assert view.highlight("icu-heparin-resistance#0-1") is None
    assert view.highlight(None, "protamine 50 mg") is None


def test_a_document_without_pages_has_no_page(retriever) -> None:  # type: ignore[no-untyped-def]
    view = document_view(retriever, "argatroban-hit-guideline")
    mark = view.highlight(None, "2 mcg/kg/min")
    assert mark is not None and mark.page is None


# ------------------------------------------------------------------ bedside library


def test_the_command_prints_the_table(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FAST, "library", "--index-dir", str(index_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "Id", "Document", "Organisation", "Status", "Review", "by", "Chunks", "Dose", "statements",
    ]  # fmt: skip
    protocol = next(line for line in lines if line.startswith(PROTOCOL))
    assert "Example Hospital" in protocol and "approved" in protocol
    assert "2024-03-01 overdue" in protocol
    draft = next(line for line in lines if line.startswith("ward-bridging-draft"))
    assert "2999-01-01" in draft and "overdue" not in draft
    assert lines[-1].startswith("3 documents, 6 chunks, 3 dose statements; 1 past")


def test_the_command_prints_json(index_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*FAST, "library", "--index-dir", str(index_dir), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"today", "index_digest", "documents"}
    docs = {d["doc_id"]: d for d in data["documents"]}
    assert docs[PROTOCOL] == {
        "doc_id": PROTOCOL,
        "title": "Heparin resistance in adult critical care",
        "organisation": "Example Hospital",
        "year": 2023,
        "source_type": "institution",
        "status": "approved",
        "review_by": "2024-03-01",
        "overdue": True,
        "chunks": 3,
        "dose_statements": 2,
    }


def test_the_command_names_a_missing_index(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*FAST, "library", "--index-dir", str(tmp_path / "none")]) == 1
    assert "bedside: error:" in capsys.readouterr().err


# ------------------------------------------------------------------ the server


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, index_dir: Path):  # type: ignore[no-untyped-def]
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from ui.feedback import FeedbackStore
    from ui.service import Service

    home = tmp_path_factory.mktemp("library-home")
    settings = load_settings(
        "fast",
        home=home,
        index_dir=index_dir,
        sources=[f"jsonl:{LIBRARY}"],
        corpus={"allow_drafts": True},
    )
    return Service(
        Assistant.from_settings(settings, refresh=False), FeedbackStore(home / "fb.sqlite3")
    )


@pytest.fixture(scope="module")
def http(service) -> Iterator:  # type: ignore[no-untyped-def]
    from tests.ui.apps import client
    from ui.app import create_app

    with client(create_app(service, token="")) as c:
        yield c


def test_api_library_lists_every_document(http) -> None:  # type: ignore[no-untyped-def]
    r = http.get("/api/library")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3 and len(body["documents"]) == 3
    protocol = next(d for d in body["documents"] if d["doc_id"] == PROTOCOL)
    assert protocol["overdue"] is True and protocol["status"] == "approved"
    only = http.get("/api/library", params={"q": "bridging"}).json()
    assert [d["doc_id"] for d in only["documents"]] == ["ward-bridging-draft"]
    assert only["total"] == 3


def test_the_library_page_lists_and_filters(http) -> None:  # type: ignore[no-untyped-def]
    page = http.get("/library").text
    assert page.count('<tr class="doc"') == 3
    row = re.search(rf'<tr class="doc" data-doc="{PROTOCOL}">.*?</tr>', page, re.S)
    assert row is not None
    assert "2024-03-01" in row.group() and "overdue" in row.group()
    assert f'href="/library/{PROTOCOL}"' in row.group()
    assert "<script" not in page
    found = http.get("/library", params={"q": "argatroban"}).text
    assert found.count('<tr class="doc"') == 1 and "1 of 3 documents" in found
    assert 'value="argatroban"' in found


def test_the_document_page_marks_the_cited_passage_and_its_page(http, retriever) -> None:  # type: ignore[no-untyped-def]
    from ui.library_page import library_url

    chunk = _management(document_view(retriever, PROTOCOL))
    quote = "antithrombin supplementation when antithrombin activity is low"
    url = library_url(PROTOCOL, chunk.id, quote)
    assert url.endswith("#cited")
    page = http.get(url.split("#")[0]).text
    marked = re.findall(r'<mark id="cited">(.*?)</mark>', page, re.S)
    assert marked == [quote]
    assert "The cited passage is on page 2 of icu/heparin-resistance.pdf." in page
    assert "Management options" in page and "Antithrombin dosing" in page
    plain = http.get(f"/library/{PROTOCOL}").text
    assert "<mark" not in plain and "page 2" not in plain
    gone = http.get(f"/library/{PROTOCOL}", params={"chunk": f"{PROTOCOL}#0-1"}).text
    assert "<mark" not in gone and "not in this document as indexed" in gone


def test_an_unknown_document_is_404_and_source_text_stays_text(http) -> None:  # type: ignore[no-untyped-def]
    r = http.get("/library/<img src=x onerror=alert(1)>")
    assert r.status_code == 404
    assert "<img" not in r.text and "&lt;img" in r.text


def test_the_library_follows_the_access_mode(service, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.ui.apps import client, service_over
    from ui.app import create_app

    token = "t" * 40
    guarded = service_over(service, tmp_path, access="token")
    with client(create_app(guarded, token=token)) as c:
        assert c.get("/api/library").status_code == 401
        page = c.get(f"/library/{PROTOCOL}", headers={"accept": "text/html"})
        assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")
        ok = c.get("/api/library", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["total"] == 3


def test_the_library_is_refused_while_the_index_does_not_match(service) -> None:  # type: ignore[no-untyped-def]
    from ui.service import IndexUnavailableError

    service._index_error = "chunks.jsonl changed"
    try:
        with pytest.raises(IndexUnavailableError):
            service.library(TODAY)
        with pytest.raises(IndexUnavailableError):
            service.document(PROTOCOL)
    finally:
        service._index_error = None


# ------------------------------------------------------------------ the chat's links


def test_each_source_links_to_its_passage_in_the_library(service) -> None:  # type: ignore[no-untyped-def]
    from ui.chat import sources_html

    answer = service.assistant.ask(QUESTION)
    assert answer.citations
    panel = sources_html(answer)
    links = [html.unescape(h) for h in re.findall(r'<a class="library-link" href="([^"]+)"', panel)]
    assert len(links) == len({c.number for c in answer.citations})
    for link, c in zip(links, _first_per_number(answer.citations), strict=True):
        url = urlparse(link)
        assert unquote(url.path) == f"/library/{c.passage.doc.id}"
        params = parse_qs(url.query)
        assert params["chunk"] == [c.passage.chunk.id] and url.fragment == "cited"
        assert params["quote"][0] in c.passage.chunk.text
    assert 'target="_blank"' in panel


def _first_per_number(citations: Sequence) -> list:  # type: ignore[type-arg]
    seen: dict[int, object] = {}
    for c in citations:
        seen.setdefault(c.number, c)
    return list(seen.values())


def test_the_chat_keeps_library_links_and_drops_look_alikes() -> None:
    from ui.chat import clean_html

    kept = '<a href="/library/icu-x?chunk=icu-x%230-10&amp;quote=a%20b#cited">x</a>'
    assert 'href="/library/icu-x?chunk=icu-x%230-10&amp;quote=a%20b#cited"' in clean_html(kept)
    for bad in (
        "//evil.example/library/x",
        "/library/x?chunk=a#elsewhere",
        "/library/../login",
        "javascript:alert(1)//library",
    ):
        assert "href" not in clean_html(f'<a href="{bad}">x</a>'), bad


def test_a_long_quote_links_to_its_whole_chunk(service) -> None:  # type: ignore[no-untyped-def]
    from ui.chat import LINK_QUOTE_CHARS, sources_html

    answer = service.assistant.ask(QUESTION)
    c = answer.citations[0]
    chunk = dataclasses.replace(
        c.passage.chunk, text=c.passage.chunk.text + " x" * LINK_QUOTE_CHARS
    )
    long = dataclasses.replace(
        c, passage=dataclasses.replace(c.passage, chunk=chunk), quote_start=0,
        quote_end=len(chunk.text),
    )  # fmt: skip
    panel = sources_html(dataclasses.replace(answer, citations=(long,)))
    (link,) = re.findall(r'<a class="library-link" href="([^"]+)"', panel)
    assert "quote=" not in link and "chunk=" in link


def test_a_source_from_a_paged_file_names_its_page(service) -> None:  # type: ignore[no-untyped-def]
    from ui.chat import sources_html

    answer = service.assistant.ask(QUESTION)
    paged = [c for c in answer.citations if c.passage.doc.meta.get("pages")]
    assert paged, "the fixture protocol (three pages) is cited"
    panel = sources_html(answer)
    for c in paged:
        assert c.page is not None and f"p. {c.page}" in panel
    assert f"p. {paged[0].page}" in answer.markdown


# ------------------------------------------------------------------ reading like a document

SECTION = """Give the loading dose **before** the infusion.
It is written over two lines.

| Weight | Dose <b> |
|---|---|
| Under 50 kg | 3 \\| 4 vials |
| 50 kg or more | 5 vials |

Before starting:
- check the platelet count
  on the day
  - again at day 5
- stop other *heparins*

1. first step
2. second step

```
Platelets low?
→ YES → stop heparin
→ NO → continue
```
"""


def test_a_section_renders_by_its_structure_not_as_markdown() -> None:
    from ui.document_html import structure_html

    out = structure_html(SECTION)
    assert "**" not in out and "| Weight" not in out and "|---" not in out and "```" not in out
    # two lines written one under the other: one paragraph, the line break kept
    assert (
        "<p>Give the loading dose <strong>before</strong> the infusion.<br>"
        "It is written over two lines.</p>"
    ) in out
    # a table with header cells; an escaped pipe stays in its cell; text stays text
    assert '<table class="doc-table"><thead><tr><th scope="col">Weight</th>' in out
    assert '<th scope="col">Dose &lt;b&gt;</th>' in out
    assert "<td>Under 50 kg</td><td>3 | 4 vials</td>" in out
    assert out.count("<tr>") == 3
    # a nested list: the wrapped item on one line, its child inside it; emphasis as a tag
    assert (
        "<ul><li>check the platelet count on the day<ul><li>again at day 5</li></ul></li>"
        "<li>stop other <em>heparins</em></li></ul>"
    ) in out
    assert '<ol><li value="1">first step</li><li value="2">second step</li></ol>' in out
    # a flowchart as drawn, without its fences
    assert (
        '<pre class="flowchart">Platelets low?\n→ YES → stop heparin\n→ NO → continue</pre>' in out
    )
    assert "<p>Before starting:</p>" in out


def test_a_cited_table_row_is_marked_cell_by_cell() -> None:
    from ui.document_html import Marker, structure_html

    row = "| 50 kg or more | 5 vials |"
    at = SECTION.index(row)
    marker = Marker(at, at + len(row), "cited")
    out = structure_html(SECTION, marker)
    assert (
        '<tr class="cited"><td><mark id="cited">50 kg or more</mark></td>'
        "<td><mark>5 vials</mark></td></tr>"
    ) in out
    assert out.count("<mark") == 2 and out.count('class="cited"') == 1
    assert "<td>Under 50 kg</td>" in out  # the row above is not marked


def test_a_passage_across_list_items_is_marked_item_by_item() -> None:
    from ui.document_html import Marker, structure_html

    start = SECTION.index("platelet count")
    end = SECTION.index("again at day 5") + len("again at day 5")
    out = structure_html(SECTION, Marker(start, end, "cited"))
    assert '<li>check the <mark id="cited">platelet count</mark> <mark>on the day</mark>' in out
    assert "<li><mark>again at day 5</mark></li>" in out
    assert out.count('id="cited"') == 1
    assert "<li>stop other <em>heparins</em></li>" in out


def test_a_quote_inside_bold_is_marked_inside_it() -> None:
    from ui.document_html import Marker, structure_html

    text = "Stop **all heparin** now."
    start = text.index("heparin")
    out = structure_html(text, Marker(start, text.index(" now"), "cited"))
    assert out == '<p>Stop <strong>all <mark id="cited">heparin</mark></strong> now.</p>'


def _table_chunk(view: DocumentView) -> Chunk:
    return next(c for s in view.sections for c in s.chunks if "Still below target" in c.text)


def test_the_document_page_shows_the_table_with_the_cited_row_marked(http, retriever) -> None:  # type: ignore[no-untyped-def]
    from ui.library_page import library_url

    chunk = _table_chunk(document_view(retriever, PROTOCOL))
    row = "| Still below target | Repeat the antithrombin dose once |"
    page = http.get(library_url(PROTOCOL, chunk.id, row).split("#")[0]).text
    assert "| Anti-Xa level |" not in page and "**" not in page
    assert '<th scope="col">Anti-Xa level</th><th scope="col">Next step</th>' in page
    assert "<td>Continue the <strong>same</strong> infusion rate</td>" in page
    cited = re.findall(r'<tr class="cited">(.*?)</tr>', page, re.S)
    assert cited == [
        '<td><mark id="cited">Still below target</mark></td>'
        "<td><mark>Repeat the antithrombin dose once</mark></td>"
    ]
    assert "<script" not in page


def test_the_document_page_says_first_that_a_review_is_overdue_or_a_draft(http) -> None:  # type: ignore[no-untyped-def]
    page = http.get(f"/library/{PROTOCOL}").text
    notice = re.search(r'<p class="notice overdue-notice" id="review-overdue">(.*?)</p>', page)
    assert notice is not None and "Review overdue since 2024-03-01" in notice.group(1)
    assert "Pharmacy and Therapeutics Committee" in notice.group(1)
    assert page.index("review-overdue") < page.index('class="document"')
    assert 'id="draft"' not in page
    draft = http.get("/library/ward-bridging-draft").text
    assert 'id="draft"' in draft and "not an approved protocol" in draft
    assert "review-overdue" not in draft  # due in 2999
    assert '<p class="notice' not in http.get("/library/argatroban-hit-guideline").text


def test_a_review_date_nobody_can_read_is_said_on_the_document_page() -> None:
    from ui.library_page import document_page

    doc = DocumentInfo("p", "P", "institution", meta={"review_by": "next spring"})
    page = document_page(DocumentView(doc, ()), None, asked=False, today=TODAY)
    assert "Review-by date “next spring” cannot be read" in page
    fine = DocumentInfo("q", "Q", "institution", meta={"review_by": "2026-06-02"})
    assert "review-overdue" not in document_page(DocumentView(fine, ()), None, False, TODAY)


def test_a_table_row_citation_links_to_its_row_not_the_rows_above(service, retriever) -> None:  # type: ignore[no-untyped-def]
    from assistant.types import Citation
    from corpus.structure import parse_structure, units
    from ui.chat import _library_link

    view = document_view(retriever, PROTOCOL)
    chunk = _table_chunk(view)
    unit = next(
        u
        for u in units(parse_structure(chunk.text), chunk.text)
        if u.kind == "table_row" and "Still below" in u.quote()
    )
    parts = tuple((p.start, p.end, p.sep) for p in unit.parts)
    # the quote's pieces reach up to the column headers, above the row before it
    assert min(a for a, _, _ in parts) < chunk.text.index("| At target")
    answer = service.assistant.ask(QUESTION)
    passage = dataclasses.replace(answer.citations[0].passage, chunk=chunk, doc=view.doc)
    c = Citation(1, passage, parts[0][0], parts[-1][1], parts)
    (link,) = re.findall(r'href="([^"]+)"', _library_link(c))
    quoted = parse_qs(urlparse(html.unescape(link)).query)["quote"][0]
    assert quoted == "| Still below target | Repeat the antithrombin dose once |"


def test_the_sources_say_a_cited_document_is_overdue(service) -> None:  # type: ignore[no-untyped-def]
    from ui.chat import sources_html

    answer = service.assistant.ask(QUESTION)
    assert any(c.passage.doc.id == PROTOCOL for c in answer.citations)
    late = sources_html(answer, TODAY)
    entries = re.findall(r'<li id="src-\d+" value="\d+"><b>(.*?)</b>(.*?)<div>', late, re.S)
    assert entries
    badge = '<span class="bedside-badge bedside-overdue">overdue since 2024-03-01</span>'
    for title, badges in entries:  # each entry of the protocol past its date, no other
        assert (badge in badges) == (title == "Heparin resistance in adult critical care")
    assert "overdue since" not in sources_html(answer, date(2024, 3, 1))


# ------------------------------------------------------------------ order and type filter


def test_local_protocols_are_listed_first_then_by_title() -> None:
    docs = [
        DocumentInfo("g", "Aspirin", "guideline"),
        DocumentInfo("z", "Zeta infusion", "institution"),
        DocumentInfo("l", "beta label", "label"),
        DocumentInfo("a", "alpha protocol", "institution"),
    ]
    entries = library_entries(_Fake(docs), TODAY)  # type: ignore[arg-type]
    assert [e.doc_id for e in entries] == ["a", "z", "g", "l"]
    assert [e.doc_id for e in filter_entries(entries, "", "institution")] == ["a", "z"]
    assert [e.doc_id for e in filter_entries(entries, "beta", "label")] == ["l"]
    assert filter_entries(entries, "beta", "institution") == []
    assert filter_entries(entries, "", "nonsense") == []


def test_the_library_is_filtered_by_source_type(http) -> None:  # type: ignore[no-untyped-def]
    page = http.get("/library").text
    rows = re.findall(r'<tr class="doc" data-doc="([^"]+)"', page)
    # local protocols first ("Bridging…" before "Heparin…"), then the guideline
    assert rows == ["ward-bridging-draft", PROTOCOL, "argatroban-hit-guideline"]
    assert '<select id="library-type" name="type">' in page
    local = http.get("/library", params={"type": "institution"}).text
    assert re.findall(r'<tr class="doc" data-doc="([^"]+)"', local) == rows[:2]
    assert '<option value="institution" selected>Local protocols</option>' in local
    assert "2 of 3 documents" in local
    api = http.get("/api/library", params={"type": "guideline"}).json()
    assert [d["doc_id"] for d in api["documents"]] == ["argatroban-hit-guideline"]
    assert api["total"] == 3
    none = http.get("/api/library", params={"type": "label", "q": "heparin"}).json()
    assert none["documents"] == []


def test_the_command_lists_one_source_type(
    index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*FAST, "library", "--index-dir", str(index_dir), "--type", "institution"]) == 0
    lines = capsys.readouterr().out.splitlines()
    ids = [line.split()[0] for line in lines[1:-1]]
    assert ids == ["ward-bridging-draft", PROTOCOL]
    assert lines[-1].startswith("2 documents")
    args = [*FAST, "library", "--index-dir", str(index_dir), "--type", "institution", "--json"]
    assert main(args) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["doc_id"] for d in data["documents"]] == ["ward-bridging-draft", PROTOCOL]
    assert main([*FAST, "library", "--index-dir", str(index_dir), "--type", "labels"]) == 1
    err = capsys.readouterr().err
    assert (
        "no document of source type 'labels'" in err and "its types: institution, guideline" in err
    )
