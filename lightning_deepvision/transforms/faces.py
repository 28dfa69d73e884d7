"""torchvision.transforms.v2 presets for aligned face crops.

The DeepID family (Sun, Wang, Tang, CVPR 2014 / NIPS 2014 / CVPR 2015) feeds small aligned face
patches (55×47 for rectangular regions, 47×47 for square ones) to each ConvNet, with horizontal
flips of every patch used as training data and as a second test view. These presets turn a
dataset sample (a ``uint8`` image, or a sample ``dict`` of tv_tensors) into that input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms import v2

#: Per-channel mean/std that maps ``[0, 1]`` pixels to ``[-1, 1]``.
FACE_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
FACE_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)


def face_transforms(
    input_size: Sequence[int] = (55, 47),
    train: bool = False,
    center_crop_fraction: float = 1.0,
    scale_jitter: float = 0.1,
    flip: bool = True,
    grayscale: bool = False,
    mean: Sequence[float] = FACE_MEAN,
    std: Sequence[float] = FACE_STD,
) -> v2.Compose:
    """Build the preprocessing pipeline for one face crop.

    Args:
        input_size: ``(height, width)`` the network expects, e.g. ``(55, 47)`` for DeepID2.
        train: Add the training augmentations (random flip and a small scale/translation jitter).
        center_crop_fraction: Fraction of the image side kept by a centre crop before resizing.
            ``1.0`` for tight, aligned crops (SyntheticFaces, CelebA aligned); about ``0.45``
            for 250×250 LFW images, whose Viola-Jones box was enlarged 2.2 times.
        scale_jitter: Relative scale range of the training crop, ``(1 - jitter, 1)`` of the area.
        flip: Random horizontal flip during training (the papers train on each patch and its
            mirror).
        grayscale: Convert to one channel (DeepID's grey-patch nets, AT&T-style data).
        mean: Normalisation mean per channel.
        std: Normalisation std per channel.

    Returns:
        A ``v2.Compose`` that accepts an image tensor or a sample dict with tv_tensors.

    Raises:
        ValueError: If ``center_crop_fraction`` is not in ``(0, 1]``.
    """
    if not 0.0 < center_crop_fraction <= 1.0:
        raise ValueError(f"center_crop_fraction must be in (0, 1], got {center_crop_fraction}")
    size = (int(input_size[0]), int(input_size[1]))
    steps: list[v2.Transform] = [v2.ToImage()]
    if center_crop_fraction < 1.0:
        steps.append(_CenterCropFraction(center_crop_fraction))
    if train:
        ratio = size[1] / size[0]
        steps.append(
            v2.RandomResizedCrop(
                size,
                scale=(1.0 - scale_jitter, 1.0),
                ratio=(ratio * 0.95, ratio / 0.95),
                antialias=True,
            )
        )
        if flip:
            steps.append(v2.RandomHorizontalFlip())
    else:
        steps.append(v2.Resize(size, antialias=True))
    if grayscale:
        steps.append(v2.Grayscale(num_output_channels=1))
        mean, std = mean[:1], std[:1]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(mean), list(std))]
    return v2.Compose(steps)


class _CenterCropFraction(v2.Transform):
    """Centre-crop a fixed fraction of each side (the crop size follows the input size)."""

    def __init__(self, fraction: float) -> None:
        super().__init__()
        self.fraction = fraction

    def transform(self, inpt: torch.Tensor, params: dict) -> torch.Tensor:
        height, width = v2.functional.get_size(inpt)
        crop = [max(1, round(height * self.fraction)), max(1, round(width * self.fraction))]
        return v2.functional.center_crop(inpt, crop)
