"""The Markdown writer the file readers share: the layout the structure parser reads back."""

from __future__ import annotations

from corpus.loaders.blocks import MarkdownWriter, escape_cell, normalise_space
from corpus.structure import Flowchart, ListBlock, Table, parse_structure


def test_whitespace_and_invisible_characters() -> None:
    assert (
        normalise_space("  5\u00a0mg\u2009/ kg \n\t every\u200b 12 h\u00ad ")
        == "5 mg / kg every 12 h"
    )
    assert escape_cell("a | b\nc") == "a \\| b c"


def test_blocks_are_separated_and_a_list_is_one_block() -> None:
    writer = MarkdownWriter()
    writer.heading(9, "  Deep   heading ")
    writer.paragraph("Line one\nLine two")
    writer.item(0, "First", ordered=True, start=3)
    writer.item(3, "Too deep\nwrapped", ordered=False)  # one level below the item above
    writer.item(0, "Second", ordered=True)
    writer.item(0, "Bullet after numbers", ordered=False)
    writer.heading(2, " ")  # no text, no heading

    assert writer.first_heading == "Deep heading"
    assert writer.text() == (
        "###### Deep heading\n\n"
        "Line one\nLine two\n\n"
        "3. First\n"
        "  - Too deep\n"
        "    wrapped\n"
        "4. Second\n"
        "- Bullet after numbers\n"
    )
    lists = [b for b in parse_structure(writer.text()).blocks if isinstance(b, ListBlock)]
    assert [item.depth for item, _ in lists[0].walk()] == [0, 1, 0, 0]


def test_table_rows_are_padded_and_empty_rows_dropped() -> None:
    writer = MarkdownWriter()
    writer.table([["Drug", "Dose"], ["", ""], ["Heparin | UFH", "80 units/kg", "bolus"]])
    text = writer.text()

    assert text == "| Drug | Dose | |\n|---|---|---|\n| Heparin \\| UFH | 80 units/kg | bolus |\n"
    table = next(b for b in parse_structure(text).blocks if isinstance(b, Table))
    assert table.header is not None and len(table.rows) == 1


def test_code_fence_outgrows_a_fence_inside_it() -> None:
    writer = MarkdownWriter()
    writer.code("\n\nShock?\n```\n\t-> fluids   \n\n")
    text = writer.text()

    assert text == "````\nShock?\n```\n    -> fluids\n````\n"
    assert any(isinstance(b, Flowchart) for b in parse_structure(text).blocks)


def test_nothing_written_is_empty_text() -> None:
    writer = MarkdownWriter()
    writer.paragraph(" \n ")
    writer.table([["", ""]])
    writer.code("   ")

    assert writer.text() == ""
