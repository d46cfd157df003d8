"""Every output of an answer over a poisoned corpus (tests/fixtures/poisoned: images,
<script>, <img onerror>, javascript:/data: links, links to foreign hosts, entities and
zero-width tricks in text, titles, sections and url fields) holds no live markup and no
link but the sources' own: the API's Markdown, the chat's message and panels, the CLI."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from assistant.pipeline import Assistant, answer_json
from assistant.settings import load_settings
from assistant.types import Answer
from ui.chat import chat_markdown, dose_check_html, sources_html
from ui.cli import main

POISONED = Path(__file__).resolve().parents[1] / "fixtures" / "poisoned" / "docs.jsonl"
QUESTION = "What are the management options for heparin resistance?"
OWN = "https://guidelines.example.org/heparin"  # the url field of the poisoned guideline
FOREIGN = "198.51.100.7"
# What a GFM renderer (marked, in the chat) would turn into a link by itself.
_AUTOLINK = re.compile(r"(?<![\\(\w])(?:https?|ftp)://|(?<![\\\w.])www\.|\w@\w")


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def assert_inert(html: str, allowed: set[str]) -> None:
    """No tag but ``allowed``, no event handler or style, links only to a Sources entry, to
    a cited passage in the library (percent-encoded, ending at its anchor), or to the
    poisoned guideline's own host."""
    for tag, attrs in tags_of(html):
        assert tag in allowed, (tag, attrs)
        assert not any(a.startswith("on") or a in ("style", "src") for a in attrs), (tag, attrs)
        href = attrs.get("href")
        if href is not None:
            assert re.fullmatch(
                r"#src-\d+|https://guidelines\.example\.org/[\w/.-]*"
                r"|/library/poison%3A[\w-]+\?chunk=[\w%.~-]+(?:&quote=[\w%.~-]+)?#cited",
                href,
            ), href


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("poisoned-home")


@pytest.fixture(scope="module")
def answer(home: Path) -> Answer:
    settings = load_settings("fast", home=home, sources=[f"jsonl:{POISONED}"])
    return Assistant.from_settings(settings).ask(QUESTION)


def test_the_answer_quotes_the_poisoned_sentences(answer: Answer) -> None:
    """The fixture reaches the output (else the checks below would prove nothing)."""
    quoted = " ".join(s.text for s in answer.statements) + (
        answer.bottom_line.text if answer.bottom_line else ""
    )
    for payload in ("![x](http://", "<script>", "onerror=", "javascript:", "data:", "&#60;img"):
        assert payload in quoted, payload
    assert "\u200b" in quoted


def test_api_markdown_has_no_live_markup(answer: Answer) -> None:
    md = answer_json(answer)["markdown"]
    assert md == answer.markdown
    html = MarkdownIt("commonmark").render(md)
    assert_inert(html, {"p", "strong", "em", "ul", "li", "h4", "a", "code", "blockquote"})
    assert not _AUTOLINK.search(re.sub(r"\]\(https://guidelines\.example\.org/[^)]*\)", "", md))
    assert "\u200b" not in md
    # The poisoned text is shown, as text.
    assert "&lt;script>" in md and FOREIGN in md
    # The source's own url is a link in References, showing the url.
    assert f'<a href="{OWN}">{OWN}</a>' in html
    refs = md[md.index("#### References") :]
    assert "javascript:window" in refs and "](javascript" not in refs


def test_chat_message_and_panels_have_no_live_markup(answer: Answer) -> None:
    message = chat_markdown(answer)
    # The chat renders the message as Markdown with HTML allowed (then DOMPurify).
    html = MarkdownIt("commonmark", {"html": True}).render(message)
    assert_inert(html, {"p", "strong", "em", "ul", "li", "h4", "a", "code", "span"})
    assert not _AUTOLINK.search(
        re.sub(r"\]\(https://guidelines\.example\.org/[^)]*\)", "", message)
    )
    assert any(a.get("href") == OWN for _, a in tags_of(html))
    sources = sources_html(answer)
    assert_inert(
        sources,
        {
            "h4",
            "ol",
            "li",
            "b",
            "div",
            "small",
            "a",
            "span",
            "blockquote",
            "p",
            "strong",
            "em",
            "code",
            "ul",
        },
    )
    assert any(a.get("href") == OWN for _, a in tags_of(sources))
    assert "&lt;script&gt;" in sources and FOREIGN in sources
    panel = dose_check_html(answer)
    assert_inert(
        panel,
        {
            "div",
            "h4",
            "p",
            "small",
            "table",
            "tr",
            "td",
            "span",
            "code",
            "q",
            "ul",
            "li",
            "strong",
            "em",
        },
    )


def test_cli_text_has_no_live_markup(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    index = home / "cli-index"
    argv = ["--preset", "fast", "ask", QUESTION, "--source", f"jsonl:{POISONED}"]
    assert main([*argv, "--index-dir", str(index)]) == 0
    out = capsys.readouterr().out
    html = MarkdownIt("commonmark").render(out)
    assert_inert(html, {"p", "strong", "em", "ul", "li", "h4", "a", "code", "blockquote"})
    assert "&lt;script>" in out and "<script" not in out and "<img" not in out
    assert f"[https\\://guidelines.example.org/heparin]({OWN})" in out
    assert main([*argv, "--index-dir", str(index), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "<script" not in data["markdown"] and "](http://" not in data["markdown"]


def test_a_setting_extends_the_link_allowlist(home: Path) -> None:
    settings = load_settings(
        "fast",
        home=home / "extended",
        sources=[f"jsonl:{POISONED}"],
        assistant={"link_hosts": [FOREIGN]},
    )
    md = Assistant.from_settings(settings).ask(QUESTION).markdown
    html = MarkdownIt("commonmark").render(md)
    # A text link to the added host is live; an image from it still is not.
    assert f'<a href="http://{FOREIGN}/heparin-resistance">' in html
    assert "<img" not in html and f"![x](http://{FOREIGN}" not in md
