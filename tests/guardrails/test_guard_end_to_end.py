"""The guard where a user meets it: `bedside ask` over a small corpus, and a drug added to the
dose reference by editing YAML and a pack document only."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from corpus.loaders.pack import load_pack
from guardrails.batch import run_batch
from guardrails.reference import DATA_DIR, load_reference
from ui.cli import main
from ui.cli import main as cli_main

FAST = ["--preset", "fast"]  # hash embedder: fast and deterministic

DOCS = [
    {
        "id": "enoxaparin-dvt-note",
        "title": "Enoxaparin for deep vein thrombosis",
        "source_type": "guideline",
        "organization": "Bedside test fixtures",
        "year": 2024,
        # Test fixture text (the review's example): the dose sentence names no drug, and its
        # dose is tenfold the label's.
        "text": "Enoxaparin is the preferred LMWH for DVT treatment in adults. The recommended "
        "dose for DVT treatment is 10 mg/kg given subcutaneously every 12 hours.",
    },
    {
        "id": "warfarin-start-note",
        "title": "Warfarin",
        "source_type": "label",
        "organization": "Bedside test fixtures",
        "year": 2024,
        "text": "Warfarin is a vitamin K antagonist. The usual warfarin starting dose is 2 to 5 "
        "mg orally once daily, adjusted to the INR.",
    },
]


@pytest.fixture()
def corpus_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("\n".join(json.dumps(d) for d in DOCS) + "\n", encoding="utf-8")
    index = tmp_path / "idx"
    assert main([*FAST, "index", "--source", f"jsonl:{docs}", "--index-dir", str(index)]) == 0
    capsys.readouterr()
    return index


def test_bedside_ask_withholds_a_dose_whose_drug_is_named_in_the_sentence_before(
    corpus_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "What is the enoxaparin dose for DVT treatment?"
    assert main([*FAST, "ask", question, "--index-dir", str(corpus_index), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    shown = " ".join(s["text"] for s in answer["statements"])
    assert "10 mg/kg" not in shown
    assert "is 10 mg/kg given subcutaneously" not in answer["markdown"]  # the sentence is not shown
    withheld = [w for w in answer["withheld"] if "10 mg/kg" in w["text"]]
    assert withheld and any("enoxaparin" in r for r in withheld[0]["reasons"])
    rules = {f["rule_id"] for f in answer["verdict"]["findings"]}
    assert "DOSE_RANGE" in rules and answer["verdict"]["allowed"] is False


def test_bedside_ask_shows_the_right_dose(
    corpus_index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "What is the usual warfarin starting dose?"
    assert main([*FAST, "ask", question, "--index-dir", str(corpus_index), "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert any("2 to 5 mg" in s["text"] for s in answer["statements"]), answer["statements"]
    assert not any("2 to 5 mg" in w["text"] for w in answer["withheld"])


# ------------------------------------------------------------------ adding a drug

# A fictional drug: the fixture shows the editing steps, so its words are no clinical content.
PACK_DOC = """---
id: label-exampleparin
title: Exampleparin (Examplex) — test fixture label summary
source_type: label
organization: Bedside test fixtures
year: 2024
url: https://example.org/fixtures/exampleparin
doi: null
pmid: null
sources:
  - "Test fixture text for a fictional drug, written for the Bedside test suite; not clinical content."
review_status: pending clinical review
last_reviewed: 2026-11-21
license: CC-BY-4.0
---
# Exampleparin (Examplex) — test fixture label summary

## Dosage
- For treatment of acute DVT, exampleparin is given 150 units/kg subcutaneously once daily in patients with CrCl of 30 mL/min or more.
- For treatment of acute DVT with CrCl below 30 mL/min, exampleparin is reduced to 100 units/kg subcutaneously once daily.

## Contraindications
- Exampleparin is contraindicated in patients with a history of HIT.
"""

DRUG_YAML = """
- name: exampleparin
  names: [exampleparin, Examplex]
  drug_class: lmwh
"""

DOSE_YAML = """
- id: exampleparin.vte-treatment.daily
  drug: exampleparin
  indication: vte-treatment
  route: sc
  population: {crcl_ge: 30}
  dose: {low: 150, high: 150, unit: international_unit, per_kg: true}
  interval_h: [24]
  cite: {doc: label-exampleparin, quote: "For treatment of acute DVT, exampleparin is given 150 units/kg subcutaneously once daily in patients with CrCl of 30 mL/min or more."}
- id: exampleparin.vte-treatment.renal
  drug: exampleparin
  indication: vte-treatment
  route: sc
  population: {crcl_lt: 30}
  dose: {low: 100, high: 100, unit: international_unit, per_kg: true}
  interval_h: [24]
  cite: {doc: label-exampleparin, quote: "For treatment of acute DVT with CrCl below 30 mL/min, exampleparin is reduced to 100 units/kg subcutaneously once daily."}
"""

CONTRA_YAML = """
- id: exampleparin.hit
  drugs: [exampleparin]
  when: hit
  message: Exampleparin is contraindicated in patients with a history of HIT.
  cite: {doc: label-exampleparin, quote: "Exampleparin is contraindicated in patients with a history of HIT."}
"""


@pytest.fixture()
def added_drug(tmp_path: Path) -> tuple[Path, Path]:
    """The bundled reference copied, then edited as a clinician-informatician would: one drug,
    one dose, one renal rule and one contraindication in YAML, and the pack document they
    cite."""
    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    for name, text in (
        ("drugs", DRUG_YAML),
        ("doses", DOSE_YAML),
        ("contraindications", CONTRA_YAML),
    ):
        path = data / f"{name}.yaml"
        path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")
    pack = tmp_path / "pack"
    pack.mkdir()
    (pack / "label-exampleparin.md").write_text(PACK_DOC, encoding="utf-8")
    return data, pack


def test_added_drug_cites_its_pack_document(added_drug: tuple[Path, Path]) -> None:
    data, pack = added_drug
    table = load_reference(data)
    docs = {d.id: d.text for d in load_pack(pack).documents}
    added = [e for e in table.doses if e.drug == "exampleparin"]
    added_contra = [c for c in table.contraindications if "exampleparin" in c.drugs]
    assert len(added) == 2 and len(added_contra) == 1
    for item in [*added, *added_contra]:
        assert item.cite.quote in docs[item.cite.doc], item.id


# (id, answer, patient, rule that must fire, allowed)
ADDED = [
    ("dose-ok", "For treatment of acute DVT, Examplex 150 units/kg SC once daily.", None, "DOSE_OK", True),
    ("tenfold", "For treatment of acute DVT, exampleparin 1,500 units/kg SC once daily.", None, "DOSE_RANGE", False),
    ("renal-missed", "For treatment of acute DVT, exampleparin 150 units/kg SC once daily.",
     {"crcl_ml_min": 20}, "RENAL_ADJUSTMENT", False),
    ("renal-ok", "For treatment of acute DVT, exampleparin 100 units/kg SC once daily.",
     {"crcl_ml_min": 20}, "DOSE_OK", True),
    ("hit", "For treatment of acute DVT, exampleparin 150 units/kg SC once daily.",
     {"hit": True}, "CONTRAINDICATION", False),
    ("hit-no-dose", "Start exampleparin for the DVT.", {"hit": True}, "CONTRAINDICATION", False),
]  # fmt: skip


def test_bedside_check_enforces_the_added_drug(
    added_drug: tuple[Path, Path], tmp_path: Path
) -> None:
    """`bedside check --reference DIR` reads the edited reference directory."""
    data, _ = added_drug
    src = tmp_path / "in.jsonl"
    src.write_text(
        "\n".join(
            json.dumps({"id": i, "answer": a, **({"patient": p} if p else {})})
            for i, a, p, _, _ in ADDED
        )
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "verdicts.jsonl"
    code = cli_main(["check", "--input", str(src), "--output", str(out), "--reference", str(data)])
    assert code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(ADDED)
    verdicts = {v["id"]: v for v in map(json.loads, lines)}
    for case_id, _, _, rule, allowed in ADDED:
        v = verdicts[case_id]
        assert v["allowed"] is allowed, (case_id, v)
        assert rule in {f["rule_id"] for f in v["findings"]}, (case_id, v)
    assert sum(not v["allowed"] for v in verdicts.values()) == sum(not a for *_, a in ADDED)
    # The bundled reference does not know the drug: the same lines are not judged as above.
    bundled = io.StringIO()
    run_batch(src, bundled)
    assert json.loads(bundled.getvalue().splitlines()[0])["allowed"] is False
