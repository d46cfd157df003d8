"""The curated-text measure: units read per chunk, dose units checked as quoted answers,
withheld ones listed with their rules. No share on the bundled corpus is asserted here (that
is a benchmark figure in docs/GUARD.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corpus.chunking import ChunkingSettings, chunk_documents
from corpus.loaders.pack import load_pack
from corpus.types import Chunk, Document
from evals.corpus_doses import (
    Corpus,
    DocumentUnits,
    chunk_units,
    main,
    measure,
    source_domains,
    states_dose,
)

FRONT = """---
id: {id}
title: {title}
source_type: guideline
organization: Bedside test fixtures
year: 2024
url: https://example.org/fixtures/{id}
sources:
  - "Test fixture text written for the Bedside test suite; not clinical content."
review_status: pending clinical review
last_reviewed: 2026-11-21
license: CC-BY-4.0
---
"""

# (id, title, body, units stating a dose, withheld, the block rules of the withheld unit)
CASES = [
    pytest.param(
        "no-drug-sentence",
        "Bolus practice",
        "# Bolus practice\n\n## Loading\nGive 500 mg every 12 hours after the first review.\n",
        1,
        0,
        (),
        id="dose-with-no-drug-anywhere-is-shown-as-quoted",
    ),
    pytest.param(
        "no-drug-list",
        "Bolus practice",
        "# Bolus practice\n\n## Loading\nSteps:\n- Give 500 mg every 12 hours.\n- Review daily.\n",
        1,
        0,
        (),
        id="list-item-dose-with-no-drug-is-shown-as-quoted",
    ),
    pytest.param(
        "argatroban-look-alike",
        "Argatroban in HIT",
        "# Argatroban in HIT\n\n## Dosage\nArgatroban is started at 1O mcg/kg/min.\n",
        1,
        1,
        ("DOSE_UNPARSED",),
        id="look-alike-digit-is-withheld",
    ),
    pytest.param(
        "argatroban-hundredfold",
        "Argatroban in HIT",
        "# Argatroban in HIT\n\n## Dosage\nSteps:\n- Start argatroban at 200 mcg/kg/min.\n"
        "- Review daily.\n",
        1,
        1,
        ("DOSE_RANGE",),
        id="list-item-dose-far-above-the-reference-is-withheld",
    ),
    pytest.param(
        "argatroban-start",
        "Argatroban in HIT",
        "# Argatroban in HIT\n\n## Dosage\nFor HIT, argatroban is started at 2 mcg/kg/min as "
        "a continuous IV infusion without a bolus.\n",
        1,
        0,
        (),
        id="reference-dose-quoted-is-allowed",
    ),
    pytest.param(
        "no-dose",
        "Monitoring",
        "# Monitoring\n\n## Platelets\nCount the platelets every day.\n",
        0,
        0,
        (),
        id="unit-without-a-dose-is-not-counted",
    ),
]


def _write_pack(root: Path, doc_id: str, title: str, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{doc_id}.md").write_text(FRONT.format(id=doc_id, title=title) + body, "utf-8")
    return root


def _corpus(docs: list[Document], domain: str = "pack") -> Corpus:
    chunks = chunk_documents(docs, ChunkingSettings())
    return Corpus(
        tuple(chunks),
        {d.id: d for d in docs},
        {d.id: domain for d in docs},
        {"path": "-", "digest": "-", "sources": [domain], "documents": len(docs), "chunks": 0},
    )


@pytest.mark.parametrize(("doc_id", "title", "body", "dose_units", "withheld", "rules"), CASES)
def test_each_dose_unit_is_checked_and_a_withheld_one_keeps_its_rule(
    tmp_path: Path,
    doc_id: str,
    title: str,
    body: str,
    dose_units: int,
    withheld: int,
    rules: tuple[str, ...],
) -> None:
    loaded = load_pack(_write_pack(tmp_path / "pack", doc_id, title, body))
    assert not loaded.problems
    summary, results = measure(_corpus(loaded.documents))
    pack = summary["domains"]["pack"]
    assert (pack["dose_units"], pack["withheld"]) == (dose_units, withheld)
    assert [r.rule_ids for r in results if not r.allowed] == ([rules] if withheld else [])
    for r in results:
        doc = loaded.documents[0]
        assert r.text == doc.text[r.start : r.end]  # the unit as written, one span
        assert r.answer == f"{r.text} [1]"
        assert r.chunk_id.startswith(f"{doc_id}#")
    if withheld:
        assert pack["by_rule"] == dict.fromkeys(rules, 1)
        assert all(m.startswith(rules[0]) for r in results for m in r.messages)


def test_units_of_a_chunk_are_whole_units_then_plain_sentences_of_what_is_cut() -> None:
    text = (
        "# Title\n\n## Dosing\nDoses by weight:\n- First item gives 5 mg daily.\n"
        "- Second item. It is long and gives 10 mg daily.\n"
    )
    doc = DocumentUnits.of(text)
    whole = Chunk("d#0-x", "d", text, 0, len(text))
    assert [(u.kind, text[u.span[0] : u.span[1]]) for u in chunk_units(text, whole, doc)] == [
        ("list_item", "First item gives 5 mg daily."),
        ("list_item", "Second item. It is long and gives 10 mg daily."),
    ]
    # a chunk that ends inside the second item: that item is cut, so its sentences count
    cut_at = text.index("It is long")
    cut = Chunk("d#0-c", "d", text[:cut_at], 0, cut_at)
    got = [(u.kind, text[u.span[0] : u.span[1]]) for u in chunk_units(text, cut, doc)]
    assert got == [
        ("list_item", "First item gives 5 mg daily."),
        ("plain_sentence", "Second item."),
    ]
    # heading titles and lead-ins are context, never statements of their own
    head = Chunk("d#0-h", "d", text[: text.index("- First")], 0, text.index("- First"))
    assert chunk_units(text, head, doc) == []


@pytest.mark.parametrize(
    ("text", "states"),
    [
        ("Give 500 mg every 12 hours.", True),
        ("Start enoxaparin 40 subcut daily.", True),
        ("Count the platelets every day.", False),
        ("Target an INR of 2.0 to 3.0 with warfarin.", False),
    ],
    ids=["dose", "unreadable-number-next-to-a-drug", "no-dose", "number-that-is-no-dose"],
)
def test_a_unit_states_a_dose_when_the_guard_extraction_finds_one(text: str, states: bool) -> None:
    assert states_dose(text) is states


def test_domains_are_the_sources_as_given_and_a_repeated_id_stays_with_the_first() -> None:
    def doc(i: str, kind: str) -> Document:
        return Document(i, i, "x", kind)  # type: ignore[arg-type]

    domains = source_domains(
        [
            ("pack", [doc("a", "label"), doc("b", "guideline")]),
            ("jsonl:ema.jsonl", [doc("c", "label"), doc("d", "research"), doc("a", "label")]),
        ]
    )
    assert domains == {"a": "pack", "b": "pack", "c": "jsonl:ema.jsonl", "d": "jsonl:ema.jsonl"}


def test_the_tool_runs_on_an_index_of_the_fixture_pack_and_lists_what_it_withholds(
    tmp_path: Path, fixture_pack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = tmp_path / "pack"
    pack.mkdir()
    for f in fixture_pack.glob("*.md"):
        (pack / f.name).write_text(f.read_text("utf-8"), "utf-8")
    _write_pack(pack, "argatroban-look-alike", *CASES[2].values[1:3])
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    source = f"pack:{pack}"
    assert (
        main(["--source", source, "--preset", "fast", "--out", str(out), "--markdown", str(md)])
        == 0
    )
    result = json.loads(out.read_text("utf-8"))
    domain = result["domains"][source]
    assert domain["documents"] == len(list(pack.glob("*.md")))
    assert domain["units"] > domain["dose_units"] >= domain["withheld"] >= 1
    assert result["index"]["embedder"].startswith("hash")
    listed = [w for w in result["withheld"] if w["doc_id"] == "argatroban-look-alike"]
    assert [(w["text"], w["rule_ids"]) for w in listed] == [
        ("Argatroban is started at 1O mcg/kg/min.", ["DOSE_UNPARSED"])
    ]
    assert len(result["withheld"]) == domain["withheld"]
    report = md.read_text("utf-8")
    assert "Argatroban is started at 1O mcg/kg/min." in report
    assert f"| {source} | {domain['documents']} |" in report
    # an index measured as built must still be its sources' text: a changed source is refused
    index_dir = Path(result["index"]["path"])
    (pack / "argatroban-look-alike.md").write_text(
        FRONT.format(id="argatroban-look-alike", title="Argatroban in HIT")
        + "# Changed\n\nOther.\n"
    )
    capsys.readouterr()
    assert main(["--index-dir", str(index_dir), "--preset", "fast"]) == 2
    err = capsys.readouterr().err
    assert "built from other texts than its sources" in err and "argatroban-look-alike#" in err


def test_limit_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        main(["--limit", "0"])
