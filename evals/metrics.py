"""Ranking metrics at document level. Pure functions over ranked ids and gold ids.

Gold comes in two forms: a set of relevant ids (``gold_doc_ids``), or graded judgments
(``qrels``: doc id -> grade, 0 = judged not relevant). A document that is not judged counts
as not relevant (gain 0) everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def dedupe(ids: Iterable[str]) -> list[str]:
    """First occurrence order: chunk hits -> ranked document ids."""
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
    return out


def dedupe_scored(hits: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Chunk hits (doc id, score), best first -> documents with the score of their best chunk."""
    seen: set[str] = set()
    out = []
    for doc_id, score in hits:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append((doc_id, score))
    return out


def recall_at_k(ranked: Sequence[str], gold: Iterable[str], k: int) -> float:
    """Share of the gold documents found in the top k (0 when there is no gold)."""
    gold_set = set(gold)
    if not gold_set:
        return 0.0
    return len(gold_set.intersection(ranked[:k])) / len(gold_set)


def reciprocal_rank(ranked: Sequence[str], gold: Iterable[str], k: int | None = None) -> float:
    """1 / rank of the first gold document (0 when none is in the top k)."""
    gold_set = set(gold)
    for rank, doc_id in enumerate(ranked[:k] if k else ranked, start=1):
        if doc_id in gold_set:
            return 1.0 / rank
    return 0.0


def gains(gold: Iterable[str], qrels: Mapping[str, int] | None = None) -> dict[str, float]:
    """The gain of each judged document: its grade when graded judgments exist, else 1 for
    every gold document. Grades below 0 count as 0."""
    if qrels:
        return {doc_id: float(max(grade, 0)) for doc_id, grade in qrels.items()}
    return dict.fromkeys(gold, 1.0)


def relevant(gold: Iterable[str], qrels: Mapping[str, int] | None = None) -> set[str]:
    """The documents that count for recall and MRR: gold ids, or judged with a grade > 0."""
    if qrels:
        return {doc_id for doc_id, grade in qrels.items() if grade > 0}
    return set(gold)


def _discount(rank: int) -> float:
    return 1.0 / math.log2(rank + 1)


def dcg_at_k(
    ranked: Sequence[str],
    gain: Mapping[str, float],
    k: int,
    scores: Sequence[float] | None = None,
) -> float:
    """Discounted cumulative gain of the top ``k`` (linear gain, 1/log2(rank + 1) discount).

    With ``scores`` (parallel to ``ranked``, best first), documents with equal scores form a
    tie group and every rank in the group gets the group's mean gain (McSherry and Najork,
    ECIR 2008): the value no longer depends on how a tie happened to be broken.
    """
    if scores is None:
        return sum(gain.get(d, 0.0) * _discount(r) for r, d in enumerate(ranked[:k], start=1))
    if len(scores) != len(ranked):
        raise ValueError("scores must be parallel to ranked")
    total, start = 0.0, 0
    while start < len(ranked) and start < k:
        end = start + 1
        while end < len(ranked) and scores[end] == scores[start]:
            end += 1
        mean_gain = sum(gain.get(d, 0.0) for d in ranked[start:end]) / (end - start)
        total += mean_gain * sum(_discount(r) for r in range(start + 1, min(end, k) + 1))
        start = end
    return total


def ndcg_at_k(
    ranked: Sequence[str],
    gain: Mapping[str, float],
    k: int,
    scores: Sequence[float] | None = None,
) -> float:
    """DCG@k over the ideal DCG@k of the judged gains (0 when nothing has a gain > 0)."""
    ideal_gains = sorted((g for g in gain.values() if g > 0), reverse=True)[:k]
    ideal = sum(g * _discount(r) for r, g in enumerate(ideal_gains, start=1))
    if ideal == 0:
        return 0.0
    return dcg_at_k(ranked, gain, k, scores) / ideal


def liveqa_score(top_doc: str | None, qrels: Mapping[str, int] | None) -> float:
    """TREC LiveQA-style score of one question: the grade (1-4) of the top answer's document
    minus 1, so 0..3; 0 when there is no answer or its document is not judged."""
    if top_doc is None or not qrels or top_doc not in qrels:
        return 0.0
    return float(max(qrels[top_doc] - 1, 0))


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) with linear interpolation between closest ranks (numpy's
    default); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    at = (len(ordered) - 1) * q / 100
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)
