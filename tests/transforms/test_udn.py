"""UDN's input channels: the tiled layout of the paper and the stacked layout of detection."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F
from torchvision import tv_tensors

from lightning_deepvision.transforms import UDNChannels, udn_channels
from lightning_deepvision.transforms.udn import rgb_to_yuv, sobel_magnitude


def test_yuv_of_grey_has_no_colour() -> None:
    grey = torch.full((3, 4, 4), 0.3)
    yuv = rgb_to_yuv(grey)
    assert torch.allclose(yuv[0], grey[0]) and torch.allclose(
        yuv[1:], torch.zeros(2, 4, 4), atol=1e-4
    )


def test_sobel_matches_a_convolution() -> None:
    torch.manual_seed(0)
    maps = torch.randn(2, 3, 9, 7)
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    padded = F.pad(maps, (1, 1, 1, 1), mode="replicate").flatten(0, 1)[:, None]
    gx, gy = F.conv2d(padded, kx[None, None]), F.conv2d(padded, kx.T[None, None])
    expected = (gx.square() + gy.square()).sqrt().view(2, 3, 9, 7)
    assert torch.allclose(sobel_magnitude(maps), expected, atol=1e-5)


def test_tiled_layout_is_the_papers() -> None:
    torch.manual_seed(1)
    window = torch.rand(3, 84, 28)
    out = udn_channels(window, "tiled")
    assert out.shape == (3, 84, 28)
    yuv = rgb_to_yuv(window)
    half = F.avg_pool2d(yuv[None], 2)[0]
    assert torch.allclose(out[0], yuv[0])
    # Channel 2: Y, U, V at half size in three tiles, the fourth zero.
    assert torch.allclose(out[1, :42, :14], half[0]) and torch.allclose(out[1, :42, 14:], half[1])
    assert torch.allclose(out[1, 42:, :14], half[2]) and torch.all(out[1, 42:, 14:] == 0)
    # Channel 3: their edges and the maximum of the three.
    edges = sobel_magnitude(half[None])[0]
    assert torch.allclose(out[2, :42, 14:], edges[1]) and torch.allclose(
        out[2, 42:, 14:], edges.amax(0)
    )


def test_stacked_layout_holds_the_same_maps_at_full_size() -> None:
    torch.manual_seed(2)
    frames = torch.rand(2, 3, 40, 30)
    stacked = udn_channels(frames, "stacked")
    assert stacked.shape == (2, 8, 40, 30)
    half = F.avg_pool2d(rgb_to_yuv(frames), 2)
    assert torch.allclose(stacked[:, 1:4, ::2, ::2], half)


def test_transform_changes_the_image_only() -> None:
    sample = {"image": tv_tensors.Image(torch.rand(3, 84, 28)), "label": torch.tensor(1)}
    out = UDNChannels("tiled")(sample)
    assert isinstance(out["image"], tv_tensors.Image) and out["image"].shape == (3, 84, 28)
    assert out["label"] == 1 and UDNChannels().out_channels == 8


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="even"):
        udn_channels(torch.rand(3, 83, 28))
    with pytest.raises(ValueError, match="layout"):
        udn_channels(torch.rand(3, 84, 28), "grid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="RGB"):
        udn_channels(torch.rand(1, 84, 28))
