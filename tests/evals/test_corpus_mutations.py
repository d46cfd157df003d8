"""The corpus mutation harness: mutants made inside the amount's span, equivalence read from
the chunk's text, and report counts that add up. No rate is asserted here (a benchmark
figure in docs/GUARD_MUTATIONS.md)."""

from __future__ import annotations

from corpus.chunking import ChunkingSettings, chunk_documents
from corpus.types import Document
from evals.corpus_doses import Corpus
from evals.corpus_mutations import (
    FAMILIES,
    Reading,
    dose_units,
    equivalence,
    mutants_of,
    run,
    sample,
    summarise,
    to_markdown,
)
from guardrails.extraction import extract
from guardrails.reference import default_reference

TABLE = default_reference()


def _doc(doc_id: str, title: str, text: str) -> Document:
    return Document(
        id=doc_id,
        title=title,
        text=text,
        source_type="guideline",
        organization="Bedside test fixtures",
        year=2024,
        url=None,
        license="CC-BY-4.0",
    )


DOCS = [
    _doc(
        "apixaban-vte",
        "Apixaban for VTE",
        "# Apixaban for VTE\n\n## Dosing\nFor treatment of DVT, apixaban 10 mg orally twice "
        "daily for 7 days, then apixaban 5 mg orally twice daily.\n\n"
        "Do not combine with rivaroxaban.\n",
    ),
    _doc(
        "heparin-table",
        "Heparin infusion",
        "# Heparin infusion\n\n## Nomogram\n| Step | Heparin dose |\n|---|---|\n"
        "| Bolus | 80 units/kg IV |\n| Infusion | 18 units/kg/h IV |\n",
    ),
    _doc(
        "enoxaparin-list",
        "Enoxaparin prophylaxis",
        "# Enoxaparin prophylaxis\n\n## Doses\nEnoxaparin doses:\n"
        "- 40 mg subcutaneously once daily for medical patients.\n"
        "- 30 mg subcutaneously every 12 hours after knee replacement.\n",
    ),
]


def _corpus(docs: list[Document]) -> Corpus:
    chunks = chunk_documents(docs, ChunkingSettings())
    return Corpus(
        tuple(chunks),
        {d.id: d for d in docs},
        {d.id: "pack" for d in docs},
        {"path": "-", "digest": "-", "sources": ["pack"], "documents": len(docs), "chunks": 0},
    )


def test_number_mutants_change_only_characters_inside_the_amount_span() -> None:
    text = "For treatment of DVT, apixaban 10 mg orally twice daily for 7 days."
    (first, *_), _ = extract(text)
    start, end = first.span
    made = mutants_of(text, text, TABLE)
    by_family: dict[str, list[str]] = {}
    for family, edit in made:
        by_family.setdefault(family, []).append(edit.text)
    assert by_family["x10"] == [text.replace("10 mg", "100 mg")]
    assert by_family["div10"] == [text.replace("10 mg", "1 mg")]
    assert sorted(by_family["lookalike"]) == sorted(
        [
            text.replace("10 mg", "1O mg"),
            text.replace("10 mg", "l0 mg"),
            text.replace("10 mg", "1\u043e mg"),
        ]
    )
    for family in ("x10", "div10", "lookalike", "unit_swap"):
        for mutated in by_family[family]:
            tail = len(text) - end
            # the text before and after the amount is the unit's own, character for character
            assert mutated[:start] == text[:start] and mutated[len(mutated) - tail :] == text[end:]
    assert by_family["frequency"] == [text.replace("twice daily", "once daily")]
    assert by_family["route"] == [text.replace("orally", "intravenously")]
    assert "7 days" in by_family["x10"][0]  # the duration is no amount


def test_a_swap_needs_a_second_drug_in_the_chunk_and_the_unit_naming_its_own() -> None:
    unit = "Apixaban 5 mg orally twice daily."
    alone = [f for f, _ in mutants_of(unit, unit, TABLE)]
    assert "drug_swap_in_passage" not in alone
    chunk = unit + " Do not combine with rivaroxaban."
    swaps = [e for f, e in mutants_of(unit, chunk, TABLE) if f == "drug_swap_in_passage"]
    assert [e.text for e in swaps] == ["rivaroxaban 5 mg orally twice daily."]


def test_equivalence_is_read_from_the_chunk_text_for_the_same_drug() -> None:
    original = Reading.of("Apixaban 5 mg orally twice daily.", TABLE)
    mutated = Reading.of("Apixaban 50 mg orally twice daily.", TABLE)
    stated = Reading.of("Apixaban 5 mg orally twice daily. Apixaban 50 mg is a tablet.", TABLE)
    other = Reading.of("Apixaban 5 mg orally twice daily. Rivaroxaban 50 mg once.", TABLE)
    silent = Reading.of("Apixaban 5 mg orally twice daily.", TABLE)
    why = equivalence("x10", original, mutated, stated)
    assert why is not None and "50 mg" in why and "apixaban" in why
    assert equivalence("x10", original, mutated, other) is None  # another drug's 50 mg
    assert equivalence("x10", original, mutated, silent) is None
    # a rewording the extractor reads the same way changes nothing
    same = Reading.of("Apixaban 5 mg orally twice a day.", TABLE)
    assert equivalence("frequency", original, same, silent) == "the extractor reads the same"
    # a frequency stated elsewhere in the chunk for the drug
    once = Reading.of("Apixaban 5 mg orally once daily.", TABLE)
    chunk = Reading.of("Apixaban 5 mg orally twice daily. Later apixaban 2.5 mg once daily.", TABLE)
    assert "every 24 h" in (equivalence("frequency", original, once, chunk) or "")
    assert equivalence("frequency", original, once, silent) is None


def test_report_counts_add_up_per_family_domain_and_unit_kind() -> None:
    corpus = _corpus(DOCS)
    controls, results = run(corpus, TABLE)
    assert len(controls) == len(dose_units(corpus)) > 0
    allowed = {(c.chunk_id, c.text) for c in controls if c.allowed}
    assert all((r.chunk_id, r.original) in allowed for r in results)
    summary = summarise(controls, results, ["pack"])
    total = summary["all"]
    assert total["mutants"] == len(results) == total["equivalent"] + total["scored"]
    assert total["scored"] == total["detected"] + total["missed"]
    for table in ("families", "domains", "kinds"):
        rows = summary[table].values()
        for key in ("mutants", "equivalent", "scored", "detected"):
            assert sum(row[key] for row in rows) == total[key], (table, key)
        for row in rows:
            assert row["mutants"] == row["equivalent"] + row["scored"]
    assert set(summary["families"]) <= set(FAMILIES)
    assert {"x10", "div10", "unit_swap", "frequency", "route", "lookalike"} <= set(
        summary["families"]
    )
    assert {"table_row", "list_item"} <= set(summary["kinds"])
    assert summary["controls"]["all"]["units"] == len(controls)
    meta = {
        "command": "python -m evals.corpus_mutations",
        "index": corpus.index | {"chunks": len(corpus.chunks)},
        "reference_digest": TABLE.digest,
        "limit_units": None,
        "seed": 0,
    }
    report = to_markdown(meta, summary, controls, results)
    missed = total["missed"]
    assert f"## Missed mutants ({missed})" in report
    assert f"## Equivalent mutants ({total['equivalent']})" in report


def test_a_sample_is_drawn_by_seed_and_kept_in_index_order() -> None:
    units = dose_units(_corpus(DOCS))
    one, again = sample(units, 2, seed=3), sample(units, 2, seed=3)
    assert one == again and len(one) == 2
    assert [units.index(u) for u in one] == sorted(units.index(u) for u in one)
    assert sample(units, None, seed=3) == units
