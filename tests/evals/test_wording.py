"""Consumer rewording: deterministic, keeps the question and its judgments."""

from __future__ import annotations

import json
from pathlib import Path

from evals.wording import consumer, main, misspell


def test_rewording_is_deterministic_and_keeps_the_question_words() -> None:
    q = "What is the recommended dose of apixaban for atrial fibrillation?"
    a, b = consumer(q, "q1"), consumer(q, "q1")
    assert a == b and len(a) > 2 * len(q)
    assert a.count(".") + a.count("!") + a.count("?") >= 3  # several sentences
    assert "apixaban" in a  # the slip falls on one word, the others stay
    assert consumer(q, "q2") != a


def test_misspelling_changes_exactly_one_word() -> None:
    text = "How long should anticoagulation continue after surgery?"
    slipped = misspell(text, 7)
    changed = [x for x, y in zip(text.split(), slipped.split(), strict=True) if x != y]
    assert len(changed) == 1 and sorted(changed[0]) == sorted(
        next(y for x, y in zip(text.split(), slipped.split(), strict=True) if x != y)
    )


def test_file_rewording_keeps_ids_and_judgments(tmp_path: Path) -> None:
    src = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "question": "Is warfarin safe with aspirin?", "gold_doc_ids": ["d1"]},
        {"id": "b", "question": "Can I take ibuprofen with heparin?", "gold_doc_ids": []},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["--in", str(src), "--out", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [g["id"] for g in got] == ["a", "b"]
    assert [g["gold_doc_ids"] for g in got] == [["d1"], []]
    assert all(g["meta"]["original"] != g["question"] for g in got)
