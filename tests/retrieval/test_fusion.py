import pytest

from retrieval.fusion import fuse


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
