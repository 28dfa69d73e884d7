"""FIP: the face identity-preserving network.

Zhu, Luo, Wang, Tang, "Deep Learning Identity-Preserving Face Space", ICCV 2013.

Feature-extraction layers encode a face seen from any pose and under any light into the FIP
features; a reconstruction layer maps them to the person's canonical view (frontal, neutral
light). Trained with ``‖Y − Ŷ‖²`` against the canonical view, the features keep the identity
and drop the view: they identify people across poses with the frontal images as gallery.
The layer sizes are NOT CONFIRMED from the paper (specs §3); the defaults are specs §11's:
grey 96×96 input, three locally connected layers of 32 maps with two poolings, and a fully
connected reconstruction of the 96×96 canonical view.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from lightning_deepvision.models.layers import LocallyConnected2d
from lightning_deepvision.models.layers._filter_bank import as_pair
from lightning_deepvision.models.registry import register_model

__all__ = ["FIP", "fip", "fip_tiny"]


class FIP(nn.Module):
    """Locally connected feature layers and a fully connected canonical-view reconstruction.

    ``x0 → LC1 → ReLU → pool → LC2 → ReLU → pool → LC3 → ReLU = FIP features → FC = Ŷ``
    (Zhu et al., ICCV 2013). Each locally connected layer
    (:class:`~lightning_deepvision.models.layers.LocallyConnected2d`) has its own filters at
    every position, because a face region's statistics depend on where it is; each keeps its
    map size (zero padding ``k // 2``), and the poolings are 2×2 max-poolings. The
    reconstruction is linear, so the network predicts pixel intensities directly.

    Follows timm's contract where it fits: :meth:`forward_features` gives the flattened FIP
    features (``num_features`` wide), :meth:`forward_head` the reconstruction.

    Args:
        in_chans: Input channels (1: grey, as the paper).
        in_size: Input ``(height, width)`` (96×96 by default); the locally connected filters
            are tied to it.
        channels: Maps of the three locally connected layers.
        kernel_sizes: Filter sizes of the three layers.
        out_chans: Channels of the reconstruction (``in_chans`` when ``None``).
        out_size: Size of the reconstruction (``in_size`` when ``None``).

    Attributes:
        num_features: Width of the FIP features.
        num_views: 0: the output is always the canonical view.
        feature_shape: ``(maps, height, width)`` of the FIP features.
    """

    num_views = 0

    def __init__(
        self,
        in_chans: int = 1,
        in_size: int | Sequence[int] = 96,
        channels: Sequence[int] = (32, 32, 32),
        kernel_sizes: Sequence[int] = (5, 3, 3),
        out_chans: int | None = None,
        out_size: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if len(channels) != 3 or len(kernel_sizes) != 3:
            raise ValueError(
                f"FIP has three locally connected layers: channels and kernel_sizes need three "
                f"entries, got {list(channels)} and {list(kernel_sizes)}"
            )
        height, width = as_pair(in_size, "in_size")
        if height % 4 or width % 4:
            raise ValueError(f"in_size must be divisible by 4 (two 2x2 poolings), got {in_size}")
        self.in_chans = in_chans
        self.in_size = (height, width)
        self.out_chans = in_chans if out_chans is None else out_chans
        self.out_size = self.in_size if out_size is None else as_pair(out_size, "out_size")
        layers: list[nn.Module] = []
        previous, size = in_chans, (height, width)
        for index, (maps, kernel) in enumerate(zip(channels, kernel_sizes, strict=True)):
            layers.append(LocallyConnected2d(previous, maps, size, kernel, padding=kernel // 2))
            layers.append(nn.ReLU(inplace=True))
            if index < 2:
                layers.append(nn.MaxPool2d(2))
                size = (size[0] // 2, size[1] // 2)
            previous = maps
        self.features = nn.Sequential(*layers)
        self.feature_shape = (previous, *size)
        self.num_features = previous * size[0] * size[1]
        self.reconstruction = nn.Linear(
            self.num_features, self.out_chans * self.out_size[0] * self.out_size[1]
        )

    def forward_features(self, x: Tensor) -> Tensor:
        """FIP features ``(B, num_features)`` of images ``(B, in_chans, *in_size)``."""
        return self.features(x).flatten(1)

    def forward_head(self, features: Tensor, view: Tensor | None = None) -> Tensor:
        """The canonical view ``(B, out_chans, *out_size)``; ``view`` must be ``None``."""
        if view is not None:
            raise ValueError("FIP always reconstructs the canonical view: pass view=None")
        return self.reconstruction(features).view(-1, self.out_chans, *self.out_size)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct the canonical view of ``x``."""
        return self.forward_head(self.forward_features(x))

    def forward_all(self, x: Tensor, view: Tensor | None = None) -> dict[str, Tensor]:
        """``features`` and ``reconstruction`` in one pass (what the task trains on)."""
        features = self.forward_features(x)
        return {"features": features, "reconstruction": self.forward_head(features)}


@register_model("fip")
def fip(
    in_chans: int = 1,
    in_size: int | Sequence[int] = 96,
    channels: Sequence[int] = (32, 32, 32),
    kernel_sizes: Sequence[int] = (5, 3, 3),
) -> FIP:
    """FIP (Zhu, Luo, Wang, Tang, ICCV 2013) with specs §11's defaults: grey 96×96, 32 maps."""
    return FIP(in_chans, in_size, channels, kernel_sizes)


@register_model("fip_tiny")
def fip_tiny(
    in_chans: int = 1,
    in_size: int | Sequence[int] = 16,
    channels: Sequence[int] = (4, 4, 4),
    kernel_sizes: Sequence[int] = (3, 3, 3),
) -> FIP:
    """A 16×16 FIP with 4 maps per layer, for CPU tests."""
    return FIP(in_chans, in_size, channels, kernel_sizes)
