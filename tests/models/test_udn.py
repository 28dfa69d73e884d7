"""UDN: sizes, the paper's arithmetic, the ablation switches and the fully convolutional pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lightning_deepvision.models import UDN, create_model
from lightning_deepvision.models.udn import VisibilityReasoning


def test_paper_sizes_and_parameter_count() -> None:
    model = UDN(in_chans=3)
    assert model.pooled_size == (19, 5)  # (84 - 9 + 1) / 4 x (28 - 9 + 1) / 4
    assert model.num_features == 20
    conv1 = 64 * 3 * 9 * 9 + 64
    parts = sum(
        n * (64 * kh * kw + 1)
        for n, (kh, kw) in zip((6, 7, 7), ((4, 2), (7, 3), (10, 5)), strict=True)
    )
    deformation = 20 * 4
    visibility = 2 * 20 + 6 * 7 + 7 * 7 + 7 + 1  # gains, biases, W_1, W_2, classifier
    assert sum(p.numel() for p in model.parameters()) == conv1 + parts + deformation + visibility
    assert model(torch.randn(2, 3, 84, 28)).shape == (2, 1)


def test_ablation_switches() -> None:
    plain = UDN(deformation=False, visibility=False)
    assert isinstance(plain.head, nn.Linear) and plain.head.in_features == 20
    assert all(not isinstance(d.weight, nn.Parameter) for d in plain.deformations)
    assert isinstance(UDN().head, VisibilityReasoning)


def test_visibility_reasoning_follows_the_equations() -> None:
    torch.manual_seed(0)
    reasoning = VisibilityReasoning((2, 3))
    for p in reasoning.parameters():
        nn.init.normal_(p)
    s = torch.randn(4, 5)
    h1 = torch.sigmoid(reasoning.gains[0] * s[:, :2] + reasoning.biases[0])
    w = reasoning.transitions[0].weight
    h2 = torch.sigmoid(h1 @ w.T + reasoning.gains[1] * s[:, 2:] + reasoning.biases[1])
    expected = h2 @ reasoning.classifier.weight.T + reasoning.classifier.bias
    assert torch.allclose(reasoning(s), expected, atol=1e-6)


@pytest.mark.parametrize("switches", [(True, True), (False, False)])
def test_score_map_equals_forward_on_every_crop(switches, single_thread) -> None:
    torch.manual_seed(1)
    model = create_model(
        "udn_tiny", in_chans=8, deformation=switches[0], visibility=switches[1]
    ).eval()
    for layer in model.deformations:
        if isinstance(layer.weight, nn.Parameter):
            nn.init.normal_(layer.weight)
    x = torch.randn(1, 8, 100, 41)
    with torch.no_grad():
        dense = model.score_map(x)[0]
        rows, cols = dense.shape
        assert (rows, cols) == ((100 - 84) // 4 + 1, (41 - 28) // 4 + 1)
        crops = torch.stack(
            [
                x[0, :, 4 * i : 4 * i + 84, 4 * j : 4 * j + 28]
                for i in range(rows)
                for j in range(cols)
            ]
        )
        assert torch.allclose(model(crops).view(rows, cols), dense, atol=1e-5)


def test_input_size_errors() -> None:
    model = create_model("udn_tiny")
    with pytest.raises(ValueError, match="84, 28"):
        model(torch.randn(1, 3, 80, 28))
    with pytest.raises(ValueError, match="smaller than a window"):
        model.score_map(torch.randn(1, 3, 60, 60))
    with pytest.raises(ValueError, match="do not fit"):
        UDN(part_kernel_sizes=((4, 2), (7, 3), (20, 5)))
