"""Guarded answers over a gold set: must-have coverage, citation exactness, number
grounding, abstention precision/recall, follow-up retrieval accuracy.

    python -m evals.answer_quality [--questions evals/sets/anticoagulation.jsonl] [--preset NAME]

The per-answer measures live in ``evals.answer_metrics.score_answer`` and are shared with
``bedside eval`` (evals/runner.py), which adds retrieval metrics, peers and reports.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from assistant.pipeline import Assistant
from assistant.settings import load_settings
from assistant.types import Turn
from evals.answer_metrics import precision_recall, score_answer
from evals.metrics import dedupe
from evals.questions import load_questions

REPO = Path(__file__).resolve().parents[1]


def evaluate(path: Path, assistant: Assistant) -> dict[str, object]:
    questions, problems = load_questions(path)
    for p in problems:
        print(f"skipped {p}", file=sys.stderr)
    coverage, grounded_answers, latencies, rows = [], [], [], []
    citations = citations_exact = numbers_total = numbers_bad = 0
    abstained, unanswerable, follow_hits = [], [], []
    for q in questions:
        history = [Turn(t.role, t.content) for t in q.history]
        t0 = time.perf_counter()
        answer = assistant.ask(q.question, history)
        latencies.append((time.perf_counter() - t0) * 1000)
        abstained.append(answer.abstained)
        unanswerable.append(q.unanswerable)
        scored = score_answer(answer, q.must_have)
        if not q.unanswerable and scored.must_have is not None:
            coverage.append(scored.must_have)
        citations += scored.citations
        citations_exact += scored.citations_exact
        numbers_total += scored.numbers
        numbers_bad += scored.numbers_ungrounded
        if scored.shown:
            grounded_answers.append(scored.numbers_ungrounded == 0)
        if q.history and q.gold_doc_ids:
            top = dedupe(p.doc.id for p in answer.passages)[:5]
            follow_hits.append(bool(set(q.gold_doc_ids) & set(top)))
        rows.append(
            {
                "id": q.id,
                "abstained": answer.abstained,
                "allowed": answer.verdict.allowed,
                "withheld": len(answer.withheld),
                "must_have": scored.must_have,
                "ungrounded": scored.numbers_ungrounded,
            }
        )
    precision, recall = precision_recall(abstained, unanswerable)
    return {
        "questions": len(questions),
        "must_have_coverage": statistics.mean(coverage) if coverage else None,
        "citation_exactness": citations_exact / citations if citations else None,
        "citations": citations,
        "number_grounding_answers": sum(grounded_answers) / len(grounded_answers)
        if grounded_answers
        else None,
        "numbers_checked": numbers_total,
        "numbers_ungrounded": numbers_bad,
        "abstention_precision": precision,
        "abstention_recall": recall,
        "abstained": sum(abstained),
        "unanswerable": sum(unanswerable),
        "follow_up_top5": sum(follow_hits) / len(follow_hits) if follow_hits else None,
        "follow_ups": len(follow_hits),
        "blocked_answers": sum(1 for r in rows if not r["allowed"]),
        "latency_ms_p50": statistics.median(latencies),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--questions", type=Path, default=REPO / "evals" / "sets" / "anticoagulation.jsonl"
    )
    parser.add_argument("--preset", default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    assistant = Assistant.from_settings(load_settings(args.preset))
    result = evaluate(args.questions, assistant)
    summary = {k: v for k, v in result.items() if k != "rows"}
    for key, value in summary.items():
        print(f"{key:>26}: {value:.3f}" if isinstance(value, float) else f"{key:>26}: {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
