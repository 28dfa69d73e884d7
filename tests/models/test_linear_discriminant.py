"""Tests of the Fisherfaces projection and the LDA pair scorer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from lightning_deepvision.metrics import LDAScorer, build_scorer
from lightning_deepvision.models import LinearDiscriminant


def _features(identities: int = 10, per_identity: int = 8, dim: int = 60, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(identities).repeat_interleave(per_identity)
    centres = torch.randn(identities, dim, generator=generator)
    return torch.randn(len(labels), dim, generator=generator) + 0.7 * centres[labels], labels


def test_matches_scikit_learn_pca_then_lda() -> None:
    x, y = _features()
    ours = LinearDiscriminant().fit(x, y, pca_dim=40)(x).numpy()
    pca = PCA(40).fit(x.numpy())
    theirs = LinearDiscriminantAnalysis().fit(pca.transform(x.numpy()), y.numpy())
    reference = theirs.transform(pca.transform(x.numpy()))
    assert ours.shape == reference.shape == (80, 9)
    # Each discriminant direction is defined up to its sign.
    np.testing.assert_allclose(np.abs(ours), np.abs(reference), rtol=1e-3, atol=1e-4)


def test_default_dimensions_and_within_class_whitening() -> None:
    x, y = _features()
    model = LinearDiscriminant().fit(x, y)
    assert model.projection.shape == (60, 9)  # pca_dim = min(D, N - C) = 60, then C - 1
    z = model(x)
    means = torch.stack([z[y == c].mean(0) for c in range(10)])
    residual = z - means[y]
    within = residual.T @ residual / len(z)
    torch.testing.assert_close(within, torch.eye(9, dtype=torch.float64), atol=1e-6, rtol=0)


def test_shrinkage_changes_the_projection() -> None:
    x, y = _features()
    plain = LinearDiscriminant().fit(x, y, pca_dim=30)(x)
    shrunk = LinearDiscriminant().fit(x, y, pca_dim=30, shrinkage=0.5)(x)
    assert not torch.allclose(plain.abs(), shrunk.abs())


def test_state_dict_restores_a_fitted_projection() -> None:
    x, y = _features()
    fitted = LinearDiscriminant().fit(x, y, pca_dim=20)
    fresh = LinearDiscriminant()
    assert not fresh.is_fitted
    fresh.load_state_dict(fitted.state_dict())
    assert fresh.is_fitted
    torch.testing.assert_close(fresh(x), fitted(x))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pca_dim": 0}, "pca_dim"),
        ({"lda_dim": 50, "pca_dim": 20}, "lda_dim"),
        ({"shrinkage": 1.5}, "shrinkage"),
    ],
)
def test_bad_arguments(kwargs: dict[str, float], match: str) -> None:
    x, y = _features()
    with pytest.raises(ValueError, match=match):
        LinearDiscriminant().fit(x, y, **kwargs)  # type: ignore[arg-type]


def test_needs_two_identities_with_repeats() -> None:
    x, _ = _features()
    with pytest.raises(ValueError, match="two identities"):
        LinearDiscriminant().fit(x, torch.zeros(len(x), dtype=torch.long))
    with pytest.raises(ValueError, match="two identities"):
        LinearDiscriminant().fit(x[:5], torch.arange(5))
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearDiscriminant()(x)
    with pytest.raises(ValueError, match="shape"):
        LinearDiscriminant().fit(x, torch.arange(len(x)) % 4)(x[:, :10])


def test_lda_scorer_separates_new_identities_better_than_cosine() -> None:
    # Identity signal in 25 dimensions, large nuisance variance in the other 35: cosine on the
    # raw features is dominated by the nuisance, the LDA projection removes it.
    generator = torch.Generator().manual_seed(1)

    def people(count: int, per: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(count).repeat_interleave(per)
        centres = torch.zeros(count, 60)
        centres[:, :25] = 3 * torch.randn(count, 25, generator=generator)
        noise = torch.randn(len(labels), 60, generator=generator)
        noise[:, 25:] *= 4
        return centres[labels] + noise, labels

    train_x, train_y = people(30, 8)
    test_x, _ = people(40, 2)
    first, second = test_x[0::2], test_x[1::2]  # matched pairs
    mismatched = test_x[1::2].roll(1, 0)
    scorer = build_scorer("lda", pca_dim=40)
    assert isinstance(scorer, LDAScorer) and scorer.requires_fit and not scorer.is_fitted
    scorer.fit(train_x, train_y)

    def ranking(score) -> float:
        """How often a matched pair outscores a mismatched one (the ROC AUC)."""
        matched, other = score(first, second), score(first, mismatched)
        return float((matched[:, None] > other[None, :]).double().mean())

    cosine = build_scorer("cosine")
    assert ranking(scorer) > 0.98 > 0.96 > ranking(cosine)
    assert scorer(first, second).dtype == first.dtype
    restored = LDAScorer(pca_dim=40)
    restored.load_state_dict(scorer.state_dict())
    torch.testing.assert_close(restored(first, second), scorer(first, second))
