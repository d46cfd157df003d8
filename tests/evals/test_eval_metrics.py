"""Metric functions against hand-computed examples (evals/metrics.py, evals/answer_metrics.py)
and the per-set aggregation of evals/runner.py over hand-made result records."""

from __future__ import annotations

import math
from typing import Any

import pytest

from assistant.types import Answer, Statement
from evals.answer_metrics import covers, must_have_coverage, precision_recall, yes_no_maybe
from evals.metrics import (
    dcg_at_k,
    dedupe_scored,
    gains,
    liveqa_score,
    ndcg_at_k,
    percentile,
    recall_at_k,
    reciprocal_rank,
    relevant,
)
from evals.runner import summarise_set
from guardrails.types import Verdict

LOG2_3 = math.log2(3)


def test_recall_and_reciprocal_rank() -> None:
    ranked = ["a", "b", "c"]
    assert recall_at_k(ranked, {"b", "d"}, 1) == 0.0
    assert recall_at_k(ranked, {"b", "d"}, 2) == 0.5
    assert recall_at_k(ranked, set(), 3) == 0.0  # no gold: 0, never a division by zero
    assert reciprocal_rank(ranked, {"b", "d"}) == 0.5
    assert reciprocal_rank(ranked, {"c"}, k=2) == 0.0  # outside the cutoff


def test_chunk_hits_collapse_to_documents_with_their_best_score() -> None:
    hits = [("a", 0.9), ("b", 0.8), ("a", 0.7), ("c", 0.6)]
    assert dedupe_scored(hits) == [("a", 0.9), ("b", 0.8), ("c", 0.6)]


def test_ndcg_binary_gold() -> None:
    # gold {b, d}; ranked a b c: DCG = 1/log2(3); ideal = 1 + 1/log2(3)
    value = ndcg_at_k(["a", "b", "c"], gains({"b", "d"}), 10)
    assert value == pytest.approx((1 / LOG2_3) / (1 + 1 / LOG2_3))
    assert value == pytest.approx(0.386853, abs=1e-6)


def test_ndcg_graded_qrels_unjudged_count_zero() -> None:
    qrels = {"a": 3, "c": 2, "e": 1, "b": 0}
    gain = gains([], qrels)
    assert relevant([], qrels) == {"a", "c", "e"}  # grade 0 is judged not relevant
    # a=3 at 1, b=0 at 2, c=2 at 3, d unjudged at 4: DCG = 3 + 0 + 2/2 + 0 = 4
    assert dcg_at_k(["a", "b", "c", "d"], gain, 4) == pytest.approx(4.0)
    # ideal 3, 2, 1: 3 + 2/log2(3) + 1/2
    ideal = 3 + 2 / LOG2_3 + 0.5
    assert ndcg_at_k(["a", "b", "c", "d"], gain, 4) == pytest.approx(4 / ideal)
    assert ndcg_at_k(["a", "b", "c", "d"], gain, 4) == pytest.approx(0.840007, abs=1e-6)
    assert ndcg_at_k(["x", "y"], gain, 10) == 0.0  # nothing judged retrieved
    assert ndcg_at_k(["a"], gains([], {"a": 0}), 10) == 0.0  # no positive judgment at all


def test_ndcg_ties_average_the_gain_of_the_tied_group() -> None:
    gain = gains({"z"})
    scores = [0.9, 0.5, 0.5]
    # y and z tie at ranks 2-3: each rank gets the mean gain 0.5
    expected = 0.5 / LOG2_3 + 0.5 / 2
    assert ndcg_at_k(["x", "y", "z"], gain, 10, scores) == pytest.approx(expected)
    assert ndcg_at_k(["x", "z", "y"], gain, 10, scores) == pytest.approx(expected)
    # without scores, the arbitrary order of the tie decides
    assert ndcg_at_k(["x", "y", "z"], gain, 10) == pytest.approx(0.5)
    assert ndcg_at_k(["x", "z", "y"], gain, 10) == pytest.approx(1 / LOG2_3)
    # a tie straddling the cutoff: only its ranks inside the top k count
    assert ndcg_at_k(["x", "y", "z"], gain, 2, scores) == pytest.approx(0.5 / LOG2_3)
    with pytest.raises(ValueError):
        dcg_at_k(["x", "y"], gain, 2, [0.1])


def test_liveqa_score_is_grade_minus_one_of_the_top_document() -> None:
    qrels = {"a": 4, "b": 1}
    assert liveqa_score("a", qrels) == 3.0
    assert liveqa_score("b", qrels) == 0.0
    assert liveqa_score("c", qrels) == 0.0  # unjudged
    assert liveqa_score(None, qrels) == 0.0  # no answer


def test_percentile_interpolates_like_numpy() -> None:
    assert percentile([4, 1, 3, 2], 50) == pytest.approx(2.5)
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([], 95) == 0.0


@pytest.mark.parametrize(
    ("statement", "answer", "covered"),
    [
        ("Argatroban is started at 2 mcg/kg/min", "Start argatroban at 2 mcg/kg/min IV.", True),
        ("Argatroban is started at 2 mcg/kg/min", "Start argatroban at 0.5 mcg/kg/min.", False),
        ("Check the platelet count daily", "Warfarin is monitored with the INR.", False),
        # known blind spot: negation is not seen
        ("Give warfarin with heparin", "Do not give warfarin with heparin.", True),
    ],
    ids=["terms-and-number", "number-missing", "terms-missing", "negation-blind-spot"],
)
def test_must_have_matcher(statement: str, answer: str, covered: bool) -> None:
    assert covers(statement, answer) is covered


def test_must_have_coverage_is_the_covered_share() -> None:
    answer = "Start argatroban at 2 mcg/kg/min. Monitor the aPTT."
    assert must_have_coverage(["argatroban 2 mcg/kg/min", "check the INR daily"], answer) == 0.5
    assert must_have_coverage([], answer) is None


def test_abstention_precision_recall() -> None:
    # abstained on 2; one of them unanswerable; 2 unanswerable in all
    assert precision_recall([True, True, False, False], [True, False, True, False]) == (0.5, 0.5)
    assert precision_recall([False, False], [False, False]) == (1.0, 1.0)


def _answer(bottom: str | None, abstained: bool = False) -> Answer:
    return Answer(
        answer_id="x",
        question="q",
        standalone_query="q",
        audience="clinician",
        verdict=Verdict(),
        markdown="",
        raw_text="",
        bottom_line=Statement(bottom, (1,), "research") if bottom else None,
        statements=(),
        withheld=(),
        citations=(),
        passages=(),
        related_questions=(),
        abstained=abstained,
        abstention_reason=None,
        disclaimer="",
        review_status="",
        generator="extractive",
    )


@pytest.mark.parametrize(
    ("bottom", "abstained", "label"),
    [
        ("Sugar-free medicines were more erosive.", False, "yes"),
        ("Sugar-free medicines were not more erosive.", False, "no"),
        ("The drug failed to reduce mortality.", False, "no"),
        ("There wasn't any difference.", False, "no"),
        (None, True, "maybe"),
        (None, False, "maybe"),
    ],
    ids=["plain", "not", "failed", "contraction", "abstained", "nothing-shown"],
)
def test_yes_no_maybe_reading(bottom: str | None, abstained: bool, label: str) -> None:
    assert yes_no_maybe(_answer(bottom, abstained)) == label


def _record(
    qid: str,
    *,
    abstained: bool,
    unanswerable: bool = False,
    label: str = "yes",
    gold: str | None = None,
    recall10: float = 1.0,
    must_have: float | None = None,
    blocked: bool = False,
) -> dict[str, Any]:
    retrieval = {
        "recall@1": recall10,
        "recall@5": recall10,
        "recall@10": recall10,
        "mrr": recall10,
        "ndcg@10": recall10,
        "recall_curve": [recall10, recall10],
        "liveqa": None,
    }
    return {
        "set": "s",
        "id": qid,
        "error": None,
        "abstained": abstained,
        "latency_ms": {"retrieve": 10.0, "total": 20.0},
        "metrics": {
            "retrieval": retrieval,
            "answer": {
                "must_have": must_have,
                "citations": 2,
                "citations_exact": 2,
                "numbers": 4,
                "numbers_ungrounded": 1 if qid == "q1" else 0,
                "shown": 0 if abstained else 2,
                "unanswerable": unanswerable,
                "label": label,
                "label_gold": gold,
                "top_doc": None,
            },
            "safety": {
                "findings": 2,
                "blocking": int(blocked),
                "by_rule": {"DOSE_OK": 1, "DOSE_RANGE": 1} if blocked else {"DOSE_OK": 2},
                "blocked": blocked,
                "withheld": int(blocked),
                "checked_doses": 1,
            },
        },
        "peers": {
            "bm25": {
                "retrieved": [],
                "latency_ms": 1.0,
                "retrieval": {**retrieval, "recall@10": recall10 / 2},
            }
        },
    }


def test_summarise_set_pools_the_records() -> None:
    records = [
        _record("q1", abstained=False, gold="yes", label="yes", must_have=1.0, blocked=True),
        _record("q2", abstained=False, gold="no", label="yes", must_have=0.5, recall10=0.5),
        _record("q3", abstained=True, unanswerable=True, gold="no", label="maybe"),
        _record("q4", abstained=True, gold="no", label="maybe"),
    ]
    s = summarise_set("s", records, 2, ["bm25"])
    assert s["retrieval"]["bedside"]["recall@10"] == pytest.approx(0.875)
    assert s["retrieval"]["bm25"]["recall@10"] == pytest.approx(0.4375)
    a = s["answer"]
    assert a["abstained"] == 2 and a["abstention_rate"] == 0.5
    assert (a["abstention_precision"], a["abstention_recall"]) == (0.5, 1.0)
    assert a["must_have_coverage"] == pytest.approx(0.75)
    assert a["label_agreement"] == 0.25  # only q1 agrees
    assert (a["label_majority_class"], a["label_majority_baseline"]) == ("no", 0.75)
    assert a["citation_exactness"] == 1.0
    assert a["number_grounding"] == pytest.approx(1 - 1 / 16)
    g = s["safety"]
    assert g["answers"] == 2 and g["block_rate"] == 0.5
    assert g["by_rule"] == {"DOSE_OK": 3, "DOSE_RANGE": 1}
    assert s["latency_ms"]["total"]["p50"] == 20.0


def test_an_answer_that_shows_nothing_is_counted_apart() -> None:
    empty = _record("q2", abstained=False, gold="no", label="maybe")
    empty["metrics"]["answer"]["shown"] = 0
    records = [_record("q1", abstained=False, gold="yes", label="yes"), empty]
    records.append(_record("q3", abstained=True, gold="no", label="maybe"))
    a = summarise_set("s", records, 2, ["bm25"])["answer"]
    assert a["abstained"] == 1 and a["shown_nothing"] == 1
