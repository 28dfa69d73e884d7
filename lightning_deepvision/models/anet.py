"""ANet and LNet, the attribute networks of Liu, Luo, Wang, Tang, ICCV 2015.

"Deep Learning Face Attributes in the Wild" (LNets+ANet, specs §4): LNet, an AlexNet-like
network, localises the face (a window from its averaged C5 response), and ANet extracts
features from overlapping patches of that face for per-attribute linear classifiers whose
scores are averaged over the patches. The models follow timm's contract
(:class:`~lightning_deepvision.models.layers.classifier.LinearClassifierNet`), so
:class:`~lightning_deepvision.tasks.AttributesTask` puts its attribute head on any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from lightning_deepvision.models.layers import LocallySharedConv2d
from lightning_deepvision.models.layers.classifier import LinearClassifierNet
from lightning_deepvision.models.registry import register_model

__all__ = ["ANet", "LNet", "LNetANet", "patch_windows", "windows_from_response"]


def patch_windows(
    size: Sequence[int], patch_size: Sequence[int], grid: Sequence[int]
) -> list[tuple[int, int]]:
    """Top-left corners of ``grid`` overlapping patches spread evenly over ``size``.

    Args:
        size: Image ``(height, width)``.
        patch_size: Patch ``(height, width)``, at most the image's.
        grid: Patches ``(rows, columns)``; the outer ones touch the image's borders.

    Raises:
        ValueError: If a patch is larger than the image or the grid is empty.
    """
    (h, w), (ph, pw), (rows, cols) = tuple(size), tuple(patch_size), tuple(grid)
    if ph > h or pw > w or rows < 1 or cols < 1:
        raise ValueError(f"patches of {ph}x{pw} in a {rows}x{cols} grid do not fit a {h}x{w} image")
    ys = [round(i * (h - ph) / max(1, rows - 1)) for i in range(rows)]
    xs = [round(j * (w - pw) / max(1, cols - 1)) for j in range(cols)]
    return [(y, x) for y in ys for x in xs]


class ANet(LinearClassifierNet):
    """ANet: four conv layers on each overlapping face patch, FC features averaged over patches.

    Liu, Luo, Wang, Tang, "Deep Learning Face Attributes in the Wild", ICCV 2015, §2 and Fig. 2:
    C1 4×4×20 → C2 3×3×40 (filters shared globally) → C3 3×3×60 → C4 2×2×80 (locally shared:
    the response maps are split into non-overlapping cells with their own filters,
    :class:`~lightning_deepvision.models.layers.LocallySharedConv2d`), max-pooling after C1, C2
    and C3, ReLU throughout, then an FC layer. The FC vector of every patch is scored by one
    linear classifier per attribute and the scores are averaged over the patches; since the
    classifiers are the same for every patch, averaging the scores equals scoring the averaged
    FC vector, which :meth:`forward_features` returns (:meth:`forward_patches` keeps them
    apart). The paper does not give the FC width, the cell grid or the patch layout: they are
    arguments (specs §11).

    Args:
        in_chans: Input channels.
        input_size: ``(height, width)`` of the face image.
        patch_size: ``(height, width)`` of each patch.
        patch_grid: Patches ``(rows, columns)``, overlapping when they do not tile the image.
        conv_channels: Maps of C1..C4 (20, 40, 60, 80 in the paper).
        local_grid: Cells ``(rows, columns)`` of C3's and C4's locally shared filters.
        feature_dim: Width of the FC features.
        dropout: Dropout on the FC features during training.
        num_classes: Outputs of the linear classifier (0: none; the task adds its own).
    """

    def __init__(
        self,
        in_chans: int = 3,
        input_size: Sequence[int] = (64, 56),
        patch_size: Sequence[int] = (48, 40),
        patch_grid: Sequence[int] = (2, 2),
        conv_channels: Sequence[int] = (20, 40, 60, 80),
        local_grid: Sequence[int] = (2, 2),
        feature_dim: int = 256,
        dropout: float = 0.0,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if len(conv_channels) != 4:
            raise ValueError(f"conv_channels must give C1..C4, got {tuple(conv_channels)}")
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.patch_size = (int(patch_size[0]), int(patch_size[1]))
        self.windows = patch_windows(self.input_size, self.patch_size, patch_grid)
        c1, c2, c3, c4 = (int(c) for c in conv_channels)
        grid = (int(local_grid[0]), int(local_grid[1]))
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, c1, 4),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            LocallySharedConv2d(c2, c3, 3, grid=grid),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            LocallySharedConv2d(c3, c4, 2, grid=grid),
            nn.ReLU(inplace=True),
            nn.Flatten(1),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_chans, *self.patch_size)).shape[1]
        self.fc = nn.Sequential(
            nn.Linear(flat, feature_dim), nn.ReLU(inplace=True), nn.Dropout(dropout)
        )
        self.num_features = int(feature_dim)
        self.reset_classifier(num_classes)

    def patches(self, x: Tensor) -> Tensor:
        """The overlapping patches of a batch, ``(B * P, C, ph, pw)`` (patch-major per image)."""
        if tuple(x.shape[-2:]) != self.input_size:
            raise ValueError(
                f"ANet was built for {self.input_size[0]}x{self.input_size[1]} faces, got "
                f"{tuple(x.shape[-2:])}: resize the input or set input_size"
            )
        ph, pw = self.patch_size
        crops = [x[..., y : y + ph, x0 : x0 + pw] for y, x0 in self.windows]
        return torch.stack(crops, dim=1).flatten(0, 1)

    def forward_patches(self, x: Tensor) -> Tensor:
        """FC features of every patch, ``(B, P, feature_dim)``."""
        batch = x.shape[0]
        return self.fc(self.features(self.patches(x))).view(batch, len(self.windows), -1)

    def forward_features(self, x: Tensor) -> Tensor:
        """Patch features averaged over the patches, ``(B, feature_dim)``."""
        return self.forward_patches(x).mean(dim=1)


class LNet(LinearClassifierNet):
    """LNet: the AlexNet-like face localiser of LNets+ANet (Liu et al., ICCV 2015, §2.1).

    C1 11×11×96 (stride 4) → C2 5×5×256 → C3 3×3×384 → C4 3×3×384 → C5 3×3×256 with ReLU and
    3×3/2 max-pooling after C1 and C2. Its features (C5 averaged over positions) carry the
    image-level attribute tags it is fine-tuned on, through output layers removed afterwards;
    :meth:`face_window` then proposes the face as the box of the positions where the
    channel-averaged C5 response exceeds ``threshold`` of its maximum (the paper thresholds the
    averaged response map, with the threshold chosen on 2,000 images:
    :func:`~lightning_deepvision.models.lnet_threshold.select_face_window_threshold` picks it
    by the windows' overlap with known face boxes). The threshold is saved in the
    ``state_dict`` (``face_threshold``), so a chosen one travels with the checkpoint.

    Args:
        in_chans: Input channels.
        width: Multiplier of every layer's maps (1.0: the paper's; small for CPU tests).
        stem_stride: Stride of C1 (4 as AlexNet; smaller for small images).
        threshold: Fraction of the maximum averaged C5 response that marks the face.
        num_classes: Outputs of the linear classifier on the pooled C5 features.
    """

    face_threshold: Tensor

    def __init__(
        self,
        in_chans: int = 3,
        width: float = 1.0,
        stem_stride: int = 4,
        threshold: float = 0.5,
        num_classes: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 <= threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {threshold}")
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in (96, 256, 384, 384, 256))
        # float64 keeps a chosen threshold such as 0.15 exact (it is compared, not computed).
        self.register_buffer("face_threshold", torch.tensor(float(threshold), dtype=torch.float64))
        self.trunk = nn.Sequential(
            nn.Conv2d(in_chans, c1, 11, stride=stem_stride, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(c1, c2, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(c2, c3, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(c4, c5, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        self.num_features = c5
        self.reset_classifier(num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """C5 averaged over positions, ``(B, C5)``."""
        return self.trunk(x).mean(dim=(2, 3))

    @property
    def threshold(self) -> float:
        """Fraction of the peak averaged C5 response that marks the face."""
        return float(self.face_threshold)

    @threshold.setter
    def threshold(self, value: float) -> None:
        if not 0.0 <= value < 1.0:
            raise ValueError(f"threshold must be in [0, 1), got {value}")
        self.face_threshold.fill_(float(value))

    def _load_from_state_dict(
        self,
        state_dict: dict[str, Any],
        prefix: str,
        local_metadata: dict[str, Any],
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # Checkpoints written before the threshold was saved keep the constructor's.
        state_dict.setdefault(prefix + "face_threshold", self.face_threshold.detach().clone())
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def response(self, x: Tensor) -> Tensor:
        """The channel-averaged C5 response map, ``(B, h, w)``."""
        return self.trunk(x).mean(dim=1)

    def face_window(self, x: Tensor) -> Tensor:
        """Face boxes ``(B, 4)`` as ``x1, y1, x2, y2`` in input pixels, from the C5 response.

        The channel-averaged C5 map is thresholded at ``threshold`` of each image's maximum;
        the box spans the cells above it, mapped back to the input. An image whose response is
        all zero gets the whole image.
        """
        size = (int(x.shape[-2]), int(x.shape[-1]))
        return windows_from_response(self.response(x), self.face_threshold.view(1), size)[0]


def windows_from_response(
    response: Tensor, thresholds: Tensor, image_size: Sequence[int]
) -> Tensor:
    """LNet's face windows ``(T, B, 4)`` (``x1, y1, x2, y2`` in image pixels), one per threshold.

    Liu et al., ICCV 2015, §2.1: the averaged response map is thresholded (here at each of
    ``thresholds`` times each image's peak) and the window spans the cells above it, mapped
    back to the image; a map that is all zero gives the whole image. Every threshold is
    evaluated from the same map, so choosing among them costs one forward pass.

    Args:
        response: Averaged response maps ``(B, h, w)`` (:meth:`LNet.response`).
        thresholds: ``(T,)`` fractions of the peak.
        image_size: ``(height, width)`` of the image the maps come from.
    """
    batch, h, w = response.shape
    levels = thresholds.to(response).view(-1, 1, 1, 1)
    peak = response.flatten(1).amax(dim=1).view(1, batch, 1, 1)
    keep = (response.unsqueeze(0) >= levels * peak) & (peak > 0)  # (T, B, h, w)
    rows, cols = keep.any(dim=3), keep.any(dim=2)
    index_h = torch.arange(h, device=response.device).expand_as(rows)
    index_w = torch.arange(w, device=response.device).expand_as(cols)
    y1 = torch.where(rows, index_h, h).amin(dim=2)
    y2 = torch.where(rows, index_h, -1).amax(dim=2) + 1
    x1 = torch.where(cols, index_w, w).amin(dim=2)
    x2 = torch.where(cols, index_w, -1).amax(dim=2) + 1
    empty = ~keep.flatten(2).any(dim=2)
    y1, x1 = torch.where(empty, 0, y1), torch.where(empty, 0, x1)
    y2, x2 = torch.where(empty, h, y2), torch.where(empty, w, x2)
    scale_y, scale_x = image_size[0] / h, image_size[1] / w
    return torch.stack((x1 * scale_x, y1 * scale_y, x2 * scale_x, y2 * scale_y), 2).float()


class LNetANet(LinearClassifierNet):
    """LNet localises the face, ANet describes it: the two-stage pipeline of Liu et al. 2015.

    The face window of :meth:`LNet.face_window` (computed without gradients: the paper trains
    LNet on attribute tags before, never through, ANet) is cut out of the input and resized to
    ANet's input with :func:`torchvision.ops.roi_align`; :meth:`forward_features` returns ANet's
    features of that crop.

    Args:
        lnet: The localiser.
        anet: The attribute network.
    """

    def __init__(self, lnet: LNet, anet: ANet, num_classes: int = 0) -> None:
        super().__init__()
        self.lnet = lnet
        self.anet = anet
        self.num_features = anet.num_features
        self.reset_classifier(num_classes)

    def localise(self, x: Tensor) -> Tensor:
        """The face crops ANet reads, ``(B, C, *anet.input_size)``."""
        with torch.no_grad():
            boxes = self.lnet.face_window(x)
        indexed = torch.cat((torch.arange(len(x), device=x.device)[:, None].float(), boxes), 1)
        return roi_align(x, indexed.to(x.dtype), self.anet.input_size, aligned=True)

    def forward_features(self, x: Tensor) -> Tensor:
        """ANet's averaged patch features of the localised face, ``(B, feature_dim)``."""
        return self.anet.forward_features(self.localise(x))


def _check_pretrained(pretrained: bool) -> None:
    if pretrained:
        raise ValueError(
            "no pretrained weights exist for LNet/ANet in this library: train them, or load "
            "your own checkpoint"
        )


def _load_lnet(lnet: LNet, checkpoint: str | Path) -> None:
    """Load LNet weights from a checkpoint of a task whose backbone was LNet (``backbone.*``)."""
    content = torch.load(Path(checkpoint), map_location="cpu", weights_only=True)
    state = content.get("state_dict", content) if isinstance(content, dict) else {}
    prefix = "backbone."
    weights = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)} or state
    weights = {k: v for k, v in weights.items() if k.startswith("trunk.")}
    if not weights:
        raise ValueError(f"lnet_checkpoint {checkpoint}: no LNet weights (trunk.*) in it")
    lnet.load_state_dict(weights, strict=False)


@register_model("anet")
def anet(
    pretrained: bool = False,
    in_chans: int = 3,
    input_size: Sequence[int] = (64, 56),
    num_classes: int = 0,
    **kwargs: object,
) -> ANet:
    """ANet with the paper's 20/40/60/80 maps (Liu et al., ICCV 2015)."""
    _check_pretrained(pretrained)
    return ANet(in_chans, input_size, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


@register_model("anet_tiny")
def anet_tiny(
    pretrained: bool = False,
    in_chans: int = 3,
    input_size: Sequence[int] = (64, 56),
    num_classes: int = 0,
) -> ANet:
    """ANet's topology with 4-8 maps and 16-d features, for fast CPU tests."""
    _check_pretrained(pretrained)
    return ANet(
        in_chans, input_size, conv_channels=(4, 6, 8, 8), feature_dim=16, num_classes=num_classes
    )


@register_model("lnet_anet")
def lnet_anet(
    pretrained: bool = False,
    in_chans: int = 3,
    input_size: Sequence[int] = (64, 56),
    num_classes: int = 0,
    lnet_width: float = 1.0,
    lnet_stem_stride: int = 4,
    lnet_threshold: float = 0.5,
    lnet_checkpoint: str | None = None,
    anet_feature_dim: int = 256,
) -> LNetANet:
    """LNet then ANet (Liu et al., ICCV 2015); ``input_size`` is ANet's face crop.

    Args:
        pretrained: Must be False.
        in_chans: Input channels.
        input_size: ANet's input, the size the face window is resized to.
        num_classes: Outputs of a linear classifier (0: none).
        lnet_width: Multiplier of LNet's maps.
        lnet_stem_stride: Stride of LNet's C1.
        lnet_threshold: Fraction of the peak averaged C5 response that marks the face.
        lnet_checkpoint: Checkpoint of a task trained with ``backbone: lnet`` (LNet fine-tuned
            on attribute tags), whose LNet weights are loaded.
        anet_feature_dim: Width of ANet's FC features.
    """
    _check_pretrained(pretrained)
    lnet = LNet(in_chans, lnet_width, lnet_stem_stride, lnet_threshold)
    if lnet_checkpoint:
        _load_lnet(lnet, lnet_checkpoint)
    net = ANet(in_chans, input_size, feature_dim=anet_feature_dim)
    return LNetANet(lnet, net, num_classes=num_classes)


@register_model("lnet")
def lnet(
    pretrained: bool = False,
    in_chans: int = 3,
    num_classes: int = 0,
    width: float = 1.0,
    stem_stride: int = 4,
    threshold: float = 0.5,
) -> LNet:
    """LNet alone (Liu et al., ICCV 2015), e.g. to fine-tune it on attribute tags."""
    _check_pretrained(pretrained)
    return LNet(in_chans, width, stem_stride, threshold, num_classes)
