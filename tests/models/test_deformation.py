"""DeformationLayer and DefPooling against max-pooling, each other and loop references."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn import functional as F

from lightning_deepvision.models.layers import DeformationLayer, DefPooling
from lightning_deepvision.models.layers.deformation import deformation_max, displacement_maps


def _loop_def_pooling(maps, weight, penalties, kernel, stride, padding):
    """b = max over the window of m - sum_n a_n d_n, one output at a time."""
    b, c, h, w = maps.shape
    kh, kw = kernel
    out_h = (h + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (w + 2 * padding[1] - kw) // stride[1] + 1
    out = torch.full((b, c, out_h, out_w), float("-inf"), dtype=maps.dtype)
    for n, ch, y, x in itertools.product(range(b), range(c), range(out_h), range(out_w)):
        for i, j in itertools.product(range(kh), range(kw)):
            row, col = stride[0] * y + i - padding[0], stride[1] * x + j - padding[1]
            if 0 <= row < h and 0 <= col < w:
                penalty = sum(
                    float(weight[ch, k] * penalties[k, i, j]) for k in range(len(penalties))
                )
                out[n, ch, y, x] = max(
                    float(out[n, ch, y, x]), float(maps[n, ch, row, col]) - penalty
                )
    return out


def test_displacement_maps_are_centred_and_normalised() -> None:
    maps = displacement_maps((5, 3))
    assert maps.shape == (4, 5, 3)
    dy2, dx2, dy, dx = maps
    assert torch.allclose(dy[:, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert torch.allclose(dx[0], torch.tensor([-1.0, 0.0, 1.0]))
    assert torch.equal(dy2, dy * dy) and torch.equal(dx2, dx * dx)
    assert torch.equal(displacement_maps(1), torch.zeros(4, 1, 1))


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(3, 2, 1), ((3, 2), (1, 2), (1, 0)), (2, 2, 0)]
)
def test_zero_penalty_is_max_pooling(kernel, stride, padding) -> None:
    torch.manual_seed(0)
    maps = torch.randn(2, 3, 9, 8)
    pool = DefPooling(3, kernel, stride, padding, init_weight=0.0)
    assert torch.equal(pool(maps), F.max_pool2d(maps, kernel, stride, padding))


def test_stride_defaults_to_the_window() -> None:
    maps = torch.randn(1, 2, 6, 6)
    assert torch.equal(DefPooling(2, 3, init_weight=0.0)(maps), F.max_pool2d(maps, 3))


def test_def_pooling_matches_a_loop_reference() -> None:
    torch.manual_seed(1)
    maps = torch.randn(2, 2, 7, 6, dtype=torch.float64)
    pool = DefPooling(2, (3, 3), stride=(2, 1), padding=(1, 1)).double()
    with torch.no_grad():
        pool.raw_weight.copy_(torch.rand(2, 4, dtype=torch.float64))
        pool.raw_weight[0, 3] = -0.5  # clamped to zero: a >= 0
    expected = _loop_def_pooling(maps, pool.weight.detach(), pool.penalties, (3, 3), (2, 1), (1, 1))
    assert pool.weight[0, 3] == 0
    assert torch.allclose(pool(maps), expected)


def test_whole_map_window_equals_the_deformation_layer() -> None:
    torch.manual_seed(2)
    maps = torch.randn(3, 4, 6, 3)
    pool = DefPooling(4, (6, 3), stride=1)
    with torch.no_grad():
        pool.raw_weight.copy_(torch.rand(4, 4))
    layer = DeformationLayer(4, (6, 3))
    with torch.no_grad():
        layer.weight.copy_(-pool.weight)
    assert torch.allclose(pool(maps).flatten(1), layer(maps))


def test_deformation_layer_matches_its_definition() -> None:
    torch.manual_seed(3)
    maps = torch.randn(2, 3, 4, 2)
    layer = DeformationLayer(3, (4, 2))
    with torch.no_grad():
        layer.weight.normal_()
    fixed = displacement_maps((4, 2))
    summed = maps + torch.einsum("pn,nhw->phw", layer.weight, fixed)  # B_p = M_p + sum c D
    assert torch.allclose(layer(maps), summed.flatten(2).amax(dim=2))


def test_deformation_layer_scores_every_placement() -> None:
    torch.manual_seed(4)
    layer = DeformationLayer(2, (3, 2))
    with torch.no_grad():
        layer.weight.normal_()
    big = torch.randn(1, 2, 7, 5)
    dense = layer.score_maps(big)
    assert dense.shape == (1, 2, 5, 4)
    assert torch.allclose(dense[0, :, 3, 1], layer(big[..., 3:6, 1:3])[0])
    with pytest.raises(ValueError, match="score_maps"):
        layer(big)


def test_gradients_reach_the_penalty_weights() -> None:
    torch.manual_seed(5)
    maps = torch.randn(2, 3, 8, 8, requires_grad=True)
    pool = DefPooling(3, 3, stride=2, padding=1)
    pool(maps).sum().backward()
    assert pool.raw_weight.grad is not None and pool.raw_weight.grad.abs().sum() > 0
    assert maps.grad is not None and maps.grad.abs().sum() > 0
    layer = DeformationLayer(3, (8, 8))
    layer(maps).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_without_learning_the_layer_is_a_plain_maximum() -> None:
    layer = DeformationLayer(2, (3, 3), learnable=False)
    assert not any(True for _ in layer.parameters())
    maps = torch.randn(4, 2, 3, 3)
    assert torch.equal(layer(maps), maps.flatten(2).amax(dim=2))


def test_custom_maps_and_shape_errors() -> None:
    custom = torch.rand(2, 3, 3)
    layer = DeformationLayer(5, 3, maps=custom)
    assert layer.deformation_maps.shape == (5, 2, 3, 3) and torch.all(layer.weight == 0)
    with pytest.raises(ValueError, match="maps must be"):
        DeformationLayer(5, 3, maps=torch.rand(2, 4, 4))
    with pytest.raises(ValueError, match="penalties must be"):
        DefPooling(2, 3, penalties=torch.rand(2, 2, 2))
    with pytest.raises(ValueError, match="padding"):
        DefPooling(2, 3, padding=2)
    with pytest.raises(ValueError, match="does not fit"):
        deformation_max(torch.randn(1, 1, 2, 2), torch.zeros(1, 3, 3))
