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


@pytest.mark.shared
def test_no_answer_is_left_empty_in_consumer_wording(
    shared_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """MedicationQA in long consumer wording over its own documents (hash embedder): every
    answer shows a bottom line or says it abstains, with a reason; none is left empty."""
    import json

    from assistant.pipeline import Assistant
    from assistant.settings import load_settings
    from evals.wording import consumer

    docs = shared_data / "medicationqa" / "docs.jsonl"
    questions = shared_data / "medicationqa" / "questions.jsonl"
    if not (docs.is_file() and questions.is_file()):
        pytest.skip("medicationqa not found")
    home = tmp_path_factory.mktemp("mqa-home")
    assistant = Assistant.from_settings(load_settings("fast", home=home, sources=[f"jsonl:{docs}"]))
    lines = questions.read_text(encoding="utf-8").splitlines()[:60]
    for line in lines:
        record = json.loads(line)
        answer = assistant.ask(consumer(record["question"], record["id"]))
        if answer.abstained:
            assert answer.abstention_reason, record["id"]
        else:
            assert answer.bottom_line is not None, record["id"]
