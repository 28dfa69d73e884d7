from __future__ import annotations

import math

import pytest
import torch

from lightning_deepvision.metrics import binarize, pair_scores


def test_cosine_scores() -> None:
    e1 = torch.tensor([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    e2 = torch.tensor([[0.0, 3.0], [2.0, 2.0], [-1.0, 0.0]])
    torch.testing.assert_close(pair_scores(e1, e2), torch.tensor([0.0, 1.0, -1.0]))
    # scale invariant, and zero vectors give 0 rather than NaN
    assert torch.isfinite(pair_scores(torch.zeros(1, 4), torch.ones(1, 4))).all()


def test_l2_scores_are_negative_distances() -> None:
    e1 = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    e2 = torch.tensor([[3.0, 4.0], [1.0, 1.0]])
    torch.testing.assert_close(pair_scores(e1, e2, "l2"), torch.tensor([-5.0, 0.0]))


def test_binarize_and_hamming() -> None:
    e = torch.tensor([[0.0, 0.5, -1.0, 2.0]])
    assert binarize(e).tolist() == [[False, True, False, True]]
    assert binarize(e, threshold=1.0).tolist() == [[False, False, False, True]]
    e1 = torch.tensor([[0.1, 0.2, -0.3, 0.0], [1.0, 1.0, 1.0, 1.0]])
    e2 = torch.tensor([[0.5, -0.2, -0.1, 0.3], [2.0, 3.0, 4.0, 5.0]])
    # codes 1100 vs 1001 differ in 2 of 4 bits; identical codes score 0 (the maximum)
    torch.testing.assert_close(pair_scores(e1, e2, "hamming"), torch.tensor([-0.5, 0.0]))
    torch.testing.assert_close(
        pair_scores(e1, e2, "hamming", binarize_threshold=1.5), torch.tensor([0.0, -1.0])
    )


def test_higher_means_more_similar_for_every_method() -> None:
    g = torch.Generator().manual_seed(0)
    anchor = torch.randn(64, 32, generator=g)
    near = anchor + 0.1 * torch.randn(64, 32, generator=g)
    far = torch.randn(64, 32, generator=g)
    for method in ("cosine", "l2", "hamming"):
        assert (
            pair_scores(anchor, near, method) > pair_scores(anchor, far, method)
        ).float().mean() > 0.95


def test_errors() -> None:
    with pytest.raises(ValueError, match="shape"):
        pair_scores(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="method"):
        pair_scores(torch.zeros(2, 3), torch.zeros(2, 3), "l3")  # type: ignore[arg-type]


def test_cosine_matches_formula() -> None:
    e1, e2 = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[-1.0, 0.5, 2.0]])
    expected = (-1 + 1 + 6) / (math.sqrt(14) * math.sqrt(1 + 0.25 + 4))
    assert float(pair_scores(e1, e2)) == pytest.approx(expected)
