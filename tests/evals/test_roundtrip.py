"""The round trip through PDF and Word: the renderers write what the structure model holds,
the comparison counts what a reader gives back, and two small documents come back whole
through each reader (no corpus figure is asserted: those are in docs/CORPUS.md)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from evals.roundtrip import (
    CHROMIUM,
    KINDS,
    command_line,
    compare,
    outline,
    print_pdfs,
    reader,
    render_docx,
    render_html,
    update_section,
)

# A heading tree four levels deep, a list nested three deep, an ordered list, a table
# with a header row, a bold line and a lead-in: words no pack document uses.
PROTOCOL = """# Quillwort infusion protocol

Adults on the ward receive quillwort by continuous infusion.

## Before starting

Check before the first bag:
- Baseline zanthic level
  - Repeat after 6 hours
    - Repeat daily once stable
  - Record on the chart
- Weight in kilograms

### Dose by weight

| Weight band | Loading dose | Infusion rate |
|---|---|---|
| Under 50 kg | 40 units/kg | 12 units/kg/hour |
| 50 to 90 kg | 3,000 units | 900 units/hour |
| Over 90 kg | 4,000 units | 1,200 units/hour |

#### Adjusting the rate

1. Measure the zanthic level every 6 hours.
2. Reduce by 2 units/kg/hour when above range.
3. Stop for 1 hour when far above range.

## Stopping

**Stop the infusion when:**
- bleeding appears
- the platelet count falls by half
"""

HANDOVER = """# Marrowfen handover sheet

## Night team

| Task | Who | When |
|---|---|---|
| Marrowfen level | Nurse in charge | 02:00 |
| Review chart | Registrar | 06:00 |

### Escalation

- Call the registrar
  - if the level is above 4.5
  - if the patient is drowsy
- Call the consultant after two calls

#### Footnote heading

The sheet is reviewed every year.
"""

DOCUMENTS = {"quillwort-infusion": PROTOCOL, "marrowfen-handover": HANDOVER}


def _title(text: str) -> str:
    return text.splitlines()[0].lstrip("# ")


# ------------------------------------------------------------------ the outline


def test_outline_reads_levels_depths_and_cell_roles() -> None:
    o = outline(PROTOCOL)
    assert ("4", "Adjusting the rate") in o.headings
    assert [e for e in o.list_items if e[0] == "2"] == [("2", "Repeat daily once stable")]
    assert ("0", "Reduce by 2 units/kg/hour when above range.") in o.list_items
    assert ("header", "Infusion rate") in o.table_cells
    assert ("body", "1,200 units/hour") in o.table_cells
    assert len(o.table_cells) == 12


def test_compare_counts_a_changed_depth_level_or_role_as_missed() -> None:
    changed = (
        PROTOCOL.replace("    - Repeat daily", "  - Repeat daily")  # depth 2 -> 1
        .replace("#### Adjusting", "### Adjusting")  # level 4 -> 3
        .replace("|---|---|---|\n", "")  # the header row becomes a body row
    )
    result = compare(outline(PROTOCOL), outline(changed))
    assert result["list_items"].missed == (("2", "Repeat daily once stable"),)
    assert result["list_items"].extra == (("1", "Repeat daily once stable"),)
    assert result["headings"].missed == (("4", "Adjusting the rate"),)
    assert result["table_cells"].recovered == result["table_cells"].expected - 3
    assert {e[1] for e in result["table_cells"].missed} == {
        "Weight band",
        "Loading dose",
        "Infusion rate",
    }


def test_compare_counts_an_element_written_twice_twice() -> None:
    twice = "# A\n\n- same\n- same\n"
    result = compare(outline(twice), outline("# A\n\n- same\n"))
    assert (result["list_items"].expected, result["list_items"].recovered) == (2, 1)
    assert result["list_items"].missed == (("0", "same"),)


def test_compare_reads_whitespace_and_inline_marks_as_the_same_text() -> None:
    result = compare(
        outline("# A  title\n\n- **Bold**   item\n"), outline("# A title\n\n- Bold item\n")
    )
    assert all(result[k].recovered == result[k].expected for k in KINDS)


# ------------------------------------------------------------------ the renderers


def test_html_has_each_structure_as_its_element() -> None:
    page = render_html(PROTOCOL, _title(PROTOCOL))
    assert "<h4>Adjusting the rate</h4>" in page
    assert "<th>Weight band</th>" in page and "<td>Under 50 kg</td>" in page
    assert page.count("<ul>") == 4  # the outer list, two nested levels, the last list
    assert "<ol>" in page
    assert "<strong>Stop the infusion when:</strong>" in page
    assert "**" not in page and "|" not in page


def test_docx_uses_heading_list_and_table_styles(tmp_path: Path) -> None:
    import docx

    path = tmp_path / "quillwort.docx"
    render_docx(PROTOCOL, _title(PROTOCOL), path)
    document = docx.Document(str(path))
    styled = [(p.style.name, p.text) for p in document.paragraphs]
    assert ("Heading 4", "Adjusting the rate") in styled
    assert ("List Bullet 3", "Repeat daily once stable") in styled
    assert ("List Bullet 2", "Record on the chart") in styled
    assert ("List Number", "Measure the zanthic level every 6 hours.") in styled
    table = document.tables[0]
    assert [c.text for c in table.rows[0].cells] == ["Weight band", "Loading dose", "Infusion rate"]
    assert table.rows[0].cells[0].paragraphs[0].runs[0].bold
    assert b"w:tblHeader" in zipfile.ZipFile(path).read("word/document.xml")
    assert document.core_properties.title == "Quillwort infusion protocol"


def test_the_command_shown_hides_the_output_folder() -> None:
    assert command_line(["--only", "structure", "--out", "/tmp/x", "--json=/tmp/y.json"]) == (
        "python -m evals.roundtrip --only structure --out DIR --json=FILE"
    )


def test_update_section_replaces_only_its_own_section(tmp_path: Path) -> None:
    path = tmp_path / "CORPUS.md"
    path.write_text(
        "# Corpus\n\n## Readers\n\nkept\n\n## Round trip\n\nold\n\n## Later\n\nalso kept\n"
    )
    update_section(path, "Round trip", "## Round trip\n\nnew\n\n### Detail\n\nfigures\n")
    text = path.read_text()
    assert "old" not in text and "new" in text and "### Detail" in text
    assert text.index("kept") < text.index("new") < text.index("also kept")
    update_section(tmp_path / "absent.md", "Round trip", "## Round trip\n\nfirst\n")
    assert (tmp_path / "absent.md").read_text() == "# Corpus\n\n## Round trip\n\nfirst\n"


# ------------------------------------------------------------------ through the readers


def _read_back(
    fmt: str, tmp_path: Path
) -> dict[str, dict[str, tuple[int, int, tuple[object, ...]]]]:
    read = reader(fmt)
    if read is None:
        pytest.skip(f"the {fmt} reader (corpus.loaders.{fmt}) is not in this checkout")
    if fmt == "pdf":
        if not CHROMIUM.exists():
            pytest.skip("Debian chromium is not installed (.ci/run installs it with apt)")
        print_pdfs(
            [(render_html(t, _title(t)), tmp_path / f"{n}.pdf") for n, t in DOCUMENTS.items()]
        )
    else:
        for name, text in DOCUMENTS.items():
            render_docx(text, _title(text), tmp_path / f"{name}.docx")
    out = {}
    for name, text in DOCUMENTS.items():
        result = compare(outline(text), outline(read(tmp_path / f"{name}.{fmt}").text))
        out[name] = {k: (r.recovered, r.expected, r.missed) for k, r in result.items()}
    return out


@pytest.mark.parametrize("fmt", ["pdf", "docx"])
def test_reader_recovers_the_whole_structure(fmt: str, tmp_path: Path) -> None:
    for name, result in _read_back(fmt, tmp_path).items():
        for kind, (recovered, expected, missed) in result.items():
            assert expected > 0, (name, kind)
            assert recovered == expected, f"{fmt} {name} {kind}: missed {missed}"


# A list item long enough to wrap onto a third printed line, and a word hyphenated in the
# text ("platelet-activating") that may fall at the end of a printed line.
WRAPPED = "# Wrapped items\n\n## Notes\n\n" + "".join(
    f"- Item {n}: " + "the platelet-activating antibody is measured again " * (n + 3) + "at last.\n"
    for n in range(4)
)


@pytest.mark.parametrize("fmt", ["pdf", "docx"])
def test_reader_recovers_wrapped_list_items(fmt: str, tmp_path: Path) -> None:
    read = reader(fmt)
    if read is None:
        pytest.skip(f"the {fmt} reader (corpus.loaders.{fmt}) is not in this checkout")
    if fmt == "pdf":
        if not CHROMIUM.exists():
            pytest.skip("Debian chromium is not installed (.ci/run installs it with apt)")
        print_pdfs([(render_html(WRAPPED, "Wrapped items"), tmp_path / "w.pdf")])
    else:
        render_docx(WRAPPED, "Wrapped items", tmp_path / "w.docx")
    result = compare(outline(WRAPPED), outline(read(tmp_path / f"w.{fmt}").text))
    assert result["list_items"].expected == 4
    assert result["list_items"].recovered == 4, result["list_items"].missed
