"""The library in a real browser: Playwright driving Debian's Chromium against the app under
uvicorn, over the library fixture (tests/fixtures/library) with the hash embedder.

The Library page lists the documents with their status and review-by date (the protocol
past its date marked overdue); a citation's link in the chat's Sources panel opens the
cited section in a new tab with the quote marked, and the answer citing the overdue protocol
says so. Every request the browser makes to a host
other than 127.0.0.1 is aborted and counted: none may be made."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "fixtures" / "library" / "docs.jsonl"
QUESTION = "What are the management options for heparin resistance?"
DONE = re.compile(r"Review status:|⚠")


@pytest.fixture(scope="module")
def bedside(app_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from ui.app import create_app
    from ui.feedback import FeedbackStore
    from ui.service import Service

    home = tmp_path_factory.mktemp("library-serve")
    settings = load_settings("fast", home=home, sources=[f"jsonl:{LIBRARY}"])
    service = Service(Assistant.from_settings(settings), FeedbackStore(home / "fb.sqlite3"))
    with app_server(create_app(service, token="")) as base:
        yield base


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    ctx.route(re.compile(r"^(https?|wss?)://"), only_loopback)
    ctx.outside = outside
    yield ctx
    assert outside == []
    ctx.close()


def test_the_library_lists_documents_with_status_and_review_date(
    context: Any, bedside: str
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{bedside}/library", wait_until="load")
    rows = page.locator("tr.doc")
    expect(rows).to_have_count(3)
    protocol = page.locator('tr.doc[data-doc="icu-heparin-resistance"]')
    expect(protocol.locator("td.status")).to_have_text("approved")
    expect(protocol.locator("td.review")).to_contain_text("2024-03-01")
    expect(protocol.locator("td.review .overdue")).to_have_text("overdue")
    draft = page.locator('tr.doc[data-doc="ward-bridging-draft"]')
    expect(draft.locator("td.review")).to_have_text("2999-01-01")
    # Searching narrows the list (a plain form: no script on the page).
    page.locator("#library-q").fill("argatroban")
    page.locator("#library-search").click()
    page.wait_for_load_state("load")
    expect(page.locator("tr.doc")).to_have_count(1)
    expect(page.locator("tr.doc")).to_have_attribute("data-doc", "argatroban-hit-guideline")
    assert page.locator("script").count() == 0


def test_a_citation_opens_its_section_with_the_quote_marked(context: Any, bedside: str) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{bedside}/chat/", wait_until="load")
    page.locator("#bedside-question textarea").wait_for(timeout=60_000)
    expect(page.locator("#bedside-library")).to_have_attribute("href", "/library")
    page.locator("#bedside-question textarea").fill(QUESTION)
    page.locator("#bedside-ask").click()
    answer = page.locator("#bedside-chat [data-testid='bot']").first
    expect(answer).to_contain_text(DONE, timeout=60_000)
    # The cited protocol is past its review-by date: the answer says so, and which local
    # protocol it follows.
    expect(answer).to_contain_text("Review overdue since 2024-03-01")
    expect(answer).to_contain_text("Follows the local protocol")
    source = page.locator("#sources li").first
    expect(source.locator("a.library-link")).to_be_visible(timeout=30_000)
    quote = source.locator("blockquote.quote").first.inner_text().strip()
    assert quote

    with context.expect_page() as opened:
        source.locator("a.library-link").click()
    cited = opened.value
    cited.wait_for_load_state("load")
    assert urlparse(cited.url).path == "/library/icu-heparin-resistance"
    assert urlparse(cited.url).fragment == "cited"
    mark = cited.locator("mark#cited")
    expect(mark).to_have_count(1)
    assert " ".join(quote.split()) in " ".join(mark.inner_text().split())
    expect(mark).to_be_in_viewport()
    # The protocol is a paged file: the section says which page the passage is on.
    expect(cited.locator("#cited-page")).to_contain_text(
        re.compile(r"on page \d+ of icu/heparin-resistance\.pdf")
    )


def test_a_protocol_page_shows_its_table_with_the_cited_row_and_its_overdue_review(
    context: Any, bedside: str
) -> None:
    from playwright.sync_api import expect

    from ui.library_page import library_url

    page = context.new_page()
    page.goto(f"{bedside}/library/icu-heparin-resistance", wait_until="load")
    # The review is overdue: said at the top, before the document's text.
    notice = page.locator("#review-overdue")
    expect(notice).to_contain_text("Review overdue since 2024-03-01")
    expect(notice).to_be_in_viewport()
    # The cited row as a link from the chat carries it (found by its text alone here).
    row = "| Still below target | Repeat the antithrombin dose once |"
    page.goto(bedside + library_url("icu-heparin-resistance", None, row), wait_until="load")
    expect(page.locator("#review-overdue")).to_contain_text("Review overdue since 2024-03-01")
    chunk = page.locator("div.chunk.cited")
    table = chunk.locator("table.doc-table")
    expect(table).to_have_count(1)
    expect(table.locator("thead th")).to_have_text(["Anti-Xa level", "Next step"])
    expect(table.locator("tbody tr")).to_have_count(2)
    cited = table.locator("tbody tr.cited")
    expect(cited).to_have_count(1)
    expect(cited.locator("td")).to_have_text(
        ["Still below target", "Repeat the antithrombin dose once"]
    )
    expect(cited.locator("mark")).to_have_count(2)
    expect(page.locator("mark#cited")).to_have_text("Still below target")
    expect(page.locator("mark#cited")).to_be_in_viewport()
    expect(table.locator("tbody tr").first.locator("strong")).to_have_text("same")
    assert "|" not in table.inner_text() and "**" not in chunk.inner_text()
    assert page.locator("script").count() == 0
