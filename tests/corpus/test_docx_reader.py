"""The Word reader: a .docx built here with python-docx, read back through the structure model."""

from __future__ import annotations

import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import docx
import pytest
from docx.enum.style import WD_STYLE_TYPE
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.table import Table as WordTable
from docx.text.paragraph import Paragraph as WordParagraph

from corpus.loaders.converted import Converted, UnreadableFileError
from corpus.loaders.docx import read_docx
from corpus.structure import Heading, ListBlock, Paragraph, Table, parse_structure, units


def _numbering(paragraph: WordParagraph, num_id: str, ilvl: int) -> None:
    """Word numbering set on the paragraph itself (``w:numPr``), as the ribbon buttons do."""
    ppr = paragraph._p.get_or_add_pPr()
    numpr = OxmlElement("w:numPr")
    for tag, value in (("w:ilvl", str(ilvl)), ("w:numId", num_id)):
        child = OxmlElement(tag)
        child.set(qn("w:val"), value)
        numpr.append(child)
    ppr.append(numpr)


def _merge_note(table: WordTable) -> None:
    """Merge the last row's two cells into one that spans both columns."""
    row = table.rows[-1]
    row.cells[0].merge(row.cells[1])


@pytest.fixture(scope="module")
def protocol(tmp_path_factory: pytest.TempPathFactory) -> Path:
    document = docx.Document()
    props = document.core_properties
    props.title = "Adult sepsis protocol"
    props.created = datetime(2023, 5, 2, 9, 0, tzinfo=UTC)
    props.modified = datetime(2024, 1, 15, 16, 30, tzinfo=UTC)
    section = document.sections[0]
    section.header.paragraphs[0].text = "Ward 7 running header"
    section.footer.paragraphs[0].text = "Uncontrolled when printed - footer"

    document.add_heading("Adult sepsis", level=1)
    document.add_paragraph("Sepsis is a medical emergency.")
    document.add_heading("Antibiotics", level=2)
    document.add_paragraph("Give within one hour:")
    document.add_paragraph("Piperacillin with tazobactam", style="List Bullet")
    document.add_paragraph("Penicillin allergy: meropenem", style="List Bullet 2")
    document.add_paragraph("Gentamicin once daily", style="List Bullet")
    document.add_paragraph("Then, in this order:")
    document.add_paragraph("Take blood cultures", style="List Number")
    document.add_paragraph("Start fluids", style="List Number")
    # numbering on the paragraph itself: level 1 of the bullet list under the item above
    nested = document.add_paragraph("Reassess after each bolus", style="List Paragraph")
    _numbering(nested, "1", 1)

    document.add_heading("Dosing", level=2)
    document.add_paragraph("Before the table.")
    bold = document.add_paragraph()
    bold.add_run("Gentamicin dose bands").bold = True
    table = document.add_table(rows=4, cols=3)
    for r, row in enumerate(
        [
            ["Weight", "Dose", "Route"],
            ["Under 60 kg", "5 mg/kg | ideal body weight", "IV"],
            ["60 kg or more", "420 mg", "IV"],
            ["Seek advice", "", ""],
        ]
    ):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    # a line break inside a cell is joined with a space
    table.cell(2, 1).paragraphs[0].add_run().add_break()
    table.cell(2, 1).paragraphs[0].add_run("max 480 mg")
    _merge_note(table)
    document.add_paragraph("After the table.")

    document.add_heading("Monitoring", level=3)
    merged = document.add_table(rows=3, cols=2)
    merged.cell(0, 0).text, merged.cell(0, 1).text = "Score", "Action"
    merged.cell(1, 0).text = "NEWS 5 or more"
    merged.cell(1, 1).text = "Review within 30 minutes"
    merged.cell(2, 1).text = "Consider critical care"
    merged.cell(1, 0).merge(merged.cell(2, 0))  # the score spans two rows

    # a localised heading style: not named "Heading 1", but outline level 1 in the style
    localised = document.styles.add_style("Überschrift 1", WD_STYLE_TYPE.PARAGRAPH)
    outline = OxmlElement("w:outlineLvl")
    outline.set(qn("w:val"), "0")
    localised.element.get_or_add_pPr().append(outline)
    document.add_paragraph("Anhang", style="Überschrift 1")
    document.add_paragraph("Contact the outreach team.")

    path = tmp_path_factory.mktemp("docx") / "sepsis.docx"
    document.save(str(path))
    return path


@pytest.fixture(scope="module")
def converted(protocol: Path) -> Converted:
    return read_docx(protocol)


def _list_items(text: str) -> list[tuple[int, str]]:
    structure = parse_structure(text)
    return [
        (item.depth, " ".join(text[s:e] for s, e in item.lines))
        for block in structure.blocks
        if isinstance(block, ListBlock)
        for item, _ in block.walk()
    ]


def _tables(text: str) -> list[tuple[list[str], list[list[str]]]]:
    structure = parse_structure(text)
    out = []
    for block in structure.blocks:
        if isinstance(block, Table):
            assert block.header is not None, "every table is written with its header row"
            header = [text[s:e] for s, e in block.header.cells]
            rows = [[text[s:e] for s, e in row.cells] for row in block.rows]
            out.append((header, rows))
    return out


def test_headings_from_styles_and_outline_levels(converted: Converted) -> None:
    structure = parse_structure(converted.text)
    headings = [(b.level, b.title) for b in structure.blocks if isinstance(b, Heading)]

    assert headings == [
        (1, "Adult sepsis"),
        (2, "Antibiotics"),
        (2, "Dosing"),
        (3, "Monitoring"),
        (1, "Anhang"),
    ]


def test_lists_nested_from_list_styles_and_numbering(converted: Converted) -> None:
    assert _list_items(converted.text) == [
        (0, "Piperacillin with tazobactam"),
        (1, "Penicillin allergy: meropenem"),
        (0, "Gentamicin once daily"),
        (0, "Take blood cultures"),
        (0, "Start fluids"),
        (1, "Reassess after each bolus"),
    ]
    assert "1. Take blood cultures\n2. Start fluids" in converted.text
    assert "- Piperacillin with tazobactam" in converted.text


def test_table_keeps_its_header_rows_and_place_between_paragraphs(converted: Converted) -> None:
    tables = _tables(converted.text)
    header, rows = tables[0]

    assert header == ["Weight", "Dose", "Route"]
    assert rows == [
        ["Under 60 kg", "5 mg/kg \\| ideal body weight", "IV"],
        ["60 kg or more", "420 mg max 480 mg", "IV"],
        ["Seek advice", "", ""],  # merged across two columns: written once
    ]
    structure = parse_structure(converted.text)
    text = converted.text
    dosing = next(s for s in structure.sections if s.path[-1:] == ("Dosing",))
    kinds = [
        type(b).__name__ + ":" + text[b.span[0] : b.span[1]].split("\n")[0][:20]
        for b in dosing.blocks
    ]
    assert kinds == [
        "Heading:## Dosing",
        "Paragraph:Before the table.",
        "Paragraph:**Gentamicin dose ba",
        "Table:| Weight | Dose | Ro",
        "Paragraph:After the table.",
    ]


def test_bold_paragraph_stays_a_paragraph_and_captions_the_table(converted: Converted) -> None:
    structure = parse_structure(converted.text)
    table = next(b for b in structure.blocks if isinstance(b, Table))
    paragraphs = [b for b in structure.blocks if isinstance(b, Paragraph)]

    assert any(converted.text[slice(*p.span)] == "**Gentamicin dose bands**" for p in paragraphs)
    assert table.caption is not None
    assert converted.text[slice(*table.caption)] == "**Gentamicin dose bands**"


def test_cell_merged_down_rows_is_repeated_in_each_row(converted: Converted) -> None:
    header, rows = _tables(converted.text)[1]

    assert header == ["Score", "Action"]
    assert rows == [
        ["NEWS 5 or more", "Review within 30 minutes"],
        ["NEWS 5 or more", "Consider critical care"],
    ]


def test_table_rows_quote_with_their_headers(converted: Converted) -> None:
    quotes = [
        u.quote()
        for u in units(parse_structure(converted.text), converted.text)
        if u.kind == "table_row"
    ]

    assert "Under 60 kg — Dose: 5 mg/kg | ideal body weight; Route: IV" in quotes
    assert "NEWS 5 or more — Action: Consider critical care" in quotes


def test_headers_and_footers_are_not_body_text(converted: Converted) -> None:
    assert "running header" not in converted.text
    assert "footer" not in converted.text
    assert "Contact the outreach team." in converted.text


def test_title_and_dates_from_core_properties(converted: Converted) -> None:
    assert converted.title == "Adult sepsis protocol"
    assert converted.created == date(2023, 5, 2)
    assert converted.modified == date(2024, 1, 15)
    assert converted.pages == ()


def test_title_falls_back_to_the_first_heading(tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = ""
    document.add_paragraph("Issued by pharmacy.")
    document.add_heading("Vancomycin infusion", level=1)
    path = tmp_path / "vanc.docx"
    document.save(str(path))

    converted = read_docx(path)

    assert converted.title == "Vancomycin infusion"
    assert converted.text == "Issued by pharmacy.\n\n# Vancomycin infusion\n"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"%PDF-1.7 this is not a Word file", "not a zip package"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, "save it as .docx"),
        (None, "not a readable Word .docx"),
    ],
    ids=["not-a-zip", "legacy-doc-or-encrypted", "zip-without-a-document"],
)
def test_unreadable_file_is_named_in_a_clear_error(
    tmp_path: Path, content: bytes | None, says: str
) -> None:
    path = tmp_path / "protocol.docx"
    if content is None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "not a document")
    else:
        path.write_bytes(content)

    with pytest.raises(UnreadableFileError) as error:
        read_docx(path)

    assert error.value.path == path
    assert str(path) in str(error.value)
    assert says in str(error.value)


def test_missing_and_empty_documents_are_errors(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFileError, match="no such file"):
        read_docx(tmp_path / "absent.docx")
    empty = tmp_path / "empty.docx"
    docx.Document().save(str(empty))
    with pytest.raises(UnreadableFileError, match="no text in the document body"):
        read_docx(empty)


_NS = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml"'
)
_TRACKED = (
    f"<w:p {_NS}><w:r><w:t xml:space='preserve'>Give </w:t></w:r>"
    "<w:del w:id='1' w:author='pharmacy'><w:r><w:delText>10 mg</w:delText></w:r></w:del>"
    "<w:ins w:id='2' w:author='pharmacy'><w:r><w:t>5 mg</w:t></w:r></w:ins>"
    "<w:r><w:t xml:space='preserve'> slowly.</w:t></w:r></w:p>"
)
_TOC = (
    f"<w:sdt {_NS}><w:sdtPr><w:docPartObj><w:docPartGallery w:val='Table of Contents'/>"
    "</w:docPartObj></w:sdtPr><w:sdtContent><w:p><w:r><w:t>Contents: Doses 3</w:t></w:r></w:p>"
    "</w:sdtContent></w:sdt>"
)
_CONTROL = (
    f"<w:sdt {_NS}><w:sdtPr><w:alias w:val='Owner'/></w:sdtPr><w:sdtContent>"
    "<w:p><w:r><w:t>Owner: critical care.</w:t></w:r></w:p></w:sdtContent></w:sdt>"
)
_BOX = "<w:txbxContent><w:p><w:r><w:t>Call the outreach team.</w:t></w:r></w:p></w:txbxContent>"
_TEXT_BOX = (
    f"<w:p {_NS}><w:r><w:t>Anchor paragraph.</w:t></w:r><w:r><mc:AlternateContent>"
    f"<mc:Choice Requires='wps'><w:drawing><wps:wsp><wps:txbx>{_BOX}</wps:txbx></wps:wsp>"
    f"</w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>{_BOX}</v:textbox>"
    "</v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>"
)


def test_what_word_keeps_outside_plain_paragraphs(tmp_path: Path) -> None:
    """Tracked changes, the table of contents, content controls, text boxes, typed bullets
    and a one-column box table: each read as the reader says, or left out."""
    from docx.oxml import parse_xml

    document = docx.Document()
    document.add_heading("Heparin", level=1)
    end = document.add_paragraph("End of protocol.")._p
    for xml in (_TOC, _TRACKED, _CONTROL, _TEXT_BOX):
        end.addprevious(parse_xml(xml))
    document.add_paragraph("• Check the platelet count")
    box = document.add_table(rows=1, cols=1)
    box.cell(0, 0).paragraphs[0].add_run("Warning").bold = True
    box.cell(0, 0).add_paragraph("Never give twice", style="List Bullet")
    path = tmp_path / "heparin.docx"
    document.save(str(path))

    assert read_docx(path).text == (
        "# Heparin\n\n"
        "Give 5 mg slowly.\n\n"
        "Owner: critical care.\n\n"
        "Anchor paragraph.\n\n"
        "Call the outreach team.\n\n"
        "End of protocol.\n\n"
        "- Check the platelet count\n\n"
        "**Warning**\n\n"
        "- Never give twice\n"
    )


def test_layout_table_with_headings_is_read_as_its_blocks(tmp_path: Path) -> None:
    document = docx.Document()
    grid = document.add_table(rows=1, cols=2)
    left, right = grid.cell(0, 0), grid.cell(0, 1)
    left.paragraphs[0].text = "Potassium"
    left.paragraphs[0].style = document.styles["Heading 2"]
    left.add_paragraph("Replace orally when possible.")
    right.paragraphs[0].text = "See the table of levels."
    path = tmp_path / "layout.docx"
    document.save(str(path))

    assert read_docx(path).text == (
        "## Potassium\n\nReplace orally when possible.\n\nSee the table of levels.\n"
    )


def test_a_document_title_puts_heading_1_below_it(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("Ward heparin protocol", 0)  # the Title style
    document.add_heading("Dosing", 1)
    document.add_paragraph("Give 80 units/kg IV.")
    document.add_heading("Renal impairment", 2)
    document.add_paragraph("No change.")
    path = tmp_path / "titled.docx"
    document.save(str(path))
    text = read_docx(path).text
    structure = parse_structure(text)
    paths = [s.path for s in structure.sections if s.heading is not None]
    assert paths == [
        ("Ward heparin protocol",),
        ("Ward heparin protocol", "Dosing"),
        ("Ward heparin protocol", "Dosing", "Renal impairment"),
    ]
