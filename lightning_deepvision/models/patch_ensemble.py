"""The DeepID2 patch ensemble: one ConvNet per face patch, features concatenated.

Sun, Wang, Tang, "Deep Learning Face Representation by Joint Identification-Verification",
NIPS 2014, §3: face patches at several positions, scales and colour modes are cut from the
aligned face, each patch (and its mirror) feeds its own ConvNet, and the DeepID2 vectors of the
selected patches are concatenated, reduced by PCA and verified with Joint Bayesian. DeepID2+
(Sun, Wang, Tang, CVPR 2015, §4) does the same with 25 DeepID2+ nets on the same regions.

The papers do not publish the coordinates of their patches; :data:`DEEPID2_PATCHES` is a
25-patch set in their spirit (face regions around the eyes, nose and mouth, whole-face crops
at two scales, colour and grey), and every patch is configurable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from lightning_deepvision.models.registry import create_model, model_accepts, register_model

__all__ = ["DEEPID2_PATCHES", "PatchEnsemble", "PatchMode", "patch_ensemble"]

PatchMode = Literal["rgb", "grey"]

# Regions of the aligned face as (top, left, height, width), fractions of its height/width.
_REGIONS: tuple[tuple[float, float, float, float], ...] = (
    (0.0, 0.0, 1.0, 1.0),  # whole face
    (0.0, 0.0, 0.6, 1.0),  # eyes and brows
    (0.25, 0.0, 0.5, 1.0),  # eyes to mouth
    (0.45, 0.0, 0.55, 1.0),  # nose, mouth and chin
    (0.0, 0.0, 1.0, 0.6),  # left half
    (0.0, 0.4, 1.0, 0.6),  # right half
    (0.1, 0.0, 0.5, 0.6),  # left eye
    (0.1, 0.4, 0.5, 0.6),  # right eye
    (0.15, 0.15, 0.7, 0.7),  # central face
    (0.35, 0.2, 0.6, 0.6),  # nose and mouth
)


def _zoom(box: tuple[float, float, float, float], scale: float) -> list[float]:
    top, left, height, width = box
    return [
        top + height * (1 - scale) / 2,
        left + width * (1 - scale) / 2,
        height * scale,
        width * scale,
    ]


#: 25 patches ``[top, left, height, width, mode]``: the ten regions in colour and in grey, and
#: the first five zoomed in to 80 % (a second scale) in colour.
def _with_mode(box: Sequence[float], mode: PatchMode) -> list[float | str]:
    return [*box, mode]


DEEPID2_PATCHES: list[list[float | str]] = [
    *(_with_mode(r, "rgb") for r in _REGIONS),
    *(_with_mode(r, "grey") for r in _REGIONS),
    *(_with_mode(_zoom(r, 0.8), "rgb") for r in _REGIONS[:5]),
]

# ITU-R BT.601 luma weights, as torchvision's rgb_to_grayscale uses.
_LUMA = (0.299, 0.587, 0.114)


def _parse_patch(patch: Sequence[float | str], index: int) -> tuple[list[float], PatchMode]:
    values = list(patch)
    mode: Any = values.pop() if values and isinstance(values[-1], str) else "rgb"
    if mode not in ("rgb", "grey") or len(values) != 4:
        raise ValueError(
            f"patch {index} must be [top, left, height, width] or [top, left, height, width, "
            f"'rgb'|'grey'] as fractions of the aligned face, got {list(patch)}"
        )
    top, left, height, width = (float(v) for v in values)
    if height <= 0 or width <= 0:
        raise ValueError(f"patch {index} has a non-positive size: {list(patch)}")
    return [top, left, height, width], mode


class PatchEnsemble(nn.Module):
    """One network per face patch, patches cut from the aligned face with ``roi_align``.

    DeepID2 (Sun, Wang, Tang, NIPS 2014, §3) and DeepID2+ (CVPR 2015, §4). Each patch is a box
    relative to the aligned face (so it follows any input resolution) and a colour mode; it is
    cut and resized to ``patch_size`` by :func:`torchvision.ops.roi_align` with adaptive
    sampling (every output pixel averages the input pixels it covers, i.e. an antialiased
    resize of all patches of a batch in one call). A box may extend past the face: the outside
    reads as zero (mid-grey after the usual ``[-1, 1]`` normalisation).

    The supervision contract of the verification task is kept: :attr:`level_features` and
    :meth:`forward_levels` list the supervised levels of every patch net in patch order (one per
    net for DeepID2, FC-1..FC-4 for DeepID2+), so each net is trained by its own
    identification-verification losses. :meth:`forward_features` concatenates the top level of
    the *selected* patches (:attr:`selected`, all by default; the greedy selection of DeepID2 §3
    sets it), :meth:`mirrored_features` the same for each patch mirrored.

    Args:
        net: Registry name of the per-patch network (``"deepid2"``, ``"deepid2plus"``, their
            ``_tiny`` variants or any timm name).
        patches: ``[top, left, height, width]`` or ``[top, left, height, width, mode]`` per
            patch, fractions of the face; ``mode`` is ``"rgb"`` (the input's channels) or
            ``"grey"`` (luma, one channel). ``None``: :data:`DEEPID2_PATCHES`.
        in_chans: Channels of the face given to :meth:`forward`.
        patch_size: ``(height, width)`` of every patch (55×47 in the papers).
        net_kwargs: Extra arguments of every patch network's builder.

    Raises:
        ValueError: On a malformed patch, or no patch.
    """

    selected: Tensor

    def __init__(
        self,
        net: str = "deepid2",
        patches: Sequence[Sequence[float | str]] | None = None,
        in_chans: int = 3,
        patch_size: Sequence[int] = (55, 47),
        net_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        parsed = [_parse_patch(p, i) for i, p in enumerate(patches or DEEPID2_PATCHES)]
        if not parsed:
            raise ValueError("PatchEnsemble needs at least one patch")
        self.boxes = [box for box, _ in parsed]
        self.modes: list[PatchMode] = [mode for _, mode in parsed]
        self.in_chans = in_chans
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        nets = []
        for mode in self.modes:
            kwargs = dict(net_kwargs or {})
            if model_accepts(net, "num_classes"):
                kwargs.setdefault("num_classes", 0)
            if model_accepts(net, "in_chans"):
                kwargs.setdefault("in_chans", 1 if mode == "grey" else in_chans)
            if model_accepts(net, "input_size"):
                kwargs.setdefault("input_size", self.patch_size)
            nets.append(create_model(net, **kwargs))
        self.nets = nn.ModuleList(nets)
        self.levels_per_net = [len(self._net_level_features(n)) for n in self.nets]
        self.level_features = [d for n in self.nets for d in self._net_level_features(n)]
        self.register_buffer("selected", torch.ones(len(self.nets), dtype=torch.bool))

    @staticmethod
    def _net_level_features(net: nn.Module) -> list[int]:
        declared = getattr(net, "level_features", None)
        if declared is not None:
            return [int(d) for d in declared]
        return [int(getattr(net, "num_features", 0))]  # timm contract

    @property
    def num_patches(self) -> int:
        """Number of patches (and networks)."""
        return len(self.nets)

    @property
    def patch_features(self) -> list[int]:
        """Width of each patch network's top level (its share of :meth:`forward_features`)."""
        return [self._net_level_features(n)[-1] for n in self.nets]

    @property
    def num_features(self) -> int:
        """Width of :meth:`forward_features` with the current selection."""
        return sum(
            d for d, keep in zip(self.patch_features, self.selected.tolist(), strict=True) if keep
        )

    def crops(self, faces: Tensor) -> list[Tensor]:
        """The patches of a batch of aligned faces, each ``[N, C, *patch_size]``."""
        n, _, height, width = faces.shape
        scale = faces.new_tensor([width, height, width, height])
        rois = []
        for top, left, box_h, box_w in self.boxes:
            box = faces.new_tensor([left, top, left + box_w, top + box_h]) * scale
            rois.append(box.expand(n, 4))
        index = torch.arange(n, device=faces.device, dtype=faces.dtype).repeat(len(self.boxes))
        all_rois = torch.cat([index[:, None], torch.cat(rois)], dim=1)
        # Unflattened by the patch count, not ``split(n)``: an export (``torch.jit.trace``,
        # ``torch.export``) then keeps the batch size dynamic, as the chunk count is a constant.
        patches = (
            roi_align(
                faces, all_rois, self.patch_size, spatial_scale=1.0, sampling_ratio=-1, aligned=True
            )
            .unflatten(0, (len(self.boxes), n))
            .unbind(0)
        )
        return [self._colour(p, mode) for p, mode in zip(patches, self.modes, strict=True)]

    def _colour(self, patch: Tensor, mode: PatchMode) -> Tensor:
        if mode == "rgb" or patch.shape[1] == 1:
            return patch
        weights = patch.new_tensor(_LUMA).view(1, 3, 1, 1)
        return (patch * weights).sum(dim=1, keepdim=True)

    @staticmethod
    def _levels(net: nn.Module, patch: Tensor) -> list[Tensor]:
        levels = getattr(net, "forward_levels", None)
        if callable(levels):
            return list(levels(patch))
        return [net(patch).flatten(1)]

    def forward_levels(self, faces: Tensor) -> list[Tensor]:
        """Every supervised level of every patch network, in patch order."""
        return [
            level
            for net, patch in zip(self.nets, self.crops(faces), strict=True)
            for level in self._levels(net, patch)
        ]

    def patch_embeddings(self, faces: Tensor, mirror: bool = False) -> list[Tensor]:
        """Top-level features of every patch (of each patch mirrored when ``mirror``)."""
        out = []
        for net, patch in zip(self.nets, self.crops(faces), strict=True):
            if mirror:
                patch = torch.flip(patch, dims=[-1])
            out.append(self._levels(net, patch)[-1])
        return out

    def _select(self, embeddings: list[Tensor]) -> Tensor:
        return torch.cat(
            [e for e, keep in zip(embeddings, self.selected.tolist(), strict=True) if keep], 1
        )

    def forward_features(self, faces: Tensor) -> Tensor:
        """Concatenated top-level features of the selected patches."""
        return self._select(self.patch_embeddings(faces))

    def mirrored_features(self, faces: Tensor) -> Tensor:
        """:meth:`forward_features` of every patch mirrored (each net sees its patch's flip)."""
        return self._select(self.patch_embeddings(faces, mirror=True))

    def forward(self, faces: Tensor) -> Tensor:
        """Same as :meth:`forward_features`."""
        return self.forward_features(faces)


@register_model("patch_ensemble")
def patch_ensemble(
    pretrained: bool = False,
    net: str = "deepid2",
    patches: Sequence[Sequence[float | str]] | None = None,
    in_chans: int = 3,
    patch_size: Sequence[int] = (55, 47),
    net_kwargs: Mapping[str, Any] | None = None,
) -> PatchEnsemble:
    """DeepID2's patch ensemble (NIPS 2014, §3); see :class:`PatchEnsemble`."""
    if pretrained:
        raise ValueError("patch_ensemble has no pretrained weights")
    return PatchEnsemble(net, patches, in_chans, patch_size, net_kwargs)
