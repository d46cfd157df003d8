"""The shared question sets load as `bedside eval` sets, and each names its cached index."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.runner import corpus_name, load_sets

SETS = ("bioasq", "pubmedqa", "medicationqa", "kqa")


@pytest.mark.shared
@pytest.mark.parametrize("name", SETS)
def test_shared_question_set_loads_without_problems(shared_data: Path, name: str) -> None:
    path = shared_data / name / "questions.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    (qs,) = load_sets([path], limit=5)
    assert qs.name == name
    assert qs.problems == ()
    assert len(qs.questions) == 5 and qs.total > 5
    assert len(qs.sha256) == 64


def test_corpus_names_match_the_cached_eval_indexes() -> None:
    assert corpus_name(["pack", "open-medicine"]) == "default-corpus"
    assert corpus_name(["jsonl:../shared/data/bioasq/docs.jsonl"]) == "bioasq"
    two = corpus_name(["jsonl:a/docs.jsonl", "pack"])
    assert two.startswith("sources-") and two == corpus_name(["pack", "jsonl:a/docs.jsonl"])
