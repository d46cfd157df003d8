"""Reciprocal-rank fusion of ranked lists (Cormack et al., SIGIR 2009)."""

from __future__ import annotations

from collections.abc import Sequence


def fuse(
    rankings: Sequence[Sequence[int]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[int, float]]:
    """Fuse ranked lists of row ids; returns (row, score) best first, ties by first appearance.

    score(row) = sum over lists of weight / (k + rank), rank starting at 1.
    """
    weights = weights or [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, row in enumerate(ranking, start=1):
            scores[row] = scores.get(row, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda item: -item[1])


def _min_max(hits: Sequence[tuple[int, float]]) -> dict[int, float]:
    if not hits:
        return {}
    scores = [s for _, s in hits]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {row: (s - lo) / span if span > 0 else 1.0 for row, s in hits}


def convex(
    dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], alpha: float = 0.5
) -> list[tuple[int, float]]:
    """Convex combination of min-max normalised scores (Bruch et al., TOIS 2023):
    alpha * dense + (1 - alpha) * bm25; a row missing from one list gets 0 there.

    Unlike rank fusion it keeps how far ahead a hit is, so a confident exact-name BM25
    match is not pulled down to the level of a vague semantic neighbour.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1")
    d, b = _min_max(dense), _min_max(lexical)
    rows = dict.fromkeys([r for r, _ in dense] + [r for r, _ in lexical])
    scored = [(row, alpha * d.get(row, 0.0) + (1 - alpha) * b.get(row, 0.0)) for row in rows]
    return sorted(scored, key=lambda item: -item[1])
