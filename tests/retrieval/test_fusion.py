import pytest

from retrieval.fusion import convex, fuse


def test_rrf_scores_match_hand_computation() -> None:
    fused = dict(fuse([[1, 2, 3], [3, 1]], k=60))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert [row for row, _ in fuse([[1, 2, 3], [3, 1]], k=60)] == [1, 3, 2]


def test_weights_shift_the_order() -> None:
    assert fuse([[1], [2]], weights=[1.0, 2.0])[0][0] == 2
    with pytest.raises(ValueError):
        fuse([[1], [2]], weights=[1.0])


def test_ties_keep_first_appearance() -> None:
    assert [r for r, _ in fuse([[5], [7]])] == [5, 7]


def test_convex_combination_matches_hand_computation() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.1)]  # normalised: 1.0, 0.5, 0.0
    lexical = [(3, 20.0), (4, 10.0)]  # normalised: 1.0, 0.0
    fused = dict(convex(dense, lexical, alpha=0.5))
    assert fused == pytest.approx({1: 0.5, 2: 0.25, 3: 0.5, 4: 0.0})
    assert [r for r, _ in convex(dense, lexical, alpha=1.0)][:2] == [1, 2]
    with pytest.raises(ValueError):
        convex(dense, lexical, alpha=1.5)


def test_convex_keeps_a_decisive_margin_that_rank_fusion_loses() -> None:
    # BM25 is sure of row 7 (exact drug name); dense ranks it second by a hair.
    dense = [(5, 0.80), (7, 0.79), (8, 0.10)]
    lexical = [(7, 30.0), (5, 2.0), (8, 1.0)]
    assert convex(dense, lexical)[0][0] == 7
    assert fuse([[5, 7, 8], [7, 5, 8]])[0][0] == 5  # rank fusion: a tie broken by order
