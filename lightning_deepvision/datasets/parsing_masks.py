"""What the face-parsing readers share: the mask error and the image/mask size check.

HELEN (Smith et al., CVPR 2013) ships one probability map per label, LFW Part Labels (Kae,
Sohn, Lee, Learned-Miller, CVPR 2013) one colour-coded ground-truth image; both are decoded into
one ``int64`` label map that must cover its image pixel for pixel.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from torchvision import tv_tensors

__all__ = ["InvalidMaskError", "MaskedImages", "check_mask_size", "listed_names"]


class InvalidMaskError(ValueError):
    """A label map (or ground-truth image) exists and decodes, but is not a valid mask.

    Args:
        path: The label-map file.
        reason: What is wrong and what was expected.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"invalid label map {os.fspath(path)!r}: {reason}")


def check_mask_size(
    mask: Tensor, image: tv_tensors.Image, mask_path: Path, image_path: Path
) -> tv_tensors.Mask:
    """Return ``mask`` as a ``tv_tensors.Mask`` after checking it has its image's size.

    Raises:
        InvalidMaskError: Naming the label map and its image when the sizes differ (a silent
            resize would misplace every label).
    """
    image_size = tuple(image.shape[-2:])
    if tuple(mask.shape[-2:]) != image_size:
        raise InvalidMaskError(
            mask_path,
            f"it is {mask.shape[-2]}x{mask.shape[-1]} (HxW) but its image {str(image_path)!r} "
            f"is {image_size[0]}x{image_size[1]}; a label map must have its image's size",
        )
    return tv_tensors.Mask(mask.to(torch.int64))


def listed_names(directory: Path) -> frozenset[str]:
    """The entries of ``directory`` (empty when it is absent), for existence checks in bulk."""
    try:
        return frozenset(os.listdir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return frozenset()


class MaskedImages(Dataset[dict[str, Any]]):
    """Images and their label maps held in memory: ``image``, ``mask`` and ``index`` per sample.

    The in-memory counterpart of a parsing dataset (e.g. pre-rendered
    :class:`~lightning_deepvision.datasets.SyntheticFaces`), so that an epoch only runs the
    transforms.

    Args:
        images: ``uint8`` ``(N, C, H, W)``.
        masks: ``int64`` ``(N, H, W)``.
        transforms: Applied to each sample dict.
    """

    def __init__(
        self,
        images: Tensor,
        masks: Tensor,
        transforms: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        if images.ndim != 4 or masks.ndim != 3 or images.shape[0] != masks.shape[0]:
            raise ValueError(
                "images must be (N, C, H, W) and masks (N, H, W) with the same N, got "
                f"{tuple(images.shape)} and {tuple(masks.shape)}"
            )
        if images.shape[-2:] != masks.shape[-2:]:
            raise ValueError(
                f"images are {tuple(images.shape[-2:])} but masks {tuple(masks.shape[-2:])}"
            )
        self.images = images
        self.masks = masks
        self.transforms = transforms

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample: dict[str, Any] = {
            "image": tv_tensors.Image(self.images[index]),
            "mask": tv_tensors.Mask(self.masks[index]),
            "index": torch.tensor(index, dtype=torch.int64),
        }
        if self.transforms is not None:
            sample = self.transforms(sample)
        return sample
