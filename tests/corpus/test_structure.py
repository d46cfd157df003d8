import re
from typing import Any

import pytest

from corpus.loaders.open_medicine import load_open_medicine
from corpus.loaders.pack import load_bundled_packs
from corpus.structure import (
    Flowchart,
    Heading,
    ListBlock,
    Paragraph,
    Table,
    Unit,
    parse_structure,
    units,
)
from corpus.types import Document

# The texts below use made-up words on purpose: the parser reads layout, not medicine.


def _t(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0] : span[1]]


def outline(text: str) -> list[tuple[Any, ...]]:
    """The structure as plain values, so a case can say what it expects."""
    out: list[tuple[Any, ...]] = []
    for section in parse_structure(text).sections:
        for block in section.blocks:
            if isinstance(block, Heading):
                out.append(("heading", block.level, block.title, section.path))
            elif isinstance(block, Paragraph):
                out.append(("paragraph", _t(text, block.content)))
            elif isinstance(block, ListBlock):
                items = [
                    (
                        item.depth,
                        _t(text, item.marker),
                        " / ".join(text[s:e] for s, e in item.lines),
                    )
                    for item, _ in block.walk()
                ]
                out.append(("list", _t(text, block.lead_in), block.lead_in_is_heading, items))
            elif isinstance(block, Table):
                header = [_t(text, c) for c in block.header.cells] if block.header else None
                rows = [[_t(text, c) for c in row.cells] for row in block.rows]
                out.append(("table", _t(text, block.caption), header, rows))
            elif isinstance(block, Flowchart):
                nodes = [
                    (node.depth, [" / ".join(text[s:e] for s, e in step) for step in node.steps])
                    for node, _ in block.walk()
                ]
                out.append(("flow", nodes))
    return out


STRUCTURE_CASES = [
    pytest.param(
        "# Zorblax\n## Dosing\n### Adults\ntext a\n## Renal\ntext b",
        [
            ("heading", 1, "Zorblax", ("Zorblax",)),
            ("heading", 2, "Dosing", ("Zorblax", "Dosing")),
            ("heading", 3, "Adults", ("Zorblax", "Dosing", "Adults")),
            ("paragraph", "text a"),
            ("heading", 2, "Renal", ("Zorblax", "Renal")),
            ("paragraph", "text b"),
        ],
        id="heading-paths-pop-to-the-right-level",
    ),
    pytest.param(
        "## Title ##\nbody",
        [("heading", 2, "Title", ("Title",)), ("paragraph", "body")],
        id="closing-hashes-are-not-the-title",
    ),
    pytest.param(
        "Give the plimb as follows:\n\n- first qux\n- second qux",
        [
            ("paragraph", "Give the plimb as follows:"),
            (
                "list",
                "Give the plimb as follows:",
                False,
                [(0, "-", "first qux"), (0, "-", "second qux")],
            ),
        ],
        id="bulleted-list-with-colon-lead-in",
    ),
    pytest.param(
        "## Frobs\n1. one frob\n2) two frobs",
        [
            ("heading", 2, "Frobs", ("Frobs",)),
            ("list", "Frobs", True, [(0, "1.", "one frob"), (0, "2)", "two frobs")]),
        ],
        id="numbered-list-takes-the-heading-as-lead-in",
    ),
    pytest.param(
        "1. **Step one:**\n   - nested a\n     - deeper b\n   - nested c\n2. Step two",
        [
            (
                "list",
                None,
                False,
                [
                    (0, "1.", "**Step one:**"),
                    (1, "-", "nested a"),
                    (2, "-", "deeper b"),
                    (1, "-", "nested c"),
                    (0, "2.", "Step two"),
                ],
            )
        ],
        id="nested-items-by-indentation",
    ),
    pytest.param(
        "- item one\n  *(wrapped note)*\n\n- item two",
        [("list", None, False, [(0, "-", "item one / *(wrapped note)*"), (0, "-", "item two")])],
        id="continuation-lines-and-loose-items",
    ),
    pytest.param(
        "A sentence. Another one.\n- x\n\nAfter.",
        [
            ("paragraph", "A sentence. Another one."),
            ("list", None, False, [(0, "-", "x")]),
            ("paragraph", "After."),
        ],
        id="a-paragraph-without-colon-is-no-lead-in",
    ),
    pytest.param(
        "Blorp doses:\n| Band | Bolus | Rate |\n|---|:---:|---|\n| **Low** | 1 u | 2 u/h |\n| High | 3 u |",
        [
            ("paragraph", "Blorp doses:"),
            (
                "table",
                "Blorp doses:",
                ["Band", "Bolus", "Rate"],
                [["**Low**", "1 u", "2 u/h"], ["High", "3 u"]],
            ),
        ],
        id="table-header-separator-rows-and-a-ragged-row",
    ),
    pytest.param(
        r"| Key | Value |" + "\n|---|---|\n" + r"| a \| b | c |",
        [("table", None, ["Key", "Value"], [[r"a \| b", "c"]])],
        id="escaped-pipe-stays-in-its-cell",
    ),
    pytest.param(
        "| a | b |\n| c | d |",
        [("table", None, None, [["a", "b"], ["c", "d"]])],
        id="pipe-lines-without-separator-have-no-header",
    ),
    pytest.param(
        "```\nStart quux\n  → Wug? → YES → Do blap\n      → Sub step\n  --> Other\n"
        "      wrapped line\n```",
        [
            (
                "flow",
                [
                    (0, ["Start quux"]),
                    (1, ["Wug?", "YES", "Do blap"]),
                    (2, ["Sub step"]),
                    (1, ["Other / wrapped line"]),
                ],
            )
        ],
        id="flowchart-arrows-nest-chain-and-wrap",
    ),
    pytest.param(
        "```\nTop\n  |\n  +--> Step 1: Blip?\n  |     YES --> Do it\n  |     NO --> Skip\n  |\n"
        "  +--> End\n```",
        [
            (
                "flow",
                [
                    (0, ["Top"]),
                    (1, ["Step 1: Blip?"]),
                    (2, ["YES", "Do it"]),
                    (2, ["NO", "Skip"]),
                    (1, ["End"]),
                ],
            )
        ],
        id="flowchart-drawn-with-pipes-and-yes-no-branches",
    ),
    pytest.param(
        "```\nStage 1:\n  - Blip? -> Act\n  1. Numbered\n```",
        [("flow", [(0, ["Stage 1:"]), (1, ["Blip?", "Act"]), (1, ["Numbered"])])],
        id="flowchart-with-bullets",
    ),
    pytest.param(
        "BACKGROUND: We did a thing.\nRESULTS: It worked.",
        [
            ("paragraph", "BACKGROUND: We did a thing."),
            ("paragraph", "RESULTS: It worked."),
        ],
        id="plain-text-lines-are-paragraphs",
    ),
    pytest.param(
        "Dosage:\nAdults: 5 wugs\nChildren: 2 wugs\n\nOther text.",
        [
            ("paragraph", "Dosage:"),
            (
                "list",
                "Dosage:",
                False,
                [(0, None, "Adults: 5 wugs"), (0, None, "Children: 2 wugs")],
            ),
            ("paragraph", "Other text."),
        ],
        id="plain-text-label-lead-in-with-lines",
    ),
    pytest.param(
        "> **Note:** a quoted line.",
        [("paragraph", "**Note:** a quoted line.")],
        id="quote-marker-is-not-paragraph-text",
    ),
]


@pytest.mark.parametrize(("text", "expected"), STRUCTURE_CASES)
def test_structure(text: str, expected: list[tuple[Any, ...]]) -> None:
    assert outline(text) == expected


def _quotes(text: str) -> list[tuple[str, str]]:
    return [(u.kind, u.quote()) for u in units(parse_structure(text), text)]


UNIT_CASES = [
    pytest.param(
        "## Blorp\n| Band | Bolus | Rate |\n|---|---|---|\n| **Low band** | 1 u | 2 u/h |\n"
        "| High | | 4 u/h |\n| | | |\n| Group only | | |",
        [
            ("table_row", "Low band — Bolus: 1 u; Rate: 2 u/h"),
            ("table_row", "High — Rate: 4 u/h"),
        ],
        id="table-rows-with-headers-skipping-empty-cells-and-rows",
    ),
    pytest.param(
        "| a | b |\n| c | d | e |",
        [("table_row", "a — b"), ("table_row", "c — d; e")],
        id="table-without-header",
    ),
    pytest.param(
        "## Zorb\nUse one of these:\n- **Wug** 5 u\n- Blap:\n  - twice daily\n",
        [
            ("list_item", "Use one of these — Wug 5 u"),
            ("list_item", "Use one of these — Blap — twice daily"),
        ],
        id="list-items-with-lead-in-and-parent-without-colon",
    ),
    pytest.param(
        "### *Quux* dosing\n- one wug",
        [("list_item", "Quux dosing — one wug")],
        id="heading-as-lead-in-without-marks",
    ),
    pytest.param(
        "```\nPatient with blap\n  → Wug high?\n      → YES\n          → Give zorb → recheck\n"
        "      → NO → Observe\n```",
        [
            ("flow_branch", "Patient with blap — Wug high?"),
            ("flow_branch", "Wug high? → YES — Give zorb → recheck"),
            ("flow_branch", "Wug high? — NO → Observe"),
        ],
        id="flow-branches-carry-their-condition",
    ),
    pytest.param(
        "Intro **bold** text. Second `code` one.\n> Quoted *line*.",
        [
            ("sentence", "Intro bold text."),
            ("sentence", "Second code one."),
            ("sentence", "Quoted line."),
        ],
        id="sentences-without-marks",
    ),
    pytest.param(
        "Dosage:\nAdults: 5 wugs",
        [("list_item", "Dosage — Adults: 5 wugs")],
        id="plain-text-label-lines",
    ),
    pytest.param("# Only a heading\n\n---\n", [("sentence", "---")], id="never-a-heading-alone"),
    pytest.param(
        "Wugs are round, marked with W on one side and 150\non the other side.\nThey are red.",
        [
            ("sentence", "Wugs are round, marked with W on one side and 150 on the other side."),
            ("sentence", "They are red."),
        ],
        id="a-line-going-on-in-lower-case-wraps-on",
    ),
    pytest.param(
        "The dose is:\n500 mg (two\n250 mg tablets) of wug\nTwice daily",
        [
            ("list_item", "The dose is — 500 mg (two 250 mg tablets) of wug"),
            ("list_item", "The dose is — Twice daily"),
        ],
        id="a-line-opening-a-parenthesis-wraps-on",
    ),
    pytest.param(
        "Wug 5 mg tablets\nthe other ingredients.\nBlap:\nzorb",
        [
            ("sentence", "Wug 5 mg tablets the other ingredients."),
            ("list_item", "Blap — zorb"),
        ],
        id="a-line-ending-in-a-colon-stands-alone",
    ),
]


@pytest.mark.parametrize(("text", "expected"), UNIT_CASES)
def test_unit_quotes(text: str, expected: list[tuple[str, str]]) -> None:
    assert _quotes(text) == expected


def test_unit_parts_name_where_each_piece_came_from() -> None:
    text = "| Band | Bolus |\n|---|---|\n| **Low** | 1 u |"
    (unit,) = units(parse_structure(text), text)
    assert [(text[p.start : p.end], p.role, p.sep) for p in unit.parts] == [
        ("Low", "label", ""),
        ("Bolus", "header", " — "),
        ("1 u", "cell", ": "),
    ]
    assert [text[s:e] for s, e in unit.context] == ["Bolus"]
    assert text[unit.span[0] : unit.span[1]] == "| **Low** | 1 u |"


def test_parse_is_cached_and_deterministic() -> None:
    text = "## A\n- b\n| c | d |\n|---|---|\n| e | f |"
    assert parse_structure(text) is parse_structure(text)
    assert parse_structure(text) == parse_structure(str(text + " ")[:-1])


# -- every bundled document ----------------------------------------------------------


def _bundled() -> list[Document]:
    return list(load_bundled_packs().documents) + list(load_open_medicine().documents)


BUNDLED = _bundled()
_LINE_START_MARK = re.compile(r"(?:#|>|\||[-*+][ \t]|\d{1,9}[.)][ \t])")


def _blocks_of(doc: Document) -> list[Any]:
    return list(parse_structure(doc.text).blocks)


def _element_spans(block: Any) -> list[tuple[int, int]]:
    spans = [block.span]
    if isinstance(block, ListBlock):
        for item, _ in block.walk():
            spans += [item.span, *item.lines]
    elif isinstance(block, Table):
        for row in ([block.header] if block.header else []) + list(block.rows):
            spans += [row.span, *[c for c in row.cells if c[0] < c[1]]]
    elif isinstance(block, Flowchart):
        for node, _ in block.walk():
            spans += [node.span, *[s for step in node.steps for s in step]]
    return spans


def test_the_bundled_corpus_is_there() -> None:
    ids = {d.id for d in BUNDLED}
    assert any(i.startswith("openmed:") for i in ids) and any(":" not in i for i in ids)


@pytest.mark.parametrize("doc", BUNDLED, ids=lambda d: d.id)
def test_every_span_of_a_bundled_document_is_exact(doc: Document) -> None:
    text = doc.text
    blocks = _blocks_of(doc)
    for block in blocks:
        for start, end in _element_spans(block):
            piece = text[start:end]
            assert piece and piece == piece.strip(), (block, piece)
        if isinstance(block, Table) and block.rows:
            assert block.header is not None, text[block.span[0] : block.span[1]]
    # every non-blank line belongs to exactly one block
    owner = [0] * len(text)
    for block in blocks:
        for k in range(*block.span):
            owner[k] += 1
    pos = 0
    for line in text.splitlines(keepends=True):
        marks = {owner[pos + k] for k, ch in enumerate(line) if not ch.isspace()}
        assert marks <= {1} and (marks or not line.strip()), line
        pos += len(line)


@pytest.mark.parametrize("doc", BUNDLED, ids=lambda d: d.id)
def test_every_unit_quote_of_a_bundled_document_is_clean(doc: Document) -> None:
    text = doc.text
    found = units(parse_structure(text), text)
    assert found
    for unit in found:
        quote = unit.quote()
        assert quote.strip() == quote and quote, unit
        for residue in ("**", "`", "\n"):
            assert residue not in quote, quote
        if unit.kind == "table_row":  # a pipe elsewhere can be the document's own character
            assert "|" not in quote, quote
        for k, part in enumerate(unit.parts):
            piece = text[part.start : part.end]
            assert piece and "\n" not in piece, (piece, quote)
            if part.sep or k == 0:  # a joiner never meets whitespace of the document
                assert not piece[0].isspace(), (piece, quote)
                assert k == 0 or not text[unit.parts[k - 1].end - 1].isspace(), quote
            line_start = text.rfind("\n", 0, part.start) + 1
            if not text[line_start : part.start].strip():
                # a piece opening its line must not open with a Markdown mark
                assert not _LINE_START_MARK.match(piece), (piece, quote)
        if unit.kind == "table_row":
            assert unit.context or len(unit.parts) == 1 or " — " in quote, quote
        start, end = unit.span
        assert text[start:end].strip() == text[start:end] and end > start


def test_unit_counts_over_the_bundled_corpus_cover_every_kind() -> None:
    kinds = {u.kind for d in BUNDLED for u in units(parse_structure(d.text), d.text)}
    assert kinds == {"sentence", "list_item", "table_row", "flow_branch"}


# -- quotes of real rows, items and branches, derived from the document text -----------


def _doc(doc_id: str) -> Document:
    return next(d for d in BUNDLED if d.id == doc_id)


def _unit_at(doc: Document, line_text: str, occurrence: int = 0) -> tuple[Unit, int]:
    """The unit whose span starts on the given line (its first occurrence by default)."""
    start = -1
    for _ in range(occurrence + 1):
        start = doc.text.index(line_text, start + 1)
    end = start + len(line_text)
    for unit in units(parse_structure(doc.text), doc.text):
        if start <= unit.span[0] < end:
            return unit, start
    raise AssertionError(f"no unit on {line_text!r}")


def _plain(s: str) -> str:
    return s.replace("**", "").strip()


def _cells(line: str) -> list[str]:
    return [_plain(c) for c in line.strip().strip("|").split("|")]


def _line_before(text: str, pos: int, back: int) -> str:
    """The ``back``-th non-blank line above the line holding ``pos``."""
    lines = [line for line in text[: text.rfind("\n", 0, pos)].split("\n") if line.strip()]
    return lines[-back]


def _header_above(text: str, pos: int) -> str:
    back = 1
    while not set(_line_before(text, pos, back)) <= set("|-: "):
        back += 1
    return _line_before(text, pos, back + 1)


@pytest.mark.parametrize(
    ("doc_id", "row_prefix"),
    [
        pytest.param("openmed:acg_acute_pancreatitis_2024", "| **Moderate resuscitation", id="acg"),
        pytest.param("openmed:ada_dka_hhs_2024", "| **Glucose decline**", id="ada-dka"),
        pytest.param("openmed:acg_acute_pancreatitis_2024", "| **Moderately Severe**", id="acg-2"),
    ],
)
def test_real_table_row_quotes_its_label_and_headers(doc_id: str, row_prefix: str) -> None:
    doc = _doc(doc_id)
    unit, start = _unit_at(doc, row_prefix)
    row = doc.text[start : doc.text.index("\n", start)]
    header = _header_above(doc.text, start)  # the line above the separator row
    label, *cells = _cells(row)
    heads = _cells(header)
    pairs = "; ".join(f"{h}: {c}" for h, c in zip(heads[1:], cells, strict=True) if c)
    assert unit.kind == "table_row"
    assert unit.quote() == f"{label} — {pairs}"
    assert [doc.text[s:e] for s, e in unit.context] == [
        h for h, c in zip(heads[1:], cells, strict=True) if c
    ]


def test_real_list_item_quotes_its_lead_in() -> None:
    doc = _doc("openmed:acr_ra_2021")
    lead = "For patients presenting with low disease activity, the treatment approach differs:"
    pos = doc.text.index(lead)
    first_item = doc.text[pos:].split("\n- ", 1)[1].split("\n", 1)[0]
    unit, _ = _unit_at(doc, first_item)
    assert unit.kind == "list_item"
    assert unit.quote() == f"{lead[:-1]} — {_plain(first_item)}"
    assert [(p.role, p.sep) for p in unit.parts][0] == ("lead_in", "")


def test_real_nested_item_quotes_its_parent() -> None:
    doc = _doc("openmed:acr_ra_2021")
    parent = "1. **Assess disease activity** using a validated measure (DAS28, CDAI, SDAI)"
    pos = doc.text.index(parent)
    child_line = doc.text[pos:].split("\n")[1]
    assert child_line.startswith("   - ")
    heading = _line_before(doc.text, pos, 1).lstrip("#").strip()
    unit, _ = _unit_at(doc, child_line.strip())
    assert unit.quote() == " — ".join([heading, _plain(parent[3:]), _plain(child_line.strip()[2:])])
    assert [p.role for p in unit.parts if p.sep == " — "] == ["parent", "item"]


def test_real_flowchart_branch_quotes_its_condition() -> None:
    doc = _doc("openmed:aasld_nafld_2023")
    branch = "→ FIB-4 < 1.3 → Low risk → Primary care follow-up (reassess every 1–2 years)"
    unit, start = _unit_at(doc, branch)
    parent = _line_before(doc.text, start, 1).strip()
    assert parent.startswith("→ ")
    steps = [s.strip() for s in branch.split("→") if s.strip()]
    assert unit.kind == "flow_branch"
    assert unit.quote() == f"{parent[2:]} — " + " → ".join(steps)
    assert [doc.text[p.start : p.end] for p in unit.parts if p.role == "step"] == steps


def test_a_lead_in_keeps_the_space_after_an_inline_mark() -> None:
    text = "Meets the criteria with at least **two** of the following:\n- Rate ≥ 22\n"
    quotes = [u.quote() for u in units(parse_structure(text), text)]
    assert "Meets the criteria with at least two of the following — Rate ≥ 22" in quotes
