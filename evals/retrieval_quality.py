"""Dense vs BM25 vs hybrid retrieval, side by side, at document level.

    python -m evals.retrieval_quality [--sets bioasq pubmedqa medicationqa] [--gold FILE] [--k 10]

A shared set (``--sets``) is searched over its own ``../shared/data/<set>/docs.jsonl``; a gold
set (``--gold``) over the configured default corpus (bundled packs + open-medicine). Chunk
hits are collapsed to their document in rank order. Indexes are cached under
``~/.bedside/eval/<set>.<embedder>`` and rebuilt when the data or settings change.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.settings import Settings, load_settings
from evals.metrics import dedupe, mean, recall_at_k, reciprocal_rank
from evals.questions import EvalQuestion, load_questions
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
    recall: float
    mrr: float


def retrieval_query(q: EvalQuestion) -> str:
    """A follow-up ("and in hepatic impairment?") is searched together with the earlier user
    turns; conversation-aware rewriting belongs to the assistant."""
    return " ".join([t.content for t in q.history if t.role == "user"] + [q.question])


def score(
    retriever: HybridRetriever, questions: list[EvalQuestion], k: int, mode: str
) -> tuple[float, float]:
    recalls, rrs = [], []
    for q in questions:
        hits = retriever.search(retrieval_query(q), k=max(50, 5 * k), mode=mode)  # type: ignore[arg-type]
        ranked = dedupe(p.doc.id for p in hits)
        recalls.append(recall_at_k(ranked, q.gold_doc_ids, k))
        rrs.append(reciprocal_rank(ranked, q.gold_doc_ids, k))
    return mean(recalls), mean(rrs)


def score_modes(
    name: str, retriever: HybridRetriever, questions: list[EvalQuestion], k: int
) -> list[Row]:
    rows = []
    for mode in MODES:
        recall, mrr = score(retriever, questions, k, mode)
        rows.append(Row(name, mode, len(questions), recall, mrr))
        print(f"  {name} {mode:>6}: recall@{k} {recall:.3f}  MRR@{k} {mrr:.3f}", file=sys.stderr)
    return rows


def answerable(path: Path) -> list[EvalQuestion]:
    questions, problems = load_questions(path)
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    return [q for q in questions if q.gold_doc_ids]


def _retriever(
    settings: Settings, sources: list[str], index_dir: Path, label: str
) -> HybridRetriever:
    embedder = get_embedder(
        settings.retrieval.embedder,
        settings.models_dir,
        precision=settings.retrieval.precision,
    )
    report = ensure_index(
        sources,
        index_dir,
        embedder=embedder,
        chunking=settings.corpus.chunking,
        retrieval=settings.retrieval,
    )
    print(
        f"{label}: index {report.reason}; {report.manifest.counts.chunks} chunks", file=sys.stderr
    )
    return HybridRetriever(open_index(index_dir, embedder), embedder, settings.retrieval)


def eval_index_dir(settings: Settings, name: str) -> Path:
    """One cached index per corpus and embedder, apart from the index `bedside ask` serves
    (shared with `bedside eval`)."""
    return settings.home.expanduser() / "eval" / f"{name}.{settings.retrieval.embedder}"


def evaluate_set(
    name: str, data_dir: Path, k: int, settings: Settings, limit: int | None
) -> list[Row]:
    index_dir = eval_index_dir(settings, name)
    retriever = _retriever(settings, [f"jsonl:{data_dir / name / 'docs.jsonl'}"], index_dir, name)
    return score_modes(name, retriever, answerable(data_dir / name / "questions.jsonl")[:limit], k)


def evaluate_gold(path: Path, k: int, settings: Settings) -> list[Row]:
    retriever = _retriever(
        settings, settings.sources, eval_index_dir(settings, "default-corpus"), path.name
    )
    questions = answerable(path)
    return [
        *score_modes(f"{path.stem} (all)", retriever, questions, k),
        *score_modes(
            f"{path.stem} (single turn)", retriever, [q for q in questions if not q.history], k
        ),
        *score_modes(
            f"{path.stem} (follow-ups)", retriever, [q for q in questions if q.history], k
        ),
    ]


def to_markdown(rows: list[Row], k: int) -> str:
    lines = [
        f"| data set | questions | dense recall@{k} | BM25 recall@{k} | hybrid recall@{k} "
        f"| dense MRR@{k} | BM25 MRR@{k} | hybrid MRR@{k} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(r.dataset for r in rows):
        by = {r.mode: r for r in rows if r.dataset == name}
        recalls = " | ".join(f"{by[m].recall:.3f}" for m in ("dense", "bm25", "hybrid"))
        mrrs = " | ".join(f"{by[m].mrr:.3f}" for m in ("dense", "bm25", "hybrid"))
        lines.append(f"| {name} | {by['hybrid'].questions} | {recalls} | {mrrs} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=["bioasq", "pubmedqa", "medicationqa"])
    parser.add_argument(
        "--gold", type=Path, action="append", default=[], help="gold set over the default corpus"
    )
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--preset", default=None)
    parser.add_argument(
        "--limit", type=int, default=None, help="first N questions of each shared set"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    settings = load_settings(args.preset)
    data_dir = SHARED / "data"
    sets = args.sets
    if sets and not data_dir.is_dir():
        print(f"shared data not found at {data_dir}; skipping {', '.join(sets)}", file=sys.stderr)
        sets = []
    started = time.perf_counter()
    rows = [row for path in args.gold for row in evaluate_gold(path, args.k, settings)]
    rows += [
        row for name in sets for row in evaluate_set(name, data_dir, args.k, settings, args.limit)
    ]
    print(to_markdown(rows, args.k))
    print(f"\n({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
