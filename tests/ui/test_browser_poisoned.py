"""The chat in a real browser over a poisoned corpus (tests/fixtures/poisoned): a tracking
image, <script>, <img onerror>, javascript:/data: links, links to a foreign host, entities
and zero-width tricks in the text, titles, sections and url fields of the sources.

Every request the page makes to a host other than 127.0.0.1 is counted (and aborted): none
may be made. No script from the corpus may run: no dialog, no window flag set. No <img> or
live link from the corpus may reach the DOM; the source's own url stays a link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

DONE = re.compile(r"Review status:|⚠")
POISONED = Path(__file__).resolve().parents[1] / "fixtures" / "poisoned" / "docs.jsonl"
QUESTION = "What are the management options for heparin resistance?"
OWN = "https://guidelines.example.org/heparin"


@pytest.fixture(scope="module")
def bedside(app_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from ui.app import create_app
    from ui.feedback import FeedbackStore
    from ui.service import Service

    home = tmp_path_factory.mktemp("poisoned-serve")
    settings = load_settings("fast", home=home, sources=[f"jsonl:{POISONED}"])
    service = Service(Assistant.from_settings(settings), FeedbackStore(home / "fb.sqlite3"))
    with app_server(create_app(service, token="")) as base:
        yield base


def test_a_poisoned_corpus_makes_no_request_and_runs_nothing(browser: Any, bedside: str) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []

    def only_loopback(route: Any) -> None:
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    # Every scheme a page can fetch from; data: and blob: stay in the page.
    context.route(re.compile(r"^(?!data:|blob:)"), only_loopback)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(f"{bedside}/chat/", wait_until="load")
        page.locator("#bedside-question textarea").wait_for(timeout=60_000)
        page.locator("#bedside-question textarea").fill(QUESTION)
        page.locator("#bedside-ask").click()
        message = page.locator("#bedside-chat [data-testid='bot']").first
        expect(message).to_contain_text(DONE, timeout=120_000)
        expect(page.locator("#sources")).to_contain_text("Heparin resistance", timeout=30_000)
        page.wait_for_timeout(1500)  # give a late image or handler the time to fire

        text = message.inner_text()
        # The poisoned sentences are on the page, as text.
        assert "<script>" in text and "onerror" in text and "198.51.100.7" in text
        assert outside == []
        assert dialogs == []
        assert page.evaluate("window.__pwned") is None
        for where in ("#bedside-chat", "#sources", "#dose-check"):
            assert page.locator(f"{where} img").count() == 0, where
            assert page.locator(f"{where} script").count() == 0, where
            assert page.locator(f"{where} [onerror], {where} [onload]").count() == 0, where
        hrefs = page.eval_on_selector_all(
            "#bedside-chat a[href], #sources a[href], #dose-check a[href]",
            "els => els.map(e => e.getAttribute('href'))",
        )
        # Bedside's own links: the Sources entries, and each source's passage in the library.
        ours = re.compile(
            r"#src-\d+$|https://guidelines\.example\.org/|/library/poison%3A[a-z-]+\?chunk=[^#]+#cited$"
        )
        foreign = [h for h in hrefs if not ours.match(h)]
        assert foreign == []
        assert any(h.startswith("/library/") for h in hrefs)
        assert OWN in hrefs  # the source's own url is still a link
    finally:
        context.close()
