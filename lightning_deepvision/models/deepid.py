"""DeepID2 and DeepID2+ face-representation ConvNets.

* DeepID2: Y. Sun, X. Wang, X. Tang, "Deep Learning Face Representation by Joint
  Identification-Verification", NIPS 2014 (arXiv:1406.4773).
* DeepID2+: Y. Sun, X. Wang, X. Tang, "Deeply learned face representations are sparse,
  selective, and robust", CVPR 2015, pp. 2892-2900.
* DeepID (the 39x31 input of the same topology): Y. Sun, X. Wang, X. Tang, "Deep Learning Face
  Representation from Predicting 10,000 Classes", CVPR 2014.

The models are plain :class:`torch.nn.Module` s following timm's contract (``num_features``,
``forward_features``, ``forward_head``, ``reset_classifier``) plus the deep-supervision contract
used by the verification task (``level_features``, ``forward_levels``). The losses
(identification + verification per supervised level) live in the task, not here.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from lightning_deepvision.models.layers import (
    LocallyConnected2d,
    LocallySharedConv2d,
    RegionFilterBank,
)
from lightning_deepvision.models.layers._filter_bank import as_pair
from lightning_deepvision.models.layers.classifier import LinearClassifierNet
from lightning_deepvision.models.registry import register_model

__all__ = ["DeepID", "deepid2", "deepid2_tiny", "deepid2plus", "deepid2plus_tiny"]

_STAGES = ("conv1", "conv2", "conv3", "conv4")


class DeepID(LinearClassifierNet):
    """The DeepID2 / DeepID2+ ConvNet for one face patch, configurable from plain Python types.

    Topology (Sun, Wang, Tang, NIPS 2014, Fig. 1; CVPR 2015, Fig. 2): four convolutional layers
    with ReLU, the first three followed by non-overlapping max-pooling; conv3 is locally shared
    (one filter bank per cell of a ``local_grid``, see :class:`LocallySharedConv2d`); conv4 is
    locally connected (see :class:`LocallyConnected2d`). The final representation (the 160-d
    "DeepID2 layer" or the 512-d FC-4 of DeepID2+) is fully connected to *both* pool3 and conv4,
    followed by ReLU.

    With ``deep_supervision=True`` (DeepID2+), an extra FC layer with ReLU is attached to pool1,
    pool2 and pool3 (FC-1..FC-3); together with the top layer (FC-4) they are the supervised
    levels returned by :meth:`forward_levels`. Dropout is applied to every FC-n output in
    training (DeepID2+ uses 50 %).

    For the 55x47 input of the papers the maps are 52x44 → 26x22 → 24x20 → 12x10 → 10x8 → 5x4
    → 4x3 (conv1, pool1, conv2, pool2, conv3, pool3, conv4); other input sizes (47x47 square
    patches, DeepID's 39x31) change the map sizes accordingly, see :attr:`map_sizes`.

    Args:
        in_chans: Input channels (3 for colour patches, 1 for grey).
        input_size: Input ``(H, W)``; fixed because conv4 and the FC layers depend on it.
        conv_channels: Maps of conv1..conv4 (DeepID2: 20, 40, 60, 80; DeepID2+: 128 each).
        kernel_sizes: Kernel sizes of conv1..conv4 (ints or ``(kh, kw)`` pairs).
        feature_dim: Width of the final representation and of every FC-n.
        local_grid: Cells ``(gh, gw)`` of conv3's locally shared weights; ``None`` makes conv3
            an ordinary convolution.
        conv4_locally_connected: Whether conv4 has unshared weights (else an ordinary conv).
        deep_supervision: Whether to add FC-1..FC-3 on pool1..pool3 (DeepID2+).
        dropout: Dropout probability on each FC-n output during training.
        num_classes: Width of the linear classifier on the representation (0: none).
        pool_size: Side of the non-overlapping max-pooling windows.

    Raises:
        ValueError: If the configuration is malformed or the input is too small for it.
    """

    def __init__(
        self,
        in_chans: int = 3,
        input_size: Sequence[int] = (55, 47),
        conv_channels: Sequence[int] = (20, 40, 60, 80),
        kernel_sizes: Sequence[int | Sequence[int]] = (4, 3, 3, 2),
        feature_dim: int = 160,
        local_grid: Sequence[int] | None = (2, 2),
        conv4_locally_connected: bool = True,
        deep_supervision: bool = False,
        dropout: float = 0.0,
        num_classes: int = 0,
        pool_size: int = 2,
    ) -> None:
        super().__init__()
        if len(conv_channels) != 4 or len(kernel_sizes) != 4:
            raise ValueError(
                f"conv_channels and kernel_sizes need one entry per conv layer (4), got "
                f"{list(conv_channels)} and {list(kernel_sizes)}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if in_chans <= 0 or feature_dim <= 0 or num_classes < 0 or pool_size <= 0:
            raise ValueError(
                f"in_chans, feature_dim and pool_size must be positive and num_classes >= 0, "
                f"got {in_chans}, {feature_dim}, {pool_size}, {num_classes}"
            )
        self.in_chans = in_chans
        self.input_size = as_pair(input_size, "input_size")
        self.conv_channels = [int(c) for c in conv_channels]
        kernels = [as_pair(k, "kernel_sizes") for k in kernel_sizes]
        self.local_grid = None if local_grid is None else as_pair(local_grid, "local_grid")
        self.deep_supervision = deep_supervision

        self.map_sizes = self._map_sizes(kernels, pool_size)
        channels = [in_chans, *self.conv_channels]
        conv3: nn.Module
        if self.local_grid is None:
            conv3 = nn.Conv2d(channels[2], channels[3], kernels[2])
        else:
            grid_h, grid_w = self.local_grid
            out_h, out_w = self.map_sizes["conv3"]
            if out_h < grid_h or out_w < grid_w:
                raise ValueError(
                    f"conv3's map {out_h}x{out_w} is smaller than local_grid "
                    f"{self.local_grid} (input_size {self.input_size})"
                )
            conv3 = LocallySharedConv2d(channels[2], channels[3], kernels[2], grid=self.local_grid)
        conv4: nn.Module
        if conv4_locally_connected:
            conv4 = LocallyConnected2d(
                channels[3], channels[4], self.map_sizes["pool3"], kernels[3]
            )
        else:
            conv4 = nn.Conv2d(channels[3], channels[4], kernels[3])
        convs = [
            nn.Conv2d(channels[0], channels[1], kernels[0]),
            nn.Conv2d(channels[1], channels[2], kernels[1]),
            conv3,
            conv4,
        ]
        # One submodule holding the whole conv trunk; its stages' outputs are pool1, pool2,
        # pool3 and conv4 — exactly the tensors the FC layers read. Max-pooling runs *before*
        # the ReLU: the two commute (ReLU is monotone), and this way the ReLU and its backward
        # touch a pool_size² times smaller map — conv1's output is the largest tensor of the
        # net, and these memory-bound passes over it cost as much as a convolution on a CPU.
        self.trunk = nn.ModuleList(
            nn.Sequential(conv, nn.MaxPool2d(pool_size), nn.ReLU(inplace=True))
            if i < 3
            else nn.Sequential(conv, nn.ReLU(inplace=True))
            for i, conv in enumerate(convs)
        )

        def flat(name: str, maps: int) -> int:
            height, width = self.map_sizes[name]
            return maps * height * width

        pool_dims = [flat(f"pool{i + 1}", self.conv_channels[i]) for i in range(3)]
        top_dim = pool_dims[2] + flat("conv4", self.conv_channels[3])
        # The top layer (DeepID2 layer / FC-4) is fed by both pool3 and conv4: the paper's
        # multi-scale connection, since conv4 alone is too small to keep enough information.
        self.fc = nn.Linear(top_dim, feature_dim)
        self.aux_fcs = nn.ModuleList(
            nn.Linear(dim, feature_dim) for dim in (pool_dims if deep_supervision else [])
        )
        self.act = nn.ReLU(inplace=True)
        self.drop = nn.Dropout(dropout)
        self.num_features = feature_dim
        self.level_features = [feature_dim] * (len(self.aux_fcs) + 1)
        self.reset_classifier(num_classes)
        self._init_weights()

    def _map_sizes(
        self, kernels: list[tuple[int, int]], pool_size: int
    ) -> dict[str, tuple[int, int]]:
        sizes: dict[str, tuple[int, int]] = {}
        height, width = self.input_size
        for i, (kh, kw) in enumerate(kernels):
            height, width = height - kh + 1, width - kw + 1
            sizes[f"conv{i + 1}"] = (height, width)
            if i < 3:
                height, width = height // pool_size, width // pool_size
                sizes[f"pool{i + 1}"] = (height, width)
        for name, (height, width) in sizes.items():
            if height <= 0 or width <= 0:
                raise ValueError(
                    f"input_size {self.input_size} is too small for kernel_sizes "
                    f"{[k[0] if k[0] == k[1] else k for k in kernels]}: {name} would be "
                    f"{height}x{width}"
                )
        return sizes

    def _init_weights(self) -> None:
        # He et al. (2015) initialisation for layers followed by ReLU, zero biases.
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, RegionFilterBank)):
                if module is self.head:
                    continue
                # A region filter bank's weight[0] is a whole row of regions, not one unit.
                fan_in = (
                    module.fan_in
                    if isinstance(module, RegionFilterBank)
                    else module.weight[0].numel()
                )
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_in))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def _trunk(self, x: Tensor) -> list[Tensor]:
        """Return the outputs of the four stages: pool1, pool2, pool3 and conv4."""
        if x.dim() != 4 or x.shape[1] != self.in_chans or tuple(x.shape[2:]) != self.input_size:
            raise ValueError(
                f"{type(self).__name__} expects input of shape (B, {self.in_chans}, "
                f"{self.input_size[0]}, {self.input_size[1]}) (set input_size/in_chans to change "
                f"it); got {tuple(x.shape)}"
            )
        outputs = []
        for stage in self.trunk:
            x = stage(x)
            outputs.append(x)
        return outputs

    def _top(self, pool3: Tensor, conv4: Tensor) -> Tensor:
        joint = torch.cat([pool3.flatten(1), conv4.flatten(1)], dim=1)
        return self.drop(self.act(self.fc(joint)))

    def forward_levels(self, x: Tensor) -> list[Tensor]:
        """Return the embeddings of every supervised level, computing the trunk once.

        Args:
            x: Input batch ``(B, in_chans, *input_size)``.

        Returns:
            ``[FC-1, FC-2, FC-3, FC-4]`` with deep supervision (DeepID2+), else ``[DeepID2]``;
            each ``(B, d)`` with ``d`` from :attr:`level_features`. The last one equals
            :meth:`forward_features` (exactly so in eval mode, where dropout is off).
        """
        stages = self._trunk(x)
        levels = [
            self.drop(self.act(fc(stage.flatten(1))))
            for fc, stage in zip(self.aux_fcs, stages, strict=False)
        ]
        levels.append(self._top(stages[2], stages[3]))
        return levels

    def forward_features(self, x: Tensor) -> Tensor:
        """Return the final representation (DeepID2 layer / FC-4), shape ``(B, num_features)``."""
        stages = self._trunk(x)
        return self._top(stages[2], stages[3])


_DEEPID2: dict[str, Any] = {
    "conv_channels": (20, 40, 60, 80),
    "feature_dim": 160,
    "deep_supervision": False,
    "dropout": 0.0,
}
_DEEPID2PLUS: dict[str, Any] = {
    "conv_channels": (128, 128, 128, 128),
    "feature_dim": 512,
    "deep_supervision": True,
    "dropout": 0.5,
}


def _variant(name: str, defaults: Mapping[str, Any], summary: str) -> Callable[..., DeepID]:
    """Register the builder ``name``: :class:`DeepID` with ``defaults``, overridable by keyword.

    The builder's signature lists every :class:`DeepID` argument with this variant's default
    (``inspect.signature`` and the registry read it), so that a misspelt argument is an error
    naming the model rather than a silently ignored option.
    """

    def builder(pretrained: bool = False, **kwargs: Any) -> DeepID:
        if pretrained:
            raise ValueError(
                "no pretrained weights exist for the DeepID models (the papers released none); "
                "use pretrained=False and train, or load your own checkpoint"
            )
        return DeepID(**{**defaults, **kwargs})

    parameters = [
        inspect.Parameter(
            "pretrained", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=False, annotation=bool
        )
    ]
    for parameter in inspect.signature(DeepID).parameters.values():
        parameters.append(
            parameter.replace(
                kind=inspect.Parameter.KEYWORD_ONLY,
                default=defaults.get(parameter.name, parameter.default),
            )
        )
    signature = inspect.Signature(parameters, return_annotation=DeepID)
    builder.__signature__ = signature  # type: ignore[attr-defined]
    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (
        f"{summary}\n\nArgs:\n    pretrained: Must be False (no published weights).\n"
        f"    **kwargs: Overrides of any :class:`DeepID` argument.\n"
    )
    return register_model(name)(builder)


deepid2 = _variant(
    "deepid2",
    _DEEPID2,
    "DeepID2 (Sun, Wang, Tang, NIPS 2014): 20/40/60/80 maps, 160-d DeepID2 layer.",
)
deepid2plus = _variant(
    "deepid2plus",
    _DEEPID2PLUS,
    "DeepID2+ (Sun, Wang, Tang, CVPR 2015): 128 maps per conv, 512-d FC-1..FC-4, dropout 0.5.",
)
deepid2_tiny = _variant(
    "deepid2_tiny",
    {**_DEEPID2, "conv_channels": (4, 6, 8, 8), "feature_dim": 16},
    "DeepID2 topology and input size with 4-8 maps and 16-d features, for fast CPU tests.",
)
deepid2plus_tiny = _variant(
    "deepid2plus_tiny",
    {**_DEEPID2PLUS, "conv_channels": (8, 8, 8, 8), "feature_dim": 16},
    "DeepID2+ topology (deep supervision, dropout) with 8 maps and 16-d levels, for CPU tests.",
)
