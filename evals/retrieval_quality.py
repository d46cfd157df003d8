"""Dense vs BM25 vs hybrid retrieval on the shared question sets, in one table.

    python -m evals.retrieval_quality [--sets bioasq pubmedqa medicationqa] [--out docs/RETRIEVAL.md]

Each set is searched over its own ``docs.jsonl``; metrics are at document level (chunk hits
are collapsed to their document in rank order). The index for each set is cached under
``~/.bedside/eval/<set>`` and rebuilt when the data or settings change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from assistant.settings import load_settings
from evals.metrics import dedupe, mean, recall_at_k, reciprocal_rank
from retrieval.embedders import get_embedder
from retrieval.hybrid import MODES, HybridRetriever
from retrieval.indexing import ensure_index
from retrieval.store import open_index

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDSIDE_SHARED_DIR", REPO.parent / "shared"))


@dataclass(frozen=True, slots=True)
class Row:
    dataset: str
    mode: str
    questions: int
    recall_at_10: float
    mrr: float


def load_questions(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [
            q for q in (json.loads(line) for line in fh if line.strip()) if q.get("gold_doc_ids")
        ]


def evaluate_set(
    name: str, data_dir: Path, k: int, preset: str | None, limit: int | None
) -> list[Row]:
    settings = load_settings(preset)
    embedder = get_embedder(settings.retrieval.embedder)
    index_dir = settings.home.expanduser() / "eval" / name
    report = ensure_index(
        [f"jsonl:{data_dir / name / 'docs.jsonl'}"],
        index_dir,
        embedder=embedder,
        chunking=settings.corpus,
        retrieval=settings.retrieval,
    )
    print(f"{name}: index {report.reason}; {report.manifest.counts.chunks} chunks", file=sys.stderr)
    retriever = HybridRetriever(open_index(index_dir, embedder), embedder, settings.retrieval)
    questions = load_questions(data_dir / name / "questions.jsonl")[:limit]
    rows = []
    for mode in MODES:
        recalls, rrs = [], []
        for q in questions:
            hits = retriever.search(q["question"], k=max(50, 5 * k), mode=mode)  # type: ignore[arg-type]
            ranked = dedupe(p.doc.id for p in hits)
            recalls.append(recall_at_k(ranked, q["gold_doc_ids"], k))
            rrs.append(reciprocal_rank(ranked, q["gold_doc_ids"], k))
        rows.append(Row(name, mode, len(questions), mean(recalls), mean(rrs)))
        print(
            f"  {mode:>6}: recall@{k} {rows[-1].recall_at_10:.3f}  MRR@{k} {rows[-1].mrr:.3f}",
            file=sys.stderr,
        )
    return rows


def to_markdown(rows: list[Row], k: int) -> str:
    lines = [
        f"| data set | questions | dense recall@{k} | BM25 recall@{k} | hybrid recall@{k} | dense MRR | BM25 MRR | hybrid MRR |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r.dataset for r in rows):
        by = {r.mode: r for r in rows if r.dataset == name}
        lines.append(
            f"| {name} | {by['hybrid'].questions} | "
            + " | ".join(f"{by[m].recall_at_10:.3f}" for m in ("dense", "bm25", "hybrid"))
            + " | "
            + " | ".join(f"{by[m].mrr:.3f}" for m in ("dense", "bm25", "hybrid"))
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["bioasq", "pubmedqa", "medicationqa"])
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--preset", default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N questions of each set")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    data_dir = SHARED / "data"
    if not data_dir.is_dir():
        print(f"shared data not found at {data_dir}; nothing to evaluate", file=sys.stderr)
        return 0
    started = time.perf_counter()
    rows = [
        row
        for name in args.sets
        for row in evaluate_set(name, data_dir, args.k, args.preset, args.limit)
    ]
    print(to_markdown(rows, args.k))
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
