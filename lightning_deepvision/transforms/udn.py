"""UDN's input channels: luminance, half-size colour and half-size edges.

Ouyang, Wang, "Joint Deep Learning for Pedestrian Detection", ICCV 2013, §3.1: an 84×28 RGB
window becomes three channels,

1. the Y channel of YUV;
2. the Y, U and V channels at half size (42×14), tiled into one 84×28 map (the fourth tile
   zero);
3. Sobel edge magnitudes of the half-size Y, U and V channels and their maximum, tiled the
   same way.

``layout="tiled"`` builds exactly that (:func:`udn_channels`). The tiles move at half the speed
of the window, so the tiled input of a window is not a crop of any one map of the frame, and a
detector cannot share one convolution between the windows of a frame. ``layout="stacked"``
keeps the same eight maps at full size, one per channel (the half-size maps upsampled back),
so the input of every window is a crop of the frame's input and UDN's
:meth:`~lightning_deepvision.models.udn.UDN.score_map` scores all of them in one pass; this is
the library's default for detection.

torchvision has neither a YUV conversion nor a Sobel filter, hence the few lines here.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor
from torch.nn import functional as F
from torchvision import tv_tensors
from torchvision.transforms import v2

__all__ = ["UDN_LAYOUTS", "UDNChannels", "rgb_to_yuv", "sobel_magnitude", "udn_channels"]

Layout = Literal["tiled", "stacked"]
#: Channels of each layout of :func:`udn_channels`.
UDN_LAYOUTS: dict[str, int] = {"tiled": 3, "stacked": 8}

# ITU-R BT.601 analogue YUV (linear, no offset: it applies unchanged to normalised pixels).
_YUV = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]]
)


def rgb_to_yuv(image: Tensor) -> Tensor:
    """BT.601 YUV of ``[..., 3, H, W]`` RGB (any affine-free scaling of the pixels)."""
    if image.shape[-3] != 3:
        raise ValueError(f"expected RGB images [..., 3, H, W], got {list(image.shape)}")
    return torch.einsum("ij,...jhw->...ihw", _YUV.to(image), image)


def sobel_magnitude(maps: Tensor) -> Tensor:
    """Sobel gradient magnitude of each map of ``[B, C, H, W]`` (edges replicated).

    The 3x3 kernels (normalised by 8) are applied as separable shifted differences and sums:
    a few elementwise passes instead of a grouped convolution.
    """
    p = F.pad(maps, (1, 1, 1, 1), mode="replicate")
    dx = p[..., 2:] - p[..., :-2]  # horizontal difference, [.., H + 2, W]
    dy = p[..., 2:, :] - p[..., :-2, :]  # vertical difference, [.., H, W + 2]
    gx = (dx[..., :-2, :] + 2 * dx[..., 1:-1, :] + dx[..., 2:, :]) / 8
    gy = (dy[..., :-2] + 2 * dy[..., 1:-1] + dy[..., 2:]) / 8
    return (gx.square() + gy.square()).add(1e-12).sqrt()


def udn_channels(image: Tensor, layout: Layout = "stacked") -> Tensor:
    """UDN's input channels of RGB windows or frames ``[3, H, W]`` / ``[B, 3, H, W]``.

    Args:
        image: Float RGB (normalised or not: every step is linear up to the edge magnitude).
        layout: ``"tiled"`` (the paper's three channels; ``H`` and ``W`` even) or
            ``"stacked"`` (the same eight maps at full size, ``Y, Y½, U½, V½, E_Y, E_U, E_V,
            E_max``; ``H`` and ``W`` even).

    Returns:
        ``[(B,) 3, H, W]`` (tiled) or ``[(B,) 8, H, W]`` (stacked), the dtype of ``image``.
    """
    if layout not in UDN_LAYOUTS:
        raise ValueError(f"layout must be one of {sorted(UDN_LAYOUTS)}, got {layout!r}")
    single = image.ndim == 3
    batch = image.unsqueeze(0) if single else image
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"expected RGB [3, H, W] or [B, 3, H, W], got {list(image.shape)}")
    height, width = batch.shape[-2:]
    if height % 2 or width % 2:
        raise ValueError(f"UDN channels need an even height and width, got {height}x{width}")
    yuv = rgb_to_yuv(batch)
    half = F.avg_pool2d(yuv, 2)
    edges = sobel_magnitude(half)
    edges = torch.cat([edges, edges.amax(dim=1, keepdim=True)], dim=1)
    if layout == "stacked":
        low = F.interpolate(torch.cat([half, edges], dim=1), scale_factor=2, mode="nearest")
        out = torch.cat([yuv[:, :1], low], dim=1)
    else:
        out = torch.cat([yuv[:, :1], _tile(half), _tile(edges)], dim=1)
    return out[0] if single else out


def _tile(maps: Tensor) -> Tensor:
    # Up to four half-size maps in a 2x2 grid (row-major), zero where there are fewer.
    b, c, h, w = maps.shape
    tiles = torch.cat([maps, maps.new_zeros(b, 4 - c, h, w)], dim=1)
    return tiles.view(b, 2, 2, h, w).permute(0, 1, 3, 2, 4).reshape(b, 1, 2 * h, 2 * w)


class UDNChannels(v2.Transform):
    """:func:`udn_channels` as a ``torchvision.transforms.v2`` step (images only).

    Place it after normalisation; boxes and labels of a sample pass through unchanged.

    Args:
        layout: ``"tiled"`` or ``"stacked"``.
    """

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, layout: Layout = "stacked") -> None:
        super().__init__()
        if layout not in UDN_LAYOUTS:
            raise ValueError(f"layout must be one of {sorted(UDN_LAYOUTS)}, got {layout!r}")
        self.layout: Layout = layout

    @property
    def out_channels(self) -> int:
        """Channels of the output."""
        return UDN_LAYOUTS[self.layout]

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        """The channels of one image (other entries are not transformed)."""
        return tv_tensors.wrap(udn_channels(inpt.as_subclass(Tensor), self.layout), like=inpt)
