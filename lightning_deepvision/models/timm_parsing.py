"""Any timm backbone as a face parser: ``features_only`` pyramid and a light FPN decoder.

The modern baseline beside the cross-modality network: a timm model built with
``features_only=True`` (never downloaded) gives its feature pyramid; a feature-pyramid decoder
(Lin et al., "Feature Pyramid Networks for Object Detection", CVPR 2017: 1×1 lateral
projections, top-down nearest upsampling and sums) merges it at the finest level, and a 3×3
convolution gives the per-pixel features. timm has no segmentation decoder, hence this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from torch import Tensor, nn
from torch.nn import functional as F

from lightning_deepvision.models.registry import register_model

__all__ = ["TimmParsingNet"]


class TimmParsingNet(nn.Module):
    """A timm ``features_only`` encoder with an FPN-style decoder and a 1×1 classifier.

    The output is at the finest pyramid level's stride (:attr:`reduction`, 2 or 4 for most
    timm models); the task upsamples the logits to the label map's size. timm's contract:
    :attr:`num_features`, :meth:`forward_features`, :meth:`forward_head`,
    :meth:`get_classifier`, :meth:`reset_classifier`.

    Args:
        encoder: A timm model name (``pretrained=False``: nothing is downloaded).
        num_classes: Output labels; 0 returns the features.
        in_chans: Input channels.
        decoder_channels: Channels of the decoder (and :attr:`num_features`).
        out_indices: Pyramid levels used (timm's ``out_indices``); ``None`` takes them all.
    """

    def __init__(
        self,
        encoder: str = "resnet18",
        num_classes: int = 0,
        in_chans: int = 3,
        decoder_channels: int = 64,
        out_indices: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        import timm

        kwargs: dict[str, Any] = {}
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
        self.encoder = timm.create_model(
            encoder, features_only=True, pretrained=False, in_chans=in_chans, **kwargs
        )
        info = cast(Any, self.encoder).feature_info
        channels = info.channels()
        self.reduction = int(info.reduction()[0])
        self.lateral = nn.ModuleList(nn.Conv2d(c, decoder_channels, 1) for c in channels)
        self.smooth = nn.Sequential(
            nn.Conv2d(decoder_channels, decoder_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(decoder_channels),
            nn.ReLU(inplace=True),
        )
        self.num_features = decoder_channels
        self.num_classes = 0
        self.classifier: nn.Module = nn.Identity()
        self.reset_classifier(num_classes)

    def forward_features(self, images: Tensor) -> Tensor:
        """Per-pixel features ``(B, num_features, H / reduction, W / reduction)``."""
        levels = self.encoder(images)
        x = self.lateral[-1](levels[-1])
        for level, lateral in zip(levels[-2::-1], list(self.lateral)[-2::-1], strict=True):
            x = lateral(level) + F.interpolate(x, size=level.shape[-2:], mode="nearest")
        return self.smooth(x)

    def forward_head(self, features: Tensor) -> Tensor:
        """Label logits (or the features when there is no classifier)."""
        return self.classifier(features)

    def forward(self, images: Tensor) -> Tensor:
        """Label logits at the finest pyramid stride (features with ``num_classes=0``)."""
        return self.forward_head(self.forward_features(images))

    def get_classifier(self) -> nn.Module:
        """The 1×1 classifier."""
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """A fresh classifier for ``num_classes`` labels (0: none)."""
        self.num_classes = int(num_classes)
        self.classifier = (
            nn.Conv2d(self.num_features, self.num_classes, 1) if self.num_classes else nn.Identity()
        )


@register_model("timm_parsing")
def timm_parsing(
    encoder: str = "resnet18",
    num_classes: int = 0,
    in_chans: int = 3,
    decoder_channels: int = 64,
    out_indices: Sequence[int] | None = None,
) -> TimmParsingNet:
    """A timm backbone (ResNet-18 by default) with the FPN decoder."""
    return TimmParsingNet(encoder, num_classes, in_chans, decoder_channels, out_indices)


@register_model("timm_parsing_tiny")
def timm_parsing_tiny(num_classes: int = 0, in_chans: int = 3) -> TimmParsingNet:
    """ResNet-10-T's first three levels with a 16-channel decoder, for CPU tests."""
    return TimmParsingNet("resnet10t", num_classes, in_chans, 16, (0, 1, 2))
