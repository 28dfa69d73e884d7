from __future__ import annotations

import math
from pathlib import Path
from typing import get_args

import pytest
import torch

import lightning_deepvision.metrics as metrics
from lightning_deepvision.metrics import binarize, pair_scores
from lightning_deepvision.models.joint_bayesian import JointBayesian


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


def _embeddings(n: int = 40, d: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g).relu(), torch.randn(n, d, generator=g).relu()


@pytest.mark.parametrize(
    ("name", "scorer_type", "method"),
    [
        ("cosine", metrics.CosineScorer, "cosine"),
        ("l2", metrics.L2Scorer, "l2"),
        ("hamming", metrics.HammingScorer, "hamming"),
    ],
)
def test_fixed_scorers_equal_pair_scores(name: str, scorer_type: type, method: str) -> None:
    e1, e2 = _embeddings()
    scorer = metrics.build_scorer(name, binarize_threshold=0.3, pca_dim=4)
    assert type(scorer) is scorer_type and metrics.SCORERS[name] is scorer_type
    assert not scorer.requires_fit and scorer.is_fitted
    scorer.fit(e1, torch.arange(40) % 5)  # a no-op: nothing is learned
    threshold = 0.3 if name == "hamming" else 0.0
    expected = pair_scores(e1, e2, method, binarize_threshold=threshold)  # type: ignore[arg-type]
    assert torch.equal(scorer(e1, e2), expected)
    assert list(scorer.state_dict()) == []


def test_hamming_scorer_uses_its_threshold() -> None:
    e1, e2 = _embeddings()
    low, high = metrics.HammingScorer(0.0), metrics.HammingScorer(1.0)
    assert torch.equal(low(e1, e2), pair_scores(e1, e2, "hamming"))
    assert torch.equal(high(e1, e2), pair_scores(e1, e2, "hamming", binarize_threshold=1.0))
    assert not torch.equal(low(e1, e2), high(e1, e2))
    assert "binarize_threshold=1.0" in repr(high)


def _identities(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = 3 * torch.randn(10, 8, generator=g)
    labels = torch.arange(60) % 10
    return centres[labels] + torch.randn(60, 8, generator=g), labels


def test_joint_bayesian_scorer_equals_joint_bayesian_and_round_trips(tmp_path: Path) -> None:
    features, labels = _identities()
    scorer = metrics.build_scorer("joint_bayesian", binarize_threshold=0.5, pca_dim=6)
    assert isinstance(scorer, metrics.JointBayesianScorer) and scorer.requires_fit
    assert scorer.pca_dim == 6 and not scorer.is_fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        scorer(features[:3], features[3:6])
    scorer.fit(features, labels)
    assert scorer.is_fitted
    reference = JointBayesian().fit(features, labels, pca_dim=6)
    e1, e2 = features[:30], features[30:]
    assert torch.equal(scorer(e1, e2), reference(e1, e2))
    assert scorer.model.dim == 6
    # The fitted buffers travel in the state dict, into a fresh (unfitted) scorer.
    torch.save(scorer.state_dict(), tmp_path / "scorer.pt")
    state = torch.load(tmp_path / "scorer.pt", weights_only=True)
    assert {"model.mean", "model.projection", "model.A", "model.G"} <= set(state)
    fresh = metrics.JointBayesianScorer(pca_dim=6)
    fresh.load_state_dict(state)
    assert fresh.is_fitted and torch.equal(fresh(e1, e2), scorer(e1, e2))


def test_unknown_scorer_names_the_valid_ones() -> None:
    with pytest.raises(
        ValueError, match=r"'cosinus'.*\['cosine', 'hamming', 'joint_bayesian', 'l2', 'lda'\]"
    ):
        metrics.build_scorer("cosinus")


def test_scorer_base_is_abstract_and_names_match_the_literal() -> None:
    with pytest.raises(TypeError):
        metrics.PairScorer()  # type: ignore[abstract]
    assert set(metrics.SCORERS) == set(get_args(metrics.ScoringName))
