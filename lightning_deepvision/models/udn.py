"""UDN, the joint deep model of pedestrian detection (Ouyang & Wang, ICCV 2013).

Ouyang, Wang, "Joint Deep Learning for Pedestrian Detection", ICCV 2013: one network learns
feature extraction, part deformation, occlusion (visibility) reasoning and classification
together. The layers (sizes are the commonly reported configuration; the paper's exact filter
shapes are not confirmed, so every one is an argument):

1. conv1: 64 filters 9×9 on the 84×28 input, ReLU, 4×4 average pooling (76×20 → 19×5);
2. 20 part filters at three levels (6 small parts, 7 mid-size, 7 large), each a convolution
   over the pooled maps giving a part detection map ``M_p``;
3. the deformation layer (:class:`~lightning_deepvision.models.layers.DeformationLayer`):
   part score ``s_p = max (M_p + Σ_n c_{n,p} D_{n,p})``;
4. hierarchical visibility reasoning: ``h¹ = σ(g¹ ∘ s¹ + b¹)``, ``h^{l+1} = σ(W_l h^l +
   g^{l+1} ∘ s^{l+1} + b^{l+1})``, and the pedestrian score ``y = σ(w · h³ + b)``, trained
   with a log loss (:meth:`UDN.forward` returns the logit ``w · h³ + b``).

``deformation=False`` turns the deformation layer into a plain maximum and
``visibility=False`` replaces the visibility units by one linear classifier of the 20 part
scores: the two halves of the paper's ablation.

:meth:`UDN.score_map` scores every window of a larger input in one fully convolutional pass:
every layer up to the part maps is a convolution or a pooling, the deformation layer becomes a
max-plus correlation over window-sized neighbourhoods and the visibility units act position by
position. Window ``(i, j)`` of the map is the crop at rows ``4i``, columns ``4j`` (the pooling
stride).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn

from lightning_deepvision.models.layers.deformation import DeformationLayer
from lightning_deepvision.models.registry import register_model

__all__ = ["UDN", "VisibilityReasoning", "udn", "udn_tiny"]


class VisibilityReasoning(nn.Module):
    """UDN's hierarchical visibility units and classifier (Ouyang & Wang, ICCV 2013, §3.4).

    ``h¹ = σ(g¹ ∘ s¹ + b¹)``, ``h^{l+1} = σ(W_l h^l + g^{l+1} ∘ s^{l+1} + b^{l+1})``; the
    output logit is ``w · h^L + b``. Works on the last dimension, so part scores of every
    window position (``[..., P]``) are reasoned about at once.

    Args:
        parts_per_level: Parts ``P_l`` of each level (their scores are concatenated in order).
    """

    def __init__(self, parts_per_level: Sequence[int]) -> None:
        super().__init__()
        self.parts_per_level = tuple(int(n) for n in parts_per_level)
        self.gains = nn.ParameterList([nn.Parameter(torch.ones(n)) for n in self.parts_per_level])
        self.biases = nn.ParameterList([nn.Parameter(torch.zeros(n)) for n in self.parts_per_level])
        self.transitions = nn.ModuleList(
            nn.Linear(a, b, bias=False)
            for a, b in zip(self.parts_per_level[:-1], self.parts_per_level[1:], strict=True)
        )
        self.classifier = nn.Linear(self.parts_per_level[-1], 1)

    def hidden(self, scores: Tensor) -> list[Tensor]:
        """The visibility units ``h^l`` of each level (``[..., P_l]``)."""
        levels = scores.split(list(self.parts_per_level), dim=-1)
        units: list[Tensor] = []
        for index, part_scores in enumerate(levels):
            drive = self.gains[index] * part_scores + self.biases[index]
            if index:
                drive = drive + self.transitions[index - 1](units[-1])
            units.append(torch.sigmoid(drive))
        return units

    def forward(self, scores: Tensor) -> Tensor:
        """The pedestrian logit ``[..., 1]`` of part scores ``[..., sum(P_l)]``."""
        return self.classifier(self.hidden(scores)[-1])


class UDN(nn.Module):
    """The joint deep pedestrian model (Ouyang & Wang, ICCV 2013); see the module docstring.

    Follows timm's contract: :meth:`forward_features` returns the part scores (``num_features``
    of them), :meth:`forward_head` the pedestrian logit (``num_classes = 1``).

    Args:
        in_chans: Input channels (3 for the paper's tiled input, 8 for the stacked one of
            :func:`~lightning_deepvision.transforms.udn.udn_channels`).
        window_size: ``(height, width)`` of a window (84×28).
        conv1_channels: Filters of conv1 (64).
        conv1_kernel: Their size (9).
        pool: Average-pooling size and stride after conv1 (4).
        parts_per_level: Part filters per level (6, 7, 7).
        part_kernel_sizes: ``(height, width)`` of each level's part filters over the pooled
            maps (a small part, a mid-size one, half the body).
        deformation: Learn the deformation weights; ``False``: part score = plain maximum.
        visibility: Hierarchical visibility reasoning; ``False``: a linear classifier of the
            part scores.
        drop_rate: Dropout on the part scores during training.
        score_norm: Standardise the part scores (batch statistics in training, running ones in
            evaluation: a fixed affine map, so ``score_map`` stays exact) before the
            classifier. Not in the paper: the maxima of part maps start large and drive the
            visibility sigmoids into saturation, which stalls training for hundreds of steps.
    """

    num_classes = 1

    def __init__(
        self,
        in_chans: int = 3,
        window_size: Sequence[int] = (84, 28),
        conv1_channels: int = 64,
        conv1_kernel: int = 9,
        pool: int = 4,
        parts_per_level: Sequence[int] = (6, 7, 7),
        part_kernel_sizes: Sequence[Sequence[int]] = ((4, 2), (7, 3), (10, 5)),
        deformation: bool = True,
        visibility: bool = True,
        drop_rate: float = 0.0,
        score_norm: bool = True,
    ) -> None:
        super().__init__()
        if len(parts_per_level) != len(part_kernel_sizes) or not parts_per_level:
            raise ValueError(
                "parts_per_level and part_kernel_sizes need one entry per level, got "
                f"{list(parts_per_level)} and {list(part_kernel_sizes)}"
            )
        self.window_size = (int(window_size[0]), int(window_size[1]))
        self.stride = int(pool)
        self.in_chans = int(in_chans)
        pooled = tuple((s - conv1_kernel + 1) // pool for s in self.window_size)
        self.pooled_size = (pooled[0], pooled[1])
        self.conv1 = nn.Conv2d(in_chans, conv1_channels, conv1_kernel)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.AvgPool2d(pool)
        self.parts = nn.ModuleList()
        self.deformations = nn.ModuleList()
        for count, size in zip(parts_per_level, part_kernel_sizes, strict=True):
            kh, kw = int(size[0]), int(size[1])
            map_size = (self.pooled_size[0] - kh + 1, self.pooled_size[1] - kw + 1)
            if min(map_size) < 1:
                raise ValueError(
                    f"part filters {kh}x{kw} do not fit the pooled {self.pooled_size} window map"
                )
            self.parts.append(nn.Conv2d(conv1_channels, int(count), (kh, kw)))
            self.deformations.append(DeformationLayer(int(count), map_size, learnable=deformation))
        self.parts_per_level = tuple(int(n) for n in parts_per_level)
        self.num_features = sum(self.parts_per_level)
        self.norm: nn.Module = (
            nn.BatchNorm1d(self.num_features, affine=False) if score_norm else nn.Identity()
        )
        self.drop = nn.Dropout(drop_rate)
        self.head: nn.Module = (
            VisibilityReasoning(self.parts_per_level)
            if visibility
            else nn.Linear(self.num_features, 1)
        )

    def _levels(self) -> list[tuple[nn.Module, DeformationLayer]]:
        return [
            (p, cast(DeformationLayer, d))
            for p, d in zip(self.parts, self.deformations, strict=True)
        ]

    def _pooled(self, x: Tensor) -> Tensor:
        return self.pool(self.act(self.conv1(x)))

    def forward_features(self, x: Tensor) -> Tensor:
        """Part scores ``[B, num_features]`` of windows ``[B, in_chans, *window_size]``."""
        if tuple(x.shape[-2:]) != self.window_size:
            raise ValueError(
                f"UDN windows must be {self.window_size}, got {tuple(x.shape[-2:])} "
                "(score_map scores larger inputs)"
            )
        pooled = self._pooled(x)[..., : self.pooled_size[0], : self.pooled_size[1]]
        scores = [d(p(pooled)) for p, d in self._levels()]
        return torch.cat(scores, dim=1)

    def forward_head(self, features: Tensor) -> Tensor:
        """The pedestrian logit ``[..., 1]`` of part scores ``[..., num_features]``."""
        flat = self.norm(features.reshape(-1, self.num_features)).reshape(features.shape)
        return self.head(self.drop(flat))

    def forward(self, x: Tensor) -> Tensor:
        """Pedestrian logits ``[B, 1]`` of windows ``[B, in_chans, *window_size]``."""
        return self.forward_head(self.forward_features(x))

    def score_map(self, x: Tensor) -> Tensor:
        """Logits of every window of ``x`` ``[B, in_chans, H, W]`` in one pass.

        Returns:
            ``[B, H', W']``: entry ``(i, j)`` is :meth:`forward` of the crop
            ``x[..., stride·i : stride·i + window_h, stride·j : stride·j + window_w]``, for
            every such crop inside ``x``.
        """
        height, width = x.shape[-2:]
        if height < self.window_size[0] or width < self.window_size[1]:
            raise ValueError(f"input {height}x{width} is smaller than a window {self.window_size}")
        pooled = self._pooled(x)
        scores = [d.score_maps(p(pooled)) for p, d in self._levels()]
        features = torch.cat(scores, dim=1).permute(0, 2, 3, 1)
        return self.forward_head(features).squeeze(-1)

    def get_classifier(self) -> nn.Module:
        """The visibility reasoning (or linear) classifier."""
        return self.head


def _build(
    in_chans: int,
    window_size: Sequence[int],
    deformation: bool,
    visibility: bool,
    drop_rate: float,
    **kwargs: Any,
) -> UDN:
    return UDN(
        in_chans=in_chans,
        window_size=window_size,
        deformation=deformation,
        visibility=visibility,
        drop_rate=drop_rate,
        **kwargs,
    )


@register_model("udn")
def udn(
    in_chans: int = 3,
    window_size: Sequence[int] = (84, 28),
    conv1_channels: int = 64,
    parts_per_level: Sequence[int] = (6, 7, 7),
    part_kernel_sizes: Sequence[Sequence[int]] = ((4, 2), (7, 3), (10, 5)),
    deformation: bool = True,
    visibility: bool = True,
    drop_rate: float = 0.0,
    score_norm: bool = True,
) -> UDN:
    """UDN at the paper's sizes (Ouyang & Wang, ICCV 2013)."""
    return _build(
        in_chans,
        window_size,
        deformation,
        visibility,
        drop_rate,
        score_norm=score_norm,
        conv1_channels=conv1_channels,
        parts_per_level=parts_per_level,
        part_kernel_sizes=part_kernel_sizes,
    )


@register_model("udn_tiny")
def udn_tiny(
    in_chans: int = 3,
    window_size: Sequence[int] = (84, 28),
    deformation: bool = True,
    visibility: bool = True,
    drop_rate: float = 0.0,
    score_norm: bool = True,
) -> UDN:
    """A tiny UDN for CPU tests: 8 conv1 filters, 2 parts per level."""
    return _build(
        in_chans,
        window_size,
        deformation,
        visibility,
        drop_rate,
        score_norm=score_norm,
        conv1_channels=8,
        parts_per_level=(2, 2, 2),
    )
