"""Deformation handling: the UDN deformation layer and DeepID-Net's def-pooling.

Both score a part by the best placement of its detection map under a geometric penalty:

- :class:`DeformationLayer` (Ouyang, Wang, "Joint Deep Learning for Pedestrian Detection",
  ICCV 2013, §3.3): a part's summed map ``B_p = M_p + Σ_n c_{n,p} D_{n,p}`` over the part's
  detection map ``M_p`` and fixed deformation maps ``D_{n,p}`` with learned weights ``c``; the
  part score is ``s_p = max_{(x, y)} B_p``.
- :class:`DefPooling` (Ouyang et al., "DeepID-Net: Deformable Deep Convolutional Neural
  Networks for Object Detection", CVPR 2015, §3.4): deformation-constrained pooling of every
  window ``R`` of a map at stride ``k``, ``b^{(x, y)} = max_{(i, j) ∈ R} m^{(kx + i, ky + j)} −
  Σ_n a_{c,n} d_n^{(i, j)}`` with penalty functions ``d_n`` and learned ``a ≥ 0``.

The deformation layer is def-pooling whose window covers the whole part map, with the weights'
sign folded in (``c = −a``). torch has no max-plus ("tropical") convolution, so both run on
:func:`deformation_max`, one vectorised maximum per window offset (the windows of a part map are
a few dozen offsets, the positions and channels tens of thousands).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "DEFORMATION_TERMS",
    "DefPooling",
    "DeformationLayer",
    "deformation_max",
    "displacement_maps",
]

#: The default deformation maps / penalty functions, in order: quadratic then linear in the
#: vertical (``dy``) and horizontal (``dx``) displacement from the window's centre.
DEFORMATION_TERMS: tuple[str, ...] = ("dy^2", "dx^2", "dy", "dx")


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return (value, value)
    pair = tuple(int(v) for v in value)
    if len(pair) != 2:
        raise ValueError(f"expected an int or a (height, width) pair, got {value!r}")
    return (pair[0], pair[1])


def displacement_maps(kernel_size: int | Sequence[int]) -> Tensor:
    """The fixed quadratic and linear maps of :data:`DEFORMATION_TERMS` over a window.

    Displacements are measured from the window's centre and divided by its half size, so they
    lie in ``[-1, 1]`` whatever the window (learned weights then have one scale for every part
    size; a window one cell long has displacement 0).

    Args:
        kernel_size: ``(height, width)`` of the window (the part map of UDN).

    Returns:
        ``float32`` ``[4, height, width]``: ``dy², dx², dy, dx``.
    """
    kh, kw = _pair(kernel_size)
    if kh < 1 or kw < 1:
        raise ValueError(f"kernel_size must be positive, got {(kh, kw)}")
    dy = (torch.arange(kh, dtype=torch.float32) - (kh - 1) / 2) / max((kh - 1) / 2, 1.0)
    dx = (torch.arange(kw, dtype=torch.float32) - (kw - 1) / 2) / max((kw - 1) / 2, 1.0)
    dy, dx = torch.broadcast_tensors(dy[:, None], dx[None, :])
    return torch.stack([dy * dy, dx * dx, dy, dx])


def deformation_max(
    maps: Tensor,
    offset_scores: Tensor,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
) -> Tensor:
    """Max-plus correlation of part maps with per-offset scores.

    ``out[b, c, y, x] = max_{i, j} maps[b, c, sy·y + i, sx·x + j] + offset_scores[c, i, j]``.

    The common core of :class:`DeformationLayer` and :class:`DefPooling`. Positions outside the
    map (``padding``) never win, as in ``max_pool2d``. The gradient reaches the winning map
    entry and the winning offset's score.

    Args:
        maps: ``[B, C, H, W]`` part detection maps.
        offset_scores: ``[C, kh, kw]`` score added at each offset of the window (the negative
            deformation penalty).
        stride: Window stride ``(sy, sx)``.
        padding: Implicit ``-inf`` padding on each side ``(py, px)``.

    Returns:
        ``[B, C, (H + 2py - kh) // sy + 1, (W + 2px - kw) // sx + 1]``.
    """
    if maps.ndim != 4 or offset_scores.ndim != 3 or offset_scores.shape[0] != maps.shape[1]:
        raise ValueError(
            f"need maps [B, C, H, W] and offset scores [C, kh, kw], got {list(maps.shape)} and "
            f"{list(offset_scores.shape)}"
        )
    sy, sx = _pair(stride)
    py, px = _pair(padding)
    kh, kw = offset_scores.shape[1:]
    if py or px:
        maps = F.pad(maps, (px, px, py, py), value=float("-inf"))
    height, width = maps.shape[-2:]
    out_h, out_w = (height - kh) // sy + 1, (width - kw) // sx + 1
    if out_h < 1 or out_w < 1:
        raise ValueError(
            f"a {kh}x{kw} window does not fit the {height}x{width} map (padding included)"
        )
    scores = offset_scores.to(maps.dtype)
    out: Tensor | None = None
    for i in range(kh):
        rows = slice(i, i + sy * (out_h - 1) + 1, sy)
        for j in range(kw):
            shifted = maps[:, :, rows, j : j + sx * (out_w - 1) + 1 : sx]
            candidate = shifted + scores[None, :, i, j, None, None]
            out = candidate if out is None else torch.maximum(out, candidate)
    assert out is not None
    return out


class DeformationLayer(nn.Module):
    """UDN's deformation layer: part score = max over positions of ``M_p + Σ_n c_{n,p} D_{n,p}``.

    Ouyang, Wang, "Joint Deep Learning for Pedestrian Detection", ICCV 2013, §3.3. The fixed
    deformation maps ``D_n`` default to the DPM-style quadratic and linear displacements of
    :func:`displacement_maps` (the paper's exact maps are not confirmed; pass ``maps`` to use
    others); a quadratic weight below zero penalises parts far from the anchor and the linear
    weights move the anchor, so every part learns where it prefers to be.

    :meth:`forward` scores part maps of exactly ``map_size`` (one window); :meth:`score_maps`
    scores every placement of a ``map_size`` window in a larger map, as a fully convolutional
    detector needs.

    Args:
        channels: Number of parts ``P``.
        map_size: ``(height, width)`` of a part's detection map over one window.
        maps: Fixed deformation maps, ``[N, h, w]`` shared by the parts or ``[P, N, h, w]``;
            ``None``: :func:`displacement_maps` of ``map_size``.
        learnable: Learn the weights ``c``; ``False`` keeps them at zero, which turns the layer
            into a plain maximum over positions (the ablation without deformation handling).
        init_quadratic: Initial weight of the quadratic maps (the linear ones start at zero).
    """

    deformation_maps: Tensor
    weight: Tensor

    def __init__(
        self,
        channels: int,
        map_size: int | Sequence[int],
        maps: Tensor | None = None,
        learnable: bool = True,
        init_quadratic: float = -0.1,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.map_size = _pair(map_size)
        fixed = displacement_maps(self.map_size) if maps is None else maps.detach().float()
        if fixed.ndim == 3:
            fixed = fixed.unsqueeze(0).expand(self.channels, -1, -1, -1)
        if (
            fixed.ndim != 4
            or fixed.shape[0] != self.channels
            or tuple(fixed.shape[2:]) != (self.map_size)
        ):
            raise ValueError(
                f"maps must be [N, {self.map_size[0]}, {self.map_size[1]}] or "
                f"[{self.channels}, N, {self.map_size[0]}, {self.map_size[1]}], got "
                f"{list(fixed.shape)}"
            )
        self.register_buffer("deformation_maps", fixed.contiguous())
        weight = torch.zeros(self.channels, fixed.shape[1])
        if maps is None and learnable:
            weight[:, :2] = init_quadratic
        if learnable:
            self.weight = nn.Parameter(weight)
        else:
            self.register_buffer("weight", weight)

    def offset_scores(self) -> Tensor:
        """``Σ_n c_{n,p} D_{n,p}``, ``[P, h, w]``."""
        return torch.einsum("pn,pnhw->phw", self.weight, self.deformation_maps)

    def score_maps(self, maps: Tensor) -> Tensor:
        """Part scores of every window placement: ``[B, P, H - h + 1, W - w + 1]``."""
        return deformation_max(maps, self.offset_scores())

    def forward(self, maps: Tensor) -> Tensor:
        """Part scores ``s_p`` of part maps ``[B, P, h, w]`` (one window): ``[B, P]``."""
        if tuple(maps.shape[-2:]) != self.map_size:
            raise ValueError(
                f"DeformationLayer expects part maps of {self.map_size}, got "
                f"{tuple(maps.shape[-2:])} (use score_maps for larger maps)"
            )
        return self.score_maps(maps).flatten(1)

    def extra_repr(self) -> str:
        """Sizes, shown by ``print(module)``."""
        learnable = isinstance(self.weight, nn.Parameter)
        return (
            f"channels={self.channels}, map_size={self.map_size}, "
            f"maps={self.deformation_maps.shape[1]}, learnable={learnable}"
        )


class DefPooling(nn.Module):
    """Def-pooling: deformation-constrained max-pooling with learned non-negative penalties.

    Ouyang et al., "DeepID-Net: Deformable Deep Convolutional Neural Networks for Object
    Detection", CVPR 2015, §3.4: for each channel ``c`` and output position,
    ``b = max_{(i, j) ∈ R} m^{(k·x + i, k·y + j)} − Σ_n a_{c,n} d_n^{(i, j)}``, the window
    ``R`` placed as ``max_pool2d`` places it (``kernel_size``, ``stride``, ``padding``), the
    displacement ``(i, j)`` measured from the window's centre. The paper's penalty functions are
    not confirmed; the default ``d_n`` are the quadratic and linear displacements of
    :func:`displacement_maps`. The weights ``a = relu(raw)`` stay non-negative (a weight pushed
    below zero stops at zero, as a projected gradient step would leave it).

    With ``a = 0`` this is ``max_pool2d`` with the same window; with one window covering the
    whole map it is :class:`DeformationLayer` with ``c = −a``.

    Args:
        channels: Channels of the input.
        kernel_size: Window ``R`` (``2R + 1`` for the paper's centred ``[−R, R]²``).
        stride: Stride ``k``; ``None``: the window size, as ``max_pool2d``.
        padding: Implicit ``-inf`` padding (``R`` for the paper's centred windows).
        penalties: Fixed penalty functions ``[N, kh, kw]``; ``None``: :func:`displacement_maps`.
        init_weight: Initial value of every ``a_{c,n}``.
    """

    penalties: Tensor

    def __init__(
        self,
        channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        penalties: Tensor | None = None,
        init_weight: float = 0.01,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)
        self.padding = _pair(padding)
        if any(p > k // 2 for p, k in zip(self.padding, self.kernel_size, strict=True)):
            raise ValueError(
                f"padding {self.padding} must be at most half the window {self.kernel_size}"
            )
        fixed = displacement_maps(self.kernel_size) if penalties is None else penalties.float()
        if fixed.ndim != 3 or tuple(fixed.shape[1:]) != self.kernel_size:
            raise ValueError(
                f"penalties must be [N, {self.kernel_size[0]}, {self.kernel_size[1]}], got "
                f"{list(fixed.shape)}"
            )
        self.register_buffer("penalties", fixed.contiguous())
        if init_weight < 0:
            raise ValueError(f"init_weight must be >= 0, got {init_weight}")
        self.raw_weight = nn.Parameter(torch.full((self.channels, fixed.shape[0]), init_weight))

    @property
    def weight(self) -> Tensor:
        """The non-negative penalty weights ``a``, ``[C, N]``."""
        return F.relu(self.raw_weight)

    def offset_scores(self) -> Tensor:
        """``−Σ_n a_{c,n} d_n``, ``[C, kh, kw]``."""
        return -torch.einsum("cn,nhw->chw", self.weight, self.penalties)

    def forward(self, maps: Tensor) -> Tensor:
        """Def-pool ``[B, C, H, W]`` into ``[B, C, H_out, W_out]`` (sizes as ``max_pool2d``)."""
        return deformation_max(maps, self.offset_scores(), self.stride, self.padding)

    def extra_repr(self) -> str:
        """Sizes, shown by ``print(module)``."""
        return (
            f"channels={self.channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, penalties={self.penalties.shape[0]}"
        )
