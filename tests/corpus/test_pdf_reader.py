"""The PDF reader on PDFs printed here by Debian's Chromium from HTML written here.

Every fixture is made by the session fixture below (nothing is fetched or committed); the
expected structure is read back with ``parse_structure``, as retrieval will read it.
"""

from __future__ import annotations

import base64
import io
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from corpus.loaders.converted import Converted, UnreadableFileError
from corpus.loaders.pdf import read_pdf
from corpus.structure import Heading, ListBlock, Paragraph, Table, parse_structure

CHROMIUM = Path("/usr/bin/chromium")
MARGIN = {"top": "2cm", "bottom": "2cm", "left": "2cm", "right": "2cm"}
CSS = (
    "<style>body{font-family:'DejaVu Sans',sans-serif;font-size:11pt}"
    "h1{font-size:22pt} h2{font-size:17pt} h3{font-size:13.5pt}"
    "table{border-collapse:collapse} td,th{border:1px solid #000;padding:3px 6px}</style>"
)
SENTENCE = (
    "Patients on the ward are reviewed by the nurse in charge at each handover and the "
    "findings are written in the chart before the shift ends. "
)

HEADINGS = f"""<html><head><title>Sepsis Bundle Protocol</title>{CSS}</head><body>
<h1>Sepsis bundle</h1>
<p>This protocol applies to adult inpatients with suspected sepsis. It is reviewed by the
ward pharmacist and the consultant on call every year, and after every serious incident.</p>
<h2>Recognition</h2>
<p>Screen every patient with a new fever.</p>
<h3>Red flags</h3>
<p>Any one of the following needs review within one hour:</p>
<ul><li>Systolic pressure below 90 mmHg
  <ul><li>after a fluid bolus</li><li>or a lactate above 4 mmol/L
     <ul><li>repeat lactate at two hours</li></ul></li></ul></li>
<li>Respiratory rate 22 or more</li></ul>
<h2>Treatment</h2>
<ol><li>Take blood cultures before antibiotics.</li><li>Give antibiotics within one hour.</li></ol>
<p><b>Escalation</b></p>
<p>Call the outreach team when the score is 7 or more.</p>
<h3>Handover</h3>
<div>• Check the airway</div>
<div style="padding-left:24pt">– suction if needed</div>
<div>• Check the drains</div>
<p>Before discharge:</p>
<div>a) the letter is written</div>
<div>b) the patient has the leaflet</div>
</body></html>"""

TWO_COLUMNS = f"""<html><head>{CSS}<style>.cols{{column-count:2;column-gap:40px}}</style>
</head><body><h1>Falls prevention</h1><div class="cols">
<h2>Assessment</h2><p>LEFTA {SENTENCE * 4}</p><p>LEFTB {SENTENCE * 3}</p>
<h2>Interventions</h2><p>RIGHTA {SENTENCE * 4}</p><p>RIGHTB {SENTENCE * 3}</p>
</div></body></html>"""

RUNNING = (
    f"<html><head><title>Night handover</title>{CSS}</head><body><h1>Handover at night</h1>"
    + "".join(
        f"<div style='break-before:{'auto' if i == 1 else 'page'}'><h2>Step {i}</h2>"
        f"<p>{SENTENCE * 6}</p></div>"
        for i in (1, 2, 3)
    )
    + "</body></html>"
)
HEADER = "<div style='font-size:9pt;width:100%;text-align:center'>Ward 7 night protocol</div>"
FOOTER = (
    "<div style='font-size:9pt;width:100%;text-align:center'>Page <span class='pageNumber'>"
    "</span> of <span class='totalPages'></span></div>"
)

DOSE_ROWS = "".join(
    f"<tr><td>Drug {i:02d}</td><td>{i * 5} mg</td><td>every {i % 4 + 4} hours</td></tr>"
    for i in range(1, 46)
)
LONG_TABLE = f"""<html><head><title>Dose table</title>{CSS}</head><body>
<h1>Doses</h1><p>Adult doses:</p>
<table><thead><tr><th>Drug</th><th>Dose</th><th>Interval</th></tr></thead>
<tbody>{DOSE_ROWS}</tbody></table><p>Check the weight before every dose.</p></body></html>"""

# Lists printed with no margin around them, so only a line's x tells an item's wrapped
# line from the paragraph after the list; a line break (<br>) ends a printed line at a
# chosen word: a short last line, a hyphen inside a word, a dash standing alone.
WRAPPED = f"""<html><head>{CSS}<style>ul,ol,p{{margin:0}}</style></head><body>
<h1>Heparin-<br>induced thrombocytopenia</h1>
<p>Platelets are counted before the first dose:</p>
<ul><li>LONG {SENTENCE * 2}</li>
<li>The count is repeated on day 5 because of platelet factor 4 (PF4) and<br>heparin.</li>
<li>Ask for the heparin-<br>induced antibody test and give 5 mg -<br>then stop.</li></ul>
<p>After the list at the body indent.</p>
<ol><li>NUMBERED {SENTENCE * 2}</li><li>Short.</li></ol>
<p>Weigh the patient for weight-<br>based dosing.</p>
<div style="break-before:page;height:247mm"></div>
<ul><li>ACROSS {SENTENCE * 3}</li></ul>
<p>Last paragraph.</p>
</body></html>"""


def _scan_png() -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(image)
    for y in range(40, 380, 30):  # lines of "text" as a scanner sees them
        draw.rectangle([40, y, 560, y + 12], fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@pytest.fixture(scope="session")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (.ci/run installs it with apt)")
    from playwright.sync_api import sync_playwright

    out = tmp_path_factory.mktemp("pdfs")
    scan = _scan_png()
    documents: dict[str, tuple[str, dict[str, object]]] = {
        "headings": (HEADINGS, {"margin": MARGIN}),
        "two_columns": (TWO_COLUMNS, {"margin": MARGIN}),
        "running": (
            RUNNING,
            {
                "display_header_footer": True,
                "header_template": HEADER,
                "footer_template": FOOTER,
                "margin": {"top": "2.5cm", "bottom": "2.5cm", "left": "2cm", "right": "2cm"},
            },
        ),
        "long_table": (LONG_TABLE, {"margin": MARGIN}),
        "wrapped": (WRAPPED, {"margin": MARGIN}),
        "scanned": (f"<html><body><img src='{scan}' style='width:100%'></body></html>", {}),
        "mixed": (
            f"<html><head>{CSS}</head><body><h1>Mixed file</h1><p>First page text.</p>"
            f"<div style='break-before:page'><img src='{scan}' style='width:100%'></div>"
            "<div style='break-before:page'><p>Third page text.</p></div></body></html>",
            {"margin": MARGIN},
        ),
    }
    paths = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        for name, (html, options) in documents.items():
            page.set_content(html, wait_until="load")
            paths[name] = out / f"{name}.pdf"
            page.pdf(path=str(paths[name]), format="A4", **options)  # type: ignore[arg-type]
        browser.close()
    yield paths


def _headings(c: Converted) -> list[tuple[int, str]]:
    return [(b.level, b.title) for b in parse_structure(c.text).blocks if isinstance(b, Heading)]


def _lists(c: Converted) -> list[list[tuple[int, str, str]]]:
    """Each list as (depth, marker, item text) in order."""
    text = c.text
    found = []
    for block in parse_structure(text).blocks:
        if isinstance(block, ListBlock):
            found.append(
                [
                    (
                        item.depth,
                        text[slice(*item.marker)] if item.marker else "",
                        " ".join(text[s:e] for s, e in item.lines),
                    )
                    for item, _ in block.walk()
                ]
            )
    return found


def _paragraphs(c: Converted) -> list[str]:
    return [
        c.text[slice(*b.content)]
        for b in parse_structure(c.text).blocks
        if isinstance(b, Paragraph)
    ]


def test_headings_of_three_levels_by_size_and_a_bold_line_below_them(pdfs):
    c = read_pdf(pdfs["headings"])
    assert _headings(c) == [
        (1, "Sepsis bundle"),
        (2, "Recognition"),
        (3, "Red flags"),
        (2, "Treatment"),
        (4, "Escalation"),
        (3, "Handover"),
    ]
    assert c.title == "Sepsis Bundle Protocol"  # the metadata title wins over the heading
    assert c.created is not None and abs((c.created - date.today()).days) <= 1
    assert c.modified is not None
    assert c.pages == ((0, 1),)
    assert c.notes == ()


def test_a_paragraph_over_two_lines_is_one_paragraph(pdfs):
    paragraphs = _paragraphs(read_pdf(pdfs["headings"]))
    assert paragraphs[0] == (
        "This protocol applies to adult inpatients with suspected sepsis. It is reviewed by "
        "the ward pharmacist and the consultant on call every year, and after every serious "
        "incident."
    )
    assert "Call the outreach team when the score is 7 or more." in paragraphs


def test_drawn_and_written_bullets_nest_by_indentation(pdfs):
    c = read_pdf(pdfs["headings"])
    assert _lists(c) == [
        [
            (0, "-", "Systolic pressure below 90 mmHg"),
            (1, "-", "after a fluid bolus"),
            (1, "-", "or a lactate above 4 mmol/L"),
            (2, "-", "repeat lactate at two hours"),
            (0, "-", "Respiratory rate 22 or more"),
        ],
        [
            (0, "1.", "Take blood cultures before antibiotics."),
            (0, "2.", "Give antibiotics within one hour."),
        ],
        [(0, "-", "Check the airway"), (1, "-", "suction if needed"), (0, "-", "Check the drains")],
        [(0, "-", "a) the letter is written"), (0, "-", "b) the patient has the leaflet")],
    ]
    lead_ins = [
        c.text[slice(*b.lead_in)]
        for b in parse_structure(c.text).blocks
        if isinstance(b, ListBlock) and b.lead_in
    ]
    assert lead_ins[0] == "Any one of the following needs review within one hour:"


def test_two_columns_are_read_left_column_first(pdfs):
    c = read_pdf(pdfs["two_columns"])
    structure = parse_structure(c.text)
    assert _headings(c) == [(1, "Falls prevention"), (2, "Assessment"), (2, "Interventions")]
    paragraphs = _paragraphs(c)
    assert [p.split()[0] for p in paragraphs] == ["LEFTA", "LEFTB", "RIGHTA", "RIGHTB"]
    # each paragraph whole: its sentences in order, none taken from the other column
    assert paragraphs[0] == "LEFTA " + SENTENCE * 3 + SENTENCE.strip()
    assert paragraphs[3] == "RIGHTB " + SENTENCE * 2 + SENTENCE.strip()
    by_section = {
        s.path[-1]: [
            c.text[slice(*b.content)].split()[0] for b in s.blocks if isinstance(b, Paragraph)
        ]
        for s in structure.sections
    }
    assert by_section["Assessment"] == ["LEFTA", "LEFTB"]
    assert by_section["Interventions"] == ["RIGHTA", "RIGHTB"]
    assert c.title == "Falls prevention"  # no metadata title: the first heading


def test_running_header_footer_and_page_numbers_are_left_out(pdfs):
    c = read_pdf(pdfs["running"])
    assert "Ward 7 night protocol" not in c.text
    assert "Page" not in c.text
    assert _headings(c) == [(1, "Handover at night"), (2, "Step 1"), (2, "Step 2"), (2, "Step 3")]
    assert _paragraphs(c) == [(SENTENCE * 6).strip()] * 3
    assert [page for _, page in c.pages] == [1, 2, 3]
    for step in (1, 2, 3):
        assert c.page_at(c.text.index(f"Step {step}")) == step
    assert c.text[c.pages[1][0] :].startswith("## Step 2")


def test_a_table_across_a_page_break_is_one_table_with_its_header_once(pdfs):
    c = read_pdf(pdfs["long_table"])
    tables = [b for b in parse_structure(c.text).blocks if isinstance(b, Table)]
    assert len(tables) == 1
    (table,) = tables
    assert table.header is not None
    assert [c.text[slice(*cell)] for cell in table.header.cells] == ["Drug", "Dose", "Interval"]
    rows = [[c.text[slice(*cell)] for cell in row.cells] for row in table.rows]
    assert rows == [
        [f"Drug {i:02d}", f"{i * 5} mg", f"every {i % 4 + 4} hours"] for i in range(1, 46)
    ]
    assert c.text.count("Interval") == 1
    assert [page for _, page in c.pages] == [1, 2]
    assert c.page_at(c.text.index("| Drug 01 |")) == 1
    assert c.page_at(c.text.index("| Drug 45 |")) == 2
    assert _paragraphs(c)[-1] == "Check the weight before every dose."


def test_a_list_item_is_every_line_at_its_text_indent_however_short_the_last(pdfs):
    c = read_pdf(pdfs["wrapped"])
    items = [text for block in _lists(c) for _, _, text in block]
    assert items[0] == "LONG " + SENTENCE + SENTENCE.strip()
    assert items[1] == (
        "The count is repeated on day 5 because of platelet factor 4 (PF4) and heparin."
    )
    assert items[3:5] == ["NUMBERED " + SENTENCE + SENTENCE.strip(), "Short."]
    # the paragraph right under the list, at the body indent, is not the item's last line
    assert "After the list at the body indent." in _paragraphs(c)
    assert [len(block) for block in _lists(c)] == [3, 2, 1]


def test_a_list_item_goes_on_over_a_page_break(pdfs):
    c = read_pdf(pdfs["wrapped"])
    *_, (across,) = _lists(c)
    assert across == (0, "-", "ACROSS " + SENTENCE * 2 + SENTENCE.strip())
    # the item starts at the foot of page 2 and ends on page 3, then the paragraph
    assert [page for _, page in c.pages] == [1, 2, 3]
    assert c.page_at(c.text.index("ACROSS")) == 2
    assert c.page_at(c.text.index("Last paragraph.")) == 3
    assert _paragraphs(c)[-1] == "Last paragraph."


def test_a_word_broken_after_its_hyphen_is_one_word_and_a_lone_dash_keeps_its_spaces(pdfs):
    c = read_pdf(pdfs["wrapped"])
    assert _headings(c)[0] == (1, "Heparin-induced thrombocytopenia")
    items = [text for block in _lists(c) for _, _, text in block]
    assert items[2] == "Ask for the heparin-induced antibody test and give 5 mg - then stop."
    assert "Weigh the patient for weight-based dosing." in _paragraphs(c)


def test_a_scanned_pdf_without_a_text_layer_is_refused_by_name(pdfs):
    with pytest.raises(UnreadableFileError) as caught:
        read_pdf(pdfs["scanned"])
    message = str(caught.value)
    assert str(pdfs["scanned"]) in message
    assert "no text layer" in message and "OCR" in message
    assert caught.value.path == pdfs["scanned"]


def test_an_image_only_page_among_text_pages_is_skipped_with_a_note(pdfs):
    c = read_pdf(pdfs["mixed"])
    assert c.notes == ("page 2 has no text layer (image only); not indexed",)
    assert _paragraphs(c) == ["First page text.", "Third page text."]
    assert [page for _, page in c.pages] == [1, 3]
    assert c.page_at(c.text.index("Third")) == 3


@pytest.mark.parametrize(
    "content",
    [b"this is a protocol, honestly", b"%PDF-1.7\n1 0 obj << /Type /Catalog", b""],
    ids=["not-a-pdf", "truncated", "empty"],
)
def test_a_file_that_is_not_a_readable_pdf_gives_a_clear_error(tmp_path, content):
    path = tmp_path / "protocol.pdf"
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError, match="not a readable PDF") as caught:
        read_pdf(path)
    assert str(path) in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(UnreadableFileError, match="no such file"):
        read_pdf(tmp_path / "gone.pdf")


def test_importing_the_reader_does_not_load_the_pdf_libraries():
    code = (
        "import sys, corpus, corpus.loaders.pdf; "
        "print(sorted(m for m in ('pdfplumber', 'pdfminer', 'pypdfium2') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_an_encrypted_file_is_told_apart_from_a_damaged_one():
    from corpus.loaders.pdf import _open_reason

    # PDFium's own wording for a document that needs a password
    assert "encrypted" in _open_reason(
        "Failed to load document (PDFium: Incorrect password error)."
    )
    assert "not a readable PDF" in _open_reason(
        "Failed to load document (PDFium: Data format error)."
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("D:20240315093000+01'00'", date(2024, 3, 15)),
        ("D:2024", date(2024, 1, 1)),
        ("20231130", date(2023, 11, 30)),
        ("D:20241399", None),
        ("", None),
        (None, None),
    ],
)
def test_pdf_dates(value, expected):
    from corpus.loaders.pdf import _pdf_date

    assert _pdf_date(value) == expected


def test_a_table_cell_broken_after_a_hyphen_is_one_word_again() -> None:
    from corpus.loaders.pdf import _cell

    assert _cell("Moderate hepatic impairment (Child-\nPugh B)") == (
        "Moderate hepatic impairment (Child-Pugh B)"
    )
    assert _cell("5 mg -\nthen 2 mg") == "5 mg - then 2 mg"  # a dash standing alone
    assert _cell("a |\nb") == "a \\| b" and _cell(None) == ""
