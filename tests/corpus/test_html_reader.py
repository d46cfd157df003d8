"""The HTML reader: an intranet page with its chrome, read back through the structure model."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from corpus.loaders.converted import Converted, UnreadableFileError
from corpus.loaders.html import html_to_markdown, read_html
from corpus.structure import Flowchart, Heading, ListBlock, Table, parse_structure

CHROME = [
    "Trust Intranet",
    "Staff portal",
    "Home page",
    "Policies A-Z",
    "Search the intranet",
    "Clinical guidelines hub",
    "Sidebar: related links",
    "menuScript",
    "font-family",
    "Cookie notice",
    "Print this page",
    "Hidden draft text",
    "Collapsed note",
    "Contact the web team",
    "Sent with the form",
]

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Adult sepsis | Trust Intranet</title>
  <meta name="dcterms.created" content="2021-06-01T08:00:00Z">
  <meta name="dcterms.modified" content="2024-02-10">
  <style>body { font-family: sans-serif }</style>
  <script>var menuScript = "open";</script>
</head>
<body>
  <header class="site-header">
    <div class="logo">Trust Intranet</div>
    <h1>Staff portal</h1>
  </header>
  <nav><ul><li><a href="/">Home page</a></li><li><a href="/p">Policies A-Z</a></li></ul></nav>
  <div role="search"><label>Search the intranet <input name="q"></label></div>
  <div class="cookie-banner" role="banner">Cookie notice: we use cookies</div>
  <aside>Sidebar: related links</aside>
  <main>
    <ol class="breadcrumb"><li><a href="/">Home page</a></li><li>Clinical guidelines hub</li></ol>
    <article>
      <header>
        <h1>Adult&nbsp;sepsis:   initial   management</h1>
        <p>Review date: <time>March 2025</time></p>
      </header>
      <p>Sepsis is a  <strong>medical emergency</strong>;
         give antibiotics &amp; fluids within <em>one&#160;hour</em>.</p>
      <h2>Antibiotics</h2>
      <p><strong>First line:</strong></p>
      <ul>
        <li>Piperacillin with tazobactam
          <ul>
            <li>Penicillin allergy: <a href="/mero">meropenem</a></li>
            <li>Severe allergy: discuss
              <ul><li>with microbiology</li></ul>
            </li>
          </ul>
        </li>
        <li>Gentamicin<br>once daily</li>
      </ul>
      <h3>Doses</h3>
      <table>
        <thead><tr><th>Weight</th><th>Dose</th><th>Route</th></tr></thead>
        <tbody>
          <tr><td rowspan="2">Under 60 kg</td><td>5 mg/kg | ideal</td><td>IV</td></tr>
          <tr><td>max 400 mg</td><td>IV</td></tr>
          <tr><td colspan="3">Seek advice above 120 kg</td></tr>
        </tbody>
      </table>
      <h3>Escalation</h3>
      <pre>Lactate over 4?
  -&gt; YES -&gt; call critical care</pre>
      <div style="display: none">Hidden draft text</div>
      <p hidden>Collapsed note</p>
      <div aria-hidden="true">Print this page</div>
      <form action="/feedback"><p>Sent with the form</p></form>
      <button>Print this page</button>
    </article>
  </main>
  <footer><p>Contact the web team</p></footer>
</body>
</html>
"""


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Converted:
    path = tmp_path_factory.mktemp("html") / "sepsis.html"
    path.write_text(PAGE, encoding="utf-8")
    return read_html(path)


def test_no_chrome_text_is_read(converted: Converted) -> None:
    leaked = [text for text in CHROME if text in converted.text]

    assert leaked == []
    assert "Sepsis is a medical emergency" in converted.text


def test_headings_by_level(converted: Converted) -> None:
    structure = parse_structure(converted.text)

    assert [(b.level, b.title) for b in structure.blocks if isinstance(b, Heading)] == [
        (1, "Adult sepsis: initial management"),
        (2, "Antibiotics"),
        (3, "Doses"),
        (3, "Escalation"),
    ]


def test_nested_lists_keep_their_depth_and_lead_in(converted: Converted) -> None:
    text = converted.text
    lists = [b for b in parse_structure(text).blocks if isinstance(b, ListBlock)]

    assert len(lists) == 1
    assert [(i.depth, " ".join(text[s:e] for s, e in i.lines)) for i, _ in lists[0].walk()] == [
        (0, "Piperacillin with tazobactam"),
        (1, "Penicillin allergy: meropenem"),
        (1, "Severe allergy: discuss"),
        (2, "with microbiology"),
        (0, "Gentamicin once daily"),  # the <br> is a line of the item
    ]
    assert lists[0].lead_in is not None
    assert text[slice(*lists[0].lead_in)] == "**First line:**"


def test_table_header_and_spanned_cells(converted: Converted) -> None:
    text = converted.text
    tables = [b for b in parse_structure(text).blocks if isinstance(b, Table)]

    assert len(tables) == 1
    assert tables[0].header is not None
    assert [text[s:e] for s, e in tables[0].header.cells] == ["Weight", "Dose", "Route"]
    assert [[text[s:e] for s, e in row.cells] for row in tables[0].rows] == [
        ["Under 60 kg", "5 mg/kg \\| ideal", "IV"],
        ["Under 60 kg", "max 400 mg", "IV"],
        ["Seek advice above 120 kg", "", ""],
    ]


def test_pre_is_a_fenced_block(converted: Converted) -> None:
    charts = [b for b in parse_structure(converted.text).blocks if isinstance(b, Flowchart)]

    assert len(charts) == 1
    assert "```\nLactate over 4?\n  -> YES -> call critical care\n```" in converted.text


def test_text_is_whitespace_normalised_and_entities_decoded(converted: Converted) -> None:
    text = converted.text

    assert "give antibiotics & fluids within one hour." in text
    assert "Sepsis is a medical emergency; give antibiotics" in text  # source line break
    assert all("  " not in line.lstrip() for line in text.splitlines())
    assert "&amp;" not in text and "\u00a0" not in text


def test_title_and_dates(converted: Converted) -> None:
    assert converted.title == "Adult sepsis: initial management"
    assert converted.created == date(2021, 6, 1)
    assert converted.modified == date(2024, 2, 10)


def test_without_main_a_single_article_is_read() -> None:
    page = """<html><head><title>Falls policy</title>
      <meta name="last-modified" content="Tue, 05 Mar 2024 10:00:00 GMT"></head>
      <body><div class="menu">Quick links</div>
      <article><h2>Falls</h2><p>Assess every patient.</p></article>
      <div>Footer-ish text outside</div></body></html>"""

    converted = html_to_markdown(page)

    assert converted.text == "## Falls\n\nAssess every patient.\n"
    assert converted.title == "Falls policy"  # no h1: the page title
    assert converted.modified == date(2024, 3, 5)


def test_without_main_or_article_the_body_is_read_without_chrome() -> None:
    page = """<html><body><nav>Menu</nav><div><div>Line one<br>Line two</div>
      <p>Next paragraph</p></div><footer>Footer</footer></body></html>"""

    assert html_to_markdown(page).text == "Line one\nLine two\n\nNext paragraph\n"


def test_declared_charset_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "legacy.htm"
    page = '<html><head><meta charset="windows-1252"></head><body><p>Keep 2–8 °C</p></body></html>'
    path.write_bytes(page.encode("cp1252"))

    assert read_html(path).text == "Keep 2–8 °C\n"


def test_page_without_content_and_missing_file_are_errors(tmp_path: Path) -> None:
    chrome_only = tmp_path / "menu.html"
    chrome_only.write_text("<html><body><nav>Home</nav><footer>Footer</footer></body></html>")

    with pytest.raises(UnreadableFileError) as error:
        read_html(chrome_only)
    assert error.value.path == chrome_only
    assert "no text in the page" in str(error.value)
    with pytest.raises(UnreadableFileError, match="no such file"):
        read_html(tmp_path / "absent.html")


def test_layout_table_is_read_as_its_blocks() -> None:
    page = """<html><body><table><tr>
      <td><h2>Potassium</h2><p>Replace orally when possible.</p></td>
      <td><table><tr><th>Level</th><th>Dose</th></tr>
        <tr><td>3.0-3.4</td><td>40 mmol orally</td></tr></table></td>
    </tr></table></body></html>"""

    text = html_to_markdown(page).text

    assert text == (
        "## Potassium\n\nReplace orally when possible.\n\n"
        "| Level | Dose |\n|---|---|\n| 3.0-3.4 | 40 mmol orally |\n"
    )


def test_lists_of_a_page_saved_from_word_and_typed_bullets() -> None:
    page = """<html><body><p class=MsoNormal>Before transfer:</p>
      <p class=MsoListParagraphCxSpFirst style='text-indent:-18.0pt;mso-list:l0 level1 lfo1'>
      <![if !supportLists]><span style='font-family:Symbol'><span style='mso-list:Ignore'>&#183;
      <span>&nbsp;&nbsp;</span></span></span><![endif]>Check
      lactate</p>
      <p class=MsoListParagraphCxSpLast style='mso-list:l0 level2 lfo1'><![if !supportLists]>
      <span style='mso-list:Ignore'>o<span>&nbsp;</span></span><![endif]>Repeat in 2 h</p>
      <p style='mso-list:l1 level1 lfo2'><span style='mso-list:Ignore'>1.</span>Call ICU</p>
      <p>&bull; Typed bullet</p></body></html>"""
    text = html_to_markdown(page).text
    lists = [b for b in parse_structure(text).blocks if isinstance(b, ListBlock)]

    assert text.startswith("Before transfer:\n\n- Check lactate\n  - Repeat in 2 h\n1. Call ICU\n")
    assert [(i.depth, text[slice(*i.lines[0])]) for i, _ in lists[0].walk()] == [
        (0, "Check lactate"),
        (1, "Repeat in 2 h"),
        (0, "Call ICU"),
        (0, "Typed bullet"),
    ]
    assert lists[0].lead_in is not None
    assert text[slice(*lists[0].lead_in)] == "Before transfer:"


def test_text_the_pages_own_stylesheet_hides_is_not_read() -> None:
    page = (
        "<html><head><style>/* old */ .superseded { display: none }"
        " p.x, #gone { visibility: hidden }</style></head><body><main><h1>Protocol</h1>"
        "<p>Give 5 mg IV.</p><p class='superseded note'>Old draft: give 1 mg IV.</p>"
        "<p class='hidden'>Hidden by the framework's class.</p><div id='gone'>Gone.</div>"
        "<p class='x'>Hidden x.</p><p class='note'>Shown note.</p></main></body></html>"
    )
    text = html_to_markdown(page).text
    assert "Give 5 mg IV." in text and "Shown note." in text
    for hidden in ("Old draft", "framework", "Gone.", "Hidden x."):
        assert hidden not in text
