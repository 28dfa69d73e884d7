import math

import pytest
import torch
from sklearn.metrics import balanced_accuracy_score

from lightning_deepvision.analysis import (
    evaluate_thresholds,
    fit_thresholds,
    mean_responses,
    single_neuron_selectivity,
)


def _attributes(n: int = 60, labels: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, labels, generator=g) > 0.4


def test_neuron_equal_to_an_attribute_is_fully_selective() -> None:
    attributes = _attributes()
    x = torch.zeros(60, 4)
    x[:, 0] = attributes[:, 0].float()  # excitatory for attribute 0
    x[:, 1] = 1 - attributes[:, 1].float()  # inhibitory for attribute 1 (ReLU-style 0/1)
    folds = torch.arange(60) % 2
    for cross in (None, folds):
        s = single_neuron_selectivity(x, attributes, cross)
        assert s.accuracy[0, 0] == 1.0 and bool(s.excitatory[0, 0])
        assert s.accuracy[1, 1] == 1.0 and not bool(s.excitatory[1, 1])
        assert s.threshold[0, 0] == 0.5 and s.threshold[1, 1] == 0.5
        assert s.best(0, 1) == [(0, 1.0, True)]
        assert s.best(1, 1) == [(1, 1.0, False)]


def test_constant_neuron_is_chance() -> None:
    attributes = _attributes()
    x = torch.zeros(60, 2)  # a dead ReLU neuron and ...
    x[:, 1] = 3.0  # ... a saturated one
    s = single_neuron_selectivity(x, attributes, torch.arange(60) % 2)
    torch.testing.assert_close(s.accuracy, torch.full((3, 2), 0.5))
    assert torch.isinf(s.threshold).all()


def _brute_force(x: torch.Tensor, y: torch.Tensor) -> float:
    """Best balanced accuracy over every realisable threshold and both directions."""
    values = torch.unique(x)
    cuts = torch.cat([values[:1] - 1, (values[:-1] + values[1:]) / 2, values[-1:] + 1])
    best = 0.0
    for t in cuts:
        above = (x > t).numpy()
        accuracy = balanced_accuracy_score(y.numpy(), above) if above.any() != above.all() else 0.5
        best = max(best, accuracy, 1 - accuracy)
    return best


def test_matches_brute_force_with_ties() -> None:
    g = torch.Generator().manual_seed(3)
    # ReLU outputs rounded to a coarse grid: many exact zeros and ties.
    x = torch.relu(torch.randn(80, 7, generator=g)).mul(2).round()
    y = torch.rand(80, 4, generator=g) > 0.6
    accuracy, threshold, excitatory = fit_thresholds(x, y)
    for label in range(4):
        for neuron in range(7):
            expected = _brute_force(x[:, neuron], y[:, label])
            assert accuracy[label, neuron].item() == pytest.approx(expected, abs=1e-6)
            # The returned classifier achieves the accuracy it reports.
            said = (x[:, neuron] > threshold[label, neuron]) == excitatory[label, neuron]
            achieved = balanced_accuracy_score(y[:, label].numpy(), said.numpy())
            assert achieved == pytest.approx(expected, abs=1e-6)


def test_evaluate_thresholds_is_balanced_accuracy() -> None:
    g = torch.Generator().manual_seed(4)
    x = torch.randn(50, 3, generator=g)
    y = torch.rand(50, 2, generator=g) > 0.3
    threshold = torch.tensor([[0.0, 0.5, -0.5], [0.2, 0.0, 1.0]])
    excitatory = torch.tensor([[True, False, True], [False, True, True]])
    accuracy = evaluate_thresholds(x, y, threshold, excitatory)
    for label in range(2):
        for neuron in range(3):
            said = (x[:, neuron] > threshold[label, neuron]) == excitatory[label, neuron]
            expected = balanced_accuracy_score(y[:, label].numpy(), said.numpy())
            assert accuracy[label, neuron].item() == pytest.approx(expected, abs=1e-6)


def test_cross_validation_catches_what_does_not_generalise() -> None:
    # The neuron follows the attribute on one half of the images and its opposite on the
    # other: in-sample it looks like chance, held out it is always wrong.
    attributes = _attributes(40, 1)
    folds = torch.arange(40) % 2
    x = (attributes[:, 0] ^ (folds == 1)).float().unsqueeze(1)
    held_out = single_neuron_selectivity(x, attributes, folds)
    assert held_out.accuracy[0, 0] == 0.0
    in_sample = single_neuron_selectivity(x, attributes)
    assert 0.4 < float(in_sample.accuracy[0, 0]) < 0.7


def test_label_without_positives_is_nan() -> None:
    x = torch.randn(10, 2)
    y = torch.zeros(10, 2, dtype=torch.bool)
    y[:5, 1] = True
    s = single_neuron_selectivity(x, y)
    assert torch.isnan(s.accuracy[0]).all() and not torch.isnan(s.accuracy[1]).any()
    assert s.best(1, 2)[0][1] >= s.best(1, 2)[1][1]


def test_chunks_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import lightning_deepvision.analysis.selectivity as selectivity

    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(30, 9, generator=g), torch.rand(30, 5, generator=g) > 0.5
    whole = single_neuron_selectivity(x, y, torch.arange(30) % 2)
    monkeypatch.setattr(selectivity, "_CHUNK_ELEMENTS", 50)  # one neuron at a time
    chunked = single_neuron_selectivity(x, y, torch.arange(30) % 2)
    torch.testing.assert_close(whole.accuracy, chunked.accuracy)
    torch.testing.assert_close(whole.threshold, chunked.threshold)
    assert torch.equal(whole.excitatory, chunked.excitatory)


def test_mean_responses() -> None:
    x = torch.tensor([[1.0, 0.0], [3.0, 2.0], [5.0, 4.0]])
    y = torch.tensor([[True], [True], [False]])
    positive, negative = mean_responses(x, y)
    torch.testing.assert_close(positive, torch.tensor([[2.0, 1.0]]))
    torch.testing.assert_close(negative, torch.tensor([[5.0, 4.0]]))
    positive, _ = mean_responses(x, torch.zeros(3, 1, dtype=torch.bool))
    assert math.isnan(positive[0, 0].item())


def test_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        fit_thresholds(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="targets"):
        fit_thresholds(torch.zeros(3, 2), torch.zeros(4, 1))
    with pytest.raises(ValueError, match="folds"):
        single_neuron_selectivity(torch.zeros(3, 2), torch.zeros(3, 1), torch.zeros(2))
