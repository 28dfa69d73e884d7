"""AlexNet's colour noise and normalisation applied to whole batches, after the loader.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural
Networks", NIPS 2012, §4.1: each training image gets its own PCA colour shift, and every input
is normalised per channel. Both are arithmetic on every pixel and need no neighbourhood, so
they can run on the collated batch instead of on each sample in a loader worker:

* the loader workers stop at the ``uint8`` crop (:class:`DrawLighting` only draws the sample's
  colour shift, three numbers, in the order the per-sample pipeline draws it), so a batch moves
  a quarter of the bytes between worker processes and to the GPU;
* :class:`NormalizeBatch` turns the ``uint8`` batch into the network's ``float32`` input where
  the batch lies, on the GPU during training (a data module calls it in
  ``on_after_batch_transfer``).

Under the same seed the inputs equal those of
:class:`~lightning_deepvision.transforms.classification.LightingNormalize` per sample (the same
affine map per channel, to float rounding). torchvision has no batch-level form of
:class:`~lightning_deepvision.transforms.classification.PCALighting` with per-sample draws made
in the workers, hence this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate

from lightning_deepvision.transforms._sample import ImageTransform
from lightning_deepvision.transforms.classification import (
    IMAGENET_EIGENVALUES,
    IMAGENET_EIGENVECTORS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LightingNormalize,
)

__all__ = ["LIGHTING_KEY", "DrawLighting", "NormalizeBatch", "collate_channels_last"]

#: The sample (and batch) entry holding the colour shift each image gets, ``float32`` of 3.
LIGHTING_KEY = "lighting"


class DrawLighting(ImageTransform):
    """Draw a sample's PCA colour shift (Krizhevsky et al., NIPS 2012, §4.1) without applying it.

    The shift ``P (a * λ)`` with ``a ~ N(0, std²)`` is drawn as
    :class:`~lightning_deepvision.transforms.classification.LightingNormalize` draws it (one
    ``torch.randn(3)`` per call, in ``[0, 1]`` pixel units) and stored in
    ``sample["lighting"]``; the image is left as it is (``uint8``), for :class:`NormalizeBatch`
    to apply the shift and the normalisation to the collated batch.

    Args:
        std: Standard deviation of the ``a_i`` (0.1 in the paper); must be positive.
        eigenvalues: ``λ_1..λ_3`` of the RGB covariance.
        eigenvectors: Its ``3×3`` eigenvectors, one per column.

    Raises:
        ValueError: If ``std`` is not positive or the eigen-decomposition is not 3×3.
        TypeError: When called on anything but a sample dict (the shift must travel with its
            image).
    """

    def __init__(
        self,
        std: float = 0.1,
        eigenvalues: Sequence[float] = IMAGENET_EIGENVALUES,
        eigenvectors: Sequence[Sequence[float]] = IMAGENET_EIGENVECTORS,
    ) -> None:
        super().__init__()
        if std <= 0:
            raise ValueError(f"DrawLighting needs a positive std, got {std}")
        # The same draw as the per-sample transform, so that both give the same colours.
        self.draw = LightingNormalize(
            lighting_std=std, eigenvalues=eigenvalues, eigenvectors=eigenvectors
        )
        self.std = self.draw.lighting_std

    def forward(self, *inputs: Any) -> Any:
        """Return the sample with its colour shift in ``sample["lighting"]``."""
        sample = inputs[0] if len(inputs) == 1 else None
        if not isinstance(sample, Mapping):
            raise TypeError(
                "DrawLighting needs a sample dict (the colour shift is stored beside the image), "
                f"got {type(inputs[0] if inputs else None).__name__}"
            )
        shift = self.draw.make_params([])["rgb"]
        return {**sample, LIGHTING_KEY: torch.tensor(shift, dtype=torch.float32)}


def collate_channels_last(samples: list[Any]) -> Any:
    """``default_collate`` of sample dicts, their ``image`` stacked with the channels last.

    Decoded and cropped images store their pixels channels-last (``H×W×C`` in memory, as JPEG
    decoding leaves them); stacking them into a ``(B, C, H, W)`` contiguous batch transposes
    every ``uint8`` image in the loader worker, a pass as slow as the normalisation itself.
    Here they are stacked as they lie (a plain copy into the shared-memory batch) and the batch
    is a ``(B, C, H, W)`` view with channels-last strides; :class:`NormalizeBatch` reads it in
    the same pass that converts it to a contiguous ``float32`` batch. Other inputs are collated
    as ``default_collate`` does.
    """
    first = samples[0] if samples else None
    if not isinstance(first, Mapping) or not isinstance(first.get("image"), Tensor):
        return default_collate(samples)
    rest = default_collate([{k: v for k, v in s.items() if k != "image"} for s in samples])
    images = [s["image"].as_subclass(Tensor).movedim(-3, -1) for s in samples]
    return {**rest, "image": default_collate(images).movedim(-1, -3)}


class NormalizeBatch:
    """``uint8`` images of a batch to the normalised ``float32`` network input, colour shifts added.

    For each image ``y_c = (x_c / 255 + δ_c − μ_c) / σ_c`` (Krizhevsky et al., NIPS 2012,
    §4.1: the PCA colour shift ``δ`` of :class:`DrawLighting`, taken from ``batch["lighting"]``
    and removed from the batch; ``δ = 0`` where the batch has none, as in evaluation), computed
    as one multiply and one add over the batch on its own device. Images may be ``(B, C, H,
    W)`` or ``(B, N, C, H, W)`` (ten crops per sample). A batch whose images are already
    floating point is returned as it is, so the step may be applied to any batch.

    Args:
        mean: Normalisation mean per channel (of ``[0, 1]`` pixels).
        std: Normalisation standard deviation per channel.

    Raises:
        ValueError: If ``mean`` and ``std`` differ in length or a ``std`` is not positive; when
            called, if the images' channels or the colour shifts do not match.
    """

    def __init__(
        self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
    ) -> None:
        self.mean = [float(m) for m in mean]
        self.std = [float(s) for s in std]
        if len(self.mean) != len(self.std) or not self.mean:
            raise ValueError(f"mean {self.mean} and std {self.std} need one value per channel")
        if min(self.std) <= 0:
            raise ValueError(f"std must be positive, got {self.std}")

    def images(self, images: Tensor, shifts: Tensor | None = None) -> Tensor:
        """Normalise a batch of ``uint8`` images, adding ``shifts`` (``(B, C)``) if given."""
        channels = len(self.mean)
        if images.ndim not in (4, 5) or images.shape[-3] != channels:
            raise ValueError(
                f"NormalizeBatch has {channels} channel means, got images of shape "
                f"{tuple(images.shape)} (expected (B, C, H, W) or (B, N, C, H, W))"
            )
        device = images.device
        std = torch.tensor(self.std, device=device)
        bias = (-torch.tensor(self.mean, device=device) / std).view(1, channels)
        if shifts is not None:
            if shifts.shape != (images.shape[0], channels):
                raise ValueError(
                    f"expected colour shifts of shape {(images.shape[0], channels)}, got "
                    f"{tuple(shifts.shape)}"
                )
            bias = bias + shifts.to(device=device, dtype=torch.float32) / std
        # The per-sample transform's map, x · s/σ + (δ − μ)/σ, broadcast over the batch (and
        # over the crops of a sample): one bias per sample and channel.
        gain = (1.0 / torch.iinfo(images.dtype).max / std).view(channels, 1, 1)
        bias = bias.view(bias.shape[0], *([1] * (images.ndim - 4)), channels, 1, 1)
        # A contiguous float batch whatever the images' strides (channels-last after
        # collate_channels_last): the copy converts and reorders in one pass.
        out = torch.empty(images.shape, dtype=torch.float32, device=device)
        return out.copy_(images).mul_(gain).add_(bias)

    def __call__(self, batch: Any) -> Any:
        """Return ``batch`` (a dict with ``image``) with its images normalised."""
        if not isinstance(batch, Mapping) or "image" not in batch:
            return batch
        images = batch["image"]
        if not isinstance(images, Tensor) or images.is_floating_point():
            return batch
        if images.dtype == torch.bool or images.is_complex():
            raise TypeError(f"NormalizeBatch needs uint8 images, got {images.dtype}")
        out = {key: value for key, value in batch.items() if key != LIGHTING_KEY}
        out["image"] = self.images(images, batch.get(LIGHTING_KEY))
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(mean={self.mean}, std={self.std})"
