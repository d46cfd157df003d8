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
