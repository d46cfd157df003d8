"""`bedside check`: the guard over arbitrary answers from a JSONL file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ui.cli import main


def _write(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def test_check_writes_one_verdict_per_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(
        tmp_path / "in.jsonl",
        [
            {
                "id": "ok",
                "answer": "For HIT, argatroban is started at 2 mcg/kg/min as a continuous IV infusion.",
            },
            {
                "id": "tenfold",
                "answer": "For HIT, argatroban is started at 20 mcg/kg/min as a continuous IV infusion.",
            },
            {
                "id": "renal",
                "answer": "For treatment of acute DVT, enoxaparin 1 mg/kg subcutaneously every 12 hours.",
                "patient": {"crcl_ml_min": 20},
            },
            {
                "id": "from-question",
                "answer": "For treatment of acute DVT, enoxaparin 1 mg/kg subcutaneously every 12 hours.",
                "question": "Patient with a history of HIT and a new DVT: what dose?",
            },
            '{"id": "broken", "answer": ',
            {"id": "bad-field", "answer": "x", "patient": {"weight": 80}},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert main(["check", "--input", str(src), "--output", str(out)]) == 0
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert [v["id"] for v in verdicts] == ["ok", "tenfold", "renal", "from-question"]
    assert [v["allowed"] for v in verdicts] == [True, False, False, False]
    assert {f["rule_id"] for f in verdicts[1]["findings"]} == {"DOSE_RANGE"}
    assert "RENAL_ADJUSTMENT" in {f["rule_id"] for f in verdicts[2]["findings"]}
    assert "CONTRAINDICATION" in {f["rule_id"] for f in verdicts[3]["findings"]}
    finding = verdicts[1]["findings"][0]
    assert set(finding) == {"rule_id", "severity", "span", "message", "expected", "citation"}
    assert finding["span"]["text"] == "20 mcg/kg/min" and finding["citation"].startswith(
        "label-argatroban"
    )
    err = capsys.readouterr().err
    assert f"{src}:5: not valid JSON" in err and f"{src}:6: field 'patient.weight'" in err
    assert "checked 4 answer(s): 3 blocked, 1 allowed; 2 bad line(s) skipped" in err


def test_check_to_stdout_and_nothing_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _write(tmp_path / "in.jsonl", [{"id": "a", "answer": "No dose here."}])
    assert main(["check", "--input", str(src)]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": "a", "allowed": True, "findings": []}
    bad = _write(tmp_path / "bad.jsonl", ["nope"])
    assert main(["check", "--input", str(bad)]) == 1
    assert main(["check", "--input", str(tmp_path / "missing.jsonl")]) == 1
    assert "does not exist" in capsys.readouterr().err
