import math

import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from lightning_deepvision.analysis import (
    identity_consistency,
    identity_folds,
    linear_probe_accuracy,
    within_identity_folds,
)


def test_identity_consistency() -> None:
    identity = torch.arange(6).repeat_interleave(4)  # 6 people x 4 images
    person = (identity % 2).long()  # an attribute of the person
    alternating = (torch.arange(24) % 2).long()  # changes from image to image, 2 of 4 each
    attributes = torch.stack([person, alternating], dim=1)
    consistency = identity_consistency(attributes, identity)
    torch.testing.assert_close(consistency, torch.tensor([1.0, 0.5]))


def test_identity_consistency_ignores_people_with_one_image() -> None:
    identity = torch.tensor([0, 0, 1, 2])
    attributes = torch.tensor([[1], [0], [1], [0]])
    assert identity_consistency(attributes, identity).tolist() == [0.5]
    assert math.isnan(identity_consistency(attributes[2:], identity[2:])[0].item())
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        identity_consistency(torch.zeros(4), identity)


def test_folds() -> None:
    identity = torch.tensor([7, 3, 7, 3, 7, 5])
    assert within_identity_folds(identity).tolist() == [0, 0, 1, 1, 0, 0]
    assert within_identity_folds(identity, 3).tolist() == [0, 0, 1, 1, 2, 0]
    folds = identity_folds(identity)
    assert folds.tolist() == [0, 0, 0, 0, 0, 1]  # 3 -> 0, 5 -> 1, 7 -> 0
    for person in identity.unique():
        assert folds[identity == person].unique().numel() == 1
    with pytest.raises(ValueError):
        identity_folds(identity, 0)


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    identity = torch.arange(40).repeat_interleave(5)
    features = torch.randn(200, 16, generator=g)
    direction = torch.randn(16, generator=g)
    attributes = torch.stack(
        [features @ direction > 0.3, torch.rand(200, generator=g) > 0.5], dim=1
    )
    return features, attributes, identity


def test_linear_probe_reads_a_linear_attribute_and_not_noise() -> None:
    features, attributes, identity = _data()
    accuracy = linear_probe_accuracy(features, attributes, identity_folds(identity))
    assert accuracy[0] > 0.9  # linearly encoded
    assert abs(float(accuracy[1]) - 0.5) < 0.12  # unrelated to the features


def test_linear_probe_agrees_with_scikit_learn() -> None:
    features, attributes, identity = _data(1)
    folds = identity_folds(identity)
    ours = linear_probe_accuracy(features, attributes[:, :1], folds, weight_decay=1e-3)
    theirs = []
    for fold in (0, 1):
        train, test = folds != fold, folds == fold
        mean, std = features[train].mean(0), features[train].std(0, unbiased=False)
        model = LogisticRegression(C=1 / (2 * 1e-3 * train.sum().item()), class_weight="balanced")
        model.fit(((features[train] - mean) / std).numpy(), attributes[train, 0].numpy())
        predicted = model.predict(((features[test] - mean) / std).numpy())
        theirs.append(balanced_accuracy_score(attributes[test, 0].numpy(), predicted))
    assert ours[0].item() == pytest.approx(sum(theirs) / 2, abs=0.03)


def test_linear_probe_inside_inference_mode() -> None:
    features, attributes, identity = _data(2)
    with torch.inference_mode():
        inside = linear_probe_accuracy(features, attributes, identity_folds(identity))
    outside = linear_probe_accuracy(features, attributes, identity_folds(identity))
    torch.testing.assert_close(inside, outside)


def test_linear_probe_missing_class_and_bad_folds() -> None:
    features, attributes, identity = _data(3)
    attributes[:, 1] = False
    accuracy = linear_probe_accuracy(features, attributes, identity_folds(identity))
    assert not math.isnan(accuracy[0].item()) and math.isnan(accuracy[1].item())
    with pytest.raises(ValueError, match="two folds"):
        linear_probe_accuracy(features, attributes, torch.zeros(200))
