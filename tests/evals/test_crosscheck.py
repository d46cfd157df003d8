"""Dose extraction and normalisation of the pack cross-check, and one run on ../shared."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpus.loaders.pack import load_pack
from corpus.types import Document
from evals import crosscheck
from evals.crosscheck import (
    AMOUNT_ONLY,
    DRUGS,
    FOUND,
    NOT_FOUND,
    PACK,
    check_document,
    extract_quantities,
    load_real,
    normalise_number,
    occurrences,
    real_sentences,
    run,
    to_markdown,
)


def shown(sentence: str) -> list[str]:
    return [q.display for q in extract_quantities(sentence)]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Enoxaparin is given 1 mg/kg subcutaneously every 12 hours.", ["1 mg/kg every 12 h"]),
        ("Apixaban is given 2.5 mg orally twice daily.", ["2.5 mg twice daily"]),
        ("The dalteparin dose is 150 units/kg once daily.", ["150 units/kg once daily"]),
        ("Enoxaparin 40 mg once daily.", ["40 mg once daily"]),
        ("Fondaparinux is contraindicated if CrCl < 30 mL/min.", ["30 mL/min"]),
        ("Argatroban starts at 2 mcg/kg/min.", ["2 mcg/kg/min"]),
        ("Argatroban starts at 2 µg/kg/min.", ["2 mcg/kg/min"]),
        ("Argatroban starts at 2 μg / kg / min.", ["2 mcg/kg/min"]),
        ("Bivalirudin 1.75 mg/kg/h for the procedure.", ["1.75 mg/kg/h"]),
        ("Die Dosis ist 2,5 mg einmal.", ["2.5 mg"]),
        ("UFH 5,000 units IV.", ["5000 units"]),
        ("Heparin 20,000 to 40,000 units per 24 hours.", ["20000-40000 units/24 h"]),
        ("Target 2.0 mg.", ["2 mg"]),
        ("Start 12 to 24 hours after surgery.", ["12-24 h"]),
        ("Take for 32 to38 days.", ["32-38 days"]),
        ("Take within 1-4 hours.", ["1-4 h"]),
        ("Take within 1–4 hours.", ["1-4 h"]),
        (
            "The usual dose is 150 IU (1.5 mg) for every kilogram of your weight once daily.",
            ["1.5 mg/kg once daily"],
        ),
        (
            "The usual dose is 0.75 mg for every kilogram of your weight, every 12 hours.",
            ["0.75 mg/kg every 12 h"],
        ),
        (
            "Syringes of 30 and 40 mg, and 60, 80, and 100 mg.",
            ["30 mg", "40 mg", "60 mg", "80 mg", "100 mg"],
        ),
        ("Idarucizumab 5 g as two 2.5 g/50 mL vials.", ["5 g", "2.5 g/50 mL"]),
        ("Platelets below 100,000/mm3 or 150 × 10^9/L.", ["100000/mm3", "150 x10^9/L"]),
        ("Serum creatinine 1.5 mg/dL or more.", ["1.5 mg/dL"]),
        ("One tablet of Apixaban Accord2.5 mg twice a day.", ["2.5 mg twice daily"]),
        ("Give 20 mg or 40 mg of Inhixa each day.", ["20 mg", "40 mg once daily"]),
        ("A phase 3 trial of 54 patients in 2009 with INR 2.0 to 3.0 and 50% less.", []),
        ("Use 2 tablets, then 4Ts score 6.", []),
    ],
    ids=[
        "per-kg-q12h",
        "bid",
        "units-per-kg",
        "qd",
        "crcl",
        "mcg-rate",
        "micro-sign",
        "greek-mu-spaced",
        "mg-kg-h",
        "decimal-comma",
        "thousands",
        "range-per-24h",
        "trailing-zero",
        "range-to",
        "range-no-space",
        "range-hyphen",
        "range-en-dash",
        "eu-iu-mg-per-kilogram",
        "comma-before-frequency",
        "list",
        "vial-concentration",
        "platelets",
        "mg-dl",
        "glued-to-name",
        "number-between-blocks-frequency",
        "no-units",
        "counts-and-scores",
    ],
)
def test_extract_quantities(sentence: str, expected: list[str]) -> None:
    assert shown(sentence) == expected


def test_numbers_inside_a_frequency_are_not_quantities() -> None:
    assert shown("Heparin 5,000 units every 8 to 12 hours.") == ["5000 units every 8-12 h"]


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("5,000", "5000"), ("2,5", "2.5"), ("2.50", "2.5"), ("10.0", "10"), ("100,000", "100000")],
)
def test_normalise_number(raw: str, canonical: str) -> None:
    assert normalise_number(raw) == canonical


def _doc(doc_id: str, text: str) -> Document:
    return Document(id=doc_id, title=doc_id, text=text, source_type="label")


def test_check_document_found_amount_only_and_not_found() -> None:
    pack = _doc(
        "label-x",
        "- Drug X is given 5 mg orally twice daily.\n"
        "- Drug X is given 10 mg orally once daily.\n"
        "- Drug X is avoided below CrCl 15 mL/min.",
    )
    real_doc = _doc(
        "ema:x:3",
        "The recommended dose is one 5 mg tablet twice a day.\nOr one 10 mg tablet every 12 hours.",
    )
    real = occurrences(real_doc, real_sentences(real_doc.text))
    status = {r.quantity.display: r.status for r in check_document(pack, real)}
    assert status == {
        "5 mg twice daily": FOUND,
        "10 mg once daily": AMOUNT_ONLY,
        "15 mL/min": NOT_FOUND,
    }


def test_every_pack_label_document_is_in_the_drug_table() -> None:
    labels = {d.id for d in load_pack(PACK).documents if d.source_type == "label"}
    assert labels == {d.doc_id for d in DRUGS}


def test_exits_cleanly_without_shared_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(crosscheck, "SHARED", tmp_path)
    out = tmp_path / "report.md"
    assert crosscheck.main(["--out", str(out)]) == 0
    assert "shared data not found" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.shared
def test_report_on_shared_data_has_a_section_per_label_drug(shared_data: Path) -> None:
    pack = load_pack(PACK).documents
    results = run(pack, load_real(shared_data))
    report = to_markdown(results, {"ema": "test", "medicationqa": "test"})
    for doc in pack:
        if doc.source_type == "label":
            assert f"(`{doc.id}`)\n" in report, doc.id
    by_id = {r.drug.doc_id: r for r in results}
    apixaban = {r.quantity.display: r for r in by_id["label-apixaban"].rows}
    assert apixaban["5 mg twice daily"].status == FOUND
    assert apixaban["5 mg twice daily"].real is not None
    assert apixaban["5 mg twice daily"].real.doc_id == "ema:apixaban:3"
    assert not by_id["label-dalteparin"].real_ids
    assert "## Stale review notes" not in report
