"""FIP: shapes, parameter counts from the layer arithmetic, features and reconstruction."""

from __future__ import annotations

import pytest
import torch

from lightning_deepvision.models import create_model, list_models
from lightning_deepvision.models.fip import FIP
from lightning_deepvision.models.layers import LocallyConnected2d


def lc_params(size: int, maps_in: int, maps_out: int, kernel: int) -> int:
    """A same-size locally connected layer: one filter bank and bias per position."""
    return size * size * maps_out * (maps_in * kernel * kernel + 1)


def test_registered_with_a_tiny_variant() -> None:
    assert {"fip", "fip_tiny"} <= set(list_models())
    model = create_model("fip_tiny")
    assert isinstance(model, FIP) and model.in_size == (16, 16)


def test_parameter_count_follows_the_layers() -> None:
    model = FIP(in_chans=1, in_size=32, channels=(8, 6, 4), kernel_sizes=(5, 3, 3))
    expected = (
        lc_params(32, 1, 8, 5)
        + lc_params(16, 8, 6, 3)
        + lc_params(8, 6, 4, 3)
        + (4 * 8 * 8) * (32 * 32)
        + 32 * 32  # the fully connected reconstruction
    )
    assert sum(p.numel() for p in model.parameters()) == expected
    assert model.num_features == 4 * 8 * 8 and model.feature_shape == (4, 8, 8)
    assert sum(isinstance(m, LocallyConnected2d) for m in model.modules()) == 3


def test_default_is_the_96x96_grey_network_of_specs() -> None:
    # Sizes only: building the full network would allocate its 170M-weight reconstruction.
    assert FIP.__init__.__defaults__[:4] == (1, 96, (32, 32, 32), (5, 3, 3))  # type: ignore[index]


def test_forward_reconstructs_the_canonical_view_size() -> None:
    model = FIP(in_chans=1, in_size=16, channels=(4, 4, 4), kernel_sizes=(3, 3, 3))
    x = torch.rand(3, 1, 16, 16)
    out = model.forward_all(x)
    assert out["features"].shape == (3, 64)
    assert out["reconstruction"].shape == (3, 1, 16, 16)
    torch.testing.assert_close(model(x), out["reconstruction"])
    # The features are the third locally connected layer's rectified maps, flattened.
    torch.testing.assert_close(out["features"], model.features(x).flatten(1))
    assert bool((out["features"] >= 0).all())


def test_the_loss_trains_every_layer() -> None:
    torch.manual_seed(0)
    model = create_model("fip_tiny")
    x, y = torch.rand(4, 1, 16, 16), torch.rand(4, 1, 16, 16)
    ((model(x) - y) ** 2).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_rejects_bad_configurations() -> None:
    with pytest.raises(ValueError, match="three locally connected layers"):
        FIP(channels=(8, 8))
    with pytest.raises(ValueError, match="divisible by 4"):
        FIP(in_size=30)
    with pytest.raises(ValueError, match="canonical view"):
        create_model("fip_tiny").forward_head(torch.zeros(1, 64), torch.zeros(1, dtype=torch.long))
