"""Deep face-parsing networks: an image → label-map encoder–decoder and a label-map autoencoder.

Luo, Wang, Tang, "Hierarchical Face Parsing via Deep Learning", CVPR 2012, cast face parsing as
a *cross-modality data transformation*: a deep autoencoder whose input is an image and whose
output is its label map, the image and label modalities meeting in one shared representation.
Two modules follow that idea:

- :class:`CrossModalityParsingNet`, the image pathway: a convolutional encoder down to the
  shared code, and a decoder from the code to per-pixel features (and, with ``num_classes``,
  label logits). The paper's segmentators are fully connected autoencoders on small patches;
  convolutions make the same mapping on whole faces at a fraction of the parameters. Optional
  U-Net style skip connections (Ronneberger, Fischer, Brox, MICCAI 2015) carry the encoder's
  fine resolution to the decoder.
- :class:`LabelMapAutoencoder`, the label pathway: it encodes a label map (one-hot or a
  network's probabilities) to a code of the image pathway's shape and decodes it back. Trained
  on ground-truth maps it learns what face label maps look like — a learned shape prior, in the
  spirit of the shape Boltzmann machines of Kae et al. (CVPR 2013) — and it maps a network's
  imperfect prediction onto that learned manifold.

The sizes (the papers' are not confirmed) are constructor arguments. The timm-backbone baseline
lives in :mod:`lightning_deepvision.models.timm_parsing`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lightning_deepvision.models.registry import register_model

__all__ = ["CrossModalityParsingNet", "LabelMapAutoencoder", "conv_block"]


def conv_block(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """Two 3×3 convolutions with batch norm and ReLU, the first with ``stride``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class _Encoder(nn.Module):
    """Convolution blocks, each but the first halving the resolution, then a 1×1 code layer."""

    def __init__(self, in_channels: int, widths: Sequence[int], code_channels: int) -> None:
        super().__init__()
        channels = [in_channels, *widths]
        self.blocks = nn.ModuleList(
            conv_block(channels[i], channels[i + 1], stride=1 if i == 0 else 2)
            for i in range(len(widths))
        )
        self.code = nn.Conv2d(widths[-1], code_channels, 1)

    def forward(self, x: Tensor) -> list[Tensor]:
        pyramid = []
        for block in self.blocks:
            x = block(x)
            pyramid.append(x)
        pyramid[-1] = self.code(pyramid[-1])
        return pyramid


class _Decoder(nn.Module):
    """From the code back up to the first level's resolution, with optional skip inputs."""

    def __init__(self, widths: Sequence[int], code_channels: int, skips: bool) -> None:
        super().__init__()
        self.skips = skips
        ups = []
        previous = code_channels
        for width in reversed(widths[:-1]):
            ups.append(conv_block(previous + (width if skips else 0), width))
            previous = width
        self.blocks = nn.ModuleList(ups)

    def forward(self, pyramid: list[Tensor]) -> Tensor:
        x = pyramid[-1]
        for level, block in zip(reversed(pyramid[:-1]), self.blocks, strict=True):
            # Interpolating to the level's own size (not ×2) handles odd input sizes exactly.
            x = F.interpolate(x, size=level.shape[-2:], mode="nearest")
            x = block(torch.cat((x, level), dim=1) if self.skips else x)
        return x


class CrossModalityParsingNet(nn.Module):
    """The image pathway of a cross-modality parsing autoencoder (Luo, Wang, Tang, CVPR 2012).

    image ``(B, in_chans, H, W)`` → encoder (``len(widths)`` convolution blocks, each after the
    first halving the resolution) → shared code ``(B, code_channels, H/2^(L-1), W/2^(L-1))`` →
    decoder → per-pixel features ``(B, widths[0], H, W)`` → 1×1 classifier → label logits.

    Follows timm's contract: :attr:`num_features`, :meth:`forward_features`,
    :meth:`forward_head`, :meth:`get_classifier`, :meth:`reset_classifier`; with
    ``num_classes=0`` the forward returns the features (the task then owns the classifier).
    :meth:`encode` and :meth:`decode` expose the shared code, which a
    :class:`LabelMapAutoencoder` of the same ``widths`` and ``code_channels`` shares.

    Args:
        num_classes: Output labels; 0 returns the decoder's features.
        in_chans: Input channels.
        widths: Channels of each encoder level (the decoder mirrors them).
        code_channels: Channels of the shared code.
        skip_connections: Concatenate each encoder level into the decoder (finer parts; off
            gives the plain autoencoder of the paper, where all passes through the code).
    """

    def __init__(
        self,
        num_classes: int = 0,
        in_chans: int = 3,
        widths: Sequence[int] = (32, 64, 128),
        code_channels: int = 128,
        skip_connections: bool = True,
    ) -> None:
        super().__init__()
        if len(widths) < 2 or min(widths) < 1 or code_channels < 1:
            raise ValueError(
                f"widths needs two or more positive levels and code_channels must be positive, "
                f"got {tuple(widths)} and {code_channels}"
            )
        self.widths = tuple(int(w) for w in widths)
        self.code_channels = int(code_channels)
        self.in_chans = in_chans
        self.encoder = _Encoder(in_chans, self.widths, self.code_channels)
        self.decoder = _Decoder(self.widths, self.code_channels, skip_connections)
        self.num_features = self.widths[0]
        self.num_classes = 0
        self.classifier: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)

    def encode(self, images: Tensor) -> list[Tensor]:
        """The encoder's levels, finest first; the last is the shared code."""
        return list(self.encoder(images))

    def decode(self, pyramid: list[Tensor]) -> Tensor:
        """Per-pixel features from :meth:`encode`'s levels."""
        return self.decoder(pyramid)

    def forward_features(self, images: Tensor) -> Tensor:
        """Per-pixel features ``(B, num_features, H, W)``."""
        return self.decode(self.encode(images))

    def forward_head(self, features: Tensor) -> Tensor:
        """Label logits (or the features when there is no classifier)."""
        return self.classifier(features)

    def forward(self, images: Tensor) -> Tensor:
        """Label logits ``(B, num_classes, H, W)``, or the features with ``num_classes=0``."""
        return self.forward_head(self.forward_features(images))

    def get_classifier(self) -> nn.Module:
        """The 1×1 classifier (``Identity`` with no classes)."""
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` labels (0: none, features out)."""
        self.num_classes = int(num_classes)
        self.classifier = (
            nn.Conv2d(self.num_features, self.num_classes, 1) if self.num_classes else nn.Identity()
        )


class LabelMapAutoencoder(nn.Module):
    """The label pathway: a label map → code → label map autoencoder, a learned shape prior.

    Luo, Wang, Tang (CVPR 2012) map between image and label modalities through one
    representation; this module is the label modality's encoder and decoder. Its code has the
    shape of a :class:`CrossModalityParsingNet` code of the same ``widths`` and
    ``code_channels``, so the two can be tied. There are no skip connections: everything passes
    through the coarse code, which is what makes the reconstruction a *prior* on the shape of
    face label maps (Kae, Sohn, Lee, Learned-Miller, CVPR 2013, learn such a prior with a shape
    Boltzmann machine).

    Args:
        num_classes: Labels of the maps.
        widths: Channels per level (the encoder halves the resolution after the first).
        code_channels: Channels of the code.
    """

    def __init__(
        self, num_classes: int, widths: Sequence[int] = (16, 32, 64), code_channels: int = 64
    ) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"a label map needs at least 2 classes, got {num_classes}")
        self.num_classes = num_classes
        self.widths = tuple(int(w) for w in widths)
        self.encoder = _Encoder(num_classes, self.widths, code_channels)
        self.decoder = _Decoder(self.widths, code_channels, skips=False)
        self.classifier = nn.Conv2d(self.widths[0], num_classes, 1)

    def encode(self, probabilities: Tensor) -> Tensor:
        """The code of a ``(B, num_classes, H, W)`` map (one-hot or probabilities)."""
        return self.encoder(probabilities)[-1]

    def decode(self, code: Tensor, size: Sequence[int]) -> Tensor:
        """Label logits ``(B, num_classes, *size)`` from a code."""
        levels = _level_sizes(size, len(self.widths))
        x = code
        for level_size, block in zip(levels, self.decoder.blocks, strict=True):
            x = block(F.interpolate(x, size=level_size, mode="nearest"))
        return self.classifier(x)

    def forward(self, probabilities: Tensor) -> Tensor:
        """Reconstructed label logits of a map, at its size."""
        return self.decode(self.encode(probabilities), probabilities.shape[-2:])


def _level_sizes(size: Sequence[int], levels: int) -> list[tuple[int, int]]:
    """The sizes of the decoder's levels, coarse to fine, for an input of ``size``."""
    sizes = [(int(size[0]), int(size[1]))]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))  # a 3×3 stride-2 convolution with padding 1
    return sizes[-2::-1]


@register_model("cross_modality_parsing")
def cross_modality_parsing(
    num_classes: int = 0,
    in_chans: int = 3,
    widths: Sequence[int] = (16, 32, 64),
    code_channels: int = 64,
    skip_connections: bool = True,
) -> CrossModalityParsingNet:
    """The image pathway at the recipe's size (three levels: the code at 1/4 resolution).

    About 0.1 GMAC per 64×56 face forward, so the recipe trains in minutes on two CPU cores.
    """
    return CrossModalityParsingNet(num_classes, in_chans, widths, code_channels, skip_connections)


@register_model("cross_modality_parsing_tiny")
def cross_modality_parsing_tiny(
    num_classes: int = 0, in_chans: int = 3, skip_connections: bool = True
) -> CrossModalityParsingNet:
    """A two-level, eight-channel variant for CPU tests."""
    return CrossModalityParsingNet(num_classes, in_chans, (8, 16), 16, skip_connections)
