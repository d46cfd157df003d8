"""Ranking metrics at document level. Pure functions over ranked ids and gold ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def dedupe(ids: Iterable[str]) -> list[str]:
    """First occurrence order: chunk hits -> ranked document ids."""
    seen: set[str] = set()
    out = []
    for i in ids:
        if i not in seen:
            seen.add(i)
            out.append(i)
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


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
