"""`bedside reference show DRUG`: the dose reference's entries and contraindications for a
drug, and every dose the indexed corpus states for it, with sources; a product name the
corpus gives a drug finds that drug. Over a tiny hash-embedder index of
tests/fixtures/products."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ui.cli import main

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "products" / "docs.jsonl"
FAST = ["--preset", "fast"]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("products") / "index"
    assert main([*FAST, "index", "--source", f"jsonl:{DOCS}", "--index-dir", str(out)]) == 0
    return out


def _show(index_dir: Path, *args: str) -> list[str]:
    return [*FAST, "reference", "show", *args, "--index-dir", str(index_dir)]


def test_a_product_name_shows_its_drug_from_the_corpus(
    index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_show(index_dir, "Zorvex", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["drug"] == "vadadustat" and data["products"] == ["zorvex"]
    assert data["reference"] == [] and data["contraindications"] == []
    doses = [(d["doc_id"], d["dose"]) for d in data["corpus"]]
    assert doses == [
        ("zorvex-3", "300 mg every 24 h (po)"),
        ("zorvex-3", "150 mg every 24 h"),
        ("zorvex-3", "450 mg every 24 h"),
    ]


def test_a_reference_drug_shows_its_entries_and_the_corpus(
    index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_show(index_dir, "Eliquis")) == 0
    out = capsys.readouterr().out
    assert out.startswith("apixaban (names: apixaban, Eliquis")
    assert "apixaban.af.bid: 5 mg, every 12 hours, PO" in out
    assert "label-apixaban: \u201c" in out
    assert "Contraindications (1):" in out and "active_bleeding" in out
    assert "5 mg every 12 h (po) [af] - guideline-x (Anticoagulation notes)" in out


def test_an_unknown_name_is_a_clear_error(
    index_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_show(index_dir, "Blorptex")) == 1
    err = capsys.readouterr().err
    assert "'Blorptex' names no drug" in err
